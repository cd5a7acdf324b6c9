//! SRS workers against SRS itself: publish through the rtmp-lb, play RTMP, HTTP-FLV and HLS through
//! the LBs, a stream republished on a fallback while its first choice was down, the merged API's
//! ids, the LBs' polls out of SRS's log, `ulimit -n 1024`, and HTTP hooks seeing the client's address.
//!
//! SRS is not packaged for CI: these run when `ORYX_TEST_SRS=/path/to/objs/srs` is set, and print
//! "skipped: set ORYX_TEST_SRS" otherwise (`tests/external_srs.rs` covers the same ground with a
//! stand-in).

mod common;

use common::cluster::*;
use oryx::compile::plan::{Plan, WorkerKind, WorkerPlan};
use oryx::runtime::external;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The SRS binary to test, or `None` (with the skip notice) when `ORYX_TEST_SRS` is unset.
fn srs_binary(test: &str) -> Option<String> {
    match std::env::var("ORYX_TEST_SRS") {
        Ok(path) if !path.is_empty() => {
            assert!(
                Path::new(&path).is_file(),
                "ORYX_TEST_SRS={path} is not a file"
            );
            Some(path)
        }
        _ => {
            crate::skipped!("{test}: set ORYX_TEST_SRS=/path/to/srs to run it against a real SRS");
            None
        }
    }
}

fn srs_worker(name: &str, srs: &str) -> WorkerPlan {
    let mut w = worker(name, WorkerKind::Srs, Some(srs));
    // As `oryx check` fills it in: oryx's own defaults.
    w.stream.max_connections = 10000;
    w.stream.merge_write_ms = 350;
    w.stream.merge_read_ms = 100;
    w
}

/// A GET with the run's control secret (oryx's control routes need it; SRS and the api-lb's reads
/// ignore it).
fn json(addr: SocketAddr, path: &str) -> Option<Value> {
    let (status, body) = common::control::control(addr, "GET", path).ok()?;
    (status == 200).then(|| serde_json::from_str(&body).ok())?
}

/// Wait until the LB whose control API is `control` says `worker` is healthy.
fn wait_healthy(control: SocketAddr, worker: &str) {
    wait_for(
        Duration::from_secs(15),
        &format!("{worker} healthy at {control}"),
        || {
            let body = json(control, "/api/v1/backends")?;
            body["backends"]
                .as_array()?
                .iter()
                .any(|b| b["name"] == worker && b["healthy"] == true)
                .then_some(())
        },
    );
}

/// Wait until SRS's own API (at `control`) lists `stream` with its publisher.
fn wait_published(control: SocketAddr, stream: &str) -> Value {
    wait_for(
        Duration::from_secs(20),
        &format!("{stream} published on the SRS at {control}"),
        || {
            let body = json(control, "/api/v1/streams/?count=100")?;
            body["streams"]
                .as_array()?
                .iter()
                .find(|s| s["name"] == stream && s["publish"]["active"] == true)
                .cloned()
        },
    )
}

/// A media playlist with at least one segment, fetched through `http_lb`. SRS first answers a
/// master playlist naming the same playlist with a session (`?hls_ctx=…`); that is followed too.
fn wait_playlist(http_lb: SocketAddr, stream: &str) -> String {
    wait_for(
        Duration::from_secs(30),
        &format!("{stream}.m3u8 with a segment"),
        || {
            let mut path = format!("/live/{stream}.m3u8");
            for _ in 0..2 {
                let (status, body) = http(http_lb, "GET", &path).ok()?;
                if status != 200 {
                    return None;
                }
                if body.contains(".ts") {
                    return Some(body);
                }
                path = body.lines().find(|l| l.starts_with('/'))?.to_string();
            }
            None
        },
    )
}

/// One SRS process started by the test itself from the config oryx compiles, so the test decides
/// when it is down.
fn start_srs(worker: &WorkerPlan, run_dir: &Path) -> Proc {
    let command = external::prepare(worker, run_dir).unwrap();
    let mut process = Command::new(&command.program);
    process.args(&command.args);
    let proc = Proc::spawn(process, run_dir.join(format!("{}.srs.log", worker.name)));
    wait_for(Duration::from_secs(15), "SRS to listen", || {
        std::net::TcpStream::connect(worker.control).ok()
    });
    proc
}

/// The full shell: one SRS worker behind all three LBs, with a looping publisher through the
/// rtmp-lb.
struct Cluster {
    plan: Plan,
    shell: Proc,
    _publisher: Proc,
    dir: tempfile::TempDir,
}

fn cluster(srs: &str, stream: &str) -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let mut plan = plan(vec![srs_worker("srs", srs)]);
    plan.rtmp_lb = Some(lb(&plan.workers));
    plan.http_lb = Some(lb(&plan.workers));
    plan.api_lb = Some(lb(&plan.workers));
    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &plan);
    let shell = up(&plan_file, &dir.path().join("run"));
    wait_all_ready(&plan, 4, Duration::from_secs(30));
    for lb in [&plan.rtmp_lb, &plan.http_lb, &plan.api_lb] {
        wait_healthy(lb.as_ref().unwrap().control, "srs");
    }
    let media = make_media(dir.path());
    let rtmp_lb = plan.rtmp_lb.as_ref().unwrap().listen;
    let publisher = publish(
        &media,
        &format!("rtmp://{rtmp_lb}/live/{stream}"),
        dir.path().join("publisher.log"),
    );
    wait_published(plan.workers[0].control, stream);
    Cluster {
        plan,
        shell,
        _publisher: publisher,
        dir,
    }
}

#[test]
fn publish_and_play_rtmp_flv_and_hls_through_the_lbs() {
    let Some(srs) = srs_binary("publish_and_play_rtmp_flv_and_hls_through_the_lbs") else {
        return;
    };
    let c = cluster(&srs, "cam");
    let rtmp_lb = c.plan.rtmp_lb.as_ref().unwrap().listen;
    let http_lb = c.plan.http_lb.as_ref().unwrap().listen;
    assert!(probe(&format!("rtmp://{rtmp_lb}/live/cam")), "RTMP play");
    // SRS read the old `mount [app]/[stream].flv;` as a vhost named `[app]`: this was a 404.
    assert!(probe(&format!("http://{http_lb}/live/cam.flv")), "HTTP-FLV");
    let playlist = wait_playlist(http_lb, "cam");
    assert!(playlist.contains("cam-"), "{playlist}");
    assert!(probe(&format!("http://{http_lb}/live/cam.m3u8")), "HLS");
    let log = c.shell.log_text();
    assert!(!log.contains('\x1b'), "ANSI codes in oryx's log");
    let _ = c.dir.path();
}

#[test]
fn merged_api_ids_lead_back_to_the_srs_worker() {
    let Some(srs) = srs_binary("merged_api_ids_lead_back_to_the_srs_worker") else {
        return;
    };
    let c = cluster(&srs, "ids");
    let api = c.plan.api_lb.as_ref().unwrap().listen;
    let clients = wait_for(Duration::from_secs(10), "the publisher in the API", || {
        let body = json(api, "/api/v1/clients/")?;
        let list = body["clients"].as_array()?.clone();
        list.iter()
            .any(|c| c["publish"] == true && c["name"] == "ids")
            .then_some(list)
    });
    let publisher = clients
        .iter()
        .find(|c| c["publish"] == true && c["name"] == "ids")
        .unwrap();
    for key in ["id", "stream", "vhost"] {
        let id = publisher[key].as_str().unwrap();
        assert!(id.starts_with("srs:"), "{key} = {id}: {publisher}");
    }
    // Each qualified id reaches its item on its worker.
    let stream = json(
        api,
        &format!("/api/v1/streams/{}", publisher["stream"].as_str().unwrap()),
    )
    .expect("the client's stream");
    assert_eq!(stream["stream"]["name"], "ids", "{stream}");
    assert_eq!(stream["stream"]["id"], publisher["stream"]);
    assert_eq!(stream["stream"]["vhost"], publisher["vhost"]);
    let vhost = json(
        api,
        &format!("/api/v1/vhosts/{}", publisher["vhost"].as_str().unwrap()),
    )
    .expect("the client's vhost");
    assert_eq!(vhost["vhost"]["name"], "__defaultVhost__", "{vhost}");
    let streams = json(api, "/api/v1/streams/").unwrap();
    let listed = streams["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "ids")
        .unwrap();
    assert_eq!(listed["id"], publisher["stream"]);
    assert_eq!(listed["publish"]["cid"], publisher["id"]);
}

/// Lines SRS printed (forwarded by the shell) that contain `needle`.
fn srs_lines(log: &str, needle: &str) -> usize {
    log.lines()
        .filter(|l| l.starts_with("[worker/srs]") && l.contains(needle))
        .count()
}

/// TCP sockets in `state` towards `port` on loopback.
fn sockets_to(port: u16, state: &str) -> usize {
    let out = Command::new("ss")
        .args(["-Htan", "state", state, "dport", &format!("= :{port}")])
        .output()
        .expect("ss runs");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[test]
fn lb_polls_neither_flood_srs_log_nor_leave_time_wait() {
    let Some(srs) = srs_binary("lb_polls_neither_flood_srs_log_nor_leave_time_wait") else {
        return;
    };
    let c = cluster(&srs, "quiet");
    let worker = &c.plan.workers[0];
    // Let the lines of the setup's own requests reach the log first.
    std::thread::sleep(Duration::from_secs(1));
    let before = c.shell.log_text();
    let ports = [worker.control.port(), worker.rtmp.port()];
    let waiting_before = ports.map(|port| sockets_to(port, "time-wait"));
    // Three LBs poll twice a second: this spans a dozen polls.
    std::thread::sleep(Duration::from_secs(3));
    let after = c.shell.log_text();
    // No new sockets left in TIME_WAIT (those before are the setup's own requests and the
    // supervisor's readiness check).
    let waiting_after = ports.map(|port| sockets_to(port, "time-wait"));
    for (before, after) in waiting_before.iter().zip(waiting_after) {
        assert!(after <= *before, "TIME_WAIT sockets {before} -> {after}");
    }
    for needle in [
        "client disconnect peer",
        "HTTP #",
        "RTMP client ip=127.0.0.1",
    ] {
        assert_eq!(
            srs_lines(&after, needle),
            srs_lines(&before, needle),
            "SRS logged more `{needle}` lines while only the LBs polled:\n{}",
            &after[before.len().min(after.len())..]
        );
    }
    // One kept connection per LB.
    assert!(sockets_to(worker.control.port(), "established") <= 3);
}

#[test]
fn a_stream_republished_on_a_fallback_keeps_its_players_when_its_first_choice_returns() {
    let Some(srs) = srs_binary(
        "a_stream_republished_on_a_fallback_keeps_its_players_when_its_first_choice_returns",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let a = srs_worker("a", &srs);
    let b = srs_worker("b", &srs);
    // A stream whose rendezvous first choice is `a`.
    let stream = (0..)
        .map(|i| format!("cam{i}"))
        .find(|s| {
            let key = oryx::route::stream_key("", "live", s);
            oryx::route::rank(&key, &["a", "b"])[0] == "a"
        })
        .unwrap();
    let mut plan = plan(vec![a.clone(), b.clone()]);
    plan.rtmp_lb = Some(lb(&plan.workers));
    plan.http_lb = Some(lb(&plan.workers));
    let rtmp_lb = plan.rtmp_lb.clone().unwrap();
    let http_lb = plan.http_lb.clone().unwrap();

    // `a` is down: the publisher lands on `b`.
    let _b = start_srs(&b, &run_dir);
    let _rtmp_lb = role("rtmp-lb", &plan, rtmp_lb.control, dir.path());
    let _http_lb = role("http-lb", &plan, http_lb.control, dir.path());
    wait_healthy(rtmp_lb.control, "b");
    let media = make_media(dir.path());
    let _publisher = publish(
        &media,
        &format!("rtmp://{}/live/{stream}", rtmp_lb.listen),
        dir.path().join("publisher.log"),
    );
    wait_published(b.control, &stream);

    // `a` returns. The LBs must still send the stream's players to `b`, where its publisher is.
    let _a = start_srs(&a, &run_dir);
    wait_healthy(rtmp_lb.control, "a");
    wait_healthy(http_lb.control, "a");
    let published_on_b = |control: SocketAddr| {
        let body = json(control, "/api/v1/backends")?;
        body["backends"]
            .as_array()?
            .iter()
            .any(|w| w["name"] == "b" && w["published"] == 1)
            .then_some(())
    };
    // Give the LBs a poll to learn it (not asserted: the players below are the proof).
    for control in [http_lb.control, rtmp_lb.control] {
        common::wait::wait_for(Duration::from_secs(3), || published_on_b(control));
    }
    assert!(
        probe(&format!("rtmp://{}/live/{stream}", rtmp_lb.listen)),
        "RTMP play through the rtmp-lb"
    );
    let playlist = wait_playlist(http_lb.listen, &stream);
    assert!(playlist.contains(&stream), "{playlist}");
    assert!(
        probe(&format!("http://{}/live/{stream}.flv", http_lb.listen)),
        "HTTP-FLV through the http-lb"
    );
}

#[test]
fn srs_starts_under_ulimit_n_1024() {
    let Some(srs) = srs_binary("srs_starts_under_ulimit_n_1024") else {
        return;
    };
    // `ulimit -n 1024` sets soft and hard: the soft one cannot be raised, so max-connections 10000
    // is clamped with a warning; with only the soft one at 1024, oryx raises it.
    for (hard, expected) in [
        (Some(1024), "max_connections 895;"),
        (None, "max_connections 10000;"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut plan = plan(vec![srs_worker("srs", &srs)]);
        plan.rtmp_lb = Some(lb(&plan.workers));
        let plan_file = dir.path().join("plan.json");
        write_plan(&plan_file, &plan);
        let run_dir = dir.path().join("run");
        let shell = up_with_open_files(&plan_file, &run_dir, 1024, hard);
        let status = wait_all_ready(&plan, 2, Duration::from_secs(30));
        let conf = std::fs::read_to_string(run_dir.join("workers/srs/srs.conf")).unwrap();
        assert!(conf.contains(expected), "{conf}");
        let log = shell.log_text();
        assert_eq!(
            log.contains("does not fit under the open-files limit"),
            hard.is_some(),
            "{log}"
        );
        assert!(!log.contains("exceed max open files"), "{log}");
        let srs_role = status["roles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["role"] == "worker/srs")
            .unwrap();
        assert_eq!(srs_role["starts"], 1, "{log}");
        // It serves: a publish through the rtmp-lb shows up in SRS's API.
        let media = make_media(dir.path());
        let rtmp_lb = plan.rtmp_lb.as_ref().unwrap().listen;
        let _publisher = publish(
            &media,
            &format!("rtmp://{rtmp_lb}/live/limited"),
            dir.path().join("publisher.log"),
        );
        wait_published(plan.workers[0].control, "limited");
    }
}

/// An HTTP hook endpoint answering SRS's `{"code":0}`, recording each request body.
fn hook_server() -> (SocketAddr, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = calls.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut data = Vec::new();
            let mut chunk = [0u8; 4096];
            // The head, then Content-Length bytes of JSON.
            let body = loop {
                let Ok(n) = stream.read(&mut chunk) else {
                    break None;
                };
                if n == 0 {
                    break None;
                }
                data.extend_from_slice(&chunk[..n]);
                let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&data[..end]).to_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if data.len() >= end + 4 + length {
                    break serde_json::from_slice::<Value>(&data[end + 4..end + 4 + length]).ok();
                }
            };
            if let Some(body) = body {
                log.lock().unwrap().push(body);
            }
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10\r\nConnection: close\r\n\r\n{\"code\":0}",
            );
        }
    });
    (addr, calls)
}

#[test]
fn http_hooks_see_the_client_address_through_the_http_lb() {
    let Some(srs) = srs_binary("http_hooks_see_the_client_address_through_the_http_lb") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (hooks, calls) = hook_server();
    let mut srs_worker = srs_worker("srs", &srs);
    srs_worker.stream.hooks.on_play = vec![format!("http://{hooks}/on_play")];
    let mut plan = plan(vec![srs_worker]);
    plan.rtmp_lb = Some(lb(&plan.workers));
    plan.http_lb = Some(lb(&plan.workers));
    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &plan);
    let _shell = up(&plan_file, &dir.path().join("run"));
    wait_all_ready(&plan, 3, Duration::from_secs(30));
    let media = make_media(dir.path());
    let rtmp_lb = plan.rtmp_lb.as_ref().unwrap().listen;
    let http_lb = plan.http_lb.as_ref().unwrap().listen;
    let _publisher = publish(
        &media,
        &format!("rtmp://{rtmp_lb}/live/hooked"),
        dir.path().join("publisher.log"),
    );
    wait_published(plan.workers[0].control, "hooked");
    wait_playlist(http_lb, "hooked");
    // A client on another loopback address than the http-lb's own.
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--interface",
            "127.0.0.2",
        ])
        .arg(format!("http://{http_lb}/live/hooked.m3u8"))
        .output()
        .expect("curl runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
    let hls_ip = wait_for(Duration::from_secs(10), "the HLS on_play hook", || {
        calls
            .lock()
            .unwrap()
            .iter()
            .find(|c| c["ip"] == "127.0.0.2")
            .map(|c| c["ip"].clone())
    });
    assert_eq!(hls_ip, "127.0.0.2");

    // HTTP-FLV too: SRS builds the hook's request from the headers (X-Forwarded-For), though its
    // own statistics keep the TCP peer, the http-lb.
    let before = calls.lock().unwrap().len();
    let _ = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "--max-time",
            "3",
            "--interface",
            "127.0.0.2",
        ])
        .arg(format!("http://{http_lb}/live/hooked.flv"))
        .output()
        .expect("curl runs");
    let flv_ip = wait_for(Duration::from_secs(10), "the HTTP-FLV on_play hook", || {
        calls.lock().unwrap()[before..]
            .iter()
            .find(|c| c["stream"] == "hooked")
            .map(|c| c["ip"].clone())
    });
    assert_eq!(flv_ip, "127.0.0.2");
}
