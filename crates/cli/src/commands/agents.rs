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

/// One agent in `--json` output: its status, or why it could not be read.
#[derive(Debug, Serialize)]
struct Row {
    agent: &'static str,
    display_name: &'static str,
    #[serde(flatten)]
    status: Option<Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<RowError>,
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
            Ok(status) => Row {
                agent: agent.id,
                display_name: agent.display_name,
                status: Some(status),
                error: None,
            },
            Err(err) => Row {
                agent: agent.id,
                display_name: agent.display_name,
                status: None,
                error: Some(RowError {
                    code: err.code(),
                    message: err.to_string(),
                }),
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
        match (&row.status, &row.error) {
            (Some(s), _) => {
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
                    row.agent,
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
            (None, Some(err)) => println!("{:<16} ! {}", row.agent, err.message),
            (None, None) => {}
        }
    }
    if rows.iter().any(|r| {
        r.status
            .as_ref()
            .is_some_and(|s| s.configured && !s.up_to_date)
    }) {
        println!("\nRun `coder-bridge configure <agent>` to repair an out-of-date entry.");
    }
    Ok(ExitCode::SUCCESS)
}
