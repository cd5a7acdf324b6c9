//! The rtmp-lb hands client sockets to embedded workers and leaves the data path: after `kill -9` of
//! the LB, a publisher and players it handed off keep streaming (ffmpeg, and oryx's own client from
//! 127.0.0.2, which the worker sees with that address). A worker whose handoff socket does not take
//! the client (here: squatted by the test, which refuses every handoff) is served through the relay.
//! The LB's `/metrics` counts both paths.

mod common;

use common::cluster::*;
use common::http::metric;
use oryx::compile::plan::WorkerKind;
use oryx::route;
use oryx::rtmp::client::{ClientConfig, ClientEvent, ClientMode, ClientSession};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::linux::net::SocketAddrExt;
use std::time::{Duration, Instant};

/// A player speaking RTMP with oryx's sans-IO client from a chosen local address.
struct Player {
    session: ClientSession,
    conn: TcpStream,
    buf: Vec<u8>,
}

impl Player {
    fn connect(from: [u8; 4], lb: SocketAddr, url: &str) -> Player {
        let config = ClientConfig::from_url(url, ClientMode::Play).unwrap();
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.bind(&SocketAddr::from((from, 0)).into()).unwrap();
        socket.connect(&lb.into()).unwrap();
        let conn: TcpStream = socket.into();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Player {
            session: ClientSession::new(config),
            conn,
            buf: vec![0u8; 65536],
        }
    }

    /// Read until `count` media messages arrived (15 s at most); returns how many did.
    fn media(&mut self, count: usize) -> usize {
        let mut media = 0;
        let deadline = Instant::now() + Duration::from_secs(15);
        while media < count && Instant::now() < deadline {
            let out = self.session.take_output();
            if !out.is_empty() {
                self.conn.write_all(&out).unwrap();
            }
            let n = match self.conn.read(&mut self.buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            for event in self.session.feed(&self.buf[..n]).unwrap() {
                if let ClientEvent::Media { .. } = event {
                    media += 1;
                }
            }
        }
        media
    }
}

#[test]
fn handed_off_clients_outlive_the_lb_and_refused_handoffs_are_relayed() {
    let dir = tempfile::tempdir().unwrap();
    let media = make_media(dir.path());
    let taking = worker("w-0", WorkerKind::Embedded, None);
    let refusing = worker("w-1", WorkerKind::Embedded, None);
    let mut plan = plan(vec![taking.clone(), refusing.clone()]);
    plan.rtmp_lb = Some(lb(&plan.workers));
    let lb_plan = plan.rtmp_lb.clone().unwrap();

    // Squat w-1's handoff name before it starts: the LB then reaches us, we close without an
    // answer, and the LB must fall back to relaying.
    let name = oryx::net::handoff::socket_name(refusing.rtmp);
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let squatter = std::os::unix::net::UnixListener::bind_addr(&addr).unwrap();
    std::thread::spawn(move || {
        for conn in squatter.incoming() {
            drop(conn);
        }
    });

    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &plan);
    let mut workers = Vec::new();
    for w in [&taking, &refusing] {
        workers.push(worker_role(&plan_file, w, dir.path()));
    }
    let mut lb = role("rtmp-lb", &plan, lb_plan.control, dir.path());

    let names = ["w-0", "w-1"];
    let on = |worker: &str| {
        (0..100)
            .map(|i| format!("h{i}"))
            .find(|s| route::rank(&route::stream_key("", "live", s), &names)[0] == worker)
            .unwrap()
    };
    let (handed, relayed) = (on("w-0"), on("w-1"));
    let url = |stream: &str| format!("rtmp://{}/live/{stream}", lb_plan.listen);
    let _pub_handed = publish(&media, &url(&handed), dir.path().join("pub0.log"));
    let _pub_relayed = publish(&media, &url(&relayed), dir.path().join("pub1.log"));

    // The refused handoff: publish and play still work, through the relay.
    assert!(
        probe(&url(&relayed)),
        "play a relayed stream through the LB"
    );
    assert!(probe(&format!("rtmp://{}/live/{relayed}", refusing.rtmp)));

    // The handed-off stream: an ffmpeg player and a player from 127.0.0.2.
    let flv = dir.path().join("played.flv");
    let _ffmpeg = play_to_file(&url(&handed), &flv, dir.path().join("play.log"));
    let mut player = Player::connect([127, 0, 0, 2], lb_plan.listen, &url(&handed));
    assert!(player.media(50) >= 50, "media before the LB dies");
    wait_for(Duration::from_secs(15), "the ffmpeg player's bytes", || {
        (file_len(&flv) > 50_000).then_some(())
    });
    let (_, clients) = control(taking.control, "GET", "/api/v1/clients/").unwrap();
    assert!(
        clients.contains("127.0.0.2"),
        "the worker sees the client's own address: {clients}"
    );

    let (status, page) = control(lb_plan.control, "GET", "/metrics").unwrap();
    assert_eq!(status, 200);
    let handoffs = metric(&page, "oryx_rtmp_lb_handoffs_total{worker=\"w-0\"}");
    let relays = metric(&page, "oryx_rtmp_lb_relays_total{worker=\"w-1\"}");
    let refused = metric(&page, "oryx_rtmp_lb_handoff_failures_total{worker=\"w-1\"}");
    // Publisher, ffmpeg player and our player were handed to w-0; w-1's publisher and the probe
    // through the LB were relayed.
    assert!(handoffs >= 3.0, "handoffs to w-0: {handoffs}\n{page}");
    assert!(relays >= 2.0, "relays to w-1: {relays}\n{page}");
    assert_eq!(
        relays, refused,
        "every relay to w-1 follows a refused handoff"
    );
    assert_eq!(
        metric(&page, "oryx_rtmp_lb_relays_total{worker=\"w-0\"}"),
        0.0,
        "nothing to w-0 is relayed"
    );

    // kill -9 the LB: the handed-off clients are the worker's now and keep streaming.
    lb.signal(libc::SIGKILL);
    assert!(lb.wait_exit(Duration::from_secs(5)).is_some(), "LB gone");
    assert!(
        TcpStream::connect(lb_plan.listen).is_err(),
        "nothing listens on the LB's port"
    );
    assert!(player.media(75) >= 75, "media after the LB died");
    let before = file_len(&flv);
    wait_for(
        Duration::from_secs(10),
        "the ffmpeg player to grow after the LB died",
        || (file_len(&flv) > before + 50_000).then_some(()),
    );
    drop(workers);
}
