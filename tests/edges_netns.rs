//! Origin and edges across three hosts, as issue 18 draws it: network namespaces on a bridge (made
//! and removed by the test), `lb-1` runs the rtmp-lb and http-lb, `media-1` the origin and two
//! edges, `media-2` two edges, each host under its own `oryx up FILE --host NAME` with the cluster
//! secret. ffmpeg publishes to lb-1 and lands on the origin; RTMP players through lb-1 spread over
//! edges on both media hosts (a per-edge share of one player), each edge pulling from the origin on
//! media-1 across the bridge; HTTP-FLV and HLS play through lb-1; with media-2's link cut its edges
//! are marked down and new players are served by media-1's edges; restored, media-2 rejoins.
//! Its own file (its own process) because the namespaces' names come from the process id.

mod common;

use common::cluster::{make_media, publish, Proc};
use common::control::control;
use common::media::{play_to_file, probe};
use common::netns::{available, Hosts};
use common::netns_oryx::{self, entry, up};
use common::wait::expect_within;
use oryx::compile::plan::{Plan, WorkerPlan};
use std::time::Duration;

fn topology(hosts: &Hosts) -> String {
    netns_oryx::topology(
        hosts,
        r#"worker "origin" host="media-1"
worker "edge" count=4 origin="origin" edge-share=1 {
    hosts "media-1" "media-2"
}"#,
    )
}

/// The rtmp-lb's backend list, asked inside lb-1.
fn backends(hosts: &Hosts, plan: &Plan) -> Option<serde_json::Value> {
    netns_oryx::backends(hosts, "lb-1", plan.rtmp_lb.as_ref()?.control)
}

/// Whether the rtmp-lb sees each of `names` healthy (`true`) or down (`false`).
fn health_is(hosts: &Hosts, plan: &Plan, names: &[&str], healthy: bool) -> Option<()> {
    let list = backends(hosts, plan)?;
    names
        .iter()
        .all(|n| entry(&list, n)["healthy"] == healthy)
        .then_some(())
}

/// `live/NAME` on `worker`'s API (its control port is on its host's address, reachable over the
/// bridge), with the cluster's control credential.
fn stream_entry(worker: &WorkerPlan, name: &str) -> Option<serde_json::Value> {
    let (status, body) = control(worker.control, "GET", "/api/v1/streams").ok()?;
    (status == 200).then_some(())?;
    let value: serde_json::Value = serde_json::from_str(&body).ok()?;
    value["streams"]
        .as_array()?
        .iter()
        .find(|s| s["app"] == "live" && s["name"] == name)
        .cloned()
}

/// The hosts of the edges pulling `live/NAME` now.
fn pulling_hosts(plan: &Plan, name: &str) -> Vec<String> {
    let mut hosts: Vec<String> = plan
        .workers
        .iter()
        .filter(|w| w.origin.is_some())
        .filter(|w| stream_entry(w, name).is_some_and(|s| s["edge"]["state"] == "pulling"))
        .filter_map(|w| w.host.clone())
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

#[test]
fn edges_on_two_media_hosts_pull_from_the_origin_and_survive_a_cut_link() {
    if !available() {
        crate::skipped!("needs root for network namespaces");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let hosts = Hosts::new(&netns_oryx::HOSTS);
    let (file, plan) = netns_oryx::write_topology(dir.path(), "edges.kdl", &topology(&hosts));
    let edges_on = |host: &str| -> Vec<String> {
        plan.workers
            .iter()
            .filter(|w| w.origin.is_some() && w.host.as_deref() == Some(host))
            .map(|w| w.name.clone())
            .collect()
    };
    let (edges_1, edges_2) = (edges_on("media-1"), edges_on("media-2"));
    assert_eq!(
        (edges_1.len(), edges_2.len()),
        (2, 2),
        "round-robin placement"
    );
    let edges_2: Vec<&str> = edges_2.iter().map(String::as_str).collect();
    let mut all: Vec<&str> = vec!["origin"];
    all.extend(edges_1.iter().map(String::as_str));
    all.extend(&edges_2);

    // `edge-share=1`: the LBs spread a stream to a new edge for every player, so a few players
    // reach both hosts.
    let _shells: Vec<Proc> = ["media-1", "media-2", "lb-1"]
        .iter()
        .map(|name| up(&hosts, name, &file, dir.path(), &[]))
        .collect();
    expect_within(
        Duration::from_secs(60),
        "every worker healthy on lb-1",
        || health_is(&hosts, &plan, &all, true),
    );

    // Published through lb-1: the origin on media-1 holds it, no edge pulls yet.
    let lb = hosts.host("lb-1").address;
    let media = make_media(dir.path());
    let rtmp = format!("rtmp://{lb}:1935/live/cam");
    let _publisher = publish(&media, &rtmp, dir.path().join("publish.log"));
    expect_within(Duration::from_secs(20), "the origin publishes", || {
        backends(&hosts, &plan)
            .filter(|l| entry(l, "origin")["published"] == 1)
            .map(|_| ())
    });
    assert!(pulling_hosts(&plan, "cam").is_empty(), "no player, no pull");

    // Players through lb-1 spread over edges on both media hosts, each pulling from media-1.
    let _players: Vec<Proc> = (0..4)
        .map(|i| {
            std::thread::sleep(Duration::from_millis(700));
            play_to_file(
                &rtmp,
                &dir.path().join(format!("player-{i}.flv")),
                dir.path().join(format!("player-{i}.log")),
            )
        })
        .collect();
    let spread = expect_within(
        Duration::from_secs(40),
        "edges pulling on both media hosts",
        || {
            let hosts = pulling_hosts(&plan, "cam");
            (hosts.len() == 2).then_some(hosts)
        },
    );
    assert_eq!(spread, ["media-1", "media-2"]);
    let origin = plan.worker("origin").unwrap();
    let origin_clients = stream_entry(origin, "cam").map(|s| s["clients"].clone());
    assert!(
        origin_clients
            .as_ref()
            .and_then(|c| c.as_u64())
            .unwrap_or(0)
            >= 3,
        "the origin feeds the publisher and the edges' pulls: {origin_clients:?}"
    );
    assert!(probe(&rtmp), "RTMP through lb-1");
    assert!(
        probe(&format!("http://{lb}:8080/live/cam.flv")),
        "HTTP-FLV through lb-1"
    );
    let hls = format!("http://{lb}:8080/live/cam.m3u8");
    let hls_ok = (0..15).any(|_| {
        std::thread::sleep(Duration::from_secs(1));
        probe(&hls)
    });
    assert!(hls_ok, "HLS through lb-1");

    // media-2 cut off: its edges are marked down; new players are served by media-1's edges.
    hosts.link("media-2", false);
    expect_within(
        Duration::from_secs(20),
        "media-2's edges down on lb-1",
        || health_is(&hosts, &plan, &edges_2, false),
    );
    assert!(probe(&rtmp), "RTMP players land on media-1's edges");
    assert!(
        probe(&format!("http://{lb}:8080/live/cam.flv")),
        "HTTP-FLV players land on media-1's edges"
    );

    // Link back: media-2's edges rejoin.
    hosts.link("media-2", true);
    expect_within(
        Duration::from_secs(20),
        "media-2's edges healthy again",
        || health_is(&hosts, &plan, &edges_2, true),
    );
}
