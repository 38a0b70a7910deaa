//! The local endpoint refuses what it must: foreign Host/Origin, missing,
//! wrong and revoked client tokens, a taken port.

use std::sync::Arc;

use bridge::{
    auth::StaticToken,
    client_tokens::ClientTokens,
    server::{Daemon, ServerError},
};
use coder_sim::Era;
use serde_json::json;

use super::harness::{Harness, bounded, session};

fn initialize() -> serde_json::Value {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "probe", "version": "1"}
        }
    })
}

async fn post(
    h: &Harness,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, Option<String>, String) {
    let mut request = reqwest::Client::new()
        .post(h.daemon.mcp_url())
        .header("accept", "application/json, text/event-stream")
        .json(&initialize());
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = bounded("post", request.send()).await.expect("request");
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    (status, challenge, response.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_host_and_origin_are_forbidden() {
    let h = Harness::start(Era::Stateless).await;
    let token = h.token("cursor");
    let port = h.daemon.local_addr().port();

    let (ok, _, _) = post(&h, Some(&token), &[]).await;
    assert_eq!(ok, 200, "a well-formed request passes");

    let evil_host = format!("attacker.example:{port}");
    let (status, _, body) = post(&h, Some(&token), &[("host", &evil_host)]).await;
    assert_eq!(status, 403, "{body}");
    // One guard for every route: the control API's error shape, on /mcp too.
    let body: serde_json::Value = serde_json::from_str(&body).expect("JSON body");
    assert_eq!(body["error"]["code"], "forbidden_host", "{body}");
    let (status, _, _) = post(&h, Some(&token), &[("host", "127.0.0.1:1")]).await;
    assert_eq!(status, 403);

    let (status, _, body) = post(&h, Some(&token), &[("origin", "http://attacker.example")]).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("\"forbidden_origin\""), "{body}");
    let own = format!("http://localhost:{port}");
    let (status, _, _) = post(&h, Some(&token), &[("origin", &own)]).await;
    assert_eq!(status, 200, "our own origin is fine");

    // /healthz is protected from rebinding too, but needs no token.
    let health = reqwest::Client::new()
        .get(format!("http://{}/healthz", h.daemon.local_addr()))
        .header("host", evil_host.as_str())
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status().as_u16(), 403);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_wrong_and_revoked_tokens_get_401_without_an_oauth_challenge() {
    let h = Harness::start(Era::Stateless).await;
    let token = h.token("cursor");

    for presented in [None, Some("cb_wrong"), Some("not-even-our-format")] {
        let (status, challenge, body) = post(&h, presented, &[]).await;
        assert_eq!(status, 401, "{presented:?}: {body}");
        assert_eq!(
            challenge, None,
            "no WWW-Authenticate that starts an OAuth dance"
        );
        assert!(body.contains("coder-bridge configure"), "{body}");
        assert!(!body.contains(&token));
    }

    let (status, _, _) = post(&h, Some(&token), &[]).await;
    assert_eq!(status, 200);
    h.tokens.revoke("cursor").expect("revoke");
    let (status, _, _) = post(&h, Some(&token), &[]).await;
    assert_eq!(status, 401, "a revoked token stops working at once");

    // A token issued by another process (another store on the same file)
    // is accepted without restarting the daemon.
    let other = ClientTokens::open(h.tokens.path().to_path_buf()).expect("open");
    let fresh = other.issue("zed").expect("issue");
    let (status, _, _) = post(&h, Some(fresh.expose()), &[]).await;
    assert_eq!(status, 200);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_is_a_clear_error_not_a_silent_move() {
    let h = Harness::start(Era::Stateless).await;
    let port = h.daemon.local_addr().port();
    let dir = tempfile::tempdir().expect("dir");
    let err = Daemon::builder()
        .credentials(Arc::new(StaticToken(session(
            &h.sim,
            h.sim.session_token(),
        ))))
        .tokens(ClientTokens::open(dir.path().join("t.json")).expect("tokens"))
        .port(port)
        .start()
        .await
        .expect_err("the port is taken");
    assert!(matches!(err, ServerError::PortInUse { .. }), "{err:?}");
    assert_eq!(err.code(), "port_in_use");
    let message = err.to_string();
    assert!(message.contains(&port.to_string()), "{message}");
    assert!(message.contains("--port"), "{message}");
    assert!(message.contains("CODER_BRIDGE_PORT"), "{message}");
    h.shutdown().await;
}
