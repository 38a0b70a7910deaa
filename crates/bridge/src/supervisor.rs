//! The supervisor: builds every room, owns their tasks, and hands the faces
//! (tray, CLI, control API) one cloneable [`BridgeHandle`].
//!
//! ```text
//! Bridge::bind(options), then serve(web routes on the handle)
//!   auth (AuthManager) ─┐
//!   policy + consent ───┼─> daemon (server + relay, control API and UI nested)
//!   client tokens ──────┘        │ call events
//!   activity store + writer <────┤
//!   event hub (SSE, tray) <──────┴── consent changes, relay state, sign-in results
//! ```
//!
//! Every task hangs off one cancellation token and is tracked, so
//! [`BridgeHandle::shutdown`] stops them all and flushes the activity writer.

mod auto_signin;
mod credentials;
mod error;
mod hub;
mod ops;
mod policy_view;
mod signin;
mod views;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use auto_signin::{AutoSignInOptions, SignInOpener, SystemBrowser};
pub use credentials::CredentialsOverride;
pub use error::{BridgeError, ErrorKind};
pub use hub::BridgeEvent;
pub use policy_view::policy_view;
pub use signin::{DemoDeployment, DemoError, DemoLauncher, SignInRequest};
pub use views::{
    ActivityView, AgentEntry, AgentView, ConfigureView, ConsentEventView, GroupStatsView,
    PolicyView, RelayView, SignInStarted, SignInState, SignInView, StatsView, StatusView,
    ToolPolicyView, UnconfigureView, UserView,
};

use crate::access::Access;
use crate::activity::{ActivityConfig, ActivityStore};
use crate::auth::{AuthManager, StoreChoice};
use crate::client_tokens::ClientTokens;
use crate::clients::Dirs;
use crate::consent::{ConsentQueue, PolicyGate};
use crate::gate::PausableGate;
use crate::policy::Policy;
use crate::relay::RelayOptions;
use crate::server::{BoundDaemon, Daemon, DaemonHandle, DaemonInfo};
use credentials::ActiveCredentials;
use signin::Attempts;

/// How the bridge is started. [`BridgeOptions::new`] gives the defaults.
#[derive(Clone)]
pub struct BridgeOptions {
    /// Port on 127.0.0.1; 0 picks a free one (tests).
    pub port: u16,
    /// Settings, client registrations, client tokens, policy, control token.
    pub config_dir: PathBuf,
    /// The activity database.
    pub data_dir: PathBuf,
    /// Where agents keep their configs; `None` reads the environment.
    pub agent_dirs: Option<Dirs>,
    /// The `coder-bridge` binary written into stdio agent entries; `None`
    /// uses the running executable.
    pub binary: Option<PathBuf>,
    /// Use this session instead of the stored one until the user signs in
    /// (the `demo` command, tests). The status reports `demo: true` meanwhile.
    pub credentials: Option<CredentialsOverride>,
    /// Starts a demo deployment for "try the demo" in the UI.
    pub demo_launcher: Option<Arc<dyn DemoLauncher>>,
    pub secret_store: StoreChoice,
    pub consent_timeout: Duration,
    pub activity: ActivityConfig,
    pub relay: RelayOptions,
    /// Signing in again on the agents' behalf when the session is gone.
    pub auto_sign_in: AutoSignInOptions,
    /// Where to put the daemon's Unix socket (`daemon-<port>.sock`); `None`:
    /// TCP only.
    pub socket_dir: Option<PathBuf>,
}

impl std::fmt::Debug for BridgeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeOptions")
            .field("port", &self.port)
            .field("config_dir", &self.config_dir)
            .field("data_dir", &self.data_dir)
            .field("credentials_override", &self.credentials.is_some())
            .field("consent_timeout", &self.consent_timeout)
            .finish_non_exhaustive()
    }
}

impl BridgeOptions {
    /// Defaults over the given folders: port 7331, secret store and consent
    /// time-out from the environment.
    pub fn new(config_dir: impl Into<PathBuf>, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            port: crate::paths::DEFAULT_PORT,
            config_dir: config_dir.into(),
            data_dir: data_dir.into(),
            agent_dirs: None,
            binary: None,
            credentials: None,
            demo_launcher: None,
            secret_store: StoreChoice::from_env(),
            consent_timeout: ConsentQueue::timeout_from_env(),
            activity: ActivityConfig::default(),
            relay: RelayOptions::default(),
            auto_sign_in: AutoSignInOptions::default(),
            socket_dir: None,
        }
    }

    /// [`BridgeOptions::new`] over the platform folders, with the socket in
    /// the runtime folder when there is one.
    pub fn from_env() -> Self {
        let mut options = Self::new(crate::paths::config_dir(), crate::paths::data_dir());
        options.socket_dir = crate::paths::socket_dir();
        options
    }
}

/// Entry point: [`Bridge::start`] (in [`crate::app`], which serves the web
/// room's routes on the handle [`Bridge::bind`] builds).
#[derive(Debug)]
pub struct Bridge;

impl Bridge {
    /// Builds every room and binds the daemon's port; nothing is served
    /// yet. [`BoundBridge::serve`] starts serving the routes made on
    /// [`BoundBridge::handle`].
    pub async fn bind(options: BridgeOptions) -> Result<BoundBridge, BridgeError> {
        let auth = AuthManager::with_store(&options.config_dir, options.secret_store);
        let tokens = ClientTokens::open(options.config_dir.join(crate::client_tokens::FILE_NAME))?;
        let policy = Policy::open(options.config_dir.join(crate::policy::FILE_NAME))?;
        let queue = ConsentQueue::new(policy.clone(), options.consent_timeout);
        let paused = Arc::new(AtomicBool::new(false));
        let gate = PausableGate::new(
            PolicyGate::new(policy.clone(), queue.clone()),
            paused.clone(),
        );
        let activity = ActivityStore::open(
            options.data_dir.join(crate::activity::FILE_NAME),
            options.activity.clone(),
        )
        .map_err(|source| BridgeError::Start {
            what: "the activity database",
            source: Box::new(source),
        })?;
        let (access, control_token) = Access::generate();
        let credentials = ActiveCredentials::new(
            auth.clone(),
            options.credentials.clone(),
            auto_signin::AutoSignIn::new(options.auto_sign_in.clone()),
        );
        let events = crate::events::channel();
        let hub = broadcast::channel(hub::HUB_CAPACITY).0;
        let cancel = CancellationToken::new();
        let tasks = TaskTracker::new();

        let bound = Daemon::builder()
            .credentials(Arc::new(credentials.clone()))
            .gate(Arc::new(gate))
            .tokens(tokens.clone())
            .events(events.clone())
            .port(options.port)
            .relay_options(options.relay.clone())
            .socket_dir(options.socket_dir.clone())
            .proof_key_file(crate::server::ProofKey::path_in(&options.config_dir))
            .bind()
            .await?;
        let daemon = bound.handle().clone();

        // Only now that this daemon owns the port does its token replace
        // the file (a daemon that failed to bind must not lock the CLI out).
        if let Err(source) = crate::access::write_control_token(&options.config_dir, &control_token)
        {
            drop(bound);
            daemon.shutdown().await;
            activity.shutdown().await;
            return Err(BridgeError::Start {
                what: "the control token",
                source: Box::new(source),
            });
        }
        drop(control_token);
        tasks.spawn(hub::forward_calls(
            events.clone(),
            hub.clone(),
            cancel.child_token(),
        ));
        tasks.spawn(hub::forward_consent(
            queue.clone(),
            hub.clone(),
            cancel.child_token(),
        ));
        let writer = activity.subscribe_to(&events);

        let daemon_file = options.config_dir.join("daemon.json");
        let handle = BridgeHandle {
            core: Arc::new(Core {
                options,
                auth,
                credentials,
                tokens,
                policy,
                queue,
                activity,
                access,
                daemon,
                paused,
                hub,
                events: events.clone(),
                attempts: Attempts::default(),
                cancel,
                tasks,
                writer: std::sync::Mutex::new(Some(writer)),
                daemon_file,
            }),
        };
        handle.core.credentials.auto.attach(&handle.core);
        Ok(BoundBridge {
            handle,
            daemon: bound,
        })
    }
}

/// A bridge whose daemon owns its port but serves nothing yet.
#[derive(Debug)]
#[must_use = "a bound bridge serves nothing until `serve` is called"]
pub struct BoundBridge {
    handle: BridgeHandle,
    daemon: BoundDaemon,
}

impl BoundBridge {
    /// The handle the routes are made on.
    pub fn handle(&self) -> &BridgeHandle {
        &self.handle
    }

    /// Serves the MCP endpoint and `routes` (the control API and the UI),
    /// advertises the daemon in `daemon.json` and starts the faces' feeds.
    pub async fn serve(self, routes: axum::Router) -> BridgeHandle {
        let Self { handle, daemon } = self;
        let daemon = daemon.serve(routes).await;
        let mut info = DaemonInfo::new(daemon.local_addr().port());
        info.socket = daemon.socket_path().map(std::path::Path::to_path_buf);
        if let Err(e) = info.write(&handle.core.daemon_file) {
            tracing::warn!(error = %e, "cannot write daemon.json; `coder-bridge stdio` will not find this daemon");
        }
        handle.core.tasks.spawn(ops::watch_relay(handle.clone()));
        tracing::info!(url = %handle.ui_url(), "control API and UI ready");
        handle
    }
}

/// The faces' handle on a running bridge. Cheap to clone.
#[derive(Clone)]
pub struct BridgeHandle {
    core: Arc<Core>,
}

impl std::fmt::Debug for BridgeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeHandle")
            .field("addr", &self.core.daemon.local_addr())
            .finish_non_exhaustive()
    }
}

struct Core {
    options: BridgeOptions,
    auth: AuthManager,
    credentials: ActiveCredentials,
    tokens: ClientTokens,
    policy: Policy,
    queue: ConsentQueue,
    activity: ActivityStore,
    access: Access,
    daemon: DaemonHandle,
    /// "Pause relay": while set, the gate refuses every call.
    paused: Arc<AtomicBool>,
    hub: hub::Hub,
    /// Call events (the activity's feed); policy changes are recorded here too.
    events: crate::events::EventSender,
    attempts: Attempts,
    cancel: CancellationToken,
    tasks: TaskTracker,
    writer: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    daemon_file: PathBuf,
}

impl BridgeHandle {
    /// `127.0.0.1:<port>` actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.core.daemon.local_addr()
    }

    /// `http://127.0.0.1:<port>/mcp`.
    pub fn mcp_url(&self) -> String {
        self.core.daemon.mcp_url()
    }

    /// `http://127.0.0.1:<port>/`: the UI (needs a ticket to sign in; see [`BridgeHandle::open_ui_url`]).
    pub fn ui_url(&self) -> String {
        format!("http://{}/", self.local_addr())
    }

    /// A one-time URL that signs a browser in to the UI.
    pub fn open_ui_url(&self) -> String {
        let ticket = self.core.access.issue_ticket();
        crate::access::ticket_url(self.local_addr(), &ticket)
    }

    /// A one-time URL for the tray's own window: its answers are recorded as
    /// the tray's.
    pub fn open_tray_url(&self) -> String {
        let ticket = self
            .core
            .access
            .issue_ticket_for(crate::consent::Face::Tray);
        crate::access::ticket_url(self.local_addr(), &ticket)
    }

    /// Where the control token was written (`<config dir>/control-token`).
    pub fn control_token_path(&self) -> PathBuf {
        crate::access::control_token_path(&self.core.options.config_dir)
    }

    /// Everything the faces are pushed, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<BridgeEvent> {
        self.core.hub.subscribe()
    }

    /// The control API's credentials (tickets, sessions).
    pub fn access(&self) -> &Access {
        &self.core.access
    }

    /// Resolves when shutdown has been requested.
    pub async fn cancelled(&self) {
        self.core.cancel.cancelled().await;
    }

    /// Stops serving, ends the tasks, and writes every recorded call to disk.
    pub async fn shutdown(&self) {
        self.core.cancel.cancel();
        self.core.attempts.cancel_current();
        self.core.daemon.shutdown().await;
        self.core.tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.core.tasks.wait()).await;
        // The daemon is down: no more call events. Write what is queued.
        if let Err(e) = self.core.activity.flush().await {
            tracing::warn!(error = %e, "could not flush the activity record");
        }
        self.core.activity.shutdown().await;
        let writer = self
            .core
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(writer) = writer {
            let _ = writer.await;
        }
        DaemonInfo::remove_if_ours(&self.core.daemon_file);
    }

    pub(crate) fn emit(&self, event: BridgeEvent) {
        let _ = self.core.hub.send(event);
    }
}
