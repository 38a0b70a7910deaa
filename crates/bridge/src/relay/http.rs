//! The relay's HTTP client: rmcp's reqwest transport with the user's token
//! injected on every request.
//!
//! rmcp drives the streamable HTTP protocol (sessions, SSE, re-initialisation
//! after a 404); this wrapper only decides which credentials go out and how a
//! refused or unavailable request is retried. Whatever `auth_header` rmcp
//! hands us is ignored: the only credential that ever leaves is the one the
//! [`Credentials`] seam returns right now, so nothing an agent sent can leak
//! upstream and a refreshed token is picked up without reconnecting. That
//! token goes only where its session belongs (see [`bound`]), and no
//! request follows a redirect: a 307 would re-send the token and the tool's
//! arguments to wherever the upstream points.

mod bound;

use std::{borrow::Cow, collections::HashMap, sync::Arc, time::Duration};

use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use rmcp::{
    model::ClientJsonRpcMessage,
    transport::streamable_http_client::{
        SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
        StreamableHttpResponseLimits,
    },
};
use sse_stream::Sse;

use crate::{
    auth::{AuthError, Credentials, UpstreamSession},
    secret::Secret,
};
pub use bound::Audience;
use bound::{ClearedToken, clear};

/// How long to wait before retrying a request the upstream answered with 503.
const RETRY_503_DELAY: Duration = Duration::from_millis(150);

/// Why an upstream HTTP request failed, as far as the relay cares.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamHttpError {
    /// No usable token: the user has to sign in again.
    #[error(transparent)]
    SignIn(AuthError),
    /// The TCP/TLS connection could not be opened: the request never left.
    #[error("could not connect to Coder: {0}")]
    Connect(reqwest::Error),
    /// The request may have reached the upstream before the failure.
    #[error("the connection to Coder failed: {0}")]
    Transfer(reqwest::Error),
    /// The signed-in deployment is no longer the one this connection was
    /// opened to (the user signed in elsewhere): nothing was sent.
    #[error("the signed-in Coder deployment changed")]
    DeploymentChanged,
    /// The upstream answered with a redirect, which is never followed.
    #[error(
        "Coder answered with a redirect to {target}; Coder Bridge does not follow redirects, which would carry your token and the tool's arguments to another address. If the deployment moved, sign in to its new URL"
    )]
    Redirected { target: String },
    /// Anything else the reqwest transport reported.
    #[error("{0}")]
    Other(String),
}

impl UpstreamHttpError {
    pub fn code(&self) -> &'static str {
        match self {
            UpstreamHttpError::SignIn(_) => "sign_in_required",
            UpstreamHttpError::Connect(_) => "connect_failed",
            UpstreamHttpError::Transfer(_) => "transfer_failed",
            UpstreamHttpError::DeploymentChanged => "deployment_changed",
            UpstreamHttpError::Redirected { .. } => "redirect_refused",
            UpstreamHttpError::Other(_) => "upstream_http",
        }
    }
}

type HttpResult<T> = Result<T, StreamableHttpError<UpstreamHttpError>>;

/// The redirect policy of every client that sends a credential or a body:
/// follow none. The error names where the upstream pointed (its origin only:
/// a query may hold secrets).
pub fn no_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let target = attempt.url().origin().ascii_serialization();
        attempt.error(RedirectRefused { target })
    })
}

/// What [`no_redirects`] stops a request with.
#[derive(Debug, thiserror::Error)]
#[error("refused to follow a redirect to {target}")]
pub struct RedirectRefused {
    /// The origin the upstream pointed at.
    pub target: String,
}

/// Where a refused redirect pointed, from a reqwest error's chain.
fn redirect_target(error: &reqwest::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<RedirectRefused>() {
            return Some(refused.target.clone());
        }
        source = e.source();
    }
    None
}

/// A [`StreamableHttpClient`] that injects the current upstream token.
#[derive(Clone)]
pub struct InjectingClient {
    http: reqwest::Client,
    credentials: Arc<dyn Credentials>,
    /// Where this connection's tokens may go.
    audience: Audience,
}

impl std::fmt::Debug for InjectingClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InjectingClient").finish_non_exhaustive()
    }
}

impl InjectingClient {
    pub fn new(
        http: reqwest::Client,
        credentials: Arc<dyn Credentials>,
        audience: Audience,
    ) -> Self {
        Self {
            http,
            credentials,
            audience,
        }
    }

    async fn session(&self) -> HttpResult<UpstreamSession> {
        self.credentials
            .current()
            .await
            .map_err(|e| StreamableHttpError::Client(UpstreamHttpError::SignIn(e)))
    }

    /// `session`'s token, if `uri` is where it belongs: never one
    /// deployment's token to another deployment's URL.
    fn clear(&self, session: &UpstreamSession, uri: &str) -> HttpResult<ClearedToken> {
        clear(session, uri, self.audience).map_err(StreamableHttpError::Client)
    }

    /// After a 401 with `rejected`: a fresh session, or "sign in again".
    async fn renewed(&self, rejected: &Secret) -> HttpResult<UpstreamSession> {
        tracing::info!("Coder refused the token; renewing it once");
        self.credentials
            .after_unauthorized(rejected)
            .await
            .map_err(|e| StreamableHttpError::Client(UpstreamHttpError::SignIn(e)))
    }

    /// Runs `send` to `uri` with the current token; on 401 renews the token
    /// once and runs it again (a 401 means the upstream did not run the
    /// request); on 503 (the upstream says it did not process it) waits
    /// briefly and runs it once more. Every token, renewed or not, is
    /// cleared for `uri` right before it is sent.
    async fn with_token<T, F, Fut>(&self, uri: &str, send: F) -> HttpResult<T>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, StreamableHttpError<reqwest::Error>>>,
    {
        let mut session = self.session().await?;
        let mut renewed = false;
        let mut retried_503 = false;
        loop {
            let token = self.clear(&session, uri)?;
            match send(token.into_bearer()).await {
                Ok(value) => return Ok(value),
                Err(err) if is_unauthorized(&err) => {
                    if renewed {
                        return Err(StreamableHttpError::Client(UpstreamHttpError::SignIn(
                            AuthError::SessionExpired {
                                deployment: session.access_url.to_string(),
                            },
                        )));
                    }
                    session = self.renewed(&session.access_token).await?;
                    renewed = true;
                }
                Err(StreamableHttpError::HttpStatus(status))
                    if status.status == 503 && !retried_503 =>
                {
                    retried_503 = true;
                    tokio::time::sleep(super::backoff::jittered(RETRY_503_DELAY)).await;
                }
                Err(err) => return Err(convert(err)),
            }
        }
    }
}

/// A 401, whether or not the upstream sent a `WWW-Authenticate` challenge.
fn is_unauthorized(err: &StreamableHttpError<reqwest::Error>) -> bool {
    match err {
        StreamableHttpError::AuthRequired(_) => true,
        StreamableHttpError::UnexpectedServerResponse(body) => body.starts_with("HTTP 401"),
        StreamableHttpError::Client(e) => e.status() == Some(reqwest::StatusCode::UNAUTHORIZED),
        _ => false,
    }
}

/// Re-types an error of rmcp's reqwest client into ours, keeping the
/// distinction that matters: did the request leave this machine?
fn convert(err: StreamableHttpError<reqwest::Error>) -> StreamableHttpError<UpstreamHttpError> {
    use StreamableHttpError as E;
    match err {
        E::Client(e) if e.is_connect() => E::Client(UpstreamHttpError::Connect(e)),
        E::Client(e) if e.is_redirect() => E::Client(UpstreamHttpError::Redirected {
            target: redirect_target(&e).unwrap_or_else(|| "another address".into()),
        }),
        E::Client(e) => E::Client(UpstreamHttpError::Transfer(e)),
        E::Sse(e) => E::Sse(e),
        E::Io(e) => E::Io(e),
        E::HttpStatus(e) => E::HttpStatus(e),
        E::UnexpectedEndOfStream => E::UnexpectedEndOfStream,
        E::UnexpectedServerResponse(s) => E::UnexpectedServerResponse(s),
        E::ResponseBodyTooLarge { max_size } => E::ResponseBodyTooLarge { max_size },
        E::UnexpectedContentType(s) => E::UnexpectedContentType(s),
        E::ServerDoesNotSupportSse => E::ServerDoesNotSupportSse,
        E::ServerDoesNotSupportDeleteSession => E::ServerDoesNotSupportDeleteSession,
        E::TokioJoinError(e) => E::TokioJoinError(e),
        E::Deserialize(e) => E::Deserialize(e),
        E::TransportChannelClosed => E::TransportChannelClosed,
        E::MissingSessionIdInResponse => E::MissingSessionIdInResponse,
        E::AuthRequired(e) => E::AuthRequired(e),
        E::InsufficientScope(e) => E::InsufficientScope(e),
        E::ReservedHeaderConflict(s) => E::ReservedHeaderConflict(s),
        E::SessionExpired => E::SessionExpired,
        E::SessionRecoveryTimeout => E::SessionRecoveryTimeout,
        E::ReinitializationFailed(e) => E::ReinitializationFailed(e),
        E::ControlRequestTimeout => E::ControlRequestTimeout,
        other => E::Client(UpstreamHttpError::Other(other.to_string())),
    }
}

impl StreamableHttpClient for InjectingClient {
    type Error = UpstreamHttpError;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<StreamableHttpPostResponse> {
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            StreamableHttpResponseLimits::default(),
        )
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> HttpResult<StreamableHttpPostResponse> {
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            {
                let mut limits = StreamableHttpResponseLimits::default();
                limits.max_sse_event_size = max_sse_event_size;
                limits
            },
        )
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _ignored_auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> HttpResult<StreamableHttpPostResponse> {
        self.with_token(&uri, |token| {
            self.http.post_message_with_response_limits(
                uri.clone(),
                message.clone(),
                session_id.clone(),
                Some(token),
                custom_headers.clone(),
                limits,
            )
        })
        .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _ignored_auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<()> {
        self.with_token(&uri, |token| {
            self.http.delete_session(
                uri.clone(),
                session_id.clone(),
                Some(token),
                custom_headers.clone(),
            )
        })
        .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<BoxStream<'static, Result<Sse, SseError>>> {
        self.get_stream_with_max_sse_event_size(
            uri,
            session_id,
            last_event_id,
            auth_header,
            custom_headers,
            // rmcp's default; the transport passes its configured value below.
            8 * 1024 * 1024,
        )
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _ignored_auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> HttpResult<BoxStream<'static, Result<Sse, SseError>>> {
        self.with_token(&uri, |token| {
            self.http.get_stream_with_max_sse_event_size(
                uri.clone(),
                session_id.clone(),
                last_event_id.clone(),
                Some(token),
                custom_headers.clone(),
                max_sse_event_size,
            )
        })
        .await
    }
}

/// What an upstream failure means for a request, found by walking the error.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Only signing in again helps (or the auth room failed): its code and
    /// user-facing message.
    SignIn {
        code: crate::error_code::ErrorCode,
        message: String,
    },
    /// The request certainly did not run upstream; `retry_now` is false when
    /// rmcp-level retries were already spent (a second 503).
    NotSent { reason: String, retry_now: bool },
    /// The request may have reached the upstream.
    MaybeSent(String),
    /// The upstream refused the token for this resource (403).
    Forbidden(String),
    /// This connection belongs to another deployment: replace it and retry.
    Stale,
    /// The upstream answered with a redirect, which is not followed.
    Redirected(String),
    /// The MCP endpoint does not exist (404 without a session): the
    /// deployment has it switched off. Retrying will not help.
    NoEndpoint(String),
}

/// Classifies a transport error that rmcp handed back for one request.
pub(crate) fn classify_transport(
    error: &(dyn std::error::Error + Send + Sync + 'static),
) -> Failure {
    let Some(err) = error.downcast_ref::<StreamableHttpError<UpstreamHttpError>>() else {
        return Failure::MaybeSent(error.to_string());
    };
    use StreamableHttpError as E;
    match err {
        E::Client(UpstreamHttpError::SignIn(auth)) => Failure::SignIn {
            code: auth.code(),
            message: auth.to_string(),
        },
        E::Client(UpstreamHttpError::DeploymentChanged) => Failure::Stale,
        E::Client(e @ UpstreamHttpError::Redirected { .. }) => Failure::Redirected(e.to_string()),
        E::Client(UpstreamHttpError::Connect(e)) => Failure::NotSent {
            reason: format!("could not connect to Coder ({})", short(e)),
            retry_now: true,
        },
        E::HttpStatus(status) if status.status == 503 => Failure::NotSent {
            reason: "Coder answered 503 Service Unavailable".into(),
            retry_now: false,
        },
        // A 404 on a session id: the upstream did not know the session, so it
        // did not run the request (rmcp already tried to re-initialise).
        E::SessionExpired => Failure::NotSent {
            reason: "the Coder session expired and could not be re-established".into(),
            retry_now: true,
        },
        E::InsufficientScope(e) => Failure::Forbidden(e.www_authenticate_header.clone()),
        E::UnexpectedServerResponse(body) if body.starts_with("HTTP 403") => {
            Failure::Forbidden(body.to_string())
        }
        E::UnexpectedServerResponse(body) if body.starts_with("HTTP 404") => {
            Failure::NoEndpoint(body.to_string())
        }
        other => Failure::MaybeSent(other.to_string()),
    }
}

/// A reqwest error without the URL (which is fine) and without its chain noise.
fn short(e: &reqwest::Error) -> Cow<'static, str> {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut last = None;
    while let Some(s) = source {
        last = Some(s.to_string());
        source = s.source();
    }
    Cow::Owned(last.unwrap_or_else(|| e.to_string()))
}
