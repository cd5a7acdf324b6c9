//! The SRT parts of the topology language: a worker's `srt` block and the `srt-lb` node become
//! `WorkerPlan.srt` and `Plan.srt_lb`; an srt-lb gives every SRT-capable worker a loopback SRT
//! listener on its RTMP port's number (UDP) without moving any other port; bad values and SRT on
//! nginx-rtmp are reported where they are written.

mod common;

use common::cli::oryx;
use std::path::Path;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn plan_json(dir: &Path, file: &str) -> serde_json::Value {
    let (status, stdout, stderr) = oryx(dir, &["plan", "--json", file]);
    assert_eq!(status, 0, "{stdout}{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

const BASE: &str = "oryx 1\nworker \"edge\" count=2\nworker \"srs\" kind=\"srs\" binary=\"/bin/sh\"\nworker \"legacy\" kind=\"nginx-rtmp\" binary=\"/bin/sh\"\nrtmp-lb listen=\"0.0.0.0:1935\"\n";

#[test]
fn an_srt_lb_gives_srt_capable_workers_listeners_and_moves_no_port() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "base.kdl", BASE);
    let with_lb = format!("{BASE}srt-lb listen=\"0.0.0.0:10080\" latency=\"200ms\" passphrase-env=\"SRT_PASSPHRASE\" pbkeylen=32\n");
    write(dir.path(), "srt.kdl", &with_lb);
    let base = plan_json(dir.path(), "base.kdl");
    let plan = plan_json(dir.path(), "srt.kdl");

    assert!(base.get("srt_lb").is_none(), "old plans keep their JSON");
    assert!(base["workers"][0].get("srt").is_none());
    for (old, new) in base["workers"]
        .as_array()
        .unwrap()
        .iter()
        .zip(plan["workers"].as_array().unwrap())
    {
        for key in ["rtmp", "http", "control"] {
            assert_eq!(old[key], new[key], "{key} of {}", new["name"]);
        }
    }
    for key in ["shell_control", "rtmp_lb"] {
        assert_eq!(base[key], plan[key], "{key}");
    }
    let lb = &plan["srt_lb"];
    assert_eq!(lb["listen"], "0.0.0.0:10080");
    assert_eq!(
        lb["workers"],
        serde_json::json!(["edge-0", "edge-1", "srs"])
    );
    for worker in &plan["workers"].as_array().unwrap()[..3] {
        let srt = &worker["srt"];
        let rtmp_port = worker["rtmp"].as_str().unwrap().rsplit(':').next().unwrap();
        assert_eq!(srt["listen"], format!("127.0.0.1:{rtmp_port}"));
        assert_eq!(srt["latency_ms"], 200);
        assert_eq!(srt["passphrase_env"], "SRT_PASSPHRASE");
        assert_eq!(srt["pbkeylen"], 32);
    }
    assert!(
        plan["workers"][3].get("srt").is_none(),
        "nginx-rtmp has no SRT"
    );
}

#[test]
fn a_workers_own_srt_block_takes_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "w.kdl",
        "oryx 1\nworker \"w\" {\n    srt listen=\"0.0.0.0:10080\"\n}\n",
    );
    let plan = plan_json(dir.path(), "w.kdl");
    assert_eq!(
        plan["workers"][0]["srt"],
        serde_json::json!({"listen": "0.0.0.0:10080", "latency_ms": 120, "pbkeylen": 16})
    );
}

const BAD: &str = r#"oryx 1
worker "w" {
    srt listen="0.0.0.0:10080" latency="2min" pbkeylen=20 passphrase-env="1-BAD"
}
worker "legacy" kind="nginx-rtmp" binary="/bin/sh" {
    srt listen="0.0.0.0:10081"
}
srt-lb listen="0.0.0.0:10082" workers="legacy"
"#;

#[test]
fn bad_srt_values_and_srt_on_nginx_rtmp_are_reported_where_written() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "bad.kdl", BAD);
    let (status, stdout, _) = oryx(dir.path(), &["check", "--format", "json", "bad.kdl"]);
    assert_eq!(status, 1, "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let found: Vec<(String, String)> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let label = &d["labels"][0];
            let offset = label["offset"].as_u64().unwrap() as usize;
            let length = label["length"].as_u64().unwrap() as usize;
            (
                d["code"].as_str().unwrap().to_string(),
                BAD[offset..offset + length].to_string(),
            )
        })
        .collect();
    let expected = [
        ("oryx::out-of-range", "latency=\"2min\""),
        ("oryx::bad-value", "pbkeylen=20"),
        ("oryx::bad-value", "passphrase-env=\"1-BAD\""),
        ("oryx::unsupported-on-kind", "srt"),
        ("oryx::unsupported-on-kind", "workers=\"legacy\""),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(c, s)| (c.to_string(), s.to_string()))
        .collect();
    assert_eq!(found, expected);
}
