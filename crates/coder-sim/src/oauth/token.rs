//! `POST /oauth2/tokens` and `POST /oauth2/revoke`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, StatusCode, header};
use serde_json::json;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::{client_credentials, parse_form};
use crate::faults::{CounterCells, Revocation};
use crate::state::{Shared, oauth_error, same_resource};
use crate::store::{App, IssuedToken, RefreshError};

const CODE_PARAMS: &[&str] = &[
    "grant_type",
    "client_id",
    "client_secret",
    "code",
    "redirect_uri",
    "code_verifier",
    "resource",
];
const REFRESH_PARAMS: &[&str] = &[
    "grant_type",
    "client_id",
    "client_secret",
    "refresh_token",
    "resource",
];

fn bad(error: &str, description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, error, description)
}

/// Authenticates the client per its registered method.
#[allow(clippy::result_large_err)] // the error is the response itself
fn authenticate_client(
    shared: &Shared,
    headers: &HeaderMap,
    form: &BTreeMap<String, String>,
) -> Result<App, Response> {
    let invalid = |why: &str| {
        let mut response = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", why);
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Basic realm=\"coder\""),
        );
        response
    };
    let credentials = client_credentials(headers, form)?
        .ok_or_else(|| invalid("client authentication is required"))?;
    if let Some(body_id) = form.get("client_id")
        && *body_id != credentials.client_id
    {
        return Err(invalid("client_id does not match the authenticated client"));
    }
    let app = shared
        .store
        .app(&credentials.client_id)
        .ok_or_else(|| invalid("unknown client"))?;
    match (&credentials.client_secret, app.is_public()) {
        (_, true) => Ok(app),
        (Some(secret), false) if app.secret_matches(secret) => Ok(app),
        (Some(_), false) => Err(invalid("invalid client secret")),
        (None, false) => Err(invalid("client_secret is required for this client")),
    }
}

fn token_response(issued: IssuedToken) -> Response {
    let expires_in = (issued.expires_at - OffsetDateTime::now_utc())
        .whole_seconds()
        .max(0);
    let expiry = issued
        .expires_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let mut response = Json(json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "refresh_token": issued.refresh_token,
        "expires_in": expires_in,
        "expiry": expiry,
    }))
    .into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    response
}

fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    well_formed && URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
}

pub(super) async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form = match parse_form(&headers, &body) {
        Ok(form) => form,
        Err(response) => return response,
    };
    let grant = form.get("grant_type").cloned().unwrap_or_default();
    let allowed = match grant.as_str() {
        "authorization_code" => CODE_PARAMS,
        "refresh_token" => REFRESH_PARAMS,
        "" => return bad("invalid_request", "grant_type is required"),
        other => {
            return bad(
                "unsupported_grant_type",
                &format!("unsupported grant type {other:?}"),
            );
        }
    };
    if let Some(unknown) = form.keys().find(|k| !allowed.contains(&k.as_str())) {
        return bad("invalid_request", &format!("unknown parameter {unknown:?}"));
    }
    let app = match authenticate_client(&shared, &headers, &form) {
        Ok(app) => app,
        Err(response) => return response,
    };
    let lifetimes = (
        shared.config.access_token_lifetime,
        shared.config.refresh_token_lifetime,
    );
    if grant == "refresh_token" {
        let Some(refresh) = form.get("refresh_token") else {
            return bad("invalid_request", "refresh_token is required");
        };
        let consumed = shared.store.consume_refresh(
            refresh,
            &app.client_id,
            form.get("resource").map(String::as_str),
        );
        return match consumed {
            Ok((user_id, audience)) => {
                CounterCells::bump(&shared.counters.refreshes);
                token_response(shared.store.issue_token(
                    &app.client_id,
                    user_id,
                    audience,
                    lifetimes,
                    false,
                ))
            }
            Err(error) => {
                CounterCells::bump(&shared.counters.failed_refreshes);
                match error {
                    RefreshError::InvalidGrant => {
                        bad("invalid_grant", "The refresh token is invalid or expired.")
                    }
                    RefreshError::InvalidTarget => bad(
                        "invalid_target",
                        "resource does not match the original grant",
                    ),
                }
            }
        };
    }
    let (Some(code), Some(verifier)) = (form.get("code"), form.get("code_verifier")) else {
        return bad("invalid_request", "code and code_verifier are required");
    };
    let Some(grant) = shared.store.take_code(code) else {
        return bad(
            "invalid_grant",
            "The authorization code is invalid or expired.",
        );
    };
    if grant.app_id != app.client_id {
        return bad(
            "invalid_grant",
            "The authorization code was issued to another client.",
        );
    }
    if form
        .get("redirect_uri")
        .is_some_and(|r| *r != grant.redirect_uri)
    {
        return bad(
            "invalid_grant",
            "redirect_uri does not match the authorization request",
        );
    }
    if !pkce_matches(verifier, &grant.code_challenge) {
        return bad("invalid_grant", "PKCE verification failed");
    }
    if let Some(resource) = form.get("resource") {
        let matches = grant
            .resource
            .as_deref()
            .is_some_and(|r| same_resource(r, resource));
        if !matches {
            return bad(
                "invalid_target",
                "resource does not match the authorization request",
            );
        }
    }
    CounterCells::bump(&shared.counters.token_grants);
    token_response(shared.store.issue_token(
        &app.client_id,
        grant.user_id,
        grant.resource,
        lifetimes,
        true,
    ))
}

/// RFC 7009: always 200, whether or not the token was live.
pub(super) async fn revoke(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form = match parse_form(&headers, &body) {
        Ok(form) => form,
        Err(response) => return response,
    };
    let client_id = client_credentials(&headers, &form)
        .ok()
        .flatten()
        .map(|c| c.client_id)
        .unwrap_or_default();
    let revoked = form
        .get("token")
        .is_some_and(|token| shared.store.revoke(token, &client_id));
    shared.counters.revoked(Revocation {
        client_id,
        token_type_hint: form.get("token_type_hint").cloned(),
        revoked,
    });
    StatusCode::OK.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc7636_example() {
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(pkce_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cX"
        ));
        assert!(!pkce_matches("short", "x"));
    }
}
