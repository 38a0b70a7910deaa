//! The `/api/*` handlers: HTTP in, [`BridgeHandle`] calls, JSON out.

use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::error::ApiError;
use super::sse;
use crate::access::{Caller, SESSION_COOKIE, SESSION_LIFETIME};
use crate::activity::RecentQuery;
use crate::auth::PreRegisteredClient;
use crate::consent::{ArgumentsDigest, ConsentAnswer, FaceClaim};
use crate::events::Outcome;
use crate::policy::Decision;
use crate::secret::Secret;
use crate::supervisor::{BridgeHandle, SignInRequest};

/// Most rows one `GET /api/activity` returns.
const MAX_ACTIVITY_LIMIT: usize = 1000;

type ApiResult = Result<Response, ApiError>;

pub(super) fn routes() -> Router<BridgeHandle> {
    Router::new()
        .route("/status", get(status))
        .route("/signin", post(sign_in))
        .route("/signin/{id}", get(sign_in_state))
        .route("/signout", post(sign_out))
        .route("/pause", post(pause))
        .route("/agents", get(agents))
        .route(
            "/agents/{name}/entry",
            get(agent_entry).post(mint_agent_entry),
        )
        .route("/agents/{name}/configure", post(configure))
        .route("/agents/{name}/unconfigure", post(unconfigure))
        .route("/policy", get(policy).put(set_policy))
        .route("/consent", get(consent))
        .route("/consent/{id}", post(answer_consent))
        .route("/activity", get(activity))
        .route("/activity/stats", get(activity_stats))
        .route("/tickets", post(ticket))
        .route("/events", get(sse::events))
        .fallback(not_found)
}

fn ok<T: serde::Serialize>(value: T) -> ApiResult {
    Ok(Json(value).into_response())
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such control API endpoint".into())
}

async fn status(State(h): State<BridgeHandle>) -> ApiResult {
    ok(h.status().await)
}

#[derive(Debug, Deserialize)]
struct SignInBody {
    #[serde(default)]
    deployment_url: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<Secret>,
    #[serde(default)]
    session_token: Option<Secret>,
    #[serde(default)]
    demo: bool,
}

async fn sign_in(
    State(h): State<BridgeHandle>,
    body: Result<Json<SignInBody>, JsonRejection>,
) -> ApiResult {
    let Json(body) = body?;
    let request = if body.demo {
        SignInRequest::Demo
    } else {
        let deployment_url = body
            .deployment_url
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| ApiError::InvalidRequest("deployment_url is required".into()))?;
        match body.session_token.filter(|t| !t.is_empty()) {
            Some(token) => SignInRequest::SessionToken {
                deployment_url,
                token,
            },
            None => SignInRequest::OAuth {
                deployment_url,
                client: body
                    .client_id
                    .filter(|c| !c.trim().is_empty())
                    .map(|client_id| PreRegisteredClient {
                        client_id,
                        client_secret: body.client_secret.filter(|s| !s.is_empty()),
                    }),
            },
        }
    };
    ok(h.sign_in(request).await?)
}

async fn sign_in_state(State(h): State<BridgeHandle>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    match h.sign_in_state(id) {
        Some(view) => ok(view),
        None => Err(ApiError::NotFound(format!("no sign-in attempt {id}"))),
    }
}

async fn sign_out(State(h): State<BridgeHandle>) -> ApiResult {
    h.sign_out().await?;
    ok(json!({}))
}

#[derive(Debug, serde::Deserialize)]
struct PauseBody {
    paused: bool,
}

/// `POST /api/pause {paused}`: the tray's "Pause relay"; answers the new status.
async fn pause(
    State(h): State<BridgeHandle>,
    body: Result<Json<PauseBody>, JsonRejection>,
) -> ApiResult {
    let Json(body) = body?;
    ok(h.set_paused(body.paused).await)
}

async fn agents(State(h): State<BridgeHandle>) -> ApiResult {
    ok(h.agents().await?)
}

/// `GET`: the entry with the agent's existing token, if any; changes nothing.
async fn agent_entry(State(h): State<BridgeHandle>, Path(name): Path<String>) -> ApiResult {
    ok(h.agent_entry(&name, false).await?)
}

/// `POST`: the entry, issuing the agent a client token first if it has none.
async fn mint_agent_entry(State(h): State<BridgeHandle>, Path(name): Path<String>) -> ApiResult {
    ok(h.agent_entry(&name, true).await?)
}

#[derive(Debug, Default, Deserialize)]
struct ConfigureBody {
    #[serde(default)]
    dry_run: bool,
}

async fn configure(
    State(h): State<BridgeHandle>,
    Path(name): Path<String>,
    body: Result<Json<ConfigureBody>, JsonRejection>,
) -> ApiResult {
    let Json(body) = body?;
    ok(h.configure(&name, body.dry_run).await?)
}

async fn unconfigure(State(h): State<BridgeHandle>, Path(name): Path<String>) -> ApiResult {
    ok(h.unconfigure(&name).await?)
}

async fn policy(State(h): State<BridgeHandle>) -> ApiResult {
    ok(h.policy().await)
}

#[derive(Debug, Deserialize)]
struct PolicyBody {
    tool: String,
    #[serde(default)]
    agent: Option<String>,
    #[serde(default)]
    decision: Option<Decision>,
    /// What a control-token caller says it is (recorded as claimed).
    #[serde(default)]
    by: Option<FaceClaim>,
}

async fn set_policy(
    State(h): State<BridgeHandle>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<PolicyBody>, JsonRejection>,
) -> ApiResult {
    let Json(body) = body?;
    let by = caller.answered_by(body.by);
    let agent = body.agent.as_deref().filter(|a| *a != "*");
    if let Some(agent) = agent {
        crate::clients::agent(agent).map_err(|e| ApiError::Bridge(e.into()))?;
    }
    ok(h.set_policy(&body.tool, agent, body.decision, by).await?)
}

async fn consent(State(h): State<BridgeHandle>) -> ApiResult {
    ok(h.consent_pending())
}

#[derive(Debug, Deserialize)]
struct AnswerBody {
    answer: ConsentAnswer,
    /// The digest of the arguments the user looked at; the answer is
    /// refused if the waiting request's differs.
    #[serde(default)]
    digest: Option<String>,
    /// What a control-token caller says it is (recorded as claimed).
    #[serde(default)]
    by: Option<FaceClaim>,
}

async fn answer_consent(
    State(h): State<BridgeHandle>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Result<Json<AnswerBody>, JsonRejection>,
) -> ApiResult {
    let id = parse_id(&id)?;
    let Json(body) = body?;
    let seen = match body.digest.as_deref() {
        Some(text) => Some(ArgumentsDigest::parse(text).ok_or_else(|| {
            ApiError::InvalidRequest("digest must be 64 hexadecimal characters".into())
        })?),
        None => None,
    };
    let by = caller.answered_by(body.by);
    h.answer_consent(id, body.answer, by, seen.as_ref()).await?;
    ok(json!({}))
}

#[derive(Debug, Deserialize)]
struct ActivityParams {
    limit: Option<usize>,
    agent: Option<String>,
    tool: Option<String>,
    outcome: Option<Outcome>,
    before: Option<i64>,
}

async fn activity(
    State(h): State<BridgeHandle>,
    params: Result<Query<ActivityParams>, QueryRejection>,
) -> ApiResult {
    let Query(p) = params?;
    let query = RecentQuery {
        limit: p.limit.unwrap_or(100).clamp(1, MAX_ACTIVITY_LIMIT),
        agent: p.agent.filter(|s| !s.is_empty()),
        tool: p.tool.filter(|s| !s.is_empty()),
        outcome: p.outcome,
        before: p.before,
    };
    ok(h.activity(query).await?)
}

#[derive(Debug, Deserialize)]
struct StatsParams {
    window_secs: Option<u64>,
}

async fn activity_stats(
    State(h): State<BridgeHandle>,
    params: Result<Query<StatsParams>, QueryRejection>,
) -> ApiResult {
    let Query(p) = params?;
    let window = Duration::from_secs(p.window_secs.unwrap_or(3600).max(1));
    ok(h.activity_stats(window).await?)
}

/// `POST /api/tickets`: only a bearer holder may mint browser sessions, so
/// a browser session cannot extend itself forever.
async fn ticket(State(h): State<BridgeHandle>, Extension(caller): Extension<Caller>) -> ApiResult {
    if caller != Caller::Bearer {
        return Err(ApiError::BearerOnly);
    }
    let ticket = h.access().issue_ticket();
    let url = crate::access::ticket_url(h.local_addr(), &ticket);
    ok(json!({ "ticket": ticket.expose(), "url": url }))
}

/// `GET /auth?ticket=…`: the link the tray and `coder-bridge open` hand
/// out. A live ticket is sent on to the page in the URL fragment (which no
/// request carries), where the page spends it with `POST /auth/session`; a
/// spent or unknown one gets the "link expired" page. Any session cookie an
/// older version set is expired.
pub(super) async fn redeem_ticket(
    State(h): State<BridgeHandle>,
    Query(params): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let ticket = params
        .get("ticket")
        .filter(|t| h.access().is_ticket(t) && is_url_safe(t));
    match ticket {
        Some(ticket) => {
            let mut response = (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, format!("/#ticket={ticket}"))],
            )
                .into_response();
            let expire = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
            if let Ok(v) = HeaderValue::from_str(&expire) {
                response.headers_mut().insert(header::SET_COOKIE, v);
            }
            response
        }
        None => (
            StatusCode::UNAUTHORIZED,
            Html(
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
                 <title>Link expired — Coder Bridge</title></head><body><main>\
                 <h1>This sign-in link has expired</h1>\
                 <p>Links to the Coder Bridge UI work once, for one minute. \
                 Get a new one from the tray menu, or run <code>coder-bridge open</code>.</p>\
                 </main></body></html>",
            ),
        )
            .into_response(),
    }
}

/// Tickets are URL-safe base64: nothing in one can break out of the fragment.
fn is_url_safe(ticket: &str) -> bool {
    ticket
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[derive(Debug, Deserialize)]
pub(super) struct SessionBody {
    ticket: String,
}

/// `POST /auth/session {ticket}`: spends the ticket for a dashboard session,
/// answered in the body (`{session, expires_in_secs}`), never as a cookie.
/// The page keeps it in `sessionStorage` and sends it as a bearer token.
pub(super) async fn start_session(
    State(h): State<BridgeHandle>,
    headers: axum::http::HeaderMap,
    body: Result<Json<SessionBody>, JsonRejection>,
) -> ApiResult {
    if !super::is_json(&headers) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let Json(body) = body?;
    let session = h
        .access()
        .redeem_ticket(&body.ticket)
        .ok_or(ApiError::Unauthorized)?;
    ok(json!({
        "session": session.expose(),
        "expires_in_secs": SESSION_LIFETIME.as_secs(),
    }))
}

fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::NotFound(format!("no request {id:?}")))
}
