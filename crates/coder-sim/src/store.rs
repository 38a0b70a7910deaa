//! Identity and OAuth2 state: users, API keys, apps, codes, refresh tokens.
//!
//! Modelled on coderd: an OAuth2 access token is an ordinary API key
//! (`<10-char id>-<22-char secret>`), linked to the app and to the audience
//! (`resource`) it was issued for; refresh tokens and codes are
//! `coder_<prefix>_<secret>` secrets stored hashed. Locks are std mutexes and
//! are never held across an await.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rand::Rng;
use rand::distr::Alphanumeric;
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::config::{AppSpec, SimConfig};

/// A Coder user as `GET /api/v2/users/me` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub name: String,
}

/// Who made a request, once its token checked out.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub user: User,
    /// The audience an OAuth2 token was issued for; `None` for session
    /// tokens and OAuth2 tokens issued without `resource`.
    pub audience: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    Invalid(&'static str),
    Expired,
}

/// An OAuth2 app (pre-registered or dynamically registered).
#[derive(Debug, Clone)]
pub(crate) struct App {
    pub client_id: String,
    pub name: String,
    secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    pub auth_method: String,
    pub grant_types: Vec<String>,
    pub response_types: Vec<String>,
    pub scope: Option<String>,
    registration_token_hash: Option<String>,
    pub issued_at: i64,
}

impl App {
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }
    pub fn secret_matches(&self, secret: &str) -> bool {
        self.secret_hash.as_deref() == Some(hash(secret).as_str())
    }
    pub fn registration_token_matches(&self, token: &str) -> bool {
        self.registration_token_hash.as_deref() == Some(hash(token).as_str())
    }
}

/// What an app registration asks for (library API and DCR alike).
#[derive(Debug, Clone)]
pub(crate) struct AppRequest {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub auth_method: String,
    pub grant_types: Vec<String>,
    pub response_types: Vec<String>,
    pub scope: Option<String>,
}

/// Credentials handed out for a new app; the secrets are only shown once.
#[derive(Debug, Clone)]
pub(crate) struct NewApp {
    pub app: App,
    pub client_secret: Option<String>,
    pub registration_access_token: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct CodeGrant {
    pub app_id: String,
    pub user_id: Uuid,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub resource: Option<String>,
    expires_at: OffsetDateTime,
}

/// What the token endpoint returns.
#[derive(Debug, Clone)]
pub(crate) struct IssuedToken {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
struct OAuthLink {
    app_id: String,
    audience: Option<String>,
}

#[derive(Debug, Clone)]
struct Key {
    secret_hash: String,
    user_id: Uuid,
    expires_at: OffsetDateTime,
    oauth: Option<OAuthLink>,
}

#[derive(Debug, Clone)]
struct RefreshRecord {
    hash: String,
    key_id: String,
    app_id: String,
    user_id: Uuid,
    audience: Option<String>,
    expires_at: OffsetDateTime,
}

#[derive(Debug, Default)]
struct Data {
    users: Vec<User>,
    keys: HashMap<String, Key>,
    apps: HashMap<String, App>,
    codes: HashMap<String, (String, CodeGrant)>,
    refresh: HashMap<String, RefreshRecord>,
    consents: HashMap<String, (OffsetDateTime, Vec<(String, String)>)>,
}

#[derive(Debug, Default)]
pub(crate) struct Store {
    data: Mutex<Data>,
}

const CODE_LIFETIME: Duration = Duration::from_secs(10 * 60);

impl Store {
    pub fn new(config: &SimConfig) -> Self {
        let demo = User {
            id: Uuid::new_v4(),
            username: "demo".into(),
            email: "demo@example.com".into(),
            name: "Demo User".into(),
        };
        let alice = User {
            id: Uuid::new_v4(),
            username: "alice".into(),
            email: "alice@example.com".into(),
            name: "Alice Admin".into(),
        };
        let store = Self::default();
        {
            let mut data = store.lock();
            if let Some((id, secret)) = config.session_token.split_once('-') {
                data.keys.insert(
                    id.to_owned(),
                    Key {
                        secret_hash: hash(secret),
                        user_id: demo.id,
                        expires_at: OffsetDateTime::now_utc() + time::Duration::days(365),
                        oauth: None,
                    },
                );
            }
            data.users = vec![demo, alice];
        }
        for spec in &config.apps {
            store.insert_app_spec(spec);
        }
        store
    }

    fn lock(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn demo_user(&self) -> User {
        self.lock().users[0].clone()
    }

    pub fn users(&self) -> Vec<User> {
        self.lock().users.clone()
    }

    /// Checks an API key (session or OAuth2) the way coderd's apikey
    /// middleware does: id lookup, secret hash, expiry.
    pub fn authenticate(&self, token: &str) -> Result<Caller, AuthFailure> {
        let Some((id, secret)) = token.split_once('-') else {
            return Err(AuthFailure::Invalid("Invalid API key format."));
        };
        let data = self.lock();
        let key = data
            .keys
            .get(id)
            .ok_or(AuthFailure::Invalid("API key is invalid."))?;
        if key.secret_hash != hash(secret) {
            return Err(AuthFailure::Invalid("API key secret is invalid."));
        }
        if key.expires_at <= OffsetDateTime::now_utc() {
            return Err(AuthFailure::Expired);
        }
        let user = data
            .users
            .iter()
            .find(|u| u.id == key.user_id)
            .cloned()
            .ok_or(AuthFailure::Invalid("API key owner no longer exists."))?;
        Ok(Caller {
            user,
            audience: key.oauth.as_ref().and_then(|o| o.audience.clone()),
        })
    }

    /// A new Coder session token for the demo user.
    pub fn create_session_token(&self, lifetime: Duration) -> String {
        let mut data = self.lock();
        let user_id = data.users[0].id;
        let (token, id, key) = new_key(user_id, lifetime, None);
        data.keys.insert(id, key);
        token
    }

    pub fn expire_oauth_access_tokens(&self) {
        let past = OffsetDateTime::now_utc() - time::Duration::seconds(1);
        for key in self.lock().keys.values_mut() {
            if key.oauth.is_some() {
                key.expires_at = past;
            }
        }
    }

    fn insert_app_spec(&self, spec: &AppSpec) {
        let app = App {
            client_id: spec.client_id.clone(),
            name: spec.name.clone(),
            secret_hash: spec.client_secret.as_deref().map(hash),
            redirect_uris: spec.redirect_uris.clone(),
            auth_method: if spec.client_secret.is_some() {
                "client_secret_basic".into()
            } else {
                "none".into()
            },
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            response_types: vec!["code".into()],
            scope: None,
            registration_token_hash: None,
            issued_at: OffsetDateTime::now_utc().unix_timestamp(),
        };
        self.lock().apps.insert(app.client_id.clone(), app);
    }

    /// Creates an app; `dynamic` also issues an RFC 7592 registration token.
    pub fn create_app(&self, request: AppRequest, dynamic: bool) -> NewApp {
        let client_secret = (request.auth_method != "none").then(coder_secret_string);
        let registration_access_token = dynamic.then(coder_secret_string);
        let app = App {
            client_id: Uuid::new_v4().to_string(),
            name: request.name,
            secret_hash: client_secret.as_deref().map(hash),
            redirect_uris: request.redirect_uris,
            auth_method: request.auth_method,
            grant_types: request.grant_types,
            response_types: request.response_types,
            scope: request.scope,
            registration_token_hash: registration_access_token.as_deref().map(hash),
            issued_at: OffsetDateTime::now_utc().unix_timestamp(),
        };
        self.lock().apps.insert(app.client_id.clone(), app.clone());
        NewApp {
            app,
            client_secret,
            registration_access_token,
        }
    }

    pub fn app(&self, client_id: &str) -> Option<App> {
        self.lock().apps.get(client_id).cloned()
    }

    /// RFC 7592 update: metadata changes, credentials stay.
    pub fn update_app(&self, client_id: &str, request: AppRequest) -> Option<App> {
        let mut data = self.lock();
        let app = data.apps.get_mut(client_id)?;
        app.name = request.name;
        app.redirect_uris = request.redirect_uris;
        app.grant_types = request.grant_types;
        app.response_types = request.response_types;
        app.scope = request.scope;
        Some(app.clone())
    }

    /// Deletes an app and every token issued to it.
    pub fn delete_app(&self, client_id: &str) -> bool {
        let mut data = self.lock();
        let existed = data.apps.remove(client_id).is_some();
        data.keys
            .retain(|_, k| k.oauth.as_ref().is_none_or(|o| o.app_id != client_id));
        data.refresh.retain(|_, r| r.app_id != client_id);
        data.codes.retain(|_, (_, c)| c.app_id != client_id);
        existed
    }

    pub fn issue_code(&self, grant: CodeGrantRequest) -> String {
        let (formatted, prefix, secret_hash) = coder_secret();
        let grant = CodeGrant {
            app_id: grant.app_id,
            user_id: grant.user_id,
            redirect_uri: grant.redirect_uri,
            code_challenge: grant.code_challenge,
            resource: grant.resource,
            expires_at: OffsetDateTime::now_utc() + CODE_LIFETIME,
        };
        self.lock().codes.insert(prefix, (secret_hash, grant));
        formatted
    }

    /// Codes are single-use: any attempt consumes the code.
    pub fn take_code(&self, code: &str) -> Option<CodeGrant> {
        let (prefix, secret) = split_coder_secret(code)?;
        let (secret_hash, grant) = self.lock().codes.remove(prefix)?;
        (secret_hash == hash(secret) && grant.expires_at > OffsetDateTime::now_utc())
            .then_some(grant)
    }

    /// Issues an access + refresh token pair. With `replace`, every earlier
    /// token of this user for this app is deleted first (Coder keeps one live
    /// key per user and app after a code exchange).
    pub fn issue_token(
        &self,
        app_id: &str,
        user_id: Uuid,
        audience: Option<String>,
        lifetimes: (Duration, Duration),
        replace: bool,
    ) -> IssuedToken {
        let mut data = self.lock();
        if replace {
            data.keys.retain(|_, k| {
                !(k.user_id == user_id && k.oauth.as_ref().is_some_and(|o| o.app_id == app_id))
            });
            data.refresh
                .retain(|_, r| !(r.user_id == user_id && r.app_id == app_id));
        }
        let link = OAuthLink {
            app_id: app_id.to_owned(),
            audience: audience.clone(),
        };
        let (access_token, key_id, key) = new_key(user_id, lifetimes.0, Some(link));
        let expires_at = key.expires_at;
        data.keys.insert(key_id.clone(), key);
        let (refresh_token, prefix, refresh_hash) = coder_secret();
        data.refresh.insert(
            prefix,
            RefreshRecord {
                hash: refresh_hash,
                key_id,
                app_id: app_id.to_owned(),
                user_id,
                audience,
                expires_at: OffsetDateTime::now_utc() + lifetimes.1,
            },
        );
        IssuedToken {
            access_token,
            refresh_token,
            expires_at,
        }
    }

    /// Consumes a refresh token: no grace period, and the access key it was
    /// paired with is deleted, as in coderd. A `resource` that differs from
    /// the original audience is refused before anything is consumed.
    /// Returns the user and audience for the new token.
    pub fn consume_refresh(
        &self,
        token: &str,
        app_id: &str,
        resource: Option<&str>,
    ) -> Result<(Uuid, Option<String>), RefreshError> {
        let (prefix, secret) = split_coder_secret(token).ok_or(RefreshError::InvalidGrant)?;
        let mut data = self.lock();
        let record = data.refresh.get(prefix).ok_or(RefreshError::InvalidGrant)?;
        if record.hash != hash(secret) || record.app_id != app_id {
            return Err(RefreshError::InvalidGrant);
        }
        if let Some(resource) = resource
            && !record
                .audience
                .as_deref()
                .is_some_and(|aud| crate::state::same_resource(aud, resource))
        {
            return Err(RefreshError::InvalidTarget);
        }
        let record = data
            .refresh
            .remove(prefix)
            .ok_or(RefreshError::InvalidGrant)?;
        data.keys.remove(&record.key_id);
        if record.expires_at <= OffsetDateTime::now_utc() {
            return Err(RefreshError::InvalidGrant);
        }
        Ok((record.user_id, record.audience))
    }

    /// RFC 7009 revocation of an access or refresh token issued to `app_id`.
    pub fn revoke(&self, token: &str, app_id: &str) -> bool {
        let mut data = self.lock();
        if let Some((prefix, secret)) = split_coder_secret(token) {
            let Some(record) = data.refresh.get(prefix) else {
                return false;
            };
            if record.hash != hash(secret) || record.app_id != app_id {
                return false;
            }
            if let Some(record) = data.refresh.remove(prefix) {
                data.keys.remove(&record.key_id);
            }
            return true;
        }
        let Some((id, secret)) = token.split_once('-') else {
            return false;
        };
        let owned = data.keys.get(id).is_some_and(|k| {
            k.secret_hash == hash(secret) && k.oauth.as_ref().is_some_and(|o| o.app_id == app_id)
        });
        if owned {
            data.keys.remove(id);
            data.refresh.retain(|_, r| r.key_id != id);
        }
        owned
    }

    /// Remembers the parameters behind a consent page under its CSRF token.
    pub fn put_consent(&self, csrf: &str, params: Vec<(String, String)>) {
        let now = OffsetDateTime::now_utc();
        let mut data = self.lock();
        data.consents.retain(|_, (at, _)| *at > now);
        data.consents
            .insert(csrf.to_owned(), (now + CODE_LIFETIME, params));
    }

    pub fn take_consent(&self, csrf: &str) -> Option<Vec<(String, String)>> {
        let (expires, params) = self.lock().consents.remove(csrf)?;
        (expires > OffsetDateTime::now_utc()).then_some(params)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefreshError {
    InvalidGrant,
    InvalidTarget,
}

#[derive(Debug, Clone)]
pub(crate) struct CodeGrantRequest {
    pub app_id: String,
    pub user_id: Uuid,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub resource: Option<String>,
}

fn new_key(user_id: Uuid, lifetime: Duration, oauth: Option<OAuthLink>) -> (String, String, Key) {
    let id = random_alnum(10);
    let secret = random_alnum(22);
    let key = Key {
        secret_hash: hash(&secret),
        user_id,
        expires_at: OffsetDateTime::now_utc() + lifetime,
        oauth,
    };
    (format!("{id}-{secret}"), id, key)
}

pub(crate) fn random_alnum(len: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

pub(crate) fn hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A Coder-style secret `coder_<10>_<40>`: (formatted, prefix, secret hash).
fn coder_secret() -> (String, String, String) {
    // Lower-case only: Coder's secrets never contain '_' in their parts, and
    // the prefix is looked up as-is.
    let prefix = random_alnum(10).to_ascii_lowercase();
    let secret = random_alnum(40);
    (format!("coder_{prefix}_{secret}"), prefix, hash(&secret))
}

pub(crate) fn coder_secret_string() -> String {
    coder_secret().0
}

fn split_coder_secret(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix("coder_")?;
    rest.split_once('_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app_request(method: &str) -> AppRequest {
        AppRequest {
            name: "t".into(),
            redirect_uris: vec!["http://127.0.0.1/cb".into()],
            auth_method: method.into(),
            grant_types: vec!["authorization_code".into()],
            response_types: vec!["code".into()],
            scope: None,
        }
    }

    #[test]
    fn refresh_is_single_use_and_kills_old_key() {
        let store = Store::new(&SimConfig::default());
        let user = store.demo_user();
        let app = store
            .create_app(app_request("client_secret_post"), false)
            .app;
        let lifetimes = (Duration::from_secs(60), Duration::from_secs(60));
        let issued = store.issue_token(&app.client_id, user.id, None, lifetimes, true);
        assert!(store.authenticate(&issued.access_token).is_ok());
        assert!(
            store
                .consume_refresh(&issued.refresh_token, &app.client_id, None)
                .is_ok()
        );
        assert_eq!(
            store.consume_refresh(&issued.refresh_token, &app.client_id, None),
            Err(RefreshError::InvalidGrant)
        );
        assert!(store.authenticate(&issued.access_token).is_err());
    }

    #[test]
    fn secrets_have_coder_shape() {
        let s = coder_secret_string();
        let (prefix, secret) = split_coder_secret(&s).expect("shape");
        assert_eq!((prefix.len(), secret.len()), (10, 40));
        let store = Store::new(&SimConfig::default());
        let public = store.create_app(app_request("none"), true);
        assert!(public.client_secret.is_none() && public.app.is_public());
        assert!(public.registration_access_token.is_some());
    }
}
