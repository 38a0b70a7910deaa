//! Where the upstream token may go: only to the deployment it belongs to,
//! even when the user switches deployment while a request is in flight, and
//! never through a redirect.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering},
};

use axum::{
    Router,
    extract::{Request, State},
    http::{Method, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use bridge::{
    auth::{AuthError, Credentials, UpstreamSession},
    client_tokens::ClientTokens,
    relay::UPSTREAM_UNAVAILABLE,
    secret::Secret,
    server::{Daemon, DaemonHandle},
};
use rmcp::{
    ErrorData, RoleServer, ServerHandler, ServiceError, ServiceExt,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ClientConfig, ContentBlock,
        ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    },
    service::RequestContext,
    transport::{
        StreamableHttpClientTransport, StreamableHttpServerConfig, StreamableHttpService,
        streamable_http_client::StreamableHttpClientTransportConfig,
        streamable_http_server::session::local::LocalSessionManager,
    },
};
use tokio::sync::Notify;

use super::harness::{Client, bounded, fast_options, init_tracing, text_of};

const MCP_PATH: &str = "/api/experimental/mcp/http";

/// A deployment whose one tool says which deployment it is.
#[derive(Clone)]
struct Named(&'static str);

impl ServerHandler for Named {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let schema = serde_json::json!({"type": "object"});
        Ok(ListToolsResult::with_all_items(vec![Tool::new(
            "whoami",
            "names the deployment",
            Arc::new(schema.as_object().cloned().unwrap_or_default()),
        )]))
    }

    async fn call_tool(
        &self,
        _request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        Ok(CallToolResult::success(vec![ContentBlock::text(self.0)]).into())
    }
}

/// What one fake deployment saw, and a switch that holds its next POST
/// until released and then refuses it with 401 (a token that just expired).
#[derive(Default)]
struct Upstream {
    seen_auth: Mutex<Vec<String>>,
    hold_next_post: AtomicBool,
    holding: Notify,
    release: Notify,
}

impl Upstream {
    fn seen(&self) -> Vec<String> {
        self.seen_auth.lock().expect("lock").clone()
    }
}

async fn record_and_hold(State(u): State<Arc<Upstream>>, request: Request, next: Next) -> Response {
    let auth = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("<none>")
        .to_owned();
    u.seen_auth.lock().expect("lock").push(auth);
    if request.method() == Method::POST && u.hold_next_post.swap(false, Ordering::SeqCst) {
        u.holding.notify_one();
        u.release.notified().await;
        return (StatusCode::UNAUTHORIZED, "token expired").into_response();
    }
    next.run(request).await
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}/")
}

/// A fake deployment named `name`; returns its access URL.
async fn deployment(name: &'static str, upstream: Arc<Upstream>) -> String {
    let service = StreamableHttpService::new(
        move || Ok(Named(name)),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let router = Router::new()
        .nest_service(MCP_PATH, service)
        .layer(middleware::from_fn_with_state(upstream, record_and_hold));
    serve(router).await
}

fn session(access_url: &str, token: &str) -> UpstreamSession {
    UpstreamSession {
        access_url: access_url.parse().expect("url"),
        access_token: Secret::new(token),
        expires_at: None,
    }
}

/// The signed-in session, which the test switches to another deployment as
/// a new sign-in would. After a 401 it hands out whatever is current, as
/// the auth manager does when the rejected token was already replaced.
struct Switchable(Mutex<UpstreamSession>);

#[async_trait::async_trait]
impl Credentials for Switchable {
    async fn current(&self) -> Result<UpstreamSession, AuthError> {
        Ok(self.0.lock().expect("lock").clone())
    }

    async fn after_unauthorized(&self, rejected: &Secret) -> Result<UpstreamSession, AuthError> {
        let current = self.0.lock().expect("lock").clone();
        if current.access_token == *rejected {
            return Err(AuthError::SessionExpired {
                deployment: current.access_url.to_string(),
            });
        }
        Ok(current)
    }
}

async fn daemon(credentials: Arc<dyn Credentials>) -> (DaemonHandle, String, tempfile::TempDir) {
    init_tracing();
    let dir = tempfile::tempdir().expect("dir");
    let tokens = ClientTokens::open(dir.path().join("t.json")).expect("tokens");
    let token = tokens.issue("cursor").expect("issue").expose().to_owned();
    let daemon = Daemon::builder()
        .credentials(credentials)
        .tokens(tokens)
        .port(0)
        .relay_options(fast_options())
        .start()
        .await
        .expect("daemon");
    (daemon, token, dir)
}

async fn agent(daemon: &DaemonHandle, token: &str) -> Client {
    let config = StreamableHttpClientTransportConfig::with_uri(daemon.mcp_url()).auth_header(token);
    bounded(
        "agent connects",
        ClientConfig::default().serve(StreamableHttpClientTransport::from_config(config)),
    )
    .await
    .expect("agent")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_renewed_after_a_deployment_switch_never_reaches_the_old_deployment() {
    let (a, b) = (Arc::new(Upstream::default()), Arc::new(Upstream::default()));
    let a_url = deployment("A", a.clone()).await;
    let b_url = deployment("B", b.clone()).await;
    let credentials = Arc::new(Switchable(Mutex::new(session(&a_url, "token-for-A"))));
    let (daemon, token, _dir) = daemon(credentials.clone()).await;
    let client = agent(&daemon, &token).await;
    bounded("list on A", client.list_all_tools())
        .await
        .expect("tools/list");

    // A call to A is in flight when the user signs in to B; then A answers
    // 401, and the renewal hands out B's token.
    a.hold_next_post.store(true, Ordering::SeqCst);
    let call = tokio::spawn(async move {
        let result = client.call_tool(CallToolRequestParams::new("whoami")).await;
        (client, result)
    });
    bounded("the call reaches A", a.holding.notified()).await;
    *credentials.0.lock().expect("lock") = session(&b_url, "token-for-B");
    a.release.notify_one();
    let (client, result) = bounded("the call ends", call).await.expect("join");

    // A refused it without running it, so the relay may send it again, to
    // the deployment B's token belongs to.
    let result = result.expect("the call goes through B");
    assert_eq!(text_of(&result), "B");
    for auth in a.seen() {
        assert!(!auth.contains("token-for-B"), "A saw B's token: {auth}");
    }
    assert!(
        b.seen().iter().any(|auth| auth == "Bearer token-for-B"),
        "{:?}",
        b.seen()
    );
    bounded("close", client.cancel()).await.ok();
    daemon.shutdown().await;
}

/// Answers everything with `307` to `target`.
async fn redirecting_to(target: String) -> String {
    let router = Router::new().fallback(move || {
        let location = format!("{target}api/experimental/mcp/http");
        async move { (StatusCode::TEMPORARY_REDIRECT, [("location", location)], "") }
    });
    serve(router).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_refused_and_its_target_receives_nothing() {
    let elsewhere = Arc::new(Upstream::default());
    let elsewhere_url = serve(
        Router::new()
            .fallback(|| async { StatusCode::INTERNAL_SERVER_ERROR })
            .layer(middleware::from_fn_with_state(
                elsewhere.clone(),
                record_and_hold,
            )),
    )
    .await;
    let redirecting = redirecting_to(elsewhere_url.clone()).await;
    let credentials = Arc::new(Switchable(Mutex::new(session(&redirecting, "token-for-A"))));
    let (daemon, token, _dir) = daemon(credentials).await;
    let client = agent(&daemon, &token).await;

    let err = bounded("list", client.list_all_tools())
        .await
        .expect_err("a redirecting upstream");
    let ServiceError::McpError(e) = err else {
        panic!("expected a JSON-RPC error, got {err:?}");
    };
    assert_eq!(e.code, UPSTREAM_UNAVAILABLE);
    assert!(e.message.contains("redirect"), "{}", e.message);
    let target = elsewhere_url.trim_end_matches('/');
    assert!(e.message.contains(target), "{}", e.message);
    assert!(
        elsewhere.seen().is_empty(),
        "the redirect target received {:?}",
        elsewhere.seen()
    );
    bounded("close", client.cancel()).await.ok();
    daemon.shutdown().await;
}
