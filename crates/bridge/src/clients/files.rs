//! Writing agents' config files through [`crate::private_files`]: atomic
//! replace under a lock beside the file, symlinks followed so a dotfile
//! manager's link is not replaced by a plain file, and the file's mode
//! chosen by what it holds.

use std::fs;
use std::io;
use std::path::Path;

use crate::private_files::{self, Mode};
pub(crate) use crate::private_files::{FileLock, resolve_symlinks, sibling};

/// Creates the missing folders of an agent's config path, 0700. Existing
/// ones are the agent's, not ours: their mode is left alone.
pub(crate) fn create_dir_all(dir: &Path) -> io::Result<()> {
    private_files::create_missing_dirs(dir)
}

/// Replaces an agent's config with `contents` atomically; returns the mode
/// it had when that was narrowed.
///
/// A config that holds a token is made 0600 whatever its mode was: anyone
/// who can read it can call Coder as the user. One without a token (a stdio
/// entry runs the shim, which reads the token itself) keeps its mode: the
/// file is the agent's, and its owner may share it on purpose.
pub(crate) fn write_config(
    path: &Path,
    contents: &[u8],
    holds_token: bool,
) -> io::Result<Option<u32>> {
    let mode = if holds_token {
        Mode::Private
    } else {
        Mode::KeepExisting
    };
    let replaced = private_files::replace(path, contents, mode)?;
    Ok(replaced.tightened().map(|(before, _)| before))
}

/// The mode of `path` when others may read it or write it (Unix).
pub(crate) fn loose_mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Makes an agent's config that holds a token 0600 without rewriting it;
/// returns the mode it had when that was narrowed.
pub(crate) fn make_private(path: &Path) -> io::Result<Option<u32>> {
    private_files::tighten(path, private_files::FILE_MODE)
}

/// Copies the agent's original config to `backup`, 0600: a copy is ours, and
/// the original may hold someone's credentials.
pub(crate) fn back_up(original: &Path, backup: &Path) -> io::Result<()> {
    let bytes = fs::read(original)?;
    private_files::replace(backup, &bytes, Mode::Private).map(drop)
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("meta").permissions().mode() & 0o777
    }

    #[test]
    fn a_config_that_receives_a_token_is_made_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("mcp.json");
        fs::write(&config, "{}").expect("seed");
        fs::set_permissions(&config, fs::Permissions::from_mode(0o644)).expect("chmod");

        assert_eq!(
            write_config(&config, b"{\"a\":1}", false).expect("write"),
            None
        );
        assert_eq!(mode(&config), 0o644, "no token: the owner's mode stays");

        let tightened = write_config(&config, b"{\"token\":\"cbt_x\"}", true).expect("write");
        assert_eq!(tightened, Some(0o644));
        assert_eq!(mode(&config), 0o600);
        assert_eq!(
            write_config(&config, b"{\"token\":\"cbt_y\"}", true).expect("write"),
            None,
            "already private: nothing to report"
        );
    }

    #[test]
    fn backups_are_private_copies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("mcp.json");
        fs::write(&config, "\u{feff}{ \"x\": 1 }").expect("seed");
        fs::set_permissions(&config, fs::Permissions::from_mode(0o644)).expect("chmod");
        let backup = sibling(&config, ".bak");
        back_up(&config, &backup).expect("back up");
        assert_eq!(
            fs::read(&backup).expect("read"),
            fs::read(&config).expect("read")
        );
        assert_eq!(mode(&backup), 0o600);
        assert_eq!(mode(&config), 0o644);
    }
}
