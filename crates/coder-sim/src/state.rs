//! The state every request handler shares, and the small helpers they all
//! need to answer in Coder's shapes.

use std::sync::Arc;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;
use url::Url;

use crate::config::SimConfig;
use crate::faults::{CounterCells, Faults};
use crate::store::Store;
use crate::world::World;

#[derive(Debug)]
pub(crate) struct Shared {
    pub store: Arc<Store>,
    pub world: Arc<World>,
    pub counters: Arc<CounterCells>,
    pub faults: Arc<Faults>,
    pub config: SimConfig,
    /// The access URL, `http://127.0.0.1:PORT/`.
    pub url: Url,
    /// Client metadata documents the simulator hosts (SEP-991 mode).
    pub documents: crate::oauth::Documents,
}

impl Shared {
    /// The access URL the way Coder prints it (`AccessURL.String()`): no
    /// trailing slash. Used for `issuer`, `resource` and `resource_metadata`.
    pub fn access(&self) -> String {
        self.url.as_str().trim_end_matches('/').to_owned()
    }

    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.access())
    }
}

/// Coder's generic "no such route" answer, also used when a feature is off.
pub(crate) fn route_not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"message": "Route not found."})),
    )
        .into_response()
}

/// An OAuth2 error body (RFC 6749 §5.2).
pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// Normalises a URL for audience comparison the way coderd does: scheme and
/// host lower-cased, default port dropped, trailing slash of the path dropped.
pub(crate) fn normalize_resource(text: &str) -> Option<String> {
    let url = Url::parse(text).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let path = url.path().trim_end_matches('/');
    Some(format!("{}://{host}{port}{path}", url.scheme()))
}

pub(crate) fn same_resource(a: &str, b: &str) -> bool {
    match (normalize_resource(a), normalize_resource(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_normalisation() {
        assert!(same_resource("http://127.0.0.1:80/", "HTTP://127.0.0.1"));
        assert!(same_resource(
            "http://127.0.0.1:3000",
            "http://127.0.0.1:3000/"
        ));
        assert!(!same_resource(
            "http://127.0.0.1:3000",
            "http://127.0.0.1:3000/api/experimental/mcp/http"
        ));
        assert!(!same_resource("not a url", "not a url"));
    }
}
