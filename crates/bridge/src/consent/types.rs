//! The queue's public value types: requests, answers, changes and errors.

use std::str::FromStr;
use std::time::{Duration, SystemTime};

use rmcp::model::JsonObject;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::policy::PolicyError;

/// A call waiting for the user, as the faces show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRequest {
    pub id: Uuid,
    pub agent: String,
    pub client_name: Option<String>,
    pub tool: String,
    /// Pretty-printed JSON, secrets redacted and long values cut.
    pub arguments: String,
    pub irreversible: bool,
    pub starts_workspace: bool,
    /// Sentences for the prompt ("This cannot be undone.", ...).
    pub warnings: Vec<String>,
    #[serde(with = "ms")]
    pub created_at: SystemTime,
    #[serde(with = "ms")]
    pub deadline: SystemTime,
}

/// The user's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentAnswer {
    AllowOnce,
    /// Allow, and remember it for this agent and tool (an override in the policy).
    AllowAlways,
    Deny,
}

impl FromStr for ConsentAnswer {
    type Err = ConsentError;

    /// Accepts the CLI's words (`allow`, `always`, `deny`) and the serde names.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "allow" | "once" | "allow_once" => Ok(Self::AllowOnce),
            "always" | "allow_always" => Ok(Self::AllowAlways),
            "deny" => Ok(Self::Deny),
            _ => Err(ConsentError::InvalidAnswer(s.to_owned())),
        }
    }
}

/// How a request left the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    AllowedOnce,
    AllowedAlways,
    Denied,
    TimedOut,
    /// The agent stopped waiting (cancelled its call or disconnected).
    Withdrawn,
}

/// What the faces are pushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ConsentChange {
    RequestAdded { request: ConsentRequest },
    RequestResolved { id: Uuid, resolution: Resolution },
}

/// What the waiting call learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentOutcome {
    AllowedOnce,
    AllowedAlways,
    Denied,
    TimedOut {
        after: Duration,
    },
    /// The agent already has [`MAX_PENDING_PER_AGENT`](super::MAX_PENDING_PER_AGENT) calls waiting; not queued.
    TooManyPending,
}

/// A call to ask about.
#[derive(Debug, Clone)]
pub struct Ask {
    pub agent: String,
    pub client_name: Option<String>,
    pub tool: String,
    pub arguments: Option<JsonObject>,
    pub irreversible: bool,
    pub starts_workspace: bool,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsentError {
    #[error("no pending consent request {0} (already answered, timed out or withdrawn)")]
    NotFound(Uuid),
    #[error("unknown answer {0:?}: expected allow, always or deny")]
    InvalidAnswer(String),
    #[error("could not remember the answer in the policy: {0}")]
    Persist(#[from] PolicyError),
}

impl ConsentError {
    /// A stable code the UI and CLI can branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "consent_not_found",
            Self::InvalidAnswer(_) => "consent_invalid_answer",
            Self::Persist(_) => "consent_persist_failed",
        }
    }
}

/// Milliseconds since the Unix epoch, like the event stream.
mod ms {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        let ms = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
        s.serialize_u64(u64::try_from(ms).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        Ok(UNIX_EPOCH + Duration::from_millis(u64::deserialize(d)?))
    }
}
