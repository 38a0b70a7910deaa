//! `coder-bridge consent`: list the calls waiting for the user, and answer them.
//!
//! Pending requests live in the running daemon, so this talks to its control
//! API. An id may be shortened to any unique prefix, as `git` allows.

use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{Context, bail};
use bridge::consent::highlight::Segment;
use bridge::consent::{ConsentAnswer, ConsentRequest, FaceClaim};
use reqwest::Method;

use crate::control::Control;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the pending requests as JSON
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Allow this one call
    Allow { id: String },
    /// Allow this call and every later call of this tool by this agent
    Always { id: String },
    /// Deny this call; the agent gets a tool error
    Deny { id: String },
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let control = Control::require().await?;
    let pending: Vec<ConsentRequest> = control.get("/api/consent").await?;
    let (id, answer) = match args.action {
        None => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&pending)?);
            } else {
                print_pending(&pending);
            }
            return Ok(ExitCode::SUCCESS);
        }
        Some(Action::Allow { id }) => (id, ConsentAnswer::AllowOnce),
        Some(Action::Always { id }) => (id, ConsentAnswer::AllowAlways),
        Some(Action::Deny { id }) => (id, ConsentAnswer::Deny),
    };
    let request = find(&pending, &id)?;
    // The answer names the arguments it is for (the daemon refuses it if the
    // request's differ) and says which process gave it: the daemon records
    // that, and shows answers from the command line apart in the dashboard.
    let body = serde_json::json!({
        "answer": answer,
        "digest": request.digest,
        "by": FaceClaim::this_cli_process(),
    });
    let _: serde_json::Value = control
        .send(Method::POST, &format!("/api/consent/{}", request.id), &body)
        .await
        .with_context(|| format!("cannot answer {}", request.id))?;
    let what = format!(
        "{} calling {} (arguments sha256:{})",
        request.agent,
        request.tool,
        request.digest.short()
    );
    match answer {
        ConsentAnswer::AllowOnce => println!("Allowed {what}, this once."),
        ConsentAnswer::AllowAlways => println!("Allowed {what}, now and from now on."),
        ConsentAnswer::Deny => println!("Denied {what}."),
    }
    Ok(ExitCode::SUCCESS)
}

/// The pending request `id` names: the full id or a unique prefix of it.
fn find<'a>(pending: &'a [ConsentRequest], id: &str) -> anyhow::Result<&'a ConsentRequest> {
    let id = id.trim().to_ascii_lowercase();
    if id.is_empty() {
        bail!("give the id of a pending request (see `coder-bridge consent`)");
    }
    let matches: Vec<_> = pending
        .iter()
        .filter(|r| r.id.to_string().starts_with(&id))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => bail!(
            "no pending consent request {id} (it may have been answered, timed out or withdrawn)"
        ),
        _ => bail!(
            "{id} matches {} pending requests; give more of the id",
            matches.len()
        ),
    }
}

fn print_pending(pending: &[ConsentRequest]) {
    if pending.is_empty() {
        println!("No calls are waiting for consent.");
        return;
    }
    let now = SystemTime::now();
    for r in pending {
        let left = r.deadline.duration_since(now).map_or(0, |d| d.as_secs());
        println!(
            "{}  {} ({}) wants to call {}  — {left}s left",
            short(r),
            r.agent_name,
            r.agent,
            r.tool
        );
        if let Some(client) = &r.client_name {
            println!("    the client says it is {}", visible(client));
        }
        for warning in &r.warnings {
            println!("    ! {warning}");
        }
        for h in &r.highlights {
            println!("    ⚑ {} {}: {}", h.path, h.note, h.excerpt);
        }
        println!(
            "    arguments ({} bytes, sha256:{}), in full:",
            r.arguments_bytes,
            r.digest.short()
        );
        for field in &r.fields {
            let value = shown(&field.segments);
            let mut lines = value.lines();
            println!("      {}: {}", field.path, lines.next().unwrap_or(""));
            for line in lines {
                println!("        {line}");
            }
        }
    }
    println!();
    println!("Answer with `coder-bridge consent allow|always|deny <id>`.");
}

/// A value as the terminal should show it: invisible characters spelled
/// out, so nothing the agent wrote can move the cursor or hide text.
fn shown(segments: &[Segment]) -> String {
    segments
        .iter()
        .map(|s| s.shown.as_deref().unwrap_or(&s.text))
        .collect()
}

fn visible(text: &str) -> String {
    text.chars()
        .map(|c| {
            if bridge::consent::highlight::is_invisible(c) {
                bridge::consent::highlight::spell(c)
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn short(r: &ConsentRequest) -> String {
    r.id.to_string().chars().take(8).collect()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    fn request(id: &str) -> ConsentRequest {
        ConsentRequest {
            id: id.parse().expect("uuid"),
            agent: "cursor".into(),
            agent_name: "Cursor".into(),
            client_name: None,
            tool: "coder_workspace_bash".into(),
            arguments: "{}".into(),
            digest: bridge::consent::ArgumentsDigest::of(None),
            arguments_bytes: 0,
            fields: vec![],
            highlights: vec![],
            irreversible: false,
            starts_workspace: true,
            warnings: vec![],
            created_at: SystemTime::now(),
            deadline: SystemTime::now() + Duration::from_secs(60),
        }
    }

    #[test]
    fn ids_may_be_shortened_to_a_unique_prefix() {
        let pending = [
            request("0a1b2c3d-0000-4000-8000-000000000001"),
            request("0a1b9999-0000-4000-8000-000000000002"),
        ];
        assert_eq!(find(&pending, "0A1B2").expect("unique").id, pending[0].id);
        assert!(find(&pending, "0a1b").is_err(), "ambiguous");
        assert!(find(&pending, "ffff").is_err(), "unknown");
        assert!(find(&pending, " ").is_err(), "empty");
    }

    #[test]
    fn values_are_printed_whole_with_invisible_characters_spelled_out() {
        let value = format!("{};rm -rf /\u{202E}", "a".repeat(600));
        let (segments, _) = bridge::consent::highlight::mark_text(&value, None);
        let printed = shown(&segments);
        assert!(printed.starts_with(&"a".repeat(600)));
        assert!(printed.ends_with(";rm -rf /\\u{202E}"), "{printed}");
        assert_eq!(visible("x\u{1b}"), "x\\u{001B}");
    }
}
