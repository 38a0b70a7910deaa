//! `coder-bridge serve`: the daemon. Runs until SIGINT/SIGTERM.

use std::{process::ExitCode, sync::Arc};

use anyhow::Context;
use bridge::{
    activity::ActivityStore,
    auth::{AuthManager, Credentials},
    client_tokens::ClientTokens,
    consent::{ConsentQueue, PolicyGate},
    events,
    policy::Policy,
    server::{Daemon, DaemonHandle, DaemonInfo},
};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Port of the local MCP endpoint on 127.0.0.1 (agent configs point at it)
    #[arg(long, env = bridge::env::PORT, default_value_t = bridge::paths::DEFAULT_PORT)]
    pub port: u16,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let credentials: Arc<dyn Credentials> = Arc::new(AuthManager::load_default());
    run_daemon(args.port, credentials, |daemon| {
        eprintln!(
            "coder-bridge: serving agents on {} (Ctrl-C to stop)",
            daemon.mcp_url()
        );
    })
    .await
}

/// Starts every room around the daemon and runs until a stop signal.
/// Shared with `demo`, which passes its own credentials; `banner` tells the
/// user what is running once it is.
pub(crate) async fn run_daemon(
    port: u16,
    credentials: Arc<dyn Credentials>,
    banner: impl FnOnce(&DaemonHandle),
) -> anyhow::Result<ExitCode> {
    let tokens = ClientTokens::open_default().context("cannot open the client tokens")?;
    let policy = Policy::open_default().context("cannot open the tool policy")?;
    let queue = ConsentQueue::new(policy.clone(), ConsentQueue::timeout_from_env());
    let gate = PolicyGate::new(policy, queue);
    let activity = ActivityStore::open_default().context("cannot open the activity database")?;
    let events = events::channel();
    let writer = activity.subscribe_to(&events);

    let daemon = Daemon::builder()
        .credentials(credentials)
        .gate(Arc::new(gate))
        .tokens(tokens)
        .events(events)
        .port(port)
        .start()
        .await?;
    let info_path = DaemonInfo::default_path();
    if let Err(e) = DaemonInfo::new(daemon.local_addr().port()).write(&info_path) {
        tracing::warn!(
            "cannot write {}: {e}; `coder-bridge stdio` will not find this daemon",
            info_path.display()
        );
    }

    // Scripts read this line; keep its shape.
    println!("CODER_BRIDGE_URL={}", daemon.mcp_url());
    banner(&daemon);

    tokio::select! {
        signal = stop_signal() => signal.context("cannot listen for stop signals")?,
        _ = daemon.cancelled() => {}
    }
    tracing::info!("stopping");
    daemon.shutdown().await;
    activity.shutdown().await;
    writer.abort();
    DaemonInfo::remove_if_ours(&info_path);
    Ok(ExitCode::SUCCESS)
}

/// SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub(crate) async fn stop_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
