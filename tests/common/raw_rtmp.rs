//! Raw RTMP clients for the attack tests: a bare handshake, hand-built chunk streams (messages
//! started and never finished), the resident memory of a process, and telling whether the server
//! closed a socket.

use bytes::{BufMut, BytesMut};
use oryx::rtmp::chunk::{put_basic_header, put_message_header};
use oryx::rtmp::handshake::ClientHandshake;
use oryx::rtmp::message::Writer;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Connect to `addr` and do a simple handshake; nothing else is sent.
pub fn handshake(addr: SocketAddr) -> TcpStream {
    let mut sock = TcpStream::connect(addr).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    sock.set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (mut handshake, c0c1) = ClientHandshake::start(false);
    sock.write_all(&c0c1).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        let n = sock
            .read(&mut buf)
            .expect("the server answers the handshake");
        assert!(n > 0, "closed during the handshake");
        let step = handshake.feed(&buf[..n]).expect("a valid handshake");
        sock.write_all(&step.send).unwrap();
        if step.done.is_some() {
            return sock;
        }
    }
}

/// A Set Chunk Size to `chunk_size`, then each `(csid, declared length, bytes sent)` message
/// started on its chunk stream (stream id 1, video) and never finished. A chunk is cut short only
/// at the very end, so every message but the last is sent in whole chunks (`sent` rounded down).
pub fn parked_messages(chunk_size: usize, messages: &[(u32, usize, usize)]) -> Vec<u8> {
    let mut out = BytesMut::new();
    Writer { chunk_size: 128 }.set_chunk_size(&mut out, chunk_size as u32);
    for (i, &(csid, declared, sent)) in messages.iter().enumerate() {
        let sent = if i + 1 < messages.len() {
            sent / chunk_size * chunk_size
        } else {
            sent
        };
        put_message_header(&mut out, csid, 0, declared, 9, 1);
        let mut left = sent;
        while left > 0 {
            let piece = left.min(chunk_size);
            out.put_bytes(0x17, piece);
            left -= piece;
            if left > 0 {
                put_basic_header(&mut out, 3, csid);
            }
        }
    }
    out.to_vec()
}

/// Write `bytes` until done, the peer closes, or `deadline`; true when all went out.
pub fn write_until_closed(sock: &mut TcpStream, bytes: &[u8], deadline: Instant) -> bool {
    let _ = sock.set_write_timeout(Some(Duration::from_millis(500)));
    let mut sent = 0;
    while sent < bytes.len() && Instant::now() < deadline {
        let end = (sent + 64 * 1024).min(bytes.len());
        match sock.write(&bytes[sent..end]) {
            Ok(0) => return false,
            Ok(n) => sent += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return false,
        }
    }
    sent == bytes.len()
}

/// Whether the server closed `sock` (EOF or reset) within `timeout`; what it sends is skipped.
pub fn closed_within(sock: &mut TcpStream, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let _ = sock.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = [0u8; 65536];
    while Instant::now() < deadline {
        match sock.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

/// Resident memory of process `pid` in MiB (`VmRSS` of `/proc/PID/status`).
pub fn rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/PID/status");
    kib / 1024
}

/// Lines of `text` that contain every one of `needles`.
pub fn lines_with(text: &str, needles: &[&str]) -> usize {
    text.lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .count()
}
