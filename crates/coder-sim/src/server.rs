//! The HTTP server: routes, plus a connection loop of our own so that a
//! fault can close a TCP connection without answering (axum::serve cannot).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use http::StatusCode;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::faults::{CounterCells, Verdict};
use crate::mcp_http::{self, MCP_PATH, McpRoute};
use crate::state::{Shared, route_not_found};
use crate::{api, oauth};

pub(crate) fn router(shared: &Arc<Shared>, ct: CancellationToken) -> Router {
    let mcp = McpRoute {
        shared: shared.clone(),
        service: mcp_http::service(shared, ct),
    };
    let mcp_router = Router::new()
        .route(MCP_PATH, any(mcp_http::handle))
        .with_state(mcp);
    let mut routes = Router::new();
    if shared.config.probe_tools {
        routes = routes.route(
            "/sim/probe/redefine",
            axum::routing::post(crate::tools::probe::redefine),
        );
    }
    routes
        .route("/api/v2/users/me", get(api::users_me))
        .route("/api/v2/buildinfo", get(api::buildinfo))
        .merge(oauth::router(shared.clone()))
        .fallback(|| async { route_not_found() })
        .with_state(shared.clone())
        .merge(mcp_router)
}

/// Returned by the connection's service to make hyper close the connection
/// without writing a response.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by fault injection")]
struct Dropped;

async fn handle(
    shared: Arc<Shared>,
    router: Router,
    request: http::Request<Incoming>,
) -> Result<Response, Dropped> {
    let latency = shared.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if request.uri().path() == MCP_PATH {
        CounterCells::bump(&shared.counters.mcp_requests);
        match shared.faults.judge_mcp_request() {
            Verdict::Pass => {}
            Verdict::Drop => {
                tracing::debug!("fault: dropping an MCP connection");
                return Err(Dropped);
            }
            Verdict::Fail => {
                tracing::debug!("fault: answering an MCP request with 503");
                let body = json!({"message": "Service unavailable.", "detail": "injected fault"});
                return Ok((StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response());
            }
        }
    }
    // Path only: the query may carry `coder_session_token`.
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let response: Result<Response, Infallible> = router.oneshot(request.map(Body::new)).await;
    let response = response.unwrap_or_else(|never| match never {});
    tracing::debug!(%method, %path, status = response.status().as_u16(), "request");
    Ok(response)
}

/// How long in-flight requests may take to finish when the server stops.
const GRACE: Duration = Duration::from_millis(500);

/// Accepts connections until `ct` is cancelled. Then, like a real deployment
/// restarting gracefully, it lets in-flight requests finish (briefly) before
/// ending MCP sessions and SSE streams (`mcp_ct`) and closing what is left.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    router: Router,
    ct: CancellationToken,
    mcp_ct: CancellationToken,
) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            () = ct.cancelled() => break,
            accepted = listener.accept() => accepted,
            // Reap finished connection tasks so the set does not grow forever.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        // Like Go's net/http (and so real Coder): small SSE frames must not
        // wait for a delayed ACK, or every session-era reply stalls ~40 ms.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let (shared, router, stop) = (shared.clone(), router.clone(), ct.clone());
        let service = hyper::service::service_fn(move |request| {
            handle(shared.clone(), router.clone(), request)
        });
        connections.spawn(async move {
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(GRACE, drain).await;
    mcp_ct.cancel();
    let _ = tokio::time::timeout(GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    connections.shutdown().await;
}
