//! Where the bridge keeps its files.
//!
//! Settings and secrets-adjacent files live in the platform config directory
//! (`$XDG_CONFIG_HOME/coder-bridge` on Linux), the activity database in the
//! data directory. Pointing `HOME`/`XDG_*` at a folder isolates everything,
//! which is what the tests do.

use std::path::PathBuf;

/// The default local port for the MCP endpoint, control API and UI.
///
/// Stable on purpose: agent configs point at it, so it never moves silently.
pub const DEFAULT_PORT: u16 = 7331;

const APP_DIR: &str = "coder-bridge";

/// The app's config directory (settings, client registrations, client tokens).
pub fn config_dir() -> PathBuf {
    dirs::config_dir()
        .unwrap_or_else(|| home_dir().join(".config"))
        .join(APP_DIR)
}

/// The app's data directory (activity database).
pub fn data_dir() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| home_dir().join(".local/share"))
        .join(APP_DIR)
}

/// The user's home directory; agent config paths hang off it.
pub fn home_dir() -> PathBuf {
    dirs::home_dir().unwrap_or_else(|| PathBuf::from("."))
}

/// The folder of the daemon's Unix socket: `$XDG_RUNTIME_DIR/coder-bridge`
/// (private to the user by the XDG spec; we make it 0700 too). `None`
/// where there is no runtime folder (macOS, Windows, some containers):
/// clients then use loopback TCP with the daemon proof.
pub fn socket_dir() -> Option<PathBuf> {
    dirs::runtime_dir().map(|d| d.join(APP_DIR))
}

/// The daemon's Unix socket for `port`, one per port so daemons on
/// different ports (tests, `--port`) do not collide.
pub fn daemon_socket(port: u16) -> Option<PathBuf> {
    socket_dir().map(|d| d.join(socket_name(port)))
}

/// `daemon-<port>.sock`.
pub fn socket_name(port: u16) -> String {
    format!("daemon-{port}.sock")
}
