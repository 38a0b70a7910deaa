//! `GET /api/policy`, and `coder-bridge policy` with no daemon running: every
//! tool we know of (Coder's list when there is one, the built-in table,
//! overridden ones), its default, and the user's overrides with who set them.

use std::collections::{BTreeMap, BTreeSet};

use rmcp::model::Tool;

use super::views::{PolicyView, ToolNews, ToolPolicyView};
use crate::agent_id::AgentId;
use crate::clients;
use crate::policy::store::DefinitionChange;
use crate::policy::{Decision, Policy, builtin};

/// The policy as the faces show it. `upstream` is Coder's tool list (empty
/// when it is not known: the built-in table stands in for it); `changed`
/// names the tools whose definition changed after an "always allow".
pub fn policy_view(
    policy: &Policy,
    upstream: &[Tool],
    changed: &BTreeMap<String, DefinitionChange>,
) -> PolicyView {
    let overrides = policy.overrides();
    let mut names: BTreeSet<String> = upstream.iter().map(|t| t.name.to_string()).collect();
    names.extend(builtin::CODER_TOOLS.iter().map(|t| t.name.to_owned()));
    names.extend(overrides.tools.keys().cloned());
    names.extend(overrides.agents.values().flat_map(|m| m.keys().cloned()));
    let tools = names
        .into_iter()
        .map(|name| {
            let info = upstream.iter().find(|t| t.name == name);
            let (default, source) = Policy::default_for(&name, info);
            let row = builtin::lookup(&name);
            let mut per: BTreeMap<String, Decision> = BTreeMap::new();
            if let Some(d) = overrides.tools.get(&name) {
                per.insert(AgentId::EVERY_AGENT.to_owned(), *d);
            }
            for (agent, map) in &overrides.agents {
                if let Some(d) = map.get(&name) {
                    per.insert(agent.clone(), *d);
                }
            }
            let set_by = per
                .keys()
                .filter_map(|scope| {
                    let key = crate::policy::override_key(Some(scope), &name);
                    let by = overrides.set_by.get(&key)?;
                    Some((scope.clone(), by.clone()))
                })
                .collect();
            let title = info.and_then(|t| {
                t.title
                    .clone()
                    .or_else(|| t.annotations.as_ref().and_then(|a| a.title.clone()))
            });
            ToolPolicyView {
                title,
                default,
                source,
                irreversible: row.is_some_and(|r| r.irreversible),
                starts_workspace: row.is_some_and(|r| r.starts_workspace),
                overrides: per,
                set_by,
                news: ToolNews {
                    new: info.is_some() && row.is_none(),
                    destructive: row.is_none() && builtin::destructive_hint(info),
                    changed: changed.get(&name).cloned(),
                },
                tool: name,
            }
        })
        .collect();
    PolicyView {
        agents: clients::agents().iter().map(|a| a.id.to_owned()).collect(),
        tools,
    }
}
