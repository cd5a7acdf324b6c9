//! A reload in pod mode (issue 18): the rtmp-lb pod of a worker group grown from 2 to 3 pods
//! reaches the new `worker-edge-2` by its Service DNS name after `oryx reload`, because its
//! address book follows the new plan (the shell's and the role's). No cluster and no DNS here:
//! the LB's health checks of the worker pods fail to resolve their names, and the name it tries
//! (logged) is the proof of which book it dials with.

mod common;

use common::cluster::{oryx_bin, up_with, wait_all_ready};
use common::hosts::ports;
use common::wait::expect_within;
use std::time::Duration;

fn topology(base: u16, rtmp: u16, count: usize) -> String {
    format!(
        "oryx 1\nports from={base} to={to}\nworker \"edge\" count={count}\nrtmp-lb listen=\"127.0.0.1:{rtmp}\"\n",
        to = base + 19
    )
}

#[test]
fn a_reload_in_a_pod_dials_a_grown_group_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let (base, (_, rtmp)) = ports();
    let file = dir.path().join("t.kdl");
    std::fs::write(&file, topology(base, rtmp, 2)).unwrap();
    let plan = oryx::compile::compile_path(&file, None).expect("valid");
    let run = dir.path().join("run");
    let shell = up_with(&file, &run, &["--host", "rtmp-lb"]);
    wait_all_ready(&plan, 1, Duration::from_secs(30));
    expect_within(
        Duration::from_secs(20),
        "the LB pod dials worker-edge-1 by name",
        || {
            shell
                .log_text()
                .contains("peer=worker-edge-1.worker-edge")
                .then_some(())
        },
    );
    assert!(!shell.log_text().contains("worker-edge-2"));

    std::fs::write(&file, topology(base, rtmp, 3)).unwrap();
    let out = std::process::Command::new(oryx_bin())
        .args(["reload", "--run-dir"])
        .arg(&run)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    expect_within(
        Duration::from_secs(20),
        "after the reload the LB pod dials worker-edge-2 by name",
        || {
            // The role's lines (forwarded by the shell with its label): its own book, rebuilt
            // from the plan file, is what its health checks dial with.
            let log = shell.log_text();
            let role = |text: &str| {
                log.lines()
                    .any(|l| l.starts_with("[rtmp-lb]") && l.contains(text))
            };
            (role("address book rebuilt from the new plan")
                && role("peer=worker-edge-2.worker-edge"))
            .then_some(())
        },
    );
}
