//! Players follow the publisher, not only the hash: a stream published through the rtmp-lb while its
//! rendezvous first choice was down lands on the other worker; once the first choice is back and the
//! LBs see it healthy, players through the rtmp-lb (ffprobe over RTMP) and the http-lb (HTTP-FLV)
//! still reach the stream, because the LBs poll where each stream is published and route there first.
//! A second publish of the stream goes to the same worker, which refuses it, instead of starting a
//! copy on the first choice.

mod common;

use common::cluster::*;
use common::http::metric;
use oryx::compile::plan::{Plan, WorkerKind, WorkerPlan};
use oryx::route;
use std::time::Duration;

/// The `/api/v1/backends` entry for `worker` on the LB whose control API is at `lb`.
fn backend_view(lb: std::net::SocketAddr, worker: &str) -> Option<serde_json::Value> {
    let (status, body) = control(lb, "GET", "/api/v1/backends").ok()?;
    let value: serde_json::Value = serde_json::from_str(&body).ok()?;
    (status == 200).then_some(())?;
    value["backends"]
        .as_array()?
        .iter()
        .find(|b| b["name"] == worker)
        .cloned()
}

/// The streams `worker` reports publishing.
fn published_on(worker: &WorkerPlan) -> Vec<serde_json::Value> {
    let (_, body) = control(worker.control, "GET", "/api/v1/published").unwrap();
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    value["streams"].as_array().unwrap().clone()
}

#[test]
fn players_reach_a_stream_published_while_its_first_choice_was_down() {
    let dir = tempfile::tempdir().unwrap();
    let media = make_media(dir.path());
    let fallback = worker("w-0", WorkerKind::Embedded, None);
    let first_choice = worker("w-1", WorkerKind::Embedded, None);
    let mut plan: Plan = plan(vec![fallback.clone(), first_choice.clone()]);
    plan.rtmp_lb = Some(lb(&plan.workers));
    plan.http_lb = Some(lb(&plan.workers));
    let rtmp_lb = plan.rtmp_lb.clone().unwrap();
    let http_lb = plan.http_lb.clone().unwrap();
    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &plan);
    let stream = (0..100)
        .map(|i| format!("a{i}"))
        .find(|s| route::rank(&route::stream_key("", "live", s), &["w-0", "w-1"])[0] == "w-1")
        .unwrap();

    // Only the fallback runs: the publish through the rtmp-lb lands there.
    let _fallback_proc = worker_role(&plan_file, &fallback, dir.path());
    let _rtmp_lb_proc = role("rtmp-lb", &plan, rtmp_lb.control, dir.path());
    let _http_lb_proc = role("http-lb", &plan, http_lb.control, dir.path());
    let _publisher = publish(
        &media,
        &format!("rtmp://{}/live/{stream}", rtmp_lb.listen),
        dir.path().join("pub.log"),
    );
    wait_for(
        Duration::from_secs(15),
        "the stream published on w-0",
        || (published_on(&fallback).len() == 1).then_some(()),
    );
    assert_eq!(
        published_on(&fallback)[0],
        serde_json::json!({"vhost": "__defaultVhost__", "app": "live", "stream": stream})
    );

    // The first choice comes back; both LBs see it healthy and see where the stream is.
    let _first_choice_proc = worker_role(&plan_file, &first_choice, dir.path());
    for control in [rtmp_lb.control, http_lb.control] {
        wait_for(
            Duration::from_secs(10),
            "the LB to see w-1 healthy and w-0 publishing",
            || {
                let back = backend_view(control, "w-1")?["healthy"] == true;
                let publishing = backend_view(control, "w-0")?["published"] == 1;
                (back && publishing).then_some(())
            },
        );
    }

    // Players through either LB reach the publisher (on w-1 they would wait for it forever).
    assert!(
        probe(&format!("rtmp://{}/live/{stream}", rtmp_lb.listen)),
        "the stream plays through the rtmp-lb"
    );
    assert!(
        probe(&format!("http://{}/live/{stream}.flv", http_lb.listen)),
        "the stream plays through the http-lb"
    );

    // A second publisher of the stream is sent to w-0 too, which refuses it: no copy starts on w-1.
    let mut second = publish(
        &media,
        &format!("rtmp://{}/live/{stream}", rtmp_lb.listen),
        dir.path().join("second.log"),
    );
    let status = second
        .wait_exit(Duration::from_secs(15))
        .expect("the second publisher is refused");
    assert!(!status.success(), "{}", second.log_text());
    assert!(published_on(&first_choice).is_empty());

    let (_, metrics) = control(rtmp_lb.control, "GET", "/metrics").unwrap();
    assert!(
        metric(&metrics, "oryx_rtmp_lb_routed_total{worker=\"w-0\"}") >= 3.0,
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "oryx_rtmp_lb_routed_total{worker=\"w-1\"}"),
        0.0,
        "{metrics}"
    );
}
