//! Persistent settings (`coder-bridge config get|set <key> [value]`): a small
//! JSON file in the config directory, written privately and atomically.
//!
//! Today the one key is `port`, the local port of the daemon. Every command
//! that needs it (`serve`, `configure`, `agents`, `status`, the shim, the
//! tray) asks [`port`], so agent entries always point at the daemon that
//! will answer them.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::paths::{self, DEFAULT_PORT};
use crate::private_files;

/// The settings file's name in the config directory.
pub const FILE_NAME: &str = "settings.json";

/// The keys `config get|set` knows.
pub const KEYS: &[&str] = &["port"];

/// Why settings could not be read or changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    #[error("unknown setting {key:?}; known settings: {}", KEYS.join(", "))]
    UnknownKey { key: String },
    #[error("invalid value {value:?} for {key}: {reason}")]
    InvalidValue {
        key: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("{path} is not valid settings JSON ({error}); fix or delete it and try again")]
    Parse {
        path: PathBuf,
        error: serde_json::Error,
    },
    #[error("cannot {action} {path}: {error}")]
    Io {
        action: &'static str,
        path: PathBuf,
        error: io::Error,
    },
}

/// The settings file's content. Keys this version does not know are kept
/// as they are, so an older binary never drops a newer one's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(flatten)]
    other: Map<String, Value>,
}

/// Where the port in effect came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PortSource {
    /// `--port` on the command line.
    Flag,
    /// The `CODER_BRIDGE_PORT` environment variable.
    Env,
    /// `coder-bridge config set port N`.
    Settings,
    Default,
}

/// The settings file of the current user.
pub fn default_path() -> PathBuf {
    paths::config_dir().join(FILE_NAME)
}

impl Settings {
    /// The settings at `path`; defaults when the file does not exist.
    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        match std::fs::read_to_string(path) {
            Ok(text) if text.trim().is_empty() => Ok(Self::default()),
            Ok(text) => serde_json::from_str(&text).map_err(|error| SettingsError::Parse {
                path: path.to_path_buf(),
                error,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Self::default()),
            Err(error) => Err(SettingsError::Io {
                action: "read",
                path: path.to_path_buf(),
                error,
            }),
        }
    }

    /// Writes the settings to `path` atomically, 0600 in a 0700 folder.
    pub fn save(&self, path: &Path) -> Result<(), SettingsError> {
        let io = |action| {
            move |error| SettingsError::Io {
                action,
                path: path.to_path_buf(),
                error,
            }
        };
        let mut text = serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".to_owned());
        text.push('\n');
        // 0600 in a 0700 folder, tightened if found looser.
        private_files::write(path, text.as_bytes()).map_err(io("write"))?;
        Ok(())
    }

    /// The value of `key` as `config get` prints it; `None` when unset.
    pub fn get(&self, key: &str) -> Result<Option<String>, SettingsError> {
        match key {
            "port" => Ok(self.port.map(|p| p.to_string())),
            _ => Err(SettingsError::UnknownKey {
                key: key.to_owned(),
            }),
        }
    }

    /// Sets `key` from its text form, checking the value.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), SettingsError> {
        match key {
            "port" => {
                self.port =
                    Some(
                        parse_port(value).map_err(|reason| SettingsError::InvalidValue {
                            key: "port",
                            value: value.to_owned(),
                            reason,
                        })?,
                    );
                Ok(())
            }
            _ => Err(SettingsError::UnknownKey {
                key: key.to_owned(),
            }),
        }
    }
}

fn parse_port(value: &str) -> Result<u16, &'static str> {
    match value.trim().parse::<u16>() {
        Ok(0) => Err("the port must be between 1 and 65535"),
        Ok(port) => Ok(port),
        Err(_) => Err("the port must be a number between 1 and 65535"),
    }
}

/// The daemon's port: `explicit` (a `--port` flag) if given, else
/// `CODER_BRIDGE_PORT`, else the settings file, else [`DEFAULT_PORT`].
/// Every command resolves the port through here.
pub fn port(explicit: Option<u16>) -> u16 {
    port_with_source(explicit).0
}

/// [`port`] and where it came from. An unreadable settings file or an
/// unparseable variable is logged and skipped, never fatal: the default
/// still lets the user reach the daemon and fix it.
pub fn port_with_source(explicit: Option<u16>) -> (u16, PortSource) {
    if let Some(port) = explicit {
        return (port, PortSource::Flag);
    }
    if let Ok(value) = std::env::var(crate::env::PORT) {
        // 0 (any free port) is fine for one run, as with `--port 0`; only
        // the settings file, which agents' entries follow, refuses it.
        match value.trim().parse::<u16>().map_err(|_| "not a port number") {
            Ok(port) => return (port, PortSource::Env),
            Err(reason) => {
                tracing::warn!(%value, reason, "ignoring {}", crate::env::PORT)
            }
        }
    }
    match Settings::load(&default_path()) {
        Ok(Settings {
            port: Some(port), ..
        }) => (port, PortSource::Settings),
        Ok(_) => (DEFAULT_PORT, PortSource::Default),
        Err(err) => {
            tracing::warn!(error = %err, "ignoring the settings file");
            (DEFAULT_PORT, PortSource::Default)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_and_keep_unknown_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cfg").join(FILE_NAME);
        assert_eq!(
            Settings::load(&path).expect("missing is default"),
            Settings::default()
        );
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, r#"{"future": {"x": 1}}"#).expect("seed");
        let mut settings = Settings::load(&path).expect("load");
        settings.set("port", "18123").expect("set");
        settings.save(&path).expect("save");
        let back = Settings::load(&path).expect("reload");
        assert_eq!(back.get("port").expect("get"), Some("18123".to_owned()));
        let raw: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        assert_eq!(raw["future"]["x"], 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn bad_values_and_keys_are_refused() {
        let mut settings = Settings::default();
        for bad in ["0", "70000", "http", ""] {
            assert!(
                matches!(
                    settings.set("port", bad),
                    Err(SettingsError::InvalidValue { .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            settings.get("colour"),
            Err(SettingsError::UnknownKey { .. })
        ));
        assert_eq!(settings.port, None);
    }

    #[test]
    fn a_broken_file_is_an_error_not_a_reset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, "{port: 1").expect("seed");
        assert!(matches!(
            Settings::load(&path),
            Err(SettingsError::Parse { .. })
        ));
    }
}
