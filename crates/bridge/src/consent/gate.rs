//! The [`CallGate`] the server uses: policy first, the consent queue for "ask".

use rmcp::model::Tool;

use super::{
    Ask, ConsentOutcome, ConsentQueue, MAX_PENDING_BYTES, MAX_PENDING_PER_AGENT, human_duration,
};
use crate::events::ConsentDecision;
use crate::gate::{CallGate, GateDecision, GateRequest};
use crate::policy::{Decision, Policy};

#[derive(Debug, Clone)]
pub struct PolicyGate {
    policy: Policy,
    queue: ConsentQueue,
}

impl PolicyGate {
    pub fn new(policy: Policy, queue: ConsentQueue) -> Self {
        Self { policy, queue }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn queue(&self) -> &ConsentQueue {
        &self.queue
    }
}

#[async_trait::async_trait]
impl CallGate for PolicyGate {
    async fn admit(&self, request: GateRequest) -> GateDecision {
        let rule = self.policy.effective_call(
            &request.agent,
            &request.tool,
            request.tool_info.as_deref(),
            request.arguments.as_ref(),
        );
        match rule.decision {
            Decision::Allow => GateDecision::Allow(ConsentDecision::Allowed),
            Decision::Deny => GateDecision::Deny {
                decision: ConsentDecision::DeniedByPolicy,
                reason: format!(
                    "Coder Bridge's policy does not allow {} to call {}. \
                     The user can change this with `coder-bridge policy set`.",
                    request.agent, request.tool
                ),
                by: None,
            },
            Decision::Ask => {
                let outcome = self
                    .queue
                    .ask(Ask {
                        agent: request.agent,
                        client_name: request.client_name,
                        tool: request.tool,
                        arguments: request.arguments,
                        digest: request.digest,
                        deployment_host: request.deployment_host,
                        irreversible: rule.irreversible,
                        starts_workspace: rule.starts_workspace,
                    })
                    .await;
                match outcome {
                    ConsentOutcome::Allowed { always, digest, by } => GateDecision::Approved {
                        decision: if always {
                            ConsentDecision::AllowedAlways
                        } else {
                            ConsentDecision::AllowedOnce
                        },
                        digest,
                        by,
                    },
                    ConsentOutcome::Denied { by } => GateDecision::Deny {
                        decision: ConsentDecision::Denied,
                        reason: "The user denied this call in Coder Bridge.".to_owned(),
                        by: Some(by),
                    },
                    ConsentOutcome::TooManyPending => GateDecision::Deny {
                        decision: ConsentDecision::DeniedByPolicy,
                        reason: format!(
                            "{MAX_PENDING_PER_AGENT} calls from this agent already wait for the \
                             user's consent in Coder Bridge; try again once they are answered."
                        ),
                        by: None,
                    },
                    ConsentOutcome::QueueFull => GateDecision::Deny {
                        decision: ConsentDecision::DeniedByPolicy,
                        reason: format!(
                            "The calls waiting for the user's consent in Coder Bridge already \
                             hold {} MiB of arguments; try again once they are answered.",
                            MAX_PENDING_BYTES / (1024 * 1024)
                        ),
                        by: None,
                    },
                    ConsentOutcome::TimedOut { after } => GateDecision::Deny {
                        decision: ConsentDecision::TimedOut,
                        reason: format!(
                            "The call was not approved within {}; Coder Bridge denied it.",
                            human_duration(after)
                        ),
                        by: None,
                    },
                }
            }
        }
    }

    fn visible(&self, agent: &str, tool: &Tool) -> bool {
        self.policy
            .effective(agent, &tool.name, Some(tool))
            .decision
            != Decision::Deny
    }
}
