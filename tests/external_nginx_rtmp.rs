//! An nginx-rtmp worker (Debian's nginx + libnginx-mod-rtmp) run by `oryx up` from a compiled
//! nginx.conf: ffmpeg publishes through the rtmp-lb, ffprobe plays RTMP back through the rtmp-lb and
//! HLS through the http-lb, our client session plays straight from nginx with a verified complex
//! handshake, a `kill -9` of
//! nginx is repaired by the shell, and SIGTERM stops everything with exit 0.

mod common;

use common::cluster::*;
use oryx::compile::plan::WorkerKind;
use oryx::rtmp::client::{ClientEvent, ClientMode};
use std::time::Duration;

fn nginx_available() -> bool {
    std::path::Path::new(oryx::runtime::external::nginx_rtmp::MODULE_PATH).exists()
        && std::process::Command::new("nginx")
            .arg("-v")
            .output()
            .is_ok()
}

#[test]
fn nginx_rtmp_worker_serves_hls_through_http_lb_and_is_supervised() {
    assert!(
        nginx_available(),
        "nginx with the RTMP module is required (scripts/test installs it)"
    );
    let dir = tempfile::tempdir().unwrap();
    let media = make_media(dir.path());
    let legacy = worker("legacy", WorkerKind::NginxRtmp, Some("nginx"));
    let mut plan = plan(vec![legacy.clone()]);
    plan.http_lb = Some(lb(&plan.workers));
    plan.rtmp_lb = Some(lb(&plan.workers));
    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &plan);
    let run_dir = dir.path().join("run");
    let mut shell = up(&plan_file, &run_dir);

    wait_all_ready(&plan, 3, Duration::from_secs(20));
    let conf = std::fs::read_to_string(run_dir.join("workers/legacy/nginx.conf")).unwrap();
    assert!(conf.contains(&format!("listen {};", legacy.rtmp)), "{conf}");
    assert!(shell.log_text().contains("oryx up: plan sha256:"));

    let _publisher = publish(
        &media,
        &format!("rtmp://{}/live/cam", plan.rtmp_lb.as_ref().unwrap().listen),
        dir.path().join("ffmpeg.log"),
    );
    let http_lb = plan.http_lb.as_ref().unwrap().listen;
    wait_for(
        Duration::from_secs(20),
        "the HLS playlist via http-lb",
        || {
            let (status, body) = http(http_lb, "GET", "/live/cam.m3u8").ok()?;
            (status == 200 && body.contains(".ts")).then_some(())
        },
    );
    assert!(
        probe(&format!("http://{http_lb}/live/cam.m3u8")),
        "ffprobe through http-lb"
    );
    let (status, _) = http(http_lb, "GET", "/favicon.ico").unwrap();
    assert_eq!(status, 404);

    // Our client session straight to nginx: its complex handshake is answered and verified (nginx
    // signs S2 for our C1), and the stream plays.
    let mut player = common::TestClient::connect(
        &format!("rtmp://{}/live/cam", legacy.rtmp),
        ClientMode::Play,
    );
    assert!(
        player
            .wait_for(Duration::from_secs(10), |e| matches!(
                e,
                ClientEvent::Media { .. }
            ))
            .is_some(),
        "media from nginx over our client session"
    );
    assert!(player.session.server_verified(), "nginx's S2 verified");
    drop(player);

    // kill -9 nginx: the shell restarts it (first retry well under a second) and it serves again.
    let old = role_pid(&plan, "worker/legacy").expect("nginx pid");
    unsafe { libc::kill(old, libc::SIGKILL) };
    let start = std::time::Instant::now();
    let new = wait_for(Duration::from_secs(5), "nginx restarted", || {
        role_pid(&plan, "worker/legacy").filter(|pid| *pid != old)
    });
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "restart took {:?}",
        start.elapsed()
    );
    assert!(alive(new));
    assert!(
        shell.log_text().contains("[worker/legacy]") || shell.log_text().contains("worker/legacy")
    );

    // SIGTERM: every child gone, exit 0.
    let lb_pid = role_pid(&plan, "http-lb").unwrap();
    shell.signal(libc::SIGTERM);
    let status = shell
        .wait_exit(Duration::from_secs(15))
        .expect("shell exits");
    assert!(
        status.success(),
        "exit status {status}\n{}",
        shell.log_text()
    );
    assert!(!alive(new), "nginx survived the shell");
    assert!(!alive(lb_pid), "http-lb survived the shell");
}
