//! A bad environment for the activity database: it cannot be written (here
//! another process holds SQLite's write lock, the same failure path as a
//! full disk, which an unprivileged test cannot make). The relay keeps
//! working, the store says why in its health, and the held-back rows are
//! written once the database accepts writes again.

use std::sync::Arc;
use std::time::Duration;

use bridge::activity::{ActivityConfig, ActivityStore};
use bridge::auth::{StaticToken, UpstreamSession};
use bridge::client_tokens::ClientTokens;
use bridge::events;
use bridge::secret::Secret;
use bridge::server::Daemon;
use coder_sim::{Sim, SimConfig};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ClientConfig};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

use crate::rig::within;

const TOOL: &str = "coder_get_authenticated_user";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_activity_database_does_not_stop_the_relay() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let db_path = tmp.path().join(bridge::activity::FILE_NAME);
    let store = ActivityStore::open(
        &db_path,
        ActivityConfig {
            busy_timeout: Duration::from_millis(100),
            retry_interval: Duration::from_millis(200),
            ..ActivityConfig::default()
        },
    )
    .expect("the store opens");
    let tokens = ClientTokens::open(tmp.path().join("tokens.json")).expect("tokens");
    let token = tokens.issue("cursor").expect("issue");
    let events = events::channel();
    let _pump = store.subscribe_to(&events);
    let daemon = Daemon::builder()
        .credentials(Arc::new(StaticToken(UpstreamSession {
            access_url: sim.url(),
            access_token: Secret::new(sim.session_token()),
            expires_at: None,
        })))
        .tokens(tokens)
        .events(events)
        .port(0)
        .start()
        .await
        .expect("daemon");
    let config = StreamableHttpClientTransportConfig::with_uri(daemon.mcp_url())
        .auth_header(token.expose().to_owned());
    let agent = within(
        "connect",
        ClientConfig::default().serve(StreamableHttpClientTransport::from_config(config)),
    )
    .await
    .expect("agent");

    // Another connection takes the write lock and keeps it.
    let blocker = rusqlite::Connection::open(&db_path).expect("second connection");
    blocker
        .execute_batch("BEGIN EXCLUSIVE")
        .expect("take the write lock");
    for _ in 0..10 {
        let r = within("call", agent.call_tool(CallToolRequestParams::new(TOOL)))
            .await
            .expect("the relay keeps working");
        assert_ne!(r.is_error, Some(true), "{r:?}");
    }
    let health = within("health reports the failure", async {
        loop {
            let h = store.health();
            if !h.ok {
                return h;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let error = health.last_error.clone().unwrap_or_default();
    assert!(
        error.contains("locked") || error.contains("busy"),
        "a clear reason: {health:?}"
    );
    assert!(
        health.failed_writes >= 1 && health.retrying >= 1,
        "{health:?}"
    );

    // The lock goes away: the held-back rows are written.
    blocker.execute_batch("ROLLBACK").expect("release");
    drop(blocker);
    let health = within("rows written after the lock is released", async {
        loop {
            let h = store.health();
            if h.ok && h.retrying == 0 && h.written >= 10 {
                return h;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(health.dropped, 0, "{health:?}");
    within("close", agent.cancel()).await.ok();
    within("daemon", daemon.shutdown()).await;
    store.shutdown().await;
    sim.shutdown().await;
}
