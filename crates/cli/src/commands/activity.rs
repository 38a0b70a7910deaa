//! `coder-bridge activity`: recent calls, and with `--follow` new ones as they finish.
//!
//! With the daemon running this uses its control API (and its live event
//! stream for `--follow`). Without it, the activity database is read directly.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};
use bridge::activity::{ActivityStore, RecentQuery};
use bridge::events::Outcome;
use bridge::supervisor::ActivityView;

use crate::control::Control;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Keep printing calls as they finish (needs the daemon)
    #[arg(long, short)]
    follow: bool,
    /// One JSON object per line
    #[arg(long)]
    json: bool,
    /// How many recent calls to show first
    #[arg(long, short = 'n', default_value_t = 50)]
    limit: usize,
    /// Only this agent's calls
    #[arg(long)]
    agent: Option<String>,
    /// Only calls of this tool
    #[arg(long)]
    tool: Option<String>,
    /// Only calls with this outcome: ok, tool_error, failed, denied, timed_out
    #[arg(long, value_parser = parse_outcome)]
    outcome: Option<Outcome>,
}

fn parse_outcome(s: &str) -> Result<Outcome, String> {
    serde_json::from_value(serde_json::Value::String(s.trim().replace('-', "_")))
        .map_err(|_| format!("unknown outcome {s:?}: ok, tool_error, failed, denied or timed_out"))
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let control = Control::find().await?;
    if args.follow && control.is_none() {
        bail!(
            "`--follow` needs Coder Bridge running on port {}: start it with `coder-bridge serve`",
            Control::port()
        );
    }
    // Subscribe before reading the backlog so no call falls between the two.
    let mut events = match (&control, args.follow) {
        (Some(control), true) => Some(control.events().await?),
        _ => None,
    };
    let mut rows = match &control {
        Some(control) => control.get::<Vec<ActivityView>>(&query_path(&args)).await?,
        None => read_database(&args).await?,
    };
    rows.reverse(); // oldest first, like a log
    if rows.is_empty() && !args.json && !args.follow {
        println!("No calls recorded yet.");
    }
    for row in &rows {
        if !print_row(row, args.json)? {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let Some(events) = events.as_mut() else {
        return Ok(ExitCode::SUCCESS);
    };
    while let Some(event) = events.next().await? {
        match event.name.as_str() {
            "call" => {
                let row: ActivityView =
                    serde_json::from_str(&event.data).context("unexpected call event")?;
                if matches(&row, &args) && !print_row(&row, args.json)? {
                    return Ok(ExitCode::SUCCESS);
                }
            }
            "resync" if !args.json => {
                eprintln!("(fell behind the daemon; some calls were not shown)")
            }
            _ => {}
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn query_path(args: &Args) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("limit", &args.limit.to_string());
    if let Some(agent) = &args.agent {
        q.append_pair("agent", agent);
    }
    if let Some(tool) = &args.tool {
        q.append_pair("tool", tool);
    }
    if let Some(outcome) = &args.outcome {
        q.append_pair("outcome", &outcome_name(*outcome));
    }
    format!("/api/activity?{}", q.finish())
}

async fn read_database(args: &Args) -> anyhow::Result<Vec<ActivityView>> {
    let path = bridge::paths::data_dir().join(bridge::activity::FILE_NAME);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let store = ActivityStore::open_read_only(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let rows = store
        .recent(RecentQuery {
            limit: args.limit,
            agent: args.agent.clone(),
            tool: args.tool.clone(),
            outcome: args.outcome,
            before: None,
        })
        .await?;
    store.shutdown().await;
    Ok(rows.into_iter().map(ActivityView::from).collect())
}

fn matches(row: &ActivityView, args: &Args) -> bool {
    args.agent.as_ref().is_none_or(|a| *a == row.agent)
        && args
            .tool
            .as_ref()
            .is_none_or(|t| Some(t) == row.tool.as_ref())
        && args.outcome.is_none_or(|o| o == row.outcome)
}

fn outcome_name(outcome: Outcome) -> String {
    match serde_json::to_value(outcome) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{outcome:?}"),
    }
}

/// Prints one row; `false` when stdout is gone (`activity --follow | head`),
/// which ends the command quietly instead of panicking in `println!`.
fn print_row(row: &ActivityView, json: bool) -> anyhow::Result<bool> {
    let line = if json {
        serde_json::to_string(row)?
    } else {
        format_row(row)
    };
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}").and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e).context("cannot write to stdout"),
    }
}

fn format_row(row: &ActivityView) -> String {
    let when = bridge::epoch::rfc3339_seconds(row.at);
    let what = row.tool.as_deref().unwrap_or(&row.method);
    let consent = row
        .consent
        .and_then(|c| serde_json::to_value(c).ok())
        .and_then(|v| v.as_str().map(|c| format!("  [{c}]")))
        .unwrap_or_default();
    let error = row
        .error
        .as_deref()
        .map(|e| format!("  {e}"))
        .unwrap_or_default();
    let digest = row
        .args_digest
        .as_deref()
        .map(|d| format!("  sha256:{}", &d[..d.len().min(SHORT_DIGEST)]))
        .unwrap_or_default();
    let by = row
        .answered_by
        .as_ref()
        .map(|by| format!("  by {}", by.describe()))
        .unwrap_or_default();
    let what = if row.method.starts_with("policy/") {
        format!(
            "{what} ({})",
            row.arguments_summary.as_deref().unwrap_or("policy")
        )
    } else {
        what.to_owned()
    };
    format!(
        "{when}  {:14}  {what:32}  {:10}  {:>7.0} ms{consent}{digest}{by}{error}",
        row.agent,
        outcome_name(row.outcome),
        row.latency_ms,
    )
}

/// Hex characters of the arguments' digest shown per row (as in the dashboard).
const SHORT_DIGEST: usize = bridge::consent::digest::SHORT_CHARS;
