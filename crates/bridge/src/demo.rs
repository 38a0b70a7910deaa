//! "Try the demo": a simulated Coder deployment, started in-process on
//! first use, and its session, which the supervisor keeps in memory (the
//! user's stored sign-in is untouched). `coder-bridge demo`, the dashboard's
//! "try the demo" and the tray all use this one.
//!
//! Behind the `demo` feature (on by default), since it links the simulator.

use coder_sim::{Sim, SimConfig};
use tokio::sync::Mutex;

use crate::auth::User;
use crate::supervisor::{CredentialsOverride, DemoDeployment, DemoError, DemoLauncher};

/// The session a simulator hands out: its access URL, its session token and
/// its demo user.
pub fn session(sim: &Sim) -> CredentialsOverride {
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

/// Starts the simulated deployment on first use and hands out its session.
#[derive(Debug, Default)]
pub struct SimLauncher {
    sim: Mutex<Option<Sim>>,
}

impl SimLauncher {
    /// The demo session, starting the simulator if it is not running yet.
    pub async fn session(&self) -> Result<CredentialsOverride, DemoError> {
        let mut slot = self.sim.lock().await;
        if let Some(sim) = slot.as_ref() {
            return Ok(session(sim));
        }
        let sim = Sim::start(SimConfig::default()).await.map_err(|e| {
            DemoError::from(format!(
                "cannot start the simulated Coder deployment: {e:#}"
            ))
        })?;
        tracing::info!(url = %sim.url(), "demo deployment started");
        let demo = session(&sim);
        *slot = Some(sim);
        Ok(demo)
    }

    /// Stops the simulator if it was started.
    pub async fn shutdown(&self) {
        if let Some(sim) = self.sim.lock().await.take() {
            sim.shutdown().await;
        }
    }
}

#[async_trait::async_trait]
impl DemoLauncher for SimLauncher {
    async fn launch(&self) -> Result<DemoDeployment, DemoError> {
        self.session().await
    }
}
