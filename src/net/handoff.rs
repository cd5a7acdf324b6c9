//! The rtmp-lb → embedded worker socket handoff: the message, where the worker listens, and passing
//! a descriptor over a Unix socket (SCM_RIGHTS).
//!
//! Once the rtmp-lb knows which worker serves a client, it sends that worker the client's TCP socket
//! itself, so the LB is out of the data path. The message travels over a Unix stream socket in the
//! Linux abstract namespace (no file to clean up) named after the worker's RTMP address, which both
//! sides read from the plan. The descriptor rides on the message's first bytes; the message says
//! who the client is (what a PROXY v2 header says on the relay path) and carries the bytes the LB
//! already read from the client after the handshake, for the worker to take as its first input. The
//! worker answers one byte, [`ACK`], once it owns the socket; a close without it means "not taken"
//! (the LB may still relay).
//!
//! Abstract names belong to no file, so any local user can bind one first ("squat" it). Both ends
//! check the peer's uid; a squatted name is reported loudly on both sides ([`report_squatter`]): the
//! worker retries its bind until the name is free, the LB relays meanwhile and says why.
//!
//! Wire format, big-endian: magic `OXHO`, version 1, family (4 or 6), client IP (4 or 16 bytes),
//! client port (u16), replay length (u32, at most [`MAX_REPLAY`]), replay bytes.

use bytes::Bytes;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

pub const MAGIC: [u8; 4] = *b"OXHO";
pub const VERSION: u8 = 1;
/// Most replay bytes a handoff carries: what the rtmp-lb accepts before `publish`/`play`.
pub const MAX_REPLAY: usize = 1 << 20;
/// The worker's answer once it owns the socket.
pub const ACK: u8 = 1;
/// Fixed part before the address: magic, version, family.
const PREFIX_LEN: usize = MAGIC.len() + 2;

/// One handed-off client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    /// The client's address as the LB saw it.
    pub client: SocketAddr,
    /// Client bytes after the RTMP handshake, already read by the LB.
    pub replay: Bytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HandoffError {
    #[error("not a handoff message (bad magic)")]
    BadMagic,
    #[error("handoff version {0} is not {VERSION}")]
    BadVersion(u8),
    #[error("handoff address family {0} is neither 4 nor 6")]
    BadFamily(u8),
    #[error("handoff replay of {0} bytes is over {MAX_REPLAY}")]
    TooLong(usize),
}

/// What the bytes received so far hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A prefix of a message: read more.
    NeedMore,
    /// A whole message of `len` bytes.
    Message { handoff: Handoff, len: usize },
}

/// The message for `handoff`; fails only when the replay is too long.
pub fn encode(handoff: &Handoff) -> Result<Vec<u8>, HandoffError> {
    if handoff.replay.len() > MAX_REPLAY {
        return Err(HandoffError::TooLong(handoff.replay.len()));
    }
    let mut out = Vec::with_capacity(PREFIX_LEN + 16 + 6 + handoff.replay.len());
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    match handoff.client.ip() {
        IpAddr::V4(ip) => {
            out.push(4);
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.push(6);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.extend_from_slice(&handoff.client.port().to_be_bytes());
    out.extend_from_slice(&(handoff.replay.len() as u32).to_be_bytes());
    out.extend_from_slice(&handoff.replay);
    Ok(out)
}

/// Look at the bytes received so far. Lengths are checked before anything waits for them, so a
/// receiver never needs to hold more than a header plus [`MAX_REPLAY`].
pub fn decode(buf: &[u8]) -> Result<Decoded, HandoffError> {
    let magic_len = buf.len().min(MAGIC.len());
    if buf[..magic_len] != MAGIC[..magic_len] {
        return Err(HandoffError::BadMagic);
    }
    if buf.len() < PREFIX_LEN {
        return Ok(Decoded::NeedMore);
    }
    if buf[4] != VERSION {
        return Err(HandoffError::BadVersion(buf[4]));
    }
    let ip_len = match buf[5] {
        4 => 4,
        6 => 16,
        other => return Err(HandoffError::BadFamily(other)),
    };
    let header_len = PREFIX_LEN + ip_len + 2 + 4;
    let Some(header) = buf.get(PREFIX_LEN..header_len) else {
        return Ok(Decoded::NeedMore);
    };
    let (ip_bytes, rest) = header.split_at(ip_len);
    let ip = match <[u8; 4]>::try_from(ip_bytes) {
        Ok(v4) => IpAddr::V4(Ipv4Addr::from(v4)),
        Err(_) => {
            let mut v6 = [0u8; 16];
            v6.copy_from_slice(ip_bytes);
            IpAddr::V6(Ipv6Addr::from(v6))
        }
    };
    let port = u16::from_be_bytes([rest[0], rest[1]]);
    let replay_len = u32::from_be_bytes([rest[2], rest[3], rest[4], rest[5]]) as usize;
    if replay_len > MAX_REPLAY {
        return Err(HandoffError::TooLong(replay_len));
    }
    let len = header_len + replay_len;
    let Some(replay) = buf.get(header_len..len) else {
        return Ok(Decoded::NeedMore);
    };
    Ok(Decoded::Message {
        handoff: Handoff {
            client: SocketAddr::new(ip, port),
            replay: Bytes::copy_from_slice(replay),
        },
        len,
    })
}

/// The abstract-namespace name (without the leading NUL) of the handoff socket of the embedded
/// worker whose RTMP listener is `rtmp`: the rtmp-lb and the worker both derive it from the plan.
pub fn socket_name(rtmp: SocketAddr) -> String {
    format!("oryx-handoff-{rtmp}")
}

/// The effective uid of this process: both sides only talk to a peer running as the same user.
pub fn own_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Who holds a Unix socket: the peer credentials its listener was created with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    pub uid: u32,
    pub pid: i32,
}

/// Whether a socket held by `holder` may be handed client sockets (or may hand us some).
pub fn trusted(holder: Holder) -> bool {
    holder.uid == own_uid()
}

/// Who listens on the abstract socket `name` now (`None` when nobody does, or it cannot be asked).
/// Never blocks: a squatter that accepts nothing fills its backlog, and a blocking connect would
/// then wait forever.
pub fn holder_of(name: &str) -> Option<Holder> {
    let addr = socket2::SockAddr::unix(format!("\0{name}")).ok()?;
    let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).ok()?;
    socket.set_nonblocking(true).ok()?;
    // Unix stream connects complete at once or fail (EAGAIN when the backlog is full).
    socket.connect(&addr).ok()?;
    peer_holder(&socket)
}

/// The peer credentials of a connected Unix socket.
pub fn peer_holder(socket: &impl std::os::fd::AsRawFd) -> Option<Holder> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: SO_PEERCRED writes at most `len` bytes into `cred`, a plain C struct of that size.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(Holder {
        uid: cred.uid,
        pid: cred.pid,
    })
}

/// How often the same squatted name is reported again while it stays squatted.
const REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Log (as an error, at most every [`REPORT_EVERY`] per name) that `holder`, not our worker, holds
/// the handoff socket `name`; `consequence` says what we do meanwhile. Returns whether it logged.
pub fn report_squatter(name: &str, holder: Holder, consequence: &str) -> bool {
    if !super::log_every::due("handoff-squatter", name, REPORT_EVERY) {
        return false;
    }
    tracing::error!(
        socket = name,
        uid = holder.uid,
        pid = holder.pid,
        "handoff socket squatted: held by uid {} (pid {}), not by oryx (uid {}); {consequence}",
        holder.uid,
        holder.pid,
        own_uid()
    );
    true
}

/// Check that the handoff socket `name` we connected to is held by our own user; a squatter is
/// reported (see [`report_squatter`]) and refused, so the caller relays instead.
pub fn check_holder(socket: &impl std::os::fd::AsRawFd, name: &str) -> anyhow::Result<()> {
    match peer_holder(socket) {
        Some(holder) if trusted(holder) => Ok(()),
        Some(holder) => {
            report_squatter(
                name,
                holder,
                "relaying this worker's clients until the worker gets its socket back",
            );
            metrics::counter!("oryx_rtmp_lb_handoff_squatted_total", "socket" => name.to_string())
                .increment(1);
            anyhow::bail!(
                "handoff socket {name} is held by uid {} (pid {})",
                holder.uid,
                holder.pid
            )
        }
        None => anyhow::bail!("handoff socket {name}: peer unknown"),
    }
}

/// Control-message space for up to four descriptors (u64s keep it aligned for `cmsghdr`).
type ControlBuf = [u64; 8];

/// `sendmsg` the start of `data` with `fd` attached; returns how many bytes went (the rest goes with
/// a plain write). Non-blocking sockets report `WouldBlock` as usual.
pub fn send_with_fd(socket: RawFd, data: &[u8], fd: RawFd) -> io::Result<usize> {
    let mut control: ControlBuf = [0; 8];
    let fd_len = std::mem::size_of::<RawFd>() as u32;
    // SAFETY: CMSG_SPACE/CMSG_LEN are pure size computations.
    let (space, cmsg_len) = unsafe { (libc::CMSG_SPACE(fd_len), libc::CMSG_LEN(fd_len)) };
    if space as usize > std::mem::size_of_val(&control) {
        return Err(io::Error::other("control buffer too small"));
    }
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: msghdr is plain data; every pointer set below stays valid for the sendmsg call, and
    // the control header written through CMSG_FIRSTHDR lies within `control` (checked above).
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() {
            return Err(io::Error::other("no room for the control message"));
        }
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = cmsg_len as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
        let sent = libc::sendmsg(socket, &msg, libc::MSG_NOSIGNAL);
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(sent as usize)
    }
}

/// `recvmsg` into `buf`; returns the byte count and the first descriptor that came with them, if any
/// (extra descriptors are closed). Received descriptors are close-on-exec.
pub fn recv_with_fd(socket: RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<OwnedFd>)> {
    let mut control: ControlBuf = [0; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: as in send_with_fd; the kernel writes at most msg_controllen bytes of control data,
    // and the CMSG_* walk stays within what it reported. Each descriptor taken is owned from here on.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        let received = libc::recvmsg(socket, &mut msg, libc::MSG_CMSG_CLOEXEC);
        if received < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut fds = Vec::new();
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg);
                let payload = (*cmsg).cmsg_len as usize
                    - (data as usize - cmsg as usize).min((*cmsg).cmsg_len as usize);
                for i in 0..payload / std::mem::size_of::<RawFd>() {
                    let fd = std::ptr::read_unaligned(data.cast::<RawFd>().add(i));
                    fds.push(OwnedFd::from_raw_fd(fd));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
        if msg.msg_flags & libc::MSG_CTRUNC != 0 {
            return Err(io::Error::other("descriptors were cut off in transit"));
        }
        Ok((received as usize, fds.into_iter().next()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;

    fn sample(client: &str, replay: &[u8]) -> Handoff {
        Handoff {
            client: client.parse().unwrap(),
            replay: Bytes::copy_from_slice(replay),
        }
    }

    #[test]
    fn round_trips_v4_and_v6_byte_by_byte() {
        for handoff in [
            sample("127.0.0.2:40000", b"\x03connect..."),
            sample("[2001:db8::7]:1935", b""),
        ] {
            let wire = encode(&handoff).unwrap();
            for cut in 0..wire.len() {
                assert_eq!(
                    decode(&wire[..cut]).unwrap(),
                    Decoded::NeedMore,
                    "cut {cut}"
                );
            }
            let mut longer = wire.clone();
            longer.extend_from_slice(b"tail");
            assert_eq!(
                decode(&longer).unwrap(),
                Decoded::Message {
                    handoff: handoff.clone(),
                    len: wire.len()
                }
            );
        }
    }

    #[test]
    fn rejects_bad_input_without_waiting_for_it() {
        assert_eq!(decode(b"GET /"), Err(HandoffError::BadMagic));
        assert_eq!(decode(b"OXHO\x02\x04"), Err(HandoffError::BadVersion(2)));
        assert_eq!(decode(b"OXHO\x01\x05"), Err(HandoffError::BadFamily(5)));
        // A length over the bound fails as soon as the length is known, before its bytes arrive.
        let mut huge = b"OXHO\x01\x04\x7f\x00\x00\x01\x00\x50".to_vec();
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(decode(&huge), Err(HandoffError::TooLong(u32::MAX as usize)));
        let too_long = sample("127.0.0.1:1", &vec![0; MAX_REPLAY + 1]);
        assert_eq!(
            encode(&too_long),
            Err(HandoffError::TooLong(MAX_REPLAY + 1))
        );
        assert_eq!(decode(b"").unwrap(), Decoded::NeedMore);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 48) as usize;
            let mut buf: Vec<u8> = (0..len).map(|i| (seed >> (i % 8 * 8)) as u8).collect();
            if seed.is_multiple_of(3) && buf.len() >= 6 {
                buf[..4].copy_from_slice(&MAGIC);
                buf[4] = VERSION;
                buf[5] = if seed.is_multiple_of(2) { 4 } else { 6 };
            }
            let _ = decode(&buf);
        }
    }

    #[test]
    fn passes_a_descriptor_with_the_message() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let (mut kept, passed) = std::os::unix::net::UnixStream::pair().unwrap();
        let sent = send_with_fd(a.as_raw_fd(), b"hello", passed.as_raw_fd()).unwrap();
        assert_eq!(sent, 5);
        drop(passed);
        let mut buf = [0u8; 16];
        let (n, fd) = recv_with_fd(b.as_raw_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");
        // The received descriptor is the other end of `kept`: bytes written through it arrive.
        let mut received = std::os::unix::net::UnixStream::from(fd.expect("a descriptor"));
        received.write_all(b"via fd").unwrap();
        let mut got = [0u8; 6];
        kept.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"via fd");
        // Without a descriptor, recv_with_fd is a plain read.
        (&a).write_all(b"x").unwrap();
        let (n, fd) = recv_with_fd(b.as_raw_fd(), &mut buf).unwrap();
        assert_eq!((n, fd.is_none()), (1, true));
    }
}
