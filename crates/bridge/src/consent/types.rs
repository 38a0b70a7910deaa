//! The queue's public value types: requests, answers, changes and errors.

use std::str::FromStr;
use std::time::{Duration, SystemTime};

use rmcp::model::JsonObject;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::highlight::{ArgumentField, Highlight};
use crate::agent_id::AgentId;
use crate::digest::ArgumentsDigest;
use crate::face::AnsweredBy;
use crate::policy::{PolicyError, definition::DefinitionDigest};

/// A call waiting for the user, as the faces show it: every argument whole
/// and verbatim, nothing masked or cut.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRequest {
    pub id: Uuid,
    /// The configured agent the client token belongs to (authenticated).
    pub agent: AgentId,
    /// Its display name ("Cursor"): what the prompt headlines.
    pub agent_name: String,
    /// What the client calls itself in `clientInfo` (unverified: "says it is").
    pub client_name: Option<String>,
    pub tool: String,
    /// Pretty-printed JSON of the arguments, complete.
    pub arguments: String,
    /// SHA-256 of the exact bytes sent upstream; an answer may name it and
    /// the relay sends only arguments that hash to it.
    pub digest: ArgumentsDigest,
    /// Size of those bytes.
    pub arguments_bytes: usize,
    /// Every leaf of the arguments, whole, cut into marked segments.
    pub fields: Vec<ArgumentField>,
    /// What in the arguments commonly hides intent (substitutions, pipes
    /// into a shell, other hosts, invisible characters...).
    pub highlights: Vec<Highlight>,
    pub irreversible: bool,
    pub starts_workspace: bool,
    /// Sentences for the prompt ("This cannot be undone.", ...).
    pub warnings: Vec<String>,
    #[serde(with = "crate::epoch::serde_millis")]
    pub created_at: SystemTime,
    #[serde(with = "crate::epoch::serde_millis")]
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
    RequestAdded {
        request: ConsentRequest,
    },
    RequestResolved {
        id: Uuid,
        resolution: Resolution,
        /// Who answered (absent for time-outs and withdrawals).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<AnsweredBy>,
    },
}

/// What the waiting call learns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentOutcome {
    /// The user allowed the arguments with this digest (once or always).
    Allowed {
        always: bool,
        digest: ArgumentsDigest,
        by: AnsweredBy,
    },
    Denied {
        by: AnsweredBy,
    },
    TimedOut {
        after: Duration,
    },
    /// The agent already has [`MAX_PENDING_PER_AGENT`](super::MAX_PENDING_PER_AGENT) calls waiting; not queued.
    TooManyPending,
    /// The waiting calls' arguments already fill [`MAX_PENDING_BYTES`](super::MAX_PENDING_BYTES); not queued.
    QueueFull,
}

/// A call to ask about.
#[derive(Debug, Clone)]
pub struct Ask {
    pub agent: AgentId,
    pub client_name: Option<String>,
    pub tool: String,
    pub arguments: Option<JsonObject>,
    /// The digest of `arguments` as they will be sent.
    pub digest: ArgumentsDigest,
    /// The signed-in deployment's host: URLs to others are highlighted.
    pub deployment_host: Option<String>,
    pub irreversible: bool,
    pub starts_workspace: bool,
    /// Warnings from the policy to show first (a destructive new tool, a
    /// tool whose definition changed since it was allowed).
    pub notes: Vec<String>,
    /// The tool's definition as the deployment serves it, when known.
    pub definition: Option<DefinitionDigest>,
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
    #[error(
        "the arguments of request {id} are not the ones this answer was given for \
         (digest {seen} answered, {actual} waiting); look at the request again"
    )]
    DigestMismatch {
        id: Uuid,
        seen: String,
        actual: String,
    },
}

impl ConsentError {
    /// A stable code the UI and CLI can branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "consent_not_found",
            Self::InvalidAnswer(_) => "consent_invalid_answer",
            Self::Persist(_) => "consent_persist_failed",
            Self::DigestMismatch { .. } => "consent_digest_mismatch",
        }
    }
}
