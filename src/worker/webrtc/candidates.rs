//! Which addresses a worker's answers announce as ICE host candidates. Configured ones
//! (`webrtc { candidate "203.0.113.5" }`: an address or a name, the port the bound one unless
//! given) are what a browser behind NAT or outside Docker can reach; without any, a specific bound
//! address is announced as is, and for `0.0.0.0` every non-loopback address of the host plus
//! 127.0.0.1 (right for a single host; a browser that reaches none of them is reported with the
//! list when its session is reaped).
//!
//! A Kubernetes worker pod (pod mode) binds `0.0.0.0` and, without a configured candidate,
//! announces its own pod IP (`ORYX_POD_IP`, the downward API's `status.podIP` set by the
//! manifests) and nothing else: every pod of a group shares the topology's `candidate`s, but each
//! pod must announce an address that reaches *it*, and loopback or a sidecar's interfaces reach
//! no browser. A configured candidate still wins (docs/kubernetes.md says when that works).

use anyhow::Context;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

/// The candidates for a socket bound to `bound`.
pub fn announced(bound: SocketAddr, configured: &[String]) -> anyhow::Result<Vec<SocketAddr>> {
    announced_in(bound, configured, crate::net::pod::pod_ip())
}

/// [`announced`] for a worker whose pod has the IP `pod_ip` (`None`: not a pod).
fn announced_in(
    bound: SocketAddr,
    configured: &[String],
    pod_ip: Option<IpAddr>,
) -> anyhow::Result<Vec<SocketAddr>> {
    if !configured.is_empty() {
        let mut out = Vec::new();
        for text in configured {
            let addr = resolve(text, bound.port())
                .with_context(|| format!("WebRTC candidate {text:?} is not an address"))?;
            if !out.contains(&addr) {
                out.push(addr);
            }
        }
        return Ok(out);
    }
    if !bound.ip().is_unspecified() {
        return Ok(vec![bound]);
    }
    if let Some(ip) = pod_ip.filter(|ip| ip.is_ipv4() == bound.is_ipv4()) {
        return Ok(vec![SocketAddr::new(ip, bound.port())]);
    }
    let mut out: Vec<SocketAddr> = host_addresses()
        .into_iter()
        .filter(|ip| ip.is_ipv4() == bound.is_ipv4() && !ip.is_loopback())
        .map(|ip| SocketAddr::new(ip, bound.port()))
        .collect();
    let loopback: IpAddr = if bound.is_ipv4() {
        [127, 0, 0, 1].into()
    } else {
        std::net::Ipv6Addr::LOCALHOST.into()
    };
    out.push(SocketAddr::new(loopback, bound.port()));
    Ok(out)
}

/// `IP`, `IP:PORT`, `[IPv6]:PORT`, `NAME` or `NAME:PORT`.
fn resolve(text: &str, port: u16) -> Option<SocketAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, port));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr);
    }
    let with_port = if text.contains(':') {
        text.to_string()
    } else {
        format!("{text}:{port}")
    };
    with_port.to_socket_addrs().ok()?.next()
}

/// The host's interface addresses (`getifaddrs`).
fn host_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list we only read and then free.
    unsafe {
        if libc::getifaddrs(&mut list) != 0 {
            return out;
        }
        let mut cursor = list;
        while !cursor.is_null() {
            let addr = (*cursor).ifa_addr;
            if !addr.is_null() {
                match i32::from((*addr).sa_family) {
                    libc::AF_INET => {
                        let v4 = &*(addr as *const libc::sockaddr_in);
                        out.push(IpAddr::from(u32::from_be(v4.sin_addr.s_addr).to_be_bytes()));
                    }
                    libc::AF_INET6 => {
                        let v6 = &*(addr as *const libc::sockaddr_in6);
                        out.push(IpAddr::from(v6.sin6_addr.s6_addr));
                    }
                    _ => {}
                }
            }
            cursor = (*cursor).ifa_next;
        }
        libc::freeifaddrs(list);
    }
    out.retain(|ip| match ip {
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) != 0xfe80, // link-local needs a scope
        IpAddr::V4(_) => true,
    });
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_candidates_take_the_bound_port_unless_given() {
        let bound: SocketAddr = "0.0.0.0:8000".parse().unwrap();
        let got = announced(bound, &["203.0.113.5".into(), "198.51.100.1:9000".into()]).unwrap();
        assert_eq!(
            got,
            [
                "203.0.113.5:8000".parse().unwrap(),
                "198.51.100.1:9000".parse().unwrap()
            ]
        );
        assert!(announced(bound, &["not an address at all".into()]).is_err());
    }

    #[test]
    fn a_pod_announces_its_own_ip_unless_a_candidate_is_configured() {
        let bound: SocketAddr = "0.0.0.0:19351".parse().unwrap();
        let pod: IpAddr = "10.244.1.7".parse().unwrap();
        assert_eq!(
            announced_in(bound, &[], Some(pod)).unwrap(),
            ["10.244.1.7:19351".parse().unwrap()]
        );
        assert_eq!(
            announced_in(bound, &["203.0.113.5".into()], Some(pod)).unwrap(),
            ["203.0.113.5:19351".parse().unwrap()],
            "a configured candidate wins"
        );
        // An IPv6 pod IP for an IPv4 socket would reach nothing: the host's addresses as before.
        let v6 = announced_in(bound, &[], Some("fd00::7".parse().unwrap())).unwrap();
        assert_eq!(v6, announced_in(bound, &[], None).unwrap());
        // Outside pod mode (this test process) no pod IP is taken, whatever the environment.
        assert_eq!(crate::net::pod::pod_ip(), None);
    }

    #[test]
    fn defaults_are_right_for_one_host() {
        let specific: SocketAddr = "127.0.0.1:8000".parse().unwrap();
        assert_eq!(announced(specific, &[]).unwrap(), [specific]);
        let any = announced("0.0.0.0:8000".parse().unwrap(), &[]).unwrap();
        assert_eq!(any.last(), Some(&"127.0.0.1:8000".parse().unwrap()));
        assert!(any.iter().all(|a| a.port() == 8000 && a.is_ipv4()));
    }
}
