//! Who is on the other end of a loopback TCP connection.
//!
//! A client token proves an agent was configured, not who presents it: a
//! token copied out of a config file works from any account. On Linux the
//! daemon therefore refuses a TCP connection unless the process that opened
//! it runs as the same user. The kernel knows every TCP socket's owner: the
//! client's socket is the one whose local address is the connection's
//! remote end and whose remote address is our end. It is asked for that one
//! socket over netlink (`sock_diag`), or, where that is not available, the
//! socket is looked up in `/proc/net/tcp` and `/proc/net/tcp6`. The lookup
//! runs once per accepted connection, not per request.
//!
//! Elsewhere (macOS, Windows) the kernel offers no such table without
//! privileges, so connections are not checked there: the client token and
//! the Host/Origin checks are what protect the daemon.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

#[cfg(target_os = "linux")]
mod sock_diag;

/// What to do with an accepted connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The peer runs as our user (or the platform cannot tell).
    Allow,
    /// The peer runs as another user.
    OtherUser { uid: u32 },
    /// The peer's socket was not found (it closed already, or is in another
    /// network namespace): nothing proves who it is.
    Unknown,
}

impl Verdict {
    pub fn allowed(self) -> bool {
        self == Verdict::Allow
    }
}

/// Decides on the connection from `peer` to our `local` address, given the
/// kernel's socket tables (`/proc/net/tcp` and `/proc/net/tcp6` text) and
/// our uid.
pub fn decide(tables: &[&str], local: SocketAddr, peer: SocketAddr, our_uid: u32) -> Verdict {
    match tables.iter().find_map(|t| owner_of(t, peer, local)) {
        Some(uid) if uid == our_uid => Verdict::Allow,
        Some(uid) => Verdict::OtherUser { uid },
        None => Verdict::Unknown,
    }
}

/// The uid of the socket whose local end is `local` and remote end is
/// `remote`, from one `/proc/net/tcp{,6}` table.
pub fn owner_of(table: &str, local: SocketAddr, remote: SocketAddr) -> Option<u32> {
    table.lines().skip(1).find_map(|line| {
        let mut fields = line.split_whitespace();
        let _slot = fields.next()?;
        let row_local = parse_endpoint(fields.next()?)?;
        let row_remote = parse_endpoint(fields.next()?)?;
        // st, tx:rx queues, tr:when, retransmits, then the uid.
        let uid = fields.nth(4)?.parse().ok()?;
        (same(row_local, local) && same(row_remote, remote)).then_some(uid)
    })
}

/// Equal endpoints, an IPv4 address matching its IPv4-mapped IPv6 form (a
/// dual-stack client socket connected to 127.0.0.1 lists it that way).
fn same(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && canonical(a.ip()) == canonical(b.ip())
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// `0100007F:1CA3` (IPv4) or 32 hex digits and a port (IPv6). The kernel
/// prints each 32-bit word of the address as a number in host byte order,
/// so the word's in-memory bytes are its native-endian bytes; the port is a
/// plain number.
pub fn parse_endpoint(text: &str) -> Option<SocketAddr> {
    let (address, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match address.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(address)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_exact_mut(4).enumerate() {
                chunk.copy_from_slice(&word(address.get(i * 8..i * 8 + 8)?)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

fn word(hex: &str) -> Option<[u8; 4]> {
    u32::from_str_radix(hex, 16).ok().map(u32::to_ne_bytes)
}

/// Looks the peer of an accepted connection up in the kernel.
/// Blocking (a netlink round trip, or reading `/proc`): run it off the
/// async threads.
#[cfg(target_os = "linux")]
pub fn check(local: SocketAddr, peer: SocketAddr) -> Verdict {
    let our_uid = rustix::process::geteuid().as_raw();
    match sock_diag::owner_of(peer, local) {
        Ok(Some(uid)) if uid == our_uid => return Verdict::Allow,
        Ok(Some(uid)) => return Verdict::OtherUser { uid },
        // Gone already, or listed in a form the lookup missed: the tables
        // below say which.
        Ok(None) => {}
        Err(e) => tracing::debug!("cannot ask the kernel over netlink ({e}); reading /proc"),
    }
    from_proc(local, peer, our_uid)
}

/// [`check`] through `/proc/net/tcp{,6}`.
#[cfg(target_os = "linux")]
fn from_proc(local: SocketAddr, peer: SocketAddr, our_uid: u32) -> Verdict {
    // Most clients use IPv4 sockets for 127.0.0.1: the IPv6 table is read
    // only when the peer is not in the IPv4 one.
    let mut tables = Vec::with_capacity(2);
    for path in ["/proc/net/tcp", "/proc/net/tcp6"] {
        match std::fs::read_to_string(path) {
            Ok(table) => tables.push(table),
            Err(e) => tracing::debug!("cannot read {path}: {e}"),
        }
        let texts: Vec<&str> = tables.iter().map(String::as_str).collect();
        let verdict = decide(&texts, local, peer, our_uid);
        if verdict != Verdict::Unknown {
            return verdict;
        }
    }
    Verdict::Unknown
}

/// Not Linux: the platform has no unprivileged socket-owner table; the
/// connection is let through (see the module's documentation).
#[cfg(not(target_os = "linux"))]
pub fn check(_local: SocketAddr, _peer: SocketAddr) -> Verdict {
    Verdict::Allow
}

#[cfg(test)]
mod tests {
    use super::*;

    // What `/proc/net/tcp` shows for a daemon (uid 1000) on 127.0.0.1:7331
    // with two clients: one of uid 1000 from port 40000, one of uid 1001
    // from port 40002, and the daemon's side of both connections.
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1CA3 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 41001 1 0000000000000000 100 0 0 10 0
   1: 0100007F:9C40 0100007F:1CA3 01 00000000:00000000 00:00000000 00000000  1000        0 41002 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:1CA3 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 41003 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:9C42 0100007F:1CA3 01 00000000:00000000 00:00000000 00000000  1001        0 41004 1 0000000000000000 20 4 30 10 -1
   4: 0100007F:1CA3 0100007F:9C42 01 00000000:00000000 00:00000000 00000000  1000        0 41005 1 0000000000000000 20 4 30 10 -1
";
    // A dual-stack client (uid 1002) connected to 127.0.0.1:7331 from port 40004.
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0000000000000000FFFF00000100007F:9C44 0000000000000000FFFF00000100007F:1CA3 01 00000000:00000000 00:00000000 00000000  1002        0 41006 1 0000000000000000 20 4 30 10 -1
   1: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 41007 1 0000000000000000 100 0 0 10 0
";

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn endpoints_parse_as_the_kernel_prints_them() {
        assert_eq!(
            parse_endpoint("0100007F:1CA3"),
            Some(addr("127.0.0.1:7331"))
        );
        assert_eq!(
            parse_endpoint("0000000000000000FFFF00000100007F:9C44"),
            Some(addr("[::ffff:127.0.0.1]:40004"))
        );
        assert_eq!(
            parse_endpoint("00000000000000000000000001000000:1F90"),
            Some(addr("[::1]:8080"))
        );
        assert_eq!(parse_endpoint("0100007F"), None);
        assert_eq!(parse_endpoint("0100007F:XYZ"), None);
        assert_eq!(parse_endpoint("01007F:1CA3"), None);
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn the_peer_row_decides_not_ours() {
        let daemon = addr("127.0.0.1:7331");
        let tables = [TCP, TCP6];
        assert_eq!(
            decide(&tables, daemon, addr("127.0.0.1:40000"), 1000),
            Verdict::Allow
        );
        assert_eq!(
            decide(&tables, daemon, addr("127.0.0.1:40002"), 1000),
            Verdict::OtherUser { uid: 1001 },
            "the daemon's own side of the connection (uid 1000) must not count"
        );
        assert_eq!(
            decide(&tables, daemon, addr("127.0.0.1:40004"), 1000),
            Verdict::OtherUser { uid: 1002 },
            "a dual-stack client is found in tcp6"
        );
        assert_eq!(
            decide(&tables, daemon, addr("127.0.0.1:40006"), 1000),
            Verdict::Unknown,
            "a peer that is gone proves nothing"
        );
        assert!(!Verdict::Unknown.allowed());
        assert_eq!(
            decide(&[], daemon, addr("127.0.0.1:40000"), 1000),
            Verdict::Unknown
        );
    }

    #[test]
    fn garbage_lines_are_skipped() {
        let table = "header\nnot a row\n 0: zz:zz yy:yy 01 a b c 1000\n";
        assert_eq!(
            owner_of(table, addr("127.0.0.1:1"), addr("127.0.0.1:2")),
            None
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_connection_of_our_own_is_allowed_by_either_lookup() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, peer) = listener.accept().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        let local = accepted.local_addr().unwrap();
        let our_uid = rustix::process::geteuid().as_raw();
        assert_eq!(check(local, peer), Verdict::Allow);
        assert_eq!(from_proc(local, peer, our_uid), Verdict::Allow);
        assert_eq!(
            from_proc(local, peer, our_uid + 1),
            Verdict::OtherUser { uid: our_uid }
        );
        match sock_diag::owner_of(peer, local) {
            Ok(owner) => assert_eq!(owner, Some(our_uid)),
            // A kernel or sandbox without sock_diag: `/proc` is used.
            Err(e) => eprintln!("sock_diag unavailable here: {e}"),
        }
        // No client has this address.
        let nobody = addr("127.0.0.1:1");
        assert_eq!(check(local, nobody), Verdict::Unknown);
    }
}
