//! `coder-bridge-stdio`: the stdio shim as a program of its own.
//!
//! `coder-bridge stdio` becomes this program (see `commands/stdio.rs`): it
//! links only what the shim runs (no daemon, UI, database or sign-in), so an
//! agent's shim costs a few MiB instead of half of `coder-bridge`. The
//! arguments are `coder-bridge stdio`'s, plus `--bridge <path>`: the
//! `coder-bridge` to run as `serve` when no daemon answers.

use std::{io::IsTerminal as _, process::ExitCode};

use bridge::server::stdio::{ShimArgs, args::Parsed, args::USAGE, run_shim};

fn main() -> ExitCode {
    let args = match ShimArgs::parse(std::env::args_os().skip(1)) {
        Ok(Parsed::Run(args)) => args,
        Ok(Parsed::Help) => {
            println!("{USAGE}\n(agents run `coder-bridge stdio`, which starts this program)");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("coder-bridge-stdio: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Run directly: the `coder-bridge` installed beside this program.
    let options = args.into_options(|| {
        std::env::current_exe()
            .unwrap_or_default()
            .with_file_name(format!("coder-bridge{}", std::env::consts::EXE_SUFFIX))
    });
    init_logging();
    // One thread: the shim only moves messages between stdio and one socket.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("coder-bridge stdio: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run_shim(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coder-bridge stdio: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Warnings and errors to stderr (stdout carries MCP); `CODER_BRIDGE_LOG`
/// sets a filter as for `coder-bridge`. Only then is an `EnvFilter` built:
/// parsing one compiles a regex, which costs the shim memory for nothing.
fn init_logging() {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(bridge::logging::ansi(std::io::stderr().is_terminal()))
        .with_target(false);
    let _ = match std::env::var(bridge::env::LOG) {
        Ok(directives) if !directives.trim().is_empty() => builder
            .with_env_filter(tracing_subscriber::EnvFilter::new(directives))
            .try_init(),
        _ => builder.with_max_level(tracing::Level::WARN).try_init(),
    };
}
