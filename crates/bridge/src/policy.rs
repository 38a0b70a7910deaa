//! Tool policy: allow, ask the user, or deny — per agent and per tool.
//!
//! The default for a tool comes from its MCP annotations when the deployment
//! sends them, else from a built-in table of Coder's tools, else "ask". The
//! user's overrides live in `<config_dir>/policy.json`; the file is re-read
//! when it changes on disk, so `coder-bridge policy set` takes effect in a
//! running daemon without a restart.

pub mod builtin;
pub mod definition;
pub mod pins;
pub mod store;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rmcp::model::{JsonObject, Tool};
use serde::{Deserialize, Serialize};

use self::store::{PolicyFile, Stamp};
use crate::face::AnsweredBy;

/// The policy file's name inside the config directory.
pub const FILE_NAME: &str = "policy.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    Ask,
    Deny,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Ask => "ask",
            Self::Deny => "deny",
        }
    }

    /// The more cautious of two decisions (`Deny` > `Ask` > `Allow`).
    pub fn stricter(self, other: Self) -> Self {
        self.max(other)
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Decision {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "allow" => Ok(Self::Allow),
            "ask" => Ok(Self::Ask),
            "deny" => Ok(Self::Deny),
            _ => Err(PolicyError::InvalidDecision(s.to_owned())),
        }
    }
}

/// Where a rule's decision came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// An unknown tool without annotations: ask.
    Default,
    /// The tool's MCP annotations.
    Annotation,
    /// The built-in table of Coder's tools.
    Builtin,
    /// The user's override in `policy.json`.
    Override,
}

/// The policy for one agent and one tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub decision: Decision,
    pub source: Source,
    /// The call cannot be undone; the consent prompt says so.
    pub irreversible: bool,
    /// The tool starts the workspace it names if it is stopped.
    pub starts_workspace: bool,
    /// A tool Coder Bridge has no row for, annotated `destructiveHint`: the
    /// consent prompt warns that it may delete or overwrite data.
    pub destructive: bool,
}

/// The user's overrides, as shown by `coder-bridge policy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overrides {
    /// For every agent, by tool.
    pub tools: BTreeMap<String, Decision>,
    /// For one agent, by agent then tool; these win over `tools`.
    pub agents: BTreeMap<String, BTreeMap<String, Decision>>,
    /// Who set each override and when, by [`override_key`].
    #[serde(default)]
    pub set_by: BTreeMap<String, SetBy>,
}

/// Who set an override, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetBy {
    pub by: AnsweredBy,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
}

/// `"<agent>/<tool>"`, or `"*/<tool>"` for every agent: how [`Overrides::set_by`] is keyed.
pub fn override_key(agent: Option<&str>, tool: &str) -> String {
    format!("{}/{tool}", agent.unwrap_or("*"))
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    // The underlying error is part of the message rather than a `source`,
    // so a chain printer (anyhow's `{:#}`) does not repeat it.
    #[error("cannot read or write {}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{} is not a valid policy file: {error}", path.display())]
    Parse {
        path: PathBuf,
        error: serde_json::Error,
    },
    #[error("unknown decision {0:?}: expected allow, ask or deny")]
    InvalidDecision(String),
    #[error("a tool or agent name must not be empty")]
    EmptyName,
}

impl PolicyError {
    /// A stable code the UI and CLI can branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Io { .. } => "policy_io",
            Self::Parse { .. } => "policy_parse",
            Self::InvalidDecision(_) => "policy_invalid_decision",
            Self::EmptyName => "policy_empty_name",
        }
    }
}

/// The live policy. Cheap to clone; clones share state.
#[derive(Debug, Clone)]
pub struct Policy {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    file: PolicyFile,
    /// The stamp of the version in `file`, or of a broken version already
    /// reported (so a bad file is logged once, not on every call).
    stamp: Option<Stamp>,
    /// When the file was last compared with `stamp`: calls within
    /// [`RECHECK_INTERVAL`] of it trust `file` without a `stat`.
    checked: Instant,
}

/// How long the policy is trusted before the file is checked again. Changes
/// made through this handle apply at once; a `coder-bridge policy` run in
/// another process takes effect within this much.
const RECHECK_INTERVAL: Duration = Duration::from_millis(250);

impl Policy {
    /// Opens `<config_dir>/policy.json`.
    pub fn open_default() -> Result<Self, PolicyError> {
        Self::open(crate::paths::config_dir().join(FILE_NAME))
    }

    /// Opens the policy kept at `path`. A missing file is an empty policy;
    /// an unreadable one is an error, so the user hears about it at start-up.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, PolicyError> {
        let path = path.into();
        let (file, stamp) = store::load(&path)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                state: Mutex::new(State {
                    file,
                    stamp,
                    checked: Instant::now(),
                }),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The rule for `agent` calling `tool`, without looking at arguments.
    pub fn effective(&self, agent: &str, tool: &str, info: Option<&Tool>) -> Rule {
        let state = self.fresh_state();
        let row = builtin::lookup(tool);
        let (decision, source) = match override_for(&state.file, agent, tool) {
            Some(decision) => (decision, Source::Override),
            None => default_rule(tool, info),
        };
        Rule {
            decision,
            source,
            irreversible: row.is_some_and(|t| t.irreversible),
            starts_workspace: row.is_some_and(|t| t.starts_workspace),
            destructive: row.is_none() && builtin::destructive_hint(info),
        }
    }

    /// The rule for one call: like [`Policy::effective`], and also flags
    /// calls whose arguments make them irreversible (a build that deletes).
    pub fn effective_call(
        &self,
        agent: &str,
        tool: &str,
        info: Option<&Tool>,
        arguments: Option<&JsonObject>,
    ) -> Rule {
        let mut rule = self.effective(agent, tool, info);
        rule.irreversible = builtin::irreversible_call(tool, arguments);
        rule
    }

    /// The rule the defaults alone give (no overrides), for showing next to them.
    pub fn default_for(tool: &str, info: Option<&Tool>) -> (Decision, Source) {
        default_rule(tool, info)
    }

    /// Tools whose definition changed after they were allowed, by tool.
    pub fn changed_tools(&self) -> BTreeMap<String, store::DefinitionChange> {
        self.fresh_state().file.changed_tools.clone()
    }

    /// The user's overrides as they are on disk now.
    pub fn overrides(&self) -> Overrides {
        let state = self.fresh_state();
        Overrides {
            tools: state.file.tools.clone(),
            agents: state.file.agents.clone(),
            set_by: state.file.set_by.clone(),
        }
    }

    /// Sets an override for `tool`: for one agent, or for all when `agent` is `None`.
    /// Blocking file I/O: call from `spawn_blocking` on an async path.
    pub fn set_override(
        &self,
        agent: Option<&str>,
        tool: &str,
        decision: Decision,
    ) -> Result<(), PolicyError> {
        self.set_override_by(agent, tool, decision, &AnsweredBy::in_process())
    }

    /// [`Policy::set_override`], remembering who set it.
    pub fn set_override_by(
        &self,
        agent: Option<&str>,
        tool: &str,
        decision: Decision,
        by: &AnsweredBy,
    ) -> Result<(), PolicyError> {
        check_names(agent, tool)?;
        self.modify(|file| {
            let map = match agent {
                Some(agent) => file.agents.entry(agent.to_owned()).or_default(),
                None => &mut file.tools,
            };
            let mut changed = map.insert(tool.to_owned(), decision) != Some(decision);
            // A decision given now is for the definition served now: any
            // earlier binding goes, and the "changed" mark is answered.
            changed |= file
                .allowed_definitions
                .remove(&override_key(agent, tool))
                .is_some();
            changed |= file.changed_tools.remove(tool).is_some();
            if changed {
                file.set_by.insert(
                    override_key(agent, tool),
                    SetBy {
                        by: by.clone(),
                        at_ms: crate::epoch::now_millis(),
                    },
                );
            }
            changed
        })
        .map(|_| ())
    }

    /// Removes an override; returns whether there was one (or a "changed"
    /// mark on the tool, which going back to the default answers).
    pub fn clear_override(&self, agent: Option<&str>, tool: &str) -> Result<bool, PolicyError> {
        check_names(agent, tool)?;
        self.modify(|file| {
            file.set_by.remove(&override_key(agent, tool));
            file.allowed_definitions.remove(&override_key(agent, tool));
            // Going back to the default is a decision on the new definition too.
            let answered = file.changed_tools.remove(tool).is_some();
            let removed = match agent {
                Some(agent) => {
                    let Some(map) = file.agents.get_mut(agent) else {
                        return answered;
                    };
                    let removed = map.remove(tool).is_some();
                    if map.is_empty() {
                        file.agents.remove(agent);
                    }
                    removed
                }
                None => file.tools.remove(tool).is_some(),
            };
            removed || answered
        })
    }

    /// Read-modify-write under the cross-process lock. `change` returns
    /// whether it changed anything; an unchanged file is not rewritten.
    fn modify(&self, change: impl FnOnce(&mut PolicyFile) -> bool) -> Result<bool, PolicyError> {
        let path = &self.inner.path;
        let lock = store::lock(path)?;
        // Re-read under the lock: another process may have written since we
        // last looked, and its change must not be lost. A file we cannot
        // parse is refused rather than overwritten with our idea of it.
        let (mut file, _) = store::load(path)?;
        let changed = change(&mut file);
        let stamp = if changed {
            file.version = store::FORMAT_VERSION;
            store::write_atomic(path, &file, &lock)?
        } else {
            store::stamp(path)?
        };
        let mut state = self.lock_state();
        state.file = file;
        state.stamp = stamp;
        state.checked = Instant::now();
        Ok(changed)
    }

    /// The state, re-read first if the file changed on disk since.
    fn fresh_state(&self) -> MutexGuard<'_, State> {
        let mut state = self.lock_state();
        if state.checked.elapsed() < RECHECK_INTERVAL {
            return state;
        }
        state.checked = Instant::now();
        let path = &self.inner.path;
        let now = match store::stamp(path) {
            Ok(now) => now,
            Err(e) => {
                tracing::warn!(code = e.code(), error = %e, "cannot check the policy file; keeping the last good policy");
                return state;
            }
        };
        if now == state.stamp {
            return state;
        }
        match store::load(path) {
            Ok((file, stamp)) => {
                tracing::info!(path = %path.display(), "policy file changed; re-read it");
                state.file = file;
                state.stamp = stamp;
            }
            Err(e) => {
                tracing::warn!(code = e.code(), error = %e, "policy file changed but cannot be read; keeping the last good policy");
                state.stamp = now;
            }
        }
        state
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves a consistent `State` (every
        // update is a whole-value assignment), so poisoning is ignored.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn check_names(agent: Option<&str>, tool: &str) -> Result<(), PolicyError> {
    if tool.trim().is_empty() || agent.is_some_and(|a| a.trim().is_empty()) {
        return Err(PolicyError::EmptyName);
    }
    Ok(())
}

fn override_for(file: &PolicyFile, agent: &str, tool: &str) -> Option<Decision> {
    file.agents
        .get(agent)
        .and_then(|m| m.get(tool))
        .or_else(|| file.tools.get(tool))
        .copied()
}

/// Annotations first; the built-in table when there are none. When both
/// speak, the stricter wins: annotations are hints from the server, and a
/// deployment calling one of Coder's state-changing tools read-only must not
/// loosen what the table knows.
fn default_rule(tool: &str, info: Option<&Tool>) -> (Decision, Source) {
    let annotated = builtin::annotation_decision(info.and_then(|t| t.annotations.as_ref()));
    let table = builtin::lookup(tool).map(|t| builtin::decision_of(t.effect));
    match (annotated, table) {
        (Some(a), Some(b)) if b.stricter(a) != a => (b, Source::Builtin),
        (Some(a), _) => (a, Source::Annotation),
        (None, Some(b)) => (b, Source::Builtin),
        (None, None) => (Decision::Ask, Source::Default),
    }
}
