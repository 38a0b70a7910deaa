//! Storing, validating and ending a session: the session-token sign-in,
//! the common "persist a new session" step, and logout.

use std::time::Duration;

use reqwest::StatusCode;
use serde::Serialize;
use time::OffsetDateTime;
use url::Url;

use super::client_auth::ClientAuth;
use super::http::{HttpPolicy, SESSION_TOKEN_HEADER, sensitive_header};
use super::state::{LastSignIn, keys};
use super::store::{SecretStore, blocking};
use super::{Account, AuthError, AuthManager, SessionKind, User, normalize_deployment};
use crate::secret::Secret;

/// How to present a token to Coder's API.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TokenStyle {
    Bearer,
    SessionHeader,
}

/// `GET /api/v2/users/me`: proves the token works and names the user.
pub(crate) async fn fetch_user(
    http: &reqwest::Client,
    deployment: &Url,
    token: &Secret,
    style: TokenStyle,
) -> Result<User, AuthError> {
    let url = deployment
        .join("api/v2/users/me")
        .map_err(|e| AuthError::other_from("cannot build the user URL", e))?;
    let (name, value) = match style {
        TokenStyle::Bearer => (
            http::header::AUTHORIZATION.as_str(),
            sensitive_header(&Secret::new(format!("Bearer {}", token.expose())))?,
        ),
        TokenStyle::SessionHeader => (SESSION_TOKEN_HEADER, sensitive_header(token)?),
    };
    let response = http
        .get(url.clone())
        .header(name, value)
        .send()
        .await
        .map_err(|e| AuthError::unreachable(&url, &e))?;
    match response.status() {
        s if s.is_success() => response
            .json::<User>()
            .await
            .map_err(|e| AuthError::NotCoder {
                url: deployment.to_string(),
                reason: format!("/api/v2/users/me answered with something else than a user: {e}"),
            }),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(AuthError::InvalidToken {
            deployment: deployment.to_string(),
        }),
        other => Err(AuthError::NotCoder {
            url: deployment.to_string(),
            reason: format!("/api/v2/users/me answered {other}"),
        }),
    }
}

/// A session about to be stored.
#[derive(Debug)]
pub(crate) struct NewSession {
    pub(crate) deployment: Url,
    pub(crate) kind: SessionKind,
    pub(crate) user: User,
    pub(crate) resource: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) token_endpoint: Option<Url>,
    pub(crate) revocation_endpoint: Option<Url>,
    pub(crate) expires_in: Option<Duration>,
    /// The user allowed plain http to this deployment (`--allow-http`).
    pub(crate) allow_http: bool,
    /// How the OAuth2 client authenticated (OAuth sessions).
    pub(crate) client_auth: Option<ClientAuth>,
    pub(crate) access: Secret,
    pub(crate) refresh: Option<Secret>,
}

/// What `logout` did.
#[derive(Debug, Clone, Serialize)]
pub struct LogoutReport {
    /// The deployment that was signed in, if any.
    pub deployment: Option<Url>,
    /// Tokens were revoked at the server.
    pub revoked: bool,
    /// Why revocation did not happen or failed (local secrets are deleted anyway).
    pub revoke_note: Option<String>,
}

impl AuthManager {
    /// Signs in with a Coder session token (`coder tokens create`), checked
    /// against `GET /api/v2/users/me`. Never refreshed. Plain http to
    /// another host only where the user allowed it before.
    pub async fn sign_in_with_token(
        &self,
        deployment: &str,
        token: Secret,
    ) -> Result<Account, AuthError> {
        self.sign_in_with_session_token(deployment, token, false)
            .await
    }

    /// [`AuthManager::sign_in_with_token`], with `allow_http` from
    /// `login --allow-http`.
    pub async fn sign_in_with_session_token(
        &self,
        deployment: &str,
        token: Secret,
        allow_http: bool,
    ) -> Result<Account, AuthError> {
        let deployment = normalize_deployment(deployment)?;
        let allow_http = allow_http || self.remembers_allow_http(&deployment);
        HttpPolicy::from_allow_http(allow_http).check(&deployment, "deployment URL")?;
        let token = Secret::new(token.expose().trim().to_string());
        if token.is_empty() {
            return Err(AuthError::InvalidToken {
                deployment: deployment.to_string(),
            });
        }
        let user = fetch_user(self.http(), &deployment, &token, TokenStyle::SessionHeader).await?;
        let (choice, dir) = (self.store_choice(), self.state().dir.clone());
        let store = blocking(move || SecretStore::choose(choice, &dir)).await?;
        let session = NewSession {
            deployment,
            kind: SessionKind::SessionToken,
            user,
            resource: None,
            client_id: None,
            token_endpoint: None,
            revocation_endpoint: None,
            expires_in: None,
            allow_http,
            client_auth: None,
            access: token,
            refresh: None,
        };
        self.persist_session(&store, session).await
    }

    /// Writes a new session under the state lock: secrets first, then
    /// `account.json`, whose change tells other processes to reload.
    pub(crate) async fn persist_session(
        &self,
        store: &SecretStore,
        session: NewSession,
    ) -> Result<Account, AuthError> {
        let now = OffsetDateTime::now_utc();
        let account = Account {
            deployment: session.deployment.clone(),
            kind: session.kind,
            user: session.user,
            resource: session.resource,
            client_id: session.client_id,
            token_endpoint: session.token_endpoint,
            revocation_endpoint: session.revocation_endpoint,
            obtained_at: now,
            expires_at: session.expires_in.map(|d| now + d),
            secret_store: store.backend(),
            session_expired: false,
            allow_http: session.allow_http,
            client_auth: session.client_auth,
        };
        let lock = self.state().lock().await?;
        let previous = self.state().read_account()?;
        let (store, state, written) = (store.clone(), self.state().clone(), account.clone());
        let (access, refresh) = (session.access, session.refresh);
        blocking(move || {
            // Signed in elsewhere, or with the other store: the old tokens go.
            if let Some(old) = previous.filter(|p| {
                p.deployment != written.deployment || p.secret_store != written.secret_store
            }) {
                let old_store = SecretStore::new(old.secret_store, &state.dir);
                old_store.delete(&keys::access_token(&old.deployment))?;
                old_store.delete(&keys::refresh_token(&old.deployment))?;
            }
            store.set(&keys::access_token(&written.deployment), &access)?;
            match &refresh {
                Some(r) => store.set(&keys::refresh_token(&written.deployment), r)?,
                None => store.delete(&keys::refresh_token(&written.deployment))?,
            }
            state.write_account(&written)?;
            // Remembered beyond this session: see `AuthManager::sign_in_target`.
            let last = LastSignIn {
                deployment: written.deployment.clone(),
                kind: written.kind,
                allow_http: written.allow_http,
            };
            if let Err(e) = state.write_last_sign_in(&last) {
                tracing::warn!(error = %e, "cannot remember the deployment for a later sign-in");
            }
            Ok(())
        })
        .await?;
        // Never wait for the cache gate while holding the file lock: a
        // refresh holds the gate and waits for the file lock.
        drop(lock);
        self.forget_cache().await;
        tracing::info!(deployment = %account.deployment, user = %account.user.username, kind = ?account.kind, store = ?account.secret_store, "signed in");
        Ok(account)
    }

    /// Revokes the session at the server (OAuth sessions) and deletes the
    /// local tokens and account. Idempotent. A pasted session token is not
    /// revoked: it may be the user's own CLI session, which we did not create.
    pub async fn logout(&self) -> Result<LogoutReport, AuthError> {
        let lock = self.state().lock().await?;
        let Some(account) = self.state().read_account()? else {
            drop(lock);
            self.forget_cache().await;
            return Ok(LogoutReport {
                deployment: None,
                revoked: false,
                revoke_note: Some("not signed in".into()),
            });
        };
        let store = SecretStore::new(account.secret_store, &self.state().dir);
        let (access, refresh, client_secret) = {
            let (store, d) = (store.clone(), account.deployment.clone());
            blocking(move || {
                Ok((
                    store.get(&keys::access_token(&d))?,
                    store.get(&keys::refresh_token(&d))?,
                    store.get(&keys::client_secret(&d))?,
                ))
            })
            .await?
        };
        let (revoked, revoke_note) = match account.kind {
            SessionKind::SessionToken => (
                false,
                Some("session tokens are not revoked: delete it with `coder tokens rm` if you no longer need it".into()),
            ),
            SessionKind::Oauth => {
                self.revoke(&account, client_secret, [refresh, access])
                    .await
            }
        };
        let (state, d) = (self.state().clone(), account.deployment.clone());
        blocking(move || {
            store.delete(&keys::access_token(&d))?;
            store.delete(&keys::refresh_token(&d))?;
            state.remove_account()
        })
        .await?;
        drop(lock);
        self.forget_cache().await;
        tracing::info!(deployment = %account.deployment, revoked, "signed out");
        Ok(LogoutReport {
            deployment: Some(account.deployment),
            revoked,
            revoke_note,
        })
    }
}
