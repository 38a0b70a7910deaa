//! `coder-bridge stdio`: the shim an agent (Claude Desktop) launches.
//!
//! Nothing but MCP goes to stdout. When no daemon answers, one is started
//! (`coder-bridge serve`, detached, logging to the data directory) under a
//! lock, so N shims launched together start exactly one daemon.

use std::{
    fs::{File, OpenOptions},
    path::Path,
    process::{ExitCode, Stdio},
    time::{Duration, Instant},
};

use anyhow::Context;
use bridge::{
    client_tokens::ClientTokens,
    paths,
    server::{DaemonInfo, probe_health, stdio::serve_stdio},
};

/// How long a freshly started daemon may take to answer `/healthz`.
const START_TIMEOUT: Duration = Duration::from_secs(20);
const PROBE_TIMEOUT: Duration = Duration::from_millis(800);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which configured agent this shim speaks for (its client token is used)
    #[arg(long, default_value = "claude-desktop")]
    pub agent: String,
    /// Port of the daemon; default: the running daemon's, else CODER_BRIDGE_PORT or 7331
    #[arg(long)]
    pub port: Option<u16>,
    /// Do not start the daemon when it is not running; fail instead
    #[arg(long)]
    pub no_start: bool,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let info_path = DaemonInfo::default_path();
    let port = args
        .port
        .or_else(|| DaemonInfo::read(&info_path).map(|i| i.port))
        .or_else(|| {
            std::env::var(bridge::env::PORT)
                .ok()
                .and_then(|p| p.parse().ok())
        })
        .unwrap_or(paths::DEFAULT_PORT);

    if probe_health(port, PROBE_TIMEOUT).await.is_none() {
        if args.no_start {
            anyhow::bail!(
                "Coder Bridge is not running on port {port}: start it with `coder-bridge serve` (or open the Coder Bridge tray app)"
            );
        }
        start_daemon(port).await.with_context(|| {
            format!(
                "Coder Bridge is not running on port {port} and could not be started; start it with `coder-bridge serve --port {port}` (or open the tray app)"
            )
        })?;
    }

    let tokens = ClientTokens::open_default().context("cannot open the client tokens")?;
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}/mcp"))
        .context("cannot build the daemon URL")?;
    let shutdown = async {
        if let Err(e) = super::serve::stop_signal().await {
            tracing::warn!("cannot listen for stop signals: {e}");
            std::future::pending::<()>().await;
        }
    };
    serve_stdio(url, &args.agent, tokens, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

/// Starts `coder-bridge serve --port <port>` detached, unless another shim
/// does it first, and waits until it answers.
async fn start_daemon(port: u16) -> anyhow::Result<()> {
    let config = paths::config_dir();
    std::fs::create_dir_all(&config)
        .with_context(|| format!("cannot create {}", config.display()))?;
    let lock_path = config.join("daemon.lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open {}", lock_path.display()))?;
    // Blocking lock off the runtime: other shims wait here while one starts
    // the daemon, then find it healthy below.
    let lock = tokio::task::spawn_blocking(move || fs4::FileExt::lock(&lock).map(|()| lock))
        .await
        .context("the lock task failed")?
        .with_context(|| format!("cannot lock {}", lock_path.display()))?;

    let result = async {
        if probe_health(port, PROBE_TIMEOUT).await.is_some() {
            return Ok(());
        }
        spawn_serve(port)?;
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if probe_health(port, PROBE_TIMEOUT).await.is_some() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!(
            "the daemon did not answer within {} s; see {}",
            START_TIMEOUT.as_secs(),
            log_path().display()
        )
    }
    .await;
    let _ = fs4::FileExt::unlock(&lock);
    result
}

fn log_path() -> std::path::PathBuf {
    paths::data_dir().join("daemon.log")
}

fn spawn_serve(port: u16) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("cannot find the coder-bridge executable")?;
    let log = log_path();
    let log_file = open_log(&log)?;
    let mut command = std::process::Command::new(exe);
    command
        .arg("serve")
        .arg("--port")
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().context("cannot share the log file")?)
        .stderr(log_file);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Its own process group: the agent stopping this shim (and its
        // group) must not stop the daemon other agents use.
        command.process_group(0);
    }
    let child = command
        .spawn()
        .context("cannot start `coder-bridge serve`")?;
    tracing::info!(
        pid = child.id(),
        "started the daemon; log: {}",
        log.display()
    );
    Ok(())
}

fn open_log(path: &Path) -> anyhow::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))
}
