//! The cluster secret across hosts: every host's `oryx up` (and a role started by hand) derives the
//! same control secret from the topology's `secret`, so an LB on one host polls a worker on another;
//! a request without it is refused, a missing cluster secret stops `up` with the reason, and the
//! secret is in no log.

mod common;

use common::cluster::*;
use common::control::{cluster_bearer, CLUSTER_ENV, CLUSTER_SECRET, SECRET};
use common::hosts::{plan_json, ports, ready, role_with_cluster_secret, two_hosts};
use common::http::http_with;
use std::process::Command;
use std::time::Duration;

#[test]
fn a_missing_or_empty_cluster_secret_stops_up_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let (base, lb) = ports();
    let kdl = two_hosts(dir.path(), "t.kdl", base, lb, "");
    for value in [None, Some("  ")] {
        let mut command = Command::new(oryx_bin());
        command
            .arg("up")
            .arg(&kdl)
            .args(["--host", "media", "--run-dir"])
            .arg(dir.path().join("run"))
            .env_remove(CLUSTER_ENV);
        if let Some(value) = value {
            command.env(CLUSTER_ENV, value);
        }
        let out = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains(CLUSTER_ENV), "{stderr}");
    }
}

#[test]
fn hosts_share_a_control_secret_derived_from_the_cluster_secret() {
    let dir = tempfile::tempdir().unwrap();
    let (base, lb) = ports();
    let kdl = two_hosts(dir.path(), "t.kdl", base, lb, "");
    let plan = plan_json(&kdl, &dir.path().join("plan.json"));
    let worker = plan.worker("live").unwrap().clone();
    assert_eq!(worker.control.ip().to_string(), "127.0.0.3");

    // Host `media`: its shell is given ORYX_CONTROL_SECRET too, which the cluster secret overrides.
    let media = up_with(&kdl, &dir.path().join("run"), &["--host", "media"]);
    wait_for(Duration::from_secs(30), "the worker ready", || {
        ready(worker.control).then_some(())
    });
    let published = "/api/v1/published";
    let derived = cluster_bearer();
    let refused = |auth: Option<&str>| {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
        http_with(worker.control, "GET", published, &headers)
            .unwrap()
            .0
    };
    assert_eq!(refused(None), 401, "no secret");
    assert_eq!(
        refused(Some(&format!("Bearer {SECRET}"))),
        401,
        "the per-run secret"
    );
    assert_eq!(
        refused(Some(&format!("Bearer {CLUSTER_SECRET}"))),
        401,
        "the cluster secret itself is no credential"
    );
    let (status, body) = http_with(
        worker.control,
        "GET",
        published,
        &[("Authorization", &derived)],
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        http_with(worker.control, "GET", "/healthz", &[]).unwrap().0,
        200,
        "probes stay open"
    );

    // Host `lb`: an http-lb started with nothing but the cluster secret reaches the worker.
    let lb_plan = plan.http_lb.clone().unwrap();
    let lb_log = dir.path().join("http-lb.log");
    let lb_role =
        role_with_cluster_secret("http-lb", "http-lb", &dir.path().join("plan.json"), lb_log);
    let backends = wait_for(
        Duration::from_secs(20),
        "the LB sees the worker healthy",
        || {
            let (status, body) = http_with(
                lb_plan.control,
                "GET",
                "/api/v1/backends",
                &[("Authorization", &derived)],
            )
            .ok()?;
            let value: serde_json::Value = serde_json::from_str(&body).ok()?;
            (status == 200 && value["backends"][0]["healthy"] == true).then_some(value)
        },
    );
    assert_eq!(backends["backends"][0]["name"], "live", "{backends}");
    assert_eq!(
        http_with(lb_plan.control, "GET", "/api/v1/backends", &[])
            .unwrap()
            .0,
        401
    );
    for log in [media.log_text(), lb_role.log_text()] {
        assert!(
            !log.contains(CLUSTER_SECRET),
            "the cluster secret is logged"
        );
        assert!(
            !log.contains(derived.trim_start_matches("Bearer ")),
            "the control secret is logged"
        );
    }
}
