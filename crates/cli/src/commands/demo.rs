//! `coder-bridge demo`: a simulated Coder deployment and the daemon, signed
//! in to it, to try everything without a real deployment. The user's real
//! sign-in is never touched: the demo session lives in memory only.

use std::{process::ExitCode, sync::Arc};

use anyhow::Context;
use bridge::{client_tokens::ClientTokens, demo::SimLauncher};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Port of the local MCP endpoint on 127.0.0.1 (default: `coder-bridge
    /// config get port`, else CODER_BRIDGE_PORT, else 7331)
    #[arg(long)]
    pub port: Option<u16>,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let launcher = Arc::new(SimLauncher::default());
    let session = launcher
        .session()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let sim_url = session.token.0.access_url.clone();

    let tokens = ClientTokens::open_default().context("cannot open the client tokens")?;
    // Every agent `coder-bridge configure` knows gets a client token.
    for agent in bridge::clients::agents().iter().map(|a| a.id) {
        if tokens.get(agent).is_none() {
            tokens
                .issue(agent)
                .with_context(|| format!("cannot issue a client token for {agent}"))?;
        }
    }
    let token_file = tokens.path().to_path_buf();

    let port = bridge::settings::port(args.port);
    let code = super::serve::run_bridge(port, Some(session), launcher.clone(), |bridge| {
        println!("CODER_SIM_URL={sim_url}");
        println!("CODER_BRIDGE_UI={}", bridge.ui_url());
        eprintln!(
            "\nCoder Bridge demo: signed in to a simulated Coder at {sim_url}\n\
             \n  MCP endpoint  {}\n  UI            {}\n\
             \nPoint an agent at it:\n  coder-bridge configure cursor      (or claude-desktop, vscode, windsurf, claude-code, zed)\n\
             or send `Authorization: Bearer <token>` with a client token from {}\n\
             \nCtrl-C stops the demo.",
            bridge.mcp_url(),
            super::serve::dashboard_link(bridge).unwrap_or_else(|| format!(
                "{} (run `coder-bridge open` to sign in to it)",
                bridge.ui_url()
            )),
            token_file.display()
        );
    })
    .await;
    launcher.shutdown().await;
    code
}
