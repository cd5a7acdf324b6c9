//! Every example topology passes `oryx check` and has snapshots of its plan (text and JSON).

mod common;

use std::path::Path;

const EXAMPLES: &[&str] = &[
    "single",
    "cluster",
    "https",
    "external",
    "environments",
    "processing",
    "multi-host",
];

fn oryx(args: &[&str]) -> (i32, String, String) {
    common::cli::oryx(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

fn path(name: &str) -> String {
    format!("examples/configs/{name}.kdl")
}

#[test]
fn every_example_file_is_listed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/configs");
    for entry in std::fs::read_dir(dir).unwrap() {
        let file = entry.unwrap().file_name().into_string().unwrap();
        if let Some(stem) = file.strip_suffix(".kdl") {
            assert!(EXAMPLES.contains(&stem), "add {file} to EXAMPLES");
        }
    }
}

#[test]
fn examples_pass_check_without_errors() {
    for name in EXAMPLES {
        let (status, stdout, _) = oryx(&["check", "--format", "json", &path(name)]);
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(report["error_count"], 0, "{name}: {stdout}");
        assert_eq!(status, 0, "{name}");
    }
    for env in ["dev", "prod"] {
        let (status, stdout, _) = oryx(&["check", "--env", env, &path("environments")]);
        assert_eq!(status, 0, "environments --env {env}: {stdout}");
    }
}

#[test]
fn examples_are_formatted() {
    for name in EXAMPLES {
        let (status, _, stderr) = oryx(&["fmt", "--check", &path(name)]);
        assert_eq!(status, 0, "{name}: {stderr}");
    }
}

#[test]
fn plan_snapshots() {
    let mut runs: Vec<(String, Vec<String>)> = EXAMPLES
        .iter()
        .map(|name| (name.to_string(), vec![path(name)]))
        .collect();
    for env in ["dev", "prod"] {
        runs.push((
            format!("environments-{env}"),
            vec![path("environments"), "--env".into(), env.into()],
        ));
    }
    for (label, args) in runs {
        let mut text_args = vec!["plan"];
        text_args.extend(args.iter().map(String::as_str));
        let (status, text, stderr) = oryx(&text_args);
        assert_eq!(status, 0, "{label}: {stderr}");
        insta::assert_snapshot!(format!("plan-text-{label}"), text);
        text_args.push("--json");
        let (status, json, _) = oryx(&text_args);
        assert_eq!(status, 0, "{label}");
        let value: serde_json::Value = serde_json::from_str(&json).expect("plan json");
        insta::assert_json_snapshot!(format!("plan-json-{label}"), value);
    }
}

#[test]
fn default_topology_is_single_kdl() {
    let single =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path("single")))
            .unwrap();
    assert_eq!(oryx::compile::DEFAULT_TOPOLOGY, single);
    let plan = oryx::compile::compile_source(
        oryx::compile::DEFAULT_TOPOLOGY_NAME,
        oryx::compile::DEFAULT_TOPOLOGY,
        None,
    )
    .unwrap();
    assert_eq!(plan.workers.len(), 1);
    assert_eq!(plan.rtmp_lb.unwrap().listen.to_string(), "0.0.0.0:1935");
    assert_eq!(plan.http_lb.unwrap().listen.to_string(), "0.0.0.0:8080");
    assert_eq!(plan.api_lb.unwrap().listen.to_string(), "127.0.0.1:1985");
}
