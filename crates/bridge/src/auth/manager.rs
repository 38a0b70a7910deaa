//! [`AuthManager`]: the auth room's handle. Implements [`Credentials`] for
//! the relay, and is what sign-in, logout and status go through.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::SystemTime;

use serde::Serialize;
use time::OffsetDateTime;
use url::Url;

use super::state::{StateDir, keys};
use super::store::{SecretBackend, SecretStore, StoreChoice, blocking};
use super::{Account, AuthError, Credentials, LastSignIn, SessionKind, UpstreamSession, User};
use crate::secret::Secret;

/// The user's Coder session, backed by `<config dir>`. Cheap to clone.
#[derive(Clone)]
pub struct AuthManager {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AuthManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthManager")
            .field("config_dir", &self.inner.state.dir)
            .field("store_choice", &self.inner.store_choice)
            .finish_non_exhaustive()
    }
}

struct Inner {
    state: StateDir,
    store_choice: StoreChoice,
    http: reqwest::Client,
    /// The cached session; also the in-process single-flight gate for
    /// refreshes (held across the refresh).
    cache: tokio::sync::Mutex<Cache>,
    /// The last session handed out and the `account.json` stamp it rests
    /// on: lets [`Credentials::current`] answer with one `stat` and a short
    /// lock instead of the async gate (every upstream request asks). Only
    /// written and cleared while holding `cache`, so it never outlives a
    /// reload or a sign-out in this process; a change by another process
    /// changes the stamp and sends the next call down the gated path.
    fast: std::sync::Mutex<Option<Snapshot>>,
    /// "Session expired" is logged once, not on every call after it.
    pub(super) expired_logged: AtomicBool,
}

struct Snapshot {
    stamp: Option<SystemTime>,
    loaded: Loaded,
}

#[derive(Default)]
pub(super) struct Cache {
    /// `account.json`'s modification time when `loaded` was read.
    pub(super) stamp: Option<SystemTime>,
    pub(super) valid: bool,
    pub(super) loaded: Option<Loaded>,
}

#[derive(Debug, Clone)]
pub(super) struct Loaded {
    pub(super) account: Account,
    pub(super) access: Option<Secret>,
    pub(super) refresh: Option<Secret>,
}

impl Loaded {
    pub(super) fn session(&self) -> Option<UpstreamSession> {
        Some(UpstreamSession {
            access_url: self.account.deployment.clone(),
            access_token: self.access.clone()?,
            expires_at: self.account.expires_at_system(),
        })
    }
}

/// What `status` shows. No secrets.
#[derive(Debug, Clone, Serialize)]
pub struct AuthStatus {
    /// A usable (or renewable) session is stored.
    pub signed_in: bool,
    pub deployment: Option<Url>,
    pub user: Option<User>,
    pub kind: Option<SessionKind>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// The server refused to renew the session; sign in again.
    pub session_expired: bool,
    pub secret_store: Option<SecretBackend>,
    /// Human wording of `secret_store`.
    pub secret_store_description: Option<String>,
    /// Signed out, the deployment last signed in to (it is where agents'
    /// requests will ask the user to sign in again).
    pub last_deployment: Option<Url>,
    /// Problem reading the stored state, if any.
    pub error: Option<String>,
}

impl AuthManager {
    /// A manager over `config_dir`, choosing the secret store from
    /// `CODER_BRIDGE_SECRET_STORE` (else the keychain when reachable). Reads
    /// nothing yet: errors surface on first use.
    pub fn load(config_dir: impl Into<PathBuf>) -> Self {
        Self::with_store(config_dir, StoreChoice::from_env())
    }

    /// [`AuthManager::load`] with the platform config directory.
    pub fn load_default() -> Self {
        Self::load(crate::paths::config_dir())
    }

    /// A manager with an explicit secret-store choice (tests, the tray's settings).
    pub fn with_store(config_dir: impl Into<PathBuf>, store_choice: StoreChoice) -> Self {
        let http = super::http::client().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "falling back to a default HTTP client");
            reqwest::Client::default()
        });
        Self {
            inner: Arc::new(Inner {
                state: StateDir::new(config_dir.into()),
                store_choice,
                http,
                cache: tokio::sync::Mutex::new(Cache::default()),
                fast: std::sync::Mutex::new(None),
                expired_logged: AtomicBool::new(false),
            }),
        }
    }

    pub fn config_dir(&self) -> &Path {
        &self.inner.state.dir
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    pub(crate) fn state(&self) -> &StateDir {
        &self.inner.state
    }

    pub(crate) fn store_choice(&self) -> StoreChoice {
        self.inner.store_choice
    }

    pub(super) fn expired_logged(&self) -> &AtomicBool {
        &self.inner.expired_logged
    }

    /// Drops the cached session so the next call re-reads the disk.
    pub(crate) async fn forget_cache(&self) {
        let mut cache = self.inner.cache.lock().await;
        self.clear_fast();
        *cache = Cache::default();
    }

    fn fast(&self) -> std::sync::MutexGuard<'_, Option<Snapshot>> {
        // Every update is a whole-value assignment: poisoning leaves it consistent.
        self.inner
            .fast
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Forgets the snapshot; the caller holds the cache gate.
    fn clear_fast(&self) {
        *self.fast() = None;
    }

    /// The snapshot's session while `account.json` is unchanged and the
    /// session needs no renewal yet; `None` sends the caller down the gated
    /// path.
    fn fast_session(&self) -> Option<UpstreamSession> {
        let stamp = self.inner.state.account_stamp();
        let fast = self.fast();
        let snap = fast.as_ref()?;
        if snap.stamp != stamp
            || snap.loaded.account.session_expired
            || super::refresh::needs_refresh(&snap.loaded.account, OffsetDateTime::now_utc())
        {
            return None;
        }
        snap.loaded.session()
    }

    /// Starts a browser sign-in; see [`super::SignIn`]. Open the returned
    /// `authorize_url()`, then await `finish()` (which may run on a task).
    pub async fn start_sign_in(
        &self,
        options: super::SignInOptions,
    ) -> Result<super::SignIn, AuthError> {
        super::SignIn::start(self, options).await
    }

    /// The stored account, if any, without touching secrets or the network.
    pub fn account(&self) -> Result<Option<Account>, AuthError> {
        self.inner.state.read_account()
    }

    /// Where to sign in again when there is no usable session: the stored
    /// account's deployment (its session ended), else the one last signed
    /// in to (the user signed out). `None` when the user never signed in.
    pub fn sign_in_target(&self) -> Result<Option<LastSignIn>, AuthError> {
        if let Some(account) = self.inner.state.read_account()? {
            return Ok(Some(LastSignIn {
                deployment: account.deployment,
                kind: account.kind,
                allow_http: account.allow_http,
            }));
        }
        self.inner.state.read_last_sign_in()
    }

    /// Whether the user allowed plain http to `deployment` at an earlier
    /// sign-in (`--allow-http`), so a sign-in without the flag keeps it.
    pub fn remembers_allow_http(&self, deployment: &Url) -> bool {
        matches!(self.sign_in_target(), Ok(Some(last)) if last.allow_http && &last.deployment == deployment)
    }

    /// "Signed out", naming the deployment to sign in to again when known.
    fn signed_out_error(&self) -> AuthError {
        match self.inner.state.read_last_sign_in() {
            Ok(Some(last)) => AuthError::SignedOutOf {
                deployment: last.deployment.to_string(),
            },
            _ => AuthError::SignedOut,
        }
    }

    /// The sign-in state for `status`, the UI and the tray. Never refreshes.
    pub async fn status(&self) -> AuthStatus {
        let mut status = AuthStatus {
            signed_in: false,
            deployment: None,
            user: None,
            kind: None,
            expires_at: None,
            session_expired: false,
            secret_store: None,
            secret_store_description: None,
            last_deployment: None,
            error: None,
        };
        match read_disk(self.inner.state.clone()).await {
            Ok(None) => match self.inner.state.read_last_sign_in() {
                Ok(last) => status.last_deployment = last.map(|l| l.deployment),
                Err(e) => status.error = Some(e.to_string()),
            },
            Ok(Some(loaded)) => {
                let a = &loaded.account;
                let renewable = loaded.access.is_some()
                    && (a.kind == SessionKind::SessionToken
                        || loaded.refresh.is_some()
                        || a.expires_at.is_none_or(|t| t > OffsetDateTime::now_utc()));
                status.signed_in = renewable && !a.session_expired;
                status.deployment = Some(a.deployment.clone());
                status.user = Some(a.user.clone());
                status.kind = Some(a.kind);
                status.expires_at = a.expires_at;
                status.session_expired = a.session_expired || !renewable;
                status.secret_store = Some(a.secret_store);
                status.secret_store_description = Some(a.secret_store.describe().to_string());
            }
            Err(e) => status.error = Some(e.to_string()),
        }
        status
    }

    /// Brings the cache up to date with the disk when `account.json` changed
    /// (another process signed in, refreshed or signed out).
    pub(super) async fn sync_cache(&self, cache: &mut Cache) -> Result<(), AuthError> {
        let stamp = self.inner.state.account_stamp();
        if cache.valid && cache.stamp == stamp {
            return Ok(());
        }
        self.reload(cache).await
    }

    /// Re-reads account and tokens from disk unconditionally.
    pub(super) async fn reload(&self, cache: &mut Cache) -> Result<(), AuthError> {
        self.clear_fast();
        let stamp = self.inner.state.account_stamp();
        let loaded = read_disk(self.inner.state.clone()).await?;
        if loaded.as_ref().is_some_and(|l| !l.account.session_expired) {
            self.expired_logged()
                .store(false, std::sync::atomic::Ordering::Relaxed);
        }
        cache.stamp = stamp;
        cache.loaded = loaded;
        cache.valid = true;
        Ok(())
    }
}

/// The account and its tokens, from `account.json` and the secret store.
async fn read_disk(state: StateDir) -> Result<Option<Loaded>, AuthError> {
    blocking(move || {
        let Some(account) = state.read_account()? else {
            return Ok(None);
        };
        let store = SecretStore::new(account.secret_store, &state.dir);
        let access = store.get(&keys::access_token(&account.deployment))?;
        let refresh = store.get(&keys::refresh_token(&account.deployment))?;
        Ok(Some(Loaded {
            account,
            access,
            refresh,
        }))
    })
    .await
}

#[async_trait::async_trait]
impl Credentials for AuthManager {
    async fn current(&self) -> Result<UpstreamSession, AuthError> {
        if let Some(session) = self.fast_session() {
            return Ok(session);
        }
        let mut cache = self.inner.cache.lock().await;
        self.sync_cache(&mut cache).await?;
        let Some(loaded) = cache.loaded.as_ref() else {
            return Err(self.signed_out_error());
        };
        if loaded.account.session_expired {
            return Err(self.expired_error(&loaded.account));
        }
        let Some(session) = loaded.session() else {
            return Err(self.expired_error(&loaded.account));
        };
        if super::refresh::needs_refresh(&loaded.account, OffsetDateTime::now_utc()) {
            let rejected = session.access_token.clone();
            return match self.refresh_locked(&mut cache, &rejected).await {
                // Renewing early failed for a passing reason (network, 5xx):
                // the token still works until it expires, so use it.
                Err(e)
                    if !e.needs_sign_in()
                        && session.expires_at.is_none_or(|t| t > SystemTime::now()) =>
                {
                    tracing::warn!(error = %e, "could not renew the token ahead of expiry; using it until it expires");
                    Ok(session)
                }
                other => other,
            };
        }
        *self.fast() = Some(Snapshot {
            stamp: cache.stamp,
            loaded: loaded.clone(),
        });
        Ok(session)
    }

    async fn after_unauthorized(&self, rejected: &Secret) -> Result<UpstreamSession, AuthError> {
        let mut cache = self.inner.cache.lock().await;
        // The rejected token must not be handed out again from the snapshot.
        self.clear_fast();
        self.sync_cache(&mut cache).await?;
        // Another task may already have replaced the rejected token while
        // this one waited for the gate.
        if let Some(loaded) = cache.loaded.as_ref()
            && !loaded.account.session_expired
            && loaded.access.as_ref().is_some_and(|a| a != rejected)
            && !super::refresh::needs_refresh(&loaded.account, OffsetDateTime::now_utc())
            && let Some(session) = loaded.session()
        {
            return Ok(session);
        }
        self.refresh_locked(&mut cache, rejected).await
    }
}
