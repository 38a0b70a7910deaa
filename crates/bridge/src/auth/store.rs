//! Where secrets live: the OS keychain through `keyring`, or — when no
//! keychain is reachable (headless Linux, CI) or the user asks for it — a
//! 0600 JSON file in the config directory. The choice is explicit and shown
//! by `coder-bridge status`; it is never a silent downgrade.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::AuthError;
use crate::secret::Secret;

/// Keychain service name every entry is filed under.
const KEYRING_SERVICE: &str = "coder-bridge";
/// File name of the fallback store inside the config directory.
pub(crate) const SECRETS_FILE: &str = "secrets.json";

/// Which store holds the secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretBackend {
    /// The OS keychain (Secret Service on Linux, Keychain on macOS,
    /// Credential Manager on Windows).
    Keyring,
    /// `<config dir>/secrets.json`, mode 0600.
    File,
}

impl SecretBackend {
    pub fn describe(self) -> &'static str {
        match self {
            SecretBackend::Keyring => "OS keychain",
            SecretBackend::File => "file secrets.json (0600; no keychain in use)",
        }
    }
}

/// How to pick the backend for a new sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreChoice {
    /// The keychain when reachable, else the file (with a warning).
    Auto,
    File,
    Keyring,
}

impl StoreChoice {
    /// From `CODER_BRIDGE_SECRET_STORE` (`file` or `keyring`); anything else is `Auto`.
    pub fn from_env() -> Self {
        match std::env::var(crate::env::SECRET_STORE)
            .unwrap_or_default()
            .to_ascii_lowercase()
            .as_str()
        {
            "file" => StoreChoice::File,
            "keyring" | "keychain" => StoreChoice::Keyring,
            "" | "auto" => StoreChoice::Auto,
            other => {
                tracing::warn!(
                    value = other,
                    "{} must be `file` or `keyring`; choosing automatically",
                    crate::env::SECRET_STORE
                );
                StoreChoice::Auto
            }
        }
    }
}

/// A handle on one backend. Calls block (D-Bus, file I/O): the async
/// callers run them on the blocking pool.
#[derive(Debug, Clone)]
pub(crate) struct SecretStore {
    backend: SecretBackend,
    file: PathBuf,
}

impl SecretStore {
    pub(crate) fn new(backend: SecretBackend, config_dir: &Path) -> Self {
        Self {
            backend,
            file: config_dir.join(SECRETS_FILE),
        }
    }

    /// Resolves a [`StoreChoice`] to a store, probing the keychain for `Auto`.
    pub(crate) fn choose(choice: StoreChoice, config_dir: &Path) -> Result<Self, AuthError> {
        let backend = match choice {
            StoreChoice::File => SecretBackend::File,
            StoreChoice::Keyring => {
                probe_keyring().map_err(|reason| {
                    AuthError::storage_from(
                        format!(
                            "{} asks for the OS keychain, but it is not reachable",
                            crate::env::SECRET_STORE
                        ),
                        reason,
                    )
                })?;
                SecretBackend::Keyring
            }
            StoreChoice::Auto => match probe_keyring() {
                Ok(()) => SecretBackend::Keyring,
                Err(reason) => {
                    tracing::warn!(
                        %reason,
                        file = %config_dir.join(SECRETS_FILE).display(),
                        "no OS keychain reachable; storing secrets in a 0600 file instead"
                    );
                    SecretBackend::File
                }
            },
        };
        Ok(Self::new(backend, config_dir))
    }

    pub(crate) fn backend(&self) -> SecretBackend {
        self.backend
    }

    pub(crate) fn get(&self, key: &str) -> Result<Option<Secret>, AuthError> {
        match self.backend {
            SecretBackend::Keyring => match entry(key)?.get_password() {
                Ok(value) => Ok(Some(Secret::new(value))),
                Err(keyring::Error::NoEntry) => Ok(None),
                Err(e) => Err(keyring_error("read", e)),
            },
            SecretBackend::File => Ok(read_file(&self.file)?.remove(key).map(Secret::new)),
        }
    }

    pub(crate) fn set(&self, key: &str, value: &Secret) -> Result<(), AuthError> {
        match self.backend {
            SecretBackend::Keyring => entry(key)?
                .set_password(value.expose())
                .map_err(|e| keyring_error("write", e)),
            SecretBackend::File => {
                let mut all = read_file(&self.file)?;
                all.insert(key.to_string(), value.expose().to_string());
                write_file(&self.file, &all)
            }
        }
    }

    /// Stores several secrets: with the file store in one atomic write (all
    /// or none); with the keychain, which has no transactions, one entry at
    /// a time in the order given, stopping at the first failure. Callers put
    /// first what must not be lost.
    pub(crate) fn set_all(&self, entries: &[(String, Secret)]) -> Result<(), AuthError> {
        match self.backend {
            SecretBackend::Keyring => set_in_order(entries, |key, value| self.set(key, value)),
            SecretBackend::File => {
                let mut all = read_file(&self.file)?;
                for (key, value) in entries {
                    all.insert(key.clone(), value.expose().to_string());
                }
                write_file(&self.file, &all)
            }
        }
    }

    pub(crate) fn delete(&self, key: &str) -> Result<(), AuthError> {
        match self.backend {
            SecretBackend::Keyring => match entry(key)?.delete_credential() {
                Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
                Err(e) => Err(keyring_error("delete", e)),
            },
            SecretBackend::File => {
                let mut all = read_file(&self.file)?;
                if all.remove(key).is_some() {
                    write_file(&self.file, &all)?;
                }
                Ok(())
            }
        }
    }
}

/// Writes `entries` one by one with `set`, stopping at the first failure.
fn set_in_order(
    entries: &[(String, Secret)],
    mut set: impl FnMut(&str, &Secret) -> Result<(), AuthError>,
) -> Result<(), AuthError> {
    entries.iter().try_for_each(|(key, value)| set(key, value))
}

/// Runs blocking store work (D-Bus round trips, file I/O) off the async
/// worker threads.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, AuthError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, AuthError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AuthError::other_from("storage task failed", e))?
}

/// Can we use the keychain? Reading an entry that does not exist answers
/// `NoEntry` from a working store and an error from a missing or locked one.
fn probe_keyring() -> Result<(), String> {
    if let Err(e) = keyring::Entry::store_status() {
        return Err(e.to_string());
    }
    let probe = keyring::Entry::new(KEYRING_SERVICE, "probe").map_err(|e| e.to_string())?;
    match probe.get_password() {
        Ok(_) | Err(keyring::Error::NoEntry) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

fn entry(key: &str) -> Result<keyring::Entry, AuthError> {
    keyring::Entry::new(KEYRING_SERVICE, key).map_err(|e| keyring_error("open", e))
}

fn keyring_error(action: &str, err: keyring::Error) -> AuthError {
    // keyring errors carry no secret values, only platform diagnostics.
    AuthError::storage_from(format!("cannot {action} the OS keychain entry"), err)
}

fn read_file(path: &Path) -> Result<BTreeMap<String, String>, AuthError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            AuthError::storage_from(format!("{} is not valid JSON", path.display()), e)
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(AuthError::storage_from(
            format!("cannot read {}", path.display()),
            e,
        )),
    }
}

fn write_file(path: &Path, all: &BTreeMap<String, String>) -> Result<(), AuthError> {
    let bytes = serde_json::to_vec_pretty(all)
        .map_err(|e| AuthError::storage_from("cannot encode secrets", e))?;
    write_private(path, &bytes)
}

/// Writes `bytes` to `path` as a file of ours (0600 in a 0700 folder,
/// atomically: see [`crate::private_files`]).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AuthError> {
    crate::private_files::write(path, bytes)
        .map_err(|e| AuthError::storage_from(format!("cannot write {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_store_round_trip_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("cfg");
        let store = SecretStore::new(SecretBackend::File, &config);
        assert!(store.get("a").unwrap().is_none());
        store.set("a", &Secret::new("one")).unwrap();
        store.set("b", &Secret::new("two")).unwrap();
        assert_eq!(store.get("a").unwrap().unwrap().expose(), "one");
        store.delete("a").unwrap();
        store.delete("a").unwrap();
        assert!(store.get("a").unwrap().is_none());
        assert_eq!(store.get("b").unwrap().unwrap().expose(), "two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&config.join(SECRETS_FILE)), 0o600);
            assert_eq!(mode(&config), 0o700);
        }
    }

    #[test]
    fn set_all_writes_every_secret_in_one_go() {
        let dir = tempfile::tempdir().unwrap();
        let store = SecretStore::new(SecretBackend::File, dir.path());
        store.set("kept", &Secret::new("k")).unwrap();
        let entries = [
            ("refresh".to_string(), Secret::new("r2")),
            ("access".to_string(), Secret::new("a2")),
        ];
        store.set_all(&entries).unwrap();
        assert_eq!(store.get("refresh").unwrap().unwrap().expose(), "r2");
        assert_eq!(store.get("access").unwrap().unwrap().expose(), "a2");
        assert_eq!(store.get("kept").unwrap().unwrap().expose(), "k");
    }

    /// The keychain path: when the second write fails, the first (the
    /// rotated refresh token, which the server will not give again) is kept.
    #[test]
    fn writes_in_order_stop_at_a_failure_and_keep_what_came_first() {
        let entries = [
            ("refresh".to_string(), Secret::new("r2")),
            ("access".to_string(), Secret::new("a2")),
        ];
        let mut written = Vec::new();
        let result = set_in_order(&entries, |key, value| {
            if key == "access" {
                return Err(AuthError::storage_problem("injected failure"));
            }
            written.push((key.to_string(), value.expose().to_string()));
            Ok(())
        });
        assert!(result.is_err());
        assert_eq!(written, [("refresh".to_string(), "r2".to_string())]);
    }
}
