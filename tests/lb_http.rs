//! The http-lb in front of fake workers: stream affinity by rendezvous hashing, fallback to the next
//! worker, the worker that reports publishing a stream preferred, 502 when none serves, 404 for other
//! paths, forwarded-for headers, streamed bodies.

mod common;

use common::cluster::*;
use oryx::route;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

#[test]
fn http_lb_routes_streams_to_their_worker_and_falls_back() {
    let dir = tempfile::tempdir().unwrap();
    let fakes: Vec<FakeWorker> = ["w-0", "w-1", "w-2"]
        .iter()
        .map(|n| fake_worker(n))
        .collect();
    let mut workers: Vec<_> = ["w-0", "w-1", "w-2"]
        .iter()
        .zip(&fakes)
        .map(|(n, f)| fake_worker_plan(n, f))
        .collect();
    // w-3 exists in the plan but nothing listens: it is down.
    workers.push(worker(
        "w-3",
        oryx::compile::plan::WorkerKind::Embedded,
        None,
    ));
    let mut plan = plan(workers);
    plan.http_lb = Some(lb(&plan.workers));
    let lb_plan = plan.http_lb.clone().unwrap();
    let _lb = role("http-lb", &plan, lb_plan.control, dir.path());
    let names = ["w-0", "w-1", "w-2", "w-3"];

    let mut served_by = std::collections::BTreeSet::new();
    for i in 0..16 {
        let stream = format!("s{i}");
        let key = route::stream_key("", "live", &stream);
        // The first healthy worker in the ranking (w-3 is down).
        let expected = *route::rank(&key, &names)
            .iter()
            .find(|w| **w != "w-3")
            .unwrap();
        for path in [
            format!("/live/{stream}.flv"),
            format!("/live/{stream}.m3u8"),
            format!("/live/{stream}-7.ts"),
        ] {
            let (status, body) = http(lb_plan.listen, "GET", &path).unwrap();
            assert_eq!(status, 200, "{path}: {body}");
            assert!(
                body.starts_with(&format!("worker={expected} ")),
                "{path}: {body}"
            );
            assert!(body.contains("xff=127.0.0.1 real=127.0.0.1"), "{body}");
        }
        served_by.insert(expected);
    }
    assert!(
        served_by.len() > 1,
        "all streams on one worker: {served_by:?}"
    );

    // An explicit vhost is part of the key.
    let key = route::stream_key("v.example", "live", "s1");
    let expected = *route::rank(&key, &names)
        .iter()
        .find(|w| **w != "w-3")
        .unwrap();
    let (_, body) = http(lb_plan.listen, "GET", "/live/s1.flv?vhost=v.example").unwrap();
    assert!(body.starts_with(&format!("worker={expected} ")), "{body}");

    // What a client claims in X-Forwarded-For and X-Real-IP is replaced by the address it comes from.
    let (_, body) = http_with(
        lb_plan.listen,
        "GET",
        "/live/s1.flv",
        &[("X-Forwarded-For", "10.0.0.9"), ("X-Real-IP", "10.0.0.8")],
    )
    .unwrap();
    assert!(body.contains("xff=127.0.0.1 real=127.0.0.1"), "{body}");

    let (status, body) = http(lb_plan.listen, "GET", "/index.html").unwrap();
    assert_eq!(status, 404, "{body}");

    // The backends API shows the health the LB sees.
    let (_, backends) = control(lb_plan.control, "GET", "/api/v1/backends").unwrap();
    let backends: serde_json::Value = serde_json::from_str(&backends).unwrap();
    let down: Vec<_> = backends["backends"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["healthy"] == false)
        .map(|b| b["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(down, ["w-3"]);
}

#[test]
fn http_lb_sends_a_stream_to_the_worker_that_publishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["w-0", "w-1", "w-2"];
    let last_choice = |key: &str| route::rank(key, &names)[2].to_string();
    // Each stream is published on its last rendezvous choice: `cam` from a host name (the worker made
    // the host its vhost; the LB ignores host names), `show` in an explicit vhost.
    let cam_worker = last_choice(&route::stream_key("", "live", "cam"));
    let show_worker = last_choice(&route::stream_key("v.example", "live", "show"));
    let fakes: Vec<FakeWorker> = names
        .iter()
        .map(|name| {
            let mut streams = Vec::new();
            if *name == cam_worker {
                streams.push(("live.example.com", "live", "cam"));
            }
            if *name == show_worker {
                streams.push(("v.example", "live", "show"));
            }
            fake_worker_publishing(name, &streams)
        })
        .collect();
    let workers: Vec<_> = names
        .iter()
        .zip(&fakes)
        .map(|(n, f)| fake_worker_plan(n, f))
        .collect();
    let mut plan = plan(workers);
    plan.http_lb = Some(lb(&plan.workers));
    let lb_plan = plan.http_lb.clone().unwrap();
    // The LB polls its workers once before it reports ready.
    let _lb = role("http-lb", &plan, lb_plan.control, dir.path());
    let served_by = |path: &str| {
        let (status, body) = http(lb_plan.listen, "GET", path).unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        body.strip_prefix("worker=")
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or_else(|| panic!("{path}: {body}"))
            .to_string()
    };

    for path in ["/live/cam.flv", "/live/cam.m3u8", "/live/cam-3.ts"] {
        assert_eq!(served_by(path), cam_worker, "{path}");
    }
    assert_eq!(served_by("/live/show.flv?vhost=v.example"), show_worker);
    // Without a vhost the key matches a publisher of the same app and stream in any vhost.
    assert_eq!(served_by("/live/show.flv"), show_worker);
    // Another explicit vhost is another stream: plain rendezvous.
    let other = route::stream_key("w.example", "live", "show");
    assert_eq!(
        served_by("/live/show.flv?vhost=w.example"),
        route::rank(&other, &names)[0]
    );
    let unpublished = route::stream_key("", "live", "nobody");
    assert_eq!(
        served_by("/live/nobody.flv"),
        route::rank(&unpublished, &names)[0]
    );

    // The backends API counts what each worker publishes.
    let (_, backends) = control(lb_plan.control, "GET", "/api/v1/backends").unwrap();
    let backends: serde_json::Value = serde_json::from_str(&backends).unwrap();
    let total: u64 = backends["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["published"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 2, "{backends}");
}

#[test]
fn http_lb_streams_bodies_without_buffering() {
    let dir = tempfile::tempdir().unwrap();
    let fake = fake_worker("only");
    let mut plan = plan(vec![fake_worker_plan("only", &fake)]);
    plan.http_lb = Some(lb(&plan.workers));
    let lb_plan = plan.http_lb.clone().unwrap();
    let _lb = role("http-lb", &plan, lb_plan.control, dir.path());

    let mut stream = std::net::TcpStream::connect(lb_plan.listen).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET /live/slow.flv HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let start = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains("FLV-first") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    // The worker holds the rest back for 3 s; the first bytes must not wait for it.
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "first bytes took {:?}",
        start.elapsed()
    );
    assert!(!String::from_utf8_lossy(&seen).contains("-rest"));
}

#[test]
fn http_lb_answers_502_when_no_worker_serves() {
    let dir = tempfile::tempdir().unwrap();
    let mut plan = plan(vec![worker(
        "gone",
        oryx::compile::plan::WorkerKind::Embedded,
        None,
    )]);
    plan.http_lb = Some(lb(&plan.workers));
    let lb_plan = plan.http_lb.clone().unwrap();
    let _lb = role("http-lb", &plan, lb_plan.control, dir.path());
    let (status, body) = http(lb_plan.listen, "GET", "/live/cam.flv").unwrap();
    assert_eq!(status, 502);
    assert!(
        body.contains("no worker serves __defaultVhost__/live/cam"),
        "{body}"
    );
}

#[test]
fn http_lb_stops_accepting_on_sigterm_and_exits_within_the_drain_window() {
    let dir = tempfile::tempdir().unwrap();
    let fake = fake_worker("only");
    let mut plan = plan(vec![fake_worker_plan("only", &fake)]);
    plan.http_lb = Some(lb(&plan.workers));
    let lb_plan = plan.http_lb.clone().unwrap();
    let mut lb = role("http-lb", &plan, lb_plan.control, dir.path());

    // A live response in flight (the fake worker holds its rest back for 3 s).
    let mut stream = std::net::TcpStream::connect(lb_plan.listen).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET /live/slow.flv HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = [0u8; 1024];
    let n = stream.read(&mut buf).unwrap();
    assert!(n > 0);

    let asked = Instant::now();
    lb.signal(libc::SIGTERM);
    // No new connections once stopping (bounded wait for the listener to close).
    wait_for(Duration::from_secs(2), "the listener to close", || {
        std::net::TcpStream::connect(lb_plan.listen)
            .is_err()
            .then_some(())
    });
    let status = lb
        .wait_exit(Duration::from_secs(6))
        .expect("the http-lb exits within its drain window");
    assert!(status.success(), "{status}\n{}", lb.log_text());
    // It gave the in-flight response time (the fake ends it ~3 s after the request) rather than
    // dropping it at once, and did not wait beyond its bound.
    let took = asked.elapsed();
    assert!(
        took > Duration::from_millis(1500),
        "exited at once: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(lb.log_text().contains("http-lb"), "{}", lb.log_text());
}
