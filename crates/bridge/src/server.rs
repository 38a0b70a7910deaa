//! The server room: the local MCP endpoint every agent connects to.
//!
//! `http://127.0.0.1:<port>/mcp` is rmcp's streamable HTTP server behind two
//! layers: a Host/Origin allow-list (DNS rebinding) and a per-agent client
//! token. `/healthz` answers without a token and without secrets; `/proof`
//! answers a client's challenge (see [`proof`]). The same routes are served
//! on a Unix socket in the user's runtime folder when there is one, which
//! the stdio shim prefers; TCP connections from other users' processes are
//! refused (see [`peer`]). The [`Daemon`] builder owns every task it starts.
//! Binding and serving are two steps ([`DaemonBuilder::bind`], then
//! [`BoundDaemon::serve`]): the supervisor builds its handle on the bound
//! daemon and hands the control API and UI routes, made on that handle, to
//! `serve`.

mod bound;
pub mod daemon_file;
pub mod guard;
mod handler;
pub mod limits;
mod listen;
pub mod loopback;
pub mod peer;
pub mod proof;
mod single_reply;
pub mod stdio;
pub mod summary;

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::PathBuf,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use axum::Router;
use tokio::task::JoinHandle;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

pub use bound::BoundDaemon;
pub use daemon_file::DaemonInfo;
pub use guard::{AgentId, Allowed, CLIENT_UNAUTHORIZED};
pub use handler::RelayServer;
pub use proof::ProofKey;

use crate::{
    auth::Credentials,
    client_tokens::ClientTokens,
    events::{self, EventSender},
    gate::{AllowAll, CallGate},
    relay::{Relay, RelayOptions},
};

/// Errors starting or running the daemon. `code()` is stable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    #[error(
        "port {port} on 127.0.0.1 is already in use (is another `coder-bridge serve` running?). Stop the other program, or choose another port with `--port N` or the CODER_BRIDGE_PORT environment variable (agent configs must then be updated with `coder-bridge configure`)"
    )]
    PortInUse { port: u16 },
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("the daemon needs {0}")]
    Missing(&'static str),
    #[error("cannot write the daemon key {}: {source}", path.display())]
    ProofKey {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ServerError {
    pub fn code(&self) -> crate::error_code::ErrorCode {
        use crate::error_code::ErrorCode as C;
        match self {
            ServerError::PortInUse { .. } => C::PortInUse,
            ServerError::Bind { .. } => C::BindFailed,
            ServerError::Missing(_) => C::Misconfigured,
            ServerError::ProofKey { .. } => C::ProofKeyUnwritable,
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Entry point: `Daemon::builder()`.
#[derive(Debug)]
pub struct Daemon;

impl Daemon {
    pub fn builder() -> DaemonBuilder {
        DaemonBuilder::default()
    }
}

/// Assembles the daemon. Credentials and client tokens are required.
#[must_use]
pub struct DaemonBuilder {
    credentials: Option<Arc<dyn Credentials>>,
    gate: Arc<dyn CallGate>,
    tokens: Option<ClientTokens>,
    events: Option<EventSender>,
    port: u16,
    relay_options: RelayOptions,
    socket_dir: Option<PathBuf>,
    proof_key_file: Option<PathBuf>,
}

impl Default for DaemonBuilder {
    fn default() -> Self {
        Self {
            credentials: None,
            gate: Arc::new(AllowAll),
            tokens: None,
            events: None,
            port: crate::paths::DEFAULT_PORT,
            relay_options: RelayOptions::default(),
            socket_dir: None,
            proof_key_file: None,
        }
    }
}

impl std::fmt::Debug for DaemonBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaemonBuilder")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl DaemonBuilder {
    /// The user's Coder session (`AuthManager`, or `StaticToken` in demo/tests).
    pub fn credentials(mut self, credentials: Arc<dyn Credentials>) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Policy and consent; [`AllowAll`] when not set.
    pub fn gate(mut self, gate: Arc<dyn CallGate>) -> Self {
        self.gate = gate;
        self
    }

    /// The per-agent client tokens every request must carry.
    pub fn tokens(mut self, tokens: ClientTokens) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// Where call events go; a fresh channel when not set.
    pub fn events(mut self, events: EventSender) -> Self {
        self.events = Some(events);
        self
    }

    /// The port on 127.0.0.1; 0 picks a free one (tests).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    pub fn relay_options(mut self, options: RelayOptions) -> Self {
        self.relay_options = options;
        self
    }

    /// Also listen on `<dir>/daemon-<port>.sock` (Unix only; where it
    /// cannot be bound, the daemon serves TCP alone and says so).
    pub fn socket_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.socket_dir = dir;
        self
    }

    /// Write this run's proof key there, before the first connection is
    /// accepted, so clients can verify the daemon. Without it the key stays
    /// in memory and only this process can check proofs.
    pub fn proof_key_file(mut self, path: PathBuf) -> Self {
        self.proof_key_file = Some(path);
        self
    }

    /// Binds 127.0.0.1:`port` (and the Unix socket) and writes the proof
    /// key; nothing is served or connected yet. Whoever needs the bound
    /// address or the relay to build its routes (the supervisor's handle,
    /// the control API on it) does so now, then calls [`BoundDaemon::serve`]:
    /// no request can arrive before the routes exist.
    pub async fn bind(self) -> Result<BoundDaemon, ServerError> {
        let credentials = self
            .credentials
            .ok_or(ServerError::Missing("credentials"))?;
        let tokens = self.tokens.ok_or(ServerError::Missing("client tokens"))?;
        let events = self.events.unwrap_or_else(events::channel);

        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, self.port))
            .await
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::AddrInUse => ServerError::PortInUse { port: self.port },
                _ => ServerError::Bind {
                    port: self.port,
                    source,
                },
            })?;
        let local_addr = listener.local_addr().map_err(|source| ServerError::Bind {
            port: self.port,
            source,
        })?;
        // Only now that this daemon owns the port may its key replace the
        // file (a daemon that failed to bind must not break the running
        // one's proofs), and before any connection is served.
        let proof_key = ProofKey::generate();
        if let Some(path) = self.proof_key_file {
            proof_key
                .write(&path)
                .map_err(|source| ServerError::ProofKey { path, source })?;
        }
        let bind_error = |source| ServerError::Bind {
            port: local_addr.port(),
            source,
        };
        let tcp = listen::SameUserTcp::new(listener).map_err(bind_error)?;
        #[cfg(unix)]
        let unix = self.socket_dir.as_ref().and_then(|dir| {
            let path = dir.join(crate::paths::socket_name(local_addr.port()));
            match listen::SameUserUnix::bind(&path) {
                Ok(unix) => Some(unix),
                Err(e) => {
                    tracing::warn!(
                        "cannot listen on {}: {e}; agents' shims will use loopback TCP",
                        path.display()
                    );
                    None
                }
            }
        });
        #[cfg(unix)]
        let socket = unix.as_ref().map(listen::SameUserUnix::path);
        #[cfg(not(unix))]
        let socket: Option<PathBuf> = None;

        let relay = Relay::new(credentials, self.relay_options);
        let handle = DaemonHandle {
            local_addr,
            socket,
            relay,
            events,
            cancel: CancellationToken::new(),
            tasks: TaskTracker::new(),
            serve: Arc::new(tokio::sync::Mutex::new(None)),
        };
        Ok(BoundDaemon {
            handle,
            tcp,
            #[cfg(unix)]
            unix,
            proof_key,
            gate: self.gate,
            tokens,
        })
    }

    /// [`bind`](Self::bind), then serve the daemon's own routes alone.
    pub async fn start(self) -> Result<DaemonHandle, ServerError> {
        Ok(self.bind().await?.serve(Router::new()).await)
    }
}

/// A running daemon. Cloneable; `shutdown` stops it for every clone.
#[derive(Debug, Clone)]
pub struct DaemonHandle {
    local_addr: SocketAddr,
    socket: Option<PathBuf>,
    relay: Relay,
    events: EventSender,
    cancel: CancellationToken,
    tasks: TaskTracker,
    serve: Arc<tokio::sync::Mutex<Option<JoinHandle<std::io::Result<()>>>>>,
}

impl DaemonHandle {
    /// `127.0.0.1:<port>` actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://127.0.0.1:<port>/mcp`.
    pub fn mcp_url(&self) -> String {
        format!("http://{}/mcp", self.local_addr)
    }

    /// The Unix socket it also listens on, if any.
    pub fn socket_path(&self) -> Option<&std::path::Path> {
        self.socket.as_deref()
    }

    /// Call events (subscribe for the live feed).
    pub fn events(&self) -> EventSender {
        self.events.clone()
    }

    /// The upstream connection (state for status displays).
    pub fn relay(&self) -> &Relay {
        &self.relay
    }

    /// Resolves when shutdown has been requested.
    pub fn cancelled(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.cancel.cancelled()
    }

    /// Stops accepting requests, ends agent sessions and the upstream session.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        self.relay.shutdown().await;
        self.wait().await;
    }

    /// Waits until the server has stopped (after `shutdown`, or a fatal error).
    pub async fn wait(&self) {
        let serve = self.serve.lock().await.take();
        if let Some(serve) = serve {
            match serve.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!("the local server failed: {e}"),
                Err(e) => tracing::error!("the local server task failed: {e}"),
            }
        }
        // Graceful: open streams get a moment to end, then we stop waiting.
        // (A daemon bound but never served has no tasks to wait for.)
        self.tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.tasks.wait()).await;
    }
}
