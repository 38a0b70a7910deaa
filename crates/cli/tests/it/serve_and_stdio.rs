//! The real binary: `demo`/`serve` in a temp HOME, and the stdio shim an
//! agent launches, spoken to by a real rmcp client over its stdin/stdout.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use rmcp::{
    RoleClient, ServiceError, ServiceExt,
    model::{CallToolRequestParams, ClientConfig},
    service::RunningService,
    transport::TokioChildProcess,
};

use crate::support::{BIN, Reaper, free_port};

fn bounded_secs() -> Duration {
    Duration::from_secs(30)
}

async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(bounded_secs(), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// A temp HOME with XDG folders and the file secret store: nothing of the
/// real user is read or written.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp home"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn apply_std(&self, cmd: &mut Command) {
        for (k, v) in self.vars() {
            cmd.env(k, v);
        }
    }

    fn apply_tokio(&self, cmd: &mut tokio::process::Command) {
        for (k, v) in self.vars() {
            cmd.env(k, v);
        }
    }

    fn vars(&self) -> Vec<(&'static str, std::path::PathBuf)> {
        let p = self.path();
        vec![
            ("HOME", p.to_path_buf()),
            ("XDG_CONFIG_HOME", p.join("config")),
            ("XDG_DATA_HOME", p.join("data")),
            ("XDG_STATE_HOME", p.join("state")),
            ("XDG_RUNTIME_DIR", p.join("run")),
            ("CODER_BRIDGE_SECRET_STORE", "file".into()),
        ]
    }

    fn config(&self) -> std::path::PathBuf {
        self.path().join("config").join("coder-bridge")
    }
}

/// Starts `coder-bridge demo` and waits for its `CODER_BRIDGE_URL=` line.
fn start_demo(home: &Home, port: u16) -> (Reaper, String) {
    start_demo_with(home, port, Stdio::null())
}

fn start_demo_with(home: &Home, port: u16, stderr: Stdio) -> (Reaper, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(["demo", "--port", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr);
    home.apply_std(&mut cmd);
    let mut child = cmd.spawn().expect("spawn demo");
    let stdout = child.stdout.take().expect("stdout");
    let reaper = Reaper(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("CODER_BRIDGE_URL=") {
                let _ = tx.send(url.to_owned());
            }
        }
    });
    let url = rx
        .recv_timeout(bounded_secs())
        .expect("demo prints CODER_BRIDGE_URL");
    (reaper, url)
}

async fn shim(home: &Home, port: u16) -> RunningService<RoleClient, ClientConfig> {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args([
        "stdio",
        "--agent",
        "claude-desktop",
        "--port",
        &port.to_string(),
    ]);
    home.apply_tokio(&mut cmd);
    let (transport, _stderr) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the shim");
    bounded("shim initialize", ClientConfig::default().serve(transport))
        .await
        .expect("the shim speaks MCP on stdio")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_shim_lists_and_calls_tools_through_the_daemon() {
    let home = Home::new();
    let port = free_port();
    let (_demo, url) = start_demo(&home, port);
    assert_eq!(url, format!("http://127.0.0.1:{port}/mcp"));

    let client = shim(&home, port).await;
    let tools = bounded("list", client.list_all_tools())
        .await
        .expect("tools/list through the shim");
    assert!(
        tools
            .iter()
            .any(|t| t.name == "coder_get_authenticated_user")
    );
    let result = bounded(
        "call",
        client.call_tool(CallToolRequestParams::new("coder_get_authenticated_user")),
    )
    .await
    .expect("tools/call through the shim");
    assert_ne!(result.is_error, Some(true), "{result:?}");
    let text = serde_json::to_string(&result.content).expect("json");
    assert!(text.contains("demo"), "{text}");
    bounded("close", client.cancel()).await.ok();
}

/// `scripts/run` shows the demo's banner; rmcp's info lines (a `Debug` dump
/// of the peer's protocol structs per session) used to bury it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_log_shows_its_banner_and_no_dependency_info_lines() {
    let home = Home::new();
    let port = free_port();
    let (mut demo, _url) = start_demo_with(&home, port, Stdio::piped());
    let stderr = demo.0.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut text);
        text
    });
    // A session through the shim: rmcp logs each one at info, on both ends.
    let client = shim(&home, port).await;
    bounded("list", client.list_all_tools())
        .await
        .expect("tools/list through the shim");
    bounded("close", client.cancel()).await.ok();
    drop(demo); // the pipe closes with the process
    let log = reader.join().expect("stderr reader");

    assert!(log.contains("Coder Bridge demo: signed in"), "{log}");
    assert!(
        log.contains(&format!("MCP endpoint  http://127.0.0.1:{port}/mcp")),
        "{log}"
    );
    assert!(!log.contains("\x1b["), "colour codes on a pipe: {log:?}");
    for rmcp_line in [
        "Service initialized",
        "serve finished",
        "input stream terminated",
    ] {
        assert!(
            !log.contains(rmcp_line),
            "rmcp info line {rmcp_line:?}: {log}"
        );
    }
    // Our own info lines are the daemon's record: they stay.
    assert!(log.contains(" INFO "), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_shims_start_one_daemon_and_relay_its_sign_in_error() {
    let home = Home::new();
    let port = free_port();
    // Client tokens exist (as after `coder-bridge configure claude-desktop`).
    let tokens = bridge::client_tokens::ClientTokens::open(
        home.config().join(bridge::client_tokens::FILE_NAME),
    )
    .expect("tokens");
    tokens.issue("claude-desktop").expect("issue");

    let (a, b) = tokio::join!(shim(&home, port), shim(&home, port));
    let info = bridge::server::DaemonInfo::read(&home.config().join("daemon.json"))
        .expect("the started daemon wrote daemon.json");
    assert_eq!(info.port, port);

    // Nobody signed in: a clear JSON-RPC error, not an HTTP 401.
    for client in [&a, &b] {
        let err = bounded("list", client.list_all_tools())
            .await
            .expect_err("signed out");
        let ServiceError::McpError(e) = err else {
            panic!("expected a JSON-RPC error, got {err:?}");
        };
        assert_eq!(e.code, bridge::relay::SIGN_IN_REQUIRED);
        assert!(e.message.contains("coder-bridge login"), "{}", e.message);
    }
    let log = std::fs::read_to_string(home.path().join("data/coder-bridge/daemon.log"))
        .expect("daemon log");
    assert_eq!(
        log.matches("CODER_BRIDGE_URL=").count(),
        1,
        "one daemon: {log}"
    );

    bounded("close a", a.cancel()).await.ok();
    bounded("close b", b.cancel()).await.ok();
    // Stop the daemon the shims started (by its pid, nothing broader).
    let _ = Command::new("kill").arg(info.pid.to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while home.config().join("daemon.json").exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !home.config().join("daemon.json").exists(),
        "SIGTERM shuts the daemon down and removes daemon.json"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_taken_port_with_a_clear_message() {
    let home = Home::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--port", &port.to_string()])
        .stdin(Stdio::null());
    home.apply_std(&mut cmd);
    let output = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("run serve");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("port {port}")), "{stderr}");
    assert!(
        stderr.contains("--port") && stderr.contains("CODER_BRIDGE_PORT"),
        "{stderr}"
    );
    drop(taken);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shim_talks_to_the_daemon_over_its_private_socket() {
    use std::os::unix::fs::PermissionsExt;
    let home = Home::new();
    let port = free_port();
    let (_demo, _url) = start_demo(&home, port);
    let socket = home
        .path()
        .join("run/coder-bridge")
        .join(format!("daemon-{port}.sock"));
    let info =
        bridge::server::DaemonInfo::read(&home.config().join("daemon.json")).expect("daemon.json");
    assert_eq!(info.socket.as_deref(), Some(socket.as_path()));
    let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&socket), 0o600);
    assert_eq!(mode(socket.parent().expect("folder")), 0o700);

    // Without the daemon key no TCP connection can be proven: a shim that
    // works now went through the socket.
    std::fs::remove_file(bridge::server::ProofKey::path_in(&home.config())).expect("rm key");
    let client = shim(&home, port).await;
    let result = bounded(
        "call",
        client.call_tool(CallToolRequestParams::new("coder_get_authenticated_user")),
    )
    .await
    .expect("tools/call through the shim");
    assert_ne!(result.is_error, Some(true), "{result:?}");
    bounded("close", client.cancel()).await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_runtime_folder_the_shim_uses_proven_tcp() {
    let home = Home::new();
    let port = free_port();
    let mut cmd = Command::new(BIN);
    cmd.args(["demo", "--port", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    home.apply_std(&mut cmd);
    cmd.env_remove("XDG_RUNTIME_DIR");
    let mut child = cmd.spawn().expect("spawn demo");
    let stdout = child.stdout.take().expect("stdout");
    let _demo = Reaper(child);
    let mut lines = BufReader::new(stdout).lines();
    assert!(
        lines.any(|l| l.is_ok_and(|l| l.starts_with("CODER_BRIDGE_URL="))),
        "the demo starts"
    );
    let info =
        bridge::server::DaemonInfo::read(&home.config().join("daemon.json")).expect("daemon.json");
    assert_eq!(info.socket, None, "no runtime folder, no socket");

    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(["stdio", "--port", &port.to_string()]);
    home.apply_tokio(&mut cmd);
    cmd.env_remove("XDG_RUNTIME_DIR");
    let (transport, _stderr) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the shim");
    let client = bounded("shim initialize", ClientConfig::default().serve(transport))
        .await
        .expect("the shim speaks MCP on stdio");
    let result = bounded(
        "call",
        client.call_tool(CallToolRequestParams::new("coder_get_authenticated_user")),
    )
    .await
    .expect("tools/call over proven TCP");
    assert_ne!(result.is_error, Some(true), "{result:?}");
    bounded("close", client.cancel()).await.ok();
}

/// Something else took the daemon's port while it was down and answers
/// like a healthy daemon: the shim refuses it and sends it no token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shim_sends_nothing_to_an_impostor_on_the_port() {
    use std::io::{Read, Write};
    let home = Home::new();
    let tokens = bridge::client_tokens::ClientTokens::open(
        home.config().join(bridge::client_tokens::FILE_NAME),
    )
    .expect("tokens");
    let token = tokens.issue("claude-desktop").expect("issue");
    // A daemon ran before: its key is on disk (the impostor cannot read it).
    bridge::server::ProofKey::generate()
        .write(&bridge::server::ProofKey::path_in(&home.config()))
        .expect("key");

    let impostor = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = impostor.local_addr().expect("addr").port();
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let sink = received.clone();
    std::thread::spawn(move || {
        for stream in impostor.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            sink.lock().expect("lock").extend_from_slice(&buf[..n]);
            let body = r#"{"status":"ok"}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 204 No Content\r\ncoder-bridge-proof: AAAA\r\n\r\nHTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });

    let mut cmd = Command::new(BIN);
    cmd.args(["stdio", "--port", &port.to_string()])
        .stdin(Stdio::null());
    home.apply_std(&mut cmd);
    let output = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("run the shim");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("127.0.0.1:{port} did not prove")),
        "{stderr}"
    );
    let seen = String::from_utf8_lossy(&received.lock().expect("lock")).into_owned();
    assert!(seen.contains("GET /proof"), "only the challenge: {seen}");
    assert!(!seen.contains(token.expose()), "{seen}");
    assert!(
        !seen.to_ascii_lowercase().contains("authorization"),
        "{seen}"
    );
}
