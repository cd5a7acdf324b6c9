//! Digest reports: a worker tells the LBs which plan it runs (`digest` in `/api/v1/published`); an
//! LB polling a worker compiled from another file says so on `GET /api/v1/backends`
//! (`digest_mismatch`), in `oryx_peer_digest_mismatch{peer}` and in its log, and keeps routing to
//! it. The same file on both hosts reports no mismatch.

mod common;

use common::cluster::*;
use common::control::cluster_bearer;
use common::hosts::{plan_json, ports, ready, role_with_cluster_secret, two_hosts};
use common::http::{http_with, metric};
use std::time::Duration;

const SERIES: &str = "oryx_peer_digest_mismatch{peer=\"worker/live\"}";

/// The LB's view of worker `live` once it has polled it: (backend entry, `/metrics` page).
fn lb_view(control: std::net::SocketAddr) -> (serde_json::Value, String) {
    let auth = [("Authorization", cluster_bearer())];
    let auth: Vec<(&str, &str)> = auth.iter().map(|(k, v)| (*k, v.as_str())).collect();
    wait_for(
        Duration::from_secs(20),
        "the LB has the worker's digest",
        || {
            let (_, body) = http_with(control, "GET", "/api/v1/backends", &auth).ok()?;
            let value: serde_json::Value = serde_json::from_str(&body).ok()?;
            let entry = value["backends"][0].clone();
            let (_, metrics) = http_with(control, "GET", "/metrics", &auth).ok()?;
            (entry["digest"].is_string() && metrics.contains(SERIES)).then_some((entry, metrics))
        },
    )
}

#[test]
fn an_lb_reports_a_worker_that_runs_another_plan_and_keeps_routing() {
    let dir = tempfile::tempdir().unwrap();
    let (base, lb) = ports();
    let file_a = two_hosts(dir.path(), "a.kdl", base, lb, "");
    // The same hosts and addresses, another HLS window: another digest.
    let file_b = two_hosts(dir.path(), "b.kdl", base, lb, "defaults { hls window=7 }\n");
    let plan_a = plan_json(&file_a, &dir.path().join("a.json"));
    let plan_b = plan_json(&file_b, &dir.path().join("b.json"));
    assert_ne!(plan_a.digest(), plan_b.digest());
    let worker = plan_a.worker("live").unwrap().clone();
    let lb_control = plan_a.http_lb.as_ref().unwrap().control;
    assert_eq!(plan_b.http_lb.as_ref().unwrap().control, lb_control);

    let _media = up_with(&file_a, &dir.path().join("run"), &["--host", "media"]);
    wait_for(Duration::from_secs(30), "the worker ready", || {
        ready(worker.control).then_some(())
    });
    let (_, body) = http_with(
        worker.control,
        "GET",
        "/api/v1/published",
        &[("Authorization", &cluster_bearer())],
    )
    .unwrap();
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["digest"], plan_a.digest(), "{report}");

    // An LB from the other file: the mismatch shows, the worker stays healthy (routed to).
    {
        let log = dir.path().join("lb-b.log");
        let lb_b = role_with_cluster_secret("http-lb", "http-lb", &dir.path().join("b.json"), log);
        let (entry, metrics) = lb_view(lb_control);
        assert_eq!(entry["digest"], plan_a.digest(), "{entry}");
        assert_eq!(entry["digest_mismatch"], true, "{entry}");
        assert_eq!(entry["healthy"], true, "reported, not refused: {entry}");
        assert_eq!(metric(&metrics, SERIES), 1.0);
        let text = lb_b.log_text();
        assert_eq!(text.matches("peer runs another plan").count(), 1, "{text}");
    }
    wait_for(Duration::from_secs(10), "the first LB gone", || {
        (!ready(lb_control)).then_some(())
    });
    // An LB from the same file: no mismatch.
    let log = dir.path().join("lb-a.log");
    let _lb_a = role_with_cluster_secret("http-lb", "http-lb", &dir.path().join("a.json"), log);
    let (entry, metrics) = lb_view(lb_control);
    assert_eq!(entry["digest_mismatch"], false, "{entry}");
    assert_eq!(metric(&metrics, SERIES), 0.0);
}
