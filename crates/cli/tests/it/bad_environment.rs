//! A bad environment made for real, through the binary in a temp HOME. The
//! tests run as root in CI, where `chmod` stops no write, so the faults come
//! from Linux mount namespaces: the daemon gets its own namespace with a
//! tiny tmpfs over its data folder (a full disk), and commands run with a
//! read-only bind mount over the config folder or an agent's folder.
//!
//! How the namespace is made (printed by each test): as root `unshare -m`;
//! otherwise `unshare --user --map-root-user -m` where the kernel allows it.
//! Without either, the full-disk test uses SQLite's own size cap
//! (`CODER_BRIDGE_ACTIVITY_MAX_MB`: the same "database or disk is full"
//! error through the same code) and the read-only tests use `chmod`, which
//! does stop a user who is not root. Nothing is skipped.
//! `HARDEN_ENV_ISOLATION=userns|plain` forces one of the weaker ways, to
//! try it on a machine that has a stronger one (`plain` as root makes the
//! read-only tests fail: root writes through `chmod`).

mod daemon;
mod rig;

use std::path::Path;
use std::time::Duration;

use daemon::Daemon;
use rig::{Home, Isolation, TOOL, agent, bounded, free_port};
use rmcp::model::CallToolRequestParams;

/// Calls made while the disk is full, in two rounds.
const FULL_CALLS: (usize, usize) = (100, 200);

/// A full disk under the activity database: every call still answers, the
/// writer says why once (not per row or per retry), does not spin or grow
/// while the disk stays full, and records every held-back call once space
/// is freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_under_the_activity_database_keeps_the_relay_working() {
    let home = Home::new();
    let isolation = Isolation::detect();
    let port = free_port();
    let token = home.issue_token("cursor");
    let (daemon, disk) = Daemon::start_with_small_disk(&home, &isolation, port, false);
    eprintln!("full disk made by: {}", disk.describe());
    let client = agent(port, &token).await;
    let call = || async {
        let r = bounded("a call", client.call_tool(CallToolRequestParams::new(TOOL)))
            .await
            .expect("the relay answers");
        assert_ne!(r.is_error, Some(true), "{r:?}");
    };

    for _ in 0..5 {
        call().await;
    }
    home.wait_for_recorded(5).await;
    let rss_before = daemon.rss_kib();

    let filled = disk.fill();
    eprintln!("filled with {filled} bytes");
    for _ in 0..FULL_CALLS.0 {
        call().await;
    }
    let warning = daemon
        .wait_for_log("the warning", |l| {
            l.contains("WARN") && l.contains("is full")
        })
        .await;
    assert!(
        warning.contains(&home.data().join("activity.db").display().to_string()),
        "the warning names the file: {warning}"
    );
    assert!(
        warning.contains("free some space"),
        "and what to do: {warning}"
    );
    eprintln!("the warning: {warning}");

    // Full for a while (several retries): no busy loop.
    let cpu_before = daemon.cpu_seconds();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let idle_cpu = daemon.cpu_seconds() - cpu_before;
    for _ in 0..FULL_CALLS.1 {
        call().await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let rss_full = daemon.rss_kib();
    eprintln!(
        "while full: {idle_cpu:.2} s CPU in 4 s idle; RSS {rss_before} KiB before, {rss_full} KiB after {} calls",
        FULL_CALLS.0 + FULL_CALLS.1
    );
    assert!(
        idle_cpu < 1.0,
        "the writer spins: {idle_cpu:.2} s CPU in 4 s"
    );
    assert!(
        rss_full.saturating_sub(rss_before) < 32 * 1024,
        "memory grows while the disk is full: {rss_before} -> {rss_full} KiB"
    );
    let warnings = daemon.log_lines(|l| l.contains("WARN") && l.contains("activity"));
    assert_eq!(
        warnings.len(),
        1,
        "one warning for the whole outage, not one per row or retry: {warnings:#?}"
    );
    // Nothing is recorded while full: what the database shows is what it had.
    assert_eq!(home.recorded(), 5, "nothing recorded while full");

    disk.free();
    let resumed = daemon
        .wait_for_log("recording resumes", |l| l.contains("writes again"))
        .await;
    eprintln!("then: {resumed}");
    let held = 5 + FULL_CALLS.0 + FULL_CALLS.1;
    home.wait_for_recorded(held).await;
    for _ in 0..5 {
        call().await;
    }
    home.wait_for_recorded(held + 5).await;

    bounded("close", client.cancel()).await.ok();
    daemon.stop();
}

/// The disk already full when the daemon starts: it starts anyway, relays
/// every call, says once why nothing is recorded, and opens the database
/// and records every held-back call once space is freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_started_on_a_full_disk_relays_and_records_once_there_is_room() {
    let home = Home::new();
    let isolation = Isolation::detect();
    let port = free_port();
    let token = home.issue_token("cursor");
    let (daemon, disk) = Daemon::start_with_small_disk(&home, &isolation, port, true);
    eprintln!("full at start, made by: {}", disk.describe());
    let client = agent(port, &token).await;
    for _ in 0..20 {
        let r = bounded("a call", client.call_tool(CallToolRequestParams::new(TOOL)))
            .await
            .expect("the relay answers");
        assert_ne!(r.is_error, Some(true), "{r:?}");
    }
    let warning = daemon
        .wait_for_log("the warning", |l| {
            l.contains("WARN") && l.contains("activity")
        })
        .await;
    eprintln!("the warning: {warning}");
    assert!(warning.contains("is full"), "{warning}");
    assert!(warning.contains("calls still go through"), "{warning}");

    disk.free();
    for _ in 0..5 {
        let r = bounded("a call", client.call_tool(CallToolRequestParams::new(TOOL)))
            .await
            .expect("the relay answers");
        assert_ne!(r.is_error, Some(true), "{r:?}");
    }
    daemon
        .wait_for_log("recording resumes", |l| l.contains("writes again"))
        .await;
    home.wait_for_recorded(25).await;
    let warnings = daemon.log_lines(|l| l.contains("WARN") && l.contains("activity"));
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    bounded("close", client.cancel()).await.ok();
    daemon.stop();
}

/// `login --token` with the config folder read-only: exit 1, the folder
/// named with what to do, and the earlier sign-in kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_into_a_read_only_config_folder_names_it_and_keeps_the_old_sign_in() {
    let home = Home::new();
    let isolation = Isolation::detect();
    let sim = coder_sim::Sim::start(coder_sim::SimConfig::default())
        .await
        .expect("sim");
    let url = sim.url().to_string();
    let first = home.login(&url, &sim.session_token(), None).await;
    assert!(first.status.success(), "{}", rig::text(&first));

    let again = home
        .login(
            &url,
            &sim.session_token(),
            Some((&isolation, &home.config())),
        )
        .await;
    eprintln!(
        "read-only by {}: {}",
        isolation.describe(),
        rig::text(&again)
    );
    assert_eq!(again.status.code(), Some(1), "{}", rig::text(&again));
    assert_names_folder_and_fix(&rig::stderr(&again), &home.config());

    let status = home
        .command(&["status", "--json"])
        .output()
        .expect("status");
    assert!(
        status.status.success(),
        "the earlier sign-in is intact: {}",
        rig::text(&status)
    );
    sim.shutdown().await;
}

/// `configure cursor` with the config folder read-only (no client token
/// can be stored), then with Cursor's own folder read-only: exit 1 each
/// time with the path and the OS error, the agent's file byte-for-byte as
/// it was and no client token left behind. Then `unconfigure` with the
/// token store read-only says which half it did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configure_with_read_only_folders_refuses_and_changes_nothing() {
    let home = Home::new();
    let isolation = Isolation::detect();
    let cursor_dir = home.path().join(".cursor");
    std::fs::create_dir_all(&cursor_dir).expect("cursor dir");
    let mcp = cursor_dir.join("mcp.json");
    let original = "{\n  \"mcpServers\": {\"mine\": {\"url\": \"http://example.test/mcp\"}}\n}\n";
    std::fs::write(&mcp, original).expect("cursor config");
    std::fs::create_dir_all(home.config()).expect("config dir");

    let out = home
        .run_read_only(&isolation, &home.config(), &["configure", "cursor"])
        .await;
    eprintln!(
        "config read-only by {}: {}",
        isolation.describe(),
        rig::text(&out)
    );
    assert_eq!(out.status.code(), Some(1), "{}", rig::text(&out));
    assert_names_folder_and_fix(&rig::stderr(&out), &home.config());
    assert_eq!(std::fs::read_to_string(&mcp).expect("read"), original);

    let out = home
        .run_read_only(&isolation, &cursor_dir, &["configure", "cursor"])
        .await;
    eprintln!("agent folder read-only: {}", rig::text(&out));
    assert_eq!(out.status.code(), Some(1), "{}", rig::text(&out));
    let err = rig::stderr(&out);
    assert!(err.contains(&mcp.display().to_string()), "the path: {err}");
    assert!(err.contains("(os error "), "the OS error: {err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert!(err.contains("by hand"), "the way out: {err}");
    assert_eq!(err.matches("(os error ").count(), 1, "said once: {err}");
    assert_eq!(std::fs::read_to_string(&mcp).expect("read"), original);
    assert!(
        home.token("cursor").is_none(),
        "the client token issued for the failed configure was taken back"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&cursor_dir)
        .expect("list")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "mcp.json")
        .collect();
    assert!(
        leftovers.is_empty(),
        "no temp or backup files: {leftovers:?}"
    );

    // Writable again, the same command works: nothing was left half-done.
    let out = home
        .command(&["configure", "cursor"])
        .output()
        .expect("configure");
    assert!(out.status.success(), "{}", rig::text(&out));
    let written = std::fs::read_to_string(&mcp).expect("read");
    assert!(
        written.contains("\"mine\""),
        "the user's server is kept: {written}"
    );

    // `unconfigure` with the token store read-only: the entry goes, the
    // user is told the token is still valid and how to finish.
    let out = home
        .run_read_only(&isolation, &home.config(), &["unconfigure", "cursor"])
        .await;
    eprintln!("unconfigure, config read-only: {}", rig::text(&out));
    assert_eq!(out.status.code(), Some(1), "{}", rig::text(&out));
    let err = rig::stderr(&out);
    assert_names_folder_and_fix(&err, &home.config());
    assert!(err.contains("still valid"), "{err}");
    assert!(home.token("cursor").is_some());
    let out = home
        .command(&["unconfigure", "cursor"])
        .output()
        .expect("unconfigure");
    assert!(out.status.success(), "{}", rig::text(&out));
    assert!(home.token("cursor").is_none(), "revoked on the second run");
    let kept = std::fs::read_to_string(&mcp).expect("read");
    assert!(
        kept.contains("\"mine\"") && !kept.contains("\"coder\""),
        "{kept}"
    );
}

/// `serve` with the config folder read-only (no control token, client
/// tokens or daemon file can be written): it stops at once with exit 1,
/// the folder named and what to do, and leaves its port free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_a_read_only_config_folder_exits_with_the_folder_named() {
    let home = Home::new();
    let isolation = Isolation::detect();
    std::fs::create_dir_all(home.config()).expect("config dir");
    let port = free_port();
    let out = home
        .run_read_only(
            &isolation,
            &home.config(),
            &["serve", "--port", &port.to_string()],
        )
        .await;
    eprintln!("read-only by {}: {}", isolation.describe(), rig::text(&out));
    assert_eq!(out.status.code(), Some(1), "{}", rig::text(&out));
    assert_names_folder_and_fix(&rig::stderr(&out), &home.config());
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free again");
}

/// The message names the folder, says it cannot be written and what to do.
fn assert_names_folder_and_fix(stderr: &str, folder: &Path) {
    assert!(
        stderr.contains(&folder.display().to_string()),
        "names {}: {stderr}",
        folder.display()
    );
    assert!(stderr.contains("cannot be written"), "{stderr}");
    assert!(stderr.contains("writable"), "what to do: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
