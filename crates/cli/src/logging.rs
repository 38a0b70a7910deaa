//! Logging setup. Logs go to stderr; stdout belongs to command output (and,
//! for `stdio`, to the MCP protocol itself, so nothing else may write there).
//! Levels and colour follow [`bridge::logging`]: quiet commands, a daemon
//! that reports its own work, dependencies at warn unless asked.

use bridge::logging::Role;

pub fn init(role: Role, verbosity: u8) {
    bridge::logging::init_stderr(role, verbosity);
}
