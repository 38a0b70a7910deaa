//! `coder-bridge serve`: the daemon. Runs until SIGINT/SIGTERM.

use std::{io::IsTerminal, process::ExitCode, sync::Arc};

use anyhow::Context;
use bridge::demo::SimLauncher;
use bridge::supervisor::{Bridge, BridgeHandle, BridgeOptions, CredentialsOverride};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Port of the local MCP endpoint on 127.0.0.1 (agent configs point at it;
    /// default: `coder-bridge config get port`, else CODER_BRIDGE_PORT, else 7331)
    #[arg(long)]
    pub port: Option<u16>,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let port = bridge::settings::port(args.port);
    warn_if_entries_point_elsewhere(port);
    // "Try the demo" in the UI starts the simulator only when asked.
    let launcher = Arc::new(SimLauncher::default());
    let code = run_bridge(port, None, launcher.clone(), |bridge| {
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

/// Agents are configured for the port `configure` resolves without a flag;
/// a daemon on another port leaves them talking to nobody, so say so.
fn warn_if_entries_point_elsewhere(port: u16) {
    let configured = bridge::settings::port(None);
    if port != configured {
        eprintln!(
            "coder-bridge: warning: serving on port {port}, but agent entries point at port {configured}; \
             run `coder-bridge config set port {port}` and `coder-bridge configure --all` to move them, \
             or serve without --port"
        );
    }
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
