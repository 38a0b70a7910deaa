//! A small client for the daemon's control API (`docs/control-api.md`), used
//! by `consent`, `policy` and `activity`.
//!
//! It finds the daemon through `daemon.json` (else `CODER_BRIDGE_PORT`, else
//! the default port) and authenticates with the control token the daemon
//! wrote to the config directory, readable by this user only. The token goes
//! only to a daemon that proved it is the user's (its socket, or the daemon
//! proof over TCP), never through a proxy and never through a redirect.

use std::pin::Pin;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use bridge::{
    error_code::ErrorCode,
    paths,
    secret::Secret,
    server::{
        DaemonInfo,
        loopback::{self, Probe},
    },
};
use futures::{Stream, StreamExt};
use reqwest::{Method, Response};
use serde::{Serialize, de::DeserializeOwned};
use sse_stream::{Sse, SseStream};

/// A bound on ordinary requests (the policy view may wait ~3 s for Coder's tool list).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug)]
pub struct Control {
    base: String,
    token: Secret,
    http: reqwest::Client,
}

impl Control {
    /// The port the daemon listens on, as `stdio` finds it.
    pub fn port() -> u16 {
        DaemonInfo::port_to_reach(None)
    }

    /// The running daemon, or `None` when nothing answers on its port.
    pub async fn find() -> anyhow::Result<Option<Self>> {
        let port = Self::port();
        let found = loopback::locate(port, None)
            .await
            .context("cannot build an HTTP client")?;
        match found.probe {
            Probe::Running(_) => {}
            Probe::NotRunning => return Ok(None),
            Probe::Unproven(failed) => bail!("{failed}"),
        }
        let token =
            bridge::access::read_control_token(&paths::config_dir()).with_context(|| {
                format!(
                    "Coder Bridge runs on port {port}, but its control token in {} cannot be read",
                    paths::config_dir().display()
                )
            })?;
        Ok(Some(Self {
            base: found.daemon.base_url(),
            token,
            http: found.client,
        }))
    }

    /// The running daemon, or an error that says how to start it.
    pub async fn require() -> anyhow::Result<Self> {
        match Self::find().await? {
            Some(control) => Ok(control),
            None => bail!(
                "Coder Bridge is not running on port {}: start it with `coder-bridge serve` (or open the tray app)",
                Self::port()
            ),
        }
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let response = self
            .request(Method::GET, path)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .with_context(|| format!("GET {path} failed"))?;
        decode(response, path).await
    }

    pub async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        let response = self
            .request(method.clone(), path)
            .timeout(REQUEST_TIMEOUT)
            .json(body)
            .send()
            .await
            .with_context(|| format!("{method} {path} failed"))?;
        decode(response, path).await
    }

    /// Opens the live event stream (`GET /api/events`).
    pub async fn events(&self) -> anyhow::Result<EventStream> {
        let response = self
            .request(Method::GET, "/api/events")
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .send()
            .await
            .context("cannot open the event stream")?;
        if !response.status().is_success() {
            return Err(api_error(response, "/api/events").await);
        }
        Ok(EventStream::from_chunks(response.bytes_stream()))
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(self.token.expose())
    }
}

async fn decode<T: DeserializeOwned>(response: Response, path: &str) -> anyhow::Result<T> {
    if !response.status().is_success() {
        return Err(api_error(response, path).await);
    }
    response
        .json()
        .await
        .with_context(|| format!("unexpected answer from {path}"))
}

/// Turns `{"error": {"code", "message"}}` into a readable error that keeps
/// the code (see [`exit_status`]).
async fn api_error(response: Response, path: &str) -> anyhow::Error {
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let error = &body["error"];
    match (error["message"].as_str(), error["code"].as_str()) {
        (Some(message), Some(code)) => match code.parse::<ErrorCode>() {
            Ok(code) => ApiFailure {
                code,
                message: message.to_owned(),
            }
            .into(),
            // A newer daemon's code: still worth showing.
            Err(()) => anyhow::anyhow!("{message} ({code})"),
        },
        _ => anyhow::anyhow!("{path} answered {status}"),
    }
}

/// The control API refused a request.
#[derive(Debug)]
pub struct ApiFailure {
    pub code: ErrorCode,
    pub message: String,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for ApiFailure {}

/// The exit status of a command that failed with `err`: the failure's
/// [`ErrorCode`] decides where there is one (`docs/CLI.md`), else 1.
pub fn exit_status(err: &anyhow::Error) -> ExitCode {
    let code = err.chain().find_map(|e| {
        e.downcast_ref::<ApiFailure>()
            .map(|f| f.code)
            .or_else(|| {
                e.downcast_ref::<bridge::supervisor::BridgeError>()
                    .map(|b| b.code())
            })
            .or_else(|| {
                e.downcast_ref::<bridge::auth::AuthError>()
                    .map(|a| a.code())
            })
    });
    ExitCode::from(code.map_or(1, ErrorCode::exit_status))
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub name: String,
    pub data: String,
}

type SseItems = Pin<Box<dyn Stream<Item = Result<Sse, sse_stream::Error>> + Send>>;

/// Server-Sent Events read off a streaming response by `sse-stream`.
pub struct EventStream {
    events: SseItems,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").finish_non_exhaustive()
    }
}

impl EventStream {
    fn from_chunks<S, D, E>(chunks: S) -> Self
    where
        S: Stream<Item = Result<D, E>> + Send + 'static,
        D: bytes::Buf + Send + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        Self {
            events: Box::pin(SseStream::from_bytes_stream(chunks)),
        }
    }

    /// The next event; `None` when the daemon closed the stream. Comments
    /// (keep-alives) and events without data are skipped.
    pub async fn next(&mut self) -> anyhow::Result<Option<Event>> {
        while let Some(sse) = self.events.next().await {
            let sse = sse.context("the event stream broke")?;
            if let Some(data) = sse.data {
                return Ok(Some(Event {
                    name: sse.event.unwrap_or_else(|| "message".to_owned()),
                    data,
                }));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_events_across_chunks() {
        let chunks: [&'static [u8]; 4] = [
            b": keep-alive\n\nevent: call\ndata: {\"a\":1}\n\nevent: con",
            b"sent\r\ndata: x\r\n",
            b"data: y\r\n\r\n",
            b"data: plain\n\n",
        ];
        let stream = futures::stream::iter(chunks.map(Ok::<_, std::io::Error>));
        let mut events = EventStream::from_chunks(stream);
        let event = |name: &str, data: &str| Event {
            name: name.into(),
            data: data.into(),
        };
        assert_eq!(
            events.next().await.unwrap(),
            Some(event("call", "{\"a\":1}"))
        );
        assert_eq!(events.next().await.unwrap(), Some(event("consent", "x\ny")));
        assert_eq!(
            events.next().await.unwrap(),
            Some(event("message", "plain"))
        );
        assert_eq!(events.next().await.unwrap(), None);
    }
}
