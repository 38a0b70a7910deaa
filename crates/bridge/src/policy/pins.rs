//! "Always allow" is given to one definition of a tool.
//!
//! Coder adds and changes tools between releases, and a tool the user
//! allowed because of what it said it did may later say (and do) something
//! else under the same name. So each "allow" override is stored with the
//! digest of the tool's description and input schema ([`DefinitionDigest`]);
//! when the deployment serves a different definition the override is removed
//! (the tool asks again, or falls back to its default) and the change is
//! kept in `changed_tools` for the Policy page, until the user decides again.
//!
//! "Allow" overrides without a digest — set before this existed, or from the
//! CLI, which does not see the tool list — are bound to the first definition
//! seen afterwards: upgrading keeps every decision the user made.

use rmcp::model::Tool;

use super::{
    Decision, Policy, PolicyError,
    definition::DefinitionDigest,
    override_key,
    store::{DefinitionChange, PolicyFile},
};

/// How much of a changed tool's description is kept to show the user.
const DESCRIPTION_CHARS: usize = 500;

/// What the policy file says about an "allow" for one agent and tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinCheck {
    /// No "allow" override decides this call: nothing to check.
    NotAllowed,
    /// Allowed for this very definition.
    Same,
    /// Allowed, but for no recorded definition yet.
    Unpinned,
    /// Allowed for another definition: the override must be reset.
    Changed,
}

impl Policy {
    /// Checks the "allow" that decides `agent` calling `tool` against the
    /// definition the deployment serves now. Reads only.
    pub fn check_pin(&self, agent: &str, tool: &Tool) -> PinCheck {
        let state = self.fresh_state();
        let name = tool.name.as_ref();
        let scope = match (
            state.file.agents.get(agent).and_then(|m| m.get(name)),
            state.file.tools.get(name),
        ) {
            (Some(Decision::Allow), _) => Some(agent),
            (Some(_), _) => None,
            (None, Some(Decision::Allow)) => Some("*"),
            (None, _) => None,
        };
        let Some(scope) = scope else {
            return PinCheck::NotAllowed;
        };
        match state
            .file
            .allowed_definitions
            .get(&override_key(Some(scope), name))
        {
            None => PinCheck::Unpinned,
            Some(pinned) if *pinned == DefinitionDigest::of(tool) => PinCheck::Same,
            Some(_) => PinCheck::Changed,
        }
    }

    /// Binds unbound "allow" overrides of `tools` to their current
    /// definitions, and resets those given to another definition. Returns
    /// the names of the tools whose "allow" was reset. Blocking file I/O.
    pub fn reconcile_definitions(&self, tools: &[Tool]) -> Result<Vec<String>, PolicyError> {
        let mut reset = Vec::new();
        self.modify(|file| {
            let mut changed = false;
            for tool in tools {
                let (touched, was_reset) = reconcile_one(file, tool);
                changed |= touched;
                if was_reset {
                    reset.push(tool.name.to_string());
                }
            }
            changed
        })?;
        for name in &reset {
            tracing::warn!(tool = %name, "the tool's definition changed since it was allowed; it asks again");
        }
        Ok(reset)
    }

    /// [`Policy::set_override_by`] for a decision given while looking at a
    /// known definition of the tool (a consent prompt), which an "allow" is
    /// then bound to.
    pub fn set_override_for_definition(
        &self,
        agent: Option<&str>,
        tool: &str,
        decision: Decision,
        by: &crate::face::AnsweredBy,
        definition: Option<&DefinitionDigest>,
    ) -> Result<(), PolicyError> {
        self.set_override_by(agent, tool, decision, by)?;
        let Some(definition) = definition.filter(|_| decision == Decision::Allow) else {
            return Ok(());
        };
        let key = override_key(agent, tool);
        self.modify(|file| {
            file.allowed_definitions.insert(key, definition.clone()) != Some(definition.clone())
        })
        .map(|_| ())
    }
}

/// [`Policy::reconcile_definitions`] off the async threads, then the tools
/// marked changed. A failure is logged: the page still shows the policy.
pub async fn reconcile_in_background(
    policy: &Policy,
    tools: &[Tool],
) -> std::collections::BTreeMap<String, DefinitionChange> {
    if !tools.is_empty() {
        let (p, list) = (policy.clone(), tools.to_vec());
        match tokio::task::spawn_blocking(move || p.reconcile_definitions(&list)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(code = e.code(), error = %e, "cannot check tool definitions against the policy");
            }
            Err(e) => tracing::warn!("checking tool definitions failed: {e}"),
        }
    }
    policy.changed_tools()
}

/// The scopes ("*" and agents) that allow `tool`.
fn allowing_scopes(file: &PolicyFile, tool: &str) -> Vec<String> {
    let mut scopes = Vec::new();
    if file.tools.get(tool) == Some(&Decision::Allow) {
        scopes.push("*".to_owned());
    }
    for (agent, map) in &file.agents {
        if map.get(tool) == Some(&Decision::Allow) {
            scopes.push(agent.clone());
        }
    }
    scopes
}

/// Returns (file changed, an "allow" was reset).
fn reconcile_one(file: &mut PolicyFile, tool: &Tool) -> (bool, bool) {
    let name = tool.name.as_ref();
    let current = DefinitionDigest::of(tool);
    let mut changed = false;
    let mut reset = Vec::new();
    for scope in allowing_scopes(file, name) {
        let key = override_key(Some(&scope), name);
        match file.allowed_definitions.get(&key) {
            Some(pinned) if *pinned == current => {}
            Some(_) => {
                file.allowed_definitions.remove(&key);
                file.set_by.remove(&key);
                if scope == "*" {
                    file.tools.remove(name);
                } else if let Some(map) = file.agents.get_mut(&scope) {
                    map.remove(name);
                    if map.is_empty() {
                        file.agents.remove(&scope);
                    }
                }
                reset.push(scope);
                changed = true;
            }
            None => {
                file.allowed_definitions.insert(key, current.clone());
                changed = true;
            }
        }
    }
    if reset.is_empty() {
        return (changed, false);
    }
    let description = tool
        .description
        .as_deref()
        .map(|d| d.chars().take(DESCRIPTION_CHARS).collect());
    file.changed_tools.insert(
        name.to_owned(),
        DefinitionChange {
            at_ms: crate::epoch::now_millis(),
            reset,
            description,
        },
    );
    (true, true)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::face::AnsweredBy;

    fn tool(description: &str) -> Tool {
        let schema = json!({"type": "object", "properties": {"command": {"type": "string"}}});
        let Some(schema) = schema.as_object().cloned() else {
            unreachable!("an object literal");
        };
        Tool::new(
            "coder_workspace_bash",
            description.to_owned(),
            Arc::new(schema),
        )
    }

    #[test]
    fn an_allow_given_at_a_prompt_is_reset_when_the_definition_changes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let policy = Policy::open(dir.path().join("policy.json")).expect("policy");
        let v1 = tool("Run a command in a workspace.");
        policy
            .set_override_for_definition(
                Some("cursor"),
                "coder_workspace_bash",
                Decision::Allow,
                &AnsweredBy::in_process(),
                Some(&DefinitionDigest::of(&v1)),
            )
            .expect("set");
        assert_eq!(policy.check_pin("cursor", &v1), PinCheck::Same);
        assert_eq!(
            policy
                .reconcile_definitions(std::slice::from_ref(&v1))
                .expect("ok"),
            Vec::<String>::new()
        );

        let v2 = tool("Run a command in a workspace, as root, on every workspace.");
        assert_eq!(policy.check_pin("cursor", &v2), PinCheck::Changed);
        assert_eq!(
            policy
                .reconcile_definitions(std::slice::from_ref(&v2))
                .expect("ok"),
            vec!["coder_workspace_bash"]
        );
        assert_eq!(policy.check_pin("cursor", &v2), PinCheck::NotAllowed);
        let rule = policy.effective("cursor", "coder_workspace_bash", Some(&v2));
        assert_eq!(rule.decision, Decision::Ask);
        let file = store_of(&policy);
        let change = &file.changed_tools["coder_workspace_bash"];
        assert_eq!(change.reset, vec!["cursor"]);
        assert!(
            change
                .description
                .as_deref()
                .is_some_and(|d| d.contains("root"))
        );

        // Deciding again on the new definition clears the mark.
        policy
            .set_override_for_definition(
                Some("cursor"),
                "coder_workspace_bash",
                Decision::Allow,
                &AnsweredBy::in_process(),
                Some(&DefinitionDigest::of(&v2)),
            )
            .expect("set");
        assert!(store_of(&policy).changed_tools.is_empty());
        assert_eq!(policy.check_pin("cursor", &v2), PinCheck::Same);
    }

    #[test]
    fn a_version_1_file_keeps_every_override_and_binds_allows_on_first_sight() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("policy.json");
        std::fs::write(
            &path,
            r#"{"version": 1,
                "tools": {"coder_workspace_bash": "allow", "coder_delete_template": "deny"},
                "agents": {"cursor": {"coder_workspace_bash": "allow"}},
                "future_setting": {"kept": true}}"#,
        )
        .expect("write");
        let policy = Policy::open(&path).expect("a version 1 file opens");
        let v1 = tool("Run a command in a workspace.");
        assert_eq!(policy.check_pin("cursor", &v1), PinCheck::Unpinned);
        assert!(
            policy
                .reconcile_definitions(std::slice::from_ref(&v1))
                .expect("ok")
                .is_empty()
        );
        assert_eq!(policy.check_pin("cursor", &v1), PinCheck::Same);
        assert_eq!(policy.check_pin("codex", &v1), PinCheck::Same);

        let text = std::fs::read_to_string(&path).expect("read");
        let file: PolicyFile = serde_json::from_str(&text).expect("parse");
        assert_eq!(file.version, super::super::store::FORMAT_VERSION);
        assert_eq!(file.tools["coder_workspace_bash"], Decision::Allow);
        assert_eq!(file.tools["coder_delete_template"], Decision::Deny);
        assert_eq!(
            file.agents["cursor"]["coder_workspace_bash"],
            Decision::Allow
        );
        assert_eq!(file.allowed_definitions.len(), 2);
        assert_eq!(file.other["future_setting"], json!({"kept": true}));
    }

    fn store_of(policy: &Policy) -> PolicyFile {
        super::super::store::load(policy.path()).expect("load").0
    }
}
