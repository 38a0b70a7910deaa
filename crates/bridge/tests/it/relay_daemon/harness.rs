//! A simulated Coder, the daemon signed in to it, and real rmcp clients.

use std::{
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use bridge::{
    auth::{AuthError, Credentials, StaticToken, UpstreamSession},
    client_tokens::ClientTokens,
    events::{self, CallEvent},
    relay::RelayOptions,
    secret::Secret,
    server::{Daemon, DaemonHandle},
};
use coder_sim::{Era, Sim, SimConfig};
use rmcp::{
    RoleClient, ServiceExt,
    model::{CallToolRequestParams, CallToolResult, ClientConfig},
    service::RunningService,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::broadcast;

pub type Client = RunningService<RoleClient, ClientConfig>;

/// Every test step is bounded; a hang is a failure, not a stuck suite.
pub async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// The daemon's logs in the test output, when `CODER_BRIDGE_LOG` asks for
/// them. Only then: the process-wide subscriber of `support::logs` must be
/// free for the tests that capture what is logged.
pub fn init_tracing() {
    let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("CODER_BRIDGE_LOG") else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// Relay options that keep failing tests quick.
pub fn fast_options() -> RelayOptions {
    RelayOptions {
        retry_window: Duration::from_secs(8),
        backoff_cap: Duration::from_millis(400),
        request_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
        ..RelayOptions::default()
    }
}

pub fn session(sim: &Sim, token: impl Into<String>) -> UpstreamSession {
    UpstreamSession {
        access_url: sim.url(),
        access_token: Secret::new(token.into()),
        expires_at: None,
    }
}

pub struct Harness {
    pub sim: Sim,
    pub daemon: DaemonHandle,
    pub tokens: ClientTokens,
    pub events: broadcast::Receiver<CallEvent>,
    pub config: SimConfig,
    _dir: TempDir,
}

impl Harness {
    pub async fn start(era: Era) -> Self {
        Self::start_with(era, |sim| {
            Arc::new(StaticToken(session(sim, sim.session_token())))
        })
        .await
    }

    pub async fn start_with(
        era: Era,
        credentials: impl FnOnce(&Sim) -> Arc<dyn Credentials>,
    ) -> Self {
        Self::start_configured(era, fast_options(), credentials).await
    }

    pub async fn start_configured(
        era: Era,
        options: RelayOptions,
        credentials: impl FnOnce(&Sim) -> Arc<dyn Credentials>,
    ) -> Self {
        init_tracing();
        let config = SimConfig::default().era(era);
        let sim = bounded("sim start", Sim::start(config.clone()))
            .await
            .expect("the simulator starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let tokens = ClientTokens::open(dir.path().join("client-tokens.json")).expect("tokens");
        tokens.issue("cursor").expect("issue a token");
        let events = events::channel();
        let receiver = events.subscribe();
        let daemon = bounded(
            "daemon start",
            Daemon::builder()
                .credentials(credentials(&sim))
                .tokens(tokens.clone())
                .events(events)
                .port(0)
                .relay_options(options)
                .start(),
        )
        .await
        .expect("the daemon starts");
        Self {
            sim,
            daemon,
            tokens,
            events: receiver,
            config,
            _dir: dir,
        }
    }

    pub fn token(&self, agent: &str) -> String {
        self.tokens
            .get(agent)
            .expect("the agent has a token")
            .expose()
            .to_owned()
    }

    /// An rmcp client connected to the daemon as `agent`.
    pub async fn client(&self, agent: &str) -> Client {
        let config = StreamableHttpClientTransportConfig::with_uri(self.daemon.mcp_url())
            .auth_header(self.token(agent));
        bounded(
            "client connect",
            ClientConfig::default().serve(StreamableHttpClientTransport::from_config(config)),
        )
        .await
        .expect("the client connects to the daemon")
    }

    pub async fn shutdown(self) {
        bounded("daemon shutdown", self.daemon.shutdown()).await;
        bounded("sim shutdown", self.sim.shutdown()).await;
    }

    /// The next event for `method`, skipping others.
    pub async fn next_event(&mut self, method: &str) -> CallEvent {
        bounded("an event", async {
            loop {
                let event = self.events.recv().await.expect("event channel open");
                if event.method == method {
                    return event;
                }
            }
        })
        .await
    }
}

pub fn params(tool: &str, arguments: Value) -> CallToolRequestParams {
    let mut p = CallToolRequestParams::new(tool.to_owned());
    p.arguments = arguments.as_object().cloned();
    p
}

pub fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Credentials whose token expires quickly; a 401 hands out the next fresh
/// token (minted by the simulator up front), as a refresh would.
#[derive(Debug)]
pub struct Refreshing {
    pub current: Mutex<UpstreamSession>,
    pub refreshes: AtomicU32,
    pub fresh: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl Credentials for Refreshing {
    async fn current(&self) -> Result<UpstreamSession, AuthError> {
        Ok(self.current.lock().expect("lock").clone())
    }

    async fn after_unauthorized(&self, rejected: &Secret) -> Result<UpstreamSession, AuthError> {
        let mut current = self.current.lock().expect("lock");
        if current.access_token == *rejected {
            self.refreshes.fetch_add(1, Ordering::SeqCst);
            let next = self.fresh.lock().expect("lock").pop();
            let Some(next) = next else {
                return Err(AuthError::SessionExpired {
                    deployment: current.access_url.to_string(),
                });
            };
            current.access_token = Secret::new(next);
        }
        Ok(current.clone())
    }
}

impl Harness {
    /// Stops the simulator and starts a fresh one on the same port (state
    /// and sessions are lost, as in a Coder restart). `while_down` runs
    /// while nothing listens.
    pub async fn restart_sim<F: Future<Output = ()>>(&mut self, while_down: F) {
        let port = self.sim.url().port().expect("sim port");
        let placeholder = bounded("placeholder", Sim::start(self.config.clone()))
            .await
            .expect("placeholder sim");
        let old = std::mem::replace(&mut self.sim, placeholder);
        bounded("old sim shutdown", old.shutdown()).await;
        while_down.await;
        let fresh = bounded("restart", Sim::start_on(port, self.config.clone()))
            .await
            .expect("the simulator restarts on its port");
        let placeholder = std::mem::replace(&mut self.sim, fresh);
        bounded("placeholder shutdown", placeholder.shutdown()).await;
    }
}
