//! Agent config writers: one table row per agent (config path per OS, file
//! format, servers key, entry shape), with idempotent, comment-preserving
//! upsert and remove in JSON, TOML and YAML files.
//!
//! The flow for the CLI, the control API and the UI alike:
//! [`status`] says whether an agent is installed, configured and up to date
//! (and how it drifted); [`plan`] previews the change as a diff; [`apply`]
//! makes it; [`remove`] takes our entry out and revokes the agent's client
//! token. A file that cannot be parsed is refused and left untouched; the
//! first change we ever make to a file is preceded by a backup beside it
//! (`<file>.coder-bridge.bak`); writes are atomic and keep the file's mode;
//! a lock file beside it (`<file>.coder-bridge.lock`) orders concurrent writers.

mod document;
mod entry;
mod error;
pub(crate) mod files;
mod locate;
mod plan;
mod table;

use std::ffi::OsString;
use std::path::PathBuf;

use serde::Serialize;

pub use entry::Drift;
pub use error::ClientError;
pub use locate::{config_path, install_markers};
pub use plan::{Action, Applied, Plan, Removed, apply, plan, plan_remove, remove};
pub use table::{AGENTS, Agent, Dirs, ENTRY_NAME, EntryShape, Format, Os};

use crate::client_tokens::ClientTokens;
use crate::secret::Secret;

/// Suffix of the backup taken before the first change to a file.
pub const BACKUP_SUFFIX: &str = ".coder-bridge.bak";
/// Suffix of the lock file that orders concurrent writers.
pub const LOCK_SUFFIX: &str = ".coder-bridge.lock";

/// Every agent we know, in display order.
pub fn agents() -> &'static [Agent] {
    AGENTS
}

/// The row for a command-line agent name.
pub fn agent(name: &str) -> Result<&'static Agent, ClientError> {
    AGENTS
        .iter()
        .find(|a| a.id == name)
        .ok_or_else(|| ClientError::UnknownAgent {
            name: name.to_owned(),
            valid: AGENTS.iter().map(|a| a.id).collect::<Vec<_>>().join(", "),
        })
}

/// The local MCP endpoint agents are pointed at.
pub fn local_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/mcp")
}

/// Everything the writers need to know about this machine and this bridge.
#[derive(Debug, Clone)]
pub struct Context {
    pub os: Os,
    pub dirs: Dirs,
    /// The local MCP URL written into HTTP entries.
    pub url: String,
    /// Absolute path of the `coder-bridge` binary written into stdio entries.
    pub binary: PathBuf,
    pub tokens: ClientTokens,
    /// `PATH`, to spot agents installed as commands.
    pub path_var: Option<OsString>,
}

impl Context {
    /// The current user's folders and `PATH`, the local URL for `port`, and
    /// `binary` (the CLI passes its own path; the tray app its bundled CLI's).
    pub fn detect(port: u16, binary: PathBuf, tokens: ClientTokens) -> Self {
        Self {
            os: Os::current(),
            dirs: Dirs::detect(),
            url: local_url(port),
            binary,
            tokens,
            path_var: std::env::var_os(crate::env::PATH),
        }
    }

    /// The config file `agent` reads here.
    pub fn config_path(&self, agent: &Agent) -> PathBuf {
        config_path(agent, self.os, &self.dirs)
    }

    fn installed(&self, agent: &Agent) -> bool {
        install_markers(agent, self.os, &self.dirs)
            .iter()
            .any(|p| p.exists())
            || self.config_path(agent).exists()
            || agent
                .binaries
                .iter()
                .any(|b| locate::on_path(b, self.path_var.as_deref()))
    }
}

/// Whether our entry is in an agent's config, and whose it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryState {
    Missing,
    /// Written by coder-bridge.
    Ours,
    /// Something else (e.g. `coder exp mcp configure`) uses our entry name;
    /// `configure` replaces it, `unconfigure` leaves it alone.
    Foreign,
}

/// One agent's state, for `coder-bridge agents` and the UI.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub agent: &'static str,
    pub display_name: &'static str,
    pub path: PathBuf,
    pub installed: bool,
    pub configured: bool,
    pub up_to_date: bool,
    pub entry: EntryState,
    pub drift: Vec<Drift>,
}

/// Reads `agent`'s config and compares our entry with what it should be.
pub fn status(agent: &str, ctx: &Context) -> Result<Status, ClientError> {
    let agent = self::agent(agent)?;
    let path = ctx.config_path(agent);
    let found = match plan::read(&path)? {
        Some(text) => document::read_entry(agent, &path, &text.body, ENTRY_NAME)?,
        None => None,
    };
    let token = ctx.tokens.get(agent.id);
    let (entry, drift) = match found {
        None => (EntryState::Missing, Vec::new()),
        Some(found) if entry::is_ours(&found) => {
            let want = entry::desired(agent, &ctx.binary, &ctx.url, token.as_ref());
            (
                EntryState::Ours,
                entry::drift(&found, &want, token.as_ref()),
            )
        }
        Some(_) => (EntryState::Foreign, Vec::new()),
    };
    Ok(Status {
        agent: agent.id,
        display_name: agent.display_name,
        installed: ctx.installed(agent),
        configured: entry == EntryState::Ours,
        up_to_date: entry == EntryState::Ours && drift.is_empty(),
        entry,
        drift,
        path,
    })
}

/// The entry `configure` writes for `agent`, as JSON: for showing it (a
/// copy-and-paste snippet in the UI) without writing anything. `token` is
/// the agent's client token; stdio entries do not carry it.
pub fn entry_for(agent: &Agent, ctx: &Context, token: Option<&Secret>) -> serde_json::Value {
    entry::to_value(&entry::desired(agent, &ctx.binary, &ctx.url, token))
}

/// The entry `configure` writes for `agent` as a file of the agent's own
/// format (JSON, TOML or YAML) holding only it, to paste by hand.
pub fn snippet_for(agent: &Agent, ctx: &Context, token: Option<&Secret>) -> String {
    let fields = entry::desired(agent, &ctx.binary, &ctx.url, token);
    let path = ctx.config_path(agent);
    document::upsert(agent, &path, "", ENTRY_NAME, &fields, false).unwrap_or_default()
}
