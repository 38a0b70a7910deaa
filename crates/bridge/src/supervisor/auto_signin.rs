//! Bringing the user back to sign-in when an agent needs Coder.
//!
//! The user signed in before (so the deployment is known), then the tokens
//! went away: they signed out, or Coder refused to renew the session. An
//! agent's request that needs Coder now starts ONE browser sign-in to that
//! deployment; every request that needs it meanwhile joins that same
//! attempt and waits for it (bounded), then proceeds. Four agents starting
//! at once therefore open one browser page and make no new client
//! registration (the stored one is reused).
//!
//! Never in a loop: at most one automatic attempt per cooldown period (the
//! user may have closed the page on purpose), none from the bridge's own
//! background work (see [`crate::auth::without_auto_sign_in`]), and none
//! where no browser can be shown (a headless Linux box). In those cases,
//! and when the attempt fails or is not finished in time, the request gets
//! the usual "sign in" error naming `coder-bridge login`.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use url::Url;
use uuid::Uuid;

use super::views::SignInState;
use super::{BridgeEvent, BridgeHandle, Core};
use crate::auth::{AUTO_SIGN_IN_COOLDOWN, AUTO_SIGN_IN_WAIT, SessionKind};

/// Opens the sign-in page for the automatic sign-in.
pub trait SignInOpener: Send + Sync + 'static {
    /// Why no page can be shown here (no graphical session), if so.
    fn unavailable(&self) -> Option<String>;
    /// Shows `url` to the user; returns without waiting for them.
    fn open(&self, url: &Url) -> Result<(), String>;
}

/// The user's browser: `$BROWSER`, else the platform opener.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemBrowser;

impl SignInOpener for SystemBrowser {
    fn unavailable(&self) -> Option<String> {
        crate::auth::browser_unavailable()
    }

    fn open(&self, url: &Url) -> Result<(), String> {
        crate::auth::open_browser(url).map_err(|e| e.to_string())
    }
}

/// How the automatic sign-in behaves. The default is what the product does.
#[derive(Clone)]
pub struct AutoSignInOptions {
    /// Start sign-ins on the agents' behalf at all.
    pub enabled: bool,
    /// At most one automatic attempt per this period.
    pub cooldown: Duration,
    /// How long a request waits for the attempt before failing.
    pub wait: Duration,
    pub opener: Arc<dyn SignInOpener>,
}

impl Default for AutoSignInOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            cooldown: AUTO_SIGN_IN_COOLDOWN,
            wait: AUTO_SIGN_IN_WAIT,
            opener: Arc::new(SystemBrowser),
        }
    }
}

impl fmt::Debug for AutoSignInOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AutoSignInOptions")
            .field("enabled", &self.enabled)
            .field("cooldown", &self.cooldown)
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

/// What to do for a request that found no usable session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// A sign-in is already waiting for the browser: wait for it too.
    Join(Uuid),
    /// Start one now.
    Start,
    /// Fail the request with the "sign in" error, for this reason.
    Refuse(String),
}

/// The rules, apart from the machinery so they can be tested alone.
/// `waiting`: the attempt waiting for the browser, if any (automatic or the
/// user's); `target`: how the user last signed in, if ever.
pub(crate) fn decide(
    waiting: Option<Uuid>,
    target: Option<SessionKind>,
    last_auto: Option<Instant>,
    now: Instant,
    cooldown: Duration,
    unavailable: Option<String>,
) -> Decision {
    if let Some(id) = waiting {
        return Decision::Join(id);
    }
    match target {
        None => return Decision::Refuse("never signed in: no deployment known".into()),
        // A pasted session token cannot be renewed in a browser.
        Some(SessionKind::SessionToken) => {
            return Decision::Refuse("the last sign-in used a session token".into());
        }
        Some(SessionKind::Oauth) => {}
    }
    if let Some(at) = last_auto
        && now.saturating_duration_since(at) < cooldown
    {
        return Decision::Refuse(format!(
            "an automatic sign-in was already started in the last {} minutes",
            cooldown.as_secs().div_ceil(60)
        ));
    }
    match unavailable {
        Some(why) => Decision::Refuse(why),
        None => Decision::Start,
    }
}

/// The automatic sign-in of one bridge. Lives in the credentials the relay
/// uses, which exist before the bridge's handle: [`AutoSignIn::attach`]
/// links it once the handle is built.
pub(crate) struct AutoSignIn {
    options: AutoSignInOptions,
    /// Weak: the core owns the credentials that own this.
    core: OnceLock<Weak<Core>>,
    /// When the last automatic attempt started. The lock also makes
    /// deciding and starting single-flight.
    last: tokio::sync::Mutex<Option<Instant>>,
    /// "Cannot open a browser here" is logged once, not on every request.
    refusal_logged: AtomicBool,
}

impl fmt::Debug for AutoSignIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AutoSignIn")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl AutoSignIn {
    pub(crate) fn new(options: AutoSignInOptions) -> Self {
        Self {
            options,
            core: OnceLock::new(),
            last: tokio::sync::Mutex::new(None),
            refusal_logged: AtomicBool::new(false),
        }
    }

    pub(crate) fn attach(&self, core: &Arc<Core>) {
        let _ = self.core.set(Arc::downgrade(core));
    }

    /// Called when a request found no usable session. True when a sign-in
    /// completed meanwhile (the caller reads the new session); false when
    /// the request should fail with the "sign in" error.
    pub(crate) async fn recover(&self) -> bool {
        if !self.options.enabled || !crate::auth::auto_sign_in_allowed() {
            return false;
        }
        let Some(core) = self.core.get().and_then(Weak::upgrade) else {
            return false;
        };
        let handle = BridgeHandle { core };
        let Some(attempt) = self.join_or_start(&handle).await else {
            return false;
        };
        let waited = tokio::time::timeout(self.options.wait, handle.core.attempts.wait(attempt));
        match waited.await {
            Ok(SignInState::Done) => true,
            Ok(state) => {
                tracing::info!(?state, "the sign-in for the agents did not complete");
                false
            }
            Err(_) => {
                tracing::info!(
                    "the sign-in for the agents is not finished after {} s; failing the waiting requests (the page stays valid)",
                    self.options.wait.as_secs()
                );
                false
            }
        }
    }

    /// The attempt to wait for: the one already waiting for the browser, or
    /// a new one when the rules allow.
    async fn join_or_start(&self, handle: &BridgeHandle) -> Option<Uuid> {
        let mut last = self.last.lock().await;
        let target = match handle.core.auth.sign_in_target() {
            Ok(target) => target,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read where to sign in again");
                None
            }
        };
        let decision = decide(
            handle.core.attempts.waiting(),
            target.as_ref().map(|t| t.kind),
            *last,
            Instant::now(),
            self.options.cooldown,
            self.options.opener.unavailable(),
        );
        let target = match decision {
            Decision::Join(id) => return Some(id),
            Decision::Refuse(why) => {
                if !self.refusal_logged.swap(true, Ordering::Relaxed) {
                    tracing::info!("not starting a sign-in for the agents: {why}");
                }
                return None;
            }
            Decision::Start => target?,
        };
        *last = Some(Instant::now());
        self.refusal_logged.store(false, Ordering::Relaxed);
        let deployment = target.deployment.to_string();
        let started = match handle.start_oauth(deployment.clone(), None).await {
            Ok(started) => started,
            Err(e) => {
                tracing::warn!(error = %e, %deployment, "cannot start a sign-in for the agents");
                return None;
            }
        };
        let url = started
            .authorize_url
            .as_deref()
            .and_then(|u| Url::parse(u).ok())?;
        // The URL carries no secret (PKCE challenge and state only).
        tracing::warn!(
            %deployment,
            "an agent needs Coder and the session is gone: finish signing in in the browser, or open {url}"
        );
        if let Err(e) = self.options.opener.open(&url) {
            tracing::warn!(error = %e, "cannot open the browser; open the sign-in page above yourself");
        }
        // The tray and UI show "signing in" while it waits.
        let status = handle.status().await;
        handle.emit(BridgeEvent::Status(Box::new(status)));
        Some(started.attempt_id)
    }
}

#[cfg(test)]
mod tests;
