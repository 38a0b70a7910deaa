//! A bridge signed in to the simulated Coder with a fixed session token (no
//! OAuth), and a real rmcp agent connected to it with its own client token.
//! Shared by the supervisor-level tests.

use std::path::{Path, PathBuf};

use bridge::auth::StoreChoice;
use bridge::supervisor::{BridgeHandle, BridgeOptions, CredentialsOverride};
use coder_sim::Sim;
use rmcp::model::ClientConfig;
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};

/// Options for a bridge on a free port, files under `home`, signed in to `sim`.
pub fn options(home: &Path, sim: &Sim) -> BridgeOptions {
    let mut options = BridgeOptions::new(config_dir(home), home.join("data"));
    options.port = 0;
    options.secret_store = StoreChoice::File;
    options.credentials = Some(CredentialsOverride::session_token(
        sim.url(),
        sim.session_token(),
        None,
    ));
    options
}

pub fn config_dir(home: &Path) -> PathBuf {
    home.join("config")
}

/// An agent ("cursor") connected to `bridge` over streamable HTTP.
pub async fn agent(bridge: &BridgeHandle, home: &Path) -> RunningService<RoleClient, ClientConfig> {
    let tokens = bridge::client_tokens::ClientTokens::open(
        config_dir(home).join(bridge::client_tokens::FILE_NAME),
    )
    .expect("client tokens");
    let token = tokens.issue("cursor").expect("issue");
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(bridge.mcp_url())
            .auth_header(token.expose().to_owned()),
    );
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        ClientConfig::default().serve(transport),
    )
    .await
    .expect("agent connects in time")
    .expect("agent connects")
}
