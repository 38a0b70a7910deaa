//! The daemon proof: how a client on this machine tells the user's own
//! daemon from another program on its port before it sends anything.
//!
//! The daemon makes a fresh random key each time it starts and writes it to
//! `<config dir>/daemon.key` (0600 in the 0700 config folder: only the user
//! can read it) before it answers any request. A client that reaches the
//! daemon over loopback TCP opens every connection with a random nonce
//! (`GET /proof`, header `Coder-Bridge-Challenge`); the daemon answers with
//! `HMAC-SHA256(key, context | port | nonce)` in `Coder-Bridge-Proof`. A
//! program of another user that took the port while the daemon was down
//! cannot read the key, so it cannot answer, and the client sends it no token
//! and no request (see `loopback::prove`). The port is part of the message,
//! so a daemon on another port cannot be made to answer for this one.
//!
//! A Unix-socket connection needs no proof: the socket lives in the user's
//! 0700 runtime folder and the client checks that the user owns it.

use std::{
    io,
    path::{Path, PathBuf},
    sync::Arc,
};

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use sha2_hmac::Sha256;

/// The key's file name in the config directory.
pub const KEY_FILE: &str = "daemon.key";
/// The route that answers a challenge.
pub const PROOF_PATH: &str = "/proof";
/// Request header: the client's nonce, base64url.
pub const CHALLENGE_HEADER: &str = "coder-bridge-challenge";
/// Response header: the daemon's HMAC over the nonce, base64url.
pub const PROOF_HEADER: &str = "coder-bridge-proof";
/// Bytes in a nonce and in the key.
pub const NONCE_LEN: usize = 32;
/// Binds the MAC to this use, so the key cannot be used to answer anything else.
const CONTEXT: &[u8] = b"coder-bridge daemon proof v1\n";

/// The daemon's proof key. Its bytes never leave this module.
#[derive(Clone)]
pub struct ProofKey(Arc<[u8; NONCE_LEN]>);

impl std::fmt::Debug for ProofKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProofKey(..)")
    }
}

impl ProofKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self(Arc::new(rand::random()))
    }

    /// `<config_dir>/daemon.key`.
    pub fn path_in(config_dir: &Path) -> PathBuf {
        config_dir.join(KEY_FILE)
    }

    /// Reads the key the running daemon wrote.
    pub fn read(path: &Path) -> io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim())
            .ok()
            .and_then(|b| <[u8; NONCE_LEN]>::try_from(b).ok())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} does not hold a daemon key", path.display()),
                )
            })?;
        Ok(Self(Arc::new(bytes)))
    }

    /// Writes the key for clients to read: 0600, atomically.
    pub fn write(&self, path: &Path) -> io::Result<()> {
        crate::private_files::write(path, URL_SAFE_NO_PAD.encode(*self.0).as_bytes())
    }

    fn mac(&self, port: u16, nonce: &[u8]) -> Hmac<Sha256> {
        // HMAC takes keys of any length: this cannot fail.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0[..])
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(CONTEXT);
        mac.update(port.to_string().as_bytes());
        mac.update(b"\n");
        mac.update(nonce);
        mac
    }

    /// The daemon's answer to `nonce` on `port`.
    pub fn answer(&self, port: u16, nonce: &[u8]) -> Vec<u8> {
        self.mac(port, nonce).finalize().into_bytes().to_vec()
    }

    /// Whether `proof` answers `nonce` on `port` (in constant time).
    pub fn verify(&self, port: u16, nonce: &[u8], proof: &[u8]) -> bool {
        self.mac(port, nonce).verify_slice(proof).is_ok()
    }
}

#[derive(Clone)]
struct Answerer {
    key: ProofKey,
    port: u16,
}

/// `GET /proof`: the daemon's answer to a client's challenge. It needs no
/// token (the client has not trusted us yet) and reveals nothing but a MAC
/// over the client's own nonce.
pub(crate) fn router(key: ProofKey, port: u16) -> Router {
    Router::new()
        .route(PROOF_PATH, get(answer))
        .with_state(Answerer { key, port })
}

async fn answer(State(a): State<Answerer>, headers: HeaderMap) -> Response {
    let nonce = headers
        .get(CHALLENGE_HEADER)
        .and_then(|v| URL_SAFE_NO_PAD.decode(v.as_bytes()).ok())
        .filter(|n| n.len() == NONCE_LEN);
    let Some(nonce) = nonce else {
        return (
            StatusCode::BAD_REQUEST,
            format!("send a {NONCE_LEN}-byte base64url nonce in {CHALLENGE_HEADER}"),
        )
            .into_response();
    };
    let proof = URL_SAFE_NO_PAD.encode(a.key.answer(a.port, &nonce));
    match HeaderValue::from_str(&proof) {
        Ok(value) => (StatusCode::NO_CONTENT, [(PROOF_HEADER, value)]).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_key_answers_for_its_port_and_nonce() {
        let key = ProofKey::generate();
        let nonce = [7u8; NONCE_LEN];
        let proof = key.answer(7331, &nonce);
        assert!(key.verify(7331, &nonce, &proof));
        assert!(!key.verify(7332, &nonce, &proof), "another port");
        assert!(
            !key.verify(7331, &[8u8; NONCE_LEN], &proof),
            "another nonce"
        );
        assert!(
            !ProofKey::generate().verify(7331, &nonce, &proof),
            "another key"
        );
        assert!(!key.verify(7331, &nonce, &proof[..16]), "a truncated proof");
    }

    #[test]
    fn the_key_file_round_trips_privately() {
        let dir = tempfile::tempdir().unwrap();
        let path = ProofKey::path_in(&dir.path().join("cfg"));
        let key = ProofKey::generate();
        key.write(&path).unwrap();
        let read = ProofKey::read(&path).unwrap();
        let nonce = [1u8; NONCE_LEN];
        assert!(read.verify(1, &nonce, &key.answer(1, &nonce)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not a key").unwrap();
        assert!(ProofKey::read(&path).is_err());
    }
}
