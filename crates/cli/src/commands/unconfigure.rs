//! `coder-bridge unconfigure <agent>`: remove only our entry from the agent's
//! config and revoke its client token.

use std::process::ExitCode;

use anyhow::Context as _;
use bridge::clients::{self, EntryState};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The agent, as `coder-bridge agents` names it (cursor, claude-code, codex, goose, …)
    pub agent: String,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    tokio::task::spawn_blocking(move || run_blocking(&args))
        .await
        .context("the unconfigure task failed")?
}

fn run_blocking(args: &Args) -> anyhow::Result<ExitCode> {
    let agent = clients::agent(&args.agent)?;
    // The port only shapes the entry we would write; removal ignores it.
    let ctx = super::configure::context(bridge::settings::port(None))?;
    let name = agent.display_name;
    let removed = match clients::remove(agent.id, &ctx) {
        Ok(removed) => removed,
        Err(err) => {
            // `remove` revokes the token even when the file cannot be edited,
            // and edits the file even when the token store cannot be written:
            // say which half happened.
            eprintln!("coder-bridge: {err}");
            if ctx.tokens.get(agent.id).is_none() {
                eprintln!(
                    "{name}: its client token is revoked, so an entry left in the file no longer works"
                );
            } else if clients::status(agent.id, &ctx).is_ok_and(|s| s.entry != EntryState::Ours) {
                eprintln!(
                    "{name}: the entry is gone from its config, but its client token is still valid; run `coder-bridge unconfigure {}` again once that is fixed",
                    agent.id
                );
            }
            if let Some(hint) = crate::hint::for_error(&anyhow::Error::new(err)) {
                eprintln!("{hint}");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let path = removed.path.display();
    if removed.removed {
        println!("{name}: removed the coder entry from {path}");
    } else {
        println!("{name}: no coder-bridge entry in {path}");
    }
    if let Ok(status) = clients::status(agent.id, &ctx)
        && status.entry == EntryState::Foreign
    {
        println!(
            "  an entry named \"{}\" written by another tool was left in place",
            clients::ENTRY_NAME
        );
    }
    if removed.revoked {
        println!("{name}: revoked its client token");
    }
    Ok(ExitCode::SUCCESS)
}
