//! What the faces can ask of a running bridge: status, sign-in, agents,
//! policy, consent and activity. Blocking file work runs on the blocking pool.

use std::sync::atomic::Ordering;
use std::time::Duration;

use rmcp::model::Tool;
use uuid::Uuid;

use super::views::{
    ActivityView, AgentEntry, AgentView, ConfigureView, PolicyView, RelayView, SignInStarted,
    SignInState, SignInView, StatsView, StatusView, UnconfigureView, UserView,
};
use super::{BridgeError, BridgeEvent, BridgeHandle, SignInRequest};
use crate::activity::{MAX_LIMIT, RecentQuery};
use crate::auth::{PreRegisteredClient, SignIn, SignInOptions};
use crate::clients::{self, Context, ENTRY_NAME, EntryState};
use crate::consent::{AnsweredBy, ArgumentsDigest, ConsentAnswer, ConsentRequest};
use crate::policy::Decision;

/// How long `policy()` waits for Coder's tool list before showing the built-in table alone.
const TOOL_LIST_WAIT: Duration = Duration::from_secs(3);

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

    /// Every known agent: installed, configured, up to date, and what is wrong.
    pub async fn agents(&self) -> Result<Vec<AgentView>, BridgeError> {
        let ctx = self.clients_context();
        blocking(move || {
            Ok(clients::agents()
                .iter()
                .map(|agent| match clients::status(agent.id, &ctx) {
                    Ok(s) => {
                        let mut problems: Vec<String> =
                            s.drift.iter().map(ToString::to_string).collect();
                        if s.entry == EntryState::Foreign {
                            problems.push(format!(
                                "an entry named \"{ENTRY_NAME}\" was written by another tool; configuring replaces it"
                            ));
                        }
                        AgentView {
                            name: s.agent.to_owned(),
                            display_name: s.display_name.to_owned(),
                            installed: s.installed,
                            configured: s.configured,
                            up_to_date: s.up_to_date,
                            config_path: s.path.display().to_string(),
                            problems,
                        }
                    }
                    // One unreadable file must not hide the other agents.
                    Err(e) => AgentView {
                        name: agent.id.to_owned(),
                        display_name: agent.display_name.to_owned(),
                        installed: true,
                        configured: false,
                        up_to_date: false,
                        config_path: ctx.config_path(agent).display().to_string(),
                        problems: vec![e.to_string()],
                    },
                })
                .collect())
        })
        .await
    }

    /// The entry to paste into `name`'s config by hand. With `mint`, a
    /// client token is issued if the agent has none (`POST`); without, only
    /// an existing token is shown and nothing changes (`GET`).
    pub async fn agent_entry(&self, name: &str, mint: bool) -> Result<AgentEntry, BridgeError> {
        let agent = clients::agent(name)?;
        let ctx = self.clients_context();
        blocking(move || {
            let token = match (agent.shape.uses_token(), mint) {
                (false, _) => None,
                (true, true) => Some(ctx.tokens.get_or_issue(agent.id)?),
                (true, false) => ctx.tokens.get(agent.id),
            };
            let needs_token = agent.shape.uses_token() && token.is_none();
            // The same entry `configure` writes, so the copy can never drift from it.
            let entry = clients::entry_for(agent, &ctx, token.as_ref());
            Ok(AgentEntry {
                name: agent.id.to_owned(),
                servers_key: agent.servers_key.to_owned(),
                entry_name: ENTRY_NAME.to_owned(),
                // In the agent's own format (JSON, TOML or YAML).
                snippet: clients::snippet_for(agent, &ctx, token.as_ref()),
                entry,
                needs_token,
            })
        })
        .await
    }

    /// Writes (or with `dry_run`, previews) our entry in `name`'s config.
    pub async fn configure(&self, name: &str, dry_run: bool) -> Result<ConfigureView, BridgeError> {
        let name = name.to_owned();
        let ctx = self.clients_context();
        let view = blocking(move || {
            let plan = clients::plan(&name, &ctx)?;
            let changed = plan.changes();
            let applied = if !dry_run && changed {
                clients::apply(&plan)?.changed
            } else {
                false
            };
            Ok(ConfigureView {
                config_path: plan.path.display().to_string(),
                diff: plan.diff.clone(),
                changed,
                applied,
            })
        })
        .await?;
        if view.applied {
            self.emit(BridgeEvent::Agents);
        }
        Ok(view)
    }

    /// Removes our entry from `name`'s config and revokes its client token.
    pub async fn unconfigure(&self, name: &str) -> Result<UnconfigureView, BridgeError> {
        let name = name.to_owned();
        let ctx = self.clients_context();
        let removed = blocking(move || Ok(clients::remove(&name, &ctx)?)).await?;
        self.emit(BridgeEvent::Agents);
        Ok(UnconfigureView {
            config_path: removed.path.display().to_string(),
            removed: removed.removed,
            revoked: removed.revoked,
        })
    }

    /// Every tool we know of (Coder's list when reachable, the built-in
    /// table, overridden ones), its default and the user's overrides.
    pub async fn policy(&self) -> PolicyView {
        let relay = self.core.daemon.relay().clone();
        // Showing the policy page must not send the user to a sign-in.
        // Fresh, not cached: the page shows what Coder serves now, and a
        // changed definition resets its "allow" before it is shown.
        let list = crate::auth::without_auto_sign_in(relay.refresh_tools());
        let upstream: Vec<Tool> = match tokio::time::timeout(TOOL_LIST_WAIT, list).await {
            Ok(Ok(list)) => list.tools.clone(),
            _ => Vec::new(),
        };
        let changed =
            crate::policy::pins::reconcile_in_background(&self.core.policy, &upstream).await;
        super::policy_view::policy_view(&self.core.policy, &upstream, &changed)
    }

    /// Sets (or with `decision: None`, clears) an override for `tool`, for
    /// one agent or for all.
    /// `by` is recorded beside the override and in the activity.
    pub async fn set_policy(
        &self,
        tool: &str,
        agent: Option<&str>,
        decision: Option<Decision>,
        by: AnsweredBy,
    ) -> Result<PolicyView, BridgeError> {
        let (policy, tool, agent) = (
            self.core.policy.clone(),
            tool.to_owned(),
            agent.map(str::to_owned),
        );
        let (setter, name, scope) = (by.clone(), tool.clone(), agent.clone());
        blocking(move || {
            match decision {
                Some(d) => policy.set_override_by(agent.as_deref(), &tool, d, &setter)?,
                None => {
                    policy.clear_override(agent.as_deref(), &tool)?;
                }
            }
            Ok(())
        })
        .await?;
        self.record_policy_change(scope, name, decision, by);
        self.emit(BridgeEvent::Policy);
        Ok(self.policy().await)
    }

    /// A policy change goes into the activity like a call, with who made it.
    fn record_policy_change(
        &self,
        agent: Option<String>,
        tool: String,
        decision: Option<Decision>,
        by: AnsweredBy,
    ) {
        if by.agent_reachable() {
            tracing::warn!(%tool, by = %by.describe(), "policy changed with the control token");
        }
        let _ = self.core.events.send(crate::events::CallEvent {
            at: std::time::SystemTime::now(),
            agent: agent.map_or_else(crate::agent_id::AgentId::every_agent, Into::into),
            client_name: None,
            method: "policy/set".to_owned(),
            tool: Some(tool),
            arguments_summary: Some(decision.map_or_else(
                || "override cleared".to_owned(),
                |d| format!("override set to {d}"),
            )),
            outcome: crate::events::Outcome::Ok,
            error: None,
            latency: Duration::ZERO,
            bytes_in: 0,
            bytes_out: 0,
            consent: None,
            args_digest: None,
            answered_by: Some(by),
        });
    }

    /// Calls waiting for the user, oldest first.
    pub fn consent_pending(&self) -> Vec<ConsentRequest> {
        self.core.queue.pending()
    }

    /// Answers a waiting call on behalf of `by`; `seen` is the digest of the
    /// arguments the user looked at (refused when they differ). `not_found`
    /// when it already ended.
    pub async fn answer_consent(
        &self,
        id: Uuid,
        answer: ConsentAnswer,
        by: AnsweredBy,
        seen: Option<&ArgumentsDigest>,
    ) -> Result<(), BridgeError> {
        if by.agent_reachable() {
            // Any process of the user can hold the control token, an agent
            // with a shell included: such answers are loud, never silent.
            tracing::warn!(%id, ?answer, by = %by.describe(), "consent answered with the control token");
        }
        self.core.queue.answer_by(id, answer, by, seen).await?;
        if answer == ConsentAnswer::AllowAlways {
            self.emit(BridgeEvent::Policy);
        }
        Ok(())
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
