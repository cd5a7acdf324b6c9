//! The `scripts/bench-latency` driver: publish the wall clock, then watch each target in turn and
//! print the p50/p95 age of the frames on display. Servers are the script's job; this reads
//!
//! - `ORYX_GLASS_PUBLISH`: RTMP or WHIP (`http://…/whip`, FFmpeg 9) URLs (space-separated) the
//!   clock is published to, for the whole run;
//! - `ORYX_GLASS_TARGETS`: `LABEL,PLAYER,URL` entries (space-separated), PLAYER one of `hls`,
//!   `hls-ll`, `flv`, `whep`, `whep-0` (the receiver's delay knobs at zero), `rtmp`; each is probed first (`probe`) and reported "not available"
//!   when its server does not serve it; `whep-loopback` (any URL) is the WHEP player on a sender
//!   in the same browser (`whep_loopback`), the instrument's own WebRTC floor;
//! - `ORYX_GLASS_AUDIO=0`: the clock without its AAC tone; `ORYX_GLASS_RTMP_FFMPEG9=1`: RTMP
//!   published by FFmpeg 9 instead of Debian's ffmpeg (what the publisher's side costs);
//! - `ORYX_GLASS_SECONDS` (20): the measured window per target; `ORYX_GLASS_SETTLE` (5): seconds
//!   of play before it (players start, then settle on their live edge);
//!   `ORYX_GLASS_PUBLISH_WARMUP` (12): publishing alone first, so HLS players find a full window.

use super::{clock, probe, Player, Viewer};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn env_secs(name: &str, default: u64) -> Duration {
    let secs = std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    Duration::from_secs(secs)
}

struct Publisher(Child);

impl Drop for Publisher {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Debian's ffmpeg publishing the wall clock to `url` (RTMP), or FFmpeg 9's `whip` muxer where
/// `url` is a WHIP endpoint (`…/whip`); stopped when dropped.
pub fn publish_clock(url: &str) -> impl Drop {
    let (program, args) = if url.starts_with("http") {
        let ffmpeg = crate::common::ffmpeg9::find().expect("FFmpeg 9 (for WHIP) is installed");
        (ffmpeg, clock::whip_args(url))
    } else if std::env::var("ORYX_GLASS_RTMP_FFMPEG9").as_deref() == Ok("1") {
        // The RTMP publisher's own share: the same muxing from FFmpeg 9 instead of Debian's 5.1.
        let ffmpeg = crate::common::ffmpeg9::find().expect("FFmpeg 9 is installed");
        (ffmpeg, clock::publish_args(url))
    } else {
        ("ffmpeg".into(), clock::publish_args(url))
    };
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("ffmpeg publishes the clock");
    Publisher(child)
}

/// One target's result line.
fn measure(label: &str, name: &str, url: &str) -> String {
    let head = format!("{label:<10} {name:<13}");
    let loopback = name == "whep-loopback";
    let Some(player) = Player::parse(name).or(loopback.then_some(Player::Whep)) else {
        return format!("{head} unknown player");
    };
    if let Some(missing) = player.missing() {
        return format!("{head} skipped: {missing}");
    }
    let probed = match loopback {
        true => Ok(()),
        false => probe::available(player, url, Duration::from_secs(20)),
    };
    if let Err(why) = probed {
        return format!("{head} not available: {why}");
    }
    let mut viewer = if loopback {
        Viewer::start_whep_loopback()
    } else {
        Viewer::start(player, url)
    };
    let start = Instant::now() + env_secs("ORYX_GLASS_START_WAIT", 30);
    let first = viewer.read_until(start, |r| !r.samples.is_empty());
    if first.samples.is_empty() {
        return format!(
            "{head} no frame decoded in 30 s ({} unreadable); player log: {}",
            first.unreadable, first.log
        );
    }
    viewer.read_for(env_secs("ORYX_GLASS_SETTLE", 5));
    let window = env_secs("ORYX_GLASS_SECONDS", 20);
    let readings = viewer.read_for(window);
    let (p50, p95) = readings.p50_p95();
    format!(
        "{head} {:>7} {:>8.0} {:>8.0} {:>6.1}   {}",
        readings.samples.len(),
        p50,
        p95,
        readings.samples.len() as f64 / window.as_secs_f64(),
        if readings.log.is_empty() {
            ""
        } else {
            &readings.log
        },
    )
}

/// Run the whole bench from the environment, printing a table.
pub fn run_from_env() {
    let publish = std::env::var("ORYX_GLASS_PUBLISH").unwrap_or_default();
    let targets = std::env::var("ORYX_GLASS_TARGETS").unwrap_or_default();
    let _publishers: Vec<_> = publish.split_whitespace().map(publish_clock).collect();
    std::thread::sleep(env_secs("ORYX_GLASS_PUBLISH_WARMUP", 12));
    println!(
        "{:<10} {:<13} {:>7} {:>8} {:>8} {:>6}   player log",
        "server", "player", "frames", "p50 ms", "p95 ms", "fps"
    );
    for entry in targets.split_whitespace() {
        let mut parts = entry.splitn(3, ',');
        let (Some(label), Some(name), Some(url)) = (parts.next(), parts.next(), parts.next())
        else {
            println!("{entry}: not LABEL,PLAYER,URL");
            continue;
        };
        println!("{}", measure(label, name, url));
    }
}
