//! Who listens on a local TCP port: the control secret goes only to a listener of our own user.
//!
//! A role's control port is free while the role restarts (or if it failed to bind), and any local
//! user may bind it then; a bearer secret sent there would be theirs. So before a control call
//! carries the secret, the caller asks the kernel for the uid of the listener it reached: one exact
//! `sock_diag` lookup over netlink (what `ss` uses), or, where that is unavailable, a scan of
//! `/proc/net/tcp{,6}`.

use std::net::{IpAddr, SocketAddr};

/// The uid of the socket listening on `addr` (or on the wildcard address of its port).
pub fn listener_uid(addr: SocketAddr) -> Option<u32> {
    sock_diag_uid(addr).or_else(|| proc_net_uid(addr))
}

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_ERROR: u16 = 2;
/// "Any socket": the lookup must not check a cookie.
const NO_COOKIE: u32 = !0;

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct NlMsgHdr {
    len: u32,
    kind: u16,
    flags: u16,
    seq: u32,
    pid: u32,
}

/// `struct inet_diag_sockid`: ports and addresses in network byte order.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct SockId {
    sport: u16,
    dport: u16,
    src: [u32; 4],
    dst: [u32; 4],
    interface: u32,
    cookie: [u32; 2],
}

/// `struct inet_diag_req_v2`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct DiagRequest {
    family: u8,
    protocol: u8,
    ext: u8,
    pad: u8,
    states: u32,
    id: SockId,
}

/// `struct inet_diag_msg`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct DiagMessage {
    family: u8,
    state: u8,
    timer: u8,
    retrans: u8,
    id: SockId,
    expires: u32,
    rqueue: u32,
    wqueue: u32,
    uid: u32,
    inode: u32,
}

fn words(ip: IpAddr) -> [u32; 4] {
    match ip {
        IpAddr::V4(v4) => [u32::from_ne_bytes(v4.octets()), 0, 0, 0],
        IpAddr::V6(v6) => {
            let o = v6.octets();
            std::array::from_fn(|i| {
                u32::from_ne_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]])
            })
        }
    }
}

/// One exact lookup: with the remote end left zero, the kernel finds the listener of `addr` (as it
/// would for an incoming SYN) and reports its uid.
///
/// Long because it is one netlink exchange with its `#[repr(C)]` wire structs declared where they
/// are used: build the request, send it, read and check the one answer.
fn sock_diag_uid(addr: SocketAddr) -> Option<u32> {
    #[repr(C)]
    struct Request {
        header: NlMsgHdr,
        body: DiagRequest,
    }
    let family = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    let request = Request {
        header: NlMsgHdr {
            len: std::mem::size_of::<Request>() as u32,
            kind: SOCK_DIAG_BY_FAMILY,
            flags: libc::NLM_F_REQUEST as u16,
            seq: 1,
            pid: 0,
        },
        body: DiagRequest {
            family: family as u8,
            protocol: libc::IPPROTO_TCP as u8,
            states: !0,
            id: SockId {
                sport: addr.port().to_be(),
                src: words(addr.ip()),
                cookie: [NO_COOKIE; 2],
                ..SockId::default()
            },
            ..DiagRequest::default()
        },
    };
    // SAFETY: a netlink socket we own and close; `request` and `answer` are plain C structs that
    // outlive the calls, and the kernel writes at most `answer`'s size.
    unsafe {
        let fd = libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::NETLINK_SOCK_DIAG,
        );
        if fd < 0 {
            return None;
        }
        let fd = <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd);
        let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
        let timeout = libc::timeval {
            tv_sec: 1,
            tv_usec: 0,
        };
        libc::setsockopt(
            raw,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        );
        let sent = libc::send(
            raw,
            (&request as *const Request).cast(),
            std::mem::size_of::<Request>(),
            0,
        );
        if sent < 0 {
            return None;
        }
        let mut answer = [0u64; 64];
        let received = libc::recv(
            raw,
            answer.as_mut_ptr().cast(),
            std::mem::size_of_val(&answer),
            0,
        );
        let header_len = std::mem::size_of::<NlMsgHdr>();
        if received < (header_len + std::mem::size_of::<DiagMessage>()) as isize {
            return None;
        }
        let header: NlMsgHdr = std::ptr::read_unaligned(answer.as_ptr().cast());
        // An error (NLMSG_ERROR: no such socket, no diag module) is no answer.
        if header.kind == NLMSG_ERROR || header.kind != SOCK_DIAG_BY_FAMILY {
            return None;
        }
        let message: DiagMessage =
            std::ptr::read_unaligned(answer.as_ptr().cast::<u8>().add(header_len).cast());
        // A listener is in state LISTEN (10).
        (message.state == 10).then_some(message.uid)
    }
}

/// The same question answered from `/proc/net/tcp` and `tcp6`: the uid of a LISTEN line on the
/// port, bound to the address or to the wildcard.
fn proc_net_uid(addr: SocketAddr) -> Option<u32> {
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().find_map(|path| {
        let text = std::fs::read_to_string(path).ok()?;
        text.lines()
            .skip(1)
            .find_map(|line| listening_uid(line, addr))
    })
}

/// The uid of one `/proc/net/tcp{,6}` line when it is a listener of `addr`.
fn listening_uid(line: &str, addr: SocketAddr) -> Option<u32> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (local, state, uid) = (fields.get(1)?, fields.get(3)?, fields.get(7)?);
    if *state != "0A" {
        return None;
    }
    let (ip_hex, port_hex) = local.split_once(':')?;
    if u16::from_str_radix(port_hex, 16).ok()? != addr.port() {
        return None;
    }
    // The address is the kernel's words printed in host order.
    let mut bytes = Vec::with_capacity(16);
    for i in (0..ip_hex.len()).step_by(8) {
        let word = u32::from_str_radix(ip_hex.get(i..i + 8)?, 16).ok()?;
        bytes.extend_from_slice(&word.to_ne_bytes());
    }
    let ip = match bytes.len() {
        4 => IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?),
        16 => IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?),
        _ => return None,
    };
    let mapped = match (ip, addr.ip()) {
        (IpAddr::V6(v6), IpAddr::V4(v4)) => v6.to_ipv4_mapped() == Some(v4),
        _ => false,
    };
    (ip == addr.ip() || ip.is_unspecified() || mapped)
        .then(|| uid.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_listener_is_ours_by_both_ways() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let uid = crate::net::handoff::own_uid();
        assert_eq!(proc_net_uid(addr), Some(uid));
        // sock_diag may be unavailable (a container without the module): then the scan answers.
        if let Some(found) = sock_diag_uid(addr) {
            assert_eq!(found, uid);
        }
        assert_eq!(listener_uid(addr), Some(uid));
        drop(listener);
        assert_eq!(listener_uid(addr), None, "nobody listens any more");
    }

    #[test]
    fn proc_lines_are_read_as_the_kernel_prints_them() {
        let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let local = format!("{:08X}:1F90", u32::from_ne_bytes([127, 0, 0, 1]));
        let line = format!("   0: {local} 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1");
        assert_eq!(listening_uid(&line, addr), Some(1000));
        let established = line.replace(" 0A ", " 01 ");
        assert_eq!(listening_uid(&established, addr), None);
        let wildcard = "   0: 00000000:1F90 00000000:0000 0A 0 0 0  7  0 1 1";
        assert_eq!(listening_uid(wildcard, addr), Some(7));
        let other_port = line.replace(":1F90", ":1F91");
        assert_eq!(listening_uid(&other_port, addr), None);
        assert_eq!(listening_uid("garbage", addr), None);
    }
}
