//! Kubernetes pod names as `--host`: `oryx up FILE --host worker-live-0` (a StatefulSet pod's own
//! name, what `--emit kubernetes` puts in `ORYX_HOST`) runs that worker and nothing else.

mod common;

use common::cluster::*;
use common::hosts::{ports, ready, two_hosts};
use std::time::Duration;

#[test]
fn a_pod_name_runs_its_one_role() {
    let dir = tempfile::tempdir().unwrap();
    let (base, lb) = ports();
    let kdl = two_hosts(dir.path(), "t.kdl", base, lb, "");
    let plan = oryx::compile::compile_path(&kdl, None).expect("valid");
    assert_eq!(
        plan.pod_role("worker-live-0").as_deref(),
        Some("worker/live")
    );
    let _pod = up_with(&kdl, &dir.path().join("run"), &["--host", "worker-live-0"]);
    let status = wait_all_ready(&plan, 1, Duration::from_secs(30));
    assert_eq!(status["roles"][0]["role"], "worker/live", "{status}");
    assert!(ready(plan.worker("live").unwrap().control));
    assert!(
        !ready(plan.http_lb.as_ref().unwrap().control),
        "the LBs are other pods"
    );
}
