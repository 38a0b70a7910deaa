//! `coder-bridge demo`: a simulated Coder deployment and the daemon, signed
//! in to it, to try everything without a real deployment. The user's real
//! sign-in is never touched: the demo session lives in memory only.

use std::{process::ExitCode, sync::Arc};

use anyhow::Context;
use bridge::{
    auth::User,
    client_tokens::ClientTokens,
    supervisor::{CredentialsOverride, DemoDeployment, DemoLauncher},
};
use coder_sim::{Sim, SimConfig};
use tokio::sync::Mutex;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Port of the local MCP endpoint on 127.0.0.1
    #[arg(long, env = bridge::env::PORT, default_value_t = bridge::paths::DEFAULT_PORT)]
    pub port: u16,
}

/// Starts the simulated deployment on first use and hands out its session
/// ("try the demo" in the UI, and `coder-bridge demo`).
#[derive(Debug, Default)]
pub(crate) struct SimLauncher {
    sim: Mutex<Option<Sim>>,
}

fn demo_session(sim: &Sim) -> CredentialsOverride {
    let user = sim.demo_user();
    CredentialsOverride::session_token(
        sim.url(),
        sim.session_token(),
        Some(User {
            id: user.id.to_string(),
            username: user.username.clone(),
            email: user.email.clone(),
            name: user.name.clone(),
        }),
    )
}

impl SimLauncher {
    pub(crate) async fn session(&self) -> anyhow::Result<CredentialsOverride> {
        let mut slot = self.sim.lock().await;
        if let Some(sim) = slot.as_ref() {
            return Ok(demo_session(sim));
        }
        let sim = Sim::start(SimConfig::default())
            .await
            .context("cannot start the simulated Coder deployment")?;
        let session = demo_session(&sim);
        *slot = Some(sim);
        Ok(session)
    }

    pub(crate) async fn shutdown(&self) {
        if let Some(sim) = self.sim.lock().await.take() {
            sim.shutdown().await;
        }
    }
}

#[async_trait::async_trait]
impl DemoLauncher for SimLauncher {
    async fn launch(&self) -> Result<DemoDeployment, String> {
        self.session().await.map_err(|e| format!("{e:#}"))
    }
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let launcher = Arc::new(SimLauncher::default());
    let session = launcher.session().await?;
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

    let code = super::serve::run_bridge(args.port, Some(session), launcher.clone(), |bridge| {
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
