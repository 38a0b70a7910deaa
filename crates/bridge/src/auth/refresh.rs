//! Renewing the access token: ahead of expiry and after a 401, exactly once
//! however many tasks and processes ask at the same moment.
//!
//! Coder rotates refresh tokens on use with no grace period: a second
//! refresh with the same token fails and signs the user out. So a refresh
//! runs with the in-process gate (the cache mutex) *and* the cross-process
//! `refresh.lock` held, and re-reads the stored tokens after taking the lock:
//! if someone else already rotated them, their result is used instead.

use std::sync::atomic::Ordering;
use std::time::Duration;

use oauth2::{ClientId, ClientSecret, RefreshToken, TokenResponse, TokenUrl};
use time::OffsetDateTime;

use super::client_auth::{ClientAuth, is_client_auth_refusal, says_client_unknown, with_fallback};
use super::http::{OAuthHttp, token_error};
use super::manager::Cache;
use super::state::keys;
use super::store::{SecretStore, blocking};
use super::{Account, AuthError, AuthManager, SessionKind, UpstreamSession};
use crate::secret::Secret;

/// Refresh this long before expiry at most...
const REFRESH_AHEAD: Duration = Duration::from_secs(60);

/// True when an OAuth access token should be renewed now: within a minute
/// of expiry, or within half its lifetime for short-lived tokens (so a
/// token that lives under a minute is not refreshed on every call).
pub(super) fn needs_refresh(account: &Account, now: OffsetDateTime) -> bool {
    if account.kind != SessionKind::Oauth {
        return false;
    }
    let Some(expires_at) = account.expires_at else {
        return false;
    };
    let lifetime: time::Duration = expires_at - account.obtained_at;
    let ahead = time::Duration::try_from(REFRESH_AHEAD).unwrap_or(time::Duration::MINUTE);
    let margin = (lifetime / 2_i32).min(ahead);
    expires_at - now <= margin
}

enum Outcome {
    Refreshed {
        access: Secret,
        refresh: Option<Secret>,
        expires_in: Option<Duration>,
        /// The client authentication method that worked.
        client_auth: ClientAuth,
    },
    /// The server will never accept these credentials again.
    Ended { reason: String, client_gone: bool },
}

impl AuthManager {
    /// Refreshes unless the stored token already differs from `rejected`.
    /// The caller holds the cache lock (the in-process gate).
    pub(super) async fn refresh_locked(
        &self,
        cache: &mut Cache,
        rejected: &Secret,
    ) -> Result<UpstreamSession, AuthError> {
        let _lock = self.state().lock().await?;
        // Another process may have rotated the tokens: read them again now
        // that nobody else can.
        self.reload(cache).await?;
        let Some(loaded) = cache.loaded.clone() else {
            return Err(AuthError::SignedOut);
        };
        let account = loaded.account.clone();
        if account.session_expired {
            return Err(self.expired_error(&account));
        }
        if let Some(access) = &loaded.access
            && access != rejected
            && !needs_refresh(&account, OffsetDateTime::now_utc())
            && let Some(session) = loaded.session()
        {
            tracing::debug!("the token was already renewed elsewhere");
            return Ok(session);
        }
        let outcome = match (account.kind, loaded.refresh.as_ref()) {
            (SessionKind::SessionToken, _) => Outcome::Ended {
                reason: "the session token was rejected".into(),
                client_gone: false,
            },
            (SessionKind::Oauth, None) => Outcome::Ended {
                reason: "no refresh token is stored".into(),
                client_gone: false,
            },
            (SessionKind::Oauth, Some(refresh)) => self.grant(&account, refresh).await?,
        };
        match outcome {
            Outcome::Refreshed {
                access,
                refresh,
                expires_in,
                client_auth,
            } => {
                let now = OffsetDateTime::now_utc();
                let mut updated = account.clone();
                updated.obtained_at = now;
                updated.expires_at = expires_in.map(|d| now + d);
                updated.client_auth = Some(client_auth);
                let store = SecretStore::new(account.secret_store, &self.state().dir);
                let state = self.state().clone();
                let (a, r, written) = (access.clone(), refresh.clone(), updated.clone());
                blocking(move || {
                    // Both in one write where the store allows it. Else the
                    // refresh token first: the server has spent the old
                    // one, so losing the new one would sign the user out,
                    // while an old access token is merely renewed again.
                    let mut entries = Vec::with_capacity(2);
                    if let Some(r) = r {
                        entries.push((keys::refresh_token(&written.deployment), r));
                    }
                    entries.push((keys::access_token(&written.deployment), a));
                    store.set_all(&entries)?;
                    state.write_account(&written)
                })
                .await?;
                self.reload(cache).await?;
                tracing::info!(deployment = %updated.deployment, "renewed the Coder access token");
                cache
                    .loaded
                    .as_ref()
                    .and_then(|l| l.session())
                    .ok_or(AuthError::SignedOut)
            }
            Outcome::Ended {
                reason,
                client_gone,
            } => {
                self.end_session(&account, client_gone).await?;
                self.reload(cache).await?;
                if !self.expired_logged().swap(true, Ordering::Relaxed) {
                    tracing::warn!(deployment = %account.deployment, %reason, "the Coder session ended; sign in again");
                }
                Err(self.expired_error(&account))
            }
        }
    }

    /// The refresh-token grant, with `resource` as on the original request.
    async fn grant(&self, account: &Account, refresh: &Secret) -> Result<Outcome, AuthError> {
        let (Some(client_id), Some(token_endpoint)) = (&account.client_id, &account.token_endpoint)
        else {
            return Ok(Outcome::Ended {
                reason: "the stored session names no OAuth2 client".into(),
                client_gone: false,
            });
        };
        // The endpoint was checked at sign-in; checked again so a tampered
        // account file cannot send the refresh token over plain http.
        super::http::HttpPolicy::from_allow_http(account.allow_http)
            .check(token_endpoint, "token endpoint")?;
        let store = SecretStore::new(account.secret_store, &self.state().dir);
        let key = keys::client_secret(&account.deployment);
        let client_secret = blocking(move || store.get(&key)).await?;
        let has_secret = client_secret.is_some();
        let first = account
            .client_auth
            .unwrap_or_else(|| ClientAuth::choose(None, &[], has_secret));
        let http = OAuthHttp(self.http().clone());
        let refresh_token = RefreshToken::new(refresh.expose().to_string());
        let (result, used) = with_fallback(first, token_endpoint.as_str(), |method| {
            let mut client = oauth2::basic::BasicClient::new(ClientId::new(client_id.clone()))
                .set_token_uri(TokenUrl::from_url(token_endpoint.clone()))
                .set_auth_type(method.auth_type());
            if let Some(secret) = client_secret
                .as_ref()
                .filter(|_| method != ClientAuth::None)
            {
                client = client.set_client_secret(ClientSecret::new(secret.expose().to_string()));
            }
            let (http, refresh_token) = (&http, &refresh_token);
            async move {
                let mut request = client.exchange_refresh_token(refresh_token);
                if let Some(resource) = &account.resource {
                    request = request.add_extra_param("resource", resource.clone());
                }
                if method.needs_form_client_id(has_secret) {
                    request = request.add_extra_param("client_id", client_id.clone());
                }
                request
                    .request_async(http)
                    .await
                    .map_err(|e| token_error(token_endpoint.as_str(), e))
            }
        })
        .await;
        match result {
            Ok(response) => Ok(Outcome::Refreshed {
                access: Secret::new(response.access_token().secret().clone()),
                refresh: response
                    .refresh_token()
                    .map(|r| Secret::new(r.secret().clone())),
                expires_in: response.expires_in(),
                client_auth: used,
            }),
            Err(AuthError::OAuth { error, description }) if error == "invalid_grant" => {
                Ok(Outcome::Ended {
                    reason: description.unwrap_or(error),
                    client_gone: false,
                })
            }
            // The client's credentials were refused with every method: the
            // refresh token cannot be used. The registration goes only when
            // the server says the client does not exist.
            Err(refusal) if is_client_auth_refusal(&refusal) => Ok(Outcome::Ended {
                client_gone: says_client_unknown(&refusal),
                reason: refusal.to_string(),
            }),
            // Network trouble or a server error: keep the tokens, the
            // next call tries again.
            Err(other) => Err(other),
        }
    }

    /// Marks the account expired and deletes its tokens; when the client
    /// itself was refused, forgets the registration too so the next sign-in
    /// makes a new one.
    async fn end_session(&self, account: &Account, client_gone: bool) -> Result<(), AuthError> {
        let store = SecretStore::new(account.secret_store, &self.state().dir);
        let state = self.state().clone();
        let mut ended = account.clone();
        ended.session_expired = true;
        blocking(move || {
            store.delete(&keys::access_token(&ended.deployment))?;
            store.delete(&keys::refresh_token(&ended.deployment))?;
            if client_gone {
                store.delete(&keys::client_secret(&ended.deployment))?;
                store.delete(&keys::registration_token(&ended.deployment))?;
                super::registration::save(&state, &ended.deployment, None)?;
            }
            state.write_account(&ended)
        })
        .await
    }

    pub(super) fn expired_error(&self, account: &Account) -> AuthError {
        AuthError::SessionExpired {
            deployment: account.deployment.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{SecretBackend, User};

    fn account(obtained: OffsetDateTime, lifetime: Option<time::Duration>) -> Account {
        Account {
            deployment: url::Url::parse("https://c.example.com/").unwrap(),
            kind: SessionKind::Oauth,
            user: User {
                id: "1".into(),
                username: "u".into(),
                email: String::new(),
                name: String::new(),
            },
            resource: None,
            client_id: None,
            token_endpoint: None,
            revocation_endpoint: None,
            obtained_at: obtained,
            expires_at: lifetime.map(|l| obtained + l),
            secret_store: SecretBackend::File,
            session_expired: false,
            allow_http: false,
            client_auth: None,
        }
    }

    #[test]
    fn refresh_ahead_margin() {
        let t0 = OffsetDateTime::now_utc();
        let day = account(t0, Some(time::Duration::hours(24)));
        assert!(!needs_refresh(&day, t0 + time::Duration::hours(23)));
        assert!(needs_refresh(&day, t0 + time::Duration::seconds(86_340)));
        let short = account(t0, Some(time::Duration::seconds(10)));
        assert!(!needs_refresh(&short, t0 + time::Duration::seconds(4)));
        assert!(needs_refresh(&short, t0 + time::Duration::seconds(5)));
        assert!(!needs_refresh(
            &account(t0, None),
            t0 + time::Duration::days(400)
        ));
    }
}
