//! `/api/experimental/mcp/http`: Coder's gates (provider switch, API key,
//! audience, toolset) in front of rmcp's streamable HTTP service.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::apikey::authenticate;
use crate::config::Era;
use crate::state::{Shared, route_not_found};
use crate::tools::{CoderMcp, McpCaller, Toolset};

pub(crate) const MCP_PATH: &str = "/api/experimental/mcp/http";

pub(crate) type McpService = StreamableHttpService<CoderMcp, LocalSessionManager>;

/// Builds the rmcp service for the configured era.
pub(crate) fn service(shared: &Arc<Shared>, ct: CancellationToken) -> McpService {
    let base = StreamableHttpServerConfig::default()
        .with_cancellation_token(ct)
        // A real deployment is reached by its own host name, not only loopback.
        .disable_allowed_hosts();
    let config = match shared.config.era {
        Era::Stateless => base
            .with_legacy_session_mode(false)
            .with_json_response(true)
            .with_sse_keep_alive(None),
        // mcp-go's heartbeat is 30 s.
        Era::Sessions => base
            .with_legacy_session_mode(true)
            .with_json_response(false)
            .with_sse_keep_alive(Some(std::time::Duration::from_secs(30))),
    };
    let handler_state = shared.clone();
    StreamableHttpService::new(
        move || Ok(CoderMcp::new(handler_state.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    )
}

#[derive(Clone)]
pub(crate) struct McpRoute {
    pub shared: Arc<Shared>,
    pub service: McpService,
}

impl std::fmt::Debug for McpRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpRoute").finish_non_exhaustive()
    }
}

pub(crate) async fn handle(State(route): State<McpRoute>, mut request: Request) -> Response {
    let shared = &route.shared;
    if !shared.faults.provider_enabled() {
        return route_not_found();
    }
    let caller = match authenticate(shared, request.headers(), request.uri()) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let toolset = url::form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "toolset")
        .map(|(_, v)| v.into_owned());
    let toolset = match toolset.as_deref() {
        None | Some("") | Some("standard") => Toolset::Standard,
        Some("chatgpt") => Toolset::ChatGpt,
        Some(other) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({
                    "message": "Invalid toolset.",
                    "detail": format!("toolset {other:?} is not one of \"standard\", \"chatgpt\""),
                })),
            )
                .into_response();
        }
    };
    request.extensions_mut().insert(McpCaller {
        user: caller.user,
        toolset,
    });
    route.service.handle(request).await.map(Body::new)
}
