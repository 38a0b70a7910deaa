//! Advice for failures the user fixes outside the program: a folder that
//! cannot be written (read-only file system, missing permission) or a full
//! disk. The error already names the file and the OS error; this adds which
//! of our folders it is and what to do, once, after the error line.

use std::io::{self, ErrorKind};
use std::path::Path;

/// What the user can do about `err`, when it is one of those failures.
pub fn for_error(err: &anyhow::Error) -> Option<String> {
    let text = format!("{err:#}");
    let kind = err
        .chain()
        .find_map(|e| e.downcast_ref::<io::Error>())
        .map(io::Error::kind)
        .filter(|k| fixable(*k))
        // Errors that carry the OS error as text only.
        .or_else(|| kind_in_text(&text))?;
    let what = match kind {
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => "the disk is full",
        ErrorKind::PermissionDenied => "this user may not write there",
        _ => "it is on a read-only file system",
    };
    let config = bridge::paths::config_dir();
    let data = bridge::paths::data_dir();
    let (folder, holds, variable) = if mentions(&text, &config) {
        (
            config,
            "sign-in, client tokens and settings",
            "XDG_CONFIG_HOME",
        )
    } else if mentions(&text, &data) {
        (data, "activity record", "XDG_DATA_HOME")
    } else {
        // Not one of our folders (an agent's config): that error says what
        // to do itself.
        return None;
    };
    let fix = if matches!(kind, ErrorKind::StorageFull | ErrorKind::QuotaExceeded) {
        "free some space there".to_owned()
    } else {
        format!(
            "make {} writable (check how it is mounted and its permissions)",
            folder.display()
        )
    };
    Some(format!(
        "coder-bridge: {} holds the {holds} and cannot be written: {what}. \
         To fix it, {fix} and run the command again, \
         or point {variable} at a writable folder.",
        folder.display()
    ))
}

fn fixable(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::ReadOnlyFilesystem
            | ErrorKind::PermissionDenied
            | ErrorKind::StorageFull
            | ErrorKind::QuotaExceeded
    )
}

/// The kind of an OS error whose message appears in `text`: the messages
/// come from the OS itself, so nothing here depends on their wording.
fn kind_in_text(text: &str) -> Option<ErrorKind> {
    (1..=200)
        .map(io::Error::from_raw_os_error)
        .filter(|e| fixable(e.kind()))
        .find(|e| text.contains(&e.to_string()))
        .map(|e| e.kind())
}

fn mentions(text: &str, dir: &Path) -> bool {
    let dir = dir.display().to_string();
    !dir.is_empty() && text.contains(&dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_only_folder_gets_advice_and_others_do_not() {
        let file = bridge::paths::config_dir().join("secrets.json");
        let ro = anyhow::Error::new(io::Error::from(ErrorKind::ReadOnlyFilesystem))
            .context(format!("cannot write {}", file.display()));
        let hint = for_error(&ro).expect("advice for a read-only folder");
        assert!(hint.contains("read-only"), "{hint}");
        assert!(hint.contains("XDG_CONFIG_HOME"), "{hint}");
        assert!(hint.contains("run the command again"), "{hint}");
        let missing = anyhow::Error::new(io::Error::from(ErrorKind::NotFound))
            .context(format!("cannot read {}", file.display()));
        assert_eq!(for_error(&missing), None);
        let elsewhere = anyhow::Error::new(io::Error::from(ErrorKind::ReadOnlyFilesystem))
            .context("cannot write /an/agent/config.json");
        assert_eq!(
            for_error(&elsewhere),
            None,
            "the agent writer advises itself"
        );
    }

    #[cfg(unix)]
    #[test]
    fn an_os_error_only_in_the_text_is_recognised() {
        // ENOSPC is 28 on Linux and macOS alike.
        let text = io::Error::from_raw_os_error(28).to_string();
        let file = bridge::paths::data_dir().join("activity.db");
        let err = anyhow::anyhow!("cannot open {}: {text}", file.display());
        let hint = for_error(&err).expect("advice for a full disk");
        assert!(hint.contains("disk is full"), "{hint}");
        assert!(hint.contains("free some space"), "{hint}");
    }
}
