//! Three hosts as network namespaces on a bridge (made and removed by the test): `lb-1` runs the
//! LBs, `media-1` and `media-2` a worker each, every one under its own `oryx up FILE --host NAME`.
//! ffmpeg publishes to lb-1; RTMP, HTTP-FLV and HLS players on lb-1 get the stream from the worker
//! on the other host (the LB's API says which); with media-2's link cut the republished stream and
//! its players land on media-1; restored, media-2 rejoins. The topology is text here and every
//! assertion goes through the API, so an origin + edges variant is a change of topology and names.

mod common;

use common::cluster::{make_media, publish, Proc};
use common::media::probe;
use common::netns::{available, Hosts};
use common::netns_oryx::{self, entry, up};
use common::wait::expect_within;
use std::time::Duration;

fn topology(hosts: &Hosts) -> String {
    netns_oryx::topology(
        hosts,
        r#"worker "live" count=2 {
    hosts "media-1" "media-2"
}"#,
    )
}

/// The rtmp-lb's backend list (its control port is `control`, on lb-1's loopback).
fn backends(hosts: &Hosts, control: std::net::SocketAddr) -> Option<serde_json::Value> {
    netns_oryx::backends(hosts, "lb-1", control)
}

/// A stream name whose rendezvous first choice is `worker` (of `workers`).
fn stream_on(worker: &str, workers: &[&str]) -> String {
    (0..)
        .map(|i| format!("s{i}"))
        .find(|s| oryx::route::rank(&oryx::route::stream_key("", "live", s), workers)[0] == worker)
        .unwrap()
}

#[test]
fn lb_host_reaches_workers_on_two_media_hosts_and_survives_a_cut_link() {
    if !available() {
        crate::skipped!("needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let hosts = Hosts::new(&netns_oryx::HOSTS);
    let (file, plan) = netns_oryx::write_topology(dir.path(), "hosts.kdl", &topology(&hosts));
    let on = |w: &str| plan.worker(w).unwrap().host.clone().unwrap();
    assert_eq!(
        (on("live-0").as_str(), on("live-1").as_str()),
        ("media-1", "media-2")
    );
    let control = plan.rtmp_lb.as_ref().unwrap().control;
    let _shells: Vec<Proc> = ["media-1", "media-2", "lb-1"]
        .iter()
        .map(|name| up(&hosts, name, &file, dir.path(), &[]))
        .collect();
    let healthy = |list: &serde_json::Value, name: &str| entry(list, name)["healthy"] == true;
    expect_within(
        Duration::from_secs(40),
        "both workers healthy on lb-1",
        || {
            let list = backends(&hosts, control)?;
            (healthy(&list, "live-0") && healthy(&list, "live-1")).then_some(())
        },
    );

    // A stream rendezvous puts on media-2, published and played through lb-1.
    let stream = stream_on("live-1", &["live-0", "live-1"]);
    let lb = hosts.host("lb-1").address;
    let media = make_media(dir.path());
    let rtmp = format!("rtmp://{lb}:1935/live/{stream}");
    let publisher = publish(&media, &rtmp, dir.path().join("publish-1.log"));
    let publishes = |list: &serde_json::Value, name: &str| entry(list, name)["published"] == 1;
    expect_within(
        Duration::from_secs(20),
        "the stream published on media-2",
        || {
            backends(&hosts, control)
                .filter(|l| publishes(l, "live-1"))
                .map(|_| ())
        },
    );
    let flv = format!("http://{lb}:8080/live/{stream}.flv");
    let hls = format!("http://{lb}:8080/live/{stream}.m3u8");
    assert!(probe(&rtmp), "RTMP through lb-1");
    assert!(probe(&flv), "HTTP-FLV through lb-1");
    let hls_ok = (0..10).any(|_| {
        std::thread::sleep(Duration::from_secs(1));
        probe(&hls)
    });
    assert!(hls_ok, "HLS through lb-1");

    // media-2 cut off: the LB marks it down, the publisher comes back on media-1, players follow.
    hosts.link("media-2", false);
    drop(publisher);
    expect_within(Duration::from_secs(20), "media-2 down on lb-1", || {
        backends(&hosts, control)
            .filter(|l| !healthy(l, "live-1"))
            .map(|_| ())
    });
    let _publisher = publish(&media, &rtmp, dir.path().join("publish-2.log"));
    expect_within(
        Duration::from_secs(20),
        "the stream republished on media-1",
        || {
            backends(&hosts, control)
                .filter(|l| publishes(l, "live-0"))
                .map(|_| ())
        },
    );
    assert!(probe(&rtmp), "RTMP players land on media-1");
    assert!(probe(&flv), "HTTP-FLV players land on media-1");

    // Link back: media-2 rejoins.
    hosts.link("media-2", true);
    expect_within(Duration::from_secs(20), "media-2 healthy again", || {
        backends(&hosts, control)
            .filter(|l| healthy(l, "live-1"))
            .map(|_| ())
    });
}
