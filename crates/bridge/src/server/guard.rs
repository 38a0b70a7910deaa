//! Middleware in front of the local endpoint: DNS-rebinding protection
//! (Host and Origin allow-lists) and per-agent client tokens.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::client_tokens::ClientTokens;
use crate::error_code::ErrorCode;

/// JSON-RPC-style error code in the 401 body: no (or an unknown) client token.
pub const CLIENT_UNAUTHORIZED: i64 = -32010;

pub use crate::agent_id::AgentId;

/// Which `Host` and `Origin` values the daemon accepts: only its own
/// loopback authority, so a web page on another origin (or a rebinding DNS
/// name pointing at 127.0.0.1) cannot reach it.
#[derive(Debug, Clone)]
pub struct Allowed {
    hosts: Arc<[String]>,
    origins: Arc<[String]>,
}

impl Allowed {
    pub fn loopback(port: u16) -> Self {
        let hosts: Vec<String> = ["127.0.0.1", "localhost", "[::1]"]
            .iter()
            .map(|h| format!("{h}:{port}"))
            .collect();
        let origins = hosts.iter().map(|h| format!("http://{h}")).collect();
        Self {
            hosts: hosts.into(),
            origins,
        }
    }

    fn host_ok(&self, headers: &HeaderMap) -> bool {
        let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
            return false;
        };
        let host = host.trim().to_ascii_lowercase();
        self.hosts.contains(&host)
    }

    fn origin_ok(&self, headers: &HeaderMap) -> bool {
        match headers.get(header::ORIGIN) {
            // Non-browser clients send no Origin: fine, DNS rebinding needs a browser.
            None => true,
            Some(origin) => origin.to_str().is_ok_and(|o| {
                let o = o.trim().trim_end_matches('/').to_ascii_lowercase();
                self.origins.contains(&o)
            }),
        }
    }
}

/// A 403 in the control API's error shape (`{"error": {"code", "message"}}`),
/// which the UI branches on; MCP clients only look at the status.
/// The Content-Security-Policy of every web answer: no inline script or
/// style, nothing from elsewhere, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The headers every answer a browser may read carries. The guard's own
/// refusals carry them too: it runs outside the web routes' layers, and a
/// refusal is exactly what a hostile page gets to see.
pub fn insert_security_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

fn forbidden(code: ErrorCode, message: &str) -> Response {
    let mut response = (
        StatusCode::FORBIDDEN,
        axum::Json(json!({ "error": { "code": code, "message": message } })),
    )
        .into_response();
    insert_security_headers(response.headers_mut());
    response
}

/// 403 unless `Host` is our own loopback authority and `Origin` is absent or
/// ours. The one such check: it runs in front of every route the daemon
/// serves (MCP, `/healthz`, `/proof`, the control API and the UI).
pub async fn check_host_and_origin(
    State(allowed): State<Allowed>,
    request: Request,
    next: Next,
) -> Response {
    if !allowed.host_ok(request.headers()) {
        tracing::warn!("refused a request with an unexpected Host header");
        return forbidden(
            ErrorCode::ForbiddenHost,
            "unexpected Host header: Coder Bridge only answers on its loopback address",
        );
    }
    if !allowed.origin_ok(request.headers()) {
        tracing::warn!("refused a request from a foreign Origin");
        return forbidden(
            ErrorCode::ForbiddenOrigin,
            "requests from other web origins are not allowed",
        );
    }
    next.run(request).await
}

/// 401 unless the request carries a client token the bridge issued; the
/// agent it belongs to goes into the request's extensions.
///
/// The 401 deliberately has no `WWW-Authenticate` challenge: agents that see
/// one start their own OAuth flow against the bridge, which cannot succeed.
/// The body says how to fix the configuration instead.
pub async fn require_client_token(
    State(tokens): State<ClientTokens>,
    mut request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let agent = match presented {
        Some(token) if !token.is_empty() => tokens.verify(token),
        _ => None,
    };
    match agent {
        Some(agent) => {
            request.extensions_mut().insert(agent);
            next.run(request).await
        }
        None => {
            let reason = if presented.is_some() {
                "the client token is not valid (it may have been revoked)"
            } else {
                "no client token was sent"
            };
            tracing::info!("refused an MCP request: {reason}");
            let body = json!({
                "jsonrpc": "2.0",
                "id": null,
                "error": {
                    "code": CLIENT_UNAUTHORIZED,
                    "message": format!(
                        "Coder Bridge refused this request: {reason}. Each agent gets its own token; run `coder-bridge configure <agent>` (for example `coder-bridge configure cursor`) to write it into the agent's config, then restart the agent."
                    ),
                },
            });
            (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(host: Option<&str>, origin: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = host {
            h.insert(header::HOST, HeaderValue::from_str(v).unwrap());
        }
        if let Some(v) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn only_our_loopback_authority_passes() {
        let a = Allowed::loopback(7331);
        assert!(a.host_ok(&headers(Some("127.0.0.1:7331"), None)));
        assert!(a.host_ok(&headers(Some("LOCALHOST:7331"), None)));
        assert!(a.host_ok(&headers(Some("[::1]:7331"), None)));
        assert!(!a.host_ok(&headers(Some("127.0.0.1:7332"), None)));
        assert!(!a.host_ok(&headers(Some("evil.example:7331"), None)));
        assert!(!a.host_ok(&headers(Some("127.0.0.1"), None)));
        assert!(!a.host_ok(&headers(None, None)));
    }

    #[test]
    fn origin_absent_or_ours() {
        let a = Allowed::loopback(7331);
        assert!(a.origin_ok(&headers(None, None)));
        assert!(a.origin_ok(&headers(None, Some("http://localhost:7331"))));
        assert!(a.origin_ok(&headers(None, Some("http://127.0.0.1:7331/"))));
        assert!(!a.origin_ok(&headers(None, Some("http://evil.example"))));
        assert!(!a.origin_ok(&headers(None, Some("https://127.0.0.1:7331"))));
        assert!(!a.origin_ok(&headers(None, Some("null"))));
    }
}
