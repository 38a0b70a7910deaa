//! Logging setup. Logs go to stderr; stdout belongs to command output (and,
//! for `stdio`, to the MCP protocol itself, so nothing else may write there).
//! Levels and colour follow [`bridge::logging`]: quiet commands, a daemon
//! that reports its own work, dependencies at warn unless asked.

use std::io::IsTerminal as _;

use bridge::logging::{self, Role};

pub fn init(role: Role, verbosity: u8) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(logging::filter(role, verbosity))
        .with_writer(std::io::stderr)
        .with_ansi(logging::ansi(std::io::stderr().is_terminal()))
        .with_target(false)
        .try_init();
}
