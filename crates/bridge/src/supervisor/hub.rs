//! One stream for the faces: call events, consent changes, status changes
//! and sign-in results, merged from the rooms' own broadcasts.

use std::collections::HashMap;

use serde::Serialize;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::views::{ActivityView, ConsentEventView, SignInView, StatusView};
use crate::consent::{ConsentChange, ConsentQueue, ConsentRequest};
use crate::events::EventSender;

/// How far a slow face may lag before it is told to refetch.
pub(crate) const HUB_CAPACITY: usize = 1024;

/// What the faces are pushed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum BridgeEvent {
    /// A finished call.
    Call(ActivityView),
    Consent(ConsentEventView),
    /// The status changed (sign-in, sign-out, relay state).
    Status(Box<StatusView>),
    SignIn(SignInView),
    /// The agent list changed: refetch it.
    Agents,
    /// The policy changed: refetch it.
    Policy,
}

impl BridgeEvent {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Call(_) => "call",
            Self::Consent(_) => "consent",
            Self::Status(_) => "status",
            Self::SignIn(_) => "signin",
            Self::Agents => "agents",
            Self::Policy => "policy",
        }
    }

    /// The JSON payload.
    pub fn data(&self) -> serde_json::Value {
        fn json<T: Serialize>(v: &T) -> serde_json::Value {
            serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
        }
        match self {
            Self::Call(v) => json(v),
            Self::Consent(v) => json(v),
            Self::Status(v) => json(v.as_ref()),
            Self::SignIn(v) => json(v),
            Self::Agents | Self::Policy => serde_json::json!({}),
        }
    }
}

pub(crate) type Hub = broadcast::Sender<BridgeEvent>;

/// Forwards call events into the hub until cancelled.
pub(crate) async fn forward_calls(events: EventSender, hub: Hub, cancel: CancellationToken) {
    let mut rx = events.subscribe();
    loop {
        let next = tokio::select! {
            () = cancel.cancelled() => return,
            next = rx.recv() => next,
        };
        match next {
            Ok(event) => {
                let _ = hub.send(BridgeEvent::Call(ActivityView::from(&event)));
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::debug!(lost = n, "the live feed fell behind the call events");
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Forwards consent changes into the hub, remembering each request so the
/// `resolved` event can show what was resolved.
pub(crate) async fn forward_consent(queue: ConsentQueue, hub: Hub, cancel: CancellationToken) {
    let mut rx = queue.subscribe();
    let mut known: HashMap<Uuid, ConsentRequest> =
        queue.pending().into_iter().map(|r| (r.id, r)).collect();
    loop {
        let next = tokio::select! {
            () = cancel.cancelled() => return,
            next = rx.recv() => next,
        };
        let view = match next {
            Ok(ConsentChange::RequestAdded { request }) => {
                known.insert(request.id, request.clone());
                ConsentEventView {
                    kind: "added".into(),
                    id: request.id,
                    request: Some(request),
                    answer: None,
                    by: None,
                }
            }
            Ok(ConsentChange::RequestResolved { id, resolution, by }) => ConsentEventView {
                kind: "resolved".into(),
                id,
                request: known.remove(&id),
                answer: Some(resolution),
                by,
            },
            Err(broadcast::error::RecvError::Lagged(_)) => {
                // Re-read the queue: what is not pending any more was resolved.
                let pending: HashMap<Uuid, ConsentRequest> =
                    queue.pending().into_iter().map(|r| (r.id, r)).collect();
                known.retain(|id, _| pending.contains_key(id));
                for (id, request) in &pending {
                    if known.insert(*id, request.clone()).is_none() {
                        let _ = hub.send(BridgeEvent::Consent(ConsentEventView {
                            kind: "added".into(),
                            id: *id,
                            request: Some(request.clone()),
                            answer: None,
                            by: None,
                        }));
                    }
                }
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let _ = hub.send(BridgeEvent::Consent(view));
    }
}
