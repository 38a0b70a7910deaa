//! Call events: what every relayed call leaves behind.
//!
//! The server emits one [`CallEvent`] per finished request on a broadcast
//! channel; the activity store, the UI's live feed, the tray and
//! `coder-bridge activity --follow` all subscribe. Events never carry tokens:
//! arguments are summarised and redacted before they get here.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// How many events a slow subscriber may lag behind before it starts losing
/// the oldest ones (it is told how many through `RecvError::Lagged`).
pub const EVENT_CHANNEL_CAPACITY: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The upstream answered and the result was not an error.
    Ok,
    /// The tool ran and reported `isError: true`.
    ToolError,
    /// The call failed: upstream unreachable, signed out, protocol error.
    Failed,
    /// The user (or policy) denied the call.
    Denied,
    /// Nobody answered the consent prompt in time.
    TimedOut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentDecision {
    /// Policy allowed the call without asking.
    Allowed,
    AllowedOnce,
    AllowedAlways,
    Denied,
    DeniedByPolicy,
    TimedOut,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallEvent {
    #[serde(with = "crate::epoch::serde_millis")]
    pub at: SystemTime,
    /// The configured agent the client token belongs to (`cursor`, ...).
    pub agent: crate::agent_id::AgentId,
    /// `clientInfo.name` the agent announced, when it did.
    pub client_name: Option<String>,
    /// The JSON-RPC method (`tools/call`, `tools/list`, ...).
    pub method: String,
    /// Tool or prompt name, for calls that have one.
    pub tool: Option<String>,
    /// A short, redacted summary of the arguments.
    pub arguments_summary: Option<String>,
    pub outcome: Outcome,
    pub error: Option<String>,
    #[serde(with = "duration_ms")]
    pub latency: Duration,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub consent: Option<ConsentDecision>,
    /// SHA-256 of the arguments as sent upstream (`tools/call` only): what
    /// the user approved, to match against the prompt.
    #[serde(default)]
    pub args_digest: Option<String>,
    /// Who answered the consent prompt, or who changed the policy.
    #[serde(default)]
    pub answered_by: Option<crate::face::AnsweredBy>,
}

/// Sender half shared by everything that emits events.
pub type EventSender = broadcast::Sender<CallEvent>;

pub fn channel() -> EventSender {
    broadcast::channel(EVENT_CHANNEL_CAPACITY).0
}

mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1000.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let ms = f64::deserialize(d)?;
        Ok(Duration::from_secs_f64(ms.max(0.0) / 1000.0))
    }
}
