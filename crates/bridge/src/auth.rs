//! The auth room: owns the user's Coder session. Nothing else reads the keychain.
//!
//! The relay sees only the [`Credentials`] trait: "give me a usable token" and
//! "this token was refused, give me a fresh one". Everything else —
//! discovery, registration, the browser round trip, storage, single-flight
//! refresh — stays behind it.

use std::time::SystemTime;

use url::Url;

use crate::secret::Secret;

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
        "the Coder session for {deployment} has ended and could not be renewed: sign in again from the tray menu or run `coder-bridge login {deployment}`"
    )]
    SessionExpired { deployment: String },
    #[error("could not reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{0}")]
    Other(String),
}

impl AuthError {
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::SignedOut => "signed_out",
            AuthError::SessionExpired { .. } => "session_expired",
            AuthError::Unreachable { .. } => "unreachable",
            AuthError::Other(_) => "auth_error",
        }
    }

    /// True when only the user can fix this by signing in again.
    pub fn needs_sign_in(&self) -> bool {
        matches!(
            self,
            AuthError::SignedOut | AuthError::SessionExpired { .. }
        )
    }
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
}
