//! Hardening through the real binary in a temp HOME: the daemon killed with
//! SIGKILL in the middle of a burst of calls and started again, Coder paused
//! or killed under a running daemon (`daemon_faults/upstream.rs`), and a bad
//! environment (port in use, no keychain) — each with a clear message.

mod upstream;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ClientConfig};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

use crate::support::{BIN, Reaper, bounded, free_port};

const TOOL: &str = "coder_get_authenticated_user";

/// A temp HOME with XDG folders; `D-Bus` left out so no real keychain is touched.
struct Home(tempfile::TempDir);

impl Home {
    fn new() -> Self {
        Self(tempfile::tempdir().expect("temp home"))
    }
    fn path(&self) -> &Path {
        self.0.path()
    }
    fn config(&self) -> PathBuf {
        self.path().join("config").join("coder-bridge")
    }
    fn data(&self) -> PathBuf {
        self.path().join("data").join("coder-bridge")
    }
    fn command(&self, args: &[&str]) -> Command {
        let p = self.path();
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("HOME", p)
            .env("XDG_CONFIG_HOME", p.join("config"))
            .env("XDG_DATA_HOME", p.join("data"))
            .env("XDG_STATE_HOME", p.join("state"))
            .env("XDG_RUNTIME_DIR", p.join("run"))
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env_remove("CODER_BRIDGE_SECRET_STORE")
            .env_remove("CODER_BRIDGE_PORT")
            .stdin(Stdio::null());
        cmd
    }
}

/// Kills (SIGKILL) and reaps a process this test started when dropped.
/// `coder-bridge demo --port <port>`, once it prints its URL.
fn start_demo(home: &Home, port: u16) -> Reaper {
    let mut cmd = home.command(&["demo", "--port", &port.to_string()]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn demo");
    let stdout = child.stdout.take().expect("stdout");
    let reaper = Reaper(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("CODER_BRIDGE_URL=") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("demo prints CODER_BRIDGE_URL");
    reaper
}

async fn agent(port: u16, token: &str) -> RunningService<RoleClient, ClientConfig> {
    let config =
        StreamableHttpClientTransportConfig::with_uri(format!("http://127.0.0.1:{port}/mcp"))
            .auth_header(token.to_owned());
    bounded(
        "agent connects",
        ClientConfig::default().serve(StreamableHttpClientTransport::from_config(config)),
    )
    .await
    .expect("the agent connects")
}

/// The calls the activity database holds, read by `coder-bridge activity`
/// with no daemon running (straight from the file).
fn recorded_calls(home: &Home) -> usize {
    let out = home
        .command(&["activity", "--json", "-n", "1000000", "--tool", TOOL])
        .output()
        .expect("run activity");
    assert!(
        out.status.success(),
        "the database opens: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
}

/// SIGKILL during a burst of calls (and activity writes), then a restart:
/// a new agent session works, the database opens clean (nothing set aside
/// as damaged) and only calls that finished in the last second before the
/// kill may be missing from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_killed_mid_burst_restarts_with_a_clean_database() {
    let home = Home::new();
    let port = free_port();
    let tokens = bridge::client_tokens::ClientTokens::open(
        home.config().join(bridge::client_tokens::FILE_NAME),
    )
    .expect("tokens");
    let token = tokens.issue("cursor").expect("issue").expose().to_owned();

    let mut demo = start_demo(&home, port);
    let finished: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let mut workers = Vec::new();
    for _ in 0..3 {
        let client = agent(port, &token).await;
        let finished = finished.clone();
        workers.push(tokio::spawn(async move {
            // Until the daemon dies under it.
            while let Ok(Ok(r)) = tokio::time::timeout(
                Duration::from_secs(5),
                client.call_tool(CallToolRequestParams::new(TOOL)),
            )
            .await
            {
                if r.is_error != Some(true) {
                    finished.lock().expect("lock").push(Instant::now());
                } else {
                    break;
                }
            }
        }));
    }
    // Mid-burst, once enough calls have had a second to be written.
    let settled_calls = || {
        let finished = finished.lock().expect("lock");
        finished
            .iter()
            .filter(|t| t.elapsed() > Duration::from_secs(1))
            .count()
    };
    crate::support::eventually("a burst of settled calls", Duration::from_secs(30), || {
        settled_calls() > 25
    })
    .await;
    demo.0.kill().expect("SIGKILL the daemon");
    let killed_at = Instant::now();
    let _ = demo.0.wait();
    for w in workers {
        let _ = bounded("worker ends", w).await;
    }
    let before: Vec<Instant> = finished.lock().expect("lock").clone();
    let settled = before
        .iter()
        .filter(|t| killed_at.duration_since(**t) > Duration::from_secs(1))
        .count();
    assert!(
        settled > 20,
        "the burst made calls before the kill: {}",
        before.len()
    );

    // Started again on the same port: the agent reconnects and works.
    let mut demo = start_demo(&home, port);
    let client = agent(port, &token).await;
    for _ in 0..5 {
        let r = bounded(
            "call after restart",
            client.call_tool(CallToolRequestParams::new(TOOL)),
        )
        .await
        .expect("a call after the restart");
        assert_ne!(r.is_error, Some(true), "{r:?}");
    }
    bounded("close", client.cancel()).await.ok();
    // A clean stop this time, so its own calls are all written.
    let _ = Command::new("kill").arg(demo.0.id().to_string()).status();
    let _ = demo.0.wait();

    let recorded = recorded_calls(&home);
    let from_first_run = recorded.saturating_sub(5);
    eprintln!(
        "{} calls finished before the kill ({settled} more than 1 s before); {from_first_run} recorded",
        before.len()
    );
    assert!(
        from_first_run >= settled,
        "only the last second may be missing: {from_first_run} recorded of {settled}"
    );
    assert!(from_first_run <= before.len() + 3, "no call recorded twice");
    let damaged: Vec<_> = std::fs::read_dir(home.data())
        .expect("data dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("damaged"))
        .collect();
    assert!(
        damaged.is_empty(),
        "the database was set aside: {damaged:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_is_named_with_the_way_out() {
    let home = Home::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let out = home
        .command(&["serve", "--port", &port.to_string()])
        .output()
        .expect("run serve");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("port {port}")), "{stderr}");
    assert!(stderr.contains("--port"), "{stderr}");
}

/// No D-Bus session bus: secrets go to the 0600 file and the user is told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_keychain_falls_back_to_the_file_and_says_so() {
    let home = Home::new();
    let sim = coder_sim::Sim::start(coder_sim::SimConfig::default())
        .await
        .expect("sim");
    let mut cmd = home.command(&["login", sim.url().as_str(), "--token"]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("login");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "{}", sim.session_token()).expect("token on stdin");
    }
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("login output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.to_lowercase().contains("keychain"),
        "a visible notice: {text}"
    );
    let secrets = home.config().join("secrets.json");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&secrets)
            .expect("secrets.json written")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let status = home.command(&["status"]).output().expect("status");
    let status_text = String::from_utf8_lossy(&status.stdout);
    assert!(status_text.contains("no keychain"), "{status_text}");
    sim.shutdown().await;
}

/// The `coder-sim` binary beside ours, built on demand when this package's
/// tests run alone.
fn coder_sim_binary() -> PathBuf {
    let path = Path::new(BIN).with_file_name("coder-sim");
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "coder-sim", "--bin", "coder-sim"])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building coder-sim");
    }
    path
}
