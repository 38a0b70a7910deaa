//! `coder-bridge demo`: a simulated Coder deployment and the daemon, signed
//! in to it, to try everything without a real deployment. The user's real
//! sign-in is never touched: the daemon uses the simulator's session token.

use std::{process::ExitCode, sync::Arc};

use anyhow::Context;
use bridge::{
    auth::{StaticToken, UpstreamSession},
    client_tokens::ClientTokens,
    secret::Secret,
};
use coder_sim::{Sim, SimConfig};

/// The agents `coder-bridge configure` knows; each gets a client token.
const AGENTS: &[&str] = &[
    "claude-desktop",
    "cursor",
    "vscode",
    "windsurf",
    "claude-code",
    "zed",
];

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Port of the local MCP endpoint on 127.0.0.1
    #[arg(long, env = bridge::env::PORT, default_value_t = bridge::paths::DEFAULT_PORT)]
    pub port: u16,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let sim = Sim::start(SimConfig::default())
        .await
        .context("cannot start the simulated Coder deployment")?;
    let credentials = Arc::new(StaticToken(UpstreamSession {
        access_url: sim.url(),
        access_token: Secret::new(sim.session_token()),
        expires_at: None,
    }));

    let tokens = ClientTokens::open_default().context("cannot open the client tokens")?;
    for agent in AGENTS {
        if tokens.get(agent).is_none() {
            tokens
                .issue(agent)
                .with_context(|| format!("cannot issue a client token for {agent}"))?;
        }
    }
    let token_file = tokens.path().to_path_buf();
    let sim_url = sim.url();

    let code = super::serve::run_daemon(args.port, credentials, |daemon| {
        let addr = daemon.local_addr();
        println!("CODER_SIM_URL={sim_url}");
        println!("CODER_BRIDGE_UI=http://{addr}/");
        eprintln!(
            "\nCoder Bridge demo: the daemon is signed in to a simulated Coder at {sim_url}\n\
             \n  MCP endpoint  http://{addr}/mcp\n  UI            http://{addr}/\n\
             \nPoint an agent at it:\n  coder-bridge configure cursor      (or claude-desktop, vscode, windsurf, claude-code, zed)\n\
             or send `Authorization: Bearer <token>` with a client token from {}\n\
             \nCtrl-C stops the demo.",
            token_file.display()
        );
    })
    .await;
    sim.shutdown().await;
    code
}
