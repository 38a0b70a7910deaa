//! What the simulator does not do: progress, list-changed notifications
//! and observing a cancellation. A tiny rmcp server on port 0 stands in for
//! Coder's MCP endpoint.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use bridge::{
    auth::{StaticToken, UpstreamSession},
    client_tokens::ClientTokens,
    secret::Secret,
    server::{Daemon, DaemonHandle},
};
use rmcp::{
    ClientHandler, ErrorData, RoleClient, RoleServer, ServerHandler, ServiceExt,
    model::{
        CallToolRequest, CallToolRequestParams, CallToolResponse, CallToolResult, ClientConfig,
        ClientRequest, ContentBlock, ListToolsResult, PaginatedRequestParams,
        ProgressNotificationParam, ServerCapabilities, ServerConfig, Tool,
    },
    service::{NotificationContext, PeerRequestOptions, RequestContext},
    transport::{
        StreamableHttpClientTransport, StreamableHttpServerConfig, StreamableHttpService,
        streamable_http_client::StreamableHttpClientTransportConfig,
        streamable_http_server::session::local::LocalSessionManager,
    },
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::harness::{bounded, fast_options, init_tracing};

#[derive(Clone, Default)]
struct Fake {
    /// The "slow" tool is running: the call reached the upstream.
    slow_started: Arc<AtomicBool>,
    cancelled: Arc<AtomicBool>,
    /// Every `Authorization` header the upstream received.
    seen_auth: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Fake {
    fn record_auth(&self, context: &RequestContext<RoleServer>) {
        let value = context
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|p| p.headers.get("authorization"))
            .and_then(|v| v.to_str().ok())
            .unwrap_or("<none>")
            .to_owned();
        self.seen_auth.lock().expect("lock").push(value);
    }
}

const UPSTREAM_TOKEN: &str = "fake0token-NotCheckedByTheFakeServer1";

fn tool(name: &'static str) -> Tool {
    let schema = serde_json::json!({"type": "object", "properties": {}});
    Tool::new(
        name,
        "test tool",
        Arc::new(schema.as_object().cloned().unwrap_or_default()),
    )
}

impl ServerHandler for Fake {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.record_auth(&context);
        Ok(ListToolsResult::with_all_items(vec![
            tool("slow"),
            tool("progress"),
            tool("change"),
        ]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.record_auth(&context);
        let text = match request.name.as_ref() {
            "slow" => {
                self.slow_started.store(true, Ordering::SeqCst);
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(20)) => "finished",
                    () = context.ct.cancelled() => {
                        self.cancelled.store(true, Ordering::SeqCst);
                        "cancelled"
                    }
                }
            }
            "progress" => {
                let token = context
                    .meta
                    .get_progress_token()
                    .ok_or_else(|| ErrorData::invalid_params("no progress token", None))?;
                for step in 1..=3 {
                    let mut p = ProgressNotificationParam::new(token.clone(), f64::from(step));
                    p.total = Some(3.0);
                    let _ = context.peer.notify_progress(p).await;
                }
                // rmcp hands notifications to handlers on spawned tasks, so
                // progress racing the final result may be dropped as stale
                // (the spec forbids progress after completion). Real tools
                // report progress while they work, not at the last instant.
                tokio::time::sleep(Duration::from_millis(200)).await;
                "done"
            }
            "change" => {
                let _ = context.peer.notify_tool_list_changed().await;
                "changed"
            }
            _ => return Err(ErrorData::invalid_params("unknown tool", None)),
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }
}

/// Records what the daemon pushes to an agent.
#[derive(Clone)]
struct Recorder {
    tx: mpsc::UnboundedSender<String>,
}

impl ClientHandler for Recorder {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::default()
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.tx.send(format!("progress {}", params.progress));
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.tx.send("tools changed".into());
    }
}

struct Setup {
    fake: Fake,
    daemon: DaemonHandle,
    stop_fake: CancellationToken,
    token: String,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    init_tracing();
    let fake = Fake::default();
    let stop_fake = CancellationToken::new();
    let service = StreamableHttpService::new(
        {
            let fake = fake.clone();
            move || Ok(fake.clone())
        },
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default().with_cancellation_token(stop_fake.child_token()),
    );
    let router = axum::Router::new().nest_service("/api/experimental/mcp/http", service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = stop_fake.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
    });

    let dir = tempfile::tempdir().expect("dir");
    let tokens = ClientTokens::open(dir.path().join("t.json")).expect("tokens");
    let token = tokens.issue("vscode").expect("issue").expose().to_owned();
    let credentials = Arc::new(StaticToken(UpstreamSession {
        access_url: format!("http://{addr}/").parse().expect("url"),
        access_token: Secret::new(UPSTREAM_TOKEN),
        expires_at: None,
    }));
    let daemon = Daemon::builder()
        .credentials(credentials)
        .tokens(tokens)
        .port(0)
        .relay_options(fast_options())
        .start()
        .await
        .expect("daemon");
    Setup {
        fake,
        daemon,
        stop_fake,
        token,
        _dir: dir,
    }
}

async fn agent(
    s: &Setup,
) -> (
    rmcp::service::RunningService<RoleClient, Recorder>,
    mpsc::UnboundedReceiver<String>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let config =
        StreamableHttpClientTransportConfig::with_uri(s.daemon.mcp_url()).auth_header(&s.token);
    let client = bounded(
        "agent connects",
        Recorder { tx }.serve(StreamableHttpClientTransport::from_config(config)),
    )
    .await
    .expect("agent");
    (client, rx)
}

async fn expect_message(rx: &mut mpsc::UnboundedReceiver<String>, wanted: &str) {
    bounded(wanted, async {
        while let Some(m) = rx.recv().await {
            if m == wanted {
                return;
            }
        }
        panic!("channel closed before {wanted}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_and_list_changed_reach_the_agent() {
    let s = setup().await;
    let (client, mut rx) = agent(&s).await;
    bounded("list", client.list_all_tools())
        .await
        .expect("tools");

    let done = bounded(
        "progress call",
        client.call_tool(CallToolRequestParams::new("progress")),
    )
    .await
    .expect("call");
    assert_ne!(done.is_error, Some(true));
    // Notifications are delivered on separate tasks: any order.
    let mut seen = std::collections::BTreeSet::new();
    bounded("three progress notifications", async {
        while seen.len() < 3 {
            let m = rx.recv().await.expect("recorder open");
            if m.starts_with("progress") {
                seen.insert(m);
            }
        }
    })
    .await;
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["progress 1", "progress 2", "progress 3"]
    );

    bounded(
        "change call",
        client.call_tool(CallToolRequestParams::new("change")),
    )
    .await
    .expect("call");
    expect_message(&mut rx, "tools changed").await;

    // Only the bridge's upstream token ever reached Coder; the agent's
    // client token stayed on this machine.
    let seen = s.fake.seen_auth.lock().expect("lock").clone();
    assert!(seen.len() >= 3, "{seen:?}");
    for auth in &seen {
        assert_eq!(auth, &format!("Bearer {UPSTREAM_TOKEN}"));
        assert!(!auth.contains(&s.token));
    }

    bounded("close", client.cancel()).await.ok();
    s.daemon.shutdown().await;
    s.stop_fake.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_cancellation_cancels_the_upstream_call() {
    let s = setup().await;
    let (client, _rx) = agent(&s).await;
    let handle = bounded(
        "send",
        client.peer().send_cancellable_request(
            ClientRequest::CallToolRequest(CallToolRequest::new(CallToolRequestParams::new(
                "slow",
            ))),
            PeerRequestOptions::no_options(),
        ),
    )
    .await
    .expect("sent");
    let started = &s.fake.slow_started;
    crate::support::eventually("the call to reach the upstream", move || async move {
        started.load(Ordering::SeqCst).then_some(())
    })
    .await;
    assert!(!s.fake.cancelled.load(Ordering::SeqCst));
    handle
        .cancel(Some("the user stopped it".into()))
        .await
        .expect("cancel sent");
    bounded("upstream sees the cancellation", async {
        while !s.fake.cancelled.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    bounded("close", client.cancel()).await.ok();
    s.daemon.shutdown().await;
    s.stop_fake.cancel();
}
