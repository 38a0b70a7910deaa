//! Coder's API-key check (coderd/httpmw/apikey.go): where a token may come
//! from, and the exact 401/403 answers a client must cope with.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use serde_json::json;

use crate::state::{Shared, same_resource};
use crate::store::{AuthFailure, Caller};

pub(crate) const SESSION_COOKIE: &str = "coder_session_token";
pub(crate) const SESSION_HEADER: &str = "Coder-Session-Token";
const SIGNED_OUT: &str =
    "You are signed out or your session has expired. Please sign in again to continue.";

/// The token a request carries, in coderd's order of precedence: cookie,
/// query parameter, `Coder-Session-Token` header, `Authorization: Bearer`.
pub(crate) fn token_from_request(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    let from_cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned());
    let from_query = || {
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .find(|(k, _)| k == SESSION_COOKIE)
            .map(|(_, v)| v.into_owned())
    };
    let from_header = || {
        headers
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let from_bearer = || {
        let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned())
    };
    from_cookie
        .or_else(from_query)
        .or_else(from_header)
        .or_else(from_bearer)
        .filter(|t| !t.is_empty())
}

/// Authenticates a request or produces Coder's error response.
#[allow(clippy::result_large_err)] // the error is the response itself
pub(crate) fn authenticate(
    shared: &Shared,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<Caller, Response> {
    let Some(token) = token_from_request(headers, uri) else {
        return Err(unauthorized(
            shared,
            &format!("Cookie \"{SESSION_COOKIE}\" or query parameter must be provided."),
        ));
    };
    let caller = shared.store.authenticate(&token).map_err(|failure| {
        let detail = match failure {
            AuthFailure::Invalid(detail) => detail,
            AuthFailure::Expired => "API key expired.",
        };
        unauthorized(shared, detail)
    })?;
    if let Some(audience) = &caller.audience
        && !same_resource(audience, &shared.access())
    {
        return Err(forbidden_audience(shared, audience));
    }
    Ok(caller)
}

fn challenge(shared: &Shared, error: &str, description: &str) -> HeaderValue {
    let value = format!(
        "Bearer realm=\"coder\", error=\"{error}\", error_description=\"{description}\", resource_metadata=\"{}\"",
        shared.endpoint("/.well-known/oauth-protected-resource")
    );
    HeaderValue::from_str(&value)
        .unwrap_or_else(|_| HeaderValue::from_static("Bearer realm=\"coder\""))
}

pub(crate) fn unauthorized(shared: &Shared, detail: &str) -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        Json(json!({"message": SIGNED_OUT, "detail": detail})),
    )
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        challenge(shared, "invalid_token", SIGNED_OUT),
    );
    response
}

fn forbidden_audience(shared: &Shared, audience: &str) -> Response {
    const MESSAGE: &str = "Token audience validation failed";
    let mut response = (
        StatusCode::FORBIDDEN,
        Json(json!({
            "message": MESSAGE,
            "detail": format!("The token was issued for {audience:?}, not for {:?}.", shared.access()),
        })),
    )
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        challenge(shared, "insufficient_scope", MESSAGE),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_sources_in_coder_order() {
        let uri: Uri = "/x?coder_session_token=q".parse().expect("uri");
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("bEaReR b"));
        assert_eq!(
            token_from_request(&headers, &"/x".parse().expect("uri")).as_deref(),
            Some("b")
        );
        headers.insert(SESSION_HEADER, HeaderValue::from_static("h"));
        assert_eq!(
            token_from_request(&headers, &"/x".parse().expect("uri")).as_deref(),
            Some("h")
        );
        assert_eq!(token_from_request(&headers, &uri).as_deref(), Some("q"));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; coder_session_token=c"),
        );
        assert_eq!(token_from_request(&headers, &uri).as_deref(), Some("c"));
    }
}
