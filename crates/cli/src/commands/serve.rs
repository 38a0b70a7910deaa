//! `coder-bridge serve`: the daemon. Runs until SIGINT/SIGTERM.

use std::{io::IsTerminal, process::ExitCode, sync::Arc};

use anyhow::Context;
use bridge::supervisor::{Bridge, BridgeHandle, BridgeOptions, CredentialsOverride};

use super::demo::SimLauncher;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Port of the local MCP endpoint on 127.0.0.1 (agent configs point at it)
    #[arg(long, env = bridge::env::PORT, default_value_t = bridge::paths::DEFAULT_PORT)]
    pub port: u16,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    // "Try the demo" in the UI starts the simulator only when asked.
    let launcher = Arc::new(SimLauncher::default());
    let code = run_bridge(args.port, None, launcher.clone(), |bridge| {
        eprintln!(
            "coder-bridge: serving agents on {} (Ctrl-C to stop)",
            bridge.mcp_url()
        );
        match dashboard_link(bridge) {
            Some(link) => eprintln!("coder-bridge: open the UI at {link}"),
            None => eprintln!("coder-bridge: open the UI with `coder-bridge open`"),
        }
    })
    .await;
    launcher.shutdown().await;
    code
}

/// The one-time link that signs a browser in to the dashboard, made only
/// for a person at a terminal: when stderr is a file (a shim starting the
/// daemon sends it to `daemon.log`) or a pipe, whoever reads it later could
/// redeem the link. They are told to run `coder-bridge open` instead.
pub(crate) fn dashboard_link(bridge: &BridgeHandle) -> Option<String> {
    std::io::stderr()
        .is_terminal()
        .then(|| bridge.open_ui_url())
}

/// Starts every room (through the supervisor) and runs until a stop signal.
/// Shared with `demo`, which passes the simulator's session; `banner` tells
/// the user what is running once it is.
pub(crate) async fn run_bridge(
    port: u16,
    credentials: Option<CredentialsOverride>,
    launcher: Arc<SimLauncher>,
    banner: impl FnOnce(&BridgeHandle),
) -> anyhow::Result<ExitCode> {
    let mut options = BridgeOptions::from_env();
    options.port = port;
    options.credentials = credentials;
    options.demo_launcher = Some(launcher);
    let bridge = Bridge::start(options).await?;

    // Scripts read this line; keep its shape.
    println!("CODER_BRIDGE_URL={}", bridge.mcp_url());
    banner(&bridge);

    tokio::select! {
        signal = stop_signal() => signal.context("cannot listen for stop signals")?,
        () = bridge.cancelled() => {}
    }
    tracing::info!("stopping");
    bridge.shutdown().await;
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
