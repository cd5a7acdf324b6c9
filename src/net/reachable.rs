//! A listen address as a client on this host reaches it: an unspecified IP (`0.0.0.0`, `::`) is
//! this host's loopback; any other address is itself.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// `addr` as a client on this host dials it.
pub fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_addresses_are_reached_on_loopback() {
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(reachable(at("0.0.0.0:1935")), at("127.0.0.1:1935"));
        assert_eq!(reachable(at("[::]:1935")), at("[::1]:1935"));
        assert_eq!(reachable(at("10.0.0.2:1935")), at("10.0.0.2:1935"));
    }
}
