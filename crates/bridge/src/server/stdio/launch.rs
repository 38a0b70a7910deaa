//! Finding the daemon for the stdio shim, and starting exactly one when
//! none answers, however many shims start at the same instant.
//!
//! Everything here talks plain HTTP to 127.0.0.1, so its HTTP client is
//! built without TLS roots or proxies: loading the platform's certificate
//! store costs the shim time and memory for nothing.

use std::{
    fs::{File, OpenOptions},
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use super::ShimError;
use crate::{paths, server::DaemonInfo};

/// How long a freshly started daemon may take to answer `/healthz`.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one `/healthz` probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_millis(800);
/// How long a healthy daemon may take to write `daemon.json`.
const ADVERTISE_WAIT: Duration = Duration::from_secs(2);
/// Lock file (in the config directory) held while a shim starts the daemon.
const LOCK_FILE: &str = "daemon.lock";
/// The daemon's log when a shim started it (in the data directory).
const LOG_FILE: &str = "daemon.log";

/// A client for the daemon on 127.0.0.1: no certificate store, no proxy.
pub(crate) fn loopback_client(timeout: Option<Duration>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        // An empty root store: the daemon is plain HTTP on loopback, and
        // this keeps the platform verifier from reading every system root.
        .tls_certs_only(std::iter::empty())
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("coder-bridge/", env!("CARGO_PKG_VERSION")));
    if let Some(timeout) = timeout {
        builder = builder.timeout(timeout);
    }
    builder.build().unwrap_or_default()
}

/// The port the shim should use: `explicit`, else the running daemon's
/// (`daemon.json`), else the configured one ([`crate::settings::port`]).
pub(crate) fn resolve_port(explicit: Option<u16>) -> u16 {
    explicit
        .or_else(|| DaemonInfo::read(&DaemonInfo::default_path()).map(|i| i.port))
        .unwrap_or_else(|| crate::settings::port(None))
}

/// True when a Coder Bridge daemon answers `/healthz` on `port`.
pub(crate) async fn healthy(client: &reqwest::Client, port: u16) -> bool {
    let request = client
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send();
    let Ok(Ok(response)) = tokio::time::timeout(PROBE_TIMEOUT, request).await else {
        return false;
    };
    if !response.status().is_success() {
        return false;
    }
    response
        .json::<serde_json::Value>()
        .await
        .ok()
        .and_then(|h| h.get("status")?.as_str().map(|s| s == "ok"))
        .unwrap_or(false)
}

/// Starts `<bridge_exe> serve --port <port>` detached, unless another shim
/// does it first, and waits until it answers.
///
/// Every shim that finds no daemon queues on an exclusive lock; the first
/// one starts the daemon and holds the lock until it is healthy, so the
/// others find it running when their turn comes.
pub(crate) async fn start_daemon(
    client: &reqwest::Client,
    port: u16,
    bridge_exe: &Path,
) -> Result<(), ShimError> {
    let config = paths::config_dir();
    let io = |what: String| move |e: std::io::Error| ShimError::Start(format!("{what}: {e}"));
    std::fs::create_dir_all(&config).map_err(io(format!("cannot create {}", config.display())))?;
    let lock_path = config.join(LOCK_FILE);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io(format!("cannot open {}", lock_path.display())))?;
    // A blocking lock off the runtime's thread: the shims queue here.
    let lock = tokio::task::spawn_blocking(move || fs4::FileExt::lock(&lock).map(|()| lock))
        .await
        .map_err(|e| ShimError::Start(format!("the lock task failed: {e}")))?
        .map_err(io(format!("cannot lock {}", lock_path.display())))?;

    let result = async {
        if healthy(client, port).await {
            return Ok(());
        }
        spawn_serve(port, bridge_exe)?;
        let deadline = Instant::now() + START_TIMEOUT;
        let mut healthy_since = None;
        while Instant::now() < deadline {
            // Healthy first; then advertised in `daemon.json` (written an
            // instant after it starts listening), which the next agents and
            // `coder-bridge status` go by. A daemon that cannot write the
            // file still serves: do not wait for it long.
            if healthy_since.is_some() || healthy(client, port).await {
                let since = *healthy_since.get_or_insert_with(Instant::now);
                if advertised(port) || since.elapsed() > ADVERTISE_WAIT {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Err(ShimError::Start(format!(
            "the daemon did not answer within {} s; see {}",
            START_TIMEOUT.as_secs(),
            log_path().display()
        )))
    }
    .await;
    let _ = fs4::FileExt::unlock(&lock);
    result
}

fn advertised(port: u16) -> bool {
    DaemonInfo::read(&DaemonInfo::default_path()).is_some_and(|info| info.port == port)
}

fn log_path() -> PathBuf {
    paths::data_dir().join(LOG_FILE)
}

fn spawn_serve(port: u16, bridge_exe: &Path) -> Result<(), ShimError> {
    let log = log_path();
    let log_file = open_log(&log)?;
    let stderr = log_file
        .try_clone()
        .map_err(|e| ShimError::Start(format!("cannot share {}: {e}", log.display())))?;
    let mut command = std::process::Command::new(bridge_exe);
    command
        .arg("serve")
        .arg("--port")
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(stderr);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Its own process group: the agent stopping this shim (and its
        // group) must not stop the daemon other agents use.
        command.process_group(0);
    }
    let child = command.spawn().map_err(|e| {
        ShimError::Start(format!("cannot run `{} serve`: {e}", bridge_exe.display()))
    })?;
    tracing::info!(
        pid = child.id(),
        "started the daemon; log: {}",
        log.display()
    );
    Ok(())
}

fn open_log(path: &Path) -> Result<File, ShimError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| ShimError::Start(format!("cannot create {}: {e}", dir.display())))?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| ShimError::Start(format!("cannot open {}: {e}", path.display())))
}

/// SIGINT or, on Unix, SIGTERM: the agent asking the shim to stop.
pub(crate) async fn stop_signal() {
    #[cfg(unix)]
    let result = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    .await;
    #[cfg(not(unix))]
    let result = tokio::signal::ctrl_c().await;
    if let Err(e) = result {
        tracing::warn!("cannot listen for stop signals: {e}");
        std::future::pending::<()>().await;
    }
}
