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
        "{path} is not valid {format} (line {line}, column {column}: {message}); left it untouched — fix it and try again"
    )]
    Parse {
        path: PathBuf,
        /// `JSON`, `TOML` or `YAML`.
        format: &'static str,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {key} is not {expected}; left the file untouched")]
    NotAnObject {
        path: PathBuf,
        key: String,
        /// What it should have been, e.g. "a JSON object" or "a YAML list".
        expected: &'static str,
    },
    #[error("{path} is read-only; make it writable (chmod u+w) or configure the agent by hand")]
    ReadOnly { path: PathBuf },
    // The OS error is part of the message rather than a `source`, so a
    // chain printer (anyhow's `{:#}`) does not repeat it.
    #[error("cannot {action} {path}: {error}{}", advice(error))]
    Io {
        action: &'static str,
        path: PathBuf,
        error: io::Error,
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
        move |error| Self::Io {
            action,
            path,
            error,
        }
    }
}

/// What to do about the failures a user can fix; every file operation
/// fails before the config is replaced (the write is atomic), so each also
/// says that nothing was changed.
fn advice(error: &io::Error) -> &'static str {
    match error.kind() {
        io::ErrorKind::ReadOnlyFilesystem => {
            ". The folder is on a read-only file system; nothing was changed. Make it writable and run the command again, or edit the file by hand (`coder-bridge configure <agent> --dry-run` prints our entry)"
        }
        io::ErrorKind::PermissionDenied => {
            ". Permission denied; nothing was changed. Make the folder writable for this user and run the command again, or edit the file by hand (`coder-bridge configure <agent> --dry-run` prints our entry)"
        }
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
            ". The disk is full; nothing was changed. Free some space and try again"
        }
        _ => "",
    }
}
