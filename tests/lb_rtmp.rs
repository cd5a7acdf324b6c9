//! The rtmp-lb in front of one real embedded worker and one dead one: a stream whose first choice is
//! the dead worker is published and played through the next in the ranking, so publishers and players
//! still meet; a player from 127.0.0.2 is seen by the worker with that address (from the handoff);
//! garbage from a client closes only that connection.

mod common;

use common::cluster::*;
use oryx::compile::plan::WorkerKind;
use oryx::route;
use oryx::rtmp::client::{ClientConfig, ClientEvent, ClientMode, ClientSession};
use std::io::{Read, Write};
use std::time::Duration;

#[test]
fn rtmp_lb_falls_back_to_the_next_worker_and_survives_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let media = make_media(dir.path());
    let mut alive_worker = worker("w-0", WorkerKind::Embedded, None);
    alive_worker.proxy_protocol = true;
    let dead_worker = worker("w-1", WorkerKind::Embedded, None);
    let mut plan = plan(vec![alive_worker.clone(), dead_worker]);
    plan.rtmp_lb = Some(lb(&plan.workers));
    let lb_plan = plan.rtmp_lb.clone().unwrap();

    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &plan);
    let _worker = worker_role(&plan_file, &alive_worker, dir.path());
    let _lb = role("rtmp-lb", &plan, lb_plan.control, dir.path());

    // Garbage instead of a handshake: that connection is closed, the LB keeps serving.
    let mut junk = std::net::TcpStream::connect(lb_plan.listen).unwrap();
    junk.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    junk.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut sink = Vec::new();
    let _ = junk.read_to_end(&mut sink);

    let names = ["w-0", "w-1"];
    let stream = (0..100)
        .map(|i| format!("f{i}"))
        .find(|s| route::rank(&route::stream_key("", "live", s), &names)[0] == "w-1")
        .unwrap();
    let _publisher = publish(
        &media,
        &format!("rtmp://{}/live/{stream}", lb_plan.listen),
        dir.path().join("pub.log"),
    );
    assert!(
        probe(&format!("rtmp://{}/live/{stream}", lb_plan.listen)),
        "play through the LB"
    );
    assert!(
        probe(&format!("rtmp://{}/live/{stream}", alive_worker.rtmp)),
        "the stream is on the live worker"
    );

    // A player from 127.0.0.2 (oryx's own sans-IO client): the worker sees that address through the
    // socket handoff (PROXY v2 on the relay path), and the player gets media.
    let url = format!("rtmp://{}/live/{stream}", lb_plan.listen);
    let config = ClientConfig::from_url(&url, ClientMode::Play).unwrap();
    let mut session = ClientSession::new(config);
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 2], 0)).into())
        .unwrap();
    socket.connect(&lb_plan.listen.into()).unwrap();
    let mut conn: std::net::TcpStream = socket.into();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let (mut started, mut media) = (0, 0);
    let mut buf = vec![0u8; 65536];
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while media < 50 && std::time::Instant::now() < deadline {
        let out = session.take_output();
        if !out.is_empty() {
            conn.write_all(&out).unwrap();
        }
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0, "the LB closed the player");
        for event in session.feed(&buf[..n]).unwrap() {
            match event {
                ClientEvent::Started => started += 1,
                ClientEvent::Media { .. } => media += 1,
                _ => {}
            }
        }
    }
    assert!(media >= 50, "only {media} media messages");
    assert_eq!(started, 1, "one play start, however many duplicate replies");
    let (_, clients) = control(alive_worker.control, "GET", "/api/v1/clients/").unwrap();
    assert!(clients.contains("127.0.0.2"), "{clients}");
    drop(conn);
}
