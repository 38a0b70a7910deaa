//! Hardening: signed out with the deployment known, agents bring the user
//! back to sign-in: once, with one daemon, and never without a display.
//!
//! The real binary in a temp HOME against an in-process `coder-sim` that
//! approves sign-ins by itself. The "browser" is a script (`BROWSER`) that
//! logs each page it is asked to open and follows it with `curl -sL`, as a
//! user clicking through would.
#![cfg(unix)]

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use coder_sim::{Sim, SimConfig};
use rmcp::{
    ServiceError, ServiceExt,
    model::{CallToolRequestParams, ClientConfig},
};

use crate::support::BIN;

const AGENT: &str = "claude-desktop";

async fn bounded<T>(what: &str, secs: u64, work: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), work)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// A temp HOME, its browser script and the port its daemon will use.
struct Home {
    dir: tempfile::TempDir,
    port: u16,
}

impl Home {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp home");
        let script = format!(
            "#!/bin/sh\necho \"$1\" >> '{}'\nexec curl -sL -o /dev/null \"$1\"\n",
            dir.path().join("browser.log").display()
        );
        write_executable(&dir.path().join("browser.sh"), &script);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        Self { dir, port }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn config(&self) -> PathBuf {
        self.path().join("config/coder-bridge")
    }

    /// A command of the real binary in this HOME, `BROWSER` = the script.
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(BIN);
        let p = self.path();
        cmd.args(args)
            .env("HOME", p)
            .env("XDG_CONFIG_HOME", p.join("config"))
            .env("XDG_DATA_HOME", p.join("data"))
            .env("XDG_STATE_HOME", p.join("state"))
            .env("XDG_RUNTIME_DIR", p.join("run"))
            .env("CODER_BRIDGE_SECRET_STORE", "file")
            .env("BROWSER", p.join("browser.sh"))
            .env("CODER_BRIDGE_PORT", self.port.to_string())
            .kill_on_drop(true);
        cmd
    }

    async fn run(&self, args: &[&str]) -> String {
        let out = bounded(
            &args.join(" "),
            30,
            self.command(args).stdin(Stdio::null()).output(),
        )
        .await
        .expect("run coder-bridge");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{args:?} failed: {stderr}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn browser_pages(&self) -> usize {
        std::fs::read_to_string(self.path().join("browser.log"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    /// Signed in once through the browser, then signed out: the deployment
    /// is known, the tokens are gone. An agent has its client token.
    async fn signed_in_then_out(&self, sim: &Sim) {
        self.run(&["login", sim.url().as_str(), "--timeout", "30"])
            .await;
        assert_eq!(self.browser_pages(), 1, "login opened the browser");
        self.run(&["logout"]).await;
        std::fs::remove_file(self.path().join("browser.log")).expect("reset the browser log");
        let status = self.command(&["status"]).output().await.expect("status");
        let text = String::from_utf8_lossy(&status.stdout);
        assert!(
            text.contains(&format!("Signed out of {}", sim.url())),
            "status remembers the deployment: {text}"
        );
        bridge::client_tokens::ClientTokens::open(
            self.config().join(bridge::client_tokens::FILE_NAME),
        )
        .expect("client tokens")
        .issue(AGENT)
        .expect("issue a client token");
    }

    /// The `coder-bridge serve` processes running with this HOME.
    fn daemons(&self) -> Vec<u32> {
        let home = format!("HOME={}", self.path().display());
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        dir.filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                let read = |what| std::fs::read(format!("/proc/{pid}/{what}")).unwrap_or_default();
                let cmdline = read("cmdline");
                let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
                let environ = read("environ");
                args.get(1) == Some(&b"serve".as_slice())
                    && environ.split(|b| *b == 0).any(|kv| kv == home.as_bytes())
            })
            .collect()
    }

    /// Stops the daemon the shims started, by its pid.
    async fn stop_daemons(&self) {
        for pid in self.daemons() {
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.daemons().is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn write_executable(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// One agent: starts `coder-bridge stdio`, initializes, lists and calls.
async fn agent(cmd: tokio::process::Command) -> Result<String, ServiceError> {
    let (transport, _stderr) = rmcp::transport::TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the shim");
    let client = ClientConfig::default()
        .serve(transport)
        .await
        .expect("the shim speaks MCP on stdio");
    let result = async {
        let tools = client.list_all_tools().await?;
        assert!(
            tools
                .iter()
                .any(|t| t.name == "coder_get_authenticated_user")
        );
        let called = client
            .call_tool(CallToolRequestParams::new("coder_get_authenticated_user"))
            .await?;
        assert_ne!(called.is_error, Some(true), "{called:?}");
        Ok(serde_json::to_string(&called.content).expect("json"))
    }
    .await;
    let _ = client.cancel().await;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_shims_signed_out_share_one_daemon_and_one_browser_sign_in() {
    let sim = Sim::start(SimConfig::default().auto_approve(true).dcr(true))
        .await
        .expect("sim");
    let home = Home::new();
    home.signed_in_then_out(&sim).await;
    let registrations = sim.counters().registrations;
    assert_eq!(registrations, 1, "the first sign-in registered the client");
    let calls_before = sim
        .counters()
        .calls_by_tool
        .get("coder_get_authenticated_user")
        .copied()
        .unwrap_or(0);

    // Four agents start their shims at the same instant; no daemon runs.
    assert!(home.daemons().is_empty());
    let port = home.port.to_string();
    let shims: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn(agent(
                home.command(&["stdio", "--agent", AGENT, "--port", &port]),
            ))
        })
        .collect();
    let results = bounded("four agents", 50, async {
        let mut results = Vec::new();
        for shim in shims {
            results.push(shim.await.expect("agent task"));
        }
        results
    })
    .await;
    for result in &results {
        let text = result.as_ref().expect("the agent's calls succeed");
        assert!(text.contains(&sim.demo_user().username), "{text}");
    }

    assert_eq!(home.browser_pages(), 1, "the browser opened exactly once");
    assert!(
        sim.counters().registrations - registrations <= 1,
        "at most one client registration"
    );
    let calls = sim.counters().calls_by_tool["coder_get_authenticated_user"];
    assert_eq!(
        calls - calls_before,
        4,
        "each agent's call ran once upstream"
    );
    let daemons = home.daemons();
    assert_eq!(daemons.len(), 1, "one daemon: {daemons:?}");
    let info =
        bridge::server::DaemonInfo::read(&home.config().join("daemon.json")).expect("daemon.json");
    assert_eq!((info.pid, info.port), (daemons[0], home.port));
    let log = std::fs::read_to_string(home.path().join("data/coder-bridge/daemon.log"))
        .expect("daemon log");
    assert_eq!(log.matches("CODER_BRIDGE_URL=").count(), 1, "{log}");

    home.stop_daemons().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_display_the_agent_gets_the_sign_in_error_and_no_browser_opens() {
    let sim = Sim::start(SimConfig::default().auto_approve(true).dcr(true))
        .await
        .expect("sim");
    let home = Home::new();
    home.signed_in_then_out(&sim).await;

    // No graphical session and no BROWSER: `xdg-open` (a recorder first on
    // PATH) must not be run.
    let bin = home.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    let opened = home.path().join("xdg-open.log");
    write_executable(
        &bin.join("xdg-open"),
        &format!("#!/bin/sh\necho \"$1\" >> '{}'\n", opened.display()),
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let port = home.port.to_string();
    let mut cmd = home.command(&["stdio", "--agent", AGENT, "--port", &port]);
    cmd.env_remove("BROWSER")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("PATH", path);
    let started = Instant::now();
    let err = bounded("agent", 40, agent(cmd))
        .await
        .expect_err("signed out");
    let ServiceError::McpError(e) = err else {
        panic!("expected a JSON-RPC error, got {err:?}");
    };
    assert_eq!(e.code, bridge::relay::SIGN_IN_REQUIRED);
    assert!(e.message.contains("coder-bridge login"), "{}", e.message);
    assert!(
        e.message.contains(sim.url().as_str()),
        "names the deployment to sign in to: {}",
        e.message
    );
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "answered without waiting for a sign-in: {:?}",
        started.elapsed()
    );
    assert!(!opened.exists(), "no browser was opened");
    assert_eq!(home.browser_pages(), 0);

    home.stop_daemons().await;
    sim.shutdown().await;
}
