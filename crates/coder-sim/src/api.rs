//! The two REST endpoints a client of the bridge needs besides MCP.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::apikey::authenticate;
use crate::state::Shared;

/// `GET /api/v2/users/me`: validates a token and names its user.
pub(crate) async fn users_me(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    match authenticate(&shared, request.headers(), request.uri()) {
        Ok(caller) => Json(caller.user).into_response(),
        Err(response) => response,
    }
}

/// `GET /api/v2/buildinfo`: unauthenticated, as in coderd.
pub(crate) async fn buildinfo(State(shared): State<Arc<Shared>>) -> Response {
    Json(json!({
        "version": shared.config.version,
        "external_url": "https://github.com/coder/coder",
        "dashboard_url": shared.access(),
    }))
    .into_response()
}
