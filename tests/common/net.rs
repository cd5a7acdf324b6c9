//! Loopback ports that are free right now, for servers the tests start.
//!
//! Ports come from below the kernel's ephemeral range (32768–60999 by default): a port the kernel
//! hands out for `:0` is also a candidate source port of every outgoing connection, and under a full
//! parallel run (thousands of client sockets) one was taken between choosing it and the server's bind
//! ("Address already in use"). Inside one test binary a shared counter never hands a port out twice;
//! across binaries, which `scripts/run-tests` runs side by side, each process holds an exclusive
//! `flock` on one block of the range for its lifetime (released by the kernel when it exits, even
//! on a crash), so two binaries never pick from the same ports; every port is checked bindable too.

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU32, Ordering};

const LOW: u32 = 10_000;
const HIGH: u32 = 32_000;

/// Ports per block a test process holds.
const BLOCK: u32 = 2_000;

/// This process's block `LOW + k * BLOCK ..`: the first one whose lock file it can `flock`
/// exclusively, starting at a random block so binaries that follow each other quickly (their
/// children still exiting) do not meet; `None` when every block is held (then the whole range).
fn block() -> Option<u32> {
    static BLOCK_START: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    *BLOCK_START.get_or_init(|| {
        use std::os::fd::AsRawFd;
        let blocks = (HIGH - LOW) / BLOCK;
        let dir = std::env::temp_dir().join("oryx-test-ports");
        std::fs::create_dir_all(&dir).ok()?;
        let first = rand::Rng::gen_range(&mut rand::thread_rng(), 0..blocks);
        (0..blocks).map(|i| (first + i) % blocks).find_map(|k| {
            let file = std::fs::File::create(dir.join(format!("block-{k}.lock"))).ok()?;
            // SAFETY: flock on a descriptor this process owns; the file is kept open (leaked) for
            // the process's lifetime, so the lock holds until it exits.
            let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            (locked == 0).then(|| {
                std::mem::forget(file);
                LOW + k * BLOCK
            })
        })
    })
}

/// The next candidate: counting up inside this process's block (or the whole range).
fn next_candidate(count: u32) -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let offset = NEXT.fetch_add(count, Ordering::Relaxed);
    match block() {
        Some(start) => start + offset % (BLOCK - count),
        None => LOW + offset % (HIGH - LOW - count),
    }
}

/// A port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    free_port_run(1)
}

/// `127.0.0.1:PORT`.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A loopback address on a port nothing listens on right now.
pub fn free_addr() -> SocketAddr {
    loopback(free_port())
}

/// The first port of `count` consecutive ports that are all free right now.
pub fn free_port_run(count: u16) -> u16 {
    for _ in 0..10_000 {
        let base = next_candidate(u32::from(count)) as u16;
        if (0..count).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no run of {count} free loopback ports below the ephemeral range");
}
