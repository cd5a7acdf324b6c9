//! Reloading a running `oryx up` (with `oryx reload` and with SIGHUP): a broken file changes nothing,
//! a new worker starts without touching the running roles, the LBs get the new worker set pushed (they
//! are not restarted), and a removed worker is stopped.

mod common;

use common::cluster::*;
use oryx::compile::plan::WorkerKind;
use std::process::Command;
use std::time::Duration;

fn reload(run_dir: &std::path::Path) -> std::process::Output {
    Command::new(oryx_bin())
        .args(["reload", "--run-dir"])
        .arg(run_dir)
        .output()
        .unwrap()
}

fn backend_names(plan: &oryx::compile::plan::Plan) -> Vec<String> {
    let control = plan.http_lb.as_ref().unwrap().control;
    let (_, body) = common::control::control(control, "GET", "/api/v1/backends").unwrap();
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    value["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn reload_applies_only_the_difference() {
    let dir = tempfile::tempdir().unwrap();
    let standin = srs_standin(dir.path());
    let standin = standin.to_str().unwrap();
    let a = worker("a", WorkerKind::Srs, Some(standin));
    let mut first = plan(vec![a.clone()]);
    first.http_lb = Some(lb(&first.workers));
    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &first);
    let run_dir = dir.path().join("run");
    let shell = up(&plan_file, &run_dir);
    wait_all_ready(&first, 2, Duration::from_secs(15));
    let a_pid = role_pid(&first, "worker/a").unwrap();
    let lb_pid = role_pid(&first, "http-lb").unwrap();

    // A broken file: refused with the error, nothing restarts.
    std::fs::write(&plan_file, "{ not a plan").unwrap();
    let out = reload(&run_dir);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("reload refused"), "{stderr}");
    assert!(stderr.contains("is not a plan"), "{stderr}");
    shell.signal(libc::SIGHUP);
    wait_for(
        Duration::from_secs(5),
        "the SIGHUP refusal in the log",
        || (shell.log_text().matches("reload refused").count() >= 2).then_some(()),
    );
    assert_eq!(role_pid(&first, "worker/a"), Some(a_pid));

    // Add a worker: it starts, the others keep their processes, the LB learns about it.
    let mut second = first.clone();
    second
        .workers
        .push(worker("b", WorkerKind::Srs, Some(standin)));
    second.http_lb = Some(oryx::compile::plan::LbPlan {
        workers: vec!["a".into(), "b".into()],
        ..first.http_lb.clone().unwrap()
    });
    write_plan(&plan_file, &second);
    let out = reload(&run_dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("started   worker/b"), "{stdout}");
    assert!(stdout.contains("updated   http-lb"), "{stdout}");
    assert!(stdout.contains("unchanged worker/a"), "{stdout}");
    wait_all_ready(&second, 3, Duration::from_secs(15));
    assert_eq!(role_pid(&second, "worker/a"), Some(a_pid));
    assert_eq!(role_pid(&second, "http-lb"), Some(lb_pid));
    assert_eq!(backend_names(&second), ["a", "b"]);
    let shell_file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("shell.json")).unwrap())
            .unwrap();
    assert_eq!(shell_file["digest"], second.digest());

    // Remove it again with SIGHUP: it stops, the LB forgets it.
    let b_pid = role_pid(&second, "worker/b").unwrap();
    write_plan(&plan_file, &first);
    shell.signal(libc::SIGHUP);
    wait_for(Duration::from_secs(10), "worker b stopped", || {
        (!alive(b_pid)).then_some(())
    });
    wait_for(Duration::from_secs(5), "the LB's new backend set", || {
        (backend_names(&first) == ["a"]).then_some(())
    });
    assert_eq!(role_pid(&first, "worker/a"), Some(a_pid));
}
