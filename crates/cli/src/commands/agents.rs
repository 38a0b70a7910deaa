//! `coder-bridge agents [--json]`: each agent, whether it is installed,
//! configured and up to date, and what drifted.

use std::process::ExitCode;

use anyhow::Context as _;
use bridge::clients::{self, EntryState, Status};
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print a JSON array instead of a table
    #[arg(long)]
    pub json: bool,
    /// Port of the local MCP endpoint the entries point at (default: `coder-bridge
    /// config get port`, else CODER_BRIDGE_PORT, else 7331)
    #[arg(long)]
    pub port: Option<u16>,
}

/// One agent in `--json` output: its status, which names the agent, or the
/// agent and why its status could not be read. Untagged, so both are flat
/// objects with `agent` and `display_name` once.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Row {
    Read(Status),
    Unreadable {
        agent: &'static str,
        display_name: &'static str,
        error: RowError,
    },
}

#[derive(Debug, Serialize)]
struct RowError {
    code: &'static str,
    message: String,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    tokio::task::spawn_blocking(move || run_blocking(&args))
        .await
        .context("the agents task failed")?
}

fn run_blocking(args: &Args) -> anyhow::Result<ExitCode> {
    let ctx = super::configure::context(bridge::settings::port(args.port))?;
    let rows: Vec<Row> = clients::agents()
        .iter()
        .map(|agent| match clients::status(agent.id, &ctx) {
            Ok(status) => Row::Read(status),
            Err(err) => Row::Unreadable {
                agent: agent.id,
                display_name: agent.display_name,
                error: RowError {
                    code: err.code(),
                    message: err.to_string(),
                },
            },
        })
        .collect();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).context("cannot encode the agents")?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    println!(
        "{:<16} {:<10} {:<11} {:<11} CONFIG FILE",
        "AGENT", "INSTALLED", "CONFIGURED", "UP TO DATE"
    );
    for row in &rows {
        match row {
            Row::Read(s) => {
                let configured = match s.entry {
                    EntryState::Foreign => "foreign",
                    _ => yes_no(s.configured),
                };
                let up_to_date = if s.configured {
                    yes_no(s.up_to_date)
                } else {
                    "-"
                };
                println!(
                    "{:<16} {:<10} {:<11} {:<11} {}",
                    s.agent,
                    yes_no(s.installed),
                    configured,
                    up_to_date,
                    s.path.display()
                );
                for drift in &s.drift {
                    println!("{:<16} ! {drift}", "");
                }
                if s.entry == EntryState::Foreign {
                    println!(
                        "{:<16} ! an entry named \"{}\" was written by another tool",
                        "",
                        clients::ENTRY_NAME
                    );
                }
            }
            Row::Unreadable { agent, error, .. } => println!("{agent:<16} ! {}", error.message),
        }
    }
    if rows
        .iter()
        .any(|r| matches!(r, Row::Read(s) if s.configured && !s.up_to_date))
    {
        println!("\nRun `coder-bridge configure <agent>` to repair an out-of-date entry.");
    }
    Ok(ExitCode::SUCCESS)
}
