//! A WHEP player of an RTMP stream at the default `merge-read` (100 ms) gets the frames spread as
//! the publisher sent them, not in bursts of a merged read: while a WebRTC player watches, the
//! publisher's reads (RTMP's, and an SRT caller's merged messages) are not merged
//! (`src/worker/merge_read.rs`), and once it leaves they are again. An RTMP player with `merge-write 0` beside it shows the publisher's reads as they reach
//! the hub (its control: bunched before and after the WHEP session, spread during it); a str0m
//! WHEP player (`common::whep_client`) notes when each frame is depacketized.

mod common;

use common::media::{make_media, publish};
use common::net::free_port;
use common::process::ChildGuard;
use common::whep_client::WhepClient;
use common::worker::{settings, start_worker_with, TestClient, Worker};
use oryx::compile::plan::{SrtListenPlan, WebRtcPlan};
use oryx::rtmp::client::{ClientEvent, ClientMode};
use oryx::rtmp::message::MediaKind;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long each phase is watched (~75 frames at 25 fps).
const PHASE: Duration = Duration::from_secs(3);

/// A worker at oryx's default `merge-read` with WebRTC, and SRT on `srt` where given.
fn worker(srt: Option<SocketAddr>) -> Worker {
    let udp = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut stream = settings();
    // oryx's defaults for the publisher's reads; the control player writes each frame at once.
    stream.merge_read_ms = 100;
    stream.merge_write_ms = 0;
    let plan = WebRtcPlan {
        udp,
        candidates: Vec::new(),
    };
    start_worker_with(
        stream,
        false,
        |w| {
            w.webrtc = Some(plan);
            w.srt = srt.map(|listen| SrtListenPlan {
                listen,
                latency_ms: 120,
                passphrase_env: None,
                pbkeylen: 16,
            });
        },
        &[],
    )
}

/// An RTMP player on its own thread noting when each video frame arrives, until dropped.
struct ArrivalLog {
    times: Arc<Mutex<Vec<Instant>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ArrivalLog {
    fn start(url: &str) -> ArrivalLog {
        let mut client = TestClient::connect(url, ClientMode::Play);
        let times = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, done) = (times.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) && client.pump() {
                let now = Instant::now();
                let mut log = log.lock().unwrap();
                for event in client.events.drain(..) {
                    if let ClientEvent::Media {
                        kind: MediaKind::Video,
                        ..
                    } = event
                    {
                        log.push(now);
                    }
                }
            }
        });
        ArrivalLog {
            times,
            stop,
            thread: Some(thread),
        }
    }

    fn count(&self) -> usize {
        self.times.lock().unwrap().len()
    }

    fn between(&self, from: Instant, to: Instant) -> Vec<Instant> {
        within(&self.times.lock().unwrap(), from, to)
    }
}

impl Drop for ArrivalLog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn within(times: &[Instant], from: Instant, to: Instant) -> Vec<Instant> {
    times
        .iter()
        .copied()
        .filter(|t| *t >= from && *t < to)
        .collect()
}

/// The median gap between consecutive arrivals, ms: ~0 when frames come in bursts of a merged
/// read (2–3 frames each 100 ms), ~40 when they come one by one at 25 fps.
fn median_gap_ms(times: &[Instant]) -> f64 {
    let mut gaps: Vec<f64> = times
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64() * 1000.0)
        .collect();
    assert!(gaps.len() >= 20, "too few frames to judge: {}", times.len());
    gaps.sort_by(f64::total_cmp);
    gaps[gaps.len() / 2]
}

/// Watch for one phase; the window watched.
fn watch() -> (Instant, Instant) {
    let from = Instant::now();
    std::thread::sleep(PHASE);
    (from, Instant::now())
}

#[test]
fn a_whep_player_of_an_rtmp_stream_at_default_merge_read_gets_frames_spread_not_in_bursts() {
    let worker = worker(None);
    let dir = tempfile::tempdir().unwrap();
    let media = make_media(dir.path(), 30);
    let _publisher = publish(&media, &worker.rtmp_url("/live/cam"), true);
    frames_spread_while_whep_plays(&worker, "RTMP", false);
}

#[test]
fn a_whep_player_of_an_srt_stream_at_default_merge_read_gets_frames_spread_not_in_bursts() {
    let srt = loop {
        let port = free_port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            break SocketAddr::from(([127, 0, 0, 1], port));
        }
    };
    let worker = worker(Some(srt));
    let dir = tempfile::tempdir().unwrap();
    let media = make_media(dir.path(), 30);
    let url = format!("srt://{srt}?streamid=publish:live/cam");
    let child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-re"])
        .args(["-stream_loop", "-1", "-i"])
        .arg(&media)
        // With audio: FFmpeg's TS muxer packs it into PES of ~300 ms, and without a WebRTC
        // player the worker holds video until the audio has caught up (`media/interleave.rs`);
        // while one plays, video goes out as it comes.
        .args(["-c", "copy", "-f", "mpegts", &url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg publishes over SRT");
    let _publisher = ChildGuard(child);
    frames_spread_while_whep_plays(&worker, "SRT", true);
}

#[test]
fn a_whep_player_on_an_edge_gets_frames_spread_while_the_origin_merges() {
    use common::cluster::{plan, worker as plan_worker, worker_role, write_plan};
    use oryx::compile::plan::WorkerKind;
    let dir = tempfile::tempdir().unwrap();
    // The origin merges its publisher's reads and its players' writes (SRS's defaults and more);
    // the edge writes its own players at once.
    let mut origin = plan_worker("origin", WorkerKind::Embedded, None);
    origin.stream.merge_read_ms = 100;
    origin.stream.merge_write_ms = 350;
    let mut edge = plan_worker("edge", WorkerKind::Embedded, None);
    edge.origin = Some("origin".into());
    let udp = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    edge.webrtc = Some(WebRtcPlan {
        udp,
        candidates: Vec::new(),
    });
    let file = dir.path().join("plan.json");
    write_plan(&file, &plan(vec![origin.clone(), edge.clone()]));
    let _origin = worker_role(&file, &origin, dir.path());
    let _edge = worker_role(&file, &edge, dir.path());
    let media = make_media(dir.path(), 30);
    let _publisher = publish(&media, &format!("rtmp://{}/live/cam", origin.rtmp), true);

    // An RTMP player on the edge starts its pull; it shows how the origin serves the pull.
    let control = ArrivalLog::start(&format!("rtmp://{}/live/cam", edge.rtmp));
    common::wait::expect_within(Duration::from_secs(30), "the edge player's frames", || {
        (control.count() >= 50).then_some(())
    });
    let whep = WhepClient::start(edge.http, "/live/cam/whep").expect("the WHEP offer is taken");
    common::wait::expect_within(Duration::from_secs(30), "WHEP frames", || {
        (whep.frames() >= 25).then_some(())
    });
    let (from, to) = watch();
    let whep_gap = median_gap_ms(&within(&whep.counters.arrivals.lock().unwrap(), from, to));
    let pulled = median_gap_ms(&control.between(from, to));
    eprintln!(
        "edge of an RTMP origin at merge-read 100 ms, merge-write 350 ms, median gap between \
         video frames: WHEP {whep_gap:.1} ms, edge RTMP player {pulled:.1} ms"
    );
    assert_eq!(whep.delete(), 200, "DELETE ends the WHEP session");
    assert!(
        whep_gap >= 20.0,
        "the edge's WHEP player gets frames spread, not in the origin's bursts: {whep_gap:.1} ms"
    );
    assert!(
        pulled >= 20.0,
        "the origin serves the edge's pull as it comes: {pulled:.1} ms"
    );
}

/// What an RTMP player (ffprobe) gets while the WHEP session plays an SRT source whose video is
/// no longer held for the audio: each track's timestamps go up (never back, never squeezed onto
/// one), and the audio is all there (~23 ms apart at 44.1 kHz AAC), though the tracks are no
/// longer in one order across them.
fn rtmp_player_gets_each_track_in_order(worker: &Worker) {
    let out = Command::new("ffprobe")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-rw_timeout",
            "10000000",
        ])
        .args([
            "-read_intervals",
            "%+3",
            "-show_entries",
            "packet=codec_type,dts_time",
        ])
        .args(["-of", "csv=p=0"])
        .arg(worker.rtmp_url("/live/cam"))
        .output()
        .expect("ffprobe runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let track = |kind: &str| -> Vec<f64> {
        text.lines()
            .filter_map(|l| l.split_once(','))
            .filter(|(k, _)| *k == kind)
            .filter_map(|(_, t)| t.trim().parse().ok())
            .collect()
    };
    let (video, audio) = (track("video"), track("audio"));
    assert!(
        video.len() >= 25 && audio.len() >= 50,
        "ffprobe got {} video and {} audio packets: {}",
        video.len(),
        audio.len(),
        String::from_utf8_lossy(&out.stderr)
    );
    for (kind, times) in [("video", &video), ("audio", &audio)] {
        assert!(
            times.windows(2).all(|w| w[1] > w[0]),
            "{kind} timestamps go up: {times:?}"
        );
    }
    let span = audio.last().unwrap() - audio[0];
    let per_frame = span / (audio.len() - 1) as f64;
    assert!(
        (0.018..0.028).contains(&per_frame),
        "audio frames {per_frame:.4} s apart on average: {audio:?}"
    );
}

/// The RTMP control player before, during and after a WHEP session of `live/cam`, published
/// over `how`; `probe` also checks what an RTMP player gets during it.
fn frames_spread_while_whep_plays(worker: &Worker, how: &str, probe: bool) {
    let control = ArrivalLog::start(&worker.rtmp_url("/live/cam"));
    common::wait::expect_within(
        Duration::from_secs(20),
        "the control player's frames",
        || (control.count() >= 50).then_some(()),
    );

    let (from, to) = watch();
    let merged = median_gap_ms(&control.between(from, to));

    let whep = WhepClient::start(worker.http, "/live/cam/whep").expect("the WHEP offer is taken");
    common::wait::expect_within(Duration::from_secs(30), "WHEP frames", || {
        (whep.frames() >= 25).then_some(())
    });
    let (from, to) = watch();
    let whep_gap = median_gap_ms(&within(&whep.counters.arrivals.lock().unwrap(), from, to));
    let prompt = median_gap_ms(&control.between(from, to));
    if probe {
        rtmp_player_gets_each_track_in_order(worker);
    }

    assert_eq!(whep.delete(), 200, "DELETE ends the WHEP session");
    // The session's hold goes with its task; a read already waiting out a window finishes it.
    std::thread::sleep(Duration::from_millis(500));
    let (from, to) = watch();
    let merged_again = median_gap_ms(&control.between(from, to));

    eprintln!(
        "{how} publisher, median gap between video frames: RTMP control {merged:.1} ms before WHEP, \
         {prompt:.1} ms during (WHEP {whep_gap:.1} ms), {merged_again:.1} ms after"
    );
    assert!(
        merged < 15.0,
        "without a WebRTC player the reads merge (frames in bursts): {merged:.1} ms"
    );
    assert!(
        whep_gap >= 20.0,
        "the WHEP player gets frames spread, not in bursts: {whep_gap:.1} ms"
    );
    assert!(
        prompt >= 20.0,
        "with a WebRTC player the publisher's reads are not merged: {prompt:.1} ms"
    );
    assert!(
        merged_again < 15.0,
        "after the WebRTC player leaves the reads merge again: {merged_again:.1} ms"
    );
}
