//! Careful file writes shared by the agent config writers and the client
//! token store: an advisory lock beside the file, atomic replace (temp file
//! in the same folder + rename) that keeps the file's mode, and symlinks
//! followed so a dotfile manager's link is not replaced by a plain file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use fs4::FileExt;

/// An exclusive advisory lock held for as long as the value lives.
///
/// The lock file stays on disk after release: deleting it would race with a
/// second writer that already opened it and lock a different inode.
#[derive(Debug)]
pub(crate) struct FileLock {
    file: File,
}

impl FileLock {
    /// Blocks until the lock at `lock_path` is ours.
    pub(crate) fn acquire(lock_path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(lock_path)?;
        FileExt::lock(&file)?;
        Ok(Self { file })
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Closing the descriptor releases the lock anyway; unlocking first
        // just makes the release immediate and explicit.
        let _ = FileExt::unlock(&self.file);
    }
}

/// `path` with `suffix` appended to its file name (`mcp.json` → `mcp.json.lock`).
pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

/// The file a write to `path` must really replace: the target of a symlink
/// (resolved one level at a time, relative links against their folder).
pub(crate) fn resolve_symlinks(path: &Path) -> io::Result<PathBuf> {
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

/// Creates `dir` (and parents); on Unix a folder we create gets `mode`.
pub(crate) fn create_dir_all(dir: &Path, mode: u32) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new().recursive(true).mode(mode).create(dir)
    }
    #[cfg(not(unix))]
    {
        let _ = mode;
        fs::create_dir_all(dir)
    }
}

/// Replaces `path` with `contents` atomically.
///
/// An existing file keeps its permissions; a new one gets `new_mode` on Unix.
/// The temp file lives in the same folder so the rename never crosses file
/// systems, and it is synced before the rename so a crash leaves either the
/// old or the new file, never a torn one.
pub(crate) fn atomic_write(path: &Path, contents: &[u8], new_mode: u32) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let existing = match fs::metadata(path) {
        Ok(meta) => Some(meta.permissions()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
        Err(err) => return Err(err),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".coder-bridge-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(contents)?;
    match existing {
        Some(perms) => tmp.as_file().set_permissions(perms)?,
        None => set_mode(tmp.as_file(), new_mode)?,
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|err| err.error)?;
    sync_dir(dir);
    Ok(())
}

#[cfg(unix)]
fn set_mode(file: &File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_file: &File, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// Makes the rename durable. Best effort: not every platform can open a folder.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_keeps_an_existing_mode_and_sets_new_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fresh = dir.path().join("new.json");
        atomic_write(&fresh, b"{}", 0o600).expect("write new");
        assert_eq!(fs::read(&fresh).expect("read"), b"{}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode(&fresh), 0o600);
            let shared = dir.path().join("shared.json");
            fs::write(&shared, "old").expect("seed");
            fs::set_permissions(&shared, fs::Permissions::from_mode(0o644)).expect("chmod");
            atomic_write(&shared, b"new", 0o600).expect("rewrite");
            assert_eq!(mode(&shared), 0o644);
            assert_eq!(fs::read_to_string(&shared).expect("read"), "new");
        }
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "temp files left behind: {leftovers:?}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn writes_through_a_symlink_keep_the_link() {
        let dir = tempfile::tempdir().expect("tempdir");
        let real = dir.path().join("real.json");
        fs::write(&real, "{}").expect("seed");
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink("real.json", &link).expect("symlink");
        let target = resolve_symlinks(&link).expect("resolve");
        assert_eq!(target, real);
        atomic_write(&target, b"[1]", 0o600).expect("write");
        assert!(
            fs::symlink_metadata(&link)
                .expect("meta")
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_to_string(&link).expect("read"), "[1]");
    }

    #[test]
    fn sibling_appends_to_the_file_name() {
        let p = Path::new("/a b/ç/mcp.json");
        assert_eq!(sibling(p, ".lock"), Path::new("/a b/ç/mcp.json.lock"));
    }
}
