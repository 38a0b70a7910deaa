//! The daemon end to end: real rmcp clients → local server → relay →
//! simulated Coder, in both Coder eras, with faults.

mod boundary;
mod fake_upstream;
mod faults;
mod harness;
mod liveness;
mod measure;
#[cfg(target_os = "linux")]
mod other_user;
mod security;
mod single_reply;

use std::{
    sync::{Arc, Mutex, atomic::AtomicU32},
    time::Duration,
};

use bridge::{
    auth::StaticToken,
    events::{ConsentDecision, Outcome},
    relay::SIGN_IN_REQUIRED,
};
use coder_sim::Era;
use harness::{Harness, Refreshing, bounded, params, session, text_of};
use rmcp::{ServiceError, model::GetPromptRequestParams};
use serde_json::json;

async fn list_call_and_prompts(era: Era) {
    let mut h = Harness::start(era).await;
    let client = h.client("cursor").await;

    let tools = bounded("list tools", client.list_all_tools())
        .await
        .expect("tools/list");
    assert!(
        tools
            .iter()
            .any(|t| t.name == "coder_get_authenticated_user"),
        "{:?}",
        tools.iter().map(|t| &t.name).collect::<Vec<_>>()
    );
    // Annotations survive the relay (the policy room depends on them).
    let bash = tools
        .iter()
        .find(|t| t.name == "coder_workspace_bash")
        .expect("bash tool");
    assert!(bash.annotations.is_some());
    let list_event = h.next_event("tools/list").await;
    assert_eq!(list_event.agent, "cursor");

    let result = bounded(
        "call",
        client.call_tool(params("coder_get_authenticated_user", json!({}))),
    )
    .await
    .expect("tools/call");
    assert_ne!(result.is_error, Some(true), "{}", text_of(&result));
    assert!(text_of(&result).contains("demo"), "{}", text_of(&result));

    let event = h.next_event("tools/call").await;
    assert_eq!(event.agent, "cursor");
    assert_eq!(event.tool.as_deref(), Some("coder_get_authenticated_user"));
    assert_eq!(event.outcome, Outcome::Ok);
    assert_eq!(event.consent, Some(ConsentDecision::Allowed));
    assert!(event.client_name.is_some());
    assert!(event.bytes_in > 0 && event.bytes_out > 0);

    let prompts = bounded("list prompts", client.list_all_prompts())
        .await
        .expect("prompts/list");
    assert!(prompts.iter().any(|p| p.name == "coder_agents_delegate"));
    let mut get = GetPromptRequestParams::new("coder_agents_delegate");
    get.arguments = json!({"task": "fix the build"}).as_object().cloned();
    let prompt = bounded("get prompt", client.get_prompt(get))
        .await
        .expect("prompts/get");
    let text = serde_json::to_string(&prompt.messages).expect("json");
    assert!(text.contains("fix the build"), "{text}");

    // An upstream JSON-RPC error (unknown tool) reaches the agent as one.
    let err = bounded(
        "unknown tool",
        client.call_tool(params("no_such_tool", json!({}))),
    )
    .await
    .expect_err("unknown tool is an error");
    assert!(matches!(err, ServiceError::McpError(_)), "{err:?}");

    bounded("client close", client.cancel()).await.ok();
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateless_era_lists_calls_and_prompts() {
    list_call_and_prompts(Era::Stateless).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_era_lists_calls_and_prompts() {
    list_call_and_prompts(Era::Sessions).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_out_is_a_clear_json_rpc_error_not_a_401() {
    let h = Harness::start_with(Era::Stateless, |sim| {
        Arc::new(StaticToken(session(
            sim,
            "bad0token-NotARealCoderSessionKey",
        )))
    })
    .await;
    let client = h.client("cursor").await;
    let err = bounded("list tools", client.list_all_tools())
        .await
        .expect_err("signed out");
    let ServiceError::McpError(e) = err else {
        panic!("expected a JSON-RPC error, got {err:?}");
    };
    assert_eq!(e.code, SIGN_IN_REQUIRED);
    assert!(e.message.contains("coder-bridge login"), "{}", e.message);
    assert_eq!(h.daemon.relay().state().status.as_str(), "signed_out");

    let health: serde_json::Value =
        reqwest::get(format!("http://{}/healthz", h.daemon.local_addr()))
            .await
            .expect("healthz")
            .json()
            .await
            .expect("json");
    assert_eq!(health["relay"], "signed_out");
    assert_eq!(health["status"], "ok");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_token_is_refreshed_once_transparently() {
    let refreshes = Arc::new(Mutex::new(None::<Arc<Refreshing>>));
    let slot = refreshes.clone();
    let h = Harness::start_with(Era::Sessions, move |sim| {
        let creds = Arc::new(Refreshing {
            current: Mutex::new(session(
                sim,
                sim.create_session_token(Duration::from_millis(600)),
            )),
            refreshes: AtomicU32::new(0),
            fresh: Mutex::new(vec![sim.create_session_token(Duration::from_secs(3600))]),
        });
        *slot.lock().expect("lock") = Some(creds.clone());
        creds
    })
    .await;
    let creds = refreshes.lock().expect("lock").clone().expect("creds");
    let client = h.client("cursor").await;
    bounded(
        "first call",
        client.call_tool(params("coder_list_templates", json!({}))),
    )
    .await
    .expect("works with the first token");
    // Until Coder itself refuses the first token.
    let expired = creds.current.lock().expect("lock").access_token.clone();
    let me = h.sim.url().join("api/v2/users/me").expect("url");
    let (me, expired) = (&me, &expired);
    crate::support::eventually("the first token to expire at Coder", move || async move {
        let status = reqwest::Client::new()
            .get(me.clone())
            .header("Coder-Session-Token", expired.expose())
            .send()
            .await
            .expect("users/me")
            .status();
        (status == reqwest::StatusCode::UNAUTHORIZED).then_some(())
    })
    .await;
    let result = bounded(
        "call after expiry",
        client.call_tool(params("coder_list_templates", json!({}))),
    )
    .await
    .expect("works after a transparent refresh");
    assert_ne!(result.is_error, Some(true), "{}", text_of(&result));
    assert_eq!(creds.refreshes.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(
        h.sim.counters().calls_by_tool.get("coder_list_templates"),
        Some(&2)
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_discover_probes_are_answered() {
    let h = Harness::start(Era::Stateless).await;
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "server/discover",
        "params": {"_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "probe", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {}
        }}
    });
    let response = reqwest::Client::new()
        .post(h.daemon.mcp_url())
        .bearer_auth(h.token("cursor"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "server/discover")
        .json(&body)
        .send()
        .await
        .expect("discover");
    let status = response.status();
    let text = response.text().await.expect("body");
    // Answered (rmcp implements it), so probing clients need no fallback.
    assert!(status.is_success(), "{status} {text}");
    assert!(text.contains("supportedVersions"), "{text}");
    assert!(text.contains("coder-bridge"), "{text}");
    h.shutdown().await;
}
