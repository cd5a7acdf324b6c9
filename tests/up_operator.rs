//! `oryx up` as a new operator meets it: a taken public port fails at once naming the role, a second
//! `up` in the same run directory names the first, and one `/metrics` covers every role.

mod common;

use common::cluster::*;
use std::time::Duration;

fn topology(dir: &std::path::Path, rtmp: u16, http: u16) -> std::path::PathBuf {
    let base = free_port_run(20);
    let kdl = dir.join("t.kdl");
    std::fs::write(
        &kdl,
        format!(
            "oryx 1\nports from={base} to={to}\nworker \"live\"\nrtmp-lb listen=\"127.0.0.1:{rtmp}\"\nhttp-lb listen=\"127.0.0.1:{http}\"\n",
            to = base + 19
        ),
    )
    .unwrap();
    kdl
}

#[test]
fn a_taken_public_port_fails_up_at_once_naming_the_role() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let http = taken.local_addr().unwrap().port();
    let kdl = topology(dir.path(), free_addr().port(), http);
    let mut shell = up(&kdl, &dir.path().join("run"));
    let status = shell
        .wait_exit(Duration::from_secs(15))
        .expect("up must exit, not retry forever");
    assert_eq!(status.code(), Some(1));
    let log = shell.log_text();
    assert!(
        log.contains(&format!("http-lb cannot listen on 127.0.0.1:{http}")),
        "{log}"
    );
    assert!(!log.contains("all roles started"), "{log}");
}

#[test]
fn a_second_up_names_the_first_and_one_metrics_page_covers_every_role() {
    let dir = tempfile::tempdir().unwrap();
    let kdl = topology(dir.path(), free_addr().port(), free_addr().port());
    let run = dir.path().join("run");
    let (plan, first) = up_ready(&kdl, &run, &[], 3);
    assert!(first
        .log_text()
        .contains(&format!("metrics  http://{}/metrics", plan.shell_control)));

    // The same run directory (another log file, so the first one's stays readable).
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_oryx"));
    command.arg("up").arg(&kdl).arg("--run-dir").arg(&run);
    let mut second = Proc::spawn(command, dir.path().join("second.log"));
    let status = second
        .wait_exit(Duration::from_secs(15))
        .expect("a second up must exit");
    assert_eq!(status.code(), Some(1));
    let log = second.log_text();
    assert!(
        log.contains(&format!("another `oryx up` (pid {})", first.pid())),
        "{log}"
    );

    let page = wait_for(Duration::from_secs(10), "the merged metrics", || {
        let (status, page) =
            common::control::control(plan.shell_control, "GET", "/metrics").ok()?;
        (status == 200 && page.contains("oryx_shell_role_ready{role=\"http-lb\"} 1"))
            .then_some(page)
    });
    for role in ["worker/live", "rtmp-lb", "http-lb"] {
        assert!(
            page.contains(&format!("oryx_shell_role_ready{{role=\"{role}\"}} 1")),
            "{role}: {page}"
        );
        assert!(
            page.contains(&format!("oryx_shell_role_scrape_ok{{role=\"{role}\"}} 1")),
            "{role}: {page}"
        );
        assert!(
            page.contains(&format!(
                "oryx_shell_role_restarts_total{{role=\"{role}\"}} 0"
            )),
            "{role}: {page}"
        );
    }
    // Like every control route, the merged page needs the run's secret.
    let (status, _) = http(plan.shell_control, "GET", "/metrics").unwrap();
    assert_eq!(status, 401);
    // The roles' own series are there, each family once.
    assert!(page.contains("role=\"worker/live\""), "{page}");
    for line in page.lines().filter(|l| l.starts_with("# TYPE ")) {
        assert_eq!(page.matches(&format!("{line}\n")).count(), 1, "{line}");
    }
}
