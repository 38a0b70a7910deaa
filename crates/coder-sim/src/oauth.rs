//! Coder's OAuth2 provider (coderd/oauth2provider): discovery, dynamic
//! registration, authorize with consent, token and revocation endpoints.

mod authorize;
mod cimd;
mod discovery;
mod register;
mod token;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::{HeaderMap, StatusCode, header};

pub(crate) use cimd::{DOCUMENT_PATH, Documents};

use crate::state::{Shared, oauth_error, route_not_found};

pub(crate) fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/.well-known/oauth-protected-resource",
            get(discovery::protected_resource),
        )
        .route(
            "/.well-known/oauth-protected-resource/{*rest}",
            get(discovery::protected_resource),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::authorization_server),
        )
        .route(
            "/.well-known/oauth-authorization-server/{*rest}",
            get(discovery::authorization_server),
        )
        .route("/oauth2/register", post(register::register))
        .route("/sim/client-metadata/{name}", get(cimd::serve))
        .route(
            "/oauth2/clients/{client_id}",
            get(register::read)
                .put(register::update)
                .delete(register::delete),
        )
        .route(
            "/oauth2/authorize",
            get(authorize::show).post(authorize::decide),
        )
        .route("/oauth2/tokens", post(token::token))
        .route("/oauth2/revoke", post(token::revoke))
        .route_layer(middleware::from_fn_with_state(shared, require_provider))
}

/// `CODER_OAUTH2_PROVIDER_ENABLE` off: every provider route is unknown.
async fn require_provider(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    if !shared.faults.provider_enabled() {
        return route_not_found();
    }
    next.run(request).await
}

/// Parses an `application/x-www-form-urlencoded` body. Repeated parameters
/// are refused, as Go's `r.PostForm` handling in coderd does for the fields
/// it reads.
#[allow(clippy::result_large_err)] // the error is the response itself
fn parse_form(headers: &HeaderMap, body: &[u8]) -> Result<BTreeMap<String, String>, Response> {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if !form_type {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the request body must be application/x-www-form-urlencoded",
        ));
    }
    let mut form = BTreeMap::new();
    for (key, value) in url::form_urlencoded::parse(body) {
        if form
            .insert(key.clone().into_owned(), value.into_owned())
            .is_some()
        {
            return Err(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("parameter {key:?} is repeated"),
            ));
        }
    }
    Ok(form)
}

/// Client credentials from `Authorization: Basic` (RFC 6749 §2.3.1: each
/// part form-urlencoded) or from the form body.
#[derive(Debug)]
struct ClientCredentials {
    client_id: String,
    client_secret: Option<String>,
}

#[allow(clippy::result_large_err)] // the error is the response itself
fn client_credentials(
    headers: &HeaderMap,
    form: &BTreeMap<String, String>,
) -> Result<Option<ClientCredentials>, Response> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, encoded)| encoded.trim().to_owned());
    if let Some(encoded) = basic {
        if form.contains_key("client_secret") {
            return Err(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "client credentials were sent both in the header and in the body",
            ));
        }
        let invalid = || {
            oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "malformed Basic authorization header",
            )
        };
        let decoded = BASE64.decode(encoded.as_bytes()).map_err(|_| invalid())?;
        let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
        let (id, secret) = decoded.split_once(':').ok_or_else(invalid)?;
        let unescape = |s: &str| {
            url::form_urlencoded::parse(format!("v={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        return Ok(Some(ClientCredentials {
            client_id: unescape(id),
            client_secret: Some(unescape(secret)).filter(|s| !s.is_empty()),
        }));
    }
    Ok(form.get("client_id").map(|id| ClientCredentials {
        client_id: id.clone(),
        client_secret: form.get("client_secret").cloned(),
    }))
}
