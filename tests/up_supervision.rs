//! Supervision by `oryx up`: crash loops are reported, rejected configs are logged, and children die
//! with the shell even when it is killed with SIGKILL (parent-death signal).

mod common;

use common::cluster::*;
use oryx::compile::plan::WorkerKind;
use std::time::Duration;

#[test]
fn a_child_that_keeps_dying_is_reported_as_a_crash_loop() {
    let dir = tempfile::tempdir().unwrap();
    let crasher = crasher(dir.path());
    let plan = plan(vec![worker(
        "flaky",
        WorkerKind::Srs,
        Some(crasher.to_str().unwrap()),
    )]);
    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &plan);
    let shell = up(&plan_file, &dir.path().join("run"));
    wait_for(Duration::from_secs(30), "a crash loop report", || {
        let log = shell.log_text();
        (log.contains("crash loop") && log.contains("[worker/flaky] boom")).then_some(())
    });
    // The shell itself keeps running and answering.
    let (status, _) = http(plan.shell_control, "GET", "/status").unwrap();
    assert_eq!(status, 200);
}

#[test]
fn a_rejected_config_is_logged_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    // `false` fails the `-t -c FILE` validation.
    let plan = plan(vec![worker("picky", WorkerKind::Srs, Some("false"))]);
    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &plan);
    let shell = up(&plan_file, &dir.path().join("run"));
    wait_for(
        Duration::from_secs(10),
        "the validation failure in the log",
        || {
            shell
                .log_text()
                .contains("config rejected by `false -t -c")
                .then_some(())
        },
    );
}

#[test]
fn children_die_when_the_shell_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let standin = srs_standin(dir.path());
    let plan = plan(vec![
        worker("a", WorkerKind::Srs, Some(standin.to_str().unwrap())),
        worker("b", WorkerKind::Srs, Some(standin.to_str().unwrap())),
    ]);
    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &plan);
    let mut shell = up(&plan_file, &dir.path().join("run"));
    wait_all_ready(&plan, 2, Duration::from_secs(15));
    let pids = [
        role_pid(&plan, "worker/a").unwrap(),
        role_pid(&plan, "worker/b").unwrap(),
    ];
    shell.signal(libc::SIGKILL);
    shell
        .wait_exit(Duration::from_secs(5))
        .expect("shell killed");
    wait_for(Duration::from_secs(5), "orphans to die", || {
        pids.iter().all(|pid| !alive(*pid)).then_some(())
    });
}

#[test]
fn json_logs_carry_the_role_of_every_line() {
    let dir = tempfile::tempdir().unwrap();
    let standin = srs_standin(dir.path());
    let plan = plan(vec![worker(
        "j",
        WorkerKind::Srs,
        Some(standin.to_str().unwrap()),
    )]);
    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &plan);
    let shell = up_with(
        &plan_file,
        &dir.path().join("run"),
        &["--log-format", "json"],
    );
    wait_all_ready(&plan, 1, Duration::from_secs(15));
    let records: Vec<serde_json::Value> =
        wait_for(Duration::from_secs(5), "JSON log lines", || {
            let text = shell.log_text();
            let records: Vec<serde_json::Value> = text
                .lines()
                .filter(|l| l.starts_with('{'))
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            records
                .iter()
                .any(|r| r["role"] == "worker/j")
                .then_some(records)
        });
    let forwarded = records.iter().find(|r| r["role"] == "worker/j").unwrap();
    assert!(forwarded["fields"]["message"]
        .as_str()
        .unwrap()
        .contains("stand-in srs listening"));
    // The shell's own events are JSON too, with their role and fields.
    let started = records
        .iter()
        .find(|r| r["fields"]["message"] == "started")
        .expect("the shell's `started` event");
    assert_eq!(started["role"], "shell");
    assert_eq!(started["fields"]["role"], "worker/j");
    assert_eq!(started["level"], "INFO");
}

#[test]
fn sigint_stops_every_child_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let standin = srs_standin(dir.path());
    let plan = plan(vec![worker(
        "i",
        WorkerKind::Srs,
        Some(standin.to_str().unwrap()),
    )]);
    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &plan);
    let run_dir = dir.path().join("run");
    let mut shell = up(&plan_file, &run_dir);
    wait_all_ready(&plan, 1, Duration::from_secs(15));
    let pid = role_pid(&plan, "worker/i").unwrap();
    assert!(run_dir.join("shell.json").exists());
    shell.signal(libc::SIGINT);
    let status = shell
        .wait_exit(Duration::from_secs(10))
        .expect("the shell exits");
    assert!(status.success(), "{status}\n{}", shell.log_text());
    assert!(!alive(pid), "the child survived");
    assert!(
        !run_dir.join("shell.json").exists(),
        "shell.json left behind"
    );
}

#[test]
fn sigterm_during_startup_stops_at_once() {
    let dir = tempfile::tempdir().unwrap();
    // A worker that never gets ready: its program does not exist.
    let missing = dir.path().join("no-such-srs");
    let plan = plan(vec![worker(
        "m",
        WorkerKind::Srs,
        Some(missing.to_str().unwrap()),
    )]);
    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &plan);
    let mut shell = up(&plan_file, &dir.path().join("run"));
    wait_for(
        Duration::from_secs(10),
        "the start failure in the log",
        || {
            let log = shell.log_text();
            log.contains(&format!("cannot run {}", missing.display()))
                .then_some(())
        },
    );
    shell.signal(libc::SIGTERM);
    let status = shell
        .wait_exit(Duration::from_secs(5))
        .expect("the shell exits promptly");
    assert!(status.success(), "{status}\n{}", shell.log_text());
}
