use std::io;
use std::path::PathBuf;

use crate::client_tokens::ClientTokenError;

/// Why an agent's config could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error("unknown agent {name:?}; valid agents: {valid}")]
    UnknownAgent { name: String, valid: String },
    #[error(
        "{path} is not valid JSON (line {line}, column {column}: {message}); left it untouched — fix it and try again"
    )]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {key} is not a JSON object; left the file untouched")]
    NotAnObject { path: PathBuf, key: String },
    #[error("{path} is read-only; make it writable (chmod u+w) or configure the agent by hand")]
    ReadOnly { path: PathBuf },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Tokens(#[from] ClientTokenError),
}

impl ClientError {
    /// A stable code the UI and scripts can branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownAgent { .. } => "clients.unknown_agent",
            Self::Parse { .. } => "clients.parse",
            Self::NotAnObject { .. } => "clients.not_an_object",
            Self::ReadOnly { .. } => "clients.read_only",
            Self::Io { .. } => "clients.io",
            Self::Tokens(err) => err.code(),
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io {
            action,
            path,
            source,
        }
    }
}
