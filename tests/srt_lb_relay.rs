//! The srt-lb with raw SRT peers (issue 14): what reaches the worker is the caller's own
//! handshake with only the cookie changed, datagrams go both ways byte for byte, idle flows are
//! dropped; garbage and a handshake flood cost nothing and leave a live flow alone; flows still
//! reaching a worker are capped.

mod common;

use common::cluster::*;
use common::srt::*;
use oryx::compile::plan::{Plan, WorkerKind};
use oryx::srt::handshake::{self, reject, Handshake, HandshakeKind};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// A plan whose srt-lb fronts one worker with its SRT listener at `srt`.
fn one_worker_plan(srt: SocketAddr) -> Plan {
    let worker = with_srt(worker("w", WorkerKind::Embedded, None), srt);
    let mut plan = plan(vec![worker.clone()]);
    plan.srt_lb = Some(lb(&[worker]));
    plan
}

fn lb_addrs(plan: &Plan) -> (SocketAddr, SocketAddr) {
    let lb = plan.srt_lb.as_ref().unwrap();
    (lb.listen, lb.control)
}

/// A data packet (F bit clear) carrying `payload`.
fn data_packet(seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut packet = Vec::new();
    packet.extend_from_slice(&(seq & 0x7fff_ffff).to_be_bytes());
    packet.extend_from_slice(&[0xc0, 0, 0, 1, 0, 0, 0, 0]);
    packet.extend_from_slice(&RAW_WORKER_SOCKET.to_be_bytes());
    packet.extend_from_slice(payload);
    packet
}

#[test]
fn the_worker_gets_the_callers_handshake_with_its_own_cookie_and_bytes_pass_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let worker = RawWorker::start();
    let plan = one_worker_plan(worker.addr);
    let (listen, control) = lb_addrs(&plan);
    let _lb = start_srt_lb(&plan, dir.path());

    let caller = RawCaller::new(listen, 0x0101_0101);
    let lb_cookie = caller.cookie();
    let conclusion = caller.conclusion(lb_cookie, "#!::r=live/cam?token=t,m=publish");
    caller.send(&conclusion.encode());
    let answer = Handshake::parse(&caller.recv().expect("the worker's answer")).unwrap();
    assert_eq!(answer.kind, HandshakeKind::Conclusion);
    assert_eq!(answer.dest_socket, 0x0101_0101);
    assert_eq!(answer.socket_id, RAW_WORKER_SOCKET);

    // The worker saw the LB ask for its cookie in the caller's name, then the caller's own
    // conclusion with that cookie and nothing else changed.
    let seen = worker.received();
    let induction = Handshake::parse(&seen[0]).unwrap();
    assert_eq!(induction.kind, HandshakeKind::Induction);
    assert_eq!((induction.version, induction.socket_id), (4, 0x0101_0101));
    let forwarded = seen
        .iter()
        .find(|p| handshake::kind_of(p) == Some(HandshakeKind::Conclusion))
        .expect("the conclusion reached the worker");
    let mut expected = conclusion.encode();
    handshake::set_cookie(&mut expected, RAW_WORKER_COOKIE);
    assert_eq!(forwarded, &expected);
    assert_ne!(lb_cookie, RAW_WORKER_COOKIE);

    // Data both ways, byte for byte (the raw worker echoes).
    for seq in 0..50u32 {
        let packet = data_packet(seq, &[seq as u8; 1316]);
        caller.send(&packet);
        assert_eq!(caller.recv().expect("the echo"), packet);
    }
    // A resent conclusion gets the worker's cookie too.
    caller.send(&conclusion.encode());
    assert_eq!(
        Handshake::parse(&caller.recv().unwrap()).unwrap().kind,
        HandshakeKind::Conclusion
    );
    let listed = flows(control);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["stream"], "__defaultVhost__/live/cam");
    assert_eq!(listed[0]["worker"], "w");
    assert_eq!(listed[0]["publish"], true);
    let text = metrics(control);
    assert!(
        text.contains("oryx_srt_lb_routed_total{worker=\"w\"} 1"),
        "{text}"
    );

    // Silent both ways: dropped after the idle bound.
    let silent = Instant::now();
    wait_for(
        Duration::from_secs(20),
        "the idle flow to be dropped",
        || flows(control).is_empty().then_some(()),
    );
    assert!(silent.elapsed() >= Duration::from_secs(8));
    // Its datagrams are strangers now.
    caller.send(&data_packet(99, b"late"));
    assert!(caller.recv().is_none());
}

#[test]
fn bad_stream_ids_are_refused_with_a_reason_and_no_flow() {
    let dir = tempfile::tempdir().unwrap();
    let worker = RawWorker::start();
    let plan = one_worker_plan(worker.addr);
    let (listen, control) = lb_addrs(&plan);
    let lb = start_srt_lb(&plan, dir.path());
    for (i, id) in ["publish:nostream", "#!::m=publish", "play:live/x", ""]
        .iter()
        .enumerate()
    {
        let caller = RawCaller::new(listen, 0x200 + i as u32);
        let answer = caller.connect(id).expect("a refusal");
        assert_eq!(
            answer.kind,
            HandshakeKind::Rejection(reject::BAD_REQUEST),
            "{id}"
        );
        assert_eq!(answer.dest_socket, 0x200 + i as u32);
    }
    assert!(flows(control).is_empty());
    assert!(worker.received().is_empty(), "nothing reached the worker");
    assert!(metrics(control).contains("oryx_srt_lb_refusals_total{reason=\"stream_id\"} 4"));
    assert!(
        lb.log_text().contains("MediaMTX convention"),
        "{}",
        lb.log_text()
    );
}

fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

#[test]
fn garbage_and_a_handshake_flood_cost_nothing_and_spare_a_live_flow() {
    let dir = tempfile::tempdir().unwrap();
    let worker = RawWorker::start();
    let plan = one_worker_plan(worker.addr);
    let (listen, control) = lb_addrs(&plan);
    let lb = start_srt_lb(&plan, dir.path());
    let live = RawCaller::new(listen, 0x4242);
    assert_eq!(
        live.connect("publish:live/live").unwrap().kind,
        HandshakeKind::Conclusion
    );
    let before = rss_kib(lb.pid());

    let mut rng = 0x1234_5678u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let sockets: Vec<UdpSocket> = (0..200)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.connect(listen).unwrap();
            s
        })
        .collect();
    let induction = RawCaller::new(listen, 7).induction().encode();
    for round in 0..30 {
        for (i, socket) in sockets.iter().enumerate() {
            // Garbage of every size, inductions (answered, nothing kept), conclusions with made-up
            // cookies (dropped), and handshakes cut short.
            let len = (next() % 1500) as usize;
            let garbage: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let _ = socket.send(&garbage);
            let _ = socket.send(&induction);
            let mut forged = RawCaller::new(listen, i as u32)
                .conclusion(next() as u32, "publish:live/x")
                .encode();
            let _ = socket.send(&forged);
            forged.truncate(40 + round);
            let _ = socket.send(&forged);
        }
        // The live flow still goes both ways.
        let packet = data_packet(round as u32, b"still here");
        live.send(&packet);
        let echo = (0..100).find_map(|_| live.recv().filter(|p| p == &packet));
        assert!(echo.is_some(), "the live flow is relayed during the flood");
    }
    assert_eq!(flows(control).len(), 1, "the flood made no flow");
    let text = metrics(control);
    for reason in ["cookie", "unknown_peer"] {
        assert!(
            text.contains(&format!(
                "oryx_srt_lb_refusals_total{{reason=\"{reason}\"}}"
            )),
            "{reason}: {text}"
        );
    }
    let after = rss_kib(lb.pid());
    assert!(after < before + 16 * 1024, "rss {before} KiB → {after} KiB");
    assert!(alive(lb.pid()));
}

#[test]
fn flows_still_reaching_a_worker_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    // A worker that never answers: every flow stays pending until its attempts run out.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let plan = one_worker_plan(silent.local_addr().unwrap());
    let (listen, control) = lb_addrs(&plan);
    let _lb = start_srt_lb(&plan, dir.path());
    let callers: Vec<RawCaller> = (0..oryx::runtime::srt_lb::MAX_PENDING as u32 + 100)
        .map(|i| RawCaller::new(listen, 0x1000 + i))
        .collect();
    let cookies: Vec<u32> = callers.iter().map(RawCaller::cookie).collect();
    for (caller, cookie) in callers.iter().zip(&cookies) {
        caller.send(&caller.conclusion(*cookie, "publish:live/cam").encode());
    }
    let answers: Vec<Option<HandshakeKind>> = callers
        .iter()
        .map(|c| {
            c.recv()
                .and_then(|p| Handshake::parse(&p).ok())
                .map(|h| h.kind)
        })
        .collect();
    let overload = answers
        .iter()
        .filter(|a| **a == Some(HandshakeKind::Rejection(reject::OVERLOAD)))
        .count();
    let unavailable = answers
        .iter()
        .filter(|a| **a == Some(HandshakeKind::Rejection(reject::UNAVAILABLE)))
        .count();
    // Pending flows end after the worker's 1 s of silence, so a slow machine may free a few slots
    // before the last conclusions arrive: some, not exactly 100, are refused at the cap.
    assert!(overload > 0, "{overload} refused at the cap: {answers:?}");
    assert_eq!(overload + unavailable, answers.len(), "{answers:?}");
    wait_for(Duration::from_secs(10), "no flow left", || {
        flows(control).is_empty().then_some(())
    });
}
