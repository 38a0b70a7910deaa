//! The bridge assembled: the supervisor binds the daemon and builds its
//! handle, the web room makes its routes on that handle, and the daemon
//! serves them. No request arrives before the routes exist, and no route
//! waits for a handle.
//!
//! This is the one module that sees both the supervisor and the web room:
//! the web room is a face over [`BridgeHandle`] (like the tray and the CLI),
//! so the supervisor must not import it back.

use crate::supervisor::{Bridge, BridgeError, BridgeHandle, BridgeOptions};

impl Bridge {
    /// Builds every room, starts the daemon (MCP endpoint, control API, UI)
    /// and the tasks that feed the faces.
    pub async fn start(options: BridgeOptions) -> Result<BridgeHandle, BridgeError> {
        let bound = Bridge::bind(options).await?;
        let routes = crate::web::router(bound.handle().clone());
        Ok(bound.serve(routes).await)
    }
}
