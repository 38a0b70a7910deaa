//! Previewing and making changes to an agent's config: [`plan`] shows the
//! diff, [`apply`] redoes the edit under the file lock and writes it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{
    Agent, BACKUP_SUFFIX, ClientError, Context, ENTRY_NAME, LOCK_SUFFIX, document, entry, files,
};
use crate::client_tokens::new_token;
use crate::secret::Secret;

/// What a plan does to the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The file does not exist yet.
    Create,
    Update,
    /// Nothing to do: already up to date (or nothing of ours to remove).
    Unchanged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Upsert,
    Remove,
}

/// A previewed change to one agent's config.
///
/// `before`, `after` and `diff` are for showing: client tokens in them are
/// shortened to their last four characters. [`apply`] redoes the edit under
/// the file lock on whatever the file holds by then, so a file changed in
/// between is merged, not clobbered.
#[derive(Clone)]
pub struct Plan {
    pub agent: &'static Agent,
    pub path: PathBuf,
    pub action: Action,
    pub before: String,
    pub after: String,
    /// Unified diff of `before` → `after`; empty when unchanged.
    pub diff: String,
    /// The mode of a config that already holds the agent's token and is
    /// readable by others (written by an older version): apply makes it 0600.
    pub loose_mode: Option<u32>,
    op: Op,
    /// The token the preview shows. When the agent had none (`fresh`),
    /// apply stores this one, so the preview is what lands.
    token: Secret,
    fresh: bool,
    ctx: Context,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("agent", &self.agent.id)
            .field("path", &self.path)
            .field("action", &self.action)
            .field("op", &self.op)
            .finish_non_exhaustive()
    }
}

impl Plan {
    pub fn changes(&self) -> bool {
        self.action != Action::Unchanged || self.loose_mode.is_some()
    }
}

/// Previews writing (or repairing) our entry in `agent`'s config.
pub fn plan(agent: &str, ctx: &Context) -> Result<Plan, ClientError> {
    make_plan(super::agent(agent)?, ctx, Op::Upsert)
}

/// Previews taking our entry out of `agent`'s config.
pub fn plan_remove(agent: &str, ctx: &Context) -> Result<Plan, ClientError> {
    make_plan(super::agent(agent)?, ctx, Op::Remove)
}

fn make_plan(agent: &'static Agent, ctx: &Context, op: Op) -> Result<Plan, ClientError> {
    let path = ctx.config_path(agent);
    let current = read(&path)?;
    let existing = ctx.tokens.get(agent.id);
    let loose_mode = match (&current, &existing) {
        (Some(text), Some(token)) if op == Op::Upsert && text.body.contains(token.expose()) => {
            files::loose_mode(&path)
        }
        _ => None,
    };
    let fresh = existing.is_none();
    let token = existing.unwrap_or_else(new_token);
    let after = edit(agent, ctx, op, current.as_ref(), &path, &token)?;
    let before = current.as_ref().map(Text::full).unwrap_or_default();
    let (action, after) = match after {
        None => (Action::Unchanged, before.clone()),
        Some(after) if current.is_none() => (Action::Create, after),
        Some(after) => (Action::Update, after),
    };
    let (before, after) = (entry::redact(&before), entry::redact(&after));
    let diff = if action == Action::Unchanged {
        String::new()
    } else {
        let shown = path.display().to_string();
        similar::TextDiff::from_lines(&before, &after)
            .unified_diff()
            .context_radius(3)
            .header(&shown, &shown)
            .to_string()
    };
    Ok(Plan {
        agent,
        path,
        action,
        before,
        after,
        diff,
        loose_mode,
        op,
        token,
        fresh,
        ctx: ctx.clone(),
    })
}

/// The result of [`apply`].
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub agent: &'static str,
    /// The file written (a symlink's target when the config is a link).
    pub path: PathBuf,
    pub changed: bool,
    pub created: bool,
    /// Set when this call made the backup (the first change we ever made).
    pub backup: Option<PathBuf>,
    /// The file's mode before it was made 0600 to hold a token (Unix).
    pub tightened_from: Option<u32>,
}

/// Makes the change a plan previewed.
pub fn apply(plan: &Plan) -> Result<Applied, ClientError> {
    let agent = plan.agent;
    let had_token = plan.ctx.tokens.get(agent.id).is_some();
    let result = apply_inner(plan);
    if result.is_err()
        && !had_token
        && plan.op == Op::Upsert
        && plan.ctx.tokens.get(agent.id).is_some()
    {
        // The token was made for an entry that was never written: take it
        // back, so a failed configure leaves nothing behind.
        if let Err(e) = plan.ctx.tokens.revoke(agent.id) {
            tracing::warn!(agent = agent.id, error = %e, "cannot take back the client token of a failed configure");
        }
    }
    result
}

fn apply_inner(plan: &Plan) -> Result<Applied, ClientError> {
    let agent = plan.agent;
    let ctx = &plan.ctx;
    let token = match plan.op {
        // Every agent gets a token, stdio ones too: the shim presents it.
        Op::Upsert if plan.fresh => ctx.tokens.get_or_insert(agent.id, plan.token.clone())?,
        // Never store a token the preview saw: if it was revoked since, it
        // must stay dead, so a new one is issued instead.
        Op::Upsert => ctx.tokens.get_or_issue(agent.id)?,
        Op::Remove => plan.token.clone(),
    };
    let target =
        files::resolve_symlinks(&plan.path).map_err(ClientError::io("resolve", &plan.path))?;
    let dir = target.parent().unwrap_or(Path::new("."));
    if plan.op == Op::Upsert {
        files::create_dir_all(dir).map_err(ClientError::io("create", dir))?;
    } else if !dir.is_dir() {
        return Ok(unchanged(agent, target));
    }
    let lock_path = files::sibling(&target, LOCK_SUFFIX);
    let _lock =
        files::FileLock::acquire(&lock_path).map_err(ClientError::io("lock", &lock_path))?;
    let current = read(&target)?;
    let Some(after) = edit(agent, ctx, plan.op, current.as_ref(), &target, &token)? else {
        let holds_token = current
            .as_ref()
            .is_some_and(|text| text.body.contains(token.expose()));
        let tightened_from = if holds_token && plan.op == Op::Upsert {
            files::make_private(&target).map_err(ClientError::io("protect", &target))?
        } else {
            None
        };
        return Ok(Applied {
            tightened_from,
            ..unchanged(agent, target)
        });
    };
    let mut backup = None;
    if let Some(current) = &current {
        if current.readonly {
            return Err(ClientError::ReadOnly { path: target });
        }
        let bak = files::sibling(&target, BACKUP_SUFFIX);
        if !bak.exists() {
            files::back_up(&target, &bak).map_err(ClientError::io("back up", &target))?;
            backup = Some(bak);
        }
    }
    let holds_token = after.contains(token.expose());
    let tightened_from = files::write_config(&target, after.as_bytes(), holds_token)
        .map_err(ClientError::io("write", &target))?;
    tracing::info!(agent = agent.id, path = %target.display(), "updated agent config");
    Ok(Applied {
        agent: agent.id,
        created: current.is_none(),
        path: target,
        changed: true,
        backup,
        tightened_from,
    })
}

fn unchanged(agent: &Agent, path: PathBuf) -> Applied {
    Applied {
        agent: agent.id,
        path,
        changed: false,
        created: false,
        backup: None,
        tightened_from: None,
    }
}

/// The result of [`remove`].
#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    pub agent: &'static str,
    pub path: PathBuf,
    /// Our entry was in the file and is gone now.
    pub removed: bool,
    /// The agent's client token existed and was revoked.
    pub revoked: bool,
    pub backup: Option<PathBuf>,
}

/// Removes our entry (only ours: a foreign `coder` entry stays) and revokes
/// the agent's client token.
///
/// The token is revoked even when the file cannot be edited (unparsable,
/// read-only): whatever is left in the file then no longer works, which is
/// what the user asked for. The file error is still returned.
pub fn remove(agent: &str, ctx: &Context) -> Result<Removed, ClientError> {
    let agent = super::agent(agent)?;
    let edited = make_plan(agent, ctx, Op::Remove).and_then(|plan| apply(&plan));
    let revoked = ctx.tokens.revoke(agent.id)?;
    let applied = edited?;
    Ok(Removed {
        agent: agent.id,
        path: applied.path,
        removed: applied.changed,
        revoked,
        backup: applied.backup,
    })
}

/// A config file's text, split from a byte-order mark some Windows editors
/// add (the parser rejects it; we put it back on write).
pub(super) struct Text {
    bom: bool,
    pub(super) body: String,
    readonly: bool,
}

impl Text {
    fn full(&self) -> String {
        if self.bom {
            format!("\u{feff}{}", self.body)
        } else {
            self.body.clone()
        }
    }
}

pub(super) fn read(path: &Path) -> Result<Option<Text>, ClientError> {
    let raw = match fs::read(path) {
        Ok(raw) => raw,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(ClientError::io("read", path)(err)),
    };
    let readonly = fs::metadata(path)
        .map(|m| m.permissions().readonly())
        .unwrap_or(false);
    let text = String::from_utf8(raw).map_err(|err| {
        ClientError::io("read", path)(io::Error::new(io::ErrorKind::InvalidData, err))
    })?;
    let (bom, body) = match text.strip_prefix('\u{feff}') {
        Some(body) => (true, body.to_owned()),
        None => (false, text),
    };
    Ok(Some(Text {
        bom,
        body,
        readonly,
    }))
}

/// The new file text for `op`, or `None` when the file is fine as it is.
fn edit(
    agent: &Agent,
    ctx: &Context,
    op: Op,
    current: Option<&Text>,
    path: &Path,
    token: &Secret,
) -> Result<Option<String>, ClientError> {
    let body = current.map(|t| t.body.as_str()).unwrap_or("");
    let existing = document::read_entry(agent, path, body, ENTRY_NAME)?;
    let ours = existing.as_ref().is_some_and(entry::is_ours);
    let new_body = match op {
        Op::Upsert => {
            let want = entry::desired(agent, &ctx.binary, &ctx.url, Some(token));
            Some(document::upsert(
                agent, path, body, ENTRY_NAME, &want, ours,
            )?)
        }
        // A foreign entry under our name is not ours to remove.
        Op::Remove if ours => document::remove(agent, path, body, ENTRY_NAME)?,
        Op::Remove => None,
    };
    Ok(new_body
        .filter(|b| current.is_none() || b != body)
        .map(|b| {
            if current.is_some_and(|t| t.bom) {
                format!("\u{feff}{b}")
            } else {
                b
            }
        }))
}
