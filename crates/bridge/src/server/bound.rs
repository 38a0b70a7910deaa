//! Serving a bound daemon: the routes every agent, the shim and the faces
//! reach, behind the one Host/Origin guard, on TCP and the Unix socket.

use super::guard::Allowed;
use super::handler::RelayServer;
use super::proof::ProofKey;
use super::{DaemonHandle, guard, handler, listen, lock, proof, single_reply};
use crate::{
    client_tokens::ClientTokens,
    gate::CallGate,
    relay::{Relay, UpstreamNotice},
};
use axum::{Json, Router, extract::State, middleware, routing::get};
use rmcp::transport::{
    StreamableHttpServerConfig, StreamableHttpService,
    streamable_http_server::session::local::LocalSessionManager,
};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A daemon that owns its port but serves nothing yet (see
/// [`DaemonBuilder::bind`]). Dropping it closes the listeners.
#[must_use = "a bound daemon serves nothing until `serve` is called"]
pub struct BoundDaemon {
    pub(super) handle: DaemonHandle,
    pub(super) tcp: listen::SameUserTcp,
    #[cfg(unix)]
    pub(super) unix: Option<listen::SameUserUnix>,
    pub(super) proof_key: ProofKey,
    pub(super) gate: Arc<dyn CallGate>,
    pub(super) tokens: ClientTokens,
}

impl std::fmt::Debug for BoundDaemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundDaemon")
            .field("local_addr", &self.handle.local_addr)
            .finish_non_exhaustive()
    }
}

impl BoundDaemon {
    /// The handle of the daemon this will be, for building the routes; it
    /// answers nothing until [`BoundDaemon::serve`].
    pub fn handle(&self) -> &DaemonHandle {
        &self.handle
    }

    /// Starts serving the MCP endpoint, `/healthz`, `/proof` and `routes`
    /// (the control API and the UI: they get the Host/Origin check but not
    /// the MCP client-token check), and connects upstream in the background.
    pub async fn serve(self, routes: Router) -> DaemonHandle {
        let Self {
            handle,
            tcp,
            #[cfg(unix)]
            unix,
            proof_key,
            gate,
            tokens,
        } = self;
        let (relay, cancel) = (handle.relay.clone(), handle.cancel.clone());
        let server = RelayServer {
            relay: relay.clone(),
            gate,
            events: handle.events.clone(),
            sessions: Default::default(),
            fixed_agent: None,
        };
        let sessions = server.sessions.clone();

        let mcp_config = StreamableHttpServerConfig::default()
            // Host and Origin are checked by our own layer, with the port.
            .disable_allowed_hosts()
            .disable_allowed_origins()
            // Agents on protocol 2026-07-28 get a plain JSON reply when the
            // answer is the only message (rmcp falls back to SSE when
            // progress comes first). An SSE reply is a stream the client
            // may drop before its end, and then its HTTP client cannot
            // reuse the connection: every call paid a new TCP connection.
            // Session-era agents keep SSE, which they need.
            .with_json_response(true)
            .with_cancellation_token(cancel.child_token());
        let mcp = StreamableHttpService::new(
            move || Ok(server.clone()),
            Arc::new(LocalSessionManager::default()),
            mcp_config,
        );
        let mcp_routes = Router::new()
            .nest_service("/mcp", mcp)
            .layer(middleware::from_fn(single_reply::json_when_single))
            .layer(middleware::from_fn_with_state(
                tokens,
                guard::require_client_token,
            ));
        let local_addr = handle.local_addr;
        let app = Router::new()
            .route("/healthz", get(healthz))
            .with_state(relay.clone())
            .merge(proof::router(proof_key, local_addr.port()))
            .merge(mcp_routes)
            .merge(routes)
            .layer(middleware::from_fn_with_state(
                Allowed::loopback(local_addr.port()),
                guard::check_host_and_origin,
            ));

        // Routes are resolved once here; `axum::serve(listener, app)` would
        // deep-copy the whole router (every route and layer) per connection.
        let app = app.with_state::<()>(()).into_make_service();
        let shutdown = cancel.clone();
        let serve = tokio::spawn(async move {
            let tcp = axum::serve(tcp, app.clone())
                .with_graceful_shutdown(shutdown.clone().cancelled_owned());
            #[cfg(unix)]
            if let Some(unix) = unix {
                let unix =
                    axum::serve(unix, app).with_graceful_shutdown(shutdown.cancelled_owned());
                let (tcp, unix) = tokio::join!(tcp, unix);
                return tcp.and(unix);
            }
            tcp.await
        });
        *handle.serve.lock().await = Some(serve);
        let tasks = &handle.tasks;
        tasks.spawn(forward_notices(relay.clone(), sessions, cancel.clone()));
        let warm = relay;
        let warm_cancel = cancel;
        tasks.spawn(async move {
            tokio::select! {
                // Connecting ahead is not an agent asking: never a browser sign-in.
                r = crate::auth::without_auto_sign_in(warm.warm_up()) => if let Err(e) = r {
                    tracing::warn!("not connected to Coder yet: {e}");
                },
                _ = warm_cancel.cancelled() => {}
            }
        });
        tasks.close();
        tracing::info!("listening on http://{local_addr}/mcp");
        if let Some(socket) = &handle.socket {
            tracing::info!("and on the Unix socket {}", socket.display());
        }
        handle
    }
}

/// Tells every open agent session when Coder's tool or prompt list changed.
pub(super) async fn forward_notices(
    relay: Relay,
    sessions: handler::Sessions,
    cancel: CancellationToken,
) {
    let mut notices = relay.notices();
    loop {
        let notice = tokio::select! {
            n = notices.recv() => n,
            _ = cancel.cancelled() => return,
        };
        let notice = match notice {
            Ok(n) => n,
            // Missed some: telling everyone both lists changed is always safe.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                UpstreamNotice::ToolsChanged
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        let peers = {
            let mut s = lock(&sessions);
            s.retain(|p| !p.is_transport_closed());
            s.clone()
        };
        for peer in peers {
            let sent = match notice {
                UpstreamNotice::ToolsChanged => peer.notify_tool_list_changed().await,
                UpstreamNotice::PromptsChanged => peer.notify_prompt_list_changed().await,
            };
            if let Err(e) = sent {
                tracing::debug!("could not notify an agent session: {e}");
            }
        }
    }
}

async fn healthz(State(relay): State<Relay>) -> Json<serde_json::Value> {
    let state = relay.state();
    Json(serde_json::json!({
        "status": "ok",
        "relay": state.status.as_str(),
        "deployment": state.deployment.map(|u| u.to_string()),
        "version": env!("CARGO_PKG_VERSION"),
    }))
}
