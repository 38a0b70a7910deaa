//! The stdio shim's core: an rmcp stdio server relaying to the local daemon.
//!
//! Claude Desktop only launches stdio servers, so `coder-bridge stdio` is a
//! thin pipe: MCP on stdin/stdout on one side, the daemon's HTTP endpoint on
//! the other, authenticated with this agent's client token. It holds no
//! Coder credentials; policy, consent and activity happen in the daemon. The
//! same [`Relay`] that talks to Coder talks to the daemon here, so a daemon
//! restart is survived the same way an upstream restart is.

use std::{sync::Arc, time::Duration};

use rmcp::ServiceExt;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::handler::RelayServer;
use crate::{
    auth::{AuthError, Credentials, UpstreamSession},
    client_tokens::ClientTokens,
    events,
    gate::AllowAll,
    relay::{Endpoint, Relay, RelayOptions},
    secret::Secret,
};

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
}

impl ShimError {
    pub fn code(&self) -> &'static str {
        match self {
            ShimError::NoClientToken { .. } => "no_client_token",
            ShimError::Stdio(_) => "stdio_failed",
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
        AuthError::Other(format!(
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

/// Serves MCP on stdin/stdout for `agent`, relaying to the daemon at
/// `mcp_url`, until the agent closes stdin or `shutdown` resolves.
pub async fn serve_stdio(
    mcp_url: Url,
    agent: &str,
    tokens: ClientTokens,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ShimError> {
    if tokens.get(agent).is_none() {
        return Err(ShimError::NoClientToken {
            agent: agent.to_owned(),
        });
    }
    let mut daemon = mcp_url.clone();
    daemon.set_path("/");
    let credentials = Arc::new(ClientTokenCredentials {
        daemon,
        agent: agent.to_owned(),
        tokens,
    });
    let relay = Relay::new(
        credentials,
        RelayOptions {
            endpoint: Endpoint::Fixed(mcp_url),
            // The daemon is local: it is either up quickly or not at all.
            retry_window: Duration::from_secs(15),
            backoff_cap: Duration::from_secs(1),
            ..RelayOptions::default()
        },
    );
    let server =
        RelayServer::for_agent(relay.clone(), Arc::new(AllowAll), events::channel(), agent);
    let sessions = server.sessions.clone();
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| ShimError::Stdio(e.to_string()))?;
    let cancel = CancellationToken::new();
    let notices = tokio::spawn(super::forward_notices(
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
