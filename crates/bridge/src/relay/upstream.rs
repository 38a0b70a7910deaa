//! The relay's side of the upstream connection: what it tells Coder about
//! itself, and what it does with Coder's notifications.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use rmcp::{
    ClientHandler, RoleClient, RoleServer,
    model::{
        ClientCapabilities, ClientConfig, Implementation, ListPromptsResult, ListToolsResult,
        ProgressNotificationParam, ProgressToken,
    },
    service::{NotificationContext, Peer},
};
use tokio::sync::broadcast;

/// Something changed upstream that connected agents should hear about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamNotice {
    ToolsChanged,
    PromptsChanged,
}

/// Where progress for one in-flight upstream request goes: the agent's peer
/// and the progress token the agent chose.
#[derive(Debug, Clone)]
pub struct ProgressSink {
    pub peer: Peer<RoleServer>,
    pub token: ProgressToken,
}

/// How long a fetched tool list is trusted. A stateless upstream cannot
/// announce that a tool changed, and the policy binds "always allow" to a
/// tool's definition, so a changed definition is noticed within this long
/// even when nothing else makes the relay fetch the list again.
pub(crate) const TOOLS_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(60);

/// State shared between the relay and its rmcp client handler. Kept apart
/// from the relay itself so the connection does not own the relay.
#[derive(Debug)]
pub(crate) struct Shared {
    pub notices: broadcast::Sender<UpstreamNotice>,
    /// Upstream progress token (chosen by our rmcp client) → agent.
    progress: Mutex<HashMap<ProgressToken, ProgressSink>>,
    pub tools: Mutex<Option<Arc<ListToolsResult>>>,
    /// When `tools` was fetched: see [`TOOLS_MAX_AGE`].
    tools_at: Mutex<Option<Instant>>,
    pub prompts: Mutex<Option<Arc<ListPromptsResult>>>,
    /// Bumped on every list-changed notification, so a listing that raced
    /// with one is not cached.
    pub tools_generation: AtomicU64,
    pub prompts_generation: AtomicU64,
    /// The MCP URL whose server answered `server/discover` as a server
    /// older than 2026-07-28 does: reconnects to it skip the probe.
    pub legacy_url: Mutex<Option<String>>,
}

impl Shared {
    pub fn new() -> Self {
        Self {
            notices: broadcast::channel(64).0,
            progress: Mutex::new(HashMap::new()),
            tools: Mutex::new(None),
            tools_at: Mutex::new(None),
            prompts: Mutex::new(None),
            tools_generation: AtomicU64::new(0),
            prompts_generation: AtomicU64::new(0),
            legacy_url: Mutex::new(None),
        }
    }

    /// The cached tool list, unless it is older than [`TOOLS_MAX_AGE`].
    pub fn cached_tools(&self) -> Option<Arc<ListToolsResult>> {
        let fresh = lock(&self.tools_at).is_some_and(|at| at.elapsed() < TOOLS_MAX_AGE);
        if fresh {
            lock(&self.tools).clone()
        } else {
            None
        }
    }

    pub fn cache_tools(&self, list: Arc<ListToolsResult>) {
        *lock(&self.tools) = Some(list);
        *lock(&self.tools_at) = Some(Instant::now());
    }

    fn progress_map(&self) -> MutexGuard<'_, HashMap<ProgressToken, ProgressSink>> {
        // A panic while holding this lock cannot leave the map inconsistent
        // (single inserts and removes), so a poisoned lock is still usable.
        self.progress
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn route_progress(&self, upstream: ProgressToken, sink: ProgressSink) {
        self.progress_map().insert(upstream, sink);
    }

    pub fn unroute_progress(&self, upstream: &ProgressToken) {
        self.progress_map().remove(upstream);
    }

    /// Drops both cached lists without telling anyone (a fresh connection).
    pub fn forget_lists(&self) {
        self.tools_generation.fetch_add(1, Ordering::AcqRel);
        self.prompts_generation.fetch_add(1, Ordering::AcqRel);
        *lock(&self.tools) = None;
        *lock(&self.prompts) = None;
    }

    pub fn invalidate_tools(&self) {
        self.tools_generation.fetch_add(1, Ordering::AcqRel);
        *lock(&self.tools) = None;
        let _ = self.notices.send(UpstreamNotice::ToolsChanged);
    }

    pub fn invalidate_prompts(&self) {
        self.prompts_generation.fetch_add(1, Ordering::AcqRel);
        *lock(&self.prompts) = None;
        let _ = self.notices.send(UpstreamNotice::PromptsChanged);
    }
}

/// Routes one request's upstream progress to its agent until dropped, so a
/// request abandoned mid-flight (the agent cancelled, Coder stopped
/// responding) leaves no stale route behind.
pub(crate) struct ProgressRoute<'a> {
    shared: &'a Shared,
    token: ProgressToken,
}

impl<'a> ProgressRoute<'a> {
    pub fn new(shared: &'a Shared, token: ProgressToken, sink: ProgressSink) -> Self {
        shared.route_progress(token.clone(), sink);
        Self { shared, token }
    }
}

impl Drop for ProgressRoute<'_> {
    fn drop(&mut self) {
        self.shared.unroute_progress(&self.token);
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The rmcp client handler of the one upstream connection.
#[derive(Debug, Clone)]
pub(crate) struct UpstreamHandler {
    pub shared: Arc<Shared>,
}

impl ClientHandler for UpstreamHandler {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("coder-bridge", env!("CARGO_PKG_VERSION")),
        )
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let sink = self
            .shared
            .progress_map()
            .get(&params.progress_token)
            .cloned();
        if let Some(sink) = sink {
            let mut forwarded = params;
            forwarded.progress_token = sink.token;
            if let Err(e) = sink.peer.notify_progress(forwarded).await {
                tracing::debug!("could not forward progress to the agent: {e}");
            }
        }
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        tracing::debug!("upstream tool list changed");
        self.shared.invalidate_tools();
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        tracing::debug!("upstream prompt list changed");
        self.shared.invalidate_prompts();
    }
}
