//! `coder-bridge status [--json]`: who is signed in where, until when, where
//! the secrets are, and whether the daemon runs. Exit 0 signed in, 1 not.

use std::process::ExitCode;
use std::time::Duration;

use bridge::auth::{AuthManager, AuthStatus, SessionKind};
use bridge::server::loopback::{self, Probe};
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct Daemon {
    port: u16,
    running: bool,
    /// What `/healthz` answered, when it was JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    health: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct Report {
    #[serde(flatten)]
    auth: AuthStatus,
    daemon: Daemon,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let manager = AuthManager::load_default();
    let auth = manager.status().await;
    let daemon = probe_daemon(daemon_port()).await;
    let signed_in = auth.signed_in;
    let report = Report { auth, daemon };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report);
    }
    Ok(if signed_in {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(bridge::error_code::ErrorCode::SignedOut.exit_status())
    })
}

fn daemon_port() -> u16 {
    bridge::settings::port(None)
}

async fn probe_daemon(port: u16) -> Daemon {
    let mut daemon = Daemon {
        port,
        running: false,
        health: None,
        error: None,
    };
    // Its socket or proven TCP, no proxy: as every client of the daemon.
    match loopback::locate(port, Some(Duration::from_millis(800))).await {
        Ok(found) => match found.probe {
            Probe::Running(health) => {
                daemon.running = true;
                daemon.health = Some(health);
            }
            Probe::NotRunning => {}
            Probe::Unproven(failed) => daemon.error = Some(failed.to_string()),
        },
        Err(e) => daemon.error = Some(e.to_string()),
    }
    daemon
}

fn print_text(report: &Report) {
    let auth = &report.auth;
    match (&auth.deployment, auth.signed_in) {
        (None, _) => match &auth.last_deployment {
            Some(d) => println!(
                "Signed out of {d}. Run `coder-bridge login {d}`; an agent that needs Coder also opens the sign-in page."
            ),
            None => println!("Signed out. Run `coder-bridge login <deployment-url>`."),
        },
        (Some(d), true) => println!("Signed in to {d}"),
        (Some(d), false) => {
            println!("Session for {d} has ended. Run `coder-bridge login {d}` to sign in again.")
        }
    }
    if let Some(user) = &auth.user {
        let email = if user.email.is_empty() {
            String::new()
        } else {
            format!(" <{}>", user.email)
        };
        println!("  user:        {}{email}", user.username);
    }
    match auth.kind {
        Some(SessionKind::Oauth) => println!("  sign-in:     OAuth2 (renewed automatically)"),
        Some(SessionKind::SessionToken) => println!("  sign-in:     session token (not renewable)"),
        None => {}
    }
    if let Some(expires) = auth.expires_at {
        let formatted = expires
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| expires.to_string());
        println!("  token until: {formatted}");
    }
    if let Some(store) = &auth.secret_store_description {
        println!("  secrets:     {store}");
    }
    if let Some(err) = &auth.error {
        println!("  problem:     {err}");
    }
    let d = &report.daemon;
    if d.running {
        println!("  daemon:      running on 127.0.0.1:{}", d.port);
        if let Some(relay) = d.health.as_ref().and_then(|h| h.get("relay")) {
            println!("  relay:       {relay}");
        }
    } else {
        let why = d
            .error
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        println!("  daemon:      not running on 127.0.0.1:{}{why}", d.port);
    }
}
