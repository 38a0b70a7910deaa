//! The clients room against real files: concurrent writers, a plan that went
//! stale, symlinks, file modes, backups, status and installed detection.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};

use bridge::client_tokens::{ClientTokens, FILE_NAME};
use bridge::clients::{
    self, Action, BACKUP_SUFFIX, ClientError, Context, Dirs, Drift, EntryState, Os,
};
use serde_json::Value;

fn context(root: &Path, port: u16) -> Context {
    let home = root.join("Ünïcode home");
    let store = home.join(".config/coder-bridge").join(FILE_NAME);
    Context {
        os: Os::Linux,
        dirs: Dirs {
            xdg_config: home.join(".config"),
            home,
            appdata: None,
        },
        url: clients::local_url(port),
        binary: PathBuf::from("/usr/local/bin/coder-bridge"),
        // A handle of its own, like a separate process.
        tokens: ClientTokens::open(store).expect("tokens"),
        path_var: None,
    }
}

fn cursor_path(ctx: &Context) -> PathBuf {
    ctx.config_path(clients::agent("cursor").expect("row"))
}

fn parse(path: &Path) -> Value {
    let text = fs::read_to_string(path).expect("read");
    jsonc_parser::parse_to_serde_value::<Value>(&text, &Default::default()).expect("parses")
}

fn seed(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, text).expect("seed");
}

#[test]
fn concurrent_writers_leave_one_valid_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = cursor_path(&context(tmp.path(), 1));
    seed(
        &path,
        "{\n  // keep me\n  \"mcpServers\": {\"mine\": {\"url\": \"https://x\"}}\n}\n",
    );
    let writers = 6;
    let barrier = Arc::new(Barrier::new(writers));
    let handles: Vec<_> = (0..writers)
        .map(|i| {
            let root = tmp.path().to_path_buf();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let ctx = context(&root, 7000 + i as u16);
                barrier.wait();
                for _ in 0..10 {
                    let plan = clients::plan("cursor", &ctx).expect("plan");
                    clients::apply(&plan).expect("apply");
                }
                i
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("writer");
    }
    let value = parse(&path);
    let servers = value["mcpServers"].as_object().expect("servers");
    assert_eq!(servers.len(), 2, "{value:#}");
    assert_eq!(servers["mine"]["url"], "https://x");
    let url = servers["coder"]["url"].as_str().expect("url");
    assert!((7000..7006).any(|p| url == clients::local_url(p)), "{url}");
    assert!(
        fs::read_to_string(&path)
            .expect("read")
            .contains("// keep me")
    );
    // Every writer shared one token store: one token, and it is the one written.
    let token = context(tmp.path(), 1).tokens.get("cursor").expect("token");
    assert_eq!(
        servers["coder"]["headers"]["Authorization"],
        format!("Bearer {}", token.expose())
    );
    let leftovers: Vec<_> = fs::read_dir(path.parent().expect("dir"))
        .expect("list")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn applying_a_stale_plan_keeps_changes_made_since() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ctx = context(tmp.path(), 7331);
    let path = cursor_path(&ctx);
    seed(&path, "{\"mcpServers\": {}}\n");
    let plan = clients::plan("cursor", &ctx).expect("plan");
    // The user (or the agent) edits the file between preview and apply.
    seed(
        &path,
        "{\"mcpServers\": {\"added\": {\"url\": \"https://y\"}}, \"later\": true}\n",
    );
    clients::apply(&plan).expect("apply");
    let value = parse(&path);
    assert_eq!(value["later"], true);
    assert_eq!(value["mcpServers"]["added"]["url"], "https://y");
    assert_eq!(
        value["mcpServers"]["coder"]["url"],
        clients::local_url(7331)
    );
}

#[test]
fn a_plan_previews_exactly_what_apply_writes_and_writes_nothing_itself() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ctx = context(tmp.path(), 7331);
    let path = cursor_path(&ctx);
    let plan = clients::plan("cursor", &ctx).expect("plan");
    assert_eq!(plan.action, Action::Create);
    assert!(!path.exists() && !path.parent().expect("dir").exists());
    assert_eq!(
        ctx.tokens.get("cursor"),
        None,
        "a preview must not issue tokens"
    );
    clients::apply(&plan).expect("apply");
    let token = ctx.tokens.get("cursor").expect("token");
    let tail = &token.expose()[token.expose().len() - 4..];
    assert!(
        plan.after.contains(&format!("cbt_…{tail}")),
        "{}",
        plan.after
    );
    assert!(!plan.after.contains(token.expose()) && !plan.diff.contains(token.expose()));
    assert!(!format!("{plan:?}").contains(token.expose()));
}

#[cfg(unix)]
#[test]
fn symlinked_configs_stay_links_and_are_made_private_when_they_get_a_token() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    let tmp = tempfile::tempdir().expect("tempdir");
    let ctx = context(tmp.path(), 7331);
    let path = cursor_path(&ctx);
    let dotfiles = tmp.path().join("dotfiles repo");
    seed(&dotfiles.join("mcp.json"), "{}\n");
    fs::set_permissions(dotfiles.join("mcp.json"), fs::Permissions::from_mode(0o640))
        .expect("chmod");
    fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
    fs::set_permissions(
        path.parent().expect("dir"),
        fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    std::os::unix::fs::symlink(dotfiles.join("mcp.json"), &path).expect("symlink");

    let applied = clients::apply(&clients::plan("cursor", &ctx).expect("plan")).expect("apply");
    assert_eq!(applied.path, dotfiles.join("mcp.json"));
    assert!(
        fs::symlink_metadata(&path)
            .expect("meta")
            .file_type()
            .is_symlink()
    );
    assert_eq!(parse(&path)["mcpServers"]["coder"]["type"], "http");
    // It holds `Authorization: Bearer cbt_…` now: readable by the user only.
    assert_eq!(mode(&path), 0o600);
    assert_eq!(applied.tightened_from, Some(0o640));
    // The agent's folder is the agent's: not tightened.
    assert_eq!(mode(path.parent().expect("dir")), 0o755);
    let backup = applied.backup.expect("a backup of the original");
    assert_eq!(mode(&backup), 0o600);

    // A stdio entry holds no token (the shim reads it): the mode stays.
    let desktop = ctx.config_path(clients::agent("claude-desktop").expect("row"));
    seed(&desktop, "{}\n");
    fs::set_permissions(&desktop, fs::Permissions::from_mode(0o644)).expect("chmod");
    let applied =
        clients::apply(&clients::plan("claude-desktop", &ctx).expect("plan")).expect("apply");
    assert!(applied.changed);
    assert_eq!(applied.tightened_from, None);
    assert_eq!(mode(&desktop), 0o644);
}

/// A config an older version left 0644 with the token in it: nothing to
/// rewrite, but the plan says there is work, and apply makes it 0600.
#[cfg(unix)]
#[test]
fn an_up_to_date_config_that_others_can_read_is_made_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    let tmp = tempfile::tempdir().expect("tempdir");
    let ctx = context(tmp.path(), 7331);
    let path = cursor_path(&ctx);
    clients::apply(&clients::plan("cursor", &ctx).expect("plan")).expect("apply");
    let written = fs::read(&path).expect("read");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");

    let plan = clients::plan("cursor", &ctx).expect("plan");
    assert_eq!(plan.action, clients::Action::Unchanged);
    assert_eq!(plan.loose_mode, Some(0o644));
    assert!(plan.changes());
    let applied = clients::apply(&plan).expect("apply");
    assert!(!applied.changed);
    assert_eq!(applied.tightened_from, Some(0o644));
    assert_eq!(mode(&path), 0o600);
    assert_eq!(fs::read(&path).expect("read"), written, "not rewritten");
    assert!(!clients::plan("cursor", &ctx).expect("plan").changes());

    // A config without our token is the owner's business.
    let desktop = ctx.config_path(clients::agent("claude-desktop").expect("row"));
    clients::apply(&clients::plan("claude-desktop", &ctx).expect("plan")).expect("apply");
    fs::set_permissions(&desktop, fs::Permissions::from_mode(0o644)).expect("chmod");
    assert!(
        !clients::plan("claude-desktop", &ctx)
            .expect("plan")
            .changes()
    );
}

#[test]
fn the_backup_is_taken_once_before_the_first_change() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let original = "{\"mcpServers\": {\"a\": {}}}\n";
    let ctx = context(tmp.path(), 7331);
    let path = cursor_path(&ctx);
    seed(&path, original);
    let first = clients::apply(&clients::plan("cursor", &ctx).expect("plan")).expect("apply");
    let mut name = path.file_name().expect("name").to_os_string();
    name.push(BACKUP_SUFFIX);
    let bak = path.with_file_name(name);
    assert_eq!(first.backup.as_ref(), Some(&bak));
    let moved = context(tmp.path(), 9999);
    let second = clients::apply(&clients::plan("cursor", &moved).expect("plan")).expect("apply");
    assert!(second.changed && second.backup.is_none());
    assert_eq!(fs::read_to_string(&bak).expect("backup"), original);
}

#[test]
fn read_only_files_are_refused_with_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ctx = context(tmp.path(), 7331);
    let path = cursor_path(&ctx);
    seed(&path, "{}\n");
    let mut perms = fs::metadata(&path).expect("meta").permissions();
    perms.set_readonly(true);
    fs::set_permissions(&path, perms).expect("chmod");
    let err = clients::apply(&clients::plan("cursor", &ctx).expect("plan")).expect_err("read-only");
    assert_eq!(err.code(), "clients.read_only");
    assert!(err.to_string().contains("read-only"), "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert_eq!(fs::read_to_string(&path).expect("read"), "{}\n");
}

#[test]
fn status_reports_each_state_and_drift() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ctx = context(tmp.path(), 7331);
    let missing = clients::status("cursor", &ctx).expect("status");
    assert_eq!(
        (missing.installed, missing.configured, missing.entry),
        (false, false, EntryState::Missing)
    );

    let path = cursor_path(&ctx);
    seed(
        &path,
        r#"{"mcpServers": {"coder": {"command": "coder", "args": ["exp", "mcp", "server"]}}}"#,
    );
    let foreign = clients::status("cursor", &ctx).expect("status");
    assert_eq!(
        (foreign.installed, foreign.configured, foreign.entry),
        (true, false, EntryState::Foreign)
    );
    // Removing leaves someone else's entry alone.
    let removed = clients::remove("cursor", &ctx).expect("remove");
    assert!(!removed.removed);
    assert!(parse(&path)["mcpServers"]["coder"].is_object());

    clients::apply(&clients::plan("claude-desktop", &ctx).expect("plan")).expect("apply");
    let mut moved = ctx.clone();
    moved.binary = PathBuf::from("/opt/new place/coder-bridge");
    let drifted = clients::status("claude-desktop", &moved).expect("status");
    assert!(drifted.configured && !drifted.up_to_date);
    assert_eq!(
        drifted.drift,
        vec![Drift::BinaryMoved {
            found: "/usr/local/bin/coder-bridge".into()
        }]
    );
    clients::apply(&clients::plan("claude-desktop", &moved).expect("plan")).expect("repair");
    assert!(
        clients::status("claude-desktop", &moved)
            .expect("status")
            .up_to_date
    );
}

#[cfg(unix)]
#[test]
fn agents_on_path_count_as_installed() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().expect("tempdir");
    let bin = tmp.path().join("bin dir");
    fs::create_dir_all(&bin).expect("bin");
    fs::write(bin.join("zed"), "#!/bin/sh\n").expect("exe");
    fs::set_permissions(bin.join("zed"), fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut ctx = context(tmp.path(), 7331);
    assert!(!clients::status("zed", &ctx).expect("status").installed);
    ctx.path_var = Some(std::env::join_paths([&bin]).expect("join"));
    assert!(clients::status("zed", &ctx).expect("status").installed);
}

#[test]
fn unknown_agents_list_the_valid_names() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = clients::plan("cursr", &context(tmp.path(), 1)).expect_err("unknown");
    assert!(matches!(err, ClientError::UnknownAgent { .. }));
    assert_eq!(err.code(), "clients.unknown_agent");
    let text = err.to_string();
    for agent in clients::agents() {
        assert!(text.contains(agent.id), "{text}");
    }
}

#[test]
fn remove_revokes_the_token_even_when_the_file_cannot_be_edited() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ctx = context(tmp.path(), 7331);
    clients::apply(&clients::plan("cursor", &ctx).expect("plan")).expect("apply");
    let token = ctx.tokens.get("cursor").expect("token");
    let path = cursor_path(&ctx);
    let broken = fs::read_to_string(&path)
        .expect("read")
        .replace("\"type\"", "type");
    fs::write(&path, &broken).expect("break it");
    let err = clients::remove("cursor", &ctx).expect_err("unparsable");
    assert_eq!(err.code(), "clients.parse");
    assert_eq!(fs::read_to_string(&path).expect("read"), broken);
    assert_eq!(ctx.tokens.verify(token.expose()), None);
}

#[test]
fn a_stale_plan_never_brings_back_a_revoked_token() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ctx = context(tmp.path(), 7331);
    clients::apply(&clients::plan("cursor", &ctx).expect("plan")).expect("apply");
    let old = ctx.tokens.get("cursor").expect("token");
    // Previewed while the old token was live, applied after it was revoked.
    let mut moved = ctx.clone();
    moved.url = clients::local_url(7400);
    let plan = clients::plan("cursor", &moved).expect("plan");
    ctx.tokens.revoke("cursor").expect("revoke");
    clients::apply(&plan).expect("apply");
    let new = ctx.tokens.get("cursor").expect("a new token");
    assert_ne!(new, old);
    assert_eq!(ctx.tokens.verify(old.expose()), None);
    let header = &parse(&cursor_path(&ctx))["mcpServers"]["coder"]["headers"]["Authorization"];
    assert_eq!(header, &format!("Bearer {}", new.expose()));
}
