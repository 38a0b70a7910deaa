//! The seam between the relay and the policy/consent rooms.
//!
//! The server asks the gate before relaying a `tools/call` and when listing
//! tools. The policy room implements it (allow / ask the user / deny); the
//! relay knows nothing about how the answer is reached.

use rmcp::model::{JsonObject, Tool};

use crate::events::ConsentDecision;

/// One call waiting to be admitted.
#[derive(Debug, Clone)]
pub struct GateRequest {
    /// The configured agent the client token belongs to.
    pub agent: String,
    /// `clientInfo.name` the agent announced, when it did.
    pub client_name: Option<String>,
    pub tool: String,
    pub arguments: Option<JsonObject>,
    /// The upstream's description of the tool (annotations included), when known.
    pub tool_info: Option<Tool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateDecision {
    /// Relay the call; the decision says how it was allowed (for the activity record).
    Allow(ConsentDecision),
    /// Do not relay; the agent gets a tool error with `reason`.
    Deny {
        decision: ConsentDecision,
        reason: String,
    },
}

#[async_trait::async_trait]
pub trait CallGate: Send + Sync + 'static {
    /// Decide whether the call may go upstream now. May wait for the user.
    async fn admit(&self, request: GateRequest) -> GateDecision;

    /// Whether `tool` appears in this agent's `tools/list` (denied tools are hidden).
    fn visible(&self, agent: &str, tool: &Tool) -> bool;
}

/// Admits everything: used before the policy room is wired in, and by benchmarks.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

#[async_trait::async_trait]
impl CallGate for AllowAll {
    async fn admit(&self, _request: GateRequest) -> GateDecision {
        GateDecision::Allow(ConsentDecision::Allowed)
    }

    fn visible(&self, _agent: &str, _tool: &Tool) -> bool {
        true
    }
}
