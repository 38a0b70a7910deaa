//! Every file and folder Coder Bridge writes, in one place.
//!
//! Our files (secrets, sign-in state, the control token, client tokens,
//! policies, `daemon.json`, logs, the activity database) are the user's
//! alone: files 0600 in folders 0700. A folder or file of ours found looser
//! (made by an older version, by hand, or under a lax umask) is tightened.
//!
//! Writes are atomic: a temp file in the same folder (so the rename never
//! crosses file systems), created 0600 before any byte is written, synced,
//! renamed over the old file, and the folder synced so the rename itself
//! survives a crash. A reader sees the old file or the new one, never half
//! of one, and a secret is never readable by others even for an instant.
//!
//! Agents' config files are written through [`replace`] too: made 0600 when
//! they receive a token, otherwise keeping the mode their owner chose.
//! Agents' folders (`~/.cursor`, …) are not ours and are never tightened.
//!
//! On Windows modes do not apply: files inherit the per-user ACL of the
//! profile's folders, which is already private to the user.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Mode of every file of ours.
pub const FILE_MODE: u32 = 0o600;
/// Mode of every folder of ours.
pub const DIR_MODE: u32 = 0o700;

/// Temp files of an unfinished write; never left behind on success.
const TEMP_PREFIX: &str = ".coder-bridge-";
const TEMP_SUFFIX: &str = ".tmp";

/// Creates `dir` (and missing parents) 0700, and tightens `dir` itself to
/// 0700 when it exists with more. For folders of ours only.
///
/// A folder that cannot be tightened (a read-only mount, another owner) is
/// warned about, not refused: the files in it are 0600 all the same, and
/// the write that follows reports a folder it cannot write to.
pub fn ensure_dir(dir: &Path) -> io::Result<()> {
    create_missing_dirs(dir).map_err(|err| {
        io::Error::new(
            err.kind(),
            format!("cannot create {}: {err}", dir.display()),
        )
    })?;
    if let Err(err) = tighten(dir, DIR_MODE) {
        tracing::warn!(dir = %dir.display(), error = %err, "cannot make the folder private (0700)");
    }
    Ok(())
}

/// Creates the folders of `dir` that are missing, 0700, and leaves existing
/// ones as they are: for paths whose folders belong to someone else (an
/// agent's config folder).
pub fn create_missing_dirs(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(DIR_MODE);
    }
    builder.create(dir)
}

/// Writes `bytes` to `path` atomically as a file of ours: 0600 in a 0700
/// folder (created or tightened).
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    ensure_dir(parent(path))?;
    replace(path, bytes, Mode::Private).map(drop)
}

/// How [`replace`] sets the permissions of the file it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 0600, whatever the file had: it is ours, or it holds a secret.
    Private,
    /// An existing file keeps its mode (a new one is 0600): an agent's
    /// config that holds nothing secret is its owner's to share.
    KeepExisting,
}

/// The permissions of a file before and after [`replace`] (Unix modes;
/// `None` where the platform has none, or `before` when the file is new).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replaced {
    pub before: Option<u32>,
    pub after: Option<u32>,
}

impl Replaced {
    /// `(before, after)` when an existing file's mode was narrowed.
    pub fn tightened(&self) -> Option<(u32, u32)> {
        match (self.before, self.after) {
            (Some(before), Some(after)) if before & !after != 0 => Some((before, after)),
            _ => None,
        }
    }
}

/// Replaces `path` with `bytes` atomically; its folder must exist and is
/// left as it is. See the module docs for the steps.
pub fn replace(path: &Path, bytes: &[u8], mode: Mode) -> io::Result<Replaced> {
    let dir = parent(path);
    let existing = match fs::metadata(path) {
        Ok(meta) => Some(meta.permissions()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
        Err(err) => return Err(err),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX).suffix(TEMP_SUFFIX);
    #[cfg(unix)]
    builder.permissions(mode_permissions(FILE_MODE));
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    let kept = match mode {
        Mode::KeepExisting => existing.clone(),
        Mode::Private => None,
    };
    // Set explicitly: the mode given at creation is narrowed by the umask.
    match &kept {
        Some(permissions) => tmp.as_file().set_permissions(permissions.clone())?,
        None => set_private(tmp.as_file())?,
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|err| err.error)?;
    sync_dir(dir);
    let before = existing.as_ref().and_then(unix_mode);
    Ok(Replaced {
        before,
        after: match kept {
            Some(_) => before,
            None => cfg!(unix).then_some(FILE_MODE),
        },
    })
}

/// Narrows `path` (file or folder, links followed) to `mode` when it grants
/// anything more; returns the mode it had then. A missing path is left be.
pub fn tighten(path: &Path, mode: u32) -> io::Result<Option<u32>> {
    #[cfg(unix)]
    {
        let current = match fs::metadata(path) {
            Ok(meta) => unix_mode(&meta.permissions()).unwrap_or(0),
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        if current & !mode == 0 {
            return Ok(None);
        }
        fs::set_permissions(path, mode_permissions(mode))?;
        Ok(Some(current))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(None)
    }
}

/// Opens the log at `path` for appending, as a file of ours (created 0600
/// in a 0700 folder, an existing one tightened).
pub fn open_log(path: &Path) -> io::Result<File> {
    ensure_dir(parent(path))?;
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    open_private(&mut options, path)
}

/// Readies a SQLite database of ours before SQLite opens it: creates it
/// 0600 when missing (SQLite creates its `-wal` and `-shm` files with the
/// database's mode), and tightens an existing one and its companions.
pub fn prepare_database(path: &Path) -> io::Result<()> {
    ensure_dir(parent(path))?;
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    open_private(&mut options, path)?;
    for suffix in ["-wal", "-shm", "-journal"] {
        tighten(&sibling(path, suffix), FILE_MODE)?;
    }
    Ok(())
}

/// Opens with `options`, creating 0600, and tightens what was already there.
fn open_private(options: &mut OpenOptions, path: &Path) -> io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    let file = options.open(path)?;
    // Through the descriptor: it is the file just opened, whatever the path
    // points at by now.
    if unix_mode(&file.metadata()?.permissions()).is_some_and(|m| m & !FILE_MODE != 0) {
        set_private(&file)?;
    }
    Ok(file)
}

/// An exclusive advisory lock, held for as long as the value lives.
///
/// The lock file (0600, tightened when found looser) stays on disk after
/// release: deleting it would race with a second writer that already opened
/// it and would then lock a different inode.
#[derive(Debug)]
pub struct FileLock {
    file: File,
}

impl FileLock {
    /// Blocks until the lock at `lock_path` is ours. The folder must exist.
    pub fn acquire(lock_path: &Path) -> io::Result<Self> {
        let file = open_lock_file(lock_path)?;
        fs4::FileExt::lock(&file)?;
        Ok(Self { file })
    }

    /// The lock when nobody holds it, `None` when someone does.
    pub fn try_acquire(lock_path: &Path) -> io::Result<Option<Self>> {
        let file = open_lock_file(lock_path)?;
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => Ok(Some(Self { file })),
            Err(fs4::TryLockError::WouldBlock) => Ok(None),
            Err(fs4::TryLockError::Error(err)) => Err(err),
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Closing the descriptor releases the lock anyway; unlocking first
        // makes the release immediate and explicit.
        let _ = fs4::FileExt::unlock(&self.file);
    }
}

fn open_lock_file(lock_path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).read(true).write(true);
    open_private(&mut options, lock_path)
}

/// `path` with `suffix` appended to its file name (`mcp.json` → `mcp.json.lock`).
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

/// The file a write to `path` must really replace: the target of a symlink
/// (resolved one level at a time, relative links against their folder), so
/// a dotfile manager's link is not replaced by a plain file.
pub fn resolve_symlinks(path: &Path) -> io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..16 {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = fs::read_link(&current)?;
                current = match current.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            Ok(_) => return Ok(current),
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(current),
            Err(err) => return Err(err),
        }
    }
    Err(io::Error::other("too many levels of symbolic links"))
}

/// The folder `path` is in (`.` for a bare file name).
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Makes a rename in `dir` durable. Best effort: the new file is already in
/// place, and some file systems cannot sync a folder.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Err(err) = File::open(dir).and_then(|handle| handle.sync_all()) {
        tracing::debug!(dir = %dir.display(), error = %err, "cannot sync the folder after a rename");
    }
    #[cfg(not(unix))]
    let _ = dir;
}

fn set_private(file: &File) -> io::Result<()> {
    #[cfg(unix)]
    return file.set_permissions(mode_permissions(FILE_MODE));
    #[cfg(not(unix))]
    {
        // No modes here; the profile's per-user ACL keeps the file private.
        let _ = file;
        Ok(())
    }
}

#[cfg(unix)]
fn mode_permissions(mode: u32) -> fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    fs::Permissions::from_mode(mode)
}

#[cfg(unix)]
fn unix_mode(permissions: &fs::Permissions) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(permissions.mode() & 0o7777)
}

#[cfg(not(unix))]
fn unix_mode(_permissions: &fs::Permissions) -> Option<u32> {
    None
}

#[cfg(test)]
mod tests;
