//! Logging setup. Logs go to stderr; stdout belongs to command output (and,
//! for `stdio`, to the MCP protocol itself, so nothing else may write there).

use tracing_subscriber::EnvFilter;

pub fn init(stdio_mode: bool) {
    let default = if stdio_mode { "warn" } else { "info" };
    let filter =
        EnvFilter::try_from_env(bridge::env::LOG).unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
