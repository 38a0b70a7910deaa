//! What the core handle reports to its faces. `code()` is the stable name the
//! control API, the tray and the CLI branch on.

use crate::auth::AuthError;
use crate::client_tokens::ClientTokenError;
use crate::clients::ClientError;
use crate::consent::ConsentError;
use crate::policy::PolicyError;
use crate::server::ServerError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BridgeError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Clients(#[from] ClientError),
    #[error(transparent)]
    ClientTokens(#[from] ClientTokenError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Consent(#[from] ConsentError),
    #[error("{0}")]
    Activity(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("this Coder Bridge has no built-in demo deployment; start it with `coder-bridge demo`")]
    DemoUnavailable,
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error("cannot start Coder Bridge: {0}")]
    Start(String),
    #[error("Coder Bridge is shutting down")]
    ShuttingDown,
    #[error("{0}")]
    Internal(String),
}

/// How bad an error is, in HTTP terms, so every face words it the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The caller asked for something malformed (400).
    Invalid,
    /// The thing asked about does not exist (404).
    NotFound,
    /// The request is fine but the state of things refuses it (409).
    Conflict,
    /// Coder or the user's session is the problem (502 / 401-like).
    Upstream,
    /// Our fault (500).
    Internal,
    /// Not now (503).
    Unavailable,
}

impl BridgeError {
    /// A stable code. Auth errors keep the auth room's codes (`signed_out`,
    /// `registration_unavailable`, ...); the others use the control API's.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Auth(e) => e.code(),
            Self::Clients(ClientError::UnknownAgent { .. }) => "unknown_agent",
            Self::Clients(ClientError::Parse { .. } | ClientError::NotAnObject { .. }) => {
                "config_unparseable"
            }
            Self::Clients(ClientError::ReadOnly { .. }) => "conflict",
            Self::Clients(_) | Self::ClientTokens(_) => "internal",
            Self::Policy(PolicyError::InvalidDecision(_) | PolicyError::EmptyName) => {
                "invalid_request"
            }
            Self::Policy(PolicyError::Parse { .. }) => "conflict",
            Self::Policy(_) => "internal",
            Self::Consent(ConsentError::NotFound(_)) => "not_found",
            Self::Consent(ConsentError::InvalidAnswer(_)) => "invalid_request",
            Self::Consent(ConsentError::DigestMismatch { .. }) => "consent_digest_mismatch",
            Self::Consent(_) => "internal",
            Self::Activity(_) => "internal",
            Self::NotFound(_) => "not_found",
            Self::InvalidRequest(_) => "invalid_request",
            Self::DemoUnavailable => "demo_unavailable",
            Self::Server(e) => e.code(),
            Self::Start(_) => "internal",
            Self::ShuttingDown => "shutting_down",
            Self::Internal(_) => "internal",
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self.code() {
            "unknown_agent" | "not_found" => ErrorKind::NotFound,
            "invalid_request" | "demo_unavailable" | "not_coder" => ErrorKind::Invalid,
            "config_unparseable" | "conflict" | "consent_digest_mismatch" => ErrorKind::Conflict,
            "shutting_down" => ErrorKind::Unavailable,
            "internal" | "storage" | "callback_unavailable" => ErrorKind::Internal,
            _ if matches!(self, Self::Auth(_)) => ErrorKind::Upstream,
            _ => ErrorKind::Internal,
        }
    }
}
