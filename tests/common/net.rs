//! Loopback ports that are free right now, for servers the tests start.
//!
//! Ports come from below the kernel's ephemeral range (32768–60999 by default): a port the kernel
//! hands out for `:0` is also a candidate source port of every outgoing connection, and under a full
//! parallel run (thousands of client sockets) one was taken between choosing it and the server's bind
//! ("Address already in use"). Inside one test binary a shared counter never hands a port out twice;
//! `cargo test` runs the binaries one after another, and every port is checked bindable anyway.

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU32, Ordering};

const LOW: u32 = 10_000;
const HIGH: u32 = 32_000;

/// The next candidate: a per-process random start, then counting up, wrapping inside LOW..HIGH.
fn next_candidate(count: u32) -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = NEXT.fetch_add(count, Ordering::Relaxed);
    let offset = if start == 0 {
        // First call: start somewhere random, so binaries that follow each other quickly (and
        // their children still exiting) do not meet on the same ports.
        use rand::Rng;
        let first = rand::thread_rng().gen_range(0..(HIGH - LOW) / 2);
        NEXT.fetch_add(first, Ordering::Relaxed);
        first
    } else {
        start
    };
    LOW + offset % (HIGH - LOW - count)
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
