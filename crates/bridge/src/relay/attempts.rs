//! How a request is tried. A `tools/call` is sent again only while it
//! certainly has not reached Coder ([`Judged::NotSent`]); a call Coder may
//! have seen fails as [`RelayError::Interrupted`] instead, because running it
//! twice could duplicate a side effect. Idempotent requests (list, get, ping)
//! are retried within the same deadline whatever happened to them.

use super::backoff::Backoff;
use super::connection::Judged;
use super::types::{CallOptions, RelayError, RelayStatus};
use super::{Relay, upstream};
use rmcp::{
    RoleClient, ServiceError,
    model::{
        CallToolRequest, CallToolRequestParams, CallToolResponse, ClientRequest, ErrorCode,
        ServerResult,
    },
    service::{Peer, PeerRequestOptions},
};
use std::{
    future::Future,
    sync::atomic::{AtomicBool, Ordering},
};
use tokio::time::Instant;

impl Relay {
    /// Relays one `tools/call`. Never sent twice once Coder may have seen it.
    pub async fn call_tool(
        &self,
        params: CallToolRequestParams,
        options: CallOptions,
    ) -> Result<CallToolResponse, RelayError> {
        let sent = AtomicBool::new(false);
        // Boxed: the attempt loop's state is large and would otherwise be
        // inlined into every caller's future.
        let attempts = Box::pin(self.send_call(params, options, &sent));
        self.guarded(Some(&sent), attempts).await
    }

    /// `call_tool`'s attempts; `sent` is true while the request may be in
    /// Coder's hands.
    async fn send_call(
        &self,
        params: CallToolRequestParams,
        options: CallOptions,
        sent: &AtomicBool,
    ) -> Result<CallToolResponse, RelayError> {
        let deadline = Instant::now() + self.inner.options.retry_window;
        let mut backoff = Backoff::new(self.inner.options.backoff_cap);
        let mut refreshed_for_headers = false;
        loop {
            let conn = tokio::select! {
                c = self.connected(deadline) => c?,
                _ = options.cancel.cancelled() => return Err(RelayError::Cancelled),
            };
            let request = ClientRequest::CallToolRequest(CallToolRequest::new(params.clone()));
            let reason = match conn
                .peer()
                .send_cancellable_request(request, PeerRequestOptions::no_options())
                .await
            {
                // The worker is gone: the request was never handed to HTTP.
                Err(e) => {
                    self.evict(&conn).await;
                    e.to_string()
                }
                Ok(mut handle) => {
                    sent.store(true, Ordering::Release);
                    let route = options.progress.as_ref().map(|sink| {
                        upstream::ProgressRoute::new(
                            &self.inner.shared,
                            handle.progress_token.clone(),
                            sink.clone(),
                        )
                    });
                    let outcome = tokio::select! {
                        r = &mut handle.rx => Some(r.unwrap_or(Err(ServiceError::TransportClosed))),
                        _ = options.cancel.cancelled() => None,
                    };
                    drop(route);
                    let Some(outcome) = outcome else {
                        // Tell Coder to stop; the agent already gave up.
                        let _ = handle.cancel(Some("cancelled by the agent".into())).await;
                        return Err(RelayError::Cancelled);
                    };
                    match outcome {
                        Ok(ServerResult::CallToolResult(r)) => {
                            self.mark_connected();
                            return Ok(CallToolResponse::Complete(r));
                        }
                        Ok(ServerResult::InputRequiredResult(r)) => {
                            return Ok(CallToolResponse::InputRequired(r));
                        }
                        Ok(ServerResult::CreateTaskResult(r)) => {
                            return Ok(CallToolResponse::Task(r));
                        }
                        Ok(other) => {
                            return Err(RelayError::Protocol(format!(
                                "tools/call answered with {}",
                                result_kind(&other)
                            )));
                        }
                        // SEP-2243: a server checks the `Mcp-*` headers
                        // against the body before it processes a request, so
                        // this call did not run. The usual cause is a tool
                        // list older than Coder's (a schema that now wants an
                        // argument in a header too): fetch it again, once,
                        // and re-send.
                        Err(ServiceError::McpError(e))
                            if e.code == ErrorCode::HEADER_MISMATCH && !refreshed_for_headers =>
                        {
                            refreshed_for_headers = true;
                            sent.store(false, Ordering::Release);
                            tracing::info!(
                                tool = %params.name,
                                "Coder refused the request's headers ({}); refreshing the tool list and re-sending once",
                                e.message
                            );
                            self.refetch_tools(&conn).await;
                            continue;
                        }
                        Err(e) => match self.judge(&e, &conn).await {
                            Judged::Fail(err) => return Err(err),
                            // It certainly did not run upstream, so sending it
                            // again cannot duplicate it. A second 503 in a row
                            // (rmcp's own retry spent) waits out the backoff too
                            // rather than failing a call Coder never saw.
                            Judged::NotSent { reason, retry_now } => {
                                sent.store(false, Ordering::Release);
                                if !retry_now {
                                    tracing::debug!(tool = %params.name, "re-sending after backoff: {reason}");
                                }
                                reason
                            }
                            Judged::MaybeSent(reason) => {
                                tracing::warn!(
                                    tool = %params.name,
                                    "call interrupted in flight; not re-sending: {reason}"
                                );
                                return Err(RelayError::Interrupted { reason });
                            }
                        },
                    }
                }
            };
            self.pause(&mut backoff, deadline, reason).await?;
        }
    }

    /// Runs an idempotent request, retrying through reconnects.
    pub(super) async fn idempotent<T, F, Fut>(&self, op: F) -> Result<T, RelayError>
    where
        F: Fn(Peer<RoleClient>) -> Fut,
        Fut: Future<Output = Result<T, ServiceError>>,
    {
        self.guarded(None, Box::pin(self.idempotent_attempts(op)))
            .await
    }

    async fn idempotent_attempts<T, F, Fut>(&self, op: F) -> Result<T, RelayError>
    where
        F: Fn(Peer<RoleClient>) -> Fut,
        Fut: Future<Output = Result<T, ServiceError>>,
    {
        let deadline = Instant::now() + self.inner.options.retry_window;
        let mut backoff = Backoff::new(self.inner.options.backoff_cap);
        loop {
            let conn = self.connected(deadline).await?;
            let reason =
                match tokio::time::timeout(self.inner.options.request_timeout, op(conn.peer()))
                    .await
                {
                    Ok(Ok(value)) => {
                        self.mark_connected();
                        return Ok(value);
                    }
                    Ok(Err(e)) => match self.judge(&e, &conn).await {
                        Judged::Fail(err) => return Err(err),
                        Judged::NotSent { reason, .. } | Judged::MaybeSent(reason) => reason,
                    },
                    Err(_) => format!(
                        "no answer within {} s",
                        self.inner.options.request_timeout.as_secs()
                    ),
                };
            self.pause(&mut backoff, deadline, reason).await?;
        }
    }

    /// Waits before the next attempt, or gives up when the window is spent.
    pub(super) async fn pause(
        &self,
        backoff: &mut Backoff,
        deadline: Instant,
        reason: String,
    ) -> Result<(), RelayError> {
        let delay = backoff.next_delay();
        if Instant::now() + delay >= deadline {
            self.set_state(RelayStatus::Error, Some(reason.clone()));
            return Err(RelayError::Unavailable { reason });
        }
        tracing::debug!("retrying in {delay:?}: {reason}");
        self.set_state(RelayStatus::Connecting, Some(reason.clone()));
        tokio::select! {
            _ = tokio::time::sleep(delay) => Ok(()),
            _ = self.inner.cancel.cancelled() => Err(RelayError::Unavailable {
                reason: "the bridge is shutting down".into(),
            }),
        }
    }
}

pub(super) fn result_kind(result: &ServerResult) -> String {
    serde_json::to_value(result)
        .ok()
        .and_then(|v| {
            v.as_object()
                .map(|o| o.keys().cloned().collect::<Vec<_>>().join(","))
        })
        .unwrap_or_else(|| "an unknown result".into())
}
