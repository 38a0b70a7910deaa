//! `GET/POST /oauth2/authorize`: Coder's parameter set and nothing else,
//! PKCE S256 only, redirect matching in both of Coder's modes, and a real
//! consent page (the demo user counts as logged in to the browser).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::{Html, IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use url::Url;

use crate::config::RedirectMode;
use crate::faults::CounterCells;
use crate::state::Shared;
use crate::store::{App, CodeGrantRequest, random_alnum};

const ALLOWED: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "resource",
    "code_challenge",
    "code_challenge_method",
];
const CSRF_COOKIE: &str = "coder_oauth2_csrf";

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn error_page(message: &str) -> Response {
    let body = format!(
        "<!doctype html><html><head><title>Coder - OAuth2 error</title></head>\
         <body><h1>Invalid authorization request</h1><p id=\"error\">{}</p></body></html>",
        escape(message)
    );
    (StatusCode::BAD_REQUEST, Html(body)).into_response()
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Whether `requested` may be used as the callback for `app`.
pub(crate) fn redirect_allowed(mode: RedirectMode, app: &App, requested: &str) -> bool {
    let Ok(req) = Url::parse(requested) else {
        return false;
    };
    match mode {
        RedirectMode::Legacy => {
            // Older coderd: only the first registered URI is consulted.
            let Some(Ok(reg)) = app.redirect_uris.first().map(|u| Url::parse(u)) else {
                return false;
            };
            reg.scheme() == req.scheme()
                && reg.host() == req.host()
                && reg.port_or_known_default() == req.port_or_known_default()
                && req.path().starts_with(reg.path())
        }
        RedirectMode::LoopbackAnyPort => app.redirect_uris.iter().any(|registered| {
            if registered == requested {
                return true;
            }
            let Ok(reg) = Url::parse(registered) else {
                return false;
            };
            reg.scheme() == "http"
                && req.scheme() == "http"
                && is_loopback(&reg)
                && reg.host() == req.host()
                && reg.path() == req.path()
                && reg.query() == req.query()
        }),
    }
}

fn with_params(redirect: &str, params: &[(&str, &str)]) -> String {
    match Url::parse(redirect) {
        Ok(mut url) => {
            {
                let mut query = url.query_pairs_mut();
                for (k, v) in params.iter().filter(|(_, v)| !v.is_empty()) {
                    query.append_pair(k, v);
                }
            }
            url.to_string()
        }
        Err(_) => redirect.to_owned(),
    }
}

/// A request that passed validation: the app, where to send the user back,
/// and the parameters the code will be bound to.
struct Validated {
    app: App,
    redirect_uri: String,
    params: BTreeMap<String, String>,
}

/// Validates the parameters. Problems found before the callback is trusted
/// render an error page; later ones go back to the callback (RFC 6749 §4.1.2.1).
#[allow(clippy::result_large_err)] // the error is the response itself
fn validate(shared: &Shared, pairs: Vec<(String, String)>) -> Result<Validated, Response> {
    let mut params = BTreeMap::new();
    for (key, value) in pairs {
        if !ALLOWED.contains(&key.as_str()) {
            return Err(error_page(&format!("Unknown parameter {key:?}.")));
        }
        if params.insert(key.clone(), value).is_some() {
            return Err(error_page(&format!("Parameter {key:?} is repeated.")));
        }
    }
    let client_id = params
        .get("client_id")
        .ok_or_else(|| error_page("Missing client_id."))?;
    let app = match (
        shared.store.app(client_id),
        super::cimd::resolve(shared, client_id),
    ) {
        // A document is read again on every authorization, as a real
        // server re-fetches (and honours changes to) it.
        (_, Some(resolved)) => resolved.map_err(|why| error_page(&why))?,
        (Some(app), None) => app,
        (None, None) => return Err(error_page("Unknown client_id.")),
    };
    let redirect_uri = match params.get("redirect_uri") {
        Some(uri) if redirect_allowed(shared.config.redirect_mode, &app, uri) => uri.clone(),
        Some(_) => {
            return Err(error_page(
                "Invalid redirect_uri: it does not match the app's callback URL.",
            ));
        }
        None => app
            .redirect_uris
            .first()
            .cloned()
            .ok_or_else(|| error_page("The app has no callback URL."))?,
    };
    let state = params.get("state").cloned().unwrap_or_default();
    let back = |error: &str, description: &str| -> Response {
        found(&with_params(
            &redirect_uri,
            &[
                ("error", error),
                ("error_description", description),
                ("state", &state),
            ],
        ))
    };
    if params.get("response_type").map(String::as_str) != Some("code") {
        return Err(back(
            "unsupported_response_type",
            "response_type must be \"code\"",
        ));
    }
    let challenge = params
        .get("code_challenge")
        .map(String::as_str)
        .unwrap_or_default();
    if !(43..=128).contains(&challenge.len()) {
        return Err(back(
            "invalid_request",
            "code_challenge is required and must be 43-128 characters",
        ));
    }
    if params.get("code_challenge_method").map(String::as_str) != Some("S256") {
        return Err(back(
            "invalid_request",
            "code_challenge_method must be S256",
        ));
    }
    if let Some(resource) = params.get("resource")
        && Url::parse(resource).map_or(true, |u| u.fragment().is_some())
    {
        return Err(back(
            "invalid_target",
            "resource must be an absolute URI without a fragment",
        ));
    }
    Ok(Validated {
        app,
        redirect_uri,
        params,
    })
}

fn approve(shared: &Shared, v: &Validated) -> Response {
    let code = shared.store.issue_code(CodeGrantRequest {
        app_id: v.app.client_id.clone(),
        user_id: shared.store.demo_user().id,
        redirect_uri: v.redirect_uri.clone(),
        code_challenge: v.params.get("code_challenge").cloned().unwrap_or_default(),
        resource: v.params.get("resource").cloned(),
    });
    CounterCells::bump(&shared.counters.authorizations);
    let state = v
        .params
        .get("state")
        .map(String::as_str)
        .unwrap_or_default();
    let iss = response_iss(shared);
    found(&with_params(
        &v.redirect_uri,
        &[("code", &code), ("state", state), ("iss", &iss)],
    ))
}

/// RFC 9207 `iss` for an authorization response: the issuer when the
/// option is on, a tampered value when a test set one, else nothing (an
/// empty value is left out of the redirect).
fn response_iss(shared: &Shared) -> String {
    match shared.faults.tampering().callback_iss {
        Some(iss) => iss,
        None if shared.config.iss_parameter => shared.access(),
        None => String::new(),
    }
}

/// A 302 Found to `location`, as coderd answers (axum's helpers use 303/307).
fn found(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::FOUND, [(header::LOCATION, value)]).into_response(),
        Err(_) => error_page("The callback URL cannot be used in a redirect."),
    }
}

fn pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

pub(super) async fn show(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let validated = match validate(&shared, pairs(query.as_deref().unwrap_or(""))) {
        Ok(v) => v,
        Err(response) => return response,
    };
    if shared.config.auto_approve {
        return approve(&shared, &validated);
    }
    let csrf = random_alnum(32);
    shared
        .store
        .put_consent(&csrf, validated.params.clone().into_iter().collect());
    let user = shared.store.demo_user();
    let page = format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Coder - Authorize {app}</title></head>
<body>
<h1>Authorize {app}</h1>
<p>Signed in as <strong>{user}</strong>.</p>
<p><strong>{app}</strong> wants to access your Coder account.</p>
<form method="POST" action="/oauth2/authorize?{query}">
<input type="hidden" name="csrf_token" value="{csrf}">
<button type="submit" name="action" value="allow" id="allow">Allow</button>
<button type="submit" name="action" value="cancel" id="cancel">Cancel</button>
</form>
</body></html>"#,
        app = escape(&validated.app.name),
        user = escape(&user.username),
        query = escape(query.as_deref().unwrap_or("")),
    );
    let mut response = Html(page).into_response();
    if let Ok(cookie) = HeaderValue::from_str(&format!(
        "{CSRF_COOKIE}={csrf}; Path=/oauth2; HttpOnly; SameSite=Lax"
    )) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// The consent form's POST: double-submit CSRF check (cookie and field must
/// agree and name a pending request), then Allow or Cancel.
pub(super) async fn decide(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let csrf = form.get("csrf_token").cloned().unwrap_or_default();
    let cookie_ok = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| name == CSRF_COOKIE && value == csrf);
    let pending = if cookie_ok {
        shared.store.take_consent(&csrf)
    } else {
        None
    };
    let Some(params) = pending else {
        return (
            StatusCode::FORBIDDEN,
            Html("<p>Invalid or expired CSRF token.</p>"),
        )
            .into_response();
    };
    let validated = match validate(&shared, params) {
        Ok(v) => v,
        Err(response) => return response,
    };
    if form.get("action").map(String::as_str) == Some("allow") {
        return approve(&shared, &validated);
    }
    let state = validated
        .params
        .get("state")
        .map(String::as_str)
        .unwrap_or_default();
    let iss = response_iss(&shared);
    found(&with_params(
        &validated.redirect_uri,
        &[
            ("error", "access_denied"),
            ("error_description", "The user denied access."),
            ("state", state),
            ("iss", &iss),
        ],
    ))
}
