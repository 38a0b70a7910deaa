//! The daemon's listeners: loopback TCP, whose connections are checked to
//! come from this user's processes (see [`super::peer`]), and, where the
//! user has a runtime folder, a Unix socket in it that only the user can
//! reach (folder 0700, socket 0600, peer credentials checked too).

#[cfg(unix)]
use std::path::{Path, PathBuf};
use std::{io, net::SocketAddr};

use axum::serve::Listener;
#[cfg(unix)]
use tokio::net::{UnixListener, UnixStream};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::mpsc,
};
use tokio_util::task::AbortOnDropHandle;

use super::peer;

/// How many checked connections may wait for the server to take them.
const ACCEPTED_BACKLOG: usize = 64;

/// Loopback TCP whose connections reach the server only once their peer is
/// known to be this user. Peers are looked up concurrently, off the async
/// threads (reading the kernel's tables blocks), so one slow lookup does
/// not hold up the next connection.
#[derive(Debug)]
pub(crate) struct SameUserTcp {
    local_addr: SocketAddr,
    accepted: mpsc::Receiver<(TcpStream, SocketAddr)>,
    _acceptor: AbortOnDropHandle<()>,
}

impl SameUserTcp {
    pub(crate) fn new(listener: TcpListener) -> io::Result<Self> {
        let local_addr = listener.local_addr()?;
        let (tx, accepted) = mpsc::channel(ACCEPTED_BACKLOG);
        let acceptor = tokio::spawn(accept_checked(listener, local_addr, tx));
        Ok(Self {
            local_addr,
            accepted,
            _acceptor: AbortOnDropHandle::new(acceptor),
        })
    }
}

async fn accept_checked(
    mut listener: TcpListener,
    local: SocketAddr,
    tx: mpsc::Sender<(TcpStream, SocketAddr)>,
) {
    loop {
        // axum's accept retries transient errors (too many open files) itself.
        let (stream, peer) = Listener::accept(&mut listener).await;
        let tx = tx.clone();
        tokio::spawn(async move {
            let verdict = tokio::task::spawn_blocking(move || peer::check(local, peer))
                .await
                .unwrap_or(peer::Verdict::Unknown);
            if !verdict.allowed() {
                // Closing is the answer: a process of another user gets no
                // HTTP response it could learn anything from.
                tracing::warn!(%peer, ?verdict, "refused a connection from another user's process");
                return;
            }
            // Small SSE writes must not wait for the agent's delayed ACK
            // (Nagle): with pooled connections that costs ~40 ms a request.
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!("cannot set TCP_NODELAY: {e}");
            }
            let _ = tx.send((stream, peer)).await;
        });
    }
}

impl Listener for SameUserTcp {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(connection) => connection,
            // The acceptor never ends while we hold its handle.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

/// The daemon's Unix socket; removed when dropped if it is still the one
/// this daemon bound.
#[cfg(unix)]
#[derive(Debug)]
pub(crate) struct SameUserUnix {
    listener: UnixListener,
    path: PathBuf,
    /// (device, inode) of the socket file this daemon created.
    identity: Option<(u64, u64)>,
}

#[cfg(unix)]
impl SameUserUnix {
    /// Binds `path` (its folder made 0700, the socket 0600). A socket file
    /// left by a daemon that died is replaced: the caller holds the TCP
    /// port, which only one daemon can, so no live daemon owns it.
    pub(crate) fn bind(path: &Path) -> io::Result<Self> {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        // An existing folder may be looser than we would have made it.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        if let Err(e) = std::fs::remove_file(path)
            && e.kind() != io::ErrorKind::NotFound
        {
            return Err(e);
        }
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        let identity = std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
        Ok(Self {
            listener,
            path: path.to_owned(),
            identity,
        })
    }
}

#[cfg(unix)]
impl SameUserUnix {
    pub(crate) fn path(&self) -> PathBuf {
        self.path.clone()
    }
}

#[cfg(unix)]
impl Drop for SameUserUnix {
    fn drop(&mut self) {
        use std::os::unix::fs::MetadataExt;
        // A daemon that started on the same port since must keep its socket.
        let still_ours = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| Some((m.dev(), m.ino())) == self.identity);
        if still_ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(unix)]
impl Listener for SameUserUnix {
    type Io = UnixStream;
    type Addr = tokio::net::unix::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let our_uid = rustix::process::geteuid().as_raw();
        loop {
            let (stream, addr) = Listener::accept(&mut self.listener).await;
            // The folder already keeps others out; the kernel's word on the
            // peer costs one system call and holds even if it did not.
            match stream.peer_cred() {
                Ok(cred) if cred.uid() == our_uid => return (stream, addr),
                Ok(cred) => tracing::warn!(
                    uid = cred.uid(),
                    "refused a socket connection from another user's process"
                ),
                Err(e) => tracing::warn!("refused a socket connection of unknown origin: {e}"),
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}
