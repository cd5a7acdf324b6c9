//! Which peers may speak for a client: a PROXY v2 header (the rtmp-lb) or `X-Forwarded-For` (the
//! http-lb) is believed only from loopback and from the addresses of the hosts the plan puts those
//! LBs on, never from anyone else (a client could otherwise choose the address hooks see).

use crate::compile::plan::{LbPlan, Plan};
use std::net::IpAddr;
use std::sync::OnceLock;

/// The LB hosts' addresses of this worker's plan, set once at start.
static PEERS: OnceLock<LbPeers> = OnceLock::new();

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LbPeers {
    /// Hosts running the rtmp-lb: PROXY v2 headers.
    pub rtmp: Vec<IpAddr>,
    /// Hosts running the http-lb: `X-Forwarded-For`.
    pub http: Vec<IpAddr>,
}

impl LbPeers {
    /// The addresses of the hosts `plan` places its rtmp-lb and http-lb on (none without hosts:
    /// then the LBs are on loopback).
    pub fn of_plan(plan: &Plan) -> LbPeers {
        let address = |lb: &Option<LbPlan>| -> Vec<IpAddr> {
            lb.as_ref()
                .and_then(|lb| lb.host.as_deref())
                .and_then(|host| plan.host(host))
                .map(|host| vec![host.address])
                .unwrap_or_default()
        };
        LbPeers {
            rtmp: address(&plan.rtmp_lb),
            http: address(&plan.http_lb),
        }
    }
}

/// Trust the LB hosts of `plan` from now on (the worker's start).
pub fn init(plan: &Plan) {
    let peers = LbPeers::of_plan(plan);
    if !peers.rtmp.is_empty() || !peers.http.is_empty() {
        tracing::debug!(rtmp = ?peers.rtmp, http = ?peers.http, "LB hosts trusted for client addresses");
    }
    let _ = PEERS.set(peers);
}

/// Whether `peer` may open with a PROXY v2 header: loopback or an rtmp-lb host.
pub fn sends_proxy_header(peer: IpAddr) -> bool {
    peer.is_loopback() || PEERS.get().is_some_and(|p| p.rtmp.contains(&peer))
}

/// Whether `peer`'s `X-Forwarded-For` names the client: loopback or an http-lb host.
pub fn forwards_for(peer: IpAddr) -> bool {
    peer.is_loopback() || PEERS.get().is_some_and(|p| p.http.contains(&peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lb_hosts_of_a_multi_host_plan_are_trusted_and_nobody_else() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/configs/multi-host.kdl");
        let plan = crate::compile::compile_path(&path, None).expect("the example compiles");
        let peers = LbPeers::of_plan(&plan);
        let lb: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(peers.rtmp, [lb]);
        assert_eq!(peers.http, [lb]);
        init(&plan);
        assert!(sends_proxy_header(lb) && forwards_for(lb));
        assert!(sends_proxy_header("127.0.0.1".parse().unwrap()));
        // Another media host, or anyone on the internet, is not an LB.
        for other in ["10.0.0.2", "203.0.113.7"] {
            let other: IpAddr = other.parse().unwrap();
            assert!(!sends_proxy_header(other) && !forwards_for(other));
        }
    }
}
