//! Per-agent local bearer tokens.
//!
//! Every configured agent gets its own token for the local MCP endpoint, so
//! activity is attributed to a real agent and one agent can be revoked
//! without touching the others. Tokens live in `<config_dir>/client-tokens.json`
//! (file 0600, folder 0700). Writers take a lock file and replace the file
//! atomically; readers (the daemon's hot path) notice changes made by another
//! process — `coder-bridge configure` while the daemon runs — by watching the
//! file's length, mtime and inode at most every [`RECHECK_INTERVAL`], or at
//! once when a presented token is unknown.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::agent_id::AgentId;
use crate::private_files;
use crate::secret::Secret;

/// Every token starts with this, so a leaked one is recognisable in a scan.
pub const TOKEN_PREFIX: &str = "cbt_";
/// The store's file name inside the config directory.
pub const FILE_NAME: &str = "client-tokens.json";
/// How stale the in-memory copy may get before `verify` looks at the file again.
pub const RECHECK_INTERVAL: Duration = Duration::from_millis(250);

const FORMAT_VERSION: u32 = 1;
const TOKEN_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientTokenError {
    // The OS error is part of the message rather than a `source`, so a
    // chain printer (anyhow's `{:#}`) does not repeat it.
    #[error("cannot {action} {path}: {error}")]
    Io {
        action: &'static str,
        path: PathBuf,
        error: io::Error,
    },
    #[error("{path} is not a valid client token file (line {line}, column {column}): {message}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("invalid agent name {0:?}: use 1-64 characters a-z, 0-9, '.', '_' or '-'")]
    InvalidAgent(String),
}

impl ClientTokenError {
    /// A stable code the UI and scripts can branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Io { .. } => "client_tokens.io",
            Self::Corrupt { .. } => "client_tokens.corrupt",
            Self::InvalidAgent(_) => "client_tokens.invalid_agent",
        }
    }
}

/// The per-agent token store. Cheap to clone; clones share one cache.
#[derive(Clone)]
pub struct ClientTokens {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ClientTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTokens")
            .field("path", &self.inner.path)
            .field("agents", &self.agents())
            .finish()
    }
}

struct Inner {
    path: PathBuf,
    state: Mutex<State>,
}

struct State {
    tokens: BTreeMap<String, Secret>,
    /// What the file looked like when `tokens` was read; `None` = no file.
    stamp: Option<Stamp>,
    checked: Instant,
}

/// Enough of a file's metadata to tell that someone replaced it. The inode
/// matters because writers rename a new file in: same length, and on coarse
/// file systems the same mtime, but always a new inode.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct FileFormat {
    version: u32,
    #[serde(default)]
    clients: BTreeMap<String, Record>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    issued_at: Option<String>,
}

impl ClientTokens {
    /// Opens the store at `path`. A missing file is an empty store; nothing
    /// is created until the first token is issued.
    pub fn open(path: PathBuf) -> Result<Self, ClientTokenError> {
        let (tokens, stamp) = load(&path)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                state: Mutex::new(State {
                    tokens,
                    stamp,
                    checked: Instant::now(),
                }),
            }),
        })
    }

    /// Opens `<config_dir>/client-tokens.json`.
    pub fn open_default() -> Result<Self, ClientTokenError> {
        Self::open(crate::paths::config_dir().join(FILE_NAME))
    }

    /// Where the tokens are stored.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Issues a new random token for `agent`, replacing its old one (which
    /// stops working at once in every process that reads this file).
    pub fn issue(&self, agent: &str) -> Result<Secret, ClientTokenError> {
        validate_agent(agent)?;
        let token = new_token();
        let value = token.expose().to_owned();
        self.mutate(|file| {
            file.clients.insert(
                agent.to_owned(),
                Record {
                    token: value,
                    issued_at: now_rfc3339(),
                },
            );
            true
        })?;
        tracing::info!(agent, "issued a client token");
        Ok(token)
    }

    /// The agent's current token, if it has one.
    pub fn get(&self, agent: &str) -> Option<Secret> {
        let mut state = self.state();
        self.refresh(&mut state, false);
        state.tokens.get(agent).cloned()
    }

    /// The agent's token, issuing one if it has none. Two processes racing
    /// here agree on one token: the check is repeated under the write lock.
    pub fn get_or_issue(&self, agent: &str) -> Result<Secret, ClientTokenError> {
        self.get_or_insert(agent, new_token())
    }

    /// The agent's token, storing `candidate` if it has none. Lets a preview
    /// (`clients::plan`) show the very token that applying it will store.
    pub(crate) fn get_or_insert(
        &self,
        agent: &str,
        candidate: Secret,
    ) -> Result<Secret, ClientTokenError> {
        validate_agent(agent)?;
        if let Some(token) = self.get(agent) {
            return Ok(token);
        }
        let value = candidate.expose().to_owned();
        let mut issued = false;
        self.mutate(|file| {
            if file.clients.contains_key(agent) {
                return false;
            }
            file.clients.insert(
                agent.to_owned(),
                Record {
                    token: value,
                    issued_at: now_rfc3339(),
                },
            );
            issued = true;
            true
        })?;
        if issued {
            tracing::info!(agent, "issued a client token");
        }
        self.state()
            .tokens
            .get(agent)
            .cloned()
            .ok_or_else(|| ClientTokenError::Io {
                action: "read back the token just written to",
                path: self.inner.path.clone(),
                error: io::Error::other("the token vanished after it was written"),
            })
    }

    /// Revokes the agent's token. `Ok(false)` when it had none.
    pub fn revoke(&self, agent: &str) -> Result<bool, ClientTokenError> {
        let mut removed = false;
        self.mutate(|file| {
            removed = file.clients.remove(agent).is_some();
            removed
        })?;
        if removed {
            tracing::info!(agent, "revoked a client token");
        }
        Ok(removed)
    }

    /// The agent a presented token belongs to. Compares against every token
    /// in constant time; looks at the file again when the cache is older than
    /// [`RECHECK_INTERVAL`] or the token is unknown (maybe just issued).
    pub fn verify(&self, presented: &str) -> Option<AgentId> {
        if !presented.starts_with(TOKEN_PREFIX) {
            return None;
        }
        let mut state = self.state();
        self.refresh(&mut state, false);
        if let Some(agent) = find(&state.tokens, presented) {
            return Some(AgentId::new(agent));
        }
        // A miss may be a token issued a moment ago by another process. A stat
        // is cheap; the file is only re-read when it really changed.
        self.refresh(&mut state, true);
        find(&state.tokens, presented).map(AgentId::new)
    }

    /// Agents that currently hold a token, sorted.
    pub fn agents(&self) -> Vec<String> {
        let mut state = self.state();
        self.refresh(&mut state, false);
        state.tokens.keys().cloned().collect()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the map half-updated
        // (it is replaced wholesale), so a poisoned lock is still usable.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn refresh(&self, state: &mut State, force: bool) {
        if !force && state.checked.elapsed() < RECHECK_INTERVAL {
            return;
        }
        state.checked = Instant::now();
        let current = stamp(&self.inner.path);
        if current == state.stamp {
            return;
        }
        match load(&self.inner.path) {
            Ok((tokens, stamp)) => {
                state.tokens = tokens;
                state.stamp = stamp;
            }
            Err(err) => {
                // Keep serving the last good copy rather than locking every
                // agent out because of a file someone is hand-editing.
                tracing::warn!(code = err.code(), error = %err, "keeping the previous client tokens");
            }
        }
    }

    /// Read-modify-write under the lock. `change` returns whether it changed
    /// anything; nothing is written when it did not.
    fn mutate(&self, change: impl FnOnce(&mut FileFormat) -> bool) -> Result<(), ClientTokenError> {
        let path = &self.inner.path;
        let io_err = |action: &'static str, p: &Path| {
            let p = p.to_path_buf();
            move |error| ClientTokenError::Io {
                action,
                path: p,
                error,
            }
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            private_files::ensure_dir(dir).map_err(io_err("create", dir))?;
        }
        let lock_path = private_files::sibling(path, ".lock");
        let _lock =
            private_files::FileLock::acquire(&lock_path).map_err(io_err("lock", &lock_path))?;
        // Under the lock the file on disk is the truth, not our cache.
        let mut file = read_file(path)?.unwrap_or_default();
        if change(&mut file) {
            file.version = FORMAT_VERSION;
            let mut text =
                serde_json::to_string_pretty(&file).map_err(|err| ClientTokenError::Io {
                    action: "serialise",
                    path: path.clone(),
                    error: io::Error::other(err),
                })?;
            text.push('\n');
            private_files::write(path, text.as_bytes()).map_err(io_err("write", path))?;
        }
        let mut state = self.state();
        state.tokens = to_secrets(file);
        state.stamp = stamp(path);
        state.checked = Instant::now();
        Ok(())
    }
}

fn find(tokens: &BTreeMap<String, Secret>, presented: &str) -> Option<String> {
    // No early exit: the time taken must not say which entry, or how much of
    // one, matched.
    let mut found = None;
    for (agent, token) in tokens {
        let equal: bool = token.expose().as_bytes().ct_eq(presented.as_bytes()).into();
        if equal && found.is_none() {
            found = Some(agent.clone());
        }
    }
    found
}

fn validate_agent(agent: &str) -> Result<(), ClientTokenError> {
    let ok = !agent.is_empty()
        && agent.len() <= 64
        && agent.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(ClientTokenError::InvalidAgent(agent.to_owned()))
    }
}

pub(crate) fn new_token() -> Secret {
    let bytes: [u8; TOKEN_BYTES] = rand::random();
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    Secret::new(format!("{TOKEN_PREFIX}{encoded}"))
}

fn now_rfc3339() -> Option<String> {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        inode,
    })
}

fn read_file(path: &Path) -> Result<Option<FileFormat>, ClientTokenError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(ClientTokenError::Io {
                action: "read",
                path: path.to_path_buf(),
                error,
            });
        }
    };
    if text.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|err| ClientTokenError::Corrupt {
            path: path.to_path_buf(),
            line: err.line(),
            column: err.column(),
            message: err.to_string(),
        })
}

fn load(path: &Path) -> Result<(BTreeMap<String, Secret>, Option<Stamp>), ClientTokenError> {
    // Stamp first: if the file changes between the two calls, the next check
    // sees a newer stamp and reads it again, rather than missing the change.
    let before = stamp(path);
    let file = read_file(path)?.unwrap_or_default();
    Ok((to_secrets(file), before))
}

fn to_secrets(file: FileFormat) -> BTreeMap<String, Secret> {
    file.clients
        .into_iter()
        .map(|(agent, record)| (agent, Secret::new(record.token)))
        .collect()
}
