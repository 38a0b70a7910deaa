//! Our entry in an agent's config: what it should be, whether an existing
//! one is ours, and how it drifted from what it should be.

use std::path::Path;

use serde::Serialize;
use serde_json::{Value, json};

use super::table::{Agent, ENTRY_NAME, EntryShape};
use crate::client_tokens::TOKEN_PREFIX;
use crate::secret::Secret;

/// How an existing entry differs from the one `configure` would write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Drift {
    /// The entry launches a `coder-bridge` that is not this one.
    BinaryMoved { found: String },
    /// The stdio arguments are not ours.
    ArgsChanged,
    /// The entry points at another URL (usually another port).
    UrlChanged { found: String },
    /// The entry sends no client token.
    TokenMissing,
    /// The agent's client token was revoked.
    TokenRevoked,
    /// The entry sends a token that is not the agent's current one.
    TokenMismatch,
    /// Some other key differs (for example `type`).
    ShapeChanged { key: String },
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BinaryMoved { found } => write!(f, "launches {found}, not this coder-bridge"),
            Self::ArgsChanged => f.write_str("launch arguments changed"),
            Self::UrlChanged { found } => write!(f, "points at {found}"),
            Self::TokenMissing => f.write_str("sends no client token"),
            Self::TokenRevoked => f.write_str("its client token was revoked"),
            Self::TokenMismatch => f.write_str("sends an outdated client token"),
            Self::ShapeChanged { key } => write!(f, "\"{key}\" differs"),
        }
    }
}

/// An entry as ordered fields: serde_json's map may sort its keys, and a
/// hand-read config reads best as `type`, `url`, `headers`.
pub(crate) type Fields = Vec<(String, Value)>;

/// Keys that describe how to reach a server, in any agent's shape. When we
/// rewrite our entry in a different shape, the ones the new shape does not
/// use are dropped so the agent does not see, say, both a `command` and a `url`.
pub(crate) const TRANSPORT_KEYS: &[&str] = &[
    "command",
    "args",
    "type",
    "url",
    "serverUrl",
    "httpUrl",
    "uri",
    "headers",
    "http_headers",
];

/// Keys that hold the server's URL in one shape or another.
const URL_KEYS: &[&str] = &["url", "serverUrl", "httpUrl", "uri"];

/// The `Authorization` header an entry sends, wherever its shape keeps headers.
fn authorization(found: &Value) -> Option<&str> {
    [
        found.get("headers"),
        found.get("http_headers"),
        found.get("requestOptions").and_then(|o| o.get("headers")),
    ]
    .into_iter()
    .flatten()
    .find_map(|h| h.get("Authorization").and_then(Value::as_str))
}

/// The entry `configure` writes for `agent`.
pub(crate) fn desired(agent: &Agent, binary: &Path, url: &str, token: Option<&Secret>) -> Fields {
    let headers = || {
        let value = token
            .map(|t| format!("Bearer {}", t.expose()))
            .unwrap_or_default();
        ("headers", json!({ "Authorization": value }))
    };
    let auth = headers().1;
    let fields = match agent.shape {
        EntryShape::Stdio => vec![
            ("command", json!(binary.to_string_lossy())),
            ("args", json!(["stdio", "--agent", agent.id])),
        ],
        EntryShape::TypedHttp => vec![("type", json!("http")), ("url", json!(url)), headers()],
        EntryShape::ServerUrl => vec![("serverUrl", json!(url)), headers()],
        EntryShape::Url => vec![("url", json!(url)), headers()],
        EntryShape::HttpUrl => vec![("httpUrl", json!(url)), headers()],
        EntryShape::Remote => vec![
            ("type", json!("remote")),
            ("url", json!(url)),
            headers(),
            ("enabled", json!(true)),
        ],
        EntryShape::CopilotHttp => vec![
            ("type", json!("http")),
            ("url", json!(url)),
            headers(),
            ("tools", json!(["*"])),
        ],
        EntryShape::CodexHttp => vec![("url", json!(url)), ("http_headers", auth)],
        EntryShape::GooseHttp => vec![
            ("enabled", json!(true)),
            ("type", json!("streamable_http")),
            ("name", json!(ENTRY_NAME)),
            (
                "description",
                json!("Coder workspaces through Coder Bridge"),
            ),
            ("uri", json!(url)),
            headers(),
            ("timeout", json!(300)),
        ],
        EntryShape::ContinueHttp => vec![
            ("name", json!(ENTRY_NAME)),
            ("type", json!("streamable-http")),
            ("url", json!(url)),
            ("requestOptions", json!({ "headers": auth })),
        ],
        EntryShape::ClineHttp => vec![
            ("type", json!("streamableHttp")),
            ("url", json!(url)),
            headers(),
            ("disabled", json!(false)),
        ],
        EntryShape::RooHttp => vec![
            ("type", json!("streamable-http")),
            ("url", json!(url)),
            headers(),
        ],
    };
    fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// The fields as one JSON object (for comparisons and snippets).
pub(crate) fn to_value(fields: &Fields) -> Value {
    Value::Object(
        fields
            .iter()
            .cloned()
            .collect::<serde_json::Map<String, Value>>(),
    )
}

/// Whether an entry under our name was written by coder-bridge (as opposed
/// to, say, `coder exp mcp configure`, which uses the same name).
pub(crate) fn is_ours(found: &Value) -> bool {
    if let Some(command) = found.get("command").and_then(Value::as_str) {
        // Split on both separators: a Windows path is checked on any OS.
        let file = command.rsplit(['/', '\\']).next().unwrap_or(command);
        let stem = file.strip_suffix(".exe").unwrap_or(file);
        return stem == "coder-bridge";
    }
    let bearer =
        authorization(found).is_some_and(|v| v.starts_with(&format!("Bearer {TOKEN_PREFIX}")));
    let url = URL_KEYS
        .iter()
        .find_map(|k| found.get(*k).and_then(Value::as_str))
        .and_then(|u| url::Url::parse(u).ok());
    let local = url.is_some_and(|u| {
        matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")) && u.path() == "/mcp"
    });
    bearer || local
}

/// How `found` (one of ours) differs from `want`; empty when up to date.
pub(crate) fn drift(found: &Value, want: &Fields, token: Option<&Secret>) -> Vec<Drift> {
    let mut out = Vec::new();
    for (key, expected) in want {
        let actual = found.get(key);
        if actual.is_some_and(|actual| contains(actual, expected)) {
            continue;
        }
        let shown = actual
            .and_then(Value::as_str)
            .unwrap_or("nothing")
            .to_owned();
        match key.as_str() {
            "command" => out.push(Drift::BinaryMoved { found: shown }),
            "args" => out.push(Drift::ArgsChanged),
            k if URL_KEYS.contains(&k) => out.push(Drift::UrlChanged { found: shown }),
            "headers" | "http_headers" | "requestOptions" => {
                out.push(token_drift(found, key, token))
            }
            _ => out.push(Drift::ShapeChanged { key: key.clone() }),
        }
    }
    // A token that is fine in the header (or, for stdio, presented by the
    // shim) is still dead when the store lost it.
    if token.is_none() && !out.contains(&Drift::TokenRevoked) {
        out.push(Drift::TokenRevoked);
    }
    out
}

/// Whether `actual` has everything `expected` has: equal, or for objects
/// every expected key with a matching value. Keys the user added (another
/// header, a timeout) are theirs and no drift; `configure` keeps them too.
fn contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(actual), Value::Object(expected)) => expected
            .iter()
            .all(|(k, v)| actual.get(k).is_some_and(|a| contains(a, v))),
        _ => actual == expected,
    }
}

fn token_drift(found: &Value, key: &str, token: Option<&Secret>) -> Drift {
    let sent = authorization(found).and_then(|v| v.strip_prefix("Bearer "));
    match (sent, token) {
        (None, _) => Drift::TokenMissing,
        (Some(_), None) => Drift::TokenRevoked,
        (Some(sent), Some(token)) if Secret::new(sent) == *token => Drift::ShapeChanged {
            key: key.to_owned(),
        },
        (Some(_), Some(_)) => Drift::TokenMismatch,
    }
}

/// `text` with every client token shortened to its last four characters, so
/// a diff or preview can be shown (or sent to the UI) without leaking tokens
/// while still telling an old token from a new one.
pub(crate) fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(TOKEN_PREFIX) {
        out.push_str(&rest[..start]);
        let after = &rest[start + TOKEN_PREFIX.len()..];
        let len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(after.len());
        if len > 8 {
            out.push_str(TOKEN_PREFIX);
            out.push('…');
            out.push_str(&after[len - 4..len]);
        } else {
            out.push_str(TOKEN_PREFIX);
            out.push_str(&after[..len]);
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::table::AGENTS;

    fn agent(id: &str) -> &'static Agent {
        AGENTS.iter().find(|a| a.id == id).expect("row")
    }

    const URL: &str = "http://127.0.0.1:7331/mcp";

    #[test]
    fn shapes_per_agent() {
        let token = Secret::new("cbt_abc");
        let bin = Path::new("/opt/coder bridge/coder-bridge");
        let v = |id| to_value(&desired(agent(id), bin, URL, Some(&token)));
        assert_eq!(
            v("claude-desktop"),
            json!({"command": "/opt/coder bridge/coder-bridge", "args": ["stdio", "--agent", "claude-desktop"]})
        );
        let headers = json!({"Authorization": "Bearer cbt_abc"});
        assert_eq!(
            v("cursor"),
            json!({"type": "http", "url": URL, "headers": headers})
        );
        assert_eq!(v("vscode"), v("cursor"));
        assert_eq!(v("claude-code"), v("cursor"));
        assert_eq!(v("windsurf"), json!({"serverUrl": URL, "headers": headers}));
        assert_eq!(v("zed"), json!({"url": URL, "headers": headers}));
    }

    #[test]
    fn tells_ours_from_foreign() {
        assert!(is_ours(
            &json!({"command": "/usr/bin/coder-bridge", "args": ["stdio"]})
        ));
        assert!(is_ours(&json!({"command": "C:\\bin\\coder-bridge.exe"})));
        assert!(!is_ours(
            &json!({"command": "coder", "args": ["exp", "mcp", "server"]})
        ));
        assert!(is_ours(&json!({"url": "http://127.0.0.1:9999/mcp"})));
        assert!(!is_ours(
            &json!({"url": "https://coder.example.com/api/experimental/mcp/http"})
        ));
        assert!(is_ours(
            &json!({"serverUrl": "x", "headers": {"Authorization": "Bearer cbt_zzz"}})
        ));
    }

    #[test]
    fn drift_names_what_changed() {
        let token = Secret::new("cbt_new");
        let cursor = agent("cursor");
        let want = desired(cursor, Path::new("/x"), URL, Some(&token));
        let found = json!({"type": "http", "url": "http://127.0.0.1:1/mcp", "headers": {"Authorization": "Bearer cbt_old"}});
        assert_eq!(
            drift(&found, &want, Some(&token)),
            vec![
                Drift::UrlChanged {
                    found: "http://127.0.0.1:1/mcp".into()
                },
                Drift::TokenMismatch
            ]
        );
        assert_eq!(drift(&to_value(&want), &want, Some(&token)), vec![]);
        let revoked = desired(cursor, Path::new("/x"), URL, None);
        assert_eq!(
            drift(&to_value(&want), &revoked, None),
            vec![Drift::TokenRevoked]
        );
        let claude = agent("claude-desktop");
        let want = desired(claude, Path::new("/new/coder-bridge"), URL, None);
        let found =
            json!({"command": "/old/coder-bridge", "args": ["stdio", "--agent", "claude-desktop"]});
        assert_eq!(
            drift(&found, &want, Some(&token)),
            vec![Drift::BinaryMoved {
                found: "/old/coder-bridge".into()
            }]
        );
        // The shim presents the agent's token too, so a stdio entry with a
        // revoked token needs repair as well.
        assert_eq!(
            drift(&found, &want, None),
            vec![
                Drift::BinaryMoved {
                    found: "/old/coder-bridge".into()
                },
                Drift::TokenRevoked
            ]
        );
    }

    #[test]
    fn redact_keeps_only_a_tail() {
        let text = r#""Authorization": "Bearer cbt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1234""#;
        assert_eq!(redact(text), r#""Authorization": "Bearer cbt_…1234""#);
        assert_eq!(redact("no tokens"), "no tokens");
        assert_eq!(redact("cbt_ab"), "cbt_ab");
    }
}
