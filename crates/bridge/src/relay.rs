//! The relay room: one rmcp client connection to Coder's remote MCP endpoint,
//! shared by every agent.
//!
//! Requests from all agents go over the one connection concurrently. The
//! token is injected per HTTP request by [`http::InjectingClient`] (refresh
//! once on 401, retry a 503 once). Above that, the relay decides what a
//! failure means for the request in hand:
//!
//! - a request that certainly did not reach Coder (connect refused, 503,
//!   unknown session) is retried after a capped, jittered backoff, within a
//!   deadline — this is what makes an upstream restart invisible to agents;
//! - an idempotent request (list, get, ping) that may have reached Coder is
//!   retried the same way;
//! - a `tools/call` that may have reached Coder is never sent again: the
//!   agent gets [`RelayError::Interrupted`], because running it twice could
//!   duplicate a side effect (a second workspace, a second command).
//!
//! When the rmcp worker itself dies the connection is rebuilt on the next
//! request; session-era re-initialisation after a 404 is done inside rmcp.
//!
//! A Coder that accepts connections but never answers (paused, wedged) is
//! caught by `liveness`: every request runs under `Relay::guarded`,
//! which fails it clearly once probes show Coder is not responding, and
//! refuses new ones fast until Coder answers again.

mod attempts;
pub mod backoff;
mod connection;
pub mod http;
mod liveness;
mod refresh;
mod types;
mod upstream;

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use rmcp::model::{
    ClientRequest, GetPromptRequest, GetPromptRequestParams, GetPromptResponse, ListPromptsResult,
    ListToolsResult, PingRequest, ServerResult,
};
use tokio::{
    sync::{Mutex as AsyncMutex, broadcast, watch},
    time::Instant,
};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::auth::Credentials;
use attempts::result_kind;
use connection::Conn;
use liveness::Liveness;
pub use liveness::{Health, Outage};
pub use types::{
    CALL_INTERRUPTED, CallOptions, Endpoint, LivenessOptions, RelayError, RelayOptions, RelayState,
    RelayStatus, SIGN_IN_REQUIRED, UPSTREAM_FORBIDDEN, UPSTREAM_UNAVAILABLE,
};
pub use upstream::{ProgressSink, UpstreamNotice};
use upstream::{Shared, lock};

/// How long a call waits for the tool list (annotations for the gate).
const TOOL_INFO_TIMEOUT: Duration = Duration::from_secs(5);

struct Inner {
    credentials: Arc<dyn Credentials>,
    http: reqwest::Client,
    options: RelayOptions,
    shared: Arc<Shared>,
    /// The one upstream connection; the lock makes (re)connecting single-flight.
    conn: AsyncMutex<Option<Arc<Conn>>>,
    state: watch::Sender<RelayState>,
    cancel: CancellationToken,
    liveness: Arc<Liveness>,
    /// Stops the liveness prober when the relay is dropped without a shutdown.
    _prober: DropGuard,
}

/// The shared upstream connection. Cheap to clone.
#[derive(Clone)]
pub struct Relay {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("state", &*self.inner.state.borrow())
            .finish_non_exhaustive()
    }
}

/// What one failed attempt means for the request.
enum Next {
    Fail(RelayError),
    /// Try again if the window allows; the reason is reported if it does not.
    Retry(String),
}

impl Relay {
    pub fn new(credentials: Arc<dyn Credentials>, options: RelayOptions) -> Self {
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60))
            // A connection whose peer vanished without a word (a laptop that
            // slept, a NAT that forgot it) would hold a call until the
            // kernel gives up, many minutes later; keep-alive probes end it
            // within ~30 s. A paused Coder's kernel still answers them —
            // that case is the liveness prober's.
            .tcp_keepalive(Duration::from_secs(15))
            .tcp_keepalive_interval(Duration::from_secs(5))
            .tcp_keepalive_retries(3)
            .user_agent(concat!("coder-bridge/", env!("CARGO_PKG_VERSION")))
            .redirect(http::no_redirects())
            .build()
            .unwrap_or_default();
        Self::with_http_client(credentials, options, http)
    }

    /// [`Relay::new`] over a given HTTP client: the stdio shim passes one
    /// without TLS roots, since it only talks to the daemon on loopback.
    pub fn with_http_client(
        credentials: Arc<dyn Credentials>,
        options: RelayOptions,
        http: reqwest::Client,
    ) -> Self {
        let cancel = CancellationToken::new();
        let prober = cancel.child_token();
        let liveness = Liveness::new(options.liveness.clone(), prober.clone());
        Self {
            inner: Arc::new(Inner {
                credentials,
                http,
                options,
                shared: Arc::new(Shared::new()),
                conn: AsyncMutex::new(None),
                state: watch::channel(RelayState {
                    status: RelayStatus::Connecting,
                    deployment: None,
                    detail: None,
                })
                .0,
                cancel,
                liveness,
                _prober: prober.drop_guard(),
            }),
        }
    }

    pub fn state(&self) -> RelayState {
        self.inner.state.borrow().clone()
    }

    /// Every state change, for faces that display it.
    pub fn watch_state(&self) -> watch::Receiver<RelayState> {
        self.inner.state.subscribe()
    }

    /// Tool/prompt list changes upstream.
    pub fn notices(&self) -> broadcast::Receiver<UpstreamNotice> {
        self.inner.shared.notices.subscribe()
    }

    /// The current outage, while Coder is declared not responding.
    pub fn outage(&self) -> Option<Outage> {
        self.inner.liveness.health().outage
    }

    /// What the liveness prober knows (outage, outages so far, probes sent).
    pub fn health(&self) -> Health {
        self.inner.liveness.health()
    }

    /// Connects now (if not connected) so the first agent request is fast.
    pub async fn warm_up(&self) -> Result<(), RelayError> {
        let deadline = Instant::now() + self.inner.options.retry_window;
        self.guarded(None, async { self.connected(deadline).await.map(|_| ()) })
            .await
    }

    /// Runs one relayed request under the liveness check: refused at once
    /// while Coder is declared not responding, and ended with a clear error
    /// if that is declared while it waits. `sent` (for `tools/call`) tells
    /// whether the request may have reached Coder: then it may have run.
    async fn guarded<T>(
        &self,
        sent: Option<&AtomicBool>,
        request: impl Future<Output = Result<T, RelayError>>,
    ) -> Result<T, RelayError> {
        let liveness = &self.inner.liveness;
        let relay = Arc::downgrade(&self.inner);
        liveness.ensure_prober(move |health| {
            if let Some(inner) = relay.upgrade() {
                Relay { inner }.on_health(health);
            }
        });
        liveness.admit().await.map_err(|o| o.unavailable())?;
        let _waiting = liveness.track();
        tokio::select! {
            biased;
            result = request => result,
            outage = liveness.went_down() => {
                let maybe_ran = sent.is_some_and(|s| s.load(Ordering::Acquire));
                tracing::warn!(maybe_ran, "failing a request: {}", outage.describe());
                Err(if maybe_ran { outage.interrupted() } else { outage.unavailable() })
            }
        }
    }

    /// The prober declared an outage or a recovery.
    fn on_health(&self, health: &Health) {
        match &health.outage {
            Some(outage) => self.set_state(RelayStatus::Error, Some(outage.describe())),
            None => {
                self.set_state(
                    RelayStatus::Connecting,
                    Some("Coder answers again; reconnecting".into()),
                );
                // Reconnect now rather than on the next request, so the
                // status says "connected" again and that request is quick.
                let relay = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = relay.warm_up().await {
                        tracing::debug!("reconnecting after the outage failed: {e}");
                    }
                });
            }
        }
    }

    /// Closes the upstream connection (ending its session) and stops retries.
    pub async fn shutdown(&self) {
        self.inner.cancel.cancel();
        let conn = self.inner.conn.lock().await.take();
        if let Some(conn) = conn.and_then(|c| Arc::try_unwrap(c).ok()) {
            let _ = tokio::time::timeout(Duration::from_secs(3), conn.service.cancel()).await;
        }
    }

    fn set_state(&self, status: RelayStatus, detail: Option<String>) {
        self.inner.state.send_if_modified(|s| {
            let changed = s.status != status || s.detail != detail;
            s.status = status;
            s.detail = detail;
            changed
        });
    }

    /// The tool list, from the cache when it is fresh.
    pub async fn list_tools(&self) -> Result<Arc<ListToolsResult>, RelayError> {
        if let Some(cached) = self.inner.shared.cached_tools() {
            return Ok(cached);
        }
        let generation = self.inner.shared.tools_generation.load(Ordering::Acquire);
        let tools = self
            .idempotent(|peer| async move { peer.list_all_tools().await })
            .await?;
        let result = Arc::new(ListToolsResult::with_all_items(tools));
        // A list-changed notification that arrived meanwhile wins: do not
        // cache what may already be stale.
        if self.inner.shared.tools_generation.load(Ordering::Acquire) == generation {
            self.inner.shared.cache_tools(result.clone());
        }
        Ok(result)
    }

    /// What the upstream's tool list says about `name`: a shared handle to
    /// its description (no copy per call), "not listed", or "list
    /// unavailable" when it cannot be fetched quickly. Bounded, because a
    /// call should not wait a whole retry window for metadata before its own
    /// attempt.
    pub async fn tool(&self, name: &str) -> crate::gate::ToolLookup {
        use crate::gate::{ToolLookup, ToolRef};
        let cached = self.inner.shared.cached_tools();
        let from_cache = cached.is_some();
        let list = match cached {
            Some(list) => list,
            None => match tokio::time::timeout(TOOL_INFO_TIMEOUT, self.list_tools()).await {
                Ok(Ok(list)) => list,
                _ => return ToolLookup::ListUnavailable,
            },
        };
        if let Some(tool) = ToolRef::find(list, name) {
            return ToolLookup::Known(tool);
        }
        if !from_cache {
            return ToolLookup::NotListed;
        }
        // A stateless upstream cannot announce a new tool, so a cached list
        // may predate it: ask once more before calling the tool unknown.
        let generation = self.inner.shared.tools_generation.load(Ordering::Acquire);
        let fresh = tokio::time::timeout(
            TOOL_INFO_TIMEOUT,
            self.idempotent(|peer| async move { peer.list_all_tools().await }),
        )
        .await;
        let Ok(Ok(tools)) = fresh else {
            return ToolLookup::ListUnavailable;
        };
        let list = Arc::new(ListToolsResult::with_all_items(tools));
        if self.inner.shared.tools_generation.load(Ordering::Acquire) == generation {
            self.inner.shared.cache_tools(list.clone());
        }
        match ToolRef::find(list, name) {
            Some(tool) => ToolLookup::Known(tool),
            None => ToolLookup::NotListed,
        }
    }

    pub async fn list_prompts(&self) -> Result<Arc<ListPromptsResult>, RelayError> {
        if let Some(cached) = lock(&self.inner.shared.prompts).clone() {
            return Ok(cached);
        }
        let generation = self.inner.shared.prompts_generation.load(Ordering::Acquire);
        let prompts = self
            .idempotent(|peer| async move { peer.list_all_prompts().await })
            .await?;
        let result = Arc::new(ListPromptsResult::with_all_items(prompts));
        if self.inner.shared.prompts_generation.load(Ordering::Acquire) == generation {
            *lock(&self.inner.shared.prompts) = Some(result.clone());
        }
        Ok(result)
    }

    pub async fn get_prompt(
        &self,
        params: GetPromptRequestParams,
    ) -> Result<GetPromptResponse, RelayError> {
        let result = self
            .idempotent(|peer| {
                let params = params.clone();
                async move {
                    peer.send_request(ClientRequest::GetPromptRequest(GetPromptRequest::new(
                        params,
                    )))
                    .await
                }
            })
            .await?;
        match result {
            ServerResult::GetPromptResult(r) => Ok(GetPromptResponse::Complete(r)),
            ServerResult::InputRequiredResult(r) => Ok(GetPromptResponse::InputRequired(r)),
            other => Err(RelayError::Protocol(format!(
                "prompts/get answered with {}",
                result_kind(&other)
            ))),
        }
    }

    /// Pings the upstream.
    pub async fn ping(&self) -> Result<(), RelayError> {
        self.idempotent(|peer| async move {
            peer.send_request(ClientRequest::PingRequest(PingRequest::default()))
                .await
                .map(|_| ())
        })
        .await
    }
}
