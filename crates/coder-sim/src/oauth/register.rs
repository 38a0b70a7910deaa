//! Dynamic client registration (RFC 7591) and client management (RFC 7592).
//! Both are off unless DCR is enabled; then they behave like coderd's.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::faults::CounterCells;
use crate::state::{Shared, oauth_error, route_not_found};
use crate::store::{App, AppRequest};

/// RFC 7591 client metadata; unknown members are ignored as the RFC says.
#[derive(Debug, Deserialize)]
pub(super) struct Metadata {
    #[serde(default)]
    redirect_uris: Vec<String>,
    client_name: Option<String>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    scope: Option<String>,
}

#[allow(clippy::result_large_err)] // the error is the response itself
fn validate(metadata: Metadata, public_clients: bool) -> Result<AppRequest, Response> {
    let invalid = |error: &str, description: String| {
        oauth_error(StatusCode::BAD_REQUEST, error, &description)
    };
    if metadata.redirect_uris.is_empty() {
        return Err(invalid(
            "invalid_redirect_uri",
            "redirect_uris is required".into(),
        ));
    }
    for uri in &metadata.redirect_uris {
        let parsed = url::Url::parse(uri)
            .map_err(|e| invalid("invalid_redirect_uri", format!("{uri:?}: {e}")))?;
        if parsed.fragment().is_some() {
            return Err(invalid(
                "invalid_redirect_uri",
                format!("{uri:?} has a fragment"),
            ));
        }
    }
    let mut auth_method = metadata
        .token_endpoint_auth_method
        .unwrap_or_else(|| "client_secret_basic".into());
    if auth_method == "none" && !public_clients {
        // Older coderd always issued a secret, whatever the client asked for.
        auth_method = "client_secret_basic".into();
    }
    if !["client_secret_basic", "client_secret_post", "none"].contains(&auth_method.as_str()) {
        return Err(invalid(
            "invalid_client_metadata",
            format!("unsupported token_endpoint_auth_method {auth_method:?}"),
        ));
    }
    let grant_types = metadata
        .grant_types
        .unwrap_or_else(|| vec!["authorization_code".into(), "refresh_token".into()]);
    if let Some(bad) = grant_types
        .iter()
        .find(|g| !["authorization_code", "refresh_token"].contains(&g.as_str()))
    {
        return Err(invalid(
            "invalid_client_metadata",
            format!("unsupported grant type {bad:?}"),
        ));
    }
    let response_types = metadata
        .response_types
        .unwrap_or_else(|| vec!["code".into()]);
    if response_types.iter().any(|r| r != "code") {
        return Err(invalid(
            "invalid_client_metadata",
            "only response type \"code\" is supported".into(),
        ));
    }
    Ok(AppRequest {
        name: metadata
            .client_name
            .unwrap_or_else(|| "Unnamed client".into()),
        redirect_uris: metadata.redirect_uris,
        auth_method,
        grant_types,
        response_types,
        scope: metadata.scope,
    })
}

fn describe(shared: &Shared, app: &App) -> Value {
    let mut body = json!({
        "client_id": app.client_id,
        "client_id_issued_at": app.issued_at,
        "client_name": app.name,
        "redirect_uris": app.redirect_uris,
        "token_endpoint_auth_method": app.auth_method,
        "grant_types": app.grant_types,
        "response_types": app.response_types,
        "registration_client_uri": shared.endpoint(&format!("/oauth2/clients/{}", app.client_id)),
    });
    if let (Some(scope), Some(object)) = (&app.scope, body.as_object_mut()) {
        object.insert("scope".into(), json!(scope));
    }
    body
}

pub(super) async fn register(
    State(shared): State<Arc<Shared>>,
    body: axum::body::Bytes,
) -> Response {
    if !shared.faults.dcr_enabled() {
        return route_not_found();
    }
    let metadata: Metadata = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_client_metadata",
                &e.to_string(),
            );
        }
    };
    let request = match validate(metadata, shared.config.public_clients) {
        Ok(r) => r,
        Err(response) => return response,
    };
    let created = shared.store.create_app(request, true);
    CounterCells::bump(&shared.counters.registrations);
    let mut body = describe(&shared, &created.app);
    if let Some(object) = body.as_object_mut() {
        if let Some(secret) = created.client_secret {
            object.insert("client_secret".into(), json!(secret));
            object.insert("client_secret_expires_at".into(), json!(0));
        }
        object.insert(
            "registration_access_token".into(),
            json!(created.registration_access_token),
        );
    }
    (StatusCode::CREATED, Json(body)).into_response()
}

/// RFC 7592 access: the registration access token as a Bearer token.
#[allow(clippy::result_large_err)] // the error is the response itself
fn authorize_management(
    shared: &Shared,
    headers: &HeaderMap,
    client_id: &str,
) -> Result<App, Response> {
    if !shared.faults.dcr_enabled() {
        return Err(route_not_found());
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_owned());
    let denied = || {
        oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "invalid registration access token",
        )
    };
    let token = token.ok_or_else(denied)?;
    let app = shared.store.app(client_id).ok_or_else(denied)?;
    if !app.registration_token_matches(&token) {
        return Err(denied());
    }
    Ok(app)
}

pub(super) async fn read(
    State(shared): State<Arc<Shared>>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match authorize_management(&shared, &headers, &client_id) {
        Ok(app) => Json(describe(&shared, &app)).into_response(),
        Err(response) => response,
    }
}

pub(super) async fn update(
    State(shared): State<Arc<Shared>>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let app = match authorize_management(&shared, &headers, &client_id) {
        Ok(app) => app,
        Err(response) => return response,
    };
    let metadata: Metadata = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_client_metadata",
                &e.to_string(),
            );
        }
    };
    let request = match validate(metadata, shared.config.public_clients) {
        Ok(r) => r,
        Err(response) => return response,
    };
    if request.auth_method != app.auth_method {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            "token_endpoint_auth_method cannot be changed",
        );
    }
    match shared.store.update_app(&client_id, request) {
        Some(app) => Json(describe(&shared, &app)).into_response(),
        None => route_not_found(),
    }
}

pub(super) async fn delete(
    State(shared): State<Arc<Shared>>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match authorize_management(&shared, &headers, &client_id) {
        Ok(_) => {
            shared.store.delete_app(&client_id);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(response) => response,
    }
}
