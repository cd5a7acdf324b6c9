//! Where an ingest publishes: through the plan's rtmp-lb when there is one (so the stream lands on
//! the worker the LBs send its players to), else straight to the embedded workers in the rendezvous
//! order every LB and `oryx plan --route` compute ([`crate::route`]).

use crate::compile::plan::Plan;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The `rtmp://` URLs to publish `stream` (`app/stream` or `vhost/app/stream`) to, best first: the
/// rtmp-lb alone, or every worker in rendezvous order (a later one is tried when an earlier one
/// refuses the connection, as an LB falls back).
pub fn publish_urls(plan: &Plan, stream: &str) -> Result<Vec<String>, String> {
    let (vhost, app, name) = split_stream(stream)?;
    let path = match vhost {
        Some(vhost) => format!("{app}/{name}?vhost={vhost}"),
        None => format!("{app}/{name}"),
    };
    if let Some(lb) = &plan.rtmp_lb {
        return Ok(vec![format!("rtmp://{}/{path}", authority(lb.listen))]);
    }
    let names: Vec<&str> = plan.workers.iter().map(|w| w.name.as_str()).collect();
    if names.is_empty() {
        return Err("the plan has no rtmp-lb and no worker to publish to".into());
    }
    let key = crate::route::stream_key(vhost.unwrap_or(""), app, name);
    Ok(crate::route::rank(&key, &names)
        .into_iter()
        .filter_map(|worker| plan.worker(worker))
        .map(|worker| format!("rtmp://{}/{path}", authority(worker.rtmp)))
        .collect())
}

/// How the publisher names `addr`: in a pod, the Service DNS name (resolved when it connects);
/// else the address, loopback for an unspecified one.
fn authority(addr: SocketAddr) -> String {
    if crate::net::pod::active() {
        crate::net::pod::authority(addr)
    } else {
        reachable(addr).to_string()
    }
}

/// `app/stream` → (None, app, stream); `vhost/app/stream` → (Some(vhost), app, stream).
pub fn split_stream(stream: &str) -> Result<(Option<&str>, &str, &str), String> {
    let parts: Vec<&str> = stream.split('/').collect();
    let ok = |s: &&str| !s.is_empty() && !s.contains(['?', '#', ' ']);
    match parts.as_slice() {
        [app, name] if ok(app) && ok(name) => Ok((None, app, name)),
        [vhost, app, name] if ok(vhost) && ok(app) && ok(name) => Ok((Some(vhost), app, name)),
        _ => Err(format!(
            "ingest stream {stream:?} is not APP/STREAM or VHOST/APP/STREAM"
        )),
    }
}

/// A listen address as a client reaches it: an unspecified IP (`0.0.0.0`, `::`) is this host's
/// loopback.
pub fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::plan::{LbPlan, PortRange, StreamSettings, WorkerKind, WorkerPlan};

    fn settings() -> StreamSettings {
        serde_json::from_value(serde_json::json!({
            "gop_cache": true, "chunk_size": 4096, "merge_write_ms": 0, "merge_read_ms": 0,
            "player_queue_bytes": 1, "max_connections": 0,
            "http_flv": {"enabled": true, "wait_ms": 0},
            "hls": {"enabled": false, "fragment_ms": 1000, "window": 3, "path": null},
            "hooks": {"on_publish": [], "on_unpublish": [], "on_play": [], "on_stop": [], "timeout_ms": 1}
        }))
        .unwrap()
    }

    fn plan(workers: &[(&str, u16)], lb: Option<&str>) -> Plan {
        Plan {
            srt_lb: None,
            hosts: Vec::new(),
            secret: None,
            version: 1,
            env: None,
            ports: PortRange { from: 1, to: 2 },
            shell_control: "127.0.0.1:1".parse().unwrap(),
            workers: workers
                .iter()
                .map(|(name, port)| WorkerPlan {
                    srt: None,
                    webrtc: None,
                    host: None,
                    origin: None,
                    edge_share: None,
                    name: name.to_string(),
                    group: "live".into(),
                    kind: WorkerKind::Embedded,
                    binary: None,
                    rtmp: SocketAddr::from(([127, 0, 0, 1], *port)),
                    http: "127.0.0.1:2".parse().unwrap(),
                    control: "127.0.0.1:3".parse().unwrap(),
                    proxy_protocol: false,
                    stream: settings(),
                })
                .collect(),
            rtmp_lb: lb.map(|listen| LbPlan {
                tls: None,
                host: None,
                listen: listen.parse().unwrap(),
                workers: vec![],
                control: "127.0.0.1:4".parse().unwrap(),
                auth: None,
                cors_origins: None,
            }),
            http_lb: None,
            api_lb: None,
            statics: vec![],
            ingests: vec![],
        }
    }

    #[test]
    fn publishes_through_the_rtmp_lb_on_loopback() {
        let p = plan(&[("live-0", 5000)], Some("0.0.0.0:1935"));
        assert_eq!(
            publish_urls(&p, "live/lobby").unwrap(),
            ["rtmp://127.0.0.1:1935/live/lobby"]
        );
        let p = plan(&[], Some("[::]:1935"));
        assert_eq!(
            publish_urls(&p, "v.example/live/lobby").unwrap(),
            ["rtmp://[::1]:1935/live/lobby?vhost=v.example"]
        );
        let p = plan(&[], Some("10.1.2.3:1935"));
        assert_eq!(
            publish_urls(&p, "live/x").unwrap(),
            ["rtmp://10.1.2.3:1935/live/x"]
        );
    }

    #[test]
    fn without_an_lb_follows_the_rendezvous_ranking() {
        let p = plan(
            &[("live-0", 5000), ("live-1", 5001), ("live-2", 5002)],
            None,
        );
        let urls = publish_urls(&p, "live/lobby").unwrap();
        let key = crate::route::stream_key("", "live", "lobby");
        let ranked = crate::route::rank(&key, &["live-0", "live-1", "live-2"]);
        let port = |name: &str| 5000 + name[5..].parse::<u16>().unwrap();
        let expected: Vec<String> = ranked
            .iter()
            .map(|n| format!("rtmp://127.0.0.1:{}/live/lobby", port(n)))
            .collect();
        assert_eq!(urls, expected);
        assert!(publish_urls(&plan(&[], None), "live/x").is_err());
    }

    #[test]
    fn refuses_bad_stream_names() {
        for bad in ["live", "live/", "/x", "a/b/c/d", "live/x?y=1", ""] {
            assert!(split_stream(bad).is_err(), "{bad}");
        }
        assert_eq!(split_stream("a/b").unwrap(), (None, "a", "b"));
        assert_eq!(split_stream("v/a/b").unwrap(), (Some("v"), "a", "b"));
    }
}
