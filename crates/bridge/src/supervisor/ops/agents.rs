//! Agents as the faces manage them: which are installed and configured, an
//! entry for one, configuring and unconfiguring.

use super::blocking;
use crate::clients::{self, ENTRY_NAME, EntryState};
use crate::supervisor::views::{AgentEntry, AgentView, ConfigureView, UnconfigureView};
use crate::supervisor::{BridgeError, BridgeEvent, BridgeHandle};

impl BridgeHandle {
    /// Every known agent: installed, configured, up to date, and what is wrong.
    pub async fn agents(&self) -> Result<Vec<AgentView>, BridgeError> {
        let ctx = self.clients_context();
        blocking(move || {
            Ok(clients::agents()
                .iter()
                .map(|agent| match clients::status(agent.id, &ctx) {
                    Ok(s) => {
                        let mut problems: Vec<String> =
                            s.drift.iter().map(ToString::to_string).collect();
                        if s.entry == EntryState::Foreign {
                            problems.push(format!(
                                "an entry named \"{ENTRY_NAME}\" was written by another tool; configuring replaces it"
                            ));
                        }
                        AgentView {
                            name: s.agent.to_owned(),
                            display_name: s.display_name.to_owned(),
                            installed: s.installed,
                            configured: s.configured,
                            up_to_date: s.up_to_date,
                            config_path: s.path.display().to_string(),
                            problems,
                        }
                    }
                    // One unreadable file must not hide the other agents.
                    Err(e) => AgentView {
                        name: agent.id.to_owned(),
                        display_name: agent.display_name.to_owned(),
                        installed: true,
                        configured: false,
                        up_to_date: false,
                        config_path: ctx.config_path(agent).display().to_string(),
                        problems: vec![e.to_string()],
                    },
                })
                .collect())
        })
        .await
    }

    /// The entry to paste into `name`'s config by hand. With `mint`, a
    /// client token is issued if the agent has none (`POST`); without, only
    /// an existing token is shown and nothing changes (`GET`).
    pub async fn agent_entry(&self, name: &str, mint: bool) -> Result<AgentEntry, BridgeError> {
        let agent = clients::agent(name)?;
        let ctx = self.clients_context();
        blocking(move || {
            let token = match (agent.shape.uses_token(), mint) {
                (false, _) => None,
                (true, true) => Some(ctx.tokens.get_or_issue(agent.id)?),
                (true, false) => ctx.tokens.get(agent.id),
            };
            let needs_token = agent.shape.uses_token() && token.is_none();
            // The same entry `configure` writes, so the copy can never drift from it.
            let entry = clients::entry_for(agent, &ctx, token.as_ref());
            Ok(AgentEntry {
                name: agent.id.to_owned(),
                servers_key: agent.servers_key.to_owned(),
                entry_name: ENTRY_NAME.to_owned(),
                // In the agent's own format (JSON, TOML or YAML).
                snippet: clients::snippet_for(agent, &ctx, token.as_ref()),
                entry,
                needs_token,
            })
        })
        .await
    }

    /// Writes (or with `dry_run`, previews) our entry in `name`'s config.
    pub async fn configure(&self, name: &str, dry_run: bool) -> Result<ConfigureView, BridgeError> {
        let name = name.to_owned();
        let ctx = self.clients_context();
        let view = blocking(move || {
            let plan = clients::plan(&name, &ctx)?;
            let changed = plan.changes();
            let applied = if !dry_run && changed {
                clients::apply(&plan)?.changed
            } else {
                false
            };
            Ok(ConfigureView {
                config_path: plan.path.display().to_string(),
                diff: plan.diff.clone(),
                changed,
                applied,
            })
        })
        .await?;
        if view.applied {
            self.emit(BridgeEvent::Agents);
        }
        Ok(view)
    }

    /// Removes our entry from `name`'s config and revokes its client token.
    pub async fn unconfigure(&self, name: &str) -> Result<UnconfigureView, BridgeError> {
        let name = name.to_owned();
        let ctx = self.clients_context();
        let removed = blocking(move || Ok(clients::remove(&name, &ctx)?)).await?;
        self.emit(BridgeEvent::Agents);
        Ok(UnconfigureView {
            config_path: removed.path.display().to_string(),
            removed: removed.removed,
            revoked: removed.revoked,
        })
    }
}
