//! Hosts in the topology (compile side): placement, ports per host, bind addresses, origins, the
//! secret's source, and that a topology without hosts keeps its plan.

use oryx::compile::{compile, plan::SecretSource, Compilation, Options};
use std::path::PathBuf;

fn compile_text(text: &str) -> Compilation {
    compile(
        "hosts.kdl",
        text,
        &Options {
            env: None,
            base_dir: PathBuf::new(),
            check_files: false,
        },
    )
}

fn codes(c: &Compilation) -> Vec<&'static str> {
    c.diagnostics.iter().map(|d| d.code()).collect()
}

const MULTI: &str = include_str!("../examples/configs/multi-host.kdl");

#[test]
fn roles_are_placed_and_edges_spread_round_robin() {
    let plan = compile_text(MULTI).plan.expect("valid");
    let placed: Vec<(&str, &str)> = plan
        .workers
        .iter()
        .map(|w| (w.name.as_str(), w.host.as_deref().unwrap()))
        .collect();
    assert_eq!(
        placed,
        [
            ("origin", "media-1"),
            ("edge-0", "media-1"),
            ("edge-1", "media-2"),
            ("edge-2", "media-1"),
            ("edge-3", "media-2"),
        ]
    );
    assert_eq!(plan.rtmp_lb.as_ref().unwrap().host.as_deref(), Some("lb-1"));
    assert_eq!(plan.hosts.len(), 3);
    assert_eq!(
        plan.secret,
        Some(SecretSource::Env("ORYX_CLUSTER_SECRET".into()))
    );
    let origins: Vec<Option<&str>> = plan.workers.iter().map(|w| w.origin.as_deref()).collect();
    assert_eq!(origins[0], None);
    assert!(origins[1..].iter().all(|o| *o == Some("origin")));
    // The secret's value never reaches the plan: only where to read it.
    assert!(plan
        .canonical_json()
        .contains("\"secret\":{\"env\":\"ORYX_CLUSTER_SECRET\"}"));
}

#[test]
fn ports_count_per_host_and_reached_workers_bind_their_host() {
    let plan = compile_text(MULTI).plan.expect("valid");
    let addr = |name: &str| plan.worker(name).unwrap().rtmp.to_string();
    // media-2's first worker starts at the bottom of the pool, like media-1's.
    assert_eq!(addr("origin"), "10.0.0.2:19350");
    assert_eq!(addr("edge-0"), "10.0.0.2:19353");
    assert_eq!(addr("edge-1"), "10.0.0.3:19350");
    assert_eq!(addr("edge-3"), "10.0.0.3:19353");
    let control = plan.worker("edge-1").unwrap().control.to_string();
    assert_eq!(control, "10.0.0.3:19352");
    // The LBs' own control ports stay on loopback: only their host's shell calls them.
    assert!(plan.rtmp_lb.unwrap().control.ip().is_loopback());
}

#[test]
fn a_worker_no_other_host_reaches_stays_on_loopback() {
    let plan = compile_text(
        "oryx 1\nhost \"a\" address=\"10.0.0.1\"\nhost \"b\" address=\"10.0.0.2\"\nsecret file=\"/etc/oryx/secret\"\nworker \"near\" host=\"a\"\nworker \"far\" host=\"b\"\nrtmp-lb listen=\"0.0.0.0:1935\" host=\"a\" workers=\"near\"\n",
    )
    .plan
    .expect("valid");
    assert!(plan.worker("near").unwrap().rtmp.ip().is_loopback());
    assert!(plan.worker("far").unwrap().rtmp.ip().is_loopback());
    assert_eq!(
        plan.secret,
        Some(SecretSource::File("/etc/oryx/secret".into()))
    );
}

#[test]
fn listeners_on_different_hosts_do_not_collide() {
    let text = "oryx 1\nhost \"a\" address=\"10.0.0.1\"\nhost \"b\" address=\"10.0.0.2\"\nsecret env=\"S\"\nworker \"w\" host=\"a\"\nstatic \"one\" root=\".\" listen=\"0.0.0.0:80\" host=\"a\"\nstatic \"two\" root=\".\" listen=\"0.0.0.0:80\" host=\"b\"\n";
    let c = compile_text(text);
    assert!(codes(&c).is_empty(), "{:?}", codes(&c));
    let same = text.replace("host=\"b\"\n", "host=\"a\"\n");
    assert_eq!(codes(&compile_text(&same)), ["oryx::port-conflict"]);
}

#[test]
fn one_host_places_every_role_on_it_without_a_secret() {
    let plan = compile_text(
        "oryx 1\nhost \"solo\" address=\"127.0.0.1\"\nworker \"w\"\nrtmp-lb listen=\"0.0.0.0:1935\"\n",
    )
    .plan
    .expect("valid");
    assert_eq!(plan.workers[0].host.as_deref(), Some("solo"));
    assert_eq!(plan.rtmp_lb.unwrap().host.as_deref(), Some("solo"));
}

#[test]
fn host_problems_are_reported() {
    let c = compile_text(
        "oryx 1\nhost \"a\" address=\"10.0.0.1\"\nhost \"a\" address=\"10.0.0.2\"\nworker \"w\" host=\"a\"\n",
    );
    assert_eq!(codes(&c), ["oryx::duplicate-name"]);
    let c = compile_text("oryx 1\nhost \"a\" address=\"0.0.0.0\"\nworker \"w\"\n");
    assert_eq!(codes(&c), ["oryx::bad-host-address"]);
    let c = compile_text("oryx 1\nhost \"a\"\nworker \"w\"\n");
    assert_eq!(codes(&c), ["oryx::missing-setting"]);
    let c = compile_text("oryx 1\nsecret\nworker \"w\"\n");
    assert_eq!(codes(&c), ["oryx::missing-setting"]);
    let c = compile_text("oryx 1\nworker \"w\" host=\"nowhere\"\n");
    assert_eq!(codes(&c), ["oryx::unknown-host"]);
}

#[test]
fn an_origin_without_hosts_is_a_one_machine_edge_tier() {
    let plan = compile_text("oryx 1\nworker \"o\"\nworker \"e\" count=2 origin=\"o\"\n")
        .plan
        .expect("valid");
    assert_eq!(plan.workers[1].origin.as_deref(), Some("o"));
    assert!(plan.hosts.is_empty() && plan.secret.is_none());
    assert!(plan.workers.iter().all(|w| w.host.is_none()));
    assert!(!plan.canonical_json().contains("\"host\""));
}

#[test]
fn edge_share_reaches_every_edge_of_the_group_and_only_them() {
    let plan = compile_text(
        "oryx 1\nworker \"o\"\nworker \"e\" count=3 origin=\"o\" edge-share=200\nworker \"f\" origin=\"o\"\n",
    )
    .plan
    .expect("valid");
    let shares: Vec<(&str, Option<u32>)> = plan
        .workers
        .iter()
        .map(|w| (w.name.as_str(), w.edge_share))
        .collect();
    assert_eq!(
        shares,
        [
            ("o", None),
            ("e-0", Some(200)),
            ("e-1", Some(200)),
            ("e-2", Some(200)),
            ("f", None),
        ]
    );
    // As a child node too; without it the plan (and its digest) has no such field.
    let child =
        compile_text("oryx 1\nworker \"o\"\nworker \"e\" origin=\"o\" {\n  edge-share 7\n}\n");
    assert_eq!(child.plan.unwrap().workers[1].edge_share, Some(7));
    let without = compile_text("oryx 1\nworker \"o\"\nworker \"e\" origin=\"o\"\n");
    assert!(!without
        .plan
        .unwrap()
        .canonical_json()
        .contains("edge_share"));
}

#[test]
fn edge_share_needs_an_edge_and_a_positive_count() {
    let c = compile_text("oryx 1\nworker \"w\" edge-share=10\n");
    assert_eq!(codes(&c), ["oryx::edge-share-without-origin"]);
    assert!(c.plan.is_none());
    let c = compile_text("oryx 1\nworker \"o\"\nworker \"e\" origin=\"o\" edge-share=0\n");
    assert_eq!(codes(&c), ["oryx::out-of-range"]);
    let c = compile_text("oryx 1\nworker \"o\"\nworker \"e\" origin=\"o\" edge-share=-5\n");
    assert_eq!(codes(&c), ["oryx::out-of-range"]);
    let c = compile_text("oryx 1\nworker \"o\"\nworker \"e\" origin=\"o\" edge-share=\"many\"\n");
    assert_eq!(codes(&c), ["oryx::wrong-type"]);
}

#[test]
fn a_changed_edge_share_is_a_hot_change_of_the_edges() {
    let old = compile_text("oryx 1\nworker \"o\"\nworker \"e\" count=2 origin=\"o\"\nrtmp-lb listen=\"127.0.0.1:1935\"\n")
        .plan
        .unwrap();
    let new = compile_text("oryx 1\nworker \"o\"\nworker \"e\" count=2 origin=\"o\" edge-share=50\nrtmp-lb listen=\"127.0.0.1:1935\"\n")
        .plan
        .unwrap();
    let changes: Vec<(String, &str, Vec<String>)> = old
        .diff(&new)
        .into_iter()
        .map(|c| {
            let fields = c.fields.iter().map(|f| f.path.clone()).collect();
            (c.role, c.class.as_str(), fields)
        })
        .collect();
    let hot = |role: &str| (role.to_string(), "hot", vec!["edge_share".to_string()]);
    assert_eq!(changes, [hot("worker/e-0"), hot("worker/e-1")]);
}

#[test]
fn an_lb_that_lists_only_edges_also_routes_to_their_origin() {
    let text = "oryx 1\nworker \"o\" count=2\nworker \"other\"\nworker \"e\" count=2 origin=\"o\"\nrtmp-lb listen=\"127.0.0.1:1935\" workers=\"e\"\nhttp-lb listen=\"127.0.0.1:8080\" workers=\"e\"\napi-lb listen=\"127.0.0.1:1985\" workers=\"other\"\n";
    let plan = compile_text(text).plan.expect("valid");
    let lbs = [&plan.rtmp_lb, &plan.http_lb, &plan.api_lb];
    let lists: Vec<&Vec<String>> = lbs.iter().map(|lb| &lb.as_ref().unwrap().workers).collect();
    assert_eq!(lists[0], &["o-0", "o-1", "e-0", "e-1"]);
    assert_eq!(lists[1], lists[0]);
    // Not an edge: as listed.
    assert_eq!(lists[2], &["other"]);
    // The rtmp-lb relays or hands publishers to the origins: they take its PROXY header.
    assert!(plan.worker("o-0").unwrap().proxy_protocol);
    assert!(!plan.worker("other").unwrap().proxy_protocol);
    // An edge of edges: the tier it pulls from and that tier's origin.
    let chain = "oryx 1\nworker \"o\"\nworker \"mid\" origin=\"o\"\nworker \"leaf\" origin=\"mid\"\nrtmp-lb listen=\"127.0.0.1:1935\" workers=\"leaf\"\n";
    let plan = compile_text(chain).plan.expect("valid");
    assert_eq!(plan.rtmp_lb.unwrap().workers, ["o", "mid", "leaf"]);
}

#[test]
fn across_hosts_the_origin_an_edge_only_lb_reaches_binds_its_host() {
    let text = "oryx 1\nhost \"lb\" address=\"10.0.0.1\"\nhost \"m\" address=\"10.0.0.2\"\nsecret env=\"S\"\nworker \"o\" host=\"m\"\nworker \"e\" count=2 origin=\"o\" host=\"m\"\nrtmp-lb listen=\"10.0.0.1:1935\" host=\"lb\" workers=\"e\"\n";
    let plan = compile_text(text).plan.expect("valid");
    assert_eq!(plan.rtmp_lb.as_ref().unwrap().workers, ["o", "e-0", "e-1"]);
    assert_eq!(plan.worker("o").unwrap().rtmp.ip().to_string(), "10.0.0.2");
}

#[test]
fn every_host_compiles_the_same_digest() {
    let a = compile_text(MULTI).plan.unwrap().digest();
    let b = compile_text(MULTI).plan.unwrap().digest();
    assert_eq!(a, b);
}

#[test]
fn plan_and_diff_show_placement_by_host() {
    use oryx::compile::render;
    let old = compile_text(MULTI).plan.unwrap();
    let text = render::plan_text(&old);
    assert!(
        text.contains("  media-2 10.0.0.3\n    runs      worker/edge-1, worker/edge-3\n"),
        "{text}"
    );
    let moved = MULTI.replace(
        "worker \"origin\" host=\"media-1\"",
        "worker \"origin\" host=\"media-2\"",
    );
    let new = compile_text(&moved).plan.unwrap();
    let diff = render::diff_text(&old, &new, &old.diff(&new));
    let line = diff
        .lines()
        .find(|l| l.contains("worker/origin"))
        .expect("origin changed");
    assert!(line.ends_with("on media-2"), "{diff}");
    assert!(diff.contains("host: \"media-1\" -> \"media-2\""), "{diff}");
}
