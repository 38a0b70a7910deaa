//! The one upstream connection: opening it (with backoff until a deadline),
//! replacing it when it closed or outlived an outage, and judging what a
//! failed request means for the relay's state.

use std::sync::Arc;

use rmcp::{
    ClientLifecycleMode, ClientServiceExt, RoleClient, ServiceError,
    model::ProtocolVersion,
    service::{ClientInitializeError, Peer, RunningService},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use tokio::time::Instant;

use super::{
    Endpoint, Next, Relay, RelayError, RelayStatus,
    backoff::Backoff,
    http::{Audience, Failure, InjectingClient, classify_transport},
    upstream::{UpstreamHandler, lock},
};
use crate::auth::MCP_PATH;

pub(super) struct Conn {
    pub(super) service: RunningService<RoleClient, UpstreamHandler>,
    /// [`super::Health::outages`] when it was opened: a connection from before an
    /// outage may be wedged (requests stuck on it) and is replaced.
    outages: u64,
}

impl Conn {
    pub(super) fn peer(&self) -> Peer<RoleClient> {
        self.service.peer().clone()
    }

    pub(super) fn is_closed(&self) -> bool {
        self.service.peer().is_transport_closed() || self.service.is_closed()
    }
}

impl Relay {
    pub(super) fn mark_connected(&self) {
        self.set_state(RelayStatus::Connected, None);
    }

    /// Classifies a failed request and updates the relay's state.
    pub(super) async fn judge(&self, error: &ServiceError, conn: &Arc<Conn>) -> Judged {
        let judged = match error {
            ServiceError::McpError(e) if e.message.contains("re-initialized before") => {
                Judged::MaybeSent(e.message.to_string())
            }
            ServiceError::McpError(e) => Judged::Fail(RelayError::Upstream(e.clone())),
            ServiceError::TransportSend(e) => match classify_transport(e.error.as_ref()) {
                Failure::SignIn { code, message } => {
                    self.set_state(RelayStatus::SignedOut, Some(message.clone()));
                    Judged::Fail(RelayError::SignInRequired {
                        auth_code: code,
                        message,
                    })
                }
                Failure::Forbidden(detail) => {
                    self.set_state(RelayStatus::Error, Some("403 Forbidden".into()));
                    Judged::Fail(RelayError::Forbidden { detail })
                }
                Failure::NotSent { reason, retry_now } => Judged::NotSent { reason, retry_now },
                Failure::MaybeSent(reason) => Judged::MaybeSent(reason),
                Failure::NoEndpoint(detail) => {
                    let e = no_endpoint(detail);
                    self.set_state(RelayStatus::Error, Some(e.to_string()));
                    Judged::Fail(e)
                }
                Failure::Redirected(reason) => Judged::Fail(self.redirected(reason)),
                Failure::Stale => {
                    tracing::info!("the signed-in deployment changed; reconnecting");
                    self.evict(conn).await;
                    Judged::NotSent {
                        reason: "the signed-in deployment changed".into(),
                        retry_now: true,
                    }
                }
            },
            ServiceError::UnexpectedResponse => {
                Judged::Fail(RelayError::Protocol("a reply of the wrong type".into()))
            }
            other => Judged::MaybeSent(other.to_string()),
        };
        if conn.is_closed() {
            self.evict(conn).await;
        }
        judged
    }

    /// The upstream answered with a redirect: nothing followed it, and
    /// retrying would only be redirected again.
    fn redirected(&self, reason: String) -> RelayError {
        tracing::warn!("{reason}");
        self.set_state(RelayStatus::Error, Some(reason.clone()));
        RelayError::Unavailable { reason }
    }

    /// Drops `conn` if it is still the current connection.
    pub(super) async fn evict(&self, conn: &Arc<Conn>) {
        let mut slot = self.inner.conn.lock().await;
        if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn)) {
            *slot = None;
        }
    }

    /// The live connection, (re)connecting with backoff until `deadline`.
    pub(super) async fn connected(&self, deadline: Instant) -> Result<Arc<Conn>, RelayError> {
        let mut slot = self.inner.conn.lock().await;
        if let Some(conn) = slot.as_ref() {
            let outages = self.inner.liveness.health().outages;
            if conn.is_closed() {
                tracing::info!("the upstream connection closed; reconnecting");
            } else if conn.outages != outages {
                tracing::info!("Coder stopped responding on this connection; opening a new one");
            } else {
                return Ok(conn.clone());
            }
            *slot = None;
        }
        let mut backoff = Backoff::new(self.inner.options.backoff_cap);
        loop {
            if self.inner.cancel.is_cancelled() {
                return Err(RelayError::Unavailable {
                    reason: "the bridge is shutting down".into(),
                });
            }
            match self.connect_once().await {
                Ok(conn) => {
                    self.mark_connected();
                    *slot = Some(conn.clone());
                    return Ok(conn);
                }
                Err(Next::Fail(e)) => return Err(e),
                Err(Next::Retry(reason)) => {
                    tracing::info!("cannot connect to Coder yet: {reason}");
                    self.pause(&mut backoff, deadline, reason).await?;
                }
            }
        }
    }

    pub(super) async fn connect_once(&self) -> Result<Arc<Conn>, Next> {
        let inner = &self.inner;
        let session = match inner.credentials.current().await {
            Ok(s) => s,
            Err(e) if e.needs_sign_in() => {
                self.set_state(RelayStatus::SignedOut, Some(e.to_string()));
                return Err(Next::Fail(RelayError::SignInRequired {
                    auth_code: e.code(),
                    message: e.to_string(),
                }));
            }
            Err(e) => return Err(Next::Retry(e.to_string())),
        };
        inner.state.send_if_modified(|s| {
            let changed = s.deployment.as_ref() != Some(&session.access_url);
            s.deployment = Some(session.access_url.clone());
            changed
        });
        let url = match &inner.options.endpoint {
            Endpoint::CoderMcp => {
                // Only Coder is probed; a fixed endpoint (the shim's local
                // daemon) has no buildinfo and is either up or refused.
                inner.liveness.set_deployment(&session.access_url);
                session.mcp_url()
            }
            Endpoint::Fixed(url) => url.clone(),
        };
        let outages = inner.liveness.health().outages;
        let audience = match inner.options.endpoint {
            Endpoint::CoderMcp => Audience::CoderMcp,
            Endpoint::Fixed(_) => Audience::SameOrigin,
        };
        let known_legacy = lock(&inner.shared.legacy_url).as_deref() == Some(url.as_str());
        let mut started = if known_legacy {
            self.start(url.as_str(), audience, ClientLifecycleMode::Initialize)
                .await
        } else {
            self.start(url.as_str(), audience, modern()).await
        };
        if !known_legacy
            && let Ok(Err(e)) = &started
            && speaks_legacy_only(e)
        {
            tracing::info!(
                "Coder does not speak MCP 2026-07-28 here ({e}); connecting with the session handshake"
            );
            *lock(&inner.shared.legacy_url) = Some(url.to_string());
            started = self
                .start(url.as_str(), audience, ClientLifecycleMode::Initialize)
                .await;
        }
        match started {
            Ok(Ok(service)) => {
                tracing::info!(deployment = %session.access_url, "connected to Coder's MCP endpoint");
                // A new connection may be a restarted server with new tools.
                inner.shared.forget_lists();
                Ok(Arc::new(Conn { service, outages }))
            }
            Ok(Err(ClientInitializeError::TransportError { error, .. })) => {
                match classify_transport(error.error.as_ref()) {
                    Failure::SignIn { code, message } => {
                        self.set_state(RelayStatus::SignedOut, Some(message.clone()));
                        Err(Next::Fail(RelayError::SignInRequired {
                            auth_code: code,
                            message,
                        }))
                    }
                    Failure::Forbidden(detail) => {
                        self.set_state(RelayStatus::Error, Some("403 Forbidden".into()));
                        Err(Next::Fail(RelayError::Forbidden { detail }))
                    }
                    Failure::NotSent { reason, .. } | Failure::MaybeSent(reason) => {
                        Err(Next::Retry(reason))
                    }
                    // The session changed between reading it and connecting.
                    Failure::Stale => Err(Next::Retry("the signed-in deployment changed".into())),
                    Failure::NoEndpoint(detail) => {
                        let e = no_endpoint(detail);
                        self.set_state(RelayStatus::Error, Some(e.to_string()));
                        Err(Next::Fail(e))
                    }
                    Failure::Redirected(reason) => Err(Next::Fail(self.redirected(reason))),
                }
            }
            Ok(Err(ClientInitializeError::JsonRpcError(e))) => {
                self.set_state(RelayStatus::Error, Some(e.message.to_string()));
                Err(Next::Fail(RelayError::Upstream(e)))
            }
            Ok(Err(e)) => Err(Next::Retry(e.to_string())),
            Err(_) => Err(Next::Retry(format!(
                "no answer to initialize within {} s",
                inner.options.connect_timeout.as_secs()
            ))),
        }
    }
}

type Started = Result<
    Result<RunningService<RoleClient, UpstreamHandler>, ClientInitializeError>,
    tokio::time::error::Elapsed,
>;

impl Relay {
    /// Opens one connection to `url` with `lifecycle`, within the connect timeout.
    async fn start(
        &self,
        url: &str,
        audience: Audience,
        lifecycle: ClientLifecycleMode,
    ) -> Started {
        let inner = &self.inner;
        let client = InjectingClient::new(inner.http.clone(), inner.credentials.clone(), audience);
        let transport = StreamableHttpClientTransport::with_client(
            client,
            StreamableHttpClientTransportConfig::with_uri(url).max_concurrent_requests(64),
        );
        let handler = UpstreamHandler {
            shared: inner.shared.clone(),
        };
        tokio::time::timeout(
            inner.options.connect_timeout,
            handler.serve_with_lifecycle(transport, lifecycle),
        )
        .await
    }
}

/// MCP 2026-07-28 first (no handshake, per-request metadata, `Mcp-Method`
/// and `Mcp-Name` headers): Coder's go-sdk endpoint speaks it; older
/// releases (mcp-go, sessions) are recognised by how they fail the probe.
fn modern() -> ClientLifecycleMode {
    ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
    }
}

/// Whether a failed `server/discover` means an older server (answer it
/// with the session handshake) rather than a problem the handshake would
/// meet too: signed out, forbidden, no endpoint, redirected, unreachable.
fn speaks_legacy_only(error: &ClientInitializeError) -> bool {
    match error {
        ClientInitializeError::TransportError { error, .. } => matches!(
            classify_transport(error.error.as_ref()),
            Failure::MaybeSent(_)
        ),
        ClientInitializeError::Cancelled => false,
        _ => true,
    }
}

pub(super) enum Judged {
    Fail(RelayError),
    NotSent { reason: String, retry_now: bool },
    MaybeSent(String),
}

/// Coder answers 404 on its MCP path when the feature is switched off.
pub(super) fn no_endpoint(detail: String) -> RelayError {
    RelayError::Unavailable {
        reason: format!(
            "Coder's MCP endpoint ({MCP_PATH}) is not enabled on this deployment ({detail}); a Coder admin must enable the OAuth2 provider (CODER_OAUTH2_PROVIDER_ENABLE) and the `mcp-server-http` experiment"
        ),
    }
}
