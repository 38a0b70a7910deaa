//! `coder-bridge-stdio`: the stdio shim as a program of its own.
//!
//! `coder-bridge stdio` becomes this program (see `commands/stdio.rs`): it
//! links only what the shim runs (no daemon, UI, database or sign-in), so an
//! agent's shim costs a few MiB instead of half of `coder-bridge`. The
//! arguments are `coder-bridge stdio`'s, plus `--bridge <path>`: the
//! `coder-bridge` to run as `serve` when no daemon answers.

use std::{io::IsTerminal as _, path::PathBuf, process::ExitCode};

use bridge::server::stdio::{ShimOptions, run_shim};

const USAGE: &str = "usage: coder-bridge-stdio [--agent <name>] [--port <port>] [--no-start] [--bridge <coder-bridge path>]\n(agents run `coder-bridge stdio`, which starts this program)";

fn main() -> ExitCode {
    let options = match parse(std::env::args_os().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("coder-bridge-stdio: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
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

fn parse(mut args: impl Iterator<Item = std::ffi::OsString>) -> Result<ShimOptions, String> {
    let mut options = ShimOptions {
        agent: "claude-desktop".to_owned(),
        port: None,
        no_start: false,
        bridge_exe: PathBuf::new(),
    };
    let mut bridge = None;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.to_str() {
            Some("--agent") => {
                options.agent = value("--agent")?
                    .into_string()
                    .map_err(|_| "--agent must be text".to_owned())?;
            }
            Some("--port") => {
                let port = value("--port")?;
                options.port = Some(
                    port.to_str()
                        .and_then(|p| p.parse().ok())
                        .ok_or_else(|| format!("--port {}: not a port", port.to_string_lossy()))?,
                );
            }
            Some("--no-start") => options.no_start = true,
            Some("--bridge") => bridge = Some(PathBuf::from(value("--bridge")?)),
            _ => return Err(format!("unexpected argument {}", arg.to_string_lossy())),
        }
    }
    options.bridge_exe = match bridge {
        Some(path) => path,
        // Run directly: the `coder-bridge` installed beside this program.
        None => std::env::current_exe()
            .map_err(|e| format!("cannot find this executable: {e}"))?
            .with_file_name(format!("coder-bridge{}", std::env::consts::EXE_SUFFIX)),
    };
    Ok(options)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> impl Iterator<Item = std::ffi::OsString> {
        list.iter()
            .map(std::ffi::OsString::from)
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn parses_what_coder_bridge_stdio_passes() {
        let o = parse(args(&[
            "--agent",
            "cursor",
            "--bridge",
            "/x/coder-bridge",
            "--port",
            "4000",
            "--no-start",
        ]))
        .unwrap();
        assert_eq!(o.agent, "cursor");
        assert_eq!(o.port, Some(4000));
        assert!(o.no_start);
        assert_eq!(o.bridge_exe, PathBuf::from("/x/coder-bridge"));
        let d = parse(args(&[])).unwrap();
        assert_eq!(d.agent, "claude-desktop");
        assert_eq!(d.port, None);
        assert!(d.bridge_exe.ends_with("coder-bridge"));
        assert!(parse(args(&["--port", "x"])).is_err());
        assert!(parse(args(&["--agent"])).is_err());
        assert!(parse(args(&["serve"])).is_err());
    }
}
