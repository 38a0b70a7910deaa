//! The tool policy and the consent queue as the faces see and change them.

use super::blocking;
use crate::consent::{AnsweredBy, ArgumentsDigest, ConsentAnswer, ConsentRequest};
use crate::policy::Decision;
use crate::supervisor::views::PolicyView;
use crate::supervisor::{BridgeError, BridgeEvent, BridgeHandle};
use rmcp::model::Tool;
use std::time::Duration;
use uuid::Uuid;

/// How long `policy()` waits for Coder's tool list before showing the built-in table alone.
const TOOL_LIST_WAIT: Duration = Duration::from_secs(3);

impl BridgeHandle {
    /// Every tool we know of (Coder's list when reachable, the built-in
    /// table, overridden ones), its default and the user's overrides.
    pub async fn policy(&self) -> PolicyView {
        let relay = self.core.daemon.relay().clone();
        // Showing the policy page must not send the user to a sign-in.
        // Fresh, not cached: the page shows what Coder serves now, and a
        // changed definition resets its "allow" before it is shown.
        let list = crate::auth::without_auto_sign_in(relay.refresh_tools());
        let upstream: Vec<Tool> = match tokio::time::timeout(TOOL_LIST_WAIT, list).await {
            Ok(Ok(list)) => list.tools.clone(),
            _ => Vec::new(),
        };
        let changed =
            crate::policy::pins::reconcile_in_background(&self.core.policy, &upstream).await;
        crate::supervisor::policy_view(&self.core.policy, &upstream, &changed)
    }

    /// Sets (or with `decision: None`, clears) an override for `tool`, for
    /// one agent or for all.
    /// `by` is recorded beside the override and in the activity.
    pub async fn set_policy(
        &self,
        tool: &str,
        agent: Option<&str>,
        decision: Option<Decision>,
        by: AnsweredBy,
    ) -> Result<PolicyView, BridgeError> {
        let (policy, tool, agent) = (
            self.core.policy.clone(),
            tool.to_owned(),
            agent.map(str::to_owned),
        );
        let (setter, name, scope) = (by.clone(), tool.clone(), agent.clone());
        blocking(move || {
            match decision {
                Some(d) => policy.set_override_by(agent.as_deref(), &tool, d, &setter)?,
                None => {
                    policy.clear_override(agent.as_deref(), &tool)?;
                }
            }
            Ok(())
        })
        .await?;
        self.record_policy_change(scope, name, decision, by);
        self.emit(BridgeEvent::Policy);
        Ok(self.policy().await)
    }

    /// A policy change goes into the activity like a call, with who made it.
    fn record_policy_change(
        &self,
        agent: Option<String>,
        tool: String,
        decision: Option<Decision>,
        by: AnsweredBy,
    ) {
        if by.agent_reachable() {
            tracing::warn!(%tool, by = %by.describe(), "policy changed with the control token");
        }
        let _ = self.core.events.send(crate::events::CallEvent {
            at: std::time::SystemTime::now(),
            agent: agent.map_or_else(crate::agent_id::AgentId::every_agent, Into::into),
            client_name: None,
            method: "policy/set".to_owned(),
            tool: Some(tool),
            arguments_summary: Some(decision.map_or_else(
                || "override cleared".to_owned(),
                |d| format!("override set to {d}"),
            )),
            outcome: crate::events::Outcome::Ok,
            error: None,
            latency: Duration::ZERO,
            bytes_in: 0,
            bytes_out: 0,
            consent: None,
            args_digest: None,
            answered_by: Some(by),
        });
    }

    /// Calls waiting for the user, oldest first.
    pub fn consent_pending(&self) -> Vec<ConsentRequest> {
        self.core.queue.pending()
    }

    /// Answers a waiting call on behalf of `by`; `seen` is the digest of the
    /// arguments the user looked at (refused when they differ). `not_found`
    /// when it already ended.
    pub async fn answer_consent(
        &self,
        id: Uuid,
        answer: ConsentAnswer,
        by: AnsweredBy,
        seen: Option<&ArgumentsDigest>,
    ) -> Result<(), BridgeError> {
        if by.agent_reachable() {
            // Any process of the user can hold the control token, an agent
            // with a shell included: such answers are loud, never silent.
            tracing::warn!(%id, ?answer, by = %by.describe(), "consent answered with the control token");
        }
        self.core.queue.answer_by(id, answer, by, seen).await?;
        if answer == ConsentAnswer::AllowAlways {
            self.emit(BridgeEvent::Policy);
        }
        Ok(())
    }
}
