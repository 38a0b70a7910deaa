//! `coder-bridge logout`: revoke at the server, delete local secrets.
//! Idempotent: signed out already is success too.

use std::process::ExitCode;

use anyhow::Context;
use bridge::auth::AuthManager;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    let manager = AuthManager::load_default();
    let report = manager
        .logout()
        .await
        .context("cannot delete the stored session")?;
    match &report.deployment {
        None => println!("Not signed in; nothing to do."),
        Some(deployment) => {
            if report.revoked {
                println!("Revoked the session at {deployment}.");
            } else if let Some(note) = &report.revoke_note {
                println!("Did not revoke at {deployment}: {note}.");
            }
            println!("Deleted the local tokens. Signed out.");
            println!(
                "An agent that needs Coder opens the sign-in page for {deployment} (at most once every {} minutes); `coder-bridge login {deployment}` signs in now.",
                bridge::auth::AUTO_SIGN_IN_COOLDOWN.as_secs() / 60
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
