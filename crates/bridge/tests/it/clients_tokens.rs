//! The per-agent client token store: token shape, issue/replace/revoke,
//! attribution, cross-process change detection, file modes, concurrent
//! writers, and that tokens never show in `Debug`.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use bridge::client_tokens::{ClientTokens, FILE_NAME, RECHECK_INTERVAL, TOKEN_PREFIX};
use bridge::secret::Secret;
fn store() -> (tempfile::TempDir, ClientTokens) {
    let dir = tempfile::tempdir().expect("tempdir");
    let tokens = ClientTokens::open(dir.path().join("cfg").join(FILE_NAME)).expect("open");
    (dir, tokens)
}

#[test]
fn issued_tokens_have_the_documented_shape() {
    let (_dir, tokens) = store();
    let token = tokens.issue("cursor").expect("issue");
    let value = token.expose();
    assert!(value.starts_with(TOKEN_PREFIX));
    let body = &value[TOKEN_PREFIX.len()..];
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .expect("base64url");
    assert_eq!(raw.len(), 32);
    assert_ne!(token, tokens.issue("zed").expect("issue zed"));
}

#[test]
fn issue_replaces_and_verify_attributes() {
    let (_dir, tokens) = store();
    let first = tokens.issue("cursor").expect("issue");
    assert_eq!(tokens.verify(first.expose()).as_deref(), Some("cursor"));
    let second = tokens.issue("cursor").expect("reissue");
    assert_ne!(first, second);
    assert_eq!(tokens.verify(first.expose()), None);
    assert_eq!(tokens.verify(second.expose()).as_deref(), Some("cursor"));
    assert_eq!(tokens.get("cursor"), Some(second));
    assert_eq!(tokens.verify("cbt_nope"), None);
    assert_eq!(tokens.verify(""), None);
}

#[test]
fn get_or_issue_is_stable_and_revoke_works() {
    let (_dir, tokens) = store();
    let a = tokens.get_or_issue("vscode").expect("first");
    let b = tokens.get_or_issue("vscode").expect("second");
    assert_eq!(a, b);
    assert!(tokens.revoke("vscode").expect("revoke"));
    assert!(!tokens.revoke("vscode").expect("revoke again"));
    assert_eq!(tokens.get("vscode"), None);
    assert_eq!(tokens.verify(a.expose()), None);
}

#[test]
fn rejects_bad_agent_names() {
    let (_dir, tokens) = store();
    for bad in ["", "Cursor", "a/b", "../x", &"x".repeat(65)] {
        let err = tokens.issue(bad).expect_err(bad);
        assert_eq!(err.code(), "client_tokens.invalid_agent");
    }
}

#[test]
fn sees_changes_made_by_another_process() {
    let (dir, daemon) = store();
    let path = dir.path().join("cfg").join(FILE_NAME);
    // A second handle opened separately stands in for the CLI process.
    let cli = ClientTokens::open(path).expect("open second");
    let token = cli.issue("cursor").expect("issue");
    // A miss re-checks the file at once: no waiting for the interval.
    assert_eq!(daemon.verify(token.expose()).as_deref(), Some("cursor"));
    cli.revoke("cursor").expect("revoke");
    // Noticed within the re-check interval.
    crate::support::eventually_blocking("the revocation to be seen", || {
        daemon.verify(token.expose()).is_none()
    });
    assert!(daemon.agents().is_empty());
}

#[test]
fn verify_does_not_reread_an_unchanged_file_within_the_interval() {
    let (dir, tokens) = store();
    let token = tokens.issue("zed").expect("issue");
    let path = dir.path().join("cfg").join(FILE_NAME);
    // Corrupt the file behind the store's back: within the interval a hit
    // is answered from memory, and after it the last good copy is kept.
    fs::write(&path, "{ not json").expect("corrupt");
    assert_eq!(tokens.verify(token.expose()).as_deref(), Some("zed"));
    std::thread::sleep(RECHECK_INTERVAL + Duration::from_millis(50));
    assert_eq!(tokens.verify(token.expose()).as_deref(), Some("zed"));
    // A writer refuses to build on a corrupt file rather than wiping it.
    let err = tokens.issue("cursor").expect_err("corrupt file");
    assert_eq!(err.code(), "client_tokens.corrupt");
}

#[cfg(unix)]
#[test]
fn file_and_folder_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, tokens) = store();
    tokens.issue("cursor").expect("issue");
    let mode = |p: PathBuf| fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(dir.path().join("cfg")), 0o700);
    assert_eq!(mode(dir.path().join("cfg").join(FILE_NAME)), 0o600);
}

#[test]
fn concurrent_writers_lose_nothing() {
    let (dir, _tokens) = store();
    let path = dir.path().join("cfg").join(FILE_NAME);
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let path = path.clone();
            std::thread::spawn(move || {
                // Separate handles: separate caches, like separate processes.
                let store = ClientTokens::open(path).expect("open");
                store.issue(&format!("agent-{i}")).expect("issue")
            })
        })
        .collect();
    let issued: Vec<Secret> = handles
        .into_iter()
        .map(|h| h.join().expect("join"))
        .collect();
    let fresh = ClientTokens::open(path).expect("reopen");
    assert_eq!(fresh.agents().len(), 8);
    for (i, token) in issued.iter().enumerate() {
        assert_eq!(
            fresh.verify(token.expose()),
            Some(format!("agent-{i}").into())
        );
    }
}

#[test]
fn debug_never_shows_tokens() {
    let (_dir, tokens) = store();
    let token = tokens.issue("cursor").expect("issue");
    assert!(!format!("{tokens:?}").contains(token.expose()));
}
