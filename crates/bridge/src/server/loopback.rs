//! HTTP clients for the daemon on this machine (the CLI's control client,
//! `status`, the stdio shim).
//!
//! They send the control token or an agent's client token, so:
//! - they never go through a proxy (`http_proxy` and friends would hand the
//!   token to the proxy, even for 127.0.0.1) and never follow a redirect;
//! - over TCP, every connection must first prove it reaches the user's own
//!   daemon (see [`super::proof`]) before reqwest writes a byte of a request
//!   on it, so nothing else that took the port gets a token;
//! - over the daemon's Unix socket (where there is a runtime folder), the
//!   socket must be owned by the user.
//!
//! They load no certificate store: the daemon is plain HTTP on loopback, and
//! reading every system root costs the shim time and memory for nothing.

use std::{
    path::{Path, PathBuf},
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::proof::{CHALLENGE_HEADER, NONCE_LEN, PROOF_HEADER, PROOF_PATH, ProofKey};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long proving one connection may take.
const PROOF_TIMEOUT: Duration = Duration::from_secs(5);
/// The most a proof answer's head may take.
const MAX_PROOF_RESPONSE: usize = 8 * 1024;

/// Where the daemon is and how to trust it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonAddress {
    /// Its port on 127.0.0.1 (also the `Host` of requests over the socket).
    pub port: u16,
    /// Its Unix socket, when the client should use it instead of TCP.
    pub socket: Option<PathBuf>,
    /// The daemon's proof key file, for TCP connections.
    pub key_file: PathBuf,
}

impl DaemonAddress {
    /// The daemon on `port` of this user's default folders: its socket
    /// when there is a runtime folder and a socket owned by the user in it,
    /// else TCP with the proof.
    pub fn for_port(port: u16) -> Self {
        let socket = crate::paths::daemon_socket(port).filter(|s| owned_socket(s));
        Self {
            port,
            socket,
            key_file: ProofKey::path_in(&crate::paths::config_dir()),
        }
    }

    /// `http://127.0.0.1:<port>`: the base of every URL, over either path.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// True when `path` is a Unix socket owned by this user: only the user's
/// own processes (or root) can have bound it.
pub fn owned_socket(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        std::fs::symlink_metadata(path).is_ok_and(|m| {
            m.file_type().is_socket() && m.uid() == rustix::process::geteuid().as_raw()
        })
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// A client for the daemon: no proxy, no redirects, no certificate store;
/// the daemon's socket or proven TCP connections. `timeout` bounds each
/// whole request. Fails only when the TLS backend cannot start.
pub fn client(
    daemon: &DaemonAddress,
    timeout: Option<Duration>,
) -> Result<reqwest::Client, reqwest::Error> {
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .redirect(crate::relay::http::no_redirects())
        .tls_certs_only(std::iter::empty())
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("coder-bridge/", env!("CARGO_PKG_VERSION")));
    if let Some(timeout) = timeout {
        builder = builder.timeout(timeout);
    }
    builder = match &daemon.socket {
        #[cfg(unix)]
        Some(socket) => builder.unix_socket(socket.as_path()),
        _ => builder.connector_layer(ProveDaemon {
            port: daemon.port,
            key_file: daemon.key_file.clone(),
        }),
    };
    builder.build()
}

/// What answers at the daemon's address.
#[derive(Debug)]
pub enum Probe {
    /// The user's daemon, with its health document.
    Running(serde_json::Value),
    /// Nothing answers (or nothing that passes for a daemon's health check).
    NotRunning,
    /// Something answers on the port, but it is not the user's daemon.
    Unproven(ProofFailed),
}

/// The daemon found for a port, the client that reached it, and what it said.
#[derive(Debug)]
pub struct Located {
    pub daemon: DaemonAddress,
    pub client: reqwest::Client,
    pub probe: Probe,
}

/// Looks for the daemon on `port`: over its socket when there is one of
/// the user's, else (or when that does not answer) over TCP with the proof.
/// `timeout` bounds each request of the returned client.
pub async fn locate(port: u16, timeout: Option<Duration>) -> Result<Located, reqwest::Error> {
    let mut daemon = DaemonAddress::for_port(port);
    if daemon.socket.is_some() {
        let client = client(&daemon, timeout)?;
        let probe = probe(&client, &daemon).await;
        if matches!(probe, Probe::Running(_)) {
            return Ok(Located {
                daemon,
                client,
                probe,
            });
        }
        // A socket left by a daemon that died, or a daemon started
        // without the runtime folder: try its port.
        daemon.socket = None;
    }
    let client = client(&daemon, timeout)?;
    let probe = probe(&client, &daemon).await;
    Ok(Located {
        daemon,
        client,
        probe,
    })
}

/// How long a health probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_millis(800);

/// Asks `/healthz` through `client`.
pub async fn probe(client: &reqwest::Client, daemon: &DaemonAddress) -> Probe {
    let request = client
        .get(format!("{}/healthz", daemon.base_url()))
        .timeout(PROBE_TIMEOUT)
        .send();
    let response = match request.await {
        Ok(response) => response,
        Err(e) => {
            return match proof_failure(&e) {
                Some(failed) => Probe::Unproven(ProofFailed {
                    port: failed.port,
                    reason: failed.reason.clone(),
                }),
                None => Probe::NotRunning,
            };
        }
    };
    if !response.status().is_success() {
        return Probe::NotRunning;
    }
    match response.json::<serde_json::Value>().await {
        Ok(health) if health.get("status").and_then(|s| s.as_str()) == Some("ok") => {
            Probe::Running(health)
        }
        _ => Probe::NotRunning,
    }
}

/// Why a connection to the daemon's port was not trusted.
#[derive(Debug, thiserror::Error)]
#[error(
    "the program listening on 127.0.0.1:{port} did not prove it is your Coder Bridge daemon ({reason}); nothing was sent to it"
)]
pub struct ProofFailed {
    pub port: u16,
    pub reason: String,
}

/// The `ProofFailed` in a reqwest error's chain, if that is why it failed.
pub fn proof_failure(error: &reqwest::Error) -> Option<&ProofFailed> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(failed) = e.downcast_ref::<ProofFailed>() {
            return Some(failed);
        }
        source = e.source();
    }
    None
}

/// A connector layer: every new TCP connection proves the daemon first.
#[derive(Debug, Clone)]
struct ProveDaemon {
    port: u16,
    key_file: PathBuf,
}

impl<S> tower::Layer<S> for ProveDaemon {
    type Service = Proved<S>;

    fn layer(&self, inner: S) -> Proved<S> {
        Proved {
            inner,
            port: self.port,
            key_file: self.key_file.clone(),
        }
    }
}

#[derive(Debug, Clone)]
struct Proved<S> {
    inner: S,
    port: u16,
    key_file: PathBuf,
}

type Connecting<C> = Pin<Box<dyn Future<Output = Result<C, BoxError>> + Send>>;

impl<S, R> tower::Service<R> for Proved<S>
where
    S: tower::Service<R, Error = BoxError>,
    S::Future: Send + 'static,
    S::Response: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Connecting<S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let connecting = self.inner.call(request);
        let (port, key_file) = (self.port, self.key_file.clone());
        Box::pin(async move {
            let conn = connecting.await?;
            let failed = |reason: String| Box::new(ProofFailed { port, reason }) as BoxError;
            match tokio::time::timeout(PROOF_TIMEOUT, prove(conn, port, &key_file)).await {
                Ok(Ok(conn)) => Ok(conn),
                Ok(Err(reason)) => Err(failed(reason)),
                Err(_) => Err(failed("no answer to the challenge".into())),
            }
        })
    }
}

/// Challenges the daemon on a fresh connection and hands the connection
/// back only if it answered with the key's proof.
async fn prove<C>(conn: C, port: u16, key_file: &Path) -> Result<C, String>
where
    C: hyper::rt::Read + hyper::rt::Write + Unpin,
{
    let nonce: [u8; NONCE_LEN] = rand::random();
    let mut io = TokioIo::new(conn);
    let request = format!(
        "GET {PROOF_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{CHALLENGE_HEADER}: {}\r\n\r\n",
        URL_SAFE_NO_PAD.encode(nonce)
    );
    let io_error = |e: std::io::Error| format!("the connection failed: {e}");
    io.write_all(request.as_bytes()).await.map_err(io_error)?;
    io.flush().await.map_err(io_error)?;
    let head = read_head(&mut io).await?;
    let proof = proof_from(&head)?;
    // Read only now: a daemon that just started writes its key before it
    // answers, but its port accepts connections a moment earlier.
    let key = ProofKey::read(key_file)
        .map_err(|e| format!("cannot read the daemon key {}: {e}", key_file.display()))?;
    if !key.verify(port, &nonce, &proof) {
        return Err("its answer to the challenge is wrong".into());
    }
    Ok(io.into_inner())
}

/// Reads one response head (through its blank line) and nothing more: the
/// proof answer has no body, and the next bytes belong to reqwest.
async fn read_head<R: tokio::io::AsyncRead + Unpin>(io: &mut R) -> Result<Vec<u8>, String> {
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_PROOF_RESPONSE {
            return Err("its answer is too long".into());
        }
        match io.read(&mut byte).await {
            Ok(0) => return Err("it closed the connection".into()),
            Ok(_) => head.push(byte[0]),
            Err(e) => return Err(format!("the connection failed: {e}")),
        }
    }
    Ok(head)
}

/// The proof in a `204 No Content` answer's head.
fn proof_from(head: &[u8]) -> Result<Vec<u8>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err("it does not speak HTTP".into()),
    }
    if response.code != Some(204) {
        return Err(format!(
            "it answered the challenge with HTTP {}",
            response.code.unwrap_or_default()
        ));
    }
    let value = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(PROOF_HEADER))
        .map(|h| h.value)
        .ok_or("its answer carries no proof")?;
    URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| "its proof is not base64url".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_is_read_from_a_204_head_only() {
        let ok = b"HTTP/1.1 204 No Content\r\ncoder-bridge-proof: AAEC\r\n\r\n";
        assert_eq!(proof_from(ok).unwrap(), vec![0, 1, 2]);
        let wrong_status = b"HTTP/1.1 200 OK\r\ncoder-bridge-proof: AAEC\r\n\r\n";
        assert!(proof_from(wrong_status).is_err());
        let missing = b"HTTP/1.1 204 No Content\r\nx: y\r\n\r\n";
        assert!(proof_from(missing).is_err());
        assert!(proof_from(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
    }
}
