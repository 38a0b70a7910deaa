//! `coder-sim`: run the simulated Coder deployment on its own.
//!
//! Prints one `KEY=value` line per fact a client needs, so scripts can
//! `eval` or grep them, then serves until interrupted.

use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use coder_sim::{AppSpec, Era, RedirectMode, Sim, SimConfig, parse_duration};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum EraArg {
    Stateless,
    Sessions,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RedirectArg {
    Legacy,
    LoopbackAnyPort,
}

/// A simulated Coder deployment: OAuth2 provider and remote MCP endpoint.
#[derive(Debug, Parser)]
#[command(name = "coder-sim", version)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Which Coder MCP endpoint to imitate.
    #[arg(long, value_enum, default_value = "stateless")]
    era: EraArg,
    /// Enable dynamic client registration.
    #[arg(long)]
    dcr: bool,
    /// Skip the consent page.
    #[arg(long)]
    auto_approve: bool,
    /// Start with the OAuth2 provider (and MCP endpoint) disabled.
    #[arg(long)]
    provider_disabled: bool,
    /// Redirect URI matching rule.
    #[arg(long, value_enum, default_value = "loopback-any-port")]
    redirect_mode: RedirectArg,
    /// OAuth2 access token lifetime, e.g. 5s, 10m, 24h.
    #[arg(long, value_parser = parse_duration, default_value = "24h")]
    access_token_lifetime: Duration,
    /// Omit MCP tool annotations, as older Coder releases did.
    #[arg(long)]
    no_annotations: bool,
    /// No public clients, as before 2026: every registration gets a secret.
    #[arg(long)]
    no_public_clients: bool,
    /// RFC 9207: advertise and send `iss` on authorization responses (Coder
    /// does not).
    #[arg(long)]
    iss_parameter: bool,
    /// Accept client metadata documents hosted by the simulator as
    /// client IDs (SEP-991; not a Coder feature).
    #[arg(long)]
    client_metadata_documents: bool,
    /// Also serve the simulator's probe tools (`sim_probe_*`, not Coder's)
    /// and `POST /sim/probe/redefine {"tool", "description"}`.
    #[arg(long)]
    probe_tools: bool,
    /// Callback URL registered for the demo app (loopback apps match any port).
    #[arg(long, default_value = "http://127.0.0.1/callback")]
    demo_redirect_uri: String,
}

/// Log filter variable; also documented as `bridge::env::SIM_LOG`.
const LOG_ENV: &str = "CODER_SIM_LOG";

const DEMO_CLIENT_ID: &str = "6f1c1f3e-5d7a-4c39-9a51-0c0de0000001";
const DEMO_CLIENT_SECRET: &str = "coder_demo0app01_CoderSimDemoAppSecret0000000000000000001";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env(LOG_ENV)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let config = SimConfig {
        era: match args.era {
            EraArg::Stateless => Era::Stateless,
            EraArg::Sessions => Era::Sessions,
        },
        dcr_enabled: args.dcr,
        provider_enabled: !args.provider_disabled,
        redirect_mode: match args.redirect_mode {
            RedirectArg::Legacy => RedirectMode::Legacy,
            RedirectArg::LoopbackAnyPort => RedirectMode::LoopbackAnyPort,
        },
        auto_approve: args.auto_approve,
        access_token_lifetime: args.access_token_lifetime,
        annotations: !args.no_annotations,
        public_clients: !args.no_public_clients,
        iss_parameter: args.iss_parameter,
        client_metadata_documents: args.client_metadata_documents,
        probe_tools: args.probe_tools,
        ..SimConfig::default()
    }
    .with_app(AppSpec {
        name: "Coder Bridge (demo)".into(),
        client_id: DEMO_CLIENT_ID.into(),
        client_secret: Some(DEMO_CLIENT_SECRET.into()),
        redirect_uris: vec![args.demo_redirect_uri.clone()],
    });
    let sim = Sim::start_on(args.port, config).await?;
    println!("CODER_SIM_URL={}", sim.url());
    println!("CODER_SIM_MCP_URL={}", sim.mcp_url());
    println!("CODER_SIM_SESSION_TOKEN={}", sim.session_token());
    println!("CODER_SIM_CLIENT_ID={DEMO_CLIENT_ID}");
    println!("CODER_SIM_CLIENT_SECRET={DEMO_CLIENT_SECRET}");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    sim.shutdown().await;
    Ok(())
}
