//! The web room: the control API (`/api/*`), its live events (SSE), the
//! ticket exchange (`/auth`) and the embedded UI (`/`).
//!
//! It is the one door the UI, the tray and the CLI use; see
//! `docs/control-api.md` for the contract. Every request passes three checks
//! before any handler runs:
//! 1. `Host` is our loopback authority and `Origin`, when sent, is ours (DNS
//!    rebinding, cross-site pages): the daemon's own guard
//!    ([`crate::server::guard::check_host_and_origin`]), in front of every
//!    route it serves;
//! 2. state-changing requests carry `Content-Type: application/json` (a
//!    cross-site form cannot send it);
//! 3. the caller holds the control token or a dashboard session obtained
//!    with a one-time ticket, either sent as `Authorization: Bearer` (no
//!    cookie: one for 127.0.0.1 would reach every port of the host).
//!
//! Handlers only translate HTTP to calls on [`BridgeHandle`]; the rooms'
//! state is never touched from here. The routes are made on a running
//! handle ([`crate::app`]), so none of them ever waits for one.

mod api;
mod assets;
mod error;
mod sse;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub use crate::access::{
    Access, CONTROL_TOKEN_FILE, Caller, SESSION_COOKIE, SESSION_LIFETIME, TICKET_LIFETIME,
    create_control_token, read_control_token, ticket_url, write_control_token,
};
pub use error::ApiError;

use crate::supervisor::BridgeHandle;

pub use crate::server::guard::CONTENT_SECURITY_POLICY;

/// The control API, the ticket exchange and the UI on `handle`, for the
/// daemon to serve (behind its Host/Origin guard).
pub fn router(handle: BridgeHandle) -> Router {
    // Layers run outside-in: the caller is checked before the content type,
    // so an unauthenticated request learns nothing but 401.
    let api = api::routes()
        .layer(middleware::from_fn(require_json))
        .layer(middleware::from_fn_with_state(
            handle.clone(),
            require_caller,
        ));
    Router::new()
        .nest("/api", api)
        .route("/auth", get(api::redeem_ticket))
        .route("/auth/session", axum::routing::post(api::start_session))
        .fallback(get(assets::serve))
        .layer(middleware::from_fn(security_headers))
        .with_state(handle)
}

/// 415 for a state-changing request whose body is not declared JSON.
async fn require_json(request: Request, next: Next) -> Response {
    let changes = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if changes && !is_json(request.headers()) {
        return ApiError::UnsupportedMediaType.into_response();
    }
    next.run(request).await
}

/// `Content-Type: application/json` (a cross-site form cannot send it).
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// 401 unless the request carries the control token or a dashboard session.
/// The caller kind goes into the request's extensions (tickets need bearer).
async fn require_caller(
    State(handle): State<BridgeHandle>,
    mut request: Request,
    next: Next,
) -> Response {
    match handle.access().caller(request.headers()) {
        Some(caller) => {
            request.extensions_mut().insert(caller);
            let mut response = next.run(request).await;
            // Answers carry live state and sometimes a client token: never cache.
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        None => ApiError::Unauthorized.into_response(),
    }
}

/// Headers on every answer of this room: CSP, no sniffing, no referrer.
async fn security_headers(request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api") || request.uri().path().starts_with("/auth");
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    crate::server::guard::insert_security_headers(h);
    if api {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
