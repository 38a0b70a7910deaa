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

use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::Context;
use bridge::server::stdio::{ShimArgs, args::Parsed, args::USAGE, run_shim};

/// The dedicated shim executable's name, beside `coder-bridge`.
pub const SHIM_EXE: &str = "coder-bridge-stdio";

/// The shim's arguments are read by `bridge::server::stdio::args`, the same
/// parser the small program uses, so the two cannot drift apart.
#[derive(Debug, clap::Args)]
#[command(disable_help_flag = true)]
pub struct Args {
    /// [--agent <name>] [--port <port>] [--no-start] (`coder-bridge stdio --help`)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    pub args: Vec<OsString>,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let args = match ShimArgs::parse(args.args) {
        Ok(Parsed::Run(args)) => args,
        Ok(Parsed::Help) => {
            println!("{USAGE}");
            return Ok(ExitCode::SUCCESS);
        }
        Err(message) => {
            eprintln!("coder-bridge stdio: {message}\n{USAGE}");
            return Ok(ExitCode::from(2));
        }
    };
    let exe = std::env::current_exe().context("cannot find the coder-bridge executable")?;
    #[cfg(unix)]
    become_small_shim(&exe, &args);
    run_shim(args.into_options(|| exe)).await?;
    Ok(ExitCode::SUCCESS)
}

/// Replaces this process with `coder-bridge-stdio` when it is installed
/// beside us; returns only when it is not (then the shim runs here).
#[cfg(unix)]
fn become_small_shim(exe: &std::path::Path, args: &ShimArgs) {
    use std::os::unix::process::CommandExt;

    let Some(small) = exe.parent().map(|d| d.join(SHIM_EXE)) else {
        return;
    };
    if !small.is_file() {
        return;
    }
    let handed_on = ShimArgs {
        bridge: Some(args.bridge.clone().unwrap_or_else(|| exe.to_path_buf())),
        ..args.clone()
    };
    // `exec` returns only on failure; the shim then simply runs in this process.
    let error = std::process::Command::new(&small)
        .args(handed_on.to_args())
        .exec();
    tracing::debug!(
        "cannot run {}: {error}; serving from this process",
        small.display()
    );
}
