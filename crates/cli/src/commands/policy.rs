//! `coder-bridge policy`: show the tool policy, or change an override.
//!
//! With the daemon running this goes through its control API, which also
//! knows the deployment's live tool list and tells the UI about the change.
//! Without it, the policy file is read and written directly; the daemon reads
//! it again when it changes.

use std::process::ExitCode;

use anyhow::Context;
use bridge::agent_id::AgentId;
use bridge::consent::{AnsweredBy, FaceClaim};
use bridge::policy::{Decision, Policy};
use bridge::supervisor::{PolicyView, ToolPolicyView};
use reqwest::Method;

use crate::control::Control;

/// The key the control API uses for an override that applies to every agent.
const ALL_AGENTS: &str = AgentId::EVERY_AGENT;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the policy as JSON
    #[arg(long)]
    json: bool,
    /// Show (or change) the policy for this agent (`cursor`, `claude-desktop`, ...)
    #[arg(long, global = true)]
    agent: Option<String>,
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Override the decision for a tool: allow, ask or deny
    Set { tool: String, decision: Decision },
    /// Remove an override, returning the tool to its default
    Clear { tool: String },
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let control = Control::find().await?;
    let agent = args.agent.as_deref().filter(|a| *a != ALL_AGENTS);
    let view = match args.action {
        None => match &control {
            Some(control) => control.get("/api/policy").await?,
            None => local_view()?,
        },
        Some(Action::Set { ref tool, decision }) => {
            let view = change(control.as_ref(), agent, tool, Some(decision)).await?;
            let scope = agent.unwrap_or("every agent");
            println!("{tool}: {decision} for {scope}");
            view
        }
        Some(Action::Clear { ref tool }) => {
            let view = change(control.as_ref(), agent, tool, None).await?;
            let scope = agent.unwrap_or("every agent");
            println!("{tool}: override for {scope} removed");
            view
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else if args.action.is_none() {
        print_view(&view, agent);
    }
    Ok(ExitCode::SUCCESS)
}

async fn change(
    control: Option<&Control>,
    agent: Option<&str>,
    tool: &str,
    decision: Option<Decision>,
) -> anyhow::Result<PolicyView> {
    // Who changed it is recorded beside the override: this process, as it
    // says (the daemon labels it as claimed).
    let claim = FaceClaim::this_cli_process();
    if let Some(control) = control {
        let body = serde_json::json!({
            "tool": tool, "agent": agent, "decision": decision, "by": claim,
        });
        return control.send(Method::PUT, "/api/policy", &body).await;
    }
    let policy = Policy::open_default().context("cannot open the policy file")?;
    match decision {
        Some(d) => policy.set_override_by(agent, tool, d, &AnsweredBy::file_writer(claim))?,
        None => {
            policy.clear_override(agent, tool)?;
        }
    }
    local_view()
}

/// The policy as the daemon shows it, minus the deployment's live tool
/// list: Coder's built-in table plus every overridden tool.
fn local_view() -> anyhow::Result<PolicyView> {
    let policy = Policy::open_default().context("cannot open the policy file")?;
    Ok(bridge::supervisor::policy_view(
        &policy,
        &[],
        &Default::default(),
    ))
}

fn print_view(view: &PolicyView, agent: Option<&str>) {
    let width = view
        .tools
        .iter()
        .map(|t| t.tool.len())
        .max()
        .unwrap_or(4)
        .max(4);
    match agent {
        Some(agent) => println!("{:width$}  {:6}  WHY", "TOOL", format!("{agent}")),
        None => println!("{:width$}  DEFAULT  OVERRIDES", "TOOL"),
    }
    for t in &view.tools {
        let mut notes = Vec::new();
        if t.irreversible {
            notes.push("irreversible");
        }
        if t.starts_workspace {
            notes.push("starts a stopped workspace");
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!("  ({})", notes.join(", "))
        };
        match agent {
            Some(agent) => {
                let (decision, why) = match (t.overrides.get(agent), t.overrides.get(ALL_AGENTS)) {
                    (Some(d), _) => (*d, format!("override for {agent}{}", setter(t, agent))),
                    (None, Some(d)) => (
                        *d,
                        format!("override for every agent{}", setter(t, ALL_AGENTS)),
                    ),
                    (None, None) => (t.default, format!("{:?}", t.source).to_lowercase()),
                };
                println!("{:width$}  {:6}  {why}{notes}", t.tool, decision.as_str());
            }
            None => {
                let overrides = t
                    .overrides
                    .iter()
                    .map(|(who, d)| format!("{who}={d}{}", setter(t, who)))
                    .collect::<Vec<_>>()
                    .join(" ");
                println!(
                    "{:width$}  {:7}  {overrides}{notes}",
                    t.tool,
                    t.default.as_str()
                );
            }
        }
    }
}

/// ` (set by the dashboard (session 1a2b3c4d) at 2026-…Z)`, when known.
fn setter(t: &ToolPolicyView, scope: &str) -> String {
    let Some(set) = t.set_by.get(scope) else {
        return String::new();
    };
    let when = bridge::epoch::rfc3339_seconds(set.at_ms);
    format!(" (set by {} at {when})", set.by.describe())
}
