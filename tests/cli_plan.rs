//! `oryx plan`: deterministic text and JSON, the digest, `--diff` classification and `--route`.

mod common;

use common::cli::oryx;
use sha2::{Digest, Sha256};

const CLUSTER: &str = "oryx 1\nworker \"live\" count=3\nworker \"big\" kind=\"srs\" binary=\"/bin/sh\"\nrtmp-lb listen=\"0.0.0.0:1935\" workers=\"live\"\nhttp-lb listen=\"0.0.0.0:8080\"\napi-lb listen=\"127.0.0.1:1985\"\n";

#[test]
fn output_is_byte_identical_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.kdl"), CLUSTER).unwrap();
    for args in [&["plan", "t.kdl"][..], &["plan", "--json", "t.kdl"][..]] {
        let first = oryx(dir.path(), args);
        let second = oryx(dir.path(), args);
        assert_eq!(first.0, 0, "{}", first.2);
        assert_eq!(first.1, second.1);
    }
}

#[test]
fn json_is_canonical_with_digest() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.kdl"), CLUSTER).unwrap();
    let (status, json, _) = oryx(dir.path(), &["plan", "--json", "t.kdl"]);
    assert_eq!(status, 0);
    let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let digest = value["digest"].as_str().unwrap().to_string();
    value.as_object_mut().unwrap().remove("digest");
    let canonical = serde_json::to_string(&value).unwrap();
    let expected = format!(
        "sha256:{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    assert_eq!(digest, expected);
    // Round trip: the JSON is a Plan the roles can read back.
    let plan: oryx::compile::plan::Plan = serde_json::from_value(value).unwrap();
    assert_eq!(plan.digest(), digest);
    let names: Vec<_> = plan.workers.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["live-0", "live-1", "live-2", "big"]);
    assert_eq!(
        plan.rtmp_lb.as_ref().unwrap().workers,
        ["live-0", "live-1", "live-2"]
    );
    assert!(
        !plan.workers[3].proxy_protocol,
        "srs is not behind the rtmp-lb"
    );
    let (_, text, _) = oryx(dir.path(), &["plan", "t.kdl"]);
    assert!(text.starts_with(&format!("plan {digest}\n")), "{text}");
}

#[test]
fn invalid_topology_fails_with_diagnostics_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.kdl"), "oryx 1\nworker \"a\" count=0\n").unwrap();
    let (status, stdout, stderr) = oryx(dir.path(), &["plan", "bad.kdl"]);
    assert_eq!(status, 1);
    assert!(stdout.is_empty());
    assert!(stderr.contains("oryx::out-of-range"), "{stderr}");
    assert_eq!(oryx(dir.path(), &["plan", "nope.kdl"]).0, 2);
}

#[test]
fn diff_classifies_changes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("old.kdl"), CLUSTER).unwrap();
    let new = CLUSTER
        .replace(
            "worker \"big\" kind=\"srs\" binary=\"/bin/sh\"",
            "worker \"big\" kind=\"srs\" binary=\"/bin/sh\" chunk-size=4096",
        )
        .replace(
            "http-lb listen=\"0.0.0.0:8080\"",
            "http-lb listen=\"0.0.0.0:8080\" workers=\"big\"",
        );
    std::fs::write(dir.path().join("new.kdl"), new).unwrap();
    let (status, text, stderr) = oryx(dir.path(), &["plan", "new.kdl", "--diff", "old.kdl"]);
    assert_eq!(status, 0, "{stderr}");
    assert!(text.contains("~ worker/big"), "{text}");
    assert!(text.contains("drops-streams"), "{text}");
    assert!(text.contains("stream.chunk_size: 60000 -> 4096"), "{text}");
    assert!(
        text.contains("~ http-lb              changed  hot"),
        "{text}"
    );
    let (_, json, _) = oryx(
        dir.path(),
        &["plan", "new.kdl", "--diff", "old.kdl", "--json"],
    );
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let changes: Vec<(String, String)> = value["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["role"].as_str().unwrap().into(),
                c["class"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            ("worker/big".to_string(), "drops-streams".to_string()),
            ("http-lb".into(), "hot".into())
        ]
    );
    let (_, same, _) = oryx(dir.path(), &["plan", "old.kdl", "--diff", "old.kdl"]);
    assert!(same.ends_with("no changes\n"), "{same}");
}

#[test]
fn route_matches_rendezvous_ranking() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.kdl"), CLUSTER).unwrap();
    let (status, json, stderr) = oryx(
        dir.path(),
        &["plan", "t.kdl", "--route", "live/foo", "--json"],
    );
    assert_eq!(status, 0, "{stderr}");
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let key = oryx::route::parse_route("live/foo").unwrap();
    let workers = ["live-0", "live-1", "live-2"];
    let ranked = oryx::route::rank(&key, &workers);
    assert_eq!(value["key"], key);
    assert_eq!(value["worker"], ranked[0]);
    assert_eq!(value["fallbacks"], serde_json::json!(ranked[1..]));
    let (_, text, _) = oryx(dir.path(), &["plan", "t.kdl", "--route", "live/foo"]);
    assert!(
        text.starts_with("route __defaultVhost__/live/foo\n  1. "),
        "{text}"
    );
    assert!(text.lines().nth(1).unwrap().contains(ranked[0]), "{text}");
    assert_eq!(
        text.lines().count(),
        4,
        "only the rtmp-lb's workers: {text}"
    );
    let (status, _, stderr) = oryx(dir.path(), &["plan", "t.kdl", "--route", "nonsense"]);
    assert_eq!(status, 2);
    assert!(stderr.contains("VHOST/APP/STREAM"), "{stderr}");
}

const PROCESSING: &str = "oryx 1\nworker \"live\" count=2\nworker \"legacy\" kind=\"nginx-rtmp\" binary=\"/bin/sh\"\nrtmp-lb listen=\"0.0.0.0:1935\"\nstream \"rec/*\" {\n    record path=\"/rec/{app}/{stream}-{start}.flv\" segment=\"10m\"\n}\ningest \"live/lobby\" from=\"rtmp://10.0.0.9/live/cam\"\n";

#[test]
fn plan_shows_rules_and_ingests_and_diff_classifies_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("old.kdl"), PROCESSING).unwrap();
    let (status, json, stderr) = oryx(dir.path(), &["plan", "--json", "old.kdl"]);
    assert_eq!(status, 0, "{stderr}");
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    for worker in value["workers"].as_array().unwrap() {
        assert_eq!(worker["stream"]["rules"][0]["pattern"], "rec/*");
        assert_eq!(worker["stream"]["rules"][0]["record"]["format"], "flv");
        assert_eq!(
            worker["stream"]["rules"][0]["record"]["segment_ms"],
            600_000
        );
    }
    let ingest = &value["ingests"][0];
    assert_eq!(ingest["name"], "live-lobby");
    assert_eq!(ingest["stream"], "live/lobby");
    assert_eq!(ingest["binary"], "ffmpeg");
    assert_eq!(ingest["looping"], false);
    let (_, text, _) = oryx(dir.path(), &["plan", "old.kdl"]);
    assert!(text.contains("stream rules (1, on every worker; the first match applies)\n  rec/*\n    record    /rec/{app}/{stream}-{start}.flv (segment 10m)\n"), "{text}");
    assert!(
        text.contains(
            "ingest live-lobby\n    from      rtmp://10.0.0.9/live/cam\n    publishes live/lobby\n"
        ),
        "{text}"
    );

    // A rule change: pushed to the embedded workers, the nginx-rtmp worker restarts with a new
    // nginx.conf. An ingest source change restarts that ingest; a new one starts.
    let new = PROCESSING
        .replace("segment=\"10m\"", "segment=\"5m\"")
        .replace(
            "cam\"\n",
            "cam2\"\ningest \"live/file\" from=\"/srv/loop.mp4\" loop=#true\n",
        );
    std::fs::write(dir.path().join("new.kdl"), new).unwrap();
    let (status, json, stderr) = oryx(
        dir.path(),
        &["plan", "new.kdl", "--diff", "old.kdl", "--json"],
    );
    assert_eq!(status, 0, "{stderr}");
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let changes: Vec<(String, String, String)> = value["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["role"].as_str().unwrap().into(),
                c["kind"].as_str().unwrap().into(),
                c["class"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected = [
        ("worker/live-0", "changed", "hot"),
        ("worker/live-1", "changed", "hot"),
        ("worker/legacy", "changed", "drops-streams"),
        ("ingest/live-lobby", "changed", "restart"),
        ("ingest/live-file", "added", "hot"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(r, k, c)| (r.to_string(), k.to_string(), c.to_string()))
        .collect();
    assert_eq!(changes, expected);
    let (_, text, _) = oryx(dir.path(), &["plan", "old.kdl", "--diff", "new.kdl"]);
    assert!(text.contains("- ingest/live-file"), "{text}");
}

const EDGE_TIER: &str = "oryx 1\nworker \"origin\"\nworker \"edge\" count=3 origin=\"origin\" edge-share=200\nrtmp-lb listen=\"127.0.0.1:1935\"\nhttp-lb listen=\"127.0.0.1:8080\"\n";

#[test]
fn route_with_an_edge_tier_shows_the_origin_and_the_edges_in_spreading_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.kdl"), EDGE_TIER).unwrap();
    let (status, json, stderr) = oryx(
        dir.path(),
        &["plan", "t.kdl", "--route", "live/foo", "--json"],
    );
    assert_eq!(status, 0, "{stderr}");
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let key = oryx::route::parse_route("live/foo").unwrap();
    let edges = oryx::route::rank(&key, &["edge-0", "edge-1", "edge-2"]);
    assert_eq!(value["worker"], "origin");
    let listed: Vec<&str> = value["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["worker"].as_str().unwrap())
        .collect();
    assert_eq!(listed, edges);
    // The group's `edge-share`, for the stream and on each edge.
    assert_eq!(value["edge_share"], 200);
    assert!(value["edges"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["edge_share"] == 200));
    let (_, text, _) = oryx(dir.path(), &["plan", "t.kdl", "--route", "live/foo"]);
    assert!(text.contains("publishers → origin\n  1. origin"), "{text}");
    assert!(text.contains("one more per 200 players"), "{text}");
    let players = text.split("players → edges").nth(1).unwrap();
    assert!(players.lines().nth(1).unwrap().contains(edges[0]), "{text}");
}
