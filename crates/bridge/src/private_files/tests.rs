use super::*;

fn leftovers(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .expect("list")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(TEMP_SUFFIX))
        .collect()
}

#[test]
fn write_replaces_the_whole_file_and_leaves_no_temp_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a").join("b").join("state.json");
    write(&path, b"first, and longer").expect("write");
    write(&path, b"second").expect("rewrite");
    assert_eq!(fs::read(&path).expect("read"), b"second");
    assert!(leftovers(path.parent().expect("parent")).is_empty());
}

#[test]
fn a_failed_write_leaves_what_was_there_and_no_temp_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A non-empty folder where the file should go: the rename over it fails
    // after the temp file was written and synced.
    let blocked = dir.path().join("blocked");
    fs::create_dir(&blocked).expect("mkdir");
    fs::write(blocked.join("inside"), "old").expect("seed");
    assert!(replace(&blocked, b"new", Mode::Private).is_err());
    assert_eq!(
        fs::read_to_string(blocked.join("inside")).expect("read"),
        "old"
    );
    assert!(leftovers(dir.path()).is_empty());
}

#[cfg(unix)]
mod unix {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("meta").permissions().mode() & 0o777
    }

    fn chmod(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn new_files_are_0600_in_0700_folders() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("new").join("deeper").join("secret.json");
        write(&path, b"{}").expect("write");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().expect("parent")), 0o700);
        assert_eq!(mode(&dir.path().join("new")), 0o700);
    }

    #[test]
    fn loose_files_and_folders_of_ours_are_tightened() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ours = dir.path().join("coder-bridge");
        fs::create_dir(&ours).expect("mkdir");
        chmod(&ours, 0o755);
        let path = ours.join("control-token");
        fs::write(&path, "old").expect("seed");
        chmod(&path, 0o644);
        write(&path, b"new").expect("write");
        assert_eq!(mode(&ours), 0o700);
        assert_eq!(mode(&path), 0o600);

        chmod(&path, 0o664);
        assert_eq!(tighten(&path, FILE_MODE).expect("tighten"), Some(0o664));
        assert_eq!(mode(&path), 0o600);
        // Already tight, or stricter still: left alone.
        assert_eq!(tighten(&path, FILE_MODE).expect("tighten"), None);
        chmod(&path, 0o400);
        assert_eq!(tighten(&path, FILE_MODE).expect("tighten"), None);
        assert_eq!(mode(&path), 0o400);
        assert_eq!(
            tighten(&ours.join("missing"), FILE_MODE).expect("tighten"),
            None
        );
    }

    #[test]
    fn replace_keeps_or_narrows_an_existing_mode_as_asked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let shared = dir.path().join("settings.json");
        fs::write(&shared, "old").expect("seed");
        chmod(&shared, 0o644);
        let kept = replace(&shared, b"no secret", Mode::KeepExisting).expect("write");
        assert_eq!(mode(&shared), 0o644);
        assert_eq!(kept.tightened(), None);

        let narrowed = replace(&shared, b"a token", Mode::Private).expect("write");
        assert_eq!(mode(&shared), 0o600);
        assert_eq!(narrowed.tightened(), Some((0o644, 0o600)));

        let fresh = dir.path().join("fresh.json");
        let created = replace(&fresh, b"{}", Mode::KeepExisting).expect("write");
        assert_eq!(mode(&fresh), 0o600);
        assert_eq!(created.before, None);
        assert_eq!(created.tightened(), None);
    }

    #[test]
    fn folders_of_others_are_created_private_but_never_tightened() {
        let dir = tempfile::tempdir().expect("tempdir");
        let agents = dir.path().join(".cursor");
        fs::create_dir(&agents).expect("mkdir");
        chmod(&agents, 0o755);
        create_missing_dirs(&agents).expect("create");
        assert_eq!(mode(&agents), 0o755);
        let fresh = dir.path().join(".zed").join("settings");
        create_missing_dirs(&fresh).expect("create");
        assert_eq!(mode(&fresh), 0o700);
    }

    #[test]
    fn a_write_through_a_symlink_keeps_the_link() {
        let dir = tempfile::tempdir().expect("tempdir");
        let real = dir.path().join("real.json");
        fs::write(&real, "{}").expect("seed");
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink("real.json", &link).expect("symlink");
        let target = resolve_symlinks(&link).expect("resolve");
        assert_eq!(target, real);
        replace(&target, b"[1]", Mode::Private).expect("write");
        assert!(
            fs::symlink_metadata(&link)
                .expect("meta")
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_to_string(&link).expect("read"), "[1]");
        assert_eq!(mode(&real), 0o600);

        let a = dir.path().join("loop-a");
        let b = dir.path().join("loop-b");
        std::os::unix::fs::symlink(&b, &a).expect("symlink");
        std::os::unix::fs::symlink(&a, &b).expect("symlink");
        assert!(resolve_symlinks(&a).is_err());
    }

    #[test]
    fn logs_append_and_are_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let logs = dir.path().join("data");
        fs::create_dir(&logs).expect("mkdir");
        chmod(&logs, 0o755);
        let path = logs.join("daemon.log");
        fs::write(&path, "one\n").expect("seed");
        chmod(&path, 0o644);
        let mut log = open_log(&path).expect("open");
        log.write_all(b"two\n").expect("append");
        drop(log);
        assert_eq!(fs::read_to_string(&path).expect("read"), "one\ntwo\n");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&logs), 0o700);
    }

    #[test]
    fn a_database_and_its_wal_files_are_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db").join("activity.db");
        prepare_database(&path).expect("prepare");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(fs::read(&path).expect("read"), b"", "created empty");

        fs::write(&path, "not touched").expect("seed");
        for file in [&path, &sibling(&path, "-wal"), &sibling(&path, "-shm")] {
            if !file.exists() {
                fs::write(file, "").expect("seed");
            }
            chmod(file, 0o644);
        }
        prepare_database(&path).expect("prepare");
        assert_eq!(fs::read_to_string(&path).expect("read"), "not touched");
        for suffix in ["", "-wal", "-shm"] {
            assert_eq!(mode(&sibling(&path, suffix)), 0o600, "{suffix}");
        }
    }

    #[test]
    fn lock_files_are_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lock_path = dir.path().join("refresh.lock");
        fs::write(&lock_path, "").expect("seed");
        chmod(&lock_path, 0o666);
        drop(FileLock::acquire(&lock_path).expect("lock"));
        assert_eq!(mode(&lock_path), 0o600);
    }
}

#[test]
fn a_lock_is_exclusive_until_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lock_path = dir.path().join("x.lock");
    let held = FileLock::acquire(&lock_path).expect("lock");
    // A second open file description, as another process would have.
    assert!(FileLock::try_acquire(&lock_path).expect("try").is_none());
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = {
        let lock_path = lock_path.clone();
        std::thread::spawn(move || {
            let lock = FileLock::acquire(&lock_path).expect("lock");
            tx.send(()).expect("send");
            drop(lock);
        })
    };
    assert!(
        rx.recv_timeout(std::time::Duration::from_millis(200))
            .is_err(),
        "the second holder got in while the first held the lock"
    );
    drop(held);
    rx.recv_timeout(std::time::Duration::from_secs(10))
        .expect("the waiter gets the lock once it is released");
    waiter.join().expect("join");
    assert!(lock_path.exists(), "the lock file stays");
    assert!(FileLock::try_acquire(&lock_path).expect("try").is_some());
}

#[test]
fn sibling_appends_to_the_file_name() {
    let p = Path::new("/a b/ç/mcp.json");
    assert_eq!(sibling(p, ".lock"), Path::new("/a b/ç/mcp.json.lock"));
}
