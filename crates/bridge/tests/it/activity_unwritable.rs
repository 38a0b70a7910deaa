//! A bad environment for the activity database: it cannot be written,
//! because another process holds SQLite's write lock or because it is full
//! (here SQLite's size cap, which fails with the same "database or disk is
//! full" as a full disk; `crates/cli/tests/it/bad_environment.rs` fills a real
//! tmpfs under the daemon). The relay keeps working, the store says why in
//! its health, and the held-back rows are written once the database accepts
//! writes again.

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

use crate::support::rig::within;

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
    assert_eq!(health.cause.as_deref(), Some("locked"), "{health:?}");
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

/// The database full (SQLite's size cap, filled from a second connection
/// with the same cap): the cause is `disk_full` with the file and what to
/// do, retries keep to their timer instead of spinning, and dropping the
/// filler lets every held-back row in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_activity_database_holds_rows_and_writes_them_when_space_returns() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let db_path = tmp.path().join(bridge::activity::FILE_NAME);
    let retry = Duration::from_millis(200);
    let store = ActivityStore::open(
        &db_path,
        ActivityConfig {
            retry_interval: retry,
            max_size_mb: Some(1),
            ..ActivityConfig::default()
        },
    )
    .expect("the store opens");
    let filler = rusqlite::Connection::open(&db_path).expect("second connection");
    filler
        .busy_timeout(Duration::from_secs(10))
        .expect("busy timeout");
    filler
        .pragma_update(None, "max_page_count", 256)
        .expect("the same cap");
    filler
        .execute_batch("CREATE TABLE filler (b BLOB)")
        .expect("filler table");
    let full = loop {
        if let Err(e) = filler.execute("INSERT INTO filler VALUES (zeroblob(2000))", []) {
            break e;
        }
    };
    assert_eq!(
        full.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DiskFull),
        "{full}"
    );

    // More rows than the pages the table already has room in.
    for i in 0..ROWS {
        store.record(event(i));
    }
    within("flush while full", store.flush())
        .await
        .expect("flush");
    let health = store.health();
    assert!(!health.ok, "{health:?}");
    assert_eq!(health.cause.as_deref(), Some("disk_full"), "{health:?}");
    let error = health.last_error.clone().unwrap_or_default();
    assert!(error.contains(&db_path.display().to_string()), "{error}");
    assert!(error.contains("free some space"), "{error}");
    assert_eq!(health.retrying as u64, ROWS, "{health:?}");

    // Two seconds full: about ten retries at 200 ms, not thousands.
    let before = store.health().failed_writes;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let retries = store.health().failed_writes - before;
    assert!(
        (3..=20).contains(&retries),
        "retries keep to the timer: {retries} in 2 s"
    );

    filler
        .execute_batch("DROP TABLE filler")
        .expect("free space");
    let health = within("rows written once there is room", async {
        loop {
            let h = store.health();
            if h.ok && h.written == ROWS {
                return h;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!((health.dropped, health.retrying), (0, 0), "{health:?}");
    assert_eq!(health.cause, None, "{health:?}");
    assert_eq!(within("count", store.count()).await.expect("count"), ROWS);
    store.shutdown().await;
}

const ROWS: u64 = 2000;

fn event(i: u64) -> events::CallEvent {
    events::CallEvent {
        at: std::time::SystemTime::now(),
        agent: "cursor".into(),
        client_name: None,
        method: "tools/call".to_owned(),
        tool: Some(TOOL.to_owned()),
        arguments_summary: None,
        outcome: events::Outcome::Ok,
        error: None,
        latency: Duration::from_millis(i),
        bytes_in: 100,
        bytes_out: 1000,
        consent: None,
        args_digest: None,
        answered_by: None,
    }
}
