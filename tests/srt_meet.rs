//! SRT and RTMP meet on one worker (issue 14): `oryx up` with three embedded workers, an rtmp-lb,
//! an http-lb and an srt-lb. Each stream's rendezvous worker is stopped (SIGSTOP) while its
//! publisher arrives, so the publisher lands on another worker; once the first is back, the
//! players of the other protocol through the other LB must follow the publisher there, not the
//! rendezvous choice: the workers' client lists prove where everyone is, and the media decodes.
//!  - an SRT publisher through the srt-lb, RTMP players through the rtmp-lb (and HTTP-FLV through
//!    the http-lb);
//!  - an RTMP publisher through the rtmp-lb, an SRT player (`read:live/…`) through the srt-lb.

mod common;

use common::cluster::*;
use common::media::{play_to_null, publish as publish_rtmp};
use common::process::{run_tool, ChildGuard};
use common::srt::srt_workers;
use oryx::compile::plan::{Plan, WorkerPlan};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const WORKERS: [&str; 3] = ["live-0", "live-1", "live-2"];

fn meet_plan() -> Plan {
    let workers = srt_workers(&WORKERS);
    let mut plan = plan(workers.clone());
    plan.rtmp_lb = Some(lb(&workers));
    plan.http_lb = Some(lb(&workers));
    plan.srt_lb = Some(lb(&workers));
    plan
}

/// A role stopped with SIGSTOP until dropped (SIGCONT), well inside the shell's 10 s probe bound.
struct Stopped(i32);

impl Stopped {
    fn new(pid: i32) -> Stopped {
        // SAFETY: signalling a child of the shell this test started.
        unsafe { libc::kill(pid, libc::SIGSTOP) };
        Stopped(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { libc::kill(self.0, libc::SIGCONT) };
    }
}

/// An LB's view of `worker`: (healthy, streams it publishes).
fn lb_view(control: SocketAddr, worker: &str) -> Option<(bool, u64)> {
    let (_, body) = common::control::control(control, "GET", "/api/v1/backends").ok()?;
    let value: Value = serde_json::from_str(&body).ok()?;
    let backend = value["backends"]
        .as_array()?
        .iter()
        .find(|b| b["name"] == worker)?
        .clone();
    Some((
        backend["healthy"].as_bool()?,
        backend["published"].as_u64()?,
    ))
}

/// Waits until `lb` sees `worker` as `healthy` with at least `published` streams.
fn wait_lb(lb: SocketAddr, worker: &str, healthy: bool, published: u64) {
    wait_for(
        Duration::from_secs(15),
        "the LB's view of the worker",
        || lb_view(lb, worker).filter(|(h, p)| *h == healthy && *p >= published),
    );
}

/// The client types (`fmle-publish`, `rtmp-play`, `srt-play`…) a worker lists for `stream`.
fn clients_of(worker: &WorkerPlan, stream: &str) -> Vec<String> {
    let Ok((200, body)) = common::control::control(worker.control, "GET", "/api/v1/clients/")
    else {
        return Vec::new();
    };
    let value: Value = serde_json::from_str(&body).unwrap_or_default();
    let mut types: Vec<String> = value["clients"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["name"] == stream)
        .filter_map(|c| c["type"].as_str().map(str::to_string))
        .collect();
    types.sort();
    types
}

/// Waits until `worker` lists at least `want` (a sorted multiset) for `stream`.
fn wait_clients(worker: &WorkerPlan, stream: &str, want: &[&str]) -> Vec<String> {
    wait_for(Duration::from_secs(20), "the clients on the worker", || {
        let found = clients_of(worker, stream);
        want.iter()
            .all(|w| {
                found.iter().filter(|f| f == w).count() >= want.iter().filter(|x| *x == w).count()
            })
            .then_some(found)
    })
}

/// ffmpeg publishing `media` in a loop as MPEG-TS over SRT to `url`.
fn publish_srt(media: &Path, url: &str) -> ChildGuard {
    let child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-re"])
        .args(["-stream_loop", "-1", "-i"])
        .arg(media)
        .args(["-c", "copy", "-f", "mpegts", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg publishes over SRT");
    ChildGuard(child)
}

/// `ffmpeg -i URL -t 3 -f null -` succeeds, finds H.264, and reports no decoding trouble.
fn decodes(url: &str) {
    let (ok, _, log) = run_tool(
        "ffmpeg",
        &[
            "-hide_banner",
            "-nostats",
            "-i",
            url,
            "-t",
            "3",
            "-f",
            "null",
            "-",
        ],
        Duration::from_secs(40),
    );
    assert!(ok, "{url}: {log}");
    assert!(log.contains("Video: h264"), "{url}: {log}");
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("error") || l.contains("invalid") || l.contains("corrupt")
        })
        .collect();
    assert!(errors.is_empty(), "{url}: {errors:?}");
}

/// The workers, by rendezvous rank, for `live/STREAM`.
fn ranked<'a>(plan: &'a Plan, stream: &str) -> Vec<&'a WorkerPlan> {
    let key = oryx::stream_name::stream_key("", "live", stream);
    oryx::route::rank(&key, &WORKERS)
        .into_iter()
        .map(|name| plan.workers.iter().find(|w| w.name == name).unwrap())
        .collect()
}

/// Holds the rendezvous worker of `stream` stopped until `on_other` lists `publisher`, while
/// `arrive` starts the publisher; then waits until every LB sees both workers again, the
/// publisher where it is.
fn publish_elsewhere<T>(
    plan: &Plan,
    stream: &str,
    publisher: &str,
    arrive: impl FnOnce() -> T,
) -> (T, Vec<WorkerPlan>) {
    let rank: Vec<WorkerPlan> = ranked(plan, stream).into_iter().cloned().collect();
    let pid =
        role_pid(plan, &format!("worker/{}", rank[0].name)).expect("the rendezvous worker's pid");
    let lbs = [&plan.rtmp_lb, &plan.http_lb, &plan.srt_lb].map(|lb| lb.as_ref().unwrap().control);
    let guard = {
        let stopped = Stopped::new(pid);
        for lb in lbs {
            wait_lb(lb, &rank[0].name, false, 0);
        }
        let guard = arrive();
        wait_clients(&rank[1], stream, &[publisher]);
        drop(stopped);
        guard
    };
    for lb in lbs {
        wait_lb(lb, &rank[0].name, true, 0);
        wait_lb(lb, &rank[1].name, true, 1);
    }
    (guard, rank)
}

#[test]
fn srt_and_rtmp_meet_on_the_publishing_worker_through_the_lbs() {
    let dir = tempfile::tempdir().unwrap();
    let plan = meet_plan();
    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &plan);
    let mut shell = up(&plan_file, &dir.path().join("run"));
    wait_all_ready(&plan, 6, Duration::from_secs(60));
    let media = common::media::make_media(dir.path(), 6);
    let (rtmp_lb, http_lb, srt_lb) = (
        plan.rtmp_lb.as_ref().unwrap().listen,
        plan.http_lb.as_ref().unwrap().listen,
        plan.srt_lb.as_ref().unwrap().listen,
    );

    // An SRT publisher through the srt-lb; RTMP players through the rtmp-lb.
    let stream = "meet-srt";
    let url = format!("srt://{srt_lb}?streamid=#!::r=live/{stream},m=publish");
    let (_publisher, rank) =
        publish_elsewhere(&plan, stream, "fmle-publish", || publish_srt(&media, &url));
    let play = format!("rtmp://{rtmp_lb}/live/{stream}");
    let _players = [play_to_null(&play), play_to_null(&play)];
    let found = wait_clients(
        &rank[1],
        stream,
        &["fmle-publish", "rtmp-play", "rtmp-play"],
    );
    assert!(found.contains(&"fmle-publish".to_string()), "{found:?}");
    for other in [&rank[0], &rank[2]] {
        assert_eq!(
            clients_of(other, stream),
            Vec::<String>::new(),
            "{}",
            other.name
        );
    }
    decodes(&play);
    decodes(&format!("http://{http_lb}/live/{stream}.flv"));

    // An RTMP publisher through the rtmp-lb; an SRT player through the srt-lb.
    let stream = "meet-rtmp";
    let url = format!("rtmp://{rtmp_lb}/live/{stream}");
    let (_publisher, rank) = publish_elsewhere(&plan, stream, "fmle-publish", || {
        publish_rtmp(&media, &url, true)
    });
    let srt_play = format!("srt://{srt_lb}?streamid=read:live/{stream}");
    let _player = play_to_null(&srt_play);
    wait_clients(&rank[1], stream, &["fmle-publish", "srt-play"]);
    for other in [&rank[0], &rank[2]] {
        assert_eq!(
            clients_of(other, stream),
            Vec::<String>::new(),
            "{}",
            other.name
        );
    }
    decodes(&srt_play);

    shell.signal(libc::SIGTERM);
    assert!(shell.wait_exit(Duration::from_secs(15)).is_some());
}
