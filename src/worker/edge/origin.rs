//! Which worker of the origin group an edge pulls a stream from: the one that publishes it now
//! (each origin's `GET /api/v1/published`, the report the LBs poll, asked with the control
//! secret), else the rendezvous choice over the group, where the LBs send its publisher
//! ([`crate::route::rank`]).

use crate::compile::plan::WorkerPlan;
use crate::net::published::{self, PublishedKeys, PublishedReport};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// How long one origin may take to say what it publishes.
const ASK_TIMEOUT: Duration = Duration::from_millis(800);

/// The origin workers to try for `key`, best first: those publishing it, then the rest in
/// rendezvous order (an origin that did not answer keeps its place: it may be back).
pub async fn candidates(origins: &[WorkerPlan], key: &str) -> Vec<WorkerPlan> {
    let asks = origins.iter().map(|origin| publishes(origin, key));
    let answers = futures_util::future::join_all(asks).await;
    let publishing: Vec<&str> = origins
        .iter()
        .zip(answers)
        .filter(|(_, yes)| *yes)
        .map(|(origin, _)| origin.name.as_str())
        .collect();
    order(origins, key, &publishing)
}

/// `origins` ranked for `key`, the ones in `publishing` first.
fn order(origins: &[WorkerPlan], key: &str, publishing: &[&str]) -> Vec<WorkerPlan> {
    let names: Vec<&str> = origins.iter().map(|o| o.name.as_str()).collect();
    let (first, rest): (Vec<&str>, Vec<&str>) = crate::route::rank(key, &names)
        .into_iter()
        .partition(|name| publishing.contains(name));
    first
        .into_iter()
        .chain(rest)
        .filter_map(|name| origins.iter().find(|o| o.name == name).cloned())
        .collect()
}

async fn publishes(origin: &WorkerPlan, key: &str) -> bool {
    let answer = crate::net::control_client::http_call(
        origin.control,
        "GET",
        published::PATH,
        None,
        ASK_TIMEOUT,
    )
    .await;
    match answer {
        Ok((200, body)) => serde_json::from_str::<PublishedReport>(&body)
            .map(|report| PublishedKeys::from_report(&report).answers(key))
            .unwrap_or(false),
        _ => false,
    }
}

/// The origin's RTMP listener as this host reaches it: an unspecified address is loopback.
pub fn rtmp_address(origin: &WorkerPlan) -> SocketAddr {
    reachable(origin.rtmp)
}

/// `addr` as a client dials it: an unspecified address is loopback.
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

    fn origin(name: &str) -> WorkerPlan {
        let mut plan: WorkerPlan = crate::worker::edge::tests::worker_plan(name);
        plan.rtmp = "0.0.0.0:1935".parse().unwrap();
        plan
    }

    #[test]
    fn the_publishing_origin_comes_first_then_rendezvous() {
        let origins = vec![origin("o-0"), origin("o-1"), origin("o-2")];
        let key = crate::route::stream_key("", "live", "cam");
        let ranked = crate::route::rank(&key, &["o-0", "o-1", "o-2"]);
        let names = |list: Vec<WorkerPlan>| list.into_iter().map(|o| o.name).collect::<Vec<_>>();
        assert_eq!(names(order(&origins, &key, &[])), ranked);
        let last = ranked[2];
        let got = names(order(&origins, &key, &[last]));
        assert_eq!(got, [last, ranked[0], ranked[1]]);
        assert_eq!(
            rtmp_address(&origins[0]),
            "127.0.0.1:1935".parse::<SocketAddr>().unwrap()
        );
    }
}
