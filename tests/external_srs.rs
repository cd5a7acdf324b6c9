//! The srs.conf compiled for a `kind="srs"` worker, pinned with a snapshot, and an SRS worker supervised
//! by `oryx up` (a stand-in program plays SRS, refusing what SRS refuses: it is not packaged here;
//! `tests/srs_real.rs` runs the real one).

mod common;

use common::cluster::*;
use oryx::compile::plan::WorkerKind;
use oryx::runtime::external;
use std::path::Path;
use std::time::Duration;

fn fixed_worker() -> oryx::compile::plan::WorkerPlan {
    let mut w = worker("origin-0", WorkerKind::Srs, Some("/usr/local/srs/objs/srs"));
    w.rtmp = "127.0.0.1:19350".parse().unwrap();
    w.http = "127.0.0.1:19351".parse().unwrap();
    w.control = "127.0.0.1:19352".parse().unwrap();
    w.stream.merge_write_ms = 350;
    w.stream.merge_read_ms = 100;
    w.stream.hooks.on_publish = vec!["http://127.0.0.1:8085/api/v1/streams".into()];
    w
}

#[test]
fn srs_conf_is_compiled_from_the_plan() {
    let conf = external::srs::config(
        &fixed_worker(),
        Path::new("/run/oryx/workers/origin-0"),
        1 << 20,
    );
    assert_eq!(conf.clamped, None);
    insta::assert_snapshot!("srs_conf", conf.text);
}

#[test]
fn nginx_conf_is_compiled_from_the_plan() {
    let mut w = fixed_worker();
    w.kind = WorkerKind::NginxRtmp;
    w.stream.max_connections = 1000;
    let conf = external::nginx_rtmp::config(&w, Path::new("/run/oryx/workers/origin-0"));
    insta::assert_snapshot!("nginx_conf", conf);
}

#[test]
fn srs_worker_is_validated_started_and_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let standin = srs_standin(dir.path());
    let origin = worker("origin", WorkerKind::Srs, Some(standin.to_str().unwrap()));
    let plan = plan(vec![origin.clone()]);
    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &plan);
    let run_dir = dir.path().join("run");
    let shell = up(&plan_file, &run_dir);

    wait_all_ready(&plan, 1, Duration::from_secs(15));
    let conf = std::fs::read_to_string(run_dir.join("workers/origin/srs.conf")).unwrap();
    assert!(conf.contains(&format!("listen {};", origin.rtmp)));
    wait_for(
        Duration::from_secs(5),
        "the stand-in's output, prefixed",
        || {
            shell
                .log_text()
                .contains("[worker/origin] stand-in srs listening")
                .then_some(())
        },
    );

    // SRS's colours stay out of oryx's log.
    wait_for(Duration::from_secs(5), "the stand-in's warning", || {
        let log = shell.log_text();
        log.contains("[worker/origin] [WARN] stand-in srs is not stable")
            .then_some(())
    });
    assert!(!shell.log_text().contains('\x1b'));

    let old = role_pid(&plan, "worker/origin").unwrap();
    unsafe { libc::kill(old, libc::SIGKILL) };
    let start = std::time::Instant::now();
    wait_for(Duration::from_secs(5), "the SRS worker restarted", || {
        role_pid(&plan, "worker/origin").filter(|pid| *pid != old)
    });
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "restart took {:?}",
        start.elapsed()
    );
}

#[test]
fn srs_worker_starts_under_a_1024_open_files_limit() {
    // oryx's default max-connections (10000) and `ulimit -n 1024`: SRS refuses 10000 + 128 >= 1024.
    for (hard, expected) in [
        (None, "max_connections 10000;"),
        (Some(1024), "max_connections 895;"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let standin = srs_standin(dir.path());
        let mut origin = worker("origin", WorkerKind::Srs, Some(standin.to_str().unwrap()));
        origin.stream.max_connections = 10000;
        let plan = plan(vec![origin]);
        let plan_file = dir.path().join("plan.json");
        write_plan(&plan_file, &plan);
        let run_dir = dir.path().join("run");
        // A soft limit of 1024 is raised to the hard one; a hard one of 1024 gets a clamp and a warning.
        let shell = up_with_open_files(&plan_file, &run_dir, 1024, hard);
        let status = wait_all_ready(&plan, 1, Duration::from_secs(15));
        assert_eq!(status["roles"][0]["starts"], 1, "{}", shell.log_text());
        let conf = std::fs::read_to_string(run_dir.join("workers/origin/srs.conf")).unwrap();
        assert!(conf.contains(expected), "{conf}");
        let warned = shell
            .log_text()
            .contains("does not fit under the open-files limit");
        assert_eq!(warned, hard.is_some(), "{}", shell.log_text());
    }
}

#[test]
fn the_lbs_see_an_srs_worker_through_its_api() {
    let dir = tempfile::tempdir().unwrap();
    let standin = srs_standin(dir.path());
    let origin = worker("origin", WorkerKind::Srs, Some(standin.to_str().unwrap()));
    let mut plan = plan(vec![origin]);
    plan.rtmp_lb = Some(lb(&plan.workers));
    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &plan);
    let _shell = up(&plan_file, &dir.path().join("run"));
    wait_all_ready(&plan, 2, Duration::from_secs(15));
    let control = plan.rtmp_lb.as_ref().unwrap().control;
    wait_for(Duration::from_secs(5), "the SRS worker healthy", || {
        let (_, body) = common::control::control(control, "GET", "/api/v1/backends").ok()?;
        let body: serde_json::Value = serde_json::from_str(&body).ok()?;
        (body["backends"][0]["healthy"] == true).then_some(())
    });
}
