//! Who may use the control API: the control token (CLI, tray), one-time
//! tickets and the session cookie they are exchanged for (browser).
//!
//! Nothing here is stored in plain form: tickets and sessions are kept as
//! SHA-256 digests, so the maps can be compared with a lookup rather than a
//! timing-sensitive string compare, and a heap dump holds nothing reusable.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::secret::Secret;

/// The control token's file name inside the config directory.
pub const CONTROL_TOKEN_FILE: &str = "control-token";
/// The browser session cookie.
pub const SESSION_COOKIE: &str = "cb_session";
/// How long a ticket may wait before the browser exchanges it.
pub const TICKET_LIFETIME: Duration = Duration::from_secs(60);
/// How long a browser session lasts; the tray or `coder-bridge open` makes a new one.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// Browser sessions kept at once; the oldest goes first. A bound, so a
/// looping script cannot grow the map without end.
const MAX_SESSIONS: usize = 64;
const MAX_TICKETS: usize = 64;

const CONTROL_PREFIX: &str = "cbc_";

/// A fresh random credential: 32 bytes, URL-safe base64.
fn random_value(prefix: &str) -> Secret {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    Secret::new(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

fn digest(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

/// Makes a new control token and writes it to `<config_dir>/control-token`.
pub fn create_control_token(config_dir: &Path) -> std::io::Result<Secret> {
    let token = random_value(CONTROL_PREFIX);
    write_control_token(config_dir, &token)?;
    Ok(token)
}

/// Writes `token` to `<config_dir>/control-token` (mode 0600, atomically, so
/// a reader never sees half a token).
pub fn write_control_token(config_dir: &Path, token: &Secret) -> std::io::Result<()> {
    write_private(&config_dir.join(CONTROL_TOKEN_FILE), token.expose())
}

/// The running daemon's control token, for the CLI and the tray.
pub fn read_control_token(config_dir: &Path) -> std::io::Result<Secret> {
    let text = std::fs::read_to_string(config_dir.join(CONTROL_TOKEN_FILE))?;
    Ok(Secret::new(text.trim().to_owned()))
}

/// Writes `contents` to `path` readable by the owner only.
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    crate::private_files::write(path, contents.as_bytes())
}

/// The control API's credentials. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Access {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("token_path", &self.inner.token_path)
            .finish_non_exhaustive()
    }
}

struct Inner {
    control: [u8; 32],
    token_path: Option<PathBuf>,
    tickets: Mutex<HashMap<[u8; 32], Instant>>,
    sessions: Mutex<HashMap<[u8; 32], Instant>>,
}

/// How a request proved itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// `Authorization: Bearer <control token>`: the CLI or the tray.
    Bearer,
    /// The `cb_session` cookie: a browser.
    Browser,
}

impl Access {
    /// Creates the control token, writes it to `<config_dir>/control-token`.
    pub fn create(config_dir: &Path) -> std::io::Result<Self> {
        let token = create_control_token(config_dir)?;
        Ok(Self::with_token(
            &token,
            Some(config_dir.join(CONTROL_TOKEN_FILE)),
        ))
    }

    /// A fresh control token held in memory only; write it with
    /// [`write_control_token`] once the daemon is sure to run, so a second
    /// daemon that fails to bind does not lock the CLI out of the first.
    pub fn generate() -> (Self, Secret) {
        let token = random_value(CONTROL_PREFIX);
        (Self::with_token(&token, None), token)
    }

    /// Accepts `token` as the control token (tests, embedders that hand it over in memory).
    pub fn with_token(token: &Secret, token_path: Option<PathBuf>) -> Self {
        Self {
            inner: Arc::new(Inner {
                control: digest(token.expose()),
                token_path,
                tickets: Mutex::new(HashMap::new()),
                sessions: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn token_path(&self) -> Option<&Path> {
        self.inner.token_path.as_deref()
    }

    pub fn is_control_token(&self, presented: &str) -> bool {
        let d = digest(presented);
        subtle::ConstantTimeEq::ct_eq(&d[..], &self.inner.control[..]).into()
    }

    /// A single-use ticket, valid for [`TICKET_LIFETIME`].
    pub fn issue_ticket(&self) -> Secret {
        let ticket = random_value("");
        let now = Instant::now();
        let mut tickets = lock(&self.inner.tickets);
        tickets.retain(|_, expires| *expires > now);
        if tickets.len() >= MAX_TICKETS
            && let Some(oldest) = tickets.iter().min_by_key(|(_, e)| **e).map(|(k, _)| *k)
        {
            tickets.remove(&oldest);
        }
        tickets.insert(digest(ticket.expose()), now + TICKET_LIFETIME);
        ticket
    }

    /// Spends a ticket: the session value for the cookie, or `None` when the
    /// ticket is unknown, used or expired.
    pub fn redeem_ticket(&self, ticket: &str) -> Option<Secret> {
        let now = Instant::now();
        let valid = lock(&self.inner.tickets)
            .remove(&digest(ticket))
            .is_some_and(|expires| expires > now);
        if !valid {
            return None;
        }
        let session = random_value("");
        let mut sessions = lock(&self.inner.sessions);
        sessions.retain(|_, expires| *expires > now);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions.iter().min_by_key(|(_, e)| **e).map(|(k, _)| *k)
        {
            sessions.remove(&oldest);
        }
        sessions.insert(digest(session.expose()), now + SESSION_LIFETIME);
        Some(session)
    }

    pub fn is_session(&self, value: &str) -> bool {
        lock(&self.inner.sessions)
            .get(&digest(value))
            .is_some_and(|expires| *expires > Instant::now())
    }

    /// Who sent these headers, if anyone we know.
    pub fn caller(&self, headers: &http::HeaderMap) -> Option<Caller> {
        if let Some(token) = bearer(headers) {
            return self.is_control_token(token).then_some(Caller::Bearer);
        }
        cookie(headers, SESSION_COOKIE)
            .filter(|v| self.is_session(v))
            .map(|_| Caller::Browser)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update is a single insert/remove: a poisoned map is consistent.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The token of an `Authorization: Bearer` header.
pub fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The value of cookie `name` across every `Cookie` header.
pub fn cookie<'h>(headers: &'h http::HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_are_single_use_and_sessions_check() {
        let access = Access::with_token(&Secret::new("cbc_x"), None);
        assert!(access.is_control_token("cbc_x"));
        assert!(!access.is_control_token("cbc_y"));
        let ticket = access.issue_ticket();
        let session = access.redeem_ticket(ticket.expose()).expect("first use");
        assert!(access.redeem_ticket(ticket.expose()).is_none());
        assert!(access.is_session(session.expose()));
        assert!(!access.is_session("nope"));
    }

    #[test]
    fn cookie_parsing_finds_ours_among_others() {
        let mut h = http::HeaderMap::new();
        h.append(http::header::COOKIE, "a=1; cb_session=abc".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "b"), None);
    }

    #[test]
    fn control_token_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let token = create_control_token(dir.path()).unwrap();
        assert_eq!(read_control_token(dir.path()).unwrap(), token);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(CONTROL_TOKEN_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
