//! The local server alone (`Daemon::builder`, no supervisor) in front of the
//! simulated Coder with a fixed session token: the gate is the test's own,
//! one agent ("cursor") holds a client token, and every call event can be
//! watched.

use std::sync::Arc;

use bridge::{
    auth::StaticToken,
    client_tokens::ClientTokens,
    events::{self, CallEvent},
    gate::CallGate,
    relay::RelayOptions,
    secret::Secret,
    server::{Daemon, DaemonHandle},
};
use coder_sim::{Sim, SimConfig};
use rmcp::{
    ServiceExt,
    model::ClientConfig,
    service::{RoleClient, RunningService},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use tempfile::TempDir;
use tokio::sync::broadcast;

use super::bounded;

pub type Client = RunningService<RoleClient, ClientConfig>;

pub struct GatedDaemon<G> {
    pub sim: Sim,
    pub daemon: DaemonHandle,
    pub gate: Arc<G>,
    pub events: broadcast::Receiver<CallEvent>,
    /// The agent's client token.
    pub token: Secret,
    _dir: TempDir,
}

impl<G: CallGate + 'static> GatedDaemon<G> {
    pub async fn start(sim: SimConfig, gate: G, options: RelayOptions) -> Self {
        let sim = bounded("sim start", Sim::start(sim))
            .await
            .expect("the simulator starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let tokens = ClientTokens::open(dir.path().join("client-tokens.json")).expect("tokens");
        let token = tokens.issue("cursor").expect("issue a token");
        let events = events::channel();
        let receiver = events.subscribe();
        let gate = Arc::new(gate);
        let credentials = StaticToken(bridge::auth::UpstreamSession {
            access_url: sim.url(),
            access_token: Secret::new(sim.session_token()),
            expires_at: None,
        });
        let daemon = bounded(
            "daemon start",
            Daemon::builder()
                .credentials(Arc::new(credentials))
                .gate(gate.clone())
                .tokens(tokens)
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
            gate,
            events: receiver,
            token,
            _dir: dir,
        }
    }
}

impl<G> GatedDaemon<G> {
    /// The agent, connected under the client name `name` (what it says it is).
    pub async fn client(&self, name: &str) -> Client {
        let config = StreamableHttpClientTransportConfig::with_uri(self.daemon.mcp_url())
            .auth_header(self.token.expose());
        let mut info = ClientConfig::default();
        info.client_info.name = name.to_owned();
        bounded(
            "client connect",
            info.serve(StreamableHttpClientTransport::from_config(config)),
        )
        .await
        .expect("the client connects to the daemon")
    }

    /// The next finished `tools/call` (other methods are skipped).
    pub async fn next_call_event(&mut self) -> CallEvent {
        bounded("a tools/call event", async {
            loop {
                let event = self.events.recv().await.expect("event channel open");
                if event.method == "tools/call" {
                    return event;
                }
            }
        })
        .await
    }

    pub async fn stop(self, client: Client) {
        bounded("client close", client.cancel()).await.ok();
        bounded("daemon shutdown", self.daemon.shutdown()).await;
        bounded("sim shutdown", self.sim.shutdown()).await;
    }
}
