//! The `ingest` role run by `oryx up`: it pulls a source and publishes it through the topology, and
//! real players (ffprobe) play it through oryx's rtmp-lb and http-lb. Sources: Debian's nginx-rtmp
//! (RTMP, pulled natively), another oryx worker's HTTP-FLV (pulled natively) and a looping file
//! (through a supervised ffmpeg). A `kill -9` of the ingest role is repaired by the shell.

mod common;

use common::cluster::*;
use common::http::metric;
use common::media::probe_codecs;
use oryx::compile::plan::{IngestPlan, Plan, WorkerKind};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

/// A plan with one embedded worker, both player-facing LBs and `ingest` from `from` to `live/lobby`.
fn ingest_plan(from: &str, looping: bool) -> Plan {
    let mut plan = plan(vec![worker("live-0", WorkerKind::Embedded, None)]);
    plan.rtmp_lb = Some(lb(&plan.workers));
    plan.http_lb = Some(lb(&plan.workers));
    plan.ingests.push(IngestPlan {
        name: "live-lobby".into(),
        stream: "live/lobby".into(),
        from: from.into(),
        looping,
        binary: "ffmpeg".into(),
        control: free_addr(),
        host: None,
    });
    plan
}

fn lbs(plan: &Plan) -> (SocketAddr, SocketAddr) {
    (
        plan.rtmp_lb.as_ref().unwrap().listen,
        plan.http_lb.as_ref().unwrap().listen,
    )
}

/// `live/lobby` probes as H.264 + AAC through the rtmp-lb and then the http-lb.
fn plays_through_both_lbs(plan: &Plan, shell: &Proc, within: Duration) {
    let (rtmp_lb, http_lb) = lbs(plan);
    for (url, within) in [
        (format!("rtmp://{rtmp_lb}/live/lobby"), within),
        (
            format!("http://{http_lb}/live/lobby.flv"),
            Duration::from_secs(30),
        ),
    ] {
        let played = common::wait::poll(within, Duration::from_millis(200), || {
            (probe_codecs(&url) == ["aac", "h264"]).then_some(())
        });
        assert!(played.is_some(), "{url} did not play\n{}", shell.log_text());
    }
}

/// The ingest's `/metrics` page (with the control secret).
fn ingest_metrics(plan: &Plan) -> String {
    let (status, body) = control(plan.ingests[0].control, "GET", "/metrics").unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

/// The ingest's `GET /api/v1/ingest` answer.
fn ingest_state(plan: &Plan) -> serde_json::Value {
    let (status, body) = control(plan.ingests[0].control, "GET", "/api/v1/ingest").unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// `oryx up` of `plan` with every role ready (workers, two LBs, the ingest).
fn up_ready(plan: &Plan, dir: &Path) -> Proc {
    up_plan(plan, dir, 4)
}

/// Another oryx worker, outside the topology, as an HTTP-FLV source: ffmpeg publishes `live/src`
/// to it (log in `DIR/encoder.log`).
fn flv_source(dir: &Path) -> (common::Worker, Proc) {
    let source = common::start_worker(common::settings(), false);
    let media = common::media::make_media(dir, 4);
    let encoder = publish(
        &media,
        &source.rtmp_url("live/src"),
        dir.join("encoder.log"),
    );
    (source, encoder)
}

#[test]
fn ingest_pulls_rtmp_from_nginx_rtmp_and_plays_through_both_lbs() {
    let dir = tempfile::tempdir().unwrap();
    // Debian's nginx-rtmp as the upstream server, with the config oryx compiles for such a worker.
    let mut upstream = worker("upstream", WorkerKind::NginxRtmp, Some("/usr/sbin/nginx"));
    upstream.stream.hls.enabled = false;
    let command = oryx::runtime::external::prepare(&upstream, dir.path()).unwrap();
    let mut nginx = std::process::Command::new(&command.program);
    nginx.args(&command.args);
    let _nginx = Proc::spawn(nginx, dir.path().join("nginx.log"));
    wait_for(Duration::from_secs(10), "nginx-rtmp listening", || {
        std::net::TcpStream::connect(upstream.rtmp).ok()
    });
    let media = common::media::make_media(dir.path(), 4);
    let upstream_url = format!("rtmp://{}/live/cam", upstream.rtmp);
    let encoder = publish(&media, &upstream_url, dir.path().join("encoder.log"));

    let plan = ingest_plan(&format!("rtmp://{}/live/cam", upstream.rtmp), false);
    let shell = up_ready(&plan, dir.path());
    plays_through_both_lbs(&plan, &shell, Duration::from_secs(40));

    let page = ingest_metrics(&plan);
    assert_eq!(
        metric(&page, "oryx_ingest_connected{ingest=\"live-lobby\"}"),
        1.0,
        "{page}"
    );
    assert!(
        metric(&page, "oryx_ingest_bytes_total{ingest=\"live-lobby\"}") > 0.0,
        "{page}"
    );
    let state = ingest_state(&plan);
    assert_eq!(state["mode"], "rtmp", "{state}");
    assert_eq!(
        state["target"],
        format!("rtmp://{}/live/lobby", lbs(&plan).0),
        "{state}"
    );
    // The source goes away: the ingest says so once, keeps asking, and is back when the source is.
    drop(encoder);
    wait_for(Duration::from_secs(30), "the ingest to notice", || {
        let state = ingest_state(&plan);
        (state["connected"] == false && state["reconnects"].as_u64() >= Some(1)).then_some(state)
    });
    let _encoder = publish(&media, &upstream_url, dir.path().join("encoder-2.log"));
    wait_for(Duration::from_secs(30), "the ingest back", || {
        (ingest_state(&plan)["connected"] == true).then_some(())
    });
    plays_through_both_lbs(&plan, &shell, Duration::from_secs(30));
    let page = ingest_metrics(&plan);
    assert!(
        metric(&page, "oryx_ingest_reconnects_total{ingest=\"live-lobby\"}") >= 1.0,
        "{page}"
    );
    let log = shell.log_text();
    assert_eq!(
        log.matches("ingest interrupted").count(),
        1,
        "one warning for one outage:\n{log}"
    );
    assert!(log.contains("ingest back"), "{log}");

    // The shell's merged page carries the ingest's series too.
    let (_, merged) = control(plan.shell_control, "GET", "/metrics").unwrap();
    assert!(
        merged.contains("oryx_ingest_connected"),
        "{merged}\n{}",
        shell.log_text()
    );
}

#[test]
fn ingest_pulls_http_flv_and_comes_back_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (source, _encoder) = flv_source(dir.path());
    let plan = ingest_plan(&source.http_url("live/src.flv"), false);
    let shell = up_ready(&plan, dir.path());
    plays_through_both_lbs(&plan, &shell, Duration::from_secs(40));
    assert_eq!(ingest_state(&plan)["mode"], "http-flv");

    // kill -9 the ingest: the shell restarts it and the stream plays again through the LBs.
    let old = role_pid(&plan, "ingest/live-lobby").expect("the ingest's pid");
    unsafe { libc::kill(old, libc::SIGKILL) };
    let new = wait_for(Duration::from_secs(10), "the ingest restarted", || {
        role_pid(&plan, "ingest/live-lobby").filter(|pid| *pid != old)
    });
    assert!(alive(new));
    wait_for(Duration::from_secs(20), "the new ingest publishing", || {
        let state = ingest_state(&plan);
        (state["connected"] == true).then_some(())
    });
    plays_through_both_lbs(&plan, &shell, Duration::from_secs(30));

    // kill -9 the worker it publishes to: the shell restarts the worker, the ingest reconnects.
    let worker = role_pid(&plan, "worker/live-0").expect("the worker's pid");
    unsafe { libc::kill(worker, libc::SIGKILL) };
    wait_for(Duration::from_secs(30), "the ingest to reconnect", || {
        let state = ingest_state(&plan);
        (state["connected"] == true && state["reconnects"].as_u64() >= Some(1)).then_some(())
    });
    plays_through_both_lbs(&plan, &shell, Duration::from_secs(30));
    assert!(
        shell.log_text().contains("ingest/live-lobby"),
        "{}",
        shell.log_text()
    );
}

#[test]
fn ingest_loops_a_file_through_ffmpeg_past_its_length() {
    let dir = tempfile::tempdir().unwrap();
    let seconds = 3;
    let media = common::media::make_media(dir.path(), seconds);
    let plan = ingest_plan(&media.display().to_string(), true);
    let mut shell = up_ready(&plan, dir.path());
    let started = Instant::now();
    plays_through_both_lbs(&plan, &shell, Duration::from_secs(40));
    assert_eq!(ingest_state(&plan)["mode"], "ffmpeg");

    // Past the file's length (twice over) the same ffmpeg still publishes: it looped, it was not
    // restarted.
    let length = Duration::from_secs(2 * u64::from(seconds));
    if let Some(rest) = length.checked_sub(started.elapsed()) {
        std::thread::sleep(rest);
    }
    plays_through_both_lbs(&plan, &shell, Duration::from_secs(30));
    let state = ingest_state(&plan);
    assert_eq!(state["connected"], true, "{state}");
    assert_eq!(state["reconnects"], 0, "ffmpeg was restarted: {state}");
    assert!(state["bytes"].as_u64() > Some(0), "{state}");
    let page = ingest_metrics(&plan);
    assert_eq!(
        metric(&page, "oryx_ingest_connected{ingest=\"live-lobby\"}"),
        1.0,
        "{page}"
    );

    // SIGTERM: the shell stops the ingest, which stops its ffmpeg; nothing outlives the shell.
    let ingest = role_pid(&plan, "ingest/live-lobby").expect("the ingest's pid");
    let ffmpeg = children_of(ingest);
    assert_eq!(ffmpeg.len(), 1, "one ffmpeg under the ingest: {ffmpeg:?}");
    shell.signal(libc::SIGTERM);
    let status = shell
        .wait_exit(Duration::from_secs(15))
        .expect("the shell exits");
    assert!(status.success(), "{status}\n{}", shell.log_text());
    assert!(!alive(ingest), "the ingest outlived the shell");
    assert!(!alive(ffmpeg[0]), "ffmpeg outlived the shell");
}

/// The pids whose parent is `pid`.
fn children_of(pid: i32) -> Vec<i32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // `pid (comm) state ppid …`: the command may hold spaces, so read after its `)`.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<i32>().ok());
        if ppid == Some(pid) {
            children.push(child);
        }
    }
    children
}

#[test]
fn ingest_without_an_rtmp_lb_publishes_to_the_rendezvous_worker() {
    let dir = tempfile::tempdir().unwrap();
    let (source, _encoder) = flv_source(dir.path());
    let mut plan = ingest_plan(&source.http_url("live/src.flv"), false);
    plan.workers
        .push(worker("live-1", WorkerKind::Embedded, None));
    plan.rtmp_lb = None;
    plan.http_lb = Some(lb(&plan.workers));
    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &plan);
    let shell = up(&plan_file, &dir.path().join("run"));
    wait_all_ready(&plan, 4, Duration::from_secs(20));

    // The worker `oryx plan --route live/lobby` names is the one that holds the stream.
    let key = oryx::route::stream_key("", "live", "lobby");
    let names = ["live-0", "live-1"];
    let chosen = oryx::route::rank(&key, &names)[0];
    let holder = plan.worker(chosen).unwrap().control;
    wait_for(
        Duration::from_secs(30),
        "live/lobby on the chosen worker",
        || {
            let (_, body) = control(holder, "GET", "/api/v1/published").ok()?;
            body.contains("lobby").then_some(())
        },
    );
    let flv = format!(
        "http://{}/live/lobby.flv",
        plan.http_lb.as_ref().unwrap().listen
    );
    let played = common::wait::poll(Duration::from_secs(30), Duration::from_millis(200), || {
        (probe_codecs(&flv) == ["aac", "h264"]).then_some(())
    });
    assert!(played.is_some(), "{flv} did not play\n{}", shell.log_text());
}
