//! `GET /api/events`: the hub's broadcast as Server-Sent Events.
//!
//! Nothing here polls: each connection is one subscription to the hub. A
//! face that falls behind gets a `resync` event and refetches; the stream
//! ends when the bridge shuts down, so a graceful stop is not held up.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use futures::stream::{self, StreamExt};
use tokio::sync::broadcast::{self, error::RecvError};

use crate::supervisor::{BridgeEvent, BridgeHandle};

/// How often an idle stream gets a comment, so proxies and the browser keep it open.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub(super) async fn events(State(h): State<BridgeHandle>) -> Response {
    let rx = h.subscribe();
    // The current status first, so a face that just connected is in step
    // without a separate request racing the stream.
    let first = h.status().await;
    let first = to_event(&BridgeEvent::Status(Box::new(first)));
    let live = live(h, rx);
    let stream = stream::once(async move { Ok(first) }).chain(live);
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
        .into_response()
}

fn live(
    h: BridgeHandle,
    rx: broadcast::Receiver<BridgeEvent>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let stop = {
        let h = h.clone();
        async move { h.cancelled().await }
    };
    stream::unfold(rx, |mut rx| async move {
        let event = match rx.recv().await {
            Ok(event) => to_event(&event),
            Err(RecvError::Lagged(missed)) => Event::default()
                .event("resync")
                .data(serde_json::json!({ "missed": missed }).to_string()),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(event), rx))
    })
    .take_until(Box::pin(stop))
}

fn to_event(event: &BridgeEvent) -> Event {
    Event::default()
        .event(event.name())
        .data(event.data().to_string())
}
