//! Finding the daemon for the stdio shim, and starting exactly one when
//! none answers, however many shims start at the same instant.
//!
//! The daemon is reached through [`loopback`]: its Unix socket where the
//! user has a runtime folder, else 127.0.0.1 with every connection proven to
//! be the user's daemon before the agent's token is sent on it.

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use super::ShimError;
use crate::{
    paths, private_files,
    server::{
        DaemonInfo,
        loopback::{self, Located, Probe},
    },
};

/// How long a freshly started daemon may take to answer `/healthz`.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a healthy daemon may take to write `daemon.json`.
const ADVERTISE_WAIT: Duration = Duration::from_secs(2);
/// Lock file (in the config directory) held while a shim starts the daemon.
const LOCK_FILE: &str = "daemon.lock";
/// The daemon's log when a shim started it (in the data directory).
const LOG_FILE: &str = "daemon.log";

/// The user's daemon on `port` and a client that reached it; started first
/// when nothing answers, unless `no_start`. Something else on the port that
/// cannot prove it is the daemon is an error: the agent's token is not sent.
pub(crate) async fn find_or_start(
    port: u16,
    no_start: bool,
    bridge_exe: &Path,
) -> Result<Located, ShimError> {
    let found = locate(port).await?;
    match found.probe {
        Probe::Running(_) => Ok(found),
        Probe::Unproven(failed) => Err(ShimError::Unproven(failed.to_string())),
        Probe::NotRunning if no_start => Err(ShimError::NotRunning { port }),
        Probe::NotRunning => start_daemon(port, bridge_exe).await,
    }
}

async fn locate(port: u16) -> Result<Located, ShimError> {
    loopback::locate(port, None)
        .await
        .map_err(|e| ShimError::Start(format!("cannot build an HTTP client: {e}")))
}

/// Starts `<bridge_exe> serve --port <port>` detached, unless another shim
/// does it first, and waits until it answers.
///
/// Every shim that finds no daemon queues on an exclusive lock; the first
/// one starts the daemon and holds the lock until it is healthy, so the
/// others find it running when their turn comes.
async fn start_daemon(port: u16, bridge_exe: &Path) -> Result<Located, ShimError> {
    let config = paths::config_dir();
    let io = |what: String| move |e: std::io::Error| ShimError::Start(format!("{what}: {e}"));
    private_files::ensure_dir(&config)
        .map_err(io(format!("cannot create {}", config.display())))?;
    let lock_path = config.join(LOCK_FILE);
    // A blocking lock off the runtime's thread: the shims queue here.
    let waited = lock_path.clone();
    let lock = tokio::task::spawn_blocking(move || private_files::FileLock::acquire(&waited))
        .await
        .map_err(|e| ShimError::Start(format!("the lock task failed: {e}")))?
        .map_err(io(format!("cannot lock {}", lock_path.display())))?;

    let result = async {
        let found = locate(port).await?;
        match found.probe {
            Probe::Running(_) => return Ok(found),
            Probe::Unproven(failed) => return Err(ShimError::Unproven(failed.to_string())),
            Probe::NotRunning => {}
        }
        spawn_serve(port, bridge_exe)?;
        let deadline = Instant::now() + START_TIMEOUT;
        let mut healthy_since = None;
        while Instant::now() < deadline {
            // Healthy first; then advertised in `daemon.json` (written an
            // instant after it starts listening), which the next agents and
            // `coder-bridge status` go by. A daemon that cannot write the
            // file still serves: do not wait for it long.
            let found = locate(port).await?;
            match found.probe {
                Probe::Running(_) => {
                    let since = *healthy_since.get_or_insert_with(Instant::now);
                    if advertised(port) || since.elapsed() > ADVERTISE_WAIT {
                        return Ok(found);
                    }
                }
                // The daemon writes its key before it serves, so this is
                // not it starting: something else holds the port.
                Probe::Unproven(failed) => return Err(ShimError::Unproven(failed.to_string())),
                Probe::NotRunning => {}
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
    drop(lock);
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

/// The log is a file of ours: 0600 in a 0700 folder, whatever was there.
fn open_log(path: &Path) -> Result<File, ShimError> {
    private_files::open_log(path)
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
