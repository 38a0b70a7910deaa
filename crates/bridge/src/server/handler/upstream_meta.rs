//! Which parts of an agent's request `_meta` go upstream with its call.
//!
//! `_meta` carries end-to-end context — W3C trace context (`traceparent`,
//! `tracestate`, `baggage`, SEP-414) and keys of the agent's own — that
//! Coder and whatever traces it should see unchanged. Three kinds of keys
//! stay behind:
//!
//! - **Hop-by-hop keys.** `progressToken` and the protocol's own
//!   `io.modelcontextprotocol/…` keys (protocol version, client info and
//!   capabilities, log level) describe the agent's connection to the bridge.
//!   The bridge's connection to Coder states its own; an agent's protocol
//!   version sent upstream would even change how rmcp frames the request.
//!   Progress is routed back through the bridge's own token, as before.
//! - **Anything credential-like.** The bridge never forwards an agent's
//!   credentials: Coder is reached with the signed-in user's token only, and
//!   an agent (or a prompt-injected model) must not be able to smuggle a
//!   token to Coder or into its logs and traces. What counts as a credential
//!   is what the consent prompt and the activity record redact
//!   ([`redact`]): a key whose name names a secret, or any string holding
//!   something credential-shaped (`Bearer …`, `Basic …`, a JWT, a Coder API
//!   key, `NAME_TOKEN=value`). The whole key goes in either case: what is
//!   left of a redacted object could still carry the rest of the secret.
//! - **Everything but trace context on a call the user approved.** The
//!   consent digest covers the arguments, which are all Coder's tools act
//!   on; `_meta` is not shown to the user. Trace context only labels the
//!   call, so it cannot change what runs; any other key might, on some
//!   server, so a call the user approved goes with the approved arguments
//!   and trace context alone. Calls the policy allows without asking (the
//!   user allowed the tool whatever its arguments) keep the other keys.

use rmcp::model::RequestMetaObject;

use crate::consent::redact;
use serde_json::Value;

/// The W3C trace context keys (SEP-414): they label a call, never steer it.
const TRACE_CONTEXT: [&str; 3] = ["traceparent", "tracestate", "baggage"];

/// The key rmcp and the spec use for the progress token.
const PROGRESS_TOKEN: &str = "progressToken";

/// The prefix the MCP specification reserves for its own `_meta` keys.
const PROTOCOL_PREFIX: &str = "io.modelcontextprotocol/";

/// What of the agent's `_meta` goes upstream; `None` when nothing does.
/// `approved`: the user approved this call's arguments in a prompt.
pub(super) fn forwarded(meta: &RequestMetaObject, approved: bool) -> Option<RequestMetaObject> {
    let mut out = RequestMetaObject::new();
    for (key, value) in meta.iter() {
        if key == PROGRESS_TOKEN || key.starts_with(PROTOCOL_PREFIX) {
            continue;
        }
        if approved && !TRACE_CONTEXT.contains(&key.as_str()) {
            continue;
        }
        if redact::is_secret_key(key) || holds_credential(value) {
            tracing::debug!(key = %key, "not forwarding a credential-like _meta key upstream");
            continue;
        }
        out.insert(key.clone(), value.clone());
    }
    (!out.is_empty()).then_some(out)
}

/// Whether any string in `value` (at any depth, keys of nested objects
/// included) is or holds a credential.
fn holds_credential(value: &Value) -> bool {
    match value {
        Value::String(s) => redact::contains_credential(s),
        Value::Array(items) => items.iter().any(holds_credential),
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| redact::is_secret_key(k) || holds_credential(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn meta(value: Value) -> RequestMetaObject {
        serde_json::from_value(value).expect("a meta object")
    }

    fn keys(meta: Option<RequestMetaObject>) -> Vec<String> {
        meta.map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn trace_context_and_agent_keys_pass_unchanged() {
        let m = meta(json!({
            "traceparent": TRACEPARENT,
            "tracestate": "vendor=abc",
            "com.example/request-label": {"step": 3},
        }));
        let out = forwarded(&m, false).expect("something forwarded");
        assert_eq!(out.get("traceparent"), Some(&json!(TRACEPARENT)));
        assert_eq!(out.get("tracestate"), Some(&json!("vendor=abc")));
        assert_eq!(
            out.get("com.example/request-label"),
            Some(&json!({"step": 3}))
        );
    }

    #[test]
    fn hop_by_hop_keys_stay_behind() {
        let m = meta(json!({
            "progressToken": 7,
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "claude-code", "version": "2.1.332"},
            "io.modelcontextprotocol/clientCapabilities": {},
        }));
        assert!(forwarded(&m, false).is_none());
    }

    #[test]
    fn credential_named_keys_stay_behind_whatever_their_spelling() {
        for key in [
            "token",
            "accessToken",
            "X-Api-Key",
            "api_key",
            "Authorization",
            "client_secret",
            "Cookie",
            "db.password",
            "aws/credentials",
            "private-key",
            "BEARER",
        ] {
            let m = meta(json!({ key: "x", "traceparent": TRACEPARENT }));
            assert_eq!(keys(forwarded(&m, false)), vec!["traceparent"], "{key}");
        }
    }

    #[test]
    fn credential_shaped_values_stay_behind_at_any_depth() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
        for value in [
            json!("Bearer abc"),
            json!("basic dXNlcjpwYXNz"),
            json!(jwt),
            json!("demo0token-CoderSimDemoSession001"),
            json!({"nested": ["ok", "Bearer x"]}),
            json!({"headers": {"authorization": "opaque"}}),
        ] {
            let m = meta(json!({ "com.example/context": value.clone() }));
            assert!(forwarded(&m, false).is_none(), "{value}");
        }
    }

    #[test]
    fn ordinary_values_are_not_mistaken_for_credentials() {
        for value in [
            json!("basically fine"),
            json!("a.b.c"),
            json!("feature-flag-on"),
            json!(TRACEPARENT),
            json!(42),
        ] {
            let m = meta(json!({ "com.example/context": value.clone() }));
            assert!(forwarded(&m, false).is_some(), "{value}");
        }
    }

    #[test]
    fn an_approved_call_takes_trace_context_only() {
        let m = meta(json!({
            "traceparent": TRACEPARENT,
            "baggage": "team=infra",
            "com.example/dry-run": false,
        }));
        let mut kept = keys(forwarded(&m, true));
        kept.sort();
        assert_eq!(kept, vec!["baggage", "traceparent"]);
    }
}
