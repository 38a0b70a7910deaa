//! The fast way to find a TCP socket's owner on Linux: ask the kernel for
//! that one socket over netlink (`sock_diag`, what `ss` uses). Reading
//! `/proc/net/tcp` walks the kernel's whole connection table, which takes
//! milliseconds on machines with a large one; this is one round trip.
//! Callers fall back to `/proc` when netlink is not available (a kernel
//! without `inet_diag`, a sandbox that forbids it).

use std::{io, net::SocketAddr, time::Duration};

use rustix::net::{
    AddressFamily, RecvFlags, SendFlags, SocketType, netlink, recv, sendto, socket,
    sockopt::{Timeout, set_socket_timeout},
};

/// `SOCK_DIAG_BY_FAMILY` (linux/sock_diag.h).
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `NLMSG_ERROR` (linux/netlink.h).
const NLMSG_ERROR: u16 = 2;
/// `NLM_F_REQUEST`.
const NLM_F_REQUEST: u16 = 1;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const IPPROTO_TCP: u8 = 6;
/// `sizeof(struct nlmsghdr)`.
const HEADER: usize = 16;
/// `sizeof(struct inet_diag_req_v2)`.
const REQUEST: usize = 56;
/// Offset of `idiag_uid` in `struct inet_diag_msg`.
const UID_OFFSET: usize = 64;
/// How long the kernel may take to answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(1);

/// The owner of the socket whose local end is `local` and remote end is
/// `remote`; `Ok(None)` when the kernel has no such socket.
pub fn owner_of(local: SocketAddr, remote: SocketAddr) -> io::Result<Option<u32>> {
    let fd = socket(
        AddressFamily::NETLINK,
        SocketType::DGRAM,
        Some(netlink::SOCK_DIAG),
    )?;
    set_socket_timeout(&fd, Timeout::Recv, Some(ANSWER_TIMEOUT))?;
    sendto(
        &fd,
        &request(local, remote),
        SendFlags::empty(),
        &netlink::SocketAddrNetlink::new(0, 0),
    )?;
    let mut answer = [0u8; 512];
    let (_, len) = recv(&fd, &mut answer[..], RecvFlags::empty())?;
    parse_answer(&answer[..len.min(answer.len())])
}

/// A `SOCK_DIAG_BY_FAMILY` request for exactly one TCP socket.
pub fn request(local: SocketAddr, remote: SocketAddr) -> Vec<u8> {
    let mut m = Vec::with_capacity(HEADER + REQUEST);
    m.extend_from_slice(&((HEADER + REQUEST) as u32).to_ne_bytes());
    m.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    m.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    m.extend_from_slice(&1u32.to_ne_bytes()); // sequence number
    m.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
    let family = if local.is_ipv4() { AF_INET } else { AF_INET6 };
    m.extend_from_slice(&[family, IPPROTO_TCP, 0, 0]);
    m.extend_from_slice(&u32::MAX.to_ne_bytes()); // every state
    // struct inet_diag_sockid: ports and addresses in network byte order.
    m.extend_from_slice(&local.port().to_be_bytes());
    m.extend_from_slice(&remote.port().to_be_bytes());
    m.extend_from_slice(&address(local));
    m.extend_from_slice(&address(remote));
    m.extend_from_slice(&0u32.to_ne_bytes()); // any interface
    // INET_DIAG_NOCOOKIE: look the socket up by its addresses alone.
    m.extend_from_slice(&u32::MAX.to_ne_bytes());
    m.extend_from_slice(&u32::MAX.to_ne_bytes());
    m
}

fn address(addr: SocketAddr) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    match addr {
        SocketAddr::V4(v4) => bytes[..4].copy_from_slice(&v4.ip().octets()),
        SocketAddr::V6(v6) => bytes = v6.ip().octets(),
    }
    bytes
}

/// The uid in the kernel's answer; `None` for "no such socket".
pub fn parse_answer(answer: &[u8]) -> io::Result<Option<u32>> {
    let u16_at = |at: usize| {
        answer
            .get(at..at + 2)
            .map(|b| u16::from_ne_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| {
        answer
            .get(at..at + 4)
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    let invalid = || io::Error::new(io::ErrorKind::InvalidData, "a malformed sock_diag answer");
    match u16_at(4).ok_or_else(invalid)? {
        SOCK_DIAG_BY_FAMILY => u32_at(HEADER + UID_OFFSET).map(Some).ok_or_else(invalid),
        NLMSG_ERROR => {
            // struct nlmsgerr: a negative errno.
            let errno = u32_at(HEADER).ok_or_else(invalid)? as i32;
            if -errno == 2 {
                // ENOENT: the kernel knows no such socket.
                Ok(None)
            } else {
                Err(io::Error::from_raw_os_error(-errno))
            }
        }
        other => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("an unexpected netlink message type {other}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_names_one_ipv4_socket() {
        let m = request(
            "127.0.0.1:40000".parse().unwrap(),
            "127.0.0.1:7331".parse().unwrap(),
        );
        assert_eq!(m.len(), 72);
        assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()), 72);
        assert_eq!(m[16], AF_INET);
        assert_eq!(m[17], IPPROTO_TCP);
        assert_eq!(&m[24..26], &40000u16.to_be_bytes());
        assert_eq!(&m[26..28], &7331u16.to_be_bytes());
        assert_eq!(&m[28..32], &[127, 0, 0, 1]);
        assert_eq!(&m[44..48], &[127, 0, 0, 1]);
    }

    #[test]
    fn answers_parse() {
        let mut found = vec![0u8; HEADER + UID_OFFSET + 8];
        found[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        found[HEADER + UID_OFFSET..HEADER + UID_OFFSET + 4].copy_from_slice(&1001u32.to_ne_bytes());
        assert_eq!(parse_answer(&found).unwrap(), Some(1001));

        let mut missing = vec![0u8; HEADER + 4];
        missing[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        missing[HEADER..HEADER + 4].copy_from_slice(&(-2i32).to_ne_bytes());
        assert_eq!(parse_answer(&missing).unwrap(), None);

        missing[HEADER..HEADER + 4].copy_from_slice(&(-13i32).to_ne_bytes());
        assert!(
            parse_answer(&missing).is_err(),
            "EACCES is an error, not 'gone'"
        );
        assert!(parse_answer(&found[..20]).is_err(), "truncated");
    }
}
