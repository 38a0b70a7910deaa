//! Non-secret sign-in state on disk, and the lock that serialises every
//! change to it across processes.
//!
//! `account.json` says who is signed in where, until when, and which secret
//! store holds the tokens. `refresh.lock` is held (an exclusive
//! [`crate::private_files::FileLock`]) while tokens are rotated,
//! registrations made, or the account written or removed: Coder's refresh tokens are single-use with no grace, so two
//! processes refreshing at once would sign the user out.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use url::Url;

use super::AuthError;
use super::store::{SecretBackend, write_private};

pub(crate) const ACCOUNT_FILE: &str = "account.json";
pub(crate) const LOCK_FILE: &str = "refresh.lock";
/// Where the user last signed in; outlives `account.json` (logout, a
/// session the server ended) so agents can bring the user back to it.
pub(crate) const LAST_SIGN_IN_FILE: &str = "last-sign-in.json";

/// How the account signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// OAuth2 authorization code with PKCE; refreshable.
    Oauth,
    /// A Coder session token pasted by the user; never refreshed.
    SessionToken,
}

/// The Coder user, as `GET /api/v2/users/me` describes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub username: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub name: String,
}

/// Who is signed in where. No secrets: safe to show and serialise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// The deployment's access URL (normalised, trailing slash).
    pub deployment: Url,
    pub kind: SessionKind,
    pub user: User,
    /// The `resource` sent on token and refresh requests.
    #[serde(default)]
    pub resource: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub token_endpoint: Option<Url>,
    #[serde(default)]
    pub revocation_endpoint: Option<Url>,
    /// When the access token was issued (for refresh-ahead timing).
    #[serde(with = "time::serde::rfc3339")]
    pub obtained_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    pub secret_store: SecretBackend,
    /// Set when the server refused to renew the session: the user must sign
    /// in again. Kept (rather than deleting the account) so `status` can say
    /// which deployment to sign in to.
    #[serde(default)]
    pub session_expired: bool,
    /// The user allowed plain `http://` to this deployment (`--allow-http`);
    /// refreshes and revocations honour it, and nothing else may downgrade.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_http: bool,
    /// How the OAuth2 client authenticates at the token and revocation
    /// endpoints (what worked at sign-in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_auth: Option<super::ClientAuth>,
}

impl Account {
    pub fn expires_at_system(&self) -> Option<SystemTime> {
        self.expires_at.map(SystemTime::from)
    }
}

/// The deployment the user last signed in to, and how. No secrets; kept
/// after the tokens are gone so the bridge knows where to sign in again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastSignIn {
    pub deployment: Url,
    pub kind: SessionKind,
    /// See [`Account::allow_http`]; kept so a later sign-in to the same
    /// deployment (such as one the daemon starts) needs no flag again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_http: bool,
}

/// Keys of the secrets belonging to a deployment.
pub(crate) mod keys {
    use url::Url;

    pub(crate) fn access_token(deployment: &Url) -> String {
        format!("{deployment}#access_token")
    }
    pub(crate) fn refresh_token(deployment: &Url) -> String {
        format!("{deployment}#refresh_token")
    }
    pub(crate) fn client_secret(deployment: &Url) -> String {
        format!("{deployment}#client_secret")
    }
    pub(crate) fn registration_token(deployment: &Url) -> String {
        format!("{deployment}#registration_access_token")
    }
}

/// The files under one config directory.
#[derive(Debug, Clone)]
pub(crate) struct StateDir {
    pub(crate) dir: PathBuf,
}

impl StateDir {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn account_path(&self) -> PathBuf {
        self.dir.join(ACCOUNT_FILE)
    }

    pub(crate) fn read_account(&self) -> Result<Option<Account>, AuthError> {
        read_json(&self.account_path())
    }

    pub(crate) fn write_account(&self, account: &Account) -> Result<(), AuthError> {
        write_json(&self.account_path(), account)
    }

    pub(crate) fn read_last_sign_in(&self) -> Result<Option<LastSignIn>, AuthError> {
        read_json(&self.dir.join(LAST_SIGN_IN_FILE))
    }

    pub(crate) fn write_last_sign_in(&self, last: &LastSignIn) -> Result<(), AuthError> {
        write_json(&self.dir.join(LAST_SIGN_IN_FILE), last)
    }

    pub(crate) fn remove_account(&self) -> Result<(), AuthError> {
        match std::fs::remove_file(self.account_path()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(AuthError::storage_from(
                format!("cannot remove {}", self.account_path().display()),
                e,
            )),
        }
    }

    /// Modification time of `account.json`, to notice another process's
    /// sign-in, refresh or sign-out without re-reading the keychain.
    pub(crate) fn account_stamp(&self) -> Option<SystemTime> {
        std::fs::metadata(self.account_path())
            .and_then(|m| m.modified())
            .ok()
    }

    /// Takes the cross-process lock, waiting for another holder.
    pub(crate) async fn lock(&self) -> Result<StateLock, AuthError> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || StateLock::acquire(&dir))
            .await
            .map_err(|e| AuthError::other_from("lock task failed", e))?
    }
}

/// Held while tokens, registrations or the account change. Released on drop.
#[derive(Debug)]
pub(crate) struct StateLock {
    _lock: crate::private_files::FileLock,
}

impl StateLock {
    fn acquire(dir: &Path) -> Result<Self, AuthError> {
        let path = dir.join(LOCK_FILE);
        crate::private_files::ensure_dir(dir)
            .and_then(|()| crate::private_files::FileLock::acquire(&path))
            .map(|lock| Self { _lock: lock })
            .map_err(|e| AuthError::storage_from(format!("cannot lock {}", path.display()), e))
    }
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<Option<T>, AuthError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| AuthError::storage_from(format!("{} is not valid", path.display()), e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(AuthError::storage_from(
            format!("cannot read {}", path.display()),
            e,
        )),
    }
}

pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), AuthError> {
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| AuthError::storage_from(format!("cannot encode {}", path.display()), e))?;
    write_private(path, &bytes)
}
