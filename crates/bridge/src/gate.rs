//! The seam between the relay and the policy/consent rooms.
//!
//! The server asks the gate before relaying a `tools/call` and when listing
//! tools. The policy room implements it (allow / ask the user / deny); the
//! relay knows nothing about how the answer is reached.

use std::{fmt, ops::Deref, sync::Arc};

use rmcp::model::{JsonObject, ListToolsResult, Tool};

use crate::digest::ArgumentsDigest;
use crate::events::ConsentDecision;
use crate::face::AnsweredBy;

/// One tool of the upstream's cached tool list, without copying it: the
/// list is shared, so looking a tool up on every call costs a reference
/// count, not a clone of its schema and descriptions.
#[derive(Clone)]
pub struct ToolRef {
    list: Arc<ListToolsResult>,
    index: usize,
}

impl ToolRef {
    /// The tool called `name` in `list`, if it is there.
    pub fn find(list: Arc<ListToolsResult>, name: &str) -> Option<Self> {
        let index = list.tools.iter().position(|t| t.name == name)?;
        Some(Self { list, index })
    }
}

impl Deref for ToolRef {
    type Target = Tool;

    fn deref(&self) -> &Tool {
        &self.list.tools[self.index]
    }
}

impl fmt::Debug for ToolRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ToolRef").field(&self.name).finish()
    }
}

/// What the upstream's tool list says about a tool an agent wants to call.
#[derive(Debug, Clone)]
pub enum ToolLookup {
    /// Listed upstream, with its description and annotations.
    Known(ToolRef),
    /// The list is known and the tool is not on it: Coder would reject the
    /// call, so nobody should be asked to approve it.
    NotListed,
    /// The list could not be had in time: the call proceeds without metadata.
    ListUnavailable,
}

impl ToolLookup {
    pub fn known(self) -> Option<ToolRef> {
        match self {
            ToolLookup::Known(tool) => Some(tool),
            ToolLookup::NotListed | ToolLookup::ListUnavailable => None,
        }
    }
}

/// One call waiting to be admitted.
#[derive(Debug, Clone)]
pub struct GateRequest {
    /// The configured agent the client token belongs to.
    pub agent: crate::agent_id::AgentId,
    /// `clientInfo.name` the agent announced, when it did.
    pub client_name: Option<String>,
    pub tool: String,
    pub arguments: Option<JsonObject>,
    /// The digest of `arguments` as the server will send them upstream.
    pub digest: ArgumentsDigest,
    /// The signed-in deployment's host, when known (the prompt marks other hosts).
    pub deployment_host: Option<String>,
    /// The upstream's description of the tool (annotations included), when known.
    pub tool_info: Option<ToolRef>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateDecision {
    /// Relay the call; the decision says how it was allowed (for the activity record).
    Allow(ConsentDecision),
    /// The user allowed it: only arguments hashing to `digest` may be sent.
    Approved {
        decision: ConsentDecision,
        digest: ArgumentsDigest,
        by: AnsweredBy,
    },
    /// Do not relay; the agent gets a tool error with `reason`.
    Deny {
        decision: ConsentDecision,
        reason: String,
        /// Who denied it, when a person did.
        by: Option<AnsweredBy>,
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

/// The message an agent gets for a call made while the relay is paused.
pub const PAUSED_REASON: &str = "Coder Bridge is paused, so no tool calls reach Coder: resume it from the tray menu (Pause relay) or the dashboard";

/// A gate with an off switch: while paused, every call is refused with
/// [`PAUSED_REASON`] before it reaches the inner gate (no consent prompt, no
/// upstream request). Listing still works, so agents keep their tool list.
#[derive(Debug)]
pub struct PausableGate<G> {
    inner: G,
    paused: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl<G: CallGate> PausableGate<G> {
    pub fn new(inner: G, paused: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Self {
        Self { inner, paused }
    }
}

#[async_trait::async_trait]
impl<G: CallGate> CallGate for PausableGate<G> {
    async fn admit(&self, request: GateRequest) -> GateDecision {
        if self.paused.load(std::sync::atomic::Ordering::Acquire) {
            return GateDecision::Deny {
                decision: ConsentDecision::DeniedByPolicy,
                reason: PAUSED_REASON.to_owned(),
                by: None,
            };
        }
        self.inner.admit(request).await
    }

    fn visible(&self, agent: &str, tool: &Tool) -> bool {
        self.inner.visible(agent, tool)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, atomic::AtomicBool, atomic::Ordering};

    use super::*;

    fn request() -> GateRequest {
        GateRequest {
            agent: "cursor".into(),
            client_name: None,
            tool: "coder_workspace_bash".into(),
            arguments: None,
            digest: ArgumentsDigest::of(None),
            deployment_host: None,
            tool_info: None,
        }
    }

    #[tokio::test]
    async fn a_paused_gate_refuses_every_call_and_resumes_cleanly() {
        let paused = Arc::new(AtomicBool::new(false));
        let gate = PausableGate::new(AllowAll, paused.clone());
        assert_eq!(
            gate.admit(request()).await,
            GateDecision::Allow(ConsentDecision::Allowed)
        );
        paused.store(true, Ordering::Release);
        match gate.admit(request()).await {
            GateDecision::Deny {
                decision, reason, ..
            } => {
                assert_eq!(decision, ConsentDecision::DeniedByPolicy);
                assert!(reason.contains("paused"), "{reason}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        paused.store(false, Ordering::Release);
        assert_eq!(
            gate.admit(request()).await,
            GateDecision::Allow(ConsentDecision::Allowed)
        );
    }
}
