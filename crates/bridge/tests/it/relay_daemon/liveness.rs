//! Coder frozen (accepts connections, never answers) or down for longer
//! than a restart: calls fail clearly and quickly, the same agent session
//! works again within a second of recovery, and a long call to a healthy
//! Coder is left alone.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bridge::{
    auth::{StaticToken, UpstreamSession},
    relay::{LivenessOptions, RelayOptions, UPSTREAM_UNAVAILABLE},
    secret::Secret,
};
use coder_sim::{Era, Sim};
use rmcp::{ServiceError, model::GetPromptRequestParams};
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
};

use super::harness::{Client, Harness, bounded, fast_options, params, text_of};

const TOOL: &str = "coder_list_templates";

/// Liveness timings scaled down so a test sees an outage in about two
/// seconds instead of ten.
fn quick_options() -> RelayOptions {
    RelayOptions {
        liveness: LivenessOptions {
            suspect_after: Duration::from_millis(800),
            probe_timeout: Duration::from_millis(500),
            probe_every: Duration::from_millis(300),
            probe_every_down: Duration::from_millis(100),
            ..LivenessOptions::default()
        },
        ..fast_options()
    }
}

/// A TCP proxy in front of the simulator that can be frozen: it keeps
/// accepting connections but holds every byte in both directions until it
/// thaws — what a client sees of a SIGSTOPped server.
struct Freezer {
    addr: SocketAddr,
    frozen: watch::Sender<bool>,
}

impl Freezer {
    fn start(upstream: SocketAddr) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let listener = TcpListener::from_std(listener).expect("tokio listener");
        let frozen = watch::channel(false).0;
        let thawed = frozen.subscribe();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(pipe(client, upstream, thawed.clone()));
            }
        });
        Self { addr, frozen }
    }

    fn url(&self) -> url::Url {
        url::Url::parse(&format!("http://{}/", self.addr)).expect("url")
    }

    fn freeze(&self, frozen: bool) {
        self.frozen.send_replace(frozen);
    }
}

async fn pipe(client: TcpStream, upstream: SocketAddr, thawed: watch::Receiver<bool>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::join!(
        pump(client_read, server_write, thawed.clone()),
        pump(server_read, client_write, thawed),
    );
}

async fn pump(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin,
    mut thawed: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => n,
        };
        if thawed.wait_for(|frozen| !*frozen).await.is_err() {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

fn ran(h: &Harness) -> u64 {
    h.sim
        .counters()
        .calls_by_tool
        .get(TOOL)
        .copied()
        .unwrap_or(0)
}

async fn prompt(client: &Client) -> Result<rmcp::model::GetPromptResult, ServiceError> {
    let mut get = GetPromptRequestParams::new("coder_agents_delegate");
    get.arguments = json!({"task": "check"}).as_object().cloned();
    client.get_prompt(get).await
}

fn assert_unavailable(result: Result<rmcp::model::GetPromptResult, ServiceError>) {
    let Err(ServiceError::McpError(e)) = result else {
        panic!("expected a JSON-RPC error, got {result:?}");
    };
    assert_eq!(e.code, UPSTREAM_UNAVAILABLE, "{e:?}");
    assert!(e.message.contains("is not responding"), "{}", e.message);
}

/// The first call after `since` that works, and how long after `since`.
async fn works_again(client: &Client, since: Instant) -> Duration {
    let result = bounded(
        "call after recovery",
        client.call_tool(params(TOOL, json!({}))),
    )
    .await
    .expect("call");
    assert_ne!(result.is_error, Some(true), "{}", text_of(&result));
    since.elapsed()
}

async fn frozen_upstream_fails_clearly_and_recovers(era: Era) {
    let slot: Arc<Mutex<Option<Freezer>>> = Arc::default();
    let proxy = slot.clone();
    let h = Harness::start_configured(era, quick_options(), move |sim: &Sim| {
        let upstream = sim
            .url()
            .socket_addrs(|| None)
            .expect("sim address")
            .into_iter()
            .next()
            .expect("one address");
        let freezer = Freezer::start(upstream);
        let session = UpstreamSession {
            access_url: freezer.url(),
            access_token: Secret::new(sim.session_token()),
            expires_at: None,
        };
        *proxy.lock().expect("lock") = Some(freezer);
        Arc::new(StaticToken(session))
    })
    .await;
    let freezer = slot.lock().expect("lock").take().expect("the proxy");
    let client = h.client("cursor").await;
    let relay = h.daemon.relay().clone();
    let first = bounded("before", client.call_tool(params(TOOL, json!({}))))
        .await
        .expect("call");
    assert_ne!(first.is_error, Some(true), "{}", text_of(&first));

    freezer.freeze(true);
    let frozen_at = Instant::now();
    let peer = client.peer().clone();
    let call = tokio::spawn(async move { peer.call_tool(params(TOOL, json!({}))).await });
    let read = prompt(&client);
    let (call, read) = tokio::join!(call, read);
    let failed_after = frozen_at.elapsed();
    // suspect_after + two probe time-outs + a little.
    assert!(failed_after < Duration::from_secs(4), "{failed_after:?}");
    let call = call.expect("task").expect("a tool result");
    assert_eq!(call.is_error, Some(true));
    let text = text_of(&call);
    assert!(text.contains("may or may not have run"), "{text}");
    assert!(text.contains("Coder stopped responding"), "{text}");
    assert!(text.contains(&freezer.addr.to_string()), "{text}");
    assert_unavailable(read);
    let state = relay.state();
    assert_eq!(state.status.as_str(), "error");
    assert!(
        state
            .detail
            .unwrap_or_default()
            .contains("is not responding"),
        "the status says why"
    );
    assert!(relay.outage().is_some());

    // While frozen, new requests are refused within a probe time-out.
    let asked = Instant::now();
    let refused = bounded(
        "call while frozen",
        client.call_tool(params(TOOL, json!({}))),
    )
    .await
    .expect("a tool result");
    assert!(
        asked.elapsed() < Duration::from_millis(1500),
        "{:?}",
        asked.elapsed()
    );
    assert!(
        text_of(&refused).contains("is not responding"),
        "{}",
        text_of(&refused)
    );
    assert_unavailable(bounded("prompt while frozen", prompt(&client)).await);
    // The tool list is served from what the relay already knows, so an
    // agent (re)listing tools keeps them rather than marking the server failed.
    let tools = bounded("tools while frozen", client.list_all_tools())
        .await
        .expect("cached tool list");
    assert!(tools.iter().any(|t| t.name == TOOL));

    freezer.freeze(false);
    let thawed_at = Instant::now();
    // The relay sees the thaw and reconnects by itself: the status turns
    // "connected" again with no agent request.
    let mut state = relay.watch_state();
    bounded(
        "connected again",
        state.wait_for(|s| s.status.as_str() == "connected"),
    )
    .await
    .expect("state channel");
    let reconnected = thawed_at.elapsed();
    assert!(reconnected < Duration::from_secs(1), "{reconnected:?}");
    let recovered = works_again(&client, thawed_at).await;
    eprintln!(
        "{era:?}: failed {failed_after:?} after the freeze; reconnected {reconnected:?} and a call done {recovered:?} after the thaw"
    );
    assert!(recovered < Duration::from_secs(1), "{recovered:?}");
    assert_eq!(relay.state().status.as_str(), "connected");
    assert!(relay.outage().is_none());
    assert_eq!(relay.health().outages, 1);
    // Nothing was re-sent: the call held by the freeze may still run once
    // the bytes flow again (hence "may or may not have run"), never twice.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let count = ran(&h);
    assert!((2..=3).contains(&count), "ran {count} times");
    bounded("close", client.cancel()).await.ok();
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateless_era_frozen_upstream_fails_clearly_and_recovers() {
    frozen_upstream_fails_clearly_and_recovers(Era::Stateless).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_era_frozen_upstream_fails_clearly_and_recovers() {
    frozen_upstream_fails_clearly_and_recovers(Era::Sessions).await;
}

/// Down for longer than a quick restart: the waiting call fails as "not
/// run", new ones are refused at once, and the restarted Coder serves the
/// same agent session within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_outage_fails_fast_and_ends_within_a_second() {
    let mut h = Harness::start_configured(Era::Stateless, quick_options(), |sim| {
        Arc::new(StaticToken(super::harness::session(
            sim,
            sim.session_token(),
        )))
    })
    .await;
    let client = h.client("cursor").await;
    let relay = h.daemon.relay().clone();
    bounded("before", client.call_tool(params(TOOL, json!({}))))
        .await
        .expect("call");
    let mut timings = (Duration::ZERO, Duration::ZERO);
    h.restart_sim(Box::pin(async {
        let down_at = Instant::now();
        let waited = bounded("call while down", client.call_tool(params(TOOL, json!({}))))
            .await
            .expect("a tool result");
        timings.0 = down_at.elapsed();
        assert_eq!(waited.is_error, Some(true));
        let text = text_of(&waited);
        assert!(text.contains("the request was not run"), "{text}");
        assert!(text.contains("is not responding"), "{text}");
        let asked = Instant::now();
        let refused = bounded("refused", client.call_tool(params(TOOL, json!({}))))
            .await
            .expect("a tool result");
        timings.1 = asked.elapsed();
        assert!(text_of(&refused).contains("is not responding"));
        assert_unavailable(bounded("prompt while down", prompt(&client)).await);
        assert_eq!(relay.state().status.as_str(), "error");
    }))
    .await;
    let restarted_at = Instant::now();
    let recovered = works_again(&client, restarted_at).await;
    eprintln!(
        "waiting call failed after {:?}; a new one in {:?}; works {recovered:?} after the restart",
        timings.0, timings.1
    );
    assert!(timings.0 < Duration::from_secs(4), "{:?}", timings.0);
    assert!(timings.1 < Duration::from_millis(500), "{:?}", timings.1);
    assert!(recovered < Duration::from_secs(1), "{recovered:?}");
    assert_eq!(ran(&h), 1, "only the call after the restart ran there");
    h.shutdown().await;
}

/// Coder's workspace bash tool may run for minutes: a 12-second command on a
/// healthy Coder succeeds with the default liveness settings, although the
/// relay probes Coder all the while.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_call_to_a_healthy_coder_is_left_alone() {
    let sim = bounded("sim", Sim::start(coder_sim::SimConfig::default()))
        .await
        .expect("sim");
    let relay = bridge::relay::Relay::new(
        Arc::new(StaticToken(super::harness::session(
            &sim,
            sim.session_token(),
        ))),
        RelayOptions::default(),
    );
    let started = Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(40),
        relay.call_tool(
            params(
                "coder_workspace_bash",
                json!({"workspace": "dev", "command": "sleep 12", "timeout_ms": 30000}),
            ),
            bridge::relay::CallOptions::default(),
        ),
    )
    .await
    .expect("bounded")
    .expect("the long call succeeds");
    let took = started.elapsed();
    let rmcp::model::CallToolResponse::Complete(result) = result else {
        panic!("a complete result");
    };
    assert_ne!(result.is_error, Some(true), "{}", text_of(&result));
    assert!(took >= Duration::from_secs(12), "{took:?}");
    let health = relay.health();
    assert!(
        health.probes >= 4,
        "Coder was checked meanwhile: {health:?}"
    );
    assert_eq!(health.outages, 0);
    relay.shutdown().await;
    sim.shutdown().await;
}
