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

mod grants;

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

    /// Adds (or replaces) an app with fixed credentials.
    pub(crate) fn put_app(&self, spec: &AppSpec) {
        self.insert_app_spec(spec);
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
