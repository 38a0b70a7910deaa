//! `coder-bridge`: the headless face of Coder Bridge.
//!
//! Command names, flags and exit codes are a contract (see the README's
//! command table); add freely, rename never.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;
mod control;
mod hint;
mod logging;

#[derive(Debug, Parser)]
#[command(
    name = "coder-bridge",
    version,
    about = "Bridge local AI agents to a Coder deployment"
)]
struct Cli {
    /// More log lines on stderr: -v info, -vv debug, -vvv trace
    /// (CODER_BRIDGE_LOG, a `tracing` filter, replaces this)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sign in to a Coder deployment (OAuth2 in the browser, or a session token)
    Login(commands::login::Args),
    /// Revoke the session at the server and delete local secrets
    Logout(commands::logout::Args),
    /// Deployment, user, token expiry, secret storage, daemon and relay state
    Status(commands::status::Args),
    /// Run the daemon: local MCP endpoint, control API and UI on 127.0.0.1
    Serve(commands::serve::Args),
    /// The stdio shim an agent launches; talks to the daemon, starting it when needed
    Stdio(commands::stdio::Args),
    /// Run a simulated Coder deployment and the daemon, signed in, to try everything
    Demo(commands::demo::Args),
    /// Write or repair an agent's config entry (`--dry-run` prints a diff)
    Configure(commands::configure::Args),
    /// Remove our entry from an agent's config and revoke its client token
    Unconfigure(commands::unconfigure::Args),
    /// Each agent: installed, configured, up to date
    Agents(commands::agents::Args),
    /// List or answer pending consent requests
    Consent(commands::consent::Args),
    /// Show or change the tool policy
    Policy(commands::policy::Args),
    /// Recent calls, optionally following live
    Activity(commands::activity::Args),
    /// Open the dashboard in the browser (a one-time link, no secret in the URL)
    Open(commands::open::Args),
    /// Read or change persistent settings (`config set port 18123`)
    Config(commands::config::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The daemon's log is its record of what it did; a command is quiet.
    let role = match cli.command {
        Command::Serve(_) | Command::Demo(_) => bridge::logging::Role::Daemon,
        _ => bridge::logging::Role::Command,
    };
    logging::init(role, cli.verbose);
    // The stdio shim only shuttles bytes between two sockets: one thread keeps
    // it small and quick to start (Claude Desktop launches one per session).
    let mut builder = if matches!(cli.command, Command::Stdio(_)) {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("coder-bridge: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Login(args) => commands::login::run(args).await,
            Command::Logout(args) => commands::logout::run(args).await,
            Command::Status(args) => commands::status::run(args).await,
            Command::Serve(args) => commands::serve::run(args).await,
            Command::Stdio(args) => commands::stdio::run(args).await,
            Command::Demo(args) => commands::demo::run(args).await,
            Command::Configure(args) => commands::configure::run(args).await,
            Command::Unconfigure(args) => commands::unconfigure::run(args).await,
            Command::Agents(args) => commands::agents::run(args).await,
            Command::Consent(args) => commands::consent::run(args).await,
            Command::Policy(args) => commands::policy::run(args).await,
            Command::Activity(args) => commands::activity::run(args).await,
            Command::Open(args) => commands::open::run(args).await,
            Command::Config(args) => commands::config::run(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("coder-bridge: {err:#}");
            if let Some(hint) = hint::for_error(&err) {
                eprintln!("{hint}");
            }
            control::exit_status(&err)
        }
    }
}
