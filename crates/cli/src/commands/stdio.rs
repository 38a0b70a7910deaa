//! `coder-bridge stdio`: the shim an agent (Claude Desktop) launches.
//!
//! Nothing but MCP goes to stdout. The work is `bridge::server::stdio::run_shim`:
//! find the daemon (starting one, under a lock, when none answers) and relay.
//!
//! Agents keep a shim running for each session, so its memory counts. This
//! binary holds the daemon, the UI and sign-in too (about 23 MB of code),
//! and the shim's few hundred pages of code are spread through all of it: the
//! kernel maps file pages in 64 KiB runs, so the shim would be charged for
//! half the binary. When the small `coder-bridge-stdio` executable sits
//! beside this one (it is built from this crate), the shim becomes that
//! program instead (`exec`, same process), at about half the memory.

use std::process::ExitCode;

use anyhow::Context;
use bridge::server::stdio::{ShimOptions, run_shim};

/// The dedicated shim executable's name, beside `coder-bridge`.
pub const SHIM_EXE: &str = "coder-bridge-stdio";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which configured agent this shim speaks for (its client token is used)
    #[arg(long, default_value = "claude-desktop")]
    pub agent: String,
    /// Port of the daemon; default: the running daemon's, else CODER_BRIDGE_PORT or 7331
    #[arg(long)]
    pub port: Option<u16>,
    /// Do not start the daemon when it is not running; fail instead
    #[arg(long)]
    pub no_start: bool,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find the coder-bridge executable")?;
    #[cfg(unix)]
    become_small_shim(&exe, &args);
    run_shim(ShimOptions {
        agent: args.agent,
        port: args.port,
        no_start: args.no_start,
        bridge_exe: exe,
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// Replaces this process with `coder-bridge-stdio` when it is installed
/// beside us; returns only when it is not (then the shim runs here).
#[cfg(unix)]
fn become_small_shim(exe: &std::path::Path, args: &Args) {
    use std::os::unix::process::CommandExt;

    let Some(small) = exe.parent().map(|d| d.join(SHIM_EXE)) else {
        return;
    };
    if !small.is_file() {
        return;
    }
    let mut command = std::process::Command::new(&small);
    command
        .arg("--agent")
        .arg(&args.agent)
        .arg("--bridge")
        .arg(exe);
    if let Some(port) = args.port {
        command.arg("--port").arg(port.to_string());
    }
    if args.no_start {
        command.arg("--no-start");
    }
    // `exec` returns only on failure; the shim then simply runs in this process.
    let error = command.exec();
    tracing::debug!(
        "cannot run {}: {error}; serving from this process",
        small.display()
    );
}
