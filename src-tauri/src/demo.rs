//! "Try the demo" in the dashboard: the simulated Coder deployment, started
//! in-process on first use, its session kept in memory by the core (the
//! user's stored sign-in is untouched). The same as `coder-bridge demo`.

use bridge::auth::User;
use bridge::supervisor::{CredentialsOverride, DemoDeployment, DemoLauncher};
use coder_sim::{Sim, SimConfig};
use tokio::sync::Mutex;

#[derive(Debug, Default)]
pub struct SimLauncher {
    sim: Mutex<Option<Sim>>,
}

impl SimLauncher {
    /// Stops the simulator if it was started.
    pub async fn shutdown(&self) {
        if let Some(sim) = self.sim.lock().await.take() {
            sim.shutdown().await;
        }
    }
}

fn session(sim: &Sim) -> CredentialsOverride {
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

#[async_trait::async_trait]
impl DemoLauncher for SimLauncher {
    async fn launch(&self) -> Result<DemoDeployment, String> {
        let mut slot = self.sim.lock().await;
        if let Some(sim) = slot.as_ref() {
            return Ok(session(sim));
        }
        let sim = Sim::start(SimConfig::default())
            .await
            .map_err(|e| format!("cannot start the simulated Coder deployment: {e:#}"))?;
        tracing::info!(url = %sim.url(), "demo deployment started");
        let demo = session(&sim);
        *slot = Some(sim);
        Ok(demo)
    }
}
