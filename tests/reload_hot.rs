//! Reload without drops (issue 16 item 6): stream settings reach running workers in place while an
//! ffmpeg publisher and its players stay connected; changes that need new processes restart the
//! workers one at a time; `oryx reload --dry-run` shows the classes and changes nothing; and
//! `oryx plan --diff` classes stream-setting changes `hot`.

mod common;

use common::cluster::*;
use oryx::compile::plan::{Plan, WorkerKind};
use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn reload(run_dir: &Path, extra: &[&str]) -> (bool, String, String) {
    let out = Command::new(oryx_bin())
        .args(["reload", "--run-dir"])
        .arg(run_dir)
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `(path, body)` of every hook call received.
type Calls = Arc<Mutex<Vec<(String, String)>>>;

/// A hook endpoint that allows everyone and records each call.
fn hook_server() -> (String, Calls) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = calls.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            conn.set_read_timeout(Some(Duration::from_secs(2))).ok();
            let text = common::http::read_request(&mut conn);
            let path = text.split(' ').nth(1).unwrap_or("").to_string();
            let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
            seen.lock().unwrap().push((path, body));
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n0"
            );
        }
    });
    (base, calls)
}

fn shell_digest(run_dir: &Path) -> String {
    let text = std::fs::read_to_string(run_dir.join("shell.json")).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["digest"].as_str().unwrap().to_string()
}

fn healthz(control: std::net::SocketAddr) -> Option<serde_json::Value> {
    let (_, body) = http(control, "GET", "/healthz").ok()?;
    serde_json::from_str(&body).ok()
}

fn healthz_digest(control: std::net::SocketAddr) -> Option<String> {
    healthz(control)?["digest"].as_str().map(str::to_string)
}

/// The pid the worker itself reports (the shell's status board may lag a tick).
fn healthz_pid(control: std::net::SocketAddr) -> Option<i32> {
    healthz(control)?["pid"].as_i64().map(|p| p as i32)
}

/// The number of segments the worker's playlist of `live/cam` lists.
fn listed_segments(plan: &Plan) -> Option<usize> {
    let (status, body) = http(plan.workers[0].http, "GET", "/live/cam.m3u8").ok()?;
    (status == 200).then(|| body.matches("#EXTINF").count())
}

#[test]
fn hook_and_hls_changes_reach_the_running_worker_without_dropping_anyone() {
    let dir = tempfile::tempdir().unwrap();
    let media = make_media(dir.path());
    let (hooks, calls) = hook_server();
    let mut w = worker("a", WorkerKind::Embedded, None);
    w.stream.hls.fragment_ms = 1000;
    w.stream.hls.window = 2;
    // The player may ask before the publisher is in.
    w.stream.http_flv.wait_ms = 10_000;
    w.stream.hooks.on_play = vec![format!("{hooks}/play-old")];
    let first = plan(vec![w]);
    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &first);
    let run_dir = dir.path().join("run");
    let _shell = up(&plan_file, &run_dir);
    wait_all_ready(&first, 1, WAIT);
    let pid = role_pid(&first, "worker/a").unwrap();
    let worker = first.workers[0].clone();

    let publisher = publish(
        &media,
        &format!("rtmp://{}/live/cam", worker.rtmp),
        dir.path().join("publisher.log"),
    );
    let flv = dir.path().join("player.flv");
    let _player = play_to_file(
        &format!("http://{}/live/cam.flv", worker.http),
        &flv,
        dir.path().join("player.log"),
    );
    wait_for(WAIT, "the player receiving", || {
        (file_len(&flv) > 0).then_some(())
    });
    wait_for(WAIT, "a playlist of two segments", || {
        (listed_segments(&first) == Some(2)).then_some(())
    });
    assert!(calls.lock().unwrap().iter().any(|(p, _)| p == "/play-old"));

    // A new on-play hook: `hot`, and the dry run says so without applying it.
    let mut second = first.clone();
    second.workers[0].stream.hooks.on_play = vec![format!("{hooks}/play-new")];
    write_plan(&plan_file, &second);
    let (ok, stdout, stderr) = reload(&run_dir, &["--dry-run"]);
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("~ worker/a             changed  hot"),
        "{stdout}"
    );
    assert!(stdout.contains("stream.hooks.on_play"), "{stdout}");
    assert_eq!(shell_digest(&run_dir), first.digest());
    assert_eq!(healthz_digest(worker.control), Some(first.digest()));

    let (ok, stdout, stderr) = reload(&run_dir, &[]);
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("updated   worker/a             hot  stream.hooks.on_play"),
        "{stdout}"
    );
    let received = file_len(&flv);
    // A new client meets the new hook.
    assert!(probe(&format!("rtmp://{}/live/cam", worker.rtmp)));
    wait_for(WAIT, "the new on-play hook called", || {
        calls
            .lock()
            .unwrap()
            .iter()
            .any(|(p, body)| p == "/play-new" && body.contains("\"on_play\""))
            .then_some(())
    });
    // Everyone stayed: the same worker process, the publisher still sending, the player still
    // receiving.
    assert_eq!(healthz_pid(worker.control), Some(pid));
    assert_eq!(role_pid(&second, "worker/a"), Some(pid));
    assert!(alive(publisher.pid()), "{}", publisher.log_text());
    wait_for(WAIT, "the player receiving after the reload", || {
        (file_len(&flv) > received).then_some(())
    });
    assert_eq!(shell_digest(&run_dir), second.digest());
    assert_eq!(healthz_digest(worker.control), Some(second.digest()));

    // A wider HLS window: the running stream's next segments fill it.
    let mut third = second.clone();
    third.workers[0].stream.hls.window = 4;
    write_plan(&plan_file, &third);
    let (ok, stdout, stderr) = reload(&run_dir, &[]);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("stream.hls.window"), "{stdout}");
    wait_for(WAIT, "a playlist of four segments", || {
        (listed_segments(&third) == Some(4)).then_some(())
    });
    assert_eq!(healthz_pid(worker.control), Some(pid));
    assert!(alive(publisher.pid()), "{}", publisher.log_text());
    assert!(
        !publisher.log_text().contains("Broken pipe"),
        "{}",
        publisher.log_text()
    );
}

#[test]
fn workers_that_must_restart_restart_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let first = plan(vec![
        worker("a", WorkerKind::Embedded, None),
        worker("b", WorkerKind::Embedded, None),
    ]);
    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &first);
    let run_dir = dir.path().join("run");
    let shell = up(&plan_file, &run_dir);
    wait_all_ready(&first, 2, WAIT);
    let a_pid = role_pid(&first, "worker/a").unwrap();
    let b_pid = role_pid(&first, "worker/b").unwrap();

    // New RTMP ports for both: a worker cannot take those in place.
    let mut second = first.clone();
    for w in &mut second.workers {
        w.rtmp = free_addr();
    }
    write_plan(&plan_file, &second);
    let (ok, stdout, stderr) = reload(&run_dir, &["--dry-run"]);
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("~ worker/a             changed  drops-streams"),
        "{stdout}"
    );
    assert!(stdout.contains("    rtmp: "), "{stdout}");
    assert_eq!(role_pid(&first, "worker/a"), Some(a_pid));
    assert_eq!(role_pid(&first, "worker/b"), Some(b_pid));
    assert_eq!(shell_digest(&run_dir), first.digest());

    let (ok, stdout, stderr) = reload(&run_dir, &[]);
    assert!(ok, "{stdout}{stderr}");
    let line = |role: &str| {
        stdout
            .lines()
            .position(|l| l.starts_with(&format!("  restarted {role} ")))
            .unwrap_or_else(|| panic!("no restart of {role}:\n{stdout}"))
    };
    assert!(line("worker/a") < line("worker/b"), "{stdout}");
    // The status board lags the reload by up to one tick: wait for the new processes in it.
    for (role, old) in [("worker/a", a_pid), ("worker/b", b_pid)] {
        wait_for(WAIT, &format!("{role} running a new process"), || {
            role_pid(&second, role).filter(|pid| *pid != old)
        });
    }
    assert!(!alive(a_pid) && !alive(b_pid));

    // The shell's log: b is stopped only after a is back and ready.
    let log = shell.log_text();
    let at = |needle: &str, role: &str| {
        log.lines()
            .position(|l| l.contains(needle) && l.contains(&format!("role={role}")))
            .unwrap_or_else(|| panic!("no {needle:?} for {role} in the log:\n{log}"))
    };
    assert!(at("restarting", "worker/a") < at("restarted and ready", "worker/a"));
    assert!(
        at("restarted and ready", "worker/a") < at("restarting", "worker/b"),
        "{log}"
    );
    assert!(at("restarting", "worker/b") < at("restarted and ready", "worker/b"));
}

#[test]
fn plan_diff_classes_stream_settings_hot() {
    let dir = tempfile::tempdir().unwrap();
    let old =
        "oryx 1\nports from=29350 to=29999\ndefaults {\n    hls fragment=\"2s\" window=6\n}\n\
               worker \"live\" count=2\nworker \"legacy\" kind=\"nginx-rtmp\" binary=\"/bin/sh\"\n\
               http-lb listen=\"127.0.0.1:8080\"\n";
    let new = old.replace(
        "hls fragment=\"2s\" window=6",
        "hls fragment=\"4s\" window=10\n    merge-write \"100ms\"\n    \
         hooks { on-play \"http://127.0.0.1:8085/play\"; timeout \"2s\"; }",
    );
    std::fs::write(dir.path().join("old.kdl"), old).unwrap();
    std::fs::write(dir.path().join("new.kdl"), new).unwrap();
    let out = Command::new(oryx_bin())
        .current_dir(dir.path())
        .args(["plan", "new.kdl", "--diff", "old.kdl"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    // The embedded workers take the settings in place; nginx-rtmp needs its config rewritten.
    assert!(
        text.contains("~ worker/live-0        changed  hot"),
        "{text}"
    );
    assert!(
        text.contains("~ worker/live-1        changed  hot"),
        "{text}"
    );
    assert!(
        text.contains("~ worker/legacy        changed  drops-streams"),
        "{text}"
    );
    insta::assert_snapshot!("plan-diff-stream-settings", text);
}

/// `curl -X PUT` of `body` as JSON: (status, answer body).
fn put_json(addr: std::net::SocketAddr, path: &str, body: &str) -> (u16, String) {
    let out = common::http::curl(&[
        "-X",
        "PUT",
        "-H",
        "content-type: application/json",
        "-H",
        &format!("{}: {}", common::control::AUTH.0, common::control::AUTH.1),
        "--data-binary",
        body,
        "-w",
        "\n%{http_code}",
        &format!("http://{addr}{path}"),
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (answer, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    (status.trim().parse().unwrap_or(0), answer.to_string())
}

#[test]
fn the_settings_route_refuses_what_a_running_worker_cannot_take() {
    let w = common::start_worker(common::settings(), false);
    let plan: Plan =
        serde_json::from_str(&std::fs::read_to_string(w.dir.path().join("plan.json")).unwrap())
            .unwrap();
    let entry = plan.workers[0].clone();
    let digest = healthz_digest(w.control).unwrap();

    // Its ports are its identity: 409, with what cannot change, and nothing applied.
    let mut moved = entry.clone();
    moved.rtmp = free_addr();
    moved.stream.hls.window += 1;
    let (status, answer) = put_json(
        w.control,
        "/settings?digest=sha256:moved",
        &serde_json::to_string(&moved).unwrap(),
    );
    assert_eq!(status, 409, "{answer}");
    assert!(answer.contains("rtmp cannot change"), "{answer}");
    let mut other = entry.clone();
    other.name = "someone-else".into();
    let (status, answer) = put_json(
        w.control,
        "/settings",
        &serde_json::to_string(&other).unwrap(),
    );
    assert_eq!(status, 409, "{answer}");
    // Not a plan entry at all: a client error, and the worker goes on.
    for garbage in ["{ not json", "{\"name\": \"w\"}", "[]", ""] {
        let (status, answer) = put_json(w.control, "/settings", garbage);
        assert!(
            (400..500).contains(&status),
            "{garbage:?}: {status} {answer}"
        );
    }
    assert_eq!(healthz_digest(w.control), Some(digest));
    // Only on the control port: the HTTP port (which the public may reach) does not have it.
    let (status, _) = put_json(w.http, "/settings", &serde_json::to_string(&entry).unwrap());
    assert!((400..500).contains(&status), "{status}");

    // A stream setting is taken, with the digest of the plan it came from.
    let mut hot = entry.clone();
    hot.stream.max_connections = 1;
    let (status, answer) = put_json(
        w.control,
        "/settings?digest=sha256:new",
        &serde_json::to_string(&hot).unwrap(),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(healthz_digest(w.control).as_deref(), Some("sha256:new"));
    // And in force for the next connection: with one RTMP player in, an HTTP-FLV request is refused.
    let mut first =
        common::TestClient::connect(&w.rtmp_url("live/c"), oryx::rtmp::client::ClientMode::Play);
    let started = first.wait_for(WAIT, |e| {
        matches!(e, oryx::rtmp::client::ClientEvent::Started)
    });
    assert!(started.is_some(), "the first player is in");
    let (status, _) = common::http_get(w.http, "/live/c.flv").unwrap();
    assert_eq!(status, 503);
}

#[test]
fn a_worker_that_cannot_take_the_push_is_restarted_with_the_new_settings() {
    let dir = tempfile::tempdir().unwrap();
    let first = plan(vec![worker("a", WorkerKind::Embedded, None)]);
    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &first);
    let run_dir = dir.path().join("run");
    let _shell = up(&plan_file, &run_dir);
    wait_all_ready(&first, 1, WAIT);
    let pid = role_pid(&first, "worker/a").unwrap();
    // A worker that does not answer (stopped) cannot take its new settings in place.
    unsafe {
        libc::kill(pid, libc::SIGSTOP);
    }
    let mut second = first.clone();
    second.workers[0].stream.hls.window = 3;
    write_plan(&plan_file, &second);
    let (ok, stdout, stderr) = reload(&run_dir, &[]);
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains(
            "restarted worker/a             hot  stream.hls.window  (worker did not answer"
        ),
        "{stdout}"
    );
    let control = second.workers[0].control;
    wait_for(WAIT, "the new worker with the new plan", || {
        (healthz_pid(control)? != pid && healthz_digest(control)? == second.digest()).then_some(())
    });
    assert!(!alive(pid));
}
