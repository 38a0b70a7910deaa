//! Short, redacted summaries of tool arguments for the activity record.
//!
//! The record must let a user recognise a call ("bash in dev: ls -la") without
//! ever holding a secret: values under keys that look like credentials are
//! dropped, long values are cut, nesting is flattened.

use rmcp::model::JsonObject;
use serde_json::Value;

/// Longest summary kept for one call.
pub const MAX_SUMMARY: usize = 240;
/// Longest single value kept.
const MAX_VALUE: usize = 60;
const REDACTED: &str = "<redacted>";

/// Key fragments that mark a value as a secret (compared case-insensitively).
const SECRET_MARKERS: &[&str] = &[
    "token",
    "password",
    "passwd",
    "secret",
    "key",
    "authorization",
    "auth",
    "cookie",
    "credential",
    "session",
    "private",
    "signature",
];

/// True when a value under `key` must not be recorded.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_MARKERS.iter().any(|m| key.contains(m))
}

/// `name=value, other=<redacted>, list=[3 items]`, at most [`MAX_SUMMARY`] characters.
pub fn summarize(arguments: Option<&JsonObject>) -> Option<String> {
    let args = arguments?;
    if args.is_empty() {
        return None;
    }
    let mut out = String::new();
    for (key, value) in args {
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push_str(key);
        out.push('=');
        if is_secret_key(key) {
            out.push_str(REDACTED);
        } else {
            out.push_str(&value_summary(value));
        }
        if out.chars().count() > MAX_SUMMARY {
            break;
        }
    }
    Some(truncate(&out, MAX_SUMMARY))
}

fn value_summary(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{:?}", truncate(s, MAX_VALUE)),
        Value::Array(items) => format!("[{} items]", items.len()),
        Value::Object(map) => {
            let keys: Vec<&str> = map.keys().map(String::as_str).take(4).collect();
            let more = if map.len() > keys.len() { ", …" } else { "" };
            format!("{{{}{more}}}", keys.join(", "))
        }
        other => truncate(&other.to_string(), MAX_VALUE),
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut cut: String = s.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(v: Value) -> JsonObject {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn secrets_are_dropped_and_values_kept() {
        let args = obj(json!({
            "workspace": "dev",
            "command": "ls -la",
            "api_key": "sk-live-123",
            "Authorization": "Bearer abc",
            "GITHUB_TOKEN": "ghp_x",
            "password": "hunter2",
        }));
        let s = summarize(Some(&args)).unwrap();
        assert!(s.contains("workspace=\"dev\""), "{s}");
        assert!(s.contains("command=\"ls -la\""), "{s}");
        for secret in ["sk-live-123", "Bearer abc", "ghp_x", "hunter2"] {
            assert!(!s.contains(secret), "{secret} leaked into {s}");
        }
        assert_eq!(s.matches(REDACTED).count(), 4, "{s}");
    }

    #[test]
    fn long_values_and_nesting_are_shortened() {
        let long = "x".repeat(500);
        let args = obj(json!({
            "content": long,
            "files": [1, 2, 3],
            "params": {"a": 1, "b": {"token": "t"}},
        }));
        let s = summarize(Some(&args)).unwrap();
        assert!(s.chars().count() <= MAX_SUMMARY);
        assert!(s.contains("files=[3 items]"), "{s}");
        assert!(s.contains("params={a, b}"), "{s}");
        assert!(!s.contains(&"x".repeat(MAX_VALUE + 1)), "{s}");
    }

    #[test]
    fn nothing_to_summarise() {
        assert_eq!(summarize(None), None);
        assert_eq!(summarize(Some(&JsonObject::new())), None);
    }
}
