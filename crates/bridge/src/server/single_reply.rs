//! Session-era replies as plain JSON when the reply is a single message.
//!
//! rmcp's streamable HTTP server answers every request of a session (the
//! initialize handshake and an `Mcp-Session-Id`, protocol 2025-11-25 and
//! older) with an SSE stream, even when the stream carries nothing but the
//! answer. The transport allows `application/json` for such a reply in
//! every protocol era, and agents pay for the stream: their HTTP client
//! reads it as a chunked body of unknown length, and one that stops reading
//! at the answer (before the stream's end) cannot reuse the connection, so
//! each call opened a new one. Here the stream is read up to its first
//! message: when that is the answer, it goes out as one JSON body with a
//! `Content-Length`; when the handler speaks first (progress, a server
//! request), the stream goes out unchanged, as before.

use axum::{
    body::{Body, Bytes},
    extract::Request,
    http::{HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::Response,
};
use futures::{StreamExt, stream};
use serde::Deserialize;
use sse_stream::SseStream;

const EVENT_STREAM: &str = "text/event-stream";
const JSON: &str = "application/json";

/// Only what tells an answer from what may precede it: a JSON-RPC message
/// the server sends with a `method` is a notification or a request (the
/// answer follows later); the answer (a result or an error) has none.
/// Probed rather than parsed into rmcp's message types: the payload is
/// passed on as it is, so decoding a whole tool result here would be work
/// thrown away.
#[derive(Deserialize)]
struct Probe {
    method: Option<serde::de::IgnoredAny>,
}

/// Middleware on the MCP route: see the module docs.
pub(crate) async fn json_when_single(request: Request, next: Next) -> Response {
    let is_post = request.method() == Method::POST;
    let response = next.run(request).await;
    if !is_post || response.status() != StatusCode::OK || !is_event_stream(&response) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let mut events = SseStream::new(body);
    let mut seen = Vec::new();
    while let Some(event) = events.next().await {
        let Ok(event) = event else {
            // The stream broke before any message: pass on what there was.
            break;
        };
        let Some(data) = event.data.as_deref().filter(|d| !d.is_empty()) else {
            // A priming event (an id and a retry time for resuming the
            // stream) or a keep-alive: nothing the agent needs in a JSON reply.
            seen.push(event);
            continue;
        };
        if serde_json::from_str::<Probe>(data).is_ok_and(|p| p.method.is_none()) {
            parts
                .headers
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
            parts.headers.remove(header::CACHE_CONTROL);
            let data = event.data.unwrap_or_default();
            // The rest of the stream is dropped: the request is answered.
            return Response::from_parts(parts, Body::from(data));
        }
        seen.push(event);
        break;
    }
    // The handler spoke before answering: the stream, from the start.
    let replayed = stream::iter(seen)
        .map(Bytes::from)
        .map(Ok::<_, std::io::Error>);
    let rest = events.map(|event| {
        event
            .map(Bytes::from)
            .map_err(|e| std::io::Error::other(e.to_string()))
    });
    Response::from_parts(parts, Body::from_stream(replayed.chain(rest)))
}

fn is_event_stream(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(EVENT_STREAM))
}
