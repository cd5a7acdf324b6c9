//! Loopback ports that are free right now, for servers the tests start.

use super::wait::expect_within;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

/// A port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind port 0")
        .local_addr()
        .expect("local addr")
        .port()
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
    use rand::Rng;
    let mut rng = rand::thread_rng();
    expect_within(Duration::from_secs(5), "a run of free ports", || {
        let base: u16 = rng.gen_range(20000..50000);
        (0..count)
            .all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok())
            .then_some(base)
    })
}
