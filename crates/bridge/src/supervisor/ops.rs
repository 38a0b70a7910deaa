//! What the faces can ask of a running bridge: status, sign-in, agents,
//! policy, consent and activity. Blocking file work runs on the blocking pool.

mod agents;
mod policy;

use std::sync::atomic::Ordering;
use std::time::Duration;

use uuid::Uuid;

use super::views::{
    ActivityView, RelayView, SignInStarted, SignInState, SignInView, StatsView, StatusView,
    UserView,
};
use super::{BridgeError, BridgeEvent, BridgeHandle, SignInRequest};
use crate::activity::{MAX_LIMIT, RecentQuery};
use crate::auth::{PreRegisteredClient, SignIn, SignInOptions};
use crate::clients::Context;

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BridgeError> + Send + 'static,
) -> Result<T, BridgeError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|source| BridgeError::Internal {
            what: "a background task failed",
            source: Box::new(source),
        })?
}

impl BridgeHandle {
    /// Pauses or resumes the relay (the tray's "Pause relay"). While paused,
    /// agents keep their sessions and tool lists, but every call is refused
    /// with a message that says how to resume. Faces hear it as a `status` event.
    pub async fn set_paused(&self, paused: bool) -> StatusView {
        let was = self.core.paused.swap(paused, Ordering::AcqRel);
        if was != paused {
            tracing::info!(paused, "relay pause switched");
        }
        let status = self.status().await;
        self.emit(BridgeEvent::Status(Box::new(status.clone())));
        status
    }

    /// Deployment, user, expiry, storage backend, relay state.
    pub async fn status(&self) -> StatusView {
        let core = &self.core;
        let relay = core.daemon.relay().state();
        let mut view = StatusView {
            signed_in: false,
            deployment: None,
            user: None,
            expires_at: None,
            storage_backend: None,
            relay: RelayView {
                state: relay.status,
                error: relay.detail.clone(),
            },
            endpoint: self.mcp_url(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            demo: core.credentials.fixed().is_some(),
            session_expired: false,
            demo_available: core.options.demo_launcher.is_some(),
            paused: core.paused.load(Ordering::Acquire),
            signing_in: core.attempts.waiting().is_some(),
            last_deployment: None,
            activity_problem: activity_problem(&core.activity.health()),
        };
        if let Some(fixed) = core.credentials.fixed() {
            let session = &fixed.token.0;
            view.signed_in = true;
            view.deployment = Some(session.access_url.to_string());
            view.user = fixed.user.map(|u| UserView {
                username: u.username,
                name: u.name,
                email: u.email,
            });
            view.expires_at = session.expires_at.map(crate::epoch::millis);
            return view;
        }
        let auth = core.auth.status().await;
        view.signed_in = auth.signed_in;
        view.deployment = auth.deployment.map(|u| u.to_string());
        view.user = auth.user.map(|u| UserView {
            username: u.username,
            name: u.name,
            email: u.email,
        });
        view.expires_at = auth.expires_at.map(crate::epoch::offset_millis);
        view.storage_backend = auth.secret_store;
        view.session_expired = auth.session_expired;
        view.last_deployment = auth.last_deployment.map(|u| u.to_string());
        view
    }

    /// Starts a sign-in. OAuth answers at once with the page to open; the
    /// result arrives as a `signin` event and from [`BridgeHandle::sign_in_state`].
    pub async fn sign_in(&self, request: SignInRequest) -> Result<SignInStarted, BridgeError> {
        let (deployment, client) = match request {
            SignInRequest::SessionToken {
                deployment_url,
                token,
            } => {
                let (id, _) = self.core.attempts.begin(&self.core.cancel);
                let result = self
                    .core
                    .auth
                    .sign_in_with_token(&deployment_url, token)
                    .await;
                let failed = result.as_ref().err().map(|e| (e.code(), e.to_string()));
                self.finish_attempt(
                    id,
                    result.map(|_| ()).map_err(|e| (e.code(), e.to_string())),
                );
                if let Some((_, message)) = failed {
                    tracing::info!(error = %message, "session-token sign-in failed");
                }
                let view = self.sign_in_state(id);
                return Ok(SignInStarted {
                    attempt_id: id,
                    authorize_url: None,
                    state: view.map_or(SignInState::Failed, |v| v.state),
                });
            }
            SignInRequest::OAuth {
                deployment_url,
                client,
            } => (deployment_url, client),
            SignInRequest::Demo => {
                let launcher = self
                    .core
                    .options
                    .demo_launcher
                    .clone()
                    .ok_or(BridgeError::DemoUnavailable)?;
                let session = launcher
                    .launch()
                    .await
                    .map_err(|source| BridgeError::Start {
                        what: "the demo deployment",
                        source,
                    })?;
                let (id, _) = self.core.attempts.begin(&self.core.cancel);
                self.core.credentials.set_override(session);
                self.announce(id, Ok(()));
                return Ok(SignInStarted {
                    attempt_id: id,
                    authorize_url: None,
                    state: SignInState::Done,
                });
            }
        };
        self.start_oauth(deployment, client).await
    }

    pub(super) async fn start_oauth(
        &self,
        deployment: String,
        client: Option<PreRegisteredClient>,
    ) -> Result<SignInStarted, BridgeError> {
        let mut options = SignInOptions::new(deployment);
        options.client = client;
        let flow = SignIn::start(&self.core.auth, options).await?;
        let authorize_url = flow.authorize_url().to_string();
        let (id, cancel) = self.core.attempts.begin(&self.core.cancel);
        let handle = self.clone();
        self.core.tasks.spawn(async move {
            let result = tokio::select! {
                r = flow.finish() => r.map(|_| ()).map_err(|e| (e.code(), e.to_string())),
                () = cancel.cancelled() => Err((crate::error_code::ErrorCode::Cancelled, "the sign-in was replaced by a newer one, or Coder Bridge stopped".to_owned())),
            };
            handle.finish_attempt(id, result);
        });
        Ok(SignInStarted {
            attempt_id: id,
            authorize_url: Some(authorize_url),
            state: SignInState::Waiting,
        })
    }

    fn finish_attempt(&self, id: Uuid, result: Result<(), super::signin::Failure>) {
        if result.is_ok() {
            // The user chose a stored session: it replaces a demo/test override.
            self.core.credentials.drop_override();
        }
        self.announce(id, result);
    }

    /// Records the attempt's end, connects when it worked, tells the faces.
    fn announce(&self, id: Uuid, result: Result<(), super::signin::Failure>) {
        let ok = result.is_ok();
        let view = self.core.attempts.finish(id, result);
        if ok {
            let relay = self.core.daemon.relay().clone();
            let cancel = self.core.cancel.clone();
            self.core.tasks.spawn(async move {
                tokio::select! {
                    r = relay.warm_up() => if let Err(e) = r {
                        tracing::info!("signed in, but not connected to Coder yet: {e}");
                    },
                    () = cancel.cancelled() => {}
                }
            });
        }
        self.emit(BridgeEvent::SignIn(view));
        self.emit_status();
    }

    /// How a sign-in attempt is going.
    pub fn sign_in_state(&self, id: Uuid) -> Option<SignInView> {
        self.core.attempts.get(id)
    }

    /// Revokes and forgets the session (and any demo override).
    pub async fn sign_out(&self) -> Result<(), BridgeError> {
        self.core.attempts.cancel_current();
        self.core.credentials.drop_override();
        let report = self.core.auth.logout().await?;
        if let Some(note) = report.revoke_note {
            tracing::info!(note, "signed out");
        }
        self.emit_status();
        Ok(())
    }

    /// Pushes the current status to the faces.
    pub(crate) fn emit_status(&self) {
        let handle = self.clone();
        self.core.tasks.spawn(async move {
            let status = handle.status().await;
            handle.emit(BridgeEvent::Status(Box::new(status)));
        });
    }

    fn clients_context(&self) -> Context {
        let o = &self.core.options;
        let binary = o
            .binary
            .clone()
            .or_else(|| std::env::current_exe().ok())
            .unwrap_or_else(|| "coder-bridge".into());
        let port = self.local_addr().port();
        let mut ctx = Context::detect(port, binary, self.core.tokens.clone());
        if let Some(dirs) = &o.agent_dirs {
            ctx.dirs = dirs.clone();
            // A test's or embedder's folders: `PATH` says nothing about them.
            ctx.path_var = None;
        }
        ctx
    }

    /// Recorded calls, newest first.
    pub async fn activity(&self, mut query: RecentQuery) -> Result<Vec<ActivityView>, BridgeError> {
        query.limit = query.limit.clamp(1, MAX_LIMIT);
        let rows = self.core.activity.recent(query).await?;
        Ok(rows.into_iter().map(ActivityView::from).collect())
    }

    /// Calls, errors and latency per tool and agent over the last `window`.
    pub async fn activity_stats(&self, window: Duration) -> Result<StatsView, BridgeError> {
        let stats = self.core.activity.stats(window).await?;
        Ok(StatsView::new(window.as_secs(), stats))
    }

    /// Writes every call recorded so far to the database.
    pub async fn flush_activity(&self) -> Result<(), BridgeError> {
        self.core.activity.flush().await.map_err(BridgeError::from)
    }
}

/// Pushes a `status` event whenever the relay's state changes.
pub(super) async fn watch_relay(handle: BridgeHandle) {
    let mut rx = handle.core.daemon.relay().watch_state();
    let cancel = handle.core.cancel.clone();
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            changed = rx.changed() => if changed.is_err() { return },
        }
        let status = handle.status().await;
        handle.emit(BridgeEvent::Status(Box::new(status)));
    }
}

/// What the status shows about the activity record: nothing while writes
/// succeed, otherwise the writer's own explanation.
fn activity_problem(health: &crate::activity::ActivityHealth) -> Option<String> {
    (!health.ok).then(|| {
        health
            .last_error
            .clone()
            .unwrap_or_else(|| "calls are relayed but cannot be recorded right now".to_owned())
    })
}
