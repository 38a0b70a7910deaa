//! The auth room: owns the user's Coder session. Nothing else reads the keychain.
//!
//! The relay sees only the [`Credentials`] trait: "give me a usable token" and
//! "this token was refused, give me a fresh one". Everything else —
//! discovery, registration, the browser round trip, storage, single-flight
//! refresh — stays behind it.

use std::time::{Duration, SystemTime};

use url::Url;

use crate::error_code::ErrorCode;
use crate::secret::Secret;

mod browser;
mod client_auth;
mod discovery;
mod http;
mod manager;
mod refresh;
mod registration;
mod revoke;
mod session;
mod signin;
mod state;
mod store;

pub use browser::{browser_unavailable, is_web_url, open_browser};
pub use client_auth::ClientAuth;
pub use discovery::{
    AuthorizationServerMetadata, DiscoveredVia, Discovery, ProtectedResourceMetadata, discover,
    discover_from_challenge, discover_well_known,
};
pub use http::{HttpPolicy, is_plain_http_remote};
pub use manager::{AuthManager, AuthStatus};
pub use registration::{RegistrationSource, StoredRegistration};
pub use session::LogoutReport;
pub use signin::{PreRegisteredClient, SignIn, SignInOptions};
pub use state::{Account, LastSignIn, SessionKind, User};
pub use store::{SecretBackend, StoreChoice};

/// How long the browser round trip may take before `login` gives up.
pub const DEFAULT_SIGN_IN_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// How long an agent's request waits for a sign-in the daemon started on its
/// own (the user signed out, or the session ended) before it gets the
/// "sign in" error. The browser page stays valid for [`DEFAULT_SIGN_IN_TIMEOUT`].
pub const AUTO_SIGN_IN_WAIT: Duration = Duration::from_secs(2 * 60);

/// At most one browser sign-in is started on the agents' behalf per this
/// period, so a user who closed the page is not sent to it again and again.
/// Sign-ins the user asks for (tray, UI, `coder-bridge login`) are not limited.
pub const AUTO_SIGN_IN_COOLDOWN: Duration = Duration::from_secs(10 * 60);

tokio::task_local! {
    static AUTO_SIGN_IN: bool;
}

/// Runs `work` so that a missing session inside it never starts a browser
/// sign-in on its own (see [`auto_sign_in_allowed`]): for the bridge's own
/// background work, such as connecting ahead at start, as opposed to an
/// agent's request that is waiting for Coder.
pub async fn without_auto_sign_in<F: Future>(work: F) -> F::Output {
    AUTO_SIGN_IN.scope(false, work).await
}

/// False inside [`without_auto_sign_in`]; true everywhere else.
pub fn auto_sign_in_allowed() -> bool {
    AUTO_SIGN_IN.try_with(|allowed| *allowed).unwrap_or(true)
}

/// Path of Coder's remote MCP endpoint, relative to the deployment's access URL.
pub const MCP_PATH: &str = "api/experimental/mcp/http";

/// A usable upstream credential.
#[derive(Debug, Clone)]
pub struct UpstreamSession {
    /// The deployment's access URL, e.g. `https://coder.example.com/`.
    pub access_url: Url,
    pub access_token: Secret,
    /// When the access token stops working, if known.
    pub expires_at: Option<SystemTime>,
}

impl UpstreamSession {
    /// `<access url>/api/experimental/mcp/http`.
    pub fn mcp_url(&self) -> Url {
        mcp_url(&self.access_url)
    }
}

/// `<access url>/api/experimental/mcp/http`, whatever the access URL's trailing slash.
pub fn mcp_url(access_url: &Url) -> Url {
    let mut base = access_url.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base.join(MCP_PATH).unwrap_or(base)
}

/// Errors the auth room reports. `code()` is stable: the UI and the CLI branch on it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    #[error(
        "not signed in to Coder: sign in from the tray menu or run `coder-bridge login <deployment-url>`"
    )]
    SignedOut,
    #[error(
        "signed out of {deployment}: sign in from the tray menu or run `coder-bridge login {deployment}`"
    )]
    SignedOutOf { deployment: String },
    #[error(
        "the Coder session for {deployment} has ended and could not be renewed: sign in again from the tray menu or run `coder-bridge login {deployment}`"
    )]
    SessionExpired { deployment: String },
    #[error("could not reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error(
        "{url} does not look like a Coder deployment ({reason}); check the URL you passed to `coder-bridge login`"
    )]
    NotCoder { url: String, reason: String },
    #[error(
        "{deployment} does not offer OAuth2 sign-in (its OAuth2 provider is disabled). Ask your Coder admin to set CODER_OAUTH2_PROVIDER_ENABLE=true, or sign in with a session token: `coder tokens create | coder-bridge login {deployment} --token`"
    )]
    OAuthDisabled { deployment: String },
    #[error(
        "{deployment} has no OAuth2 client for Coder Bridge and does not allow dynamic client registration. Either ask your Coder admin to create an OAuth2 app (Deployment > OAuth2 Applications, callback URL http://127.0.0.1/callback, or http://127.0.0.1:<port>/callback with `--callback-port <port>` on releases that match the port exactly) and run `coder-bridge login {deployment} --client-id <id> --client-secret <secret>`, or to enable dynamic client registration; or sign in with a session token: `coder tokens create | coder-bridge login {deployment} --token`"
    )]
    RegistrationUnavailable { deployment: String },
    #[error(
        "{deployment} no longer accepts Coder Bridge's OAuth2 client ({detail}); the stale registration was discarded, run `coder-bridge login {deployment}` again"
    )]
    RegistrationRejected { deployment: String, detail: String },
    #[error(
        "the {what} {url} is plain http, so tokens and the client secret would cross the network unencrypted; use its https URL, or, only on a network you trust, run `coder-bridge login <deployment-url> --allow-http`"
    )]
    InsecureUrl { what: String, url: String },
    #[error(
        "refusing to sign in: the {what} names issuer {found:?}, but it was looked up for {expected:?} (the discovery answer may have been tampered with, or the server is misconfigured)"
    )]
    IssuerMismatch {
        what: String,
        expected: String,
        found: String,
    },
    #[error(
        "refusing to sign in: the protected-resource metadata is for {found:?}, not for {expected} (the discovery answer may have been tampered with, or the server is misconfigured)"
    )]
    ResourceMismatch { expected: String, found: String },
    #[error(
        "{deployment} refused Coder Bridge's OAuth2 client credentials ({detail}). The registration was kept; if an admin changed the client's secret, run `coder-bridge login {deployment} --client-id <id> --client-secret <secret>`"
    )]
    ClientRejected { deployment: String, detail: String },
    #[error("sign-in was cancelled in the browser ({detail})")]
    AccessDenied { detail: String },
    #[error("sign-in did not complete within {} seconds; run `coder-bridge login` again", .after.as_secs())]
    TimedOut { after: Duration },
    #[error("the session token was not accepted by {deployment}")]
    InvalidToken { deployment: String },
    #[error("the OAuth2 server refused the request: {error}{}", .description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    OAuth {
        error: String,
        description: Option<String>,
    },
    #[error("cannot store credentials: {what}{}", cause(.source))]
    Storage {
        what: String,
        #[source]
        source: Option<BoxError>,
    },
    #[error("cannot listen for the sign-in callback on 127.0.0.1: {0}")]
    Callback(String),
    #[error("{what}{}", cause(.source))]
    Other {
        what: String,
        #[source]
        source: Option<BoxError>,
    },
}

/// The cause of an [`AuthError`], kept as an error (not text) so callers
/// can look at it (an I/O error's kind, for advice on a read-only folder).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `: <cause>` after a message, as the message read before causes were kept.
fn cause(source: &Option<BoxError>) -> String {
    source
        .as_ref()
        .map(|s| format!(": {s}"))
        .unwrap_or_default()
}

impl AuthError {
    /// Credentials could not be stored or read: `what` failed because of `source`.
    pub(crate) fn storage_from(what: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Storage {
            what: what.into(),
            source: Some(source.into()),
        }
    }

    /// Credentials could not be stored, for a reason `what` says in full.
    #[cfg(test)]
    pub(crate) fn storage_problem(what: impl Into<String>) -> Self {
        Self::Storage {
            what: what.into(),
            source: None,
        }
    }

    /// Any other failure, said in full by `what`.
    pub(crate) fn other(what: impl Into<String>) -> Self {
        Self::Other {
            what: what.into(),
            source: None,
        }
    }

    /// Any other failure: `what` failed because of `source`.
    pub(crate) fn other_from(what: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Other {
            what: what.into(),
            source: Some(source.into()),
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            AuthError::SignedOut | AuthError::SignedOutOf { .. } => ErrorCode::SignedOut,
            AuthError::SessionExpired { .. } => ErrorCode::SessionExpired,
            AuthError::Unreachable { .. } => ErrorCode::Unreachable,
            AuthError::NotCoder { .. } => ErrorCode::NotCoder,
            AuthError::OAuthDisabled { .. } => ErrorCode::OauthDisabled,
            AuthError::RegistrationUnavailable { .. } => ErrorCode::RegistrationUnavailable,
            AuthError::RegistrationRejected { .. } => ErrorCode::RegistrationRejected,
            AuthError::InsecureUrl { .. } => ErrorCode::InsecureHttp,
            AuthError::IssuerMismatch { .. } => ErrorCode::IssuerMismatch,
            AuthError::ResourceMismatch { .. } => ErrorCode::ResourceMismatch,
            AuthError::ClientRejected { .. } => ErrorCode::ClientRejected,
            AuthError::AccessDenied { .. } => ErrorCode::AccessDenied,
            AuthError::TimedOut { .. } => ErrorCode::TimedOut,
            AuthError::InvalidToken { .. } => ErrorCode::InvalidToken,
            AuthError::OAuth { .. } => ErrorCode::OauthError,
            AuthError::Storage { .. } => ErrorCode::Storage,
            AuthError::Callback(_) => ErrorCode::CallbackUnavailable,
            AuthError::Other { .. } => ErrorCode::AuthError,
        }
    }

    /// True when only the user can fix this by signing in again.
    pub fn needs_sign_in(&self) -> bool {
        matches!(
            self,
            AuthError::SignedOut | AuthError::SignedOutOf { .. } | AuthError::SessionExpired { .. }
        )
    }

    pub(crate) fn unreachable(url: impl ToString, err: &reqwest::Error) -> Self {
        // reqwest's Display includes the URL but never headers or bodies, so
        // no credential can leak through here.
        AuthError::Unreachable {
            url: url.to_string(),
            reason: error_chain(err),
        }
    }
}

/// `err: cause: cause`, the way anyhow prints `{:#}`.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// The canonical form of a deployment URL: scheme, host, port and path with a
/// trailing slash, no query or fragment. It keys the stored registration and
/// secrets, so `https://c.example.com` and `https://c.example.com/` are one.
pub fn normalize_deployment(input: &str) -> Result<Url, AuthError> {
    let trimmed = input.trim();
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("https://{trimmed}")
    };
    let mut url = Url::parse(&with_scheme).map_err(|e| AuthError::NotCoder {
        url: input.to_string(),
        reason: format!("not a URL: {e}"),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(AuthError::NotCoder {
            url: input.to_string(),
            reason: "expected an http(s) URL".into(),
        });
    }
    url.set_query(None);
    url.set_fragment(None);
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// What the relay needs from the auth room.
#[async_trait::async_trait]
pub trait Credentials: Send + Sync + 'static {
    /// A token that is valid now, refreshing first when it is about to expire.
    async fn current(&self) -> Result<UpstreamSession, AuthError>;

    /// The upstream answered 401 to `rejected`. Refresh once (single-flight:
    /// if another task already replaced `rejected`, return the replacement
    /// without refreshing again) or report that sign-in is required.
    async fn after_unauthorized(&self, rejected: &Secret) -> Result<UpstreamSession, AuthError>;
}

/// A fixed session token (`coder-bridge login --token`, tests): never refreshed.
#[derive(Debug, Clone)]
pub struct StaticToken(pub UpstreamSession);

#[async_trait::async_trait]
impl Credentials for StaticToken {
    async fn current(&self) -> Result<UpstreamSession, AuthError> {
        Ok(self.0.clone())
    }

    async fn after_unauthorized(&self, _rejected: &Secret) -> Result<UpstreamSession, AuthError> {
        Err(AuthError::SessionExpired {
            deployment: self.0.access_url.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcp_url_handles_trailing_slash_and_subpaths() {
        let a = Url::parse("https://coder.example.com").unwrap();
        assert_eq!(
            mcp_url(&a).as_str(),
            "https://coder.example.com/api/experimental/mcp/http"
        );
        let b = Url::parse("https://example.com/coder").unwrap();
        assert_eq!(
            mcp_url(&b).as_str(),
            "https://example.com/coder/api/experimental/mcp/http"
        );
    }

    #[test]
    fn deployment_urls_are_normalized() {
        let a = normalize_deployment("coder.example.com").unwrap();
        assert_eq!(a.as_str(), "https://coder.example.com/");
        let b = normalize_deployment("http://127.0.0.1:3000/sub?x=1#f").unwrap();
        assert_eq!(b.as_str(), "http://127.0.0.1:3000/sub/");
        assert_eq!(
            normalize_deployment("ftp://x").unwrap_err().code(),
            "not_coder"
        );
    }
}
