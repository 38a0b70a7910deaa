//! What the core handle reports to its faces. `code()` is the stable name the
//! control API, the tray and the CLI branch on.

pub use crate::error_code::ErrorKind;

use crate::activity::ActivityError;
use crate::auth::AuthError;
use crate::client_tokens::ClientTokenError;
use crate::clients::ClientError;
use crate::consent::ConsentError;
use crate::error_code::ErrorCode;
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
    #[error(transparent)]
    Activity(#[from] ActivityError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("this Coder Bridge has no built-in demo deployment; start it with `coder-bridge demo`")]
    DemoUnavailable,
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error("cannot start Coder Bridge: {what}: {source}")]
    Start {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("Coder Bridge is shutting down")]
    ShuttingDown,
    #[error("{what}: {source}")]
    Internal {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl BridgeError {
    /// A stable code. Auth errors keep the auth room's codes (`signed_out`,
    /// `registration_unavailable`, ...); the others use the control API's.
    pub fn code(&self) -> ErrorCode {
        use ErrorCode as C;
        match self {
            Self::Auth(e) => e.code(),
            Self::Clients(ClientError::UnknownAgent { .. }) => C::UnknownAgent,
            Self::Clients(ClientError::Parse { .. } | ClientError::NotAnObject { .. }) => {
                C::ConfigUnparseable
            }
            Self::Clients(ClientError::ReadOnly { .. }) => C::Conflict,
            Self::Clients(_) | Self::ClientTokens(_) => C::Internal,
            Self::Policy(PolicyError::InvalidDecision(_) | PolicyError::EmptyName) => {
                C::InvalidRequest
            }
            Self::Policy(PolicyError::Parse { .. }) => C::Conflict,
            Self::Policy(_) => C::Internal,
            Self::Consent(ConsentError::NotFound(_)) => C::NotFound,
            Self::Consent(ConsentError::InvalidAnswer(_)) => C::InvalidRequest,
            Self::Consent(ConsentError::DigestMismatch { .. }) => C::ConsentDigestMismatch,
            Self::Consent(_) => C::Internal,
            Self::Activity(_) => C::Internal,
            Self::NotFound(_) => C::NotFound,
            Self::InvalidRequest(_) => C::InvalidRequest,
            Self::DemoUnavailable => C::DemoUnavailable,
            Self::Server(e) => e.code(),
            Self::Start { .. } => C::Internal,
            Self::ShuttingDown => C::ShuttingDown,
            Self::Internal { .. } => C::Internal,
        }
    }

    /// The error's HTTP class, decided by its code.
    pub fn kind(&self) -> ErrorKind {
        self.code().kind()
    }
}
