//! The stdio shim's core: an rmcp stdio server relaying to the local daemon.
//!
//! Claude Desktop only launches stdio servers, so `coder-bridge stdio` is a
//! thin pipe: MCP on stdin/stdout on one side, the daemon's HTTP endpoint on
//! the other, authenticated with this agent's client token. It holds no
//! Coder credentials; policy, consent and activity happen in the daemon. The
//! same [`Relay`] that talks to Coder talks to the daemon here, so a daemon
//! restart is survived the same way an upstream restart is.
//!
//! The daemon is reached over its Unix socket when the user has a runtime
//! folder, else over loopback TCP where every connection must first prove it
//! reaches the user's daemon (see `server::loopback`): the token is never
//! sent to another program that took the port.

use std::{path::PathBuf, sync::Arc, time::Duration};

use super::loopback::DaemonAddress;

use rmcp::ServiceExt;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::handler::RelayServer;
use crate::{
    auth::{AuthError, Credentials, UpstreamSession},
    client_tokens::ClientTokens,
    gate::AllowAll,
    relay::{Endpoint, LivenessOptions, Relay, RelayOptions},
    secret::Secret,
};

pub mod args;
mod launch;

pub use args::ShimArgs;

/// Errors of the stdio shim. `code()` is stable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShimError {
    #[error(
        "there is no client token for agent `{agent}`: run `coder-bridge configure {agent}` first"
    )]
    NoClientToken { agent: String },
    #[error("the MCP session on stdin/stdout failed: {0}")]
    Stdio(String),
    #[error(
        "Coder Bridge is not running on port {port}: start it with `coder-bridge serve` (or open the Coder Bridge tray app)"
    )]
    NotRunning { port: u16 },
    #[error(
        "Coder Bridge is not running and could not be started ({0}); start it with `coder-bridge serve` (or open the tray app)"
    )]
    Start(String),
    #[error("cannot read the client tokens: {0}")]
    Tokens(String),
    #[error(
        "{0}. If Coder Bridge is not running, another program holds its port: stop that program, or run Coder Bridge on another port (`coder-bridge serve --port N`, then `coder-bridge configure`)"
    )]
    Unproven(String),
}

impl ShimError {
    pub fn code(&self) -> &'static str {
        match self {
            ShimError::NoClientToken { .. } => "no_client_token",
            ShimError::Stdio(_) => "stdio_failed",
            ShimError::NotRunning { .. } => "daemon_not_running",
            ShimError::Start(_) => "daemon_start_failed",
            ShimError::Tokens(_) => "client_tokens_unreadable",
            ShimError::Unproven(_) => "daemon_unproven",
        }
    }
}

/// The agent's client token as the "credentials" for the daemon. A 401
/// re-reads the token file once: `coder-bridge configure` may have issued a
/// new token since the agent started the shim.
#[derive(Debug)]
struct ClientTokenCredentials {
    daemon: Url,
    agent: String,
    tokens: ClientTokens,
}

impl ClientTokenCredentials {
    fn session(&self, token: Secret) -> UpstreamSession {
        UpstreamSession {
            access_url: self.daemon.clone(),
            access_token: token,
            expires_at: None,
        }
    }

    fn missing(&self) -> AuthError {
        AuthError::other(format!(
            "Coder Bridge does not accept the client token of agent `{agent}` (it may have been revoked): run `coder-bridge configure {agent}` and restart the agent",
            agent = self.agent
        ))
    }
}

#[async_trait::async_trait]
impl Credentials for ClientTokenCredentials {
    async fn current(&self) -> Result<UpstreamSession, AuthError> {
        self.tokens
            .get(&self.agent)
            .map(|t| self.session(t))
            .ok_or_else(|| self.missing())
    }

    async fn after_unauthorized(&self, rejected: &Secret) -> Result<UpstreamSession, AuthError> {
        match self.tokens.get(&self.agent) {
            Some(token) if token != *rejected => Ok(self.session(token)),
            _ => Err(self.missing()),
        }
    }
}

/// What `coder-bridge stdio` was asked to do.
#[derive(Debug, Clone)]
pub struct ShimOptions {
    /// The configured agent this shim speaks for (its client token is used).
    pub agent: String,
    /// The daemon's port; `None`: the running daemon's, else
    /// `CODER_BRIDGE_PORT`, else the default.
    pub port: Option<u16>,
    /// Fail instead of starting the daemon when it is not running.
    pub no_start: bool,
    /// The `coder-bridge` executable, run as `coder-bridge serve` to start the daemon.
    pub bridge_exe: PathBuf,
}

/// The whole shim: finds (or starts) the daemon, then serves MCP on
/// stdin/stdout until the agent closes it or asks the shim to stop.
pub async fn run_shim(options: ShimOptions) -> Result<(), ShimError> {
    let port = super::DaemonInfo::port_to_reach(options.port);
    let found = launch::find_or_start(port, options.no_start, &options.bridge_exe).await?;
    let tokens = ClientTokens::open_default().map_err(|e| ShimError::Tokens(e.to_string()))?;
    serve_stdio(
        &found.daemon,
        found.client,
        &options.agent,
        tokens,
        launch::stop_signal(),
    )
    .await
}

/// Serves MCP on stdin/stdout for `agent`, relaying to `daemon` through
/// `http` (a [`super::loopback`] client), until the agent closes stdin or
/// `shutdown` resolves.
pub async fn serve_stdio(
    daemon: &DaemonAddress,
    http: reqwest::Client,
    agent: &str,
    tokens: ClientTokens,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ShimError> {
    if tokens.get(agent).is_none() {
        return Err(ShimError::NoClientToken {
            agent: agent.to_owned(),
        });
    }
    let root = Url::parse(&daemon.base_url())
        .map_err(|e| ShimError::Start(format!("cannot build the daemon URL: {e}")))?;
    let mcp_url = root
        .join("mcp")
        .map_err(|e| ShimError::Start(format!("cannot build the daemon URL: {e}")))?;
    let credentials = Arc::new(ClientTokenCredentials {
        daemon: root,
        agent: agent.to_owned(),
        tokens,
    });
    // The client that found the daemon: its connection is reused.
    let relay = Relay::with_http_client(
        credentials,
        RelayOptions {
            endpoint: Endpoint::Fixed(mcp_url),
            // The daemon is local: it is either up quickly or not at all.
            retry_window: Duration::from_secs(15),
            backoff_cap: Duration::from_secs(1),
            // The daemon may hold a request while the user signs in in the
            // browser (see `auth::AUTO_SIGN_IN_WAIT`): wait longer than that.
            request_timeout: crate::auth::AUTO_SIGN_IN_WAIT + Duration::from_secs(30),
            // Whether Coder answers is the daemon's to check, and it does;
            // the shim probing the daemon would only fail long tool calls
            // and sign-ins that legitimately take minutes.
            liveness: LivenessOptions {
                enabled: false,
                ..LivenessOptions::default()
            },
            ..RelayOptions::default()
        },
        http,
    );
    // The daemon records activity; the shim's own events go nowhere, so a
    // one-slot channel (not `events::channel()`'s 4096 preallocated slots,
    // ~900 KiB) is enough.
    let events = tokio::sync::broadcast::channel(1).0;
    let server = RelayServer::for_agent(relay.clone(), Arc::new(AllowAll), events, agent);
    let sessions = server.sessions.clone();
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| ShimError::Stdio(e.to_string()))?;
    let cancel = CancellationToken::new();
    let notices = tokio::spawn(super::bound::forward_notices(
        relay.clone(),
        sessions,
        cancel.clone(),
    ));
    let stop = running.cancellation_token();
    let result = tokio::select! {
        r = running.waiting() => r.map(|_| ()).map_err(|e| ShimError::Stdio(e.to_string())),
        () = shutdown => {
            stop.cancel();
            Ok(())
        }
    };
    cancel.cancel();
    let _ = notices.await;
    relay.shutdown().await;
    result
}
