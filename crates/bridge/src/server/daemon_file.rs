//! `daemon.json`: how `stdio` and `status` find a running daemon.
//!
//! Written by `coder-bridge serve` once it listens, removed when it stops.
//! It holds no secrets: the pid, the port, the endpoint URL and the Unix
//! socket the daemon also listens on.

use std::{
    io,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::paths;

const FILE_NAME: &str = "daemon.json";

/// What a running daemon advertises about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonInfo {
    pub pid: u32,
    pub port: u16,
    /// `http://127.0.0.1:<port>/mcp`.
    pub url: String,
    /// Seconds since the Unix epoch.
    pub started_at: u64,
    /// The Unix socket in the runtime folder, when the daemon listens on one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket: Option<PathBuf>,
}

impl DaemonInfo {
    pub fn new(port: u16) -> Self {
        Self {
            pid: std::process::id(),
            port,
            url: format!("http://127.0.0.1:{port}/mcp"),
            started_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            socket: None,
        }
    }

    /// The port a client reaches the daemon on: `explicit`, else the
    /// running daemon's (`daemon.json`), else the configured one
    /// ([`crate::settings::port`]: `CODER_BRIDGE_PORT`, the setting, 7331).
    pub fn port_to_reach(explicit: Option<u16>) -> u16 {
        explicit
            .or_else(|| Self::read(&Self::default_path()).map(|i| i.port))
            .unwrap_or_else(|| crate::settings::port(None))
    }

    /// `<config dir>/daemon.json`.
    pub fn default_path() -> PathBuf {
        paths::config_dir().join(FILE_NAME)
    }

    /// The advertised daemon, if the file exists and parses.
    pub fn read(path: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes the file as a file of ours (0600, atomically).
    pub fn write(&self, path: &Path) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        crate::private_files::write(path, &json)
    }

    /// Removes the file if it still describes this process.
    pub fn remove_if_ours(path: &Path) {
        if Self::read(path).is_some_and(|info| info.pid == std::process::id()) {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_removal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join(FILE_NAME);
        let info = DaemonInfo::new(4242);
        info.write(&path).unwrap();
        assert_eq!(DaemonInfo::read(&path), Some(info.clone()));
        assert_eq!(info.url, "http://127.0.0.1:4242/mcp");
        DaemonInfo::remove_if_ours(&path);
        assert!(!path.exists());
    }
}
