//! A hung role (SIGSTOP stands in for a deadlock) does not exit, so only its silence tells: the shell
//! kills and restarts a role whose control API stops answering, and says why.

mod common;

use common::cluster::*;
use oryx::compile::plan::WorkerKind;
use std::time::Duration;

#[test]
fn a_stopped_worker_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let w = worker("w", WorkerKind::Embedded, None);
    let plan = plan(vec![w.clone()]);
    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &plan);
    let shell = up(&plan_file, &dir.path().join("run"));
    wait_all_ready(&plan, 1, Duration::from_secs(30));
    let old = role_pid(&plan, "worker/w").expect("the worker's pid");

    // SAFETY: plain kill(2) on the worker the shell started for this test.
    unsafe { libc::kill(old, libc::SIGSTOP) };
    let new = wait_for(Duration::from_secs(60), "a new worker process", || {
        role_pid(&plan, "worker/w").filter(|pid| *pid != old)
    });
    assert_ne!(new, old);
    assert!(!alive(old), "the hung worker is gone");
    let log = shell.log_text();
    assert!(
        log.contains("hung") && log.contains("did not answer"),
        "the restart and its reason are logged:\n{log}"
    );
    let (status, _) = http(w.control, "GET", "/readyz").unwrap();
    assert_eq!(status, 200, "the new worker serves");
}
