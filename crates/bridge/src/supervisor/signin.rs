//! Sign-in attempts started by the faces: one browser round trip at a time,
//! its result kept for `GET /api/signin/{id}` and pushed as a `signin` event.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::views::{SignInState, SignInView};
use crate::auth::PreRegisteredClient;
use crate::error_code::ErrorCode;
use crate::secret::Secret;

/// How to sign in.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SignInRequest {
    /// OAuth2 through the browser; with a client a Coder admin made, or the
    /// stored / dynamically registered one.
    OAuth {
        deployment_url: String,
        client: Option<PreRegisteredClient>,
    },
    /// A Coder session token the user pasted.
    SessionToken {
        deployment_url: String,
        token: Secret,
    },
    /// The built-in demo deployment (see [`DemoLauncher`]): used in memory,
    /// the stored sign-in is left alone.
    Demo,
}

/// A deployment started on demand for "try the demo", and the session to
/// use with it. The session is kept in memory only: the user's stored
/// sign-in is untouched, and signing out (or in for real) ends the demo.
pub type DemoDeployment = super::CredentialsOverride;

/// Why the demo deployment could not be started.
pub type DemoError = Box<dyn std::error::Error + Send + Sync>;

/// Starts the demo deployment (`crate::demo::SimLauncher` runs the
/// simulator; tests hand out a session of their own).
#[async_trait::async_trait]
pub trait DemoLauncher: Send + Sync + 'static {
    /// Starts (or returns the already running) demo deployment.
    async fn launch(&self) -> Result<DemoDeployment, DemoError>;
}

/// How an attempt failed: its stable code and the message for people.
pub(crate) type Failure = (ErrorCode, String);

/// How many finished attempts are remembered for `GET /api/signin/{id}`.
const KEEP_FINISHED: usize = 32;

#[derive(Debug, Default)]
pub(crate) struct Attempts {
    inner: Mutex<State>,
    /// Bumped whenever an attempt ends, for [`Attempts::wait`].
    finished: tokio::sync::watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct State {
    views: HashMap<Uuid, SignInView>,
    order: Vec<Uuid>,
    /// The attempt waiting for the browser, and how to stop it.
    current: Option<(Uuid, CancellationToken)>,
}

impl Attempts {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a new attempt; an older one still waiting is cancelled (its
    /// listener stops), since only the newest browser tab can finish.
    pub(crate) fn begin(&self, parent: &CancellationToken) -> (Uuid, CancellationToken) {
        let id = Uuid::new_v4();
        let cancel = parent.child_token();
        let mut state = self.lock();
        if let Some((_, old)) = state.current.take() {
            old.cancel();
        }
        state.current = Some((id, cancel.clone()));
        state.views.insert(
            id,
            SignInView {
                attempt_id: id,
                state: SignInState::Waiting,
                error: None,
                code: None,
            },
        );
        state.order.push(id);
        while state.order.len() > KEEP_FINISHED {
            let oldest = state.order.remove(0);
            state.views.remove(&oldest);
        }
        (id, cancel)
    }

    /// Records how an attempt ended and returns its view.
    pub(crate) fn finish(&self, id: Uuid, result: Result<(), Failure>) -> SignInView {
        let mut state = self.lock();
        if state.current.as_ref().is_some_and(|(c, _)| *c == id) {
            state.current = None;
        }
        let view = match result {
            Ok(()) => SignInView {
                attempt_id: id,
                state: SignInState::Done,
                error: None,
                code: None,
            },
            Err((code, message)) => SignInView {
                attempt_id: id,
                state: SignInState::Failed,
                error: Some(message),
                code: Some(code),
            },
        };
        if state.views.contains_key(&id) {
            state.views.insert(id, view.clone());
        }
        drop(state);
        self.finished.send_modify(|n| *n = n.wrapping_add(1));
        view
    }

    /// The attempt waiting for the browser, if any.
    pub(crate) fn waiting(&self) -> Option<Uuid> {
        self.lock().current.as_ref().map(|(id, _)| *id)
    }

    /// Waits until attempt `id` ends and returns how. An attempt replaced by
    /// a newer one (the user started another sign-in) is followed to that
    /// one: whoever waits cares that the user signs in, not through which page.
    pub(crate) async fn wait(&self, mut id: Uuid) -> SignInState {
        let mut finished = self.finished.subscribe();
        loop {
            {
                let state = self.lock();
                let Some(view) = state.views.get(&id) else {
                    return SignInState::Failed;
                };
                match (view.state, view.code) {
                    (SignInState::Waiting, _) => {}
                    (SignInState::Failed, Some(ErrorCode::Cancelled)) => match &state.current {
                        Some((newer, _)) if *newer != id => {
                            id = *newer;
                            continue;
                        }
                        _ => return SignInState::Failed,
                    },
                    (ended, _) => return ended,
                }
            }
            if finished.changed().await.is_err() {
                return SignInState::Failed;
            }
        }
    }

    pub(crate) fn get(&self, id: Uuid) -> Option<SignInView> {
        self.lock().views.get(&id).cloned()
    }

    /// Stops the attempt waiting for the browser, if any.
    pub(crate) fn cancel_current(&self) {
        if let Some((_, cancel)) = self.lock().current.take() {
            cancel.cancel();
        }
    }
}
