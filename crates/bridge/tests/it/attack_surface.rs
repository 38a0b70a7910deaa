//! The local attack surface of a real, signed-in bridge: foreign Origin,
//! rebinding Host, no token, a revoked agent's token — all refused, while
//! another agent keeps working; the listening socket is loopback only; and
//! random or malformed requests (proptest) never crash the endpoint.

use std::time::Duration;

use bridge::relay::RelayOptions;
use coder_sim::SimConfig;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

use crate::support::rig::{Rig, within};

fn initialize() -> Value {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "probe", "version": "1"}
        }
    })
}

/// POSTs `body` to the MCP endpoint; the status and the body text.
async fn post(
    rig: &Rig,
    token: Option<&str>,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> (u16, String) {
    let mut req = reqwest::Client::new()
        .post(rig.bridge.mcp_url())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = within("post", req.send())
        .await
        .expect("the endpoint answers");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

fn init_bytes() -> Vec<u8> {
    serde_json::to_vec(&initialize()).expect("json")
}

/// The sockets listening on `port`, as (local address hex, state) from
/// /proc/net/tcp{,6}: Linux only.
fn listeners(port: u16) -> Vec<String> {
    let suffix = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .filter_map(|line| {
                    let cols: Vec<&str> = line.split_whitespace().collect();
                    // Column 1 is the local address, column 3 the state; 0A = LISTEN.
                    (cols.len() > 3 && cols[1].ends_with(&suffix) && cols[3] == "0A")
                        .then(|| cols[1].to_owned())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_origin_rebinding_host_missing_and_revoked_tokens_are_refused() {
    let rig = Rig::start(SimConfig::default(), RelayOptions::default()).await;
    rig.sign_in().await;
    let port = rig.bridge.local_addr().port();
    let cursor = rig.agent_token("cursor").await;
    let vscode = rig.agent_token("vscode").await;

    let (ok, _) = post(&rig, Some(&cursor), &[], init_bytes()).await;
    assert_eq!(ok, 200, "a well-formed request passes");

    let h = |k: &str, v: String| vec![(k.to_owned(), v)];
    for (what, headers) in [
        ("foreign Origin", h("origin", "https://evil.example".into())),
        ("null Origin", h("origin", "null".into())),
        (
            "look-alike Origin",
            h("origin", format!("http://127.0.0.1.evil.example:{port}")),
        ),
        (
            "rebinding Host",
            h("host", format!("attacker.example:{port}")),
        ),
        (
            "rebinding Host on another port",
            h("host", format!("127.0.0.1:{}", port.wrapping_add(1))),
        ),
    ] {
        let (status, body) = post(&rig, Some(&cursor), &headers, init_bytes()).await;
        assert_eq!(status, 403, "{what}: {body}");
    }
    let (status, _) = post(&rig, None, &[], init_bytes()).await;
    assert_eq!(status, 401, "no token");
    let (status, _) = post(&rig, Some("cbt_not-a-real-token"), &[], init_bytes()).await;
    assert_eq!(status, 401, "a made-up token");
    // The control token is not an agent token.
    let control = bridge::web::read_control_token(&rig.config_dir()).expect("control token");
    let (status, _) = post(&rig, Some(control.expose()), &[], init_bytes()).await;
    assert_eq!(status, 401, "the control token is not accepted on /mcp");

    // Revoke cursor (unconfigure); vscode keeps working.
    let live = rig.agent("cursor").await;
    let (status, body) = rig
        .api(
            reqwest::Method::POST,
            "/api/agents/cursor/unconfigure",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // The endpoint notices within the token file's re-check interval.
    let (rig_ref, cursor_ref) = (&rig, &cursor);
    crate::support::eventually("the revoked token to be refused", move || async move {
        let (status, _) = post(rig_ref, Some(cursor_ref), &[], init_bytes()).await;
        (status == 401).then_some(())
    })
    .await;
    // An already connected session of the revoked agent is cut off too.
    let err = within(
        "revoked call",
        live.call_tool(CallToolRequestParams::new("coder_get_authenticated_user")),
    )
    .await;
    assert!(
        err.as_ref()
            .map(|r| r.is_error == Some(true))
            .unwrap_or(true),
        "a revoked agent's session cannot call tools: {err:?}"
    );
    let (status, _) = post(&rig, Some(&vscode), &[], init_bytes()).await;
    assert_eq!(status, 200, "another agent is unaffected");

    // Loopback only: every listening socket on the port is 127.0.0.1.
    let sockets = listeners(port);
    assert!(
        !sockets.is_empty(),
        "the daemon's socket is visible in /proc/net"
    );
    for s in &sockets {
        assert_eq!(
            s,
            &format!("0100007F:{port:04X}"),
            "listening on something other than 127.0.0.1: {sockets:?}"
        );
    }
    rig.shutdown().await;
}

fn header() -> impl Strategy<Value = (String, String)> {
    let name = prop_oneof![
        Just("content-type".to_owned()),
        Just("accept".to_owned()),
        Just("mcp-session-id".to_owned()),
        Just("mcp-protocol-version".to_owned()),
        Just("last-event-id".to_owned()),
        Just("x-coder-bridge-agent".to_owned()),
        "x-[a-z]{1,8}",
    ];
    let value = prop_oneof![
        Just("application/json".to_owned()),
        Just("text/event-stream".to_owned()),
        Just("text/plain".to_owned()),
        Just("2025-06-18".to_owned()),
        Just("1999-01-01".to_owned()),
        "[ -~]{0,40}",
    ];
    (name, value)
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let method = prop_oneof![
        Just("initialize"),
        Just("tools/call"),
        Just("tools/list"),
        Just("notifications/initialized"),
        Just("ping"),
        Just("resources/read"),
        Just(""),
    ];
    let id = prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::from),
        "[ -~]{0,10}".prop_map(Value::String),
        Just(json!({"nested": [1]})),
    ];
    let params = prop_oneof![
        Just(Value::Null),
        Just(json!({"name": "coder_get_authenticated_user"})),
        Just(json!({"name": 42, "arguments": "x"})),
        Just(json!([1, 2, 3])),
        "[ -~]{0,20}".prop_map(Value::String),
    ];
    prop_oneof![
        // Random bytes.
        prop::collection::vec(any::<u8>(), 0..200),
        // JSON-RPC shaped objects with wrong fields, ids and params.
        (method, id, params, prop::option::of("[0-9.]{0,4}")).prop_map(|(m, id, p, v)| {
            let mut o = json!({"method": m, "id": id, "params": p});
            if let Some(v) = v {
                o["jsonrpc"] = json!(v);
            }
            serde_json::to_vec(&o).expect("json")
        }),
        // Batches (not allowed since 2025-06-18) and truncated JSON.
        Just(b"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]".to_vec()),
        any::<prop::sample::Index>().prop_map(|i| {
            let full = init_bytes();
            full[..i.index(full.len())].to_vec()
        }),
    ]
}

/// Random bodies and headers with a valid token: never a 5xx, never a
/// dropped connection, always an answer with a reason; the endpoint still
/// serves a real agent afterwards.
#[test]
fn random_requests_never_crash_the_endpoint() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let rig = rt.block_on(async {
        let rig = Rig::start(SimConfig::default(), RelayOptions::default()).await;
        rig.sign_in().await;
        rig
    });
    let token = rt.block_on(rig.agent_token("cursor"));
    let mut runner = TestRunner::new(Config {
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(
            &(body(), prop::collection::vec(header(), 0..4)),
            |(body, headers)| {
                let (status, text) = rt.block_on(async {
                    tokio::time::timeout(
                        Duration::from_secs(20),
                        post(&rig, Some(&token), &headers, body.clone()),
                    )
                    .await
                    .expect("answered in time")
                });
                prop_assert!(
                    status < 500,
                    "{} for {:?}: {}",
                    status,
                    String::from_utf8_lossy(&body),
                    text
                );
                if status >= 400 {
                    prop_assert!(!text.trim().is_empty(), "a {} without a reason", status);
                }
                Ok(())
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    rt.block_on(async {
        let agent = rig.agent("cursor").await;
        let result = within(
            "a real call after the fuzzing",
            agent.call_tool(CallToolRequestParams::new("coder_get_authenticated_user")),
        )
        .await
        .expect("the endpoint still works");
        assert_ne!(result.is_error, Some(true), "{result:?}");
        rig.shutdown().await;
    });
}
