//! The glass-to-glass latency instrument (`tests/browser/glass.rs`) reads what it should: the
//! burnt-in clock survives H.264 at a low bitrate and comes back exactly, from a file in ffmpeg and
//! in Chromium, and from a live HTTP-FLV stream through mpegts.js with times that only advance.
//! It proves the instrument, not a latency (that is `scripts/bench-latency`, which runs `measure`).

#[allow(dead_code)] // the hls.js player of mod.rs is other tests' part
mod browser;
mod common;

use browser::glass::{bench, clock, Player, Readings, Viewer};
use common::process::run_tool;
use common::worker::{settings, start_worker};
use std::path::Path;
use std::time::{Duration, Instant};

/// The clock's first value in the clip; frame n shows START + 40 n.
const START: u32 = 12_345_678;
const FRAMES: u32 = 50;

#[test]
fn the_clock_reads_back_what_it_draws_and_rejects_a_bad_parity() {
    for value in [0, 1, START, (1 << 24) - 1] {
        assert_eq!(clock::decode(&clock::picture(value)), Some(value));
    }
    let mut bad = clock::picture(START);
    // The middle of cell 2 (bit 0, a 0 in 12345678) turned white: its parity no longer holds.
    for (x, y) in [(9, 1), (10, 1), (9, 2), (10, 2)] {
        bad[y * clock::READ_WIDTH + x] = 235;
    }
    assert_eq!(clock::decode(&bad), None);
    assert_eq!(
        clock::decode(&vec![128; bad.len()]),
        None,
        "no contrast, no clock"
    );
    assert_eq!(clock::age_ms(1_000_500.0, 1_000_000), 500.0);
    let wrapped = (clock::MODULUS * 3 + 10) as f64;
    assert_eq!(
        clock::age_ms(wrapped, (clock::MODULUS - 20) as u32),
        30.0,
        "ages count across the clock's wrap"
    );
}

/// A 2 s H.264 clip of the clock from START, at 150 kbit/s: far below what a 640x360 picture of
/// moving test pattern wants, so the encoder smears what it can.
fn make_clip(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("clock.mp4");
    let graph = clock::lavfi_graph(clock::Time::Fixed(START), 640, 360);
    let (ok, _, err) = run_tool(
        "ffmpeg",
        &[
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            &graph,
            "-frames:v",
            &FRAMES.to_string(),
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-b:v",
            "150k",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
            &out.to_string_lossy(),
        ],
        Duration::from_secs(60),
    );
    assert!(ok, "ffmpeg makes the clock clip: {err}");
    out
}

/// Every value read is one the clip shows, in order, and none is misread.
fn assert_exact(readings: &Readings, at_least: usize, who: &str) {
    let values: Vec<u32> = readings.samples.iter().map(|s| s.clock).collect();
    assert!(
        values.len() >= at_least,
        "{who} read {} clock values (want {at_least}; {} frames unreadable; log: {})",
        values.len(),
        readings.unreadable,
        readings.log
    );
    for v in &values {
        let step = v.wrapping_sub(START);
        assert!(
            step % 40 == 0 && step / 40 < FRAMES,
            "{who} read {v}, which no frame shows: {values:?}"
        );
    }
    assert!(
        values.windows(2).all(|w| w[0] < w[1]),
        "{who} read times out of order: {values:?}"
    );
}

#[test]
fn ffmpeg_reads_every_frame_of_a_low_bitrate_h264_clip_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path());
    // The reference reader decodes as fast as it can: all 50 frames, each value exact.
    let mut viewer = Viewer::start(Player::Rtmp, &clip.to_string_lossy());
    let readings = viewer.read_until(Instant::now() + Duration::from_secs(30), |r| {
        r.samples.len() + r.unreadable >= FRAMES as usize
    });
    assert_exact(&readings, FRAMES as usize, "ffmpeg");
    assert_eq!(readings.unreadable, 0);
}

#[test]
fn chromium_reads_the_clock_of_a_playing_h264_clip_exactly() {
    if let Some(missing) = Player::File.missing() {
        crate::skipped!("{missing}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path());
    let mut viewer = Viewer::start(Player::File, &clip.to_string_lossy());
    // The page reads each frame the <video> shows; 2 s of 25 fps, of which headless Chromium may
    // skip some, but what it reads must be exact.
    let readings = viewer.read_until(Instant::now() + Duration::from_secs(40), |r| {
        r.samples.last().is_some_and(|s| s.clock >= START + 40 * 45)
    });
    assert_exact(&readings, 20, "chromium");
}

#[test]
fn mpegts_js_reads_a_live_http_flv_clock_with_advancing_times() {
    if let Some(missing) = Player::Flv.missing() {
        crate::skipped!("{missing}");
        return;
    }
    let worker = start_worker(settings(), false);
    let _publisher = bench::publish_clock(&worker.rtmp_url("live/clock"));
    let url = worker.http_url("live/clock.flv");
    browser::glass::probe::available(Player::Flv, &url, Duration::from_secs(20))
        .expect("the worker serves the clock over HTTP-FLV");
    let mut viewer = Viewer::start(Player::Flv, &url);
    let readings = viewer.read_until(Instant::now() + Duration::from_secs(60), |r| {
        r.samples.len() >= 50
    });
    assert!(
        readings.samples.len() >= 50,
        "mpegts.js showed {} readable frames ({} unreadable; log: {})",
        readings.samples.len(),
        readings.unreadable,
        readings.log
    );
    let values: Vec<u32> = readings.samples.iter().map(|s| s.clock).collect();
    assert!(
        values.windows(2).all(|w| w[0] < w[1]),
        "the clock went back: {values:?}"
    );
    // Each frame was on display after the publisher made it: the reader's and the publisher's
    // clocks agree (one machine), and nothing is decoded from a frame that does not exist yet.
    assert!(
        readings.samples.iter().all(|s| s.age_ms > 0.0),
        "a frame shown before it was made: {:?}",
        readings.samples
    );
}

/// `scripts/bench-latency`'s measurement (servers started by the script; see `glass::bench`).
#[test]
#[ignore = "a benchmark: run by scripts/bench-latency"]
fn measure() {
    bench::run_from_env();
}

#[test]
fn the_whep_player_plays_a_sender_in_the_same_browser_and_reads_its_clock() {
    if let Some(missing) = Player::Whep.missing() {
        crate::skipped!("{missing}");
        return;
    }
    // POST the offer, 201 and the answer, ontrack into <video>: the WHEP client the bench points
    // at a server, here answered by a canvas in the same Chromium (the page server relays).
    let mut viewer = Viewer::start_whep_loopback();
    let readings = viewer.read_until(Instant::now() + Duration::from_secs(60), |r| {
        r.samples.len() >= 50
    });
    assert!(
        readings.samples.len() >= 50,
        "WHEP showed {} readable frames ({} unreadable; log: {})",
        readings.samples.len(),
        readings.unreadable,
        readings.log
    );
    let values: Vec<u32> = readings.samples.iter().map(|s| s.clock).collect();
    assert!(
        values.windows(2).all(|w| w[0] < w[1]),
        "the clock went back: {values:?}"
    );
    assert!(
        readings.samples.iter().all(|s| s.age_ms >= 0.0),
        "a frame shown before it was drawn: {:?}",
        readings.samples
    );
    let (p50, p95) = readings.p50_p95();
    println!(
        "Chromium WebRTC loopback (the instrument's WHEP floor): p50 {p50:.0} ms, p95 {p95:.0} ms"
    );
}
