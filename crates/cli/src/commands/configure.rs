//! `coder-bridge configure <agent>|--all [--dry-run] [--port N]`: write or
//! repair our entry in an agent's config; a dry run prints the diff instead.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use bridge::client_tokens::ClientTokens;
use bridge::clients::{self, Action, Context, EntryState};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["agent", "all"])))]
pub struct Args {
    /// The agent, as `coder-bridge agents` names it (cursor, claude-code, codex, goose, …)
    pub agent: Option<String>,
    /// Every agent that looks installed on this machine
    #[arg(long)]
    pub all: bool,
    /// Print the change as a unified diff and write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Port of the local MCP endpoint the entries point at (default: `coder-bridge
    /// config get port`, else CODER_BRIDGE_PORT, else 7331)
    #[arg(long)]
    pub port: Option<u16>,
}

/// The writers' view of this machine: the user's folders, this binary and
/// the client token store.
pub(crate) fn context(port: u16) -> anyhow::Result<Context> {
    let tokens = ClientTokens::open_default().context("cannot open the client tokens")?;
    Ok(Context::detect(port, own_path()?, tokens))
}

/// This binary's absolute path, for stdio entries. Symlinks are resolved so
/// the entry survives a package manager swapping the link's target.
fn own_path() -> anyhow::Result<PathBuf> {
    let exe =
        std::env::current_exe().context("cannot find the path of this coder-bridge binary")?;
    Ok(exe.canonicalize().unwrap_or(exe))
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    // The writers do blocking file I/O and take file locks.
    tokio::task::spawn_blocking(move || run_blocking(&args))
        .await
        .context("the configure task failed")?
}

fn run_blocking(args: &Args) -> anyhow::Result<ExitCode> {
    let ctx = context(bridge::settings::port(args.port))?;
    let names: Vec<&'static str> = match &args.agent {
        Some(name) => vec![clients::agent(name)?.id],
        None => {
            let installed: Vec<_> = clients::agents()
                .iter()
                .filter(|a| {
                    clients::status(a.id, &ctx)
                        .map(|s| s.installed)
                        .unwrap_or(true)
                })
                .map(|a| a.id)
                .collect();
            if installed.is_empty() {
                println!(
                    "No installed agents found; name one to configure it anyway (`coder-bridge configure cursor`)."
                );
                return Ok(ExitCode::SUCCESS);
            }
            installed
        }
    };
    let mut failed = 0;
    for name in &names {
        if let Err(err) = configure_one(name, &ctx, args.dry_run) {
            failed += 1;
            if names.len() == 1 {
                return Err(err);
            }
            eprintln!("coder-bridge: {name}: {err:#}");
        }
    }
    if args.dry_run {
        println!("Dry run: nothing was written.");
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn configure_one(name: &str, ctx: &Context, dry_run: bool) -> anyhow::Result<()> {
    let plan = clients::plan(name, ctx)?;
    let display = plan.agent.display_name;
    let path = plan.path.display();
    if !plan.changes() {
        println!("{display}: already configured and up to date ({path})");
        return Ok(());
    }
    if dry_run && plan.action == Action::Unchanged {
        if let Some(mode) = plan.loose_mode {
            println!(
                "{display}: would tighten the permissions of {path} {mode:04o} → 0600 (it holds a token)"
            );
        }
        return Ok(());
    }
    if dry_run {
        let verb = if plan.action == Action::Create {
            "would create"
        } else {
            "would update"
        };
        println!("{display}: {verb} {path}");
        print!("{}", plan.diff);
        return Ok(());
    }
    let replaces_foreign = clients::status(name, ctx).is_ok_and(|s| s.entry == EntryState::Foreign);
    let applied = clients::apply(&plan)?;
    let verb = if applied.created {
        "created"
    } else {
        "updated"
    };
    if applied.changed {
        println!("{display}: {verb} {}", applied.path.display());
    } else {
        println!("{display}: already configured ({})", applied.path.display());
    }
    if replaces_foreign {
        println!(
            "  replaced an entry named \"{}\" that another tool had written",
            clients::ENTRY_NAME
        );
    }
    if let Some(backup) = &applied.backup {
        println!("  the original is kept at {}", backup.display());
    }
    if let Some(before) = applied.tightened_from {
        let holds = if applied.changed {
            "now holds"
        } else {
            "holds"
        };
        println!(
            "  {}: permissions tightened {before:04o} → 0600 (it {holds} a token)",
            applied.path.display()
        );
    }
    if applied.changed {
        println!("  restart {display} (or reload its MCP servers) to connect");
    }
    Ok(())
}
