//! The [`CallGate`] the server uses: policy first, the consent queue for "ask".

use rmcp::model::Tool;

use super::{
    Ask, ConsentOutcome, ConsentQueue, MAX_PENDING_BYTES, MAX_PENDING_PER_AGENT, human_duration,
};
use crate::events::ConsentDecision;
use crate::gate::{CallGate, GateDecision, GateRequest};
use crate::policy::{Decision, Policy, definition::DefinitionDigest, pins::PinCheck};

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

impl PolicyGate {
    /// Binds or resets the "allow" that decides this call against the
    /// tool's definition as Coder serves it now. Returns true when an
    /// "allow" for another definition could not be reset: the call must ask.
    async fn check_definition(&self, request: &GateRequest) -> bool {
        let Some(tool) = request.tool_info.as_deref() else {
            return false;
        };
        let check = self.policy.check_pin(&request.agent, tool);
        if !matches!(check, PinCheck::Changed | PinCheck::Unpinned) {
            return false;
        }
        let policy = self.policy.clone();
        let tool = tool.clone();
        let reconciled =
            tokio::task::spawn_blocking(move || policy.reconcile_definitions(&[tool])).await;
        match reconciled {
            Ok(Ok(_)) => false,
            Ok(Err(e)) => {
                tracing::warn!(code = e.code(), error = %e, "cannot record the tool's definition in the policy");
                check == PinCheck::Changed
            }
            Err(e) => {
                tracing::warn!("checking the tool's definition failed: {e}");
                check == PinCheck::Changed
            }
        }
    }

    /// What the prompt says before anything else about the tool itself.
    fn notes(&self, tool: &str, destructive: bool) -> Vec<String> {
        let mut notes = Vec::new();
        if self.policy.changed_tools().contains_key(tool) {
            notes.push(
                "This tool's description or inputs changed since it was allowed always; \
                 check what it does now."
                    .to_owned(),
            );
        }
        if destructive {
            notes.push(
                "Coder marks this tool as destructive: it may delete or overwrite data.".to_owned(),
            );
        }
        notes
    }
}

#[async_trait::async_trait]
impl CallGate for PolicyGate {
    async fn admit(&self, request: GateRequest) -> GateDecision {
        let stale_allow = self.check_definition(&request).await;
        let mut rule = self.policy.effective_call(
            &request.agent,
            &request.tool,
            request.tool_info.as_deref(),
            request.arguments.as_ref(),
        );
        if stale_allow && rule.decision == Decision::Allow {
            rule.decision = Decision::Ask;
        }
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
                let notes = self.notes(&request.tool, rule.destructive);
                let definition = request.tool_info.as_deref().map(DefinitionDigest::of);
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
                        notes,
                        definition,
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
