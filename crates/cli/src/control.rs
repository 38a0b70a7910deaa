//! A small client for the daemon's control API (`docs/control-api.md`), used
//! by `consent`, `policy` and `activity`.
//!
//! It finds the daemon through `daemon.json` (else `CODER_BRIDGE_PORT`, else
//! the default port) and authenticates with the control token the daemon
//! wrote to the config directory, readable by this user only. The token goes
//! only to a daemon that proved it is the user's (its socket, or the daemon
//! proof over TCP), never through a proxy and never through a redirect.

use std::time::Duration;

use anyhow::{Context, bail};
use bridge::{
    paths,
    secret::Secret,
    server::{
        DaemonInfo,
        loopback::{self, Probe},
    },
};
use reqwest::{Method, Response};
use serde::{Serialize, de::DeserializeOwned};

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
        DaemonInfo::read(&DaemonInfo::default_path())
            .map(|i| i.port)
            .unwrap_or_else(|| bridge::settings::port(None))
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
        let token = bridge::web::read_control_token(&paths::config_dir()).with_context(|| {
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
        Ok(EventStream {
            response,
            buffer: String::new(),
        })
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

/// Turns `{"error": {"code", "message"}}` into a readable error.
async fn api_error(response: Response, path: &str) -> anyhow::Error {
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let error = &body["error"];
    match (error["message"].as_str(), error["code"].as_str()) {
        (Some(message), Some(code)) => anyhow::anyhow!("{message} ({code})"),
        _ => anyhow::anyhow!("{path} answered {status}"),
    }
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub name: String,
    pub data: String,
}

/// Reads Server-Sent Events off a streaming response.
#[derive(Debug)]
pub struct EventStream {
    response: Response,
    buffer: String,
}

impl EventStream {
    /// The next event; `None` when the daemon closed the stream.
    pub async fn next(&mut self) -> anyhow::Result<Option<Event>> {
        loop {
            if let Some(event) = take_event(&mut self.buffer) {
                return Ok(Some(event));
            }
            match self
                .response
                .chunk()
                .await
                .context("the event stream broke")?
            {
                Some(bytes) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                None => return Ok(None),
            }
        }
    }
}

/// Removes the first complete event from `buffer`; comments (keep-alives)
/// and events without data are skipped.
fn take_event(buffer: &mut String) -> Option<Event> {
    loop {
        let normalized = buffer.replace("\r\n", "\n");
        if normalized.len() != buffer.len() {
            *buffer = normalized;
        }
        let end = buffer.find("\n\n")?;
        let block: String = buffer.drain(..end + 2).collect();
        let mut name = String::from("message");
        let mut data = Vec::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                name = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
            }
        }
        if !data.is_empty() {
            return Some(Event {
                name,
                data: data.join("\n"),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_across_chunks() {
        let mut buffer = String::from(": keep-alive\n\nevent: call\ndata: {\"a\":1}\n\nevent: con");
        assert_eq!(
            take_event(&mut buffer),
            Some(Event {
                name: "call".into(),
                data: "{\"a\":1}".into()
            })
        );
        assert_eq!(take_event(&mut buffer), None);
        buffer.push_str("sent\r\ndata: x\r\ndata: y\r\n\r\n");
        assert_eq!(
            take_event(&mut buffer),
            Some(Event {
                name: "consent".into(),
                data: "x\ny".into()
            })
        );
        assert!(buffer.is_empty());
    }
}
