//! The credentials the relay uses: the auth room's session, or a fixed token
//! given at start (the demo, tests) until the user signs in for real. When
//! the stored session is gone, an agent's request may bring the user back
//! to sign-in first (see [`super::auto_signin`]).

use std::sync::{Arc, Mutex};

use crate::auth::{AuthError, AuthManager, Credentials, StaticToken, UpstreamSession, User};
use crate::secret::Secret;

use super::auto_signin::AutoSignIn;

/// A session handed in at start instead of the stored one.
#[derive(Debug, Clone)]
pub struct CredentialsOverride {
    pub token: StaticToken,
    /// Who the token belongs to, for `status` (the token alone does not say).
    pub user: Option<User>,
}

impl CredentialsOverride {
    /// A Coder session token that does not expire (the demo's, a test's).
    pub fn session_token(access_url: url::Url, token: String, user: Option<User>) -> Self {
        Self {
            token: StaticToken(UpstreamSession {
                access_url,
                access_token: Secret::new(token),
                expires_at: None,
            }),
            user,
        }
    }
}

/// Delegates to the override while there is one, else to the auth room.
/// Signing in or out through the handle drops the override, so the relay
/// follows the user's choice without being rebuilt.
#[derive(Clone)]
pub(crate) struct ActiveCredentials {
    auth: AuthManager,
    fixed: Arc<Mutex<Option<CredentialsOverride>>>,
    pub(crate) auto: Arc<AutoSignIn>,
}

impl std::fmt::Debug for ActiveCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActiveCredentials")
            .field("fixed", &self.fixed().is_some())
            .finish_non_exhaustive()
    }
}

impl ActiveCredentials {
    pub(crate) fn new(
        auth: AuthManager,
        fixed: Option<CredentialsOverride>,
        auto: AutoSignIn,
    ) -> Self {
        Self {
            auth,
            fixed: Arc::new(Mutex::new(fixed)),
            auto: Arc::new(auto),
        }
    }

    pub(crate) fn fixed(&self) -> Option<CredentialsOverride> {
        self.fixed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Use `session` from now on (the demo), instead of the stored one.
    pub(crate) fn set_override(&self, session: CredentialsOverride) {
        *self
            .fixed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(session);
    }

    /// From now on, the auth room's session is the one used.
    pub(crate) fn drop_override(&self) {
        self.fixed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
    }
}

#[async_trait::async_trait]
impl Credentials for ActiveCredentials {
    async fn current(&self) -> Result<UpstreamSession, AuthError> {
        let result = match self.fixed() {
            Some(fixed) => return fixed.token.current().await,
            None => self.auth.current().await,
        };
        self.signed_in_again(result).await
    }

    async fn after_unauthorized(&self, rejected: &Secret) -> Result<UpstreamSession, AuthError> {
        let result = match self.fixed() {
            Some(fixed) => return fixed.token.after_unauthorized(rejected).await,
            None => self.auth.after_unauthorized(rejected).await,
        };
        self.signed_in_again(result).await
    }
}

impl ActiveCredentials {
    /// `result`, unless it says the user must sign in and the automatic
    /// sign-in brought a new session meanwhile.
    async fn signed_in_again(
        &self,
        result: Result<UpstreamSession, AuthError>,
    ) -> Result<UpstreamSession, AuthError> {
        match result {
            Err(e) if e.needs_sign_in() => {
                if self.auto.recover().await {
                    self.auth.current().await
                } else {
                    Err(e)
                }
            }
            other => other,
        }
    }
}
