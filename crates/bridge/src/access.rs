//! Who may use the control API: the control token (CLI, tray), one-time
//! tickets and the dashboard sessions they are exchanged for.
//!
//! This room owns the control token's file too: the supervisor writes it once
//! its daemon owns the port, and the CLI's control client reads it. Neither
//! needs the web room for that.
//!
//! A session is sent as `Authorization: Bearer`, never as a cookie: cookies
//! for 127.0.0.1 go to every port of the host, so any local server the
//! browser visits would receive it. The page keeps it in `sessionStorage`,
//! which is scoped to its own origin (scheme, host and port).
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

use crate::face::{AnsweredBy, Face, FaceClaim};
use crate::secret::Secret;

/// The control token's file name inside the config directory.
pub const CONTROL_TOKEN_FILE: &str = "control-token";
/// The cookie older versions kept the session in; it is only ever expired now.
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
    crate::private_files::write(&control_token_path(config_dir), token.expose().as_bytes())
}

/// The running daemon's control token, for the CLI and the tray.
pub fn read_control_token(config_dir: &Path) -> std::io::Result<Secret> {
    let text = std::fs::read_to_string(control_token_path(config_dir))?;
    Ok(Secret::new(text.trim().to_owned()))
}

/// `<config_dir>/control-token`.
pub fn control_token_path(config_dir: &Path) -> PathBuf {
    config_dir.join(CONTROL_TOKEN_FILE)
}

/// `http://127.0.0.1:<port>/auth?ticket=…`: opening it signs a browser in.
pub fn ticket_url(addr: std::net::SocketAddr, ticket: &Secret) -> String {
    // Tickets are URL-safe base64: no escaping needed.
    format!("http://{addr}/auth?ticket={}", ticket.expose())
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
    tickets: Mutex<HashMap<[u8; 32], Grant>>,
    sessions: Mutex<HashMap<[u8; 32], Grant>>,
}

/// A ticket or session: until when, and for which face.
#[derive(Debug, Clone, Copy)]
struct Grant {
    expires: Instant,
    face: Face,
}

/// A dashboard session as the server names it: which face it was made for
/// and a short id (the first bytes of the session's digest, not the secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTag {
    pub face: Face,
    pub id: [u8; 4],
}

impl SessionTag {
    /// `1a2b3c4d`.
    pub fn short_id(&self) -> String {
        self.id.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// How a request proved itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// `Authorization: Bearer <control token>`: the CLI or the tray.
    Bearer,
    /// A dashboard session made from a one-time ticket: a browser or the tray's window.
    Browser(SessionTag),
}

impl Caller {
    /// Who is answering, for the record: a session is named by the server,
    /// a control-token holder by its own (claimed) word.
    pub fn answered_by(&self, claim: Option<FaceClaim>) -> AnsweredBy {
        match self {
            Caller::Bearer => AnsweredBy::control_token(claim),
            Caller::Browser(tag) => AnsweredBy::session(tag.face, tag.short_id()),
        }
    }
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

    /// A single-use ticket for a browser, valid for [`TICKET_LIFETIME`].
    pub fn issue_ticket(&self) -> Secret {
        self.issue_ticket_for(Face::Web)
    }

    /// A single-use ticket whose session answers as `face` (the tray's
    /// window gets [`Face::Tray`]).
    pub fn issue_ticket_for(&self, face: Face) -> Secret {
        let ticket = random_value("");
        let now = Instant::now();
        let mut tickets = lock(&self.inner.tickets);
        insert_bounded(
            &mut tickets,
            digest(ticket.expose()),
            Grant {
                expires: now + TICKET_LIFETIME,
                face,
            },
            MAX_TICKETS,
        );
        ticket
    }

    /// Spends a ticket: the session credential, or `None` when the ticket is
    /// unknown, used or expired.
    pub fn redeem_ticket(&self, ticket: &str) -> Option<Secret> {
        let now = Instant::now();
        let grant = lock(&self.inner.tickets)
            .remove(&digest(ticket))
            .filter(|g| g.expires > now)?;
        let session = random_value("");
        insert_bounded(
            &mut lock(&self.inner.sessions),
            digest(session.expose()),
            Grant {
                expires: now + SESSION_LIFETIME,
                face: grant.face,
            },
            MAX_SESSIONS,
        );
        Some(session)
    }

    pub fn is_session(&self, value: &str) -> bool {
        self.session(value).is_some()
    }

    /// The live session `value` names, if any.
    pub fn session(&self, value: &str) -> Option<SessionTag> {
        let key = digest(value);
        let grant = *lock(&self.inner.sessions).get(&key)?;
        (grant.expires > Instant::now()).then(|| SessionTag {
            face: grant.face,
            id: [key[0], key[1], key[2], key[3]],
        })
    }

    /// Whether `ticket` could be redeemed now (it is not spent by asking).
    pub fn is_ticket(&self, ticket: &str) -> bool {
        lock(&self.inner.tickets)
            .get(&digest(ticket))
            .is_some_and(|g| g.expires > Instant::now())
    }

    /// Who sent these headers, if anyone we know: the bearer is the control
    /// token or a dashboard session. Cookies are not looked at.
    pub fn caller(&self, headers: &http::HeaderMap) -> Option<Caller> {
        let token = bearer(headers)?;
        if self.is_control_token(token) {
            return Some(Caller::Bearer);
        }
        self.session(token).map(Caller::Browser)
    }
}

/// Inserts, first dropping expired entries and then the oldest beyond `max`.
fn insert_bounded(map: &mut HashMap<[u8; 32], Grant>, key: [u8; 32], grant: Grant, max: usize) {
    let now = Instant::now();
    map.retain(|_, g| g.expires > now);
    if map.len() >= max
        && let Some(oldest) = map.iter().min_by_key(|(_, g)| g.expires).map(|(k, _)| *k)
    {
        map.remove(&oldest);
    }
    map.insert(key, grant);
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
    fn sessions_authenticate_as_bearer_and_cookies_do_not() {
        let access = Access::with_token(&Secret::new("cbc_x"), None);
        let ticket = access.issue_ticket_for(Face::Tray);
        assert!(
            access.is_ticket(ticket.expose()),
            "asking does not spend it"
        );
        let session = access.redeem_ticket(ticket.expose()).expect("first use");
        assert!(!access.is_ticket(ticket.expose()));
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            format!("{SESSION_COOKIE}={}", session.expose())
                .parse()
                .unwrap(),
        );
        assert_eq!(access.caller(&h), None, "a cookie is no credential");
        h.insert(
            http::header::AUTHORIZATION,
            format!("Bearer {}", session.expose()).parse().unwrap(),
        );
        let Some(Caller::Browser(tag)) = access.caller(&h) else {
            panic!("the session as a bearer is a dashboard caller")
        };
        assert_eq!(tag.face, Face::Tray);
        assert_eq!(tag.short_id().len(), 8);
        assert!(!session.expose().contains(&tag.short_id()));
        h.insert(http::header::AUTHORIZATION, "Bearer cbc_x".parse().unwrap());
        assert_eq!(access.caller(&h), Some(Caller::Bearer));
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
