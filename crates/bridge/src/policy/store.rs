//! `policy.json` on disk: read, stamp, lock and atomic write.
//!
//! The daemon and the CLI both change this file (the daemon when the user
//! answers "allow always", the CLI on `policy set`), so every change is a
//! read-modify-write under an exclusive lock on a sibling lock file, and the
//! new content replaces the old one by rename so a reader never sees half a file.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::{Decision, PolicyError, definition::DefinitionDigest};

/// The current file format. Version 2 added `allowed_definitions` and
/// `changed_tools`; a version 1 file reads as version 2 with both empty, and
/// its "allow" overrides are bound to the definition of the tool first seen
/// after the upgrade (see `policy::pins`), so nothing the user set is lost.
pub const FORMAT_VERSION: u32 = 2;

/// The file's content. Unknown top-level keys are kept so that a newer
/// version's settings survive an older binary's write.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyFile {
    #[serde(default = "format_version")]
    pub version: u32,
    /// Overrides for every agent, by tool.
    #[serde(default)]
    pub tools: BTreeMap<String, Decision>,
    /// Overrides for one agent, by agent then tool. These win over `tools`.
    #[serde(default)]
    pub agents: BTreeMap<String, BTreeMap<String, Decision>>,
    /// Who set each override and when, by `"<agent or *>/<tool>"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set_by: BTreeMap<String, super::SetBy>,
    /// The definition of the tool each "allow" override was given for, keyed
    /// like `set_by`: a tool whose definition changes loses the override.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub allowed_definitions: BTreeMap<String, DefinitionDigest>,
    /// Tools whose definition changed after they were allowed, by tool, until
    /// the user decides on the new definition.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub changed_tools: BTreeMap<String, DefinitionChange>,
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

fn format_version() -> u32 {
    FORMAT_VERSION
}

/// A tool that changed what it says it does after the user allowed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefinitionChange {
    /// When the change was noticed, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The scopes (`"*"` or an agent) whose "allow" was reset by it.
    pub reset: Vec<String>,
    /// The tool's description as it reads now (the start of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// What identifies one version of the file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    /// Every write replaces the file by rename, so a new inode marks a new
    /// version even where modification times are coarse (1 s on some file
    /// systems) and the length did not change.
    inode: u64,
}

/// The stamp of the file now; `None` when it does not exist.
pub fn stamp(path: &Path) -> Result<Option<Stamp>, PolicyError> {
    match fs::metadata(path) {
        Ok(meta) => Ok(Some(Stamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            inode: inode(&meta),
        })),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(PolicyError::Io {
            path: path.to_owned(),
            error: e,
        }),
    }
}

#[cfg(unix)]
fn inode(meta: &fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
fn inode(_meta: &fs::Metadata) -> u64 {
    0
}

/// Reads the file; a missing file is an empty policy.
pub fn load(path: &Path) -> Result<(PolicyFile, Option<Stamp>), PolicyError> {
    // Stamp first: if the file changes between the two, the next check sees a
    // newer stamp and reads again, rather than keeping stale content forever.
    let stamp = stamp(path)?;
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok((PolicyFile::default_versioned(), None));
        }
        Err(e) => {
            return Err(PolicyError::Io {
                path: path.to_owned(),
                error: e,
            });
        }
    };
    if text.trim().is_empty() {
        return Ok((PolicyFile::default_versioned(), stamp));
    }
    let file = serde_json::from_str(&text).map_err(|e| PolicyError::Parse {
        path: path.to_owned(),
        error: e,
    })?;
    Ok((file, stamp))
}

impl PolicyFile {
    pub fn default_versioned() -> Self {
        Self {
            version: FORMAT_VERSION,
            ..Self::default()
        }
    }
}

/// Holds the cross-process lock for a read-modify-write; released on drop.
#[derive(Debug)]
pub struct WriteLock {
    _lock: crate::private_files::FileLock,
}

pub fn lock(path: &Path) -> Result<WriteLock, PolicyError> {
    let lock_path = lock_path(path);
    crate::private_files::ensure_dir(&parent(path))
        .and_then(|()| crate::private_files::FileLock::acquire(&lock_path))
        .map(|lock| WriteLock { _lock: lock })
        .map_err(|error| PolicyError::Io {
            path: lock_path,
            error,
        })
}

/// Writes `file` to `path` as a file of ours (0600, atomically). The caller
/// holds the [`WriteLock`].
pub fn write_atomic(
    path: &Path,
    file: &PolicyFile,
    _lock: &WriteLock,
) -> Result<Option<Stamp>, PolicyError> {
    let mut text = serde_json::to_string_pretty(file).map_err(|e| PolicyError::Parse {
        path: path.to_owned(),
        error: e,
    })?;
    text.push('\n');
    crate::private_files::write(path, text.as_bytes()).map_err(|error| PolicyError::Io {
        path: path.to_owned(),
        error,
    })?;
    stamp(path)
}

fn parent(path: &Path) -> PathBuf {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_owned)
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".lock");
    path.with_file_name(name)
}
