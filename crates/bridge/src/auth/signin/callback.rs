//! The loopback listener that receives the browser's redirect.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::Html;
use reqwest::StatusCode;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::auth::AuthError;
use crate::secret::Secret;

const CALLBACK_PATH: &str = "/callback";

/// What the browser brought back.
#[derive(Debug)]
pub(super) enum Callback {
    Code(Secret),
    Error {
        error: String,
        description: Option<String>,
    },
    /// RFC 9207: the answer names another issuer than the one we sent the
    /// user to, or none where the server promised one (`None`): a mix-up.
    WrongIssuer(Option<String>),
}

/// What the callback checks `iss` against (RFC 9207).
#[derive(Debug, Clone)]
pub(super) struct ExpectedIssuer {
    /// The authorization server's `issuer`, exactly as its metadata says.
    pub(super) issuer: String,
    /// The server advertises `authorization_response_iss_parameter_supported`:
    /// an answer without `iss` is refused.
    pub(super) required: bool,
}

impl ExpectedIssuer {
    /// Compared as RFC 9207 §2.4 asks: simple string comparison. An `iss`
    /// is checked whenever present, advertised or not.
    fn accepts(&self, iss: Option<&String>) -> bool {
        match iss {
            Some(iss) => *iss == self.issuer,
            None => !self.required,
        }
    }
}

pub(super) fn loopback_redirect(port: u16) -> Result<Url, AuthError> {
    Url::parse(&format!("http://127.0.0.1:{port}{CALLBACK_PATH}"))
        .map_err(|e| AuthError::Callback(e.to_string()))
}

pub(super) fn local_port(listener: &TcpListener) -> Result<u16, AuthError> {
    Ok(listener
        .local_addr()
        .map_err(|e| AuthError::Callback(e.to_string()))?
        .port())
}

/// Binds 127.0.0.1 on `preferred` when given; when that port is taken and
/// `exact` is false, any free port.
pub(super) async fn bind_callback(
    preferred: Option<u16>,
    exact: bool,
) -> Result<TcpListener, AuthError> {
    if let Some(port) = preferred {
        match TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => return Ok(l),
            Err(e) if exact => return Err(AuthError::Callback(format!("port {port}: {e}"))),
            Err(e) => tracing::debug!(port, error = %e, "callback port taken; using a free one"),
        }
    }
    TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| AuthError::Callback(e.to_string()))
}

struct CallbackState {
    expected_state: Secret,
    issuer: ExpectedIssuer,
    tx: Mutex<Option<oneshot::Sender<Callback>>>,
}

/// The running listener. Dropping it stops it; [`CallbackServer::stop`]
/// also waits until the port is released, so an immediate next sign-in can
/// bind the same (registered) port again.
#[derive(Debug)]
pub(super) struct CallbackServer {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl CallbackServer {
    pub(super) async fn stop(mut self) {
        self.cancel.cancel();
        // Idle keep-alive connections are closed by the graceful shutdown;
        // a browser holding a request open does not get to delay us long.
        if tokio::time::timeout(Duration::from_secs(3), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

impl Drop for CallbackServer {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

pub(super) fn serve_callback(
    listener: TcpListener,
    expected_state: Secret,
    issuer: ExpectedIssuer,
    tx: oneshot::Sender<Callback>,
) -> CallbackServer {
    let cancel = CancellationToken::new();
    let state = Arc::new(CallbackState {
        expected_state,
        issuer,
        tx: Mutex::new(Some(tx)),
    });
    let app = axum::Router::new()
        .route(CALLBACK_PATH, axum::routing::get(callback))
        .with_state(state);
    let shutdown = cancel.clone().cancelled_owned();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "sign-in callback listener failed");
        }
    });
    CallbackServer { cancel, task }
}

async fn callback(
    State(state): State<Arc<CallbackState>>,
    Query(params): Query<HashMap<String, String>>,
) -> (StatusCode, Html<String>) {
    // A callback without our `state` is not the answer to our request (a
    // stale tab, or a forged link): refuse it and keep waiting.
    let state_ok = params
        .get("state")
        .is_some_and(|s| Secret::new(s.clone()) == state.expected_state);
    if !state_ok {
        return page(
            StatusCode::BAD_REQUEST,
            "This sign-in link is not the one Coder Bridge is waiting for",
            "Start the sign-in again from Coder Bridge. You can close this tab.",
        );
    }
    let iss = params.get("iss");
    let outcome = match (params.get("code"), params.get("error")) {
        _ if !state.issuer.accepts(iss) => Callback::WrongIssuer(iss.cloned()),
        (_, Some(error)) => Callback::Error {
            error: error.clone(),
            description: params.get("error_description").cloned(),
        },
        (Some(code), None) => Callback::Code(Secret::new(code.clone())),
        (None, None) => {
            return page(
                StatusCode::BAD_REQUEST,
                "The sign-in answer carried no code",
                "Start the sign-in again from Coder Bridge. You can close this tab.",
            );
        }
    };
    let denied = matches!(outcome, Callback::Error { .. });
    let wrong_issuer = matches!(outcome, Callback::WrongIssuer(_));
    let sender = state.tx.lock().ok().and_then(|mut tx| tx.take());
    let delivered = sender.is_some_and(|tx| tx.send(outcome).is_ok());
    match delivered {
        true => {
            if wrong_issuer {
                page(
                    StatusCode::BAD_REQUEST,
                    "This sign-in answer came from the wrong server",
                    "Coder Bridge refused it and was not signed in. You can close this tab.",
                )
            } else if denied {
                page(
                    StatusCode::OK,
                    "Sign-in was not completed",
                    "Coder Bridge was not signed in. You can close this tab.",
                )
            } else {
                page(
                    StatusCode::OK,
                    "Coder Bridge received your sign-in",
                    "You can close this tab and return to Coder Bridge.",
                )
            }
        }
        _ => page(
            StatusCode::CONFLICT,
            "This sign-in was already answered",
            "You can close this tab.",
        ),
    }
}

fn page(status: StatusCode, title: &str, body: &str) -> (StatusCode, Html<String>) {
    (
        status,
        Html(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
             <body style=\"font-family:system-ui,sans-serif;margin:4em auto;max-width:32em\">\
             <h1>{title}</h1><p>{body}</p></body></html>"
        )),
    )
}
