//! `oryx up FILE --host NAME`: a shell runs only the roles placed on its host; every host compiles
//! the same file to the same digest; an unknown host is refused before anything starts.

mod common;

use common::cluster::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Two hosts on loopback addresses: `a` runs the worker `near` and the rtmp-lb, `b` the worker `far`.
fn topology(dir: &Path) -> PathBuf {
    let base = free_port_run(20);
    let lb = free_addr().port();
    let kdl = dir.join("hosts.kdl");
    std::fs::write(
        &kdl,
        format!(
            "oryx 1\nports from={base} to={to}\nhost \"a\" address=\"127.0.0.1\"\nhost \"b\" address=\"127.0.0.2\"\nsecret env=\"ORYX_CLUSTER_SECRET\"\nworker \"near\" host=\"a\"\nworker \"far\" host=\"b\"\nrtmp-lb listen=\"127.0.0.1:{lb}\" host=\"a\" workers=\"near\"\n",
            to = base + 19
        ),
    )
    .unwrap();
    kdl
}

#[test]
fn up_with_host_starts_only_the_roles_placed_there() {
    let dir = tempfile::tempdir().unwrap();
    let kdl = topology(dir.path());
    let plan = oryx::compile::compile_path(&kdl, None).expect("valid");
    let _shell = up_with(&kdl, &dir.path().join("run"), &["--host", "a"]);
    let status = wait_all_ready(&plan, 2, Duration::from_secs(30));
    let mut roles: Vec<&str> = status["roles"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["role"].as_str())
        .collect();
    roles.sort_unstable();
    assert_eq!(roles, ["rtmp-lb", "worker/near"]);
    assert_eq!(status["digest"], plan.digest(), "{status}");
}

#[test]
fn an_unknown_host_is_refused_naming_the_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let kdl = topology(dir.path());
    let (code, _, stderr) = common::cli::oryx(
        dir.path(),
        &[
            "up",
            kdl.to_str().unwrap(),
            "--run-dir",
            dir.path().join("run").to_str().unwrap(),
            "--host",
            "c",
        ],
    );
    assert_ne!(code, 0);
    assert!(
        stderr.contains("--host c: no such host; hosts are a, b"),
        "{stderr}"
    );
}
