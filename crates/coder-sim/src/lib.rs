//! A simulated Coder deployment for tests and demo mode: Coder's OAuth2
//! provider and remote MCP endpoint, with fault injection and counters.
//!
//! What it reproduces (see the project's notes on Coder for sources):
//! - Discovery: `/.well-known/oauth-protected-resource` (`resource` = the
//!   access URL without trailing slash) and
//!   `/.well-known/oauth-authorization-server` (any suffix path), with
//!   `registration_endpoint` only while DCR is enabled.
//! - DCR (off by default, [`Faults::set_dcr_enabled`]) with RFC 7592
//!   management; pre-registered apps via [`Sim::register_app`] or
//!   [`SimConfig::apps`]; public clients (`none`).
//! - Authorize: only Coder's eight parameters (others → 400 page), PKCE S256
//!   with a 43–128 character challenge, `resource` → token audience, a consent
//!   page with CSRF (or [`SimConfig::auto_approve`]), 302 to the callback;
//!   redirect matching per [`RedirectMode`].
//! - Tokens: form-encoded only, Basic or body client auth, unknown parameters
//!   → `invalid_request`; access tokens are API keys `<10>-<22>`; refresh is
//!   single-use with no grace and deletes the paired key; a code exchange
//!   deletes the user's earlier keys for that app; revocation always 200.
//! - MCP at `/api/experimental/mcp/http` (`?toolset=standard|chatgpt`):
//!   session token or OAuth2 token from cookie, query, `Coder-Session-Token`
//!   or `Authorization: Bearer`; 401 with Coder's `WWW-Authenticate`, 403 on an
//!   audience mismatch, 404 when the provider is disabled; Coder's tools
//!   ([`tool_catalog`]) and two prompts over in-memory templates, workspaces
//!   and tasks; [`Era::Stateless`] or [`Era::Sessions`].
//! - Faults ([`Faults`]): latency on every request; 503 and dropped
//!   connections on MCP requests only; forced expiry of OAuth2 access tokens.
//!   [`Counters`] count what really happened.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let sim = coder_sim::Sim::start(coder_sim::SimConfig::default()).await?;
//! println!("{} {}", sim.mcp_url(), sim.session_token());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

mod api;
mod apikey;
pub mod config;
mod faults;
mod mcp_http;
mod oauth;
mod server;
mod state;
mod store;
mod tools;
mod world;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use url::Url;

pub use config::{AppSpec, DEMO_SESSION_TOKEN, Era, RedirectMode, SimConfig, parse_duration};
pub use faults::{Counters, Faults, Revocation, SeenCall};
pub use store::User;
pub use tools::probe;
pub use tools::{ToolInfo, ToolKind, tool_catalog};

use crate::faults::CounterCells;
use crate::state::Shared;
use crate::store::{AppRequest, Store};
use crate::world::World;

/// A running simulated deployment on 127.0.0.1. Dropping it stops the server
/// too; [`Sim::shutdown`] also waits until every connection is closed.
#[derive(Debug)]
pub struct Sim {
    shared: Arc<Shared>,
    ct: CancellationToken,
    task: JoinHandle<()>,
    listen: std::net::SocketAddr,
}

impl Sim {
    /// Starts on a free port.
    pub async fn start(config: SimConfig) -> anyhow::Result<Sim> {
        Self::start_on(0, config).await
    }

    /// Starts on a fixed port (for restart tests). State is always fresh,
    /// except what the config fixes: the session token and `apps`.
    pub async fn start_on(port: u16, config: SimConfig) -> anyhow::Result<Sim> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("binding 127.0.0.1:{port}"))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let url = match &config.access_host {
            Some(host) => format!("http://{host}:{}/", addr.port()),
            None => format!("http://{addr}/"),
        };
        let url = Url::parse(&url).context("building the access URL")?;
        let store = Arc::new(Store::new(&config));
        let world = Arc::new(World::seeded(&store.demo_user()));
        let faults = Arc::new(Faults::new(
            store.clone(),
            config.provider_enabled,
            config.dcr_enabled,
        ));
        let shared = Arc::new(Shared {
            store,
            world,
            counters: Arc::new(CounterCells::default()),
            faults,
            config,
            url,
            documents: Default::default(),
        });
        let ct = CancellationToken::new();
        // MCP sessions outlive `ct` briefly so in-flight calls can finish.
        let mcp_ct = CancellationToken::new();
        let router = server::router(&shared, mcp_ct.clone());
        let task = tokio::spawn(server::serve(
            listener,
            shared.clone(),
            router,
            ct.clone(),
            mcp_ct,
        ));
        tracing::info!(url = %shared.url, "simulated Coder deployment listening");
        Ok(Sim {
            shared,
            ct,
            task,
            listen: addr,
        })
    }

    /// The access URL, with a trailing slash: `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> Url {
        self.shared.url.clone()
    }

    /// Where it really listens on 127.0.0.1 (the access URL's host differs
    /// with [`SimConfig::access_host`]; it also answers requests for it
    /// sent as to an HTTP proxy).
    pub fn listen_addr(&self) -> std::net::SocketAddr {
        self.listen
    }

    /// Hosts a client metadata document (SEP-991) under `name` and returns
    /// its URL, which a client then uses as its `client_id` (with
    /// [`SimConfig::client_metadata_documents`] on). The body is served as
    /// given, so a test can also host an invalid one.
    pub fn host_client_metadata(&self, name: &str, body: &str) -> Url {
        self.shared.documents.put(name, body.to_owned());
        let mut url = self.shared.url.clone();
        url.set_path(&format!("{}{name}", oauth::DOCUMENT_PATH));
        url
    }

    /// `<access URL>/api/experimental/mcp/http`.
    pub fn mcp_url(&self) -> Url {
        let mut url = self.shared.url.clone();
        url.set_path(mcp_http::MCP_PATH);
        url
    }

    /// The demo user's Coder session token.
    pub fn session_token(&self) -> String {
        self.shared.config.session_token.clone()
    }

    /// Creates another session token for the demo user.
    pub fn create_session_token(&self, lifetime: Duration) -> String {
        self.shared.store.create_session_token(lifetime)
    }

    /// The demo user (`demo`).
    pub fn demo_user(&self) -> User {
        self.shared.store.demo_user()
    }

    /// Registers an OAuth2 app as a Coder admin would. Confidential apps get
    /// a `coder_<10>_<40>` secret; public ones (`none`) get none.
    pub fn register_app(
        &self,
        name: &str,
        redirect_uris: &[&str],
        confidential: bool,
    ) -> (String, Option<String>) {
        let created = self.shared.store.create_app(
            AppRequest {
                name: name.to_owned(),
                redirect_uris: redirect_uris.iter().map(|u| (*u).to_owned()).collect(),
                auth_method: if confidential {
                    "client_secret_basic"
                } else {
                    "none"
                }
                .to_owned(),
                grant_types: vec!["authorization_code".into(), "refresh_token".into()],
                response_types: vec!["code".into()],
                scope: None,
            },
            false,
        );
        (created.app.client_id, created.client_secret)
    }

    pub fn counters(&self) -> Counters {
        self.shared.counters.snapshot()
    }

    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Stops accepting, closes every connection and MCP session, and waits.
    pub async fn shutdown(mut self) {
        self.ct.cancel();
        if let Err(e) = (&mut self.task).await {
            tracing::warn!(error = %e, "simulator task ended abnormally");
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.ct.cancel();
    }
}
