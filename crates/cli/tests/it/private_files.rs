//! After a full run — sign-in against the simulated Coder, agents
//! configured, a daemon started by the stdio shim, calls recorded — no file
//! or folder of ours is readable by anyone but the user, and no log carries
//! a credential or a one-time dashboard link.

#![cfg(unix)]

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use coder_sim::{Sim, SimConfig};
use rmcp::model::{CallToolRequestParams, ClientConfig};
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt, service::RunningService};

use crate::support::{BIN, Reaper, bounded, free_port};

const TOOL: &str = "coder_get_authenticated_user";

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("meta").permissions().mode() & 0o777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A temp HOME with every XDG folder inside it, `$BROWSER` a script that
/// follows the sign-in link, and the file secret store.
struct Home {
    dir: tempfile::TempDir,
    port: u16,
}

impl Home {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp home");
        let browser = dir.path().join("browser.sh");
        std::fs::write(&browser, "#!/bin/sh\nexec curl -sfL -o /dev/null \"$1\"\n")
            .expect("script");
        chmod(&browser, 0o755);
        Self {
            dir,
            port: free_port(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The folders the XDG variables point at: everything in them is ours.
    fn xdg_dirs(&self) -> Vec<PathBuf> {
        ["config", "data", "state", "run"]
            .iter()
            .map(|d| self.path().join(d))
            .collect()
    }

    fn vars(&self) -> Vec<(&'static str, std::ffi::OsString)> {
        let p = self.path();
        vec![
            ("HOME", p.into()),
            ("XDG_CONFIG_HOME", p.join("config").into()),
            ("XDG_DATA_HOME", p.join("data").into()),
            ("XDG_STATE_HOME", p.join("state").into()),
            ("XDG_RUNTIME_DIR", p.join("run").into()),
            ("CODER_BRIDGE_SECRET_STORE", "file".into()),
            ("CODER_BRIDGE_PORT", self.port.to_string().into()),
            ("BROWSER", p.join("browser.sh").into()),
            // As much as the daemon would ever log.
            ("CODER_BRIDGE_LOG", "debug".into()),
        ]
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_remove("http_proxy")
            .env_remove("HTTP_PROXY");
        for (k, v) in self.vars() {
            cmd.env(k, v);
        }
        cmd
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn coder-bridge");
        {
            use std::io::Write;
            let mut pipe = child.stdin.take().expect("stdin");
            if let Some(input) = stdin {
                pipe.write_all(input.as_bytes()).expect("write stdin");
            }
        }
        let deadline = Instant::now() + Duration::from_secs(40);
        while child.try_wait().expect("wait").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("coder-bridge {args:?} did not finish in time");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().expect("output")
    }

    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "coder-bridge {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn config(&self) -> PathBuf {
        self.path().join("config/coder-bridge")
    }

    fn data(&self) -> PathBuf {
        self.path().join("data/coder-bridge")
    }

    async fn shim(&self, agent: &str) -> RunningService<RoleClient, ClientConfig> {
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.args(["stdio", "--agent", agent]);
        for (k, v) in self.vars() {
            cmd.env(k, v);
        }
        let (transport, _stderr) = TokioChildProcess::builder(cmd)
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the shim");
        bounded("shim initialize", ClientConfig::default().serve(transport))
            .await
            .expect("the shim speaks MCP on stdio")
    }
}

/// Every file under `roots` that is not 0600, every folder not 0700; and
/// the names of the files seen.
fn loose_entries(roots: &[PathBuf]) -> (Vec<String>, Vec<String>) {
    let (mut loose, mut seen) = (Vec::new(), Vec::new());
    let mut stack: Vec<PathBuf> = roots.iter().filter(|r| r.exists()).cloned().collect();
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).expect("meta");
        let m = meta.permissions().mode() & 0o777;
        if meta.is_dir() {
            if m != 0o700 {
                loose.push(format!("{} is a {m:04o} folder", path.display()));
            }
            for entry in std::fs::read_dir(&path).expect("list") {
                stack.push(entry.expect("entry").path());
            }
            continue;
        }
        seen.push(
            path.file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned(),
        );
        // A socket's own mode does not guard it; its 0700 folder does.
        if !meta.file_type().is_socket() && m != 0o600 {
            loose.push(format!("{} is a {m:04o} file", path.display()));
        }
    }
    (loose, seen)
}

/// Every string value in a JSON document (`filter` picks the secrets).
fn json_strings(text: &str, filter: impl Fn(&str) -> bool) -> Vec<String> {
    fn walk(v: &serde_json::Value, found: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) => found.push(s.clone()),
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, found)),
            serde_json::Value::Object(o) => o.values().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    let value: serde_json::Value = serde_json::from_str(text).expect("JSON");
    let mut found = Vec::new();
    walk(&value, &mut found);
    found.retain(|s| filter(s));
    found
}

/// No one-time link, no token prefix and no stored secret in `log`.
fn assert_clean_log(what: &str, log: &str, secrets: &[String]) {
    assert!(
        !log.contains("ticket="),
        "{what} holds a ticket link:\n{log}"
    );
    for prefix in ["cbt_", "cbc_"] {
        assert!(
            !log.contains(prefix),
            "{what} holds a {prefix} token:\n{log}"
        );
    }
    for secret in secrets {
        assert!(
            !log.contains(secret.as_str()),
            "{what} holds a secret value (…{}):\n{log}",
            &secret[secret.len() - 4..]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_run_leaves_nothing_of_ours_readable_by_others() {
    let sim = Sim::start(SimConfig::default().auto_approve(true))
        .await
        .expect("sim");
    let (client_id, client_secret) =
        sim.register_app("Coder Bridge", &["http://127.0.0.1/callback"], true);
    let client_secret = client_secret.expect("a confidential client");
    let home = Home::new();

    // Left loose by an older version, by hand or by a lax umask: ours, so
    // tightened. The agent's folder is not ours and keeps its mode.
    for dir in [home.config(), home.data()] {
        std::fs::create_dir_all(&dir).expect("mkdir");
        chmod(&dir, 0o755);
    }
    for dir in home.xdg_dirs() {
        std::fs::create_dir_all(&dir).expect("mkdir");
        chmod(&dir, 0o700);
    }
    let policy = home.config().join("policy.json");
    std::fs::write(&policy, "{\"version\": 1}\n").expect("seed");
    chmod(&policy, 0o644);
    let database = home.data().join("activity.db");
    std::fs::write(&database, "").expect("seed");
    chmod(&database, 0o644);
    let cursor = home.path().join(".cursor/mcp.json");
    std::fs::create_dir_all(cursor.parent().expect("dir")).expect("mkdir");
    chmod(cursor.parent().expect("dir"), 0o755);
    std::fs::write(&cursor, "{}\n").expect("seed");
    chmod(&cursor, 0o644);

    let url = sim.url().to_string();
    let signed_in = home.run(
        &[
            "login",
            &url,
            "--client-id",
            &client_id,
            "--client-secret",
            "-",
            "--timeout",
            "20",
        ],
        Some(&format!("{client_secret}\n")),
    );
    assert!(
        signed_in.status.success(),
        "{}",
        String::from_utf8_lossy(&signed_in.stderr)
    );

    let out = home.ok(&["configure", "cursor"], None);
    assert!(
        out.contains("permissions tightened 0644 → 0600 (it now holds a token)"),
        "{out}"
    );
    assert_eq!(mode(&cursor), 0o600);
    assert_eq!(mode(cursor.parent().expect("dir")), 0o755);
    // Loosened again (as an older version left it): configure repairs it.
    chmod(&cursor, 0o644);
    let out = home.ok(&["configure", "cursor"], None);
    assert!(
        out.contains("already configured")
            && out.contains("permissions tightened 0644 → 0600 (it holds a token)"),
        "{out}"
    );
    assert_eq!(mode(&cursor), 0o600);
    home.ok(&["configure", "claude-desktop"], None);

    // The first agent's shim finds no daemon and starts one, its output to
    // daemon.log.
    let client = home.shim("claude-desktop").await;
    let result = bounded("call", client.call_tool(CallToolRequestParams::new(TOOL)))
        .await
        .expect("a call through the shim");
    assert_ne!(result.is_error, Some(true), "{result:?}");
    home.ok(&["policy", "set", TOOL, "allow"], None);
    let ticket_link = home.ok(&["open", "--print"], None);
    assert!(ticket_link.contains("ticket="), "{ticket_link}");

    // The activity row lands in the WAL: SQLite made it with the
    // database's mode.
    let wal = home.data().join("activity.db-wal");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !(wal.exists() && home.ok(&["activity", "--json"], None).contains(TOOL)) {
        assert!(Instant::now() < deadline, "no activity recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (loose, seen) = loose_entries(&home.xdg_dirs());
    assert!(loose.is_empty(), "while running:\n{}", loose.join("\n"));
    for name in [
        "secrets.json",
        "account.json",
        "refresh.lock",
        "client-tokens.json",
        "control-token",
        "daemon.json",
        "daemon.lock",
        "policy.json",
        "claude_desktop_config.json",
        "daemon.log",
        "activity.db",
        "activity.db-wal",
        "activity.db-shm",
    ] {
        assert!(seen.iter().any(|s| s == name), "{name} not among {seen:?}");
    }
    for file in ["activity.db", "activity.db-wal", "activity.db-shm"] {
        assert_eq!(mode(&home.data().join(file)), 0o600, "{file}");
    }

    bounded("close", client.cancel()).await.ok();
    let info =
        bridge::server::DaemonInfo::read(&home.config().join("daemon.json")).expect("daemon.json");
    let _ = Command::new("kill").arg(info.pid.to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while home.config().join("daemon.json").exists() {
        assert!(Instant::now() < deadline, "the daemon did not stop");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (loose, _) = loose_entries(&home.xdg_dirs());
    assert!(loose.is_empty(), "after the run:\n{}", loose.join("\n"));
    let cursor_dir = cursor.parent().expect("dir");
    for entry in std::fs::read_dir(cursor_dir).expect("list") {
        let path = entry.expect("entry").path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }

    // Whatever was logged, nothing in it opens the dashboard or calls Coder.
    let read = |file: &str| std::fs::read_to_string(home.config().join(file)).expect("read");
    // secrets.json holds nothing but secrets: access and refresh token,
    // client secret.
    let mut secrets = json_strings(&read("secrets.json"), |_| true);
    assert!(secrets.len() >= 3, "tokens and client secret are stored");
    secrets.extend(json_strings(&read("client-tokens.json"), |s| {
        s.starts_with("cbt_")
    }));
    secrets.push(read("control-token").trim().to_owned());
    secrets.push(client_secret);
    let log = std::fs::read_to_string(home.data().join("daemon.log")).expect("daemon.log");
    assert!(log.contains("CODER_BRIDGE_URL="), "{log}");
    assert!(log.contains("coder-bridge open"), "{log}");
    assert_clean_log("daemon.log", &log, &secrets);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_logs_no_link_and_no_token() {
    let home = Home::new();
    let log_path = home.path().join("demo.log");
    let log = std::fs::File::create(&log_path).expect("log");
    let mut cmd = home.command(&["demo", "--port", &home.port.to_string()]);
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone"))
        .stderr(log);
    let demo = Reaper(cmd.spawn().expect("spawn demo"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&log_path).expect("read");
        if text.contains("Ctrl-C stops the demo") {
            break;
        }
        assert!(Instant::now() < deadline, "the demo did not start:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(demo);
    let text = std::fs::read_to_string(&log_path).expect("read");
    assert!(text.contains("coder-bridge open"), "{text}");
    let tokens = std::fs::read_to_string(home.config().join("client-tokens.json"))
        .expect("the demo issues client tokens");
    let secrets = json_strings(&tokens, |s| s.starts_with("cbt_"));
    assert!(!secrets.is_empty());
    assert_clean_log("the demo's output", &text, &secrets);
}
