//! Session-era agents (the initialize handshake and an `Mcp-Session-Id`)
//! get a single-message reply as one plain JSON body, so their HTTP client
//! can reuse the connection.

use coder_sim::Era;
use serde_json::{Value, json};

use super::harness::{Harness, bounded};

/// POSTs one JSON-RPC message as a session-era agent does.
async fn post(
    http: &reqwest::Client,
    h: &Harness,
    session: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut request = http
        .post(h.daemon.mcp_url())
        .bearer_auth(h.token("cursor"))
        .header("accept", "application/json, text/event-stream")
        .json(&body);
    if let Some(id) = session {
        request = request
            .header("mcp-session-id", id)
            .header("mcp-protocol-version", "2025-11-25");
    }
    bounded("a POST", request.send()).await.expect("sent")
}

fn content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_era_replies_are_plain_json_on_one_connection() {
    let h = Harness::start(Era::Stateless).await;
    // One connection for the whole session: a reply that is not read to its
    // end would make the client open another.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .expect("client");
    let init = post(
        &http,
        &h,
        None,
        json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "session-agent", "version": "1"}
            }
        }),
    )
    .await;
    assert_eq!(init.status(), 200);
    assert_eq!(content_type(&init), "application/json");
    assert!(init.content_length().is_some(), "{:?}", init.headers());
    let session = init
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .expect("a session id")
        .to_owned();
    let init: Value = init.json().await.expect("JSON");
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25", "{init}");
    assert_eq!(
        init["result"]["serverInfo"]["name"], "coder-bridge",
        "{init}"
    );

    let initialized = post(
        &http,
        &h,
        Some(&session),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(initialized.status(), 202);

    for id in 2..5 {
        let call = post(
            &http,
            &h,
            Some(&session),
            json!({
                "jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": {"name": "coder_get_authenticated_user", "arguments": {}}
            }),
        )
        .await;
        assert_eq!(call.status(), 200);
        assert_eq!(content_type(&call), "application/json");
        assert!(call.content_length().is_some(), "{:?}", call.headers());
        let call: Value = call.json().await.expect("JSON");
        assert_eq!(call["id"], id, "{call}");
        let text = call["result"]["content"][0]["text"].as_str().expect("text");
        let user: Value = serde_json::from_str(text).expect("a user");
        assert_eq!(user["username"], "demo", "{call}");
    }
    h.shutdown().await;
}
