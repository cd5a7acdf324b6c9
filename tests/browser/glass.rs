//! Glass-to-glass latency: a clock burnt into the published picture (`clock`), read back where a
//! viewer sees it — a headless Chromium page playing the stream with hls.js (plain or
//! `lowLatencyMode`), mpegts.js (HTTP-FLV) or a WHEP client (`page`), or ffmpeg decoding RTMP as the
//! native reference — and turned into "how long ago was this frame made". `bench` is the
//! `scripts/bench-latency` driver; `probe` asks a server whether it serves a protocol at all.
//!
//! Needs Debian's chromium and, in `target/npm`, hls.js and mpegts.js
//! (`npm install --prefix target/npm hls.js mpegts.js`; `scripts/test` installs them).

pub mod bench;
pub mod clock;
pub mod page;
pub mod probe;
pub mod whep_loopback;

use crate::common::chromium::Browser;
use page::{Report, Seen, Site};
use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How a viewer plays the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Player {
    /// hls.js with `lowLatencyMode: false`: plain HLS, whatever the playlist offers.
    Hls,
    /// hls.js with `lowLatencyMode: true`: LL-HLS parts and blocking reloads where served.
    HlsLowLatency,
    /// mpegts.js playing HTTP-FLV (no stash buffer, live-edge chasing).
    Flv,
    /// `RTCPeerConnection`: the offer POSTed to a WHEP URL, 201 and the answer back.
    Whep,
    /// [`Player::Whep`] with the receiver's latency knobs at zero (`jitterBufferTarget`,
    /// `playoutDelayHint`), as a page chasing latency sets them.
    WhepLowDelay,
    /// A file played by the `<video>` element itself (the instrument's own test).
    File,
    /// Not a browser: ffmpeg reads RTMP and hands each decoded frame over as it comes, the
    /// reference for what the server adds without a player's buffer.
    Rtmp,
}

impl Player {
    pub const ALL: [Player; 7] = [
        Player::Hls,
        Player::HlsLowLatency,
        Player::Flv,
        Player::Whep,
        Player::WhepLowDelay,
        Player::File,
        Player::Rtmp,
    ];

    /// The name `bench` and the page use: `hls`, `hls-ll`, `flv`, `whep`, `whep-0`, `file`, `rtmp`.
    pub fn name(self) -> &'static str {
        match self {
            Player::Hls => "hls",
            Player::HlsLowLatency => "hls-ll",
            Player::Flv => "flv",
            Player::Whep => "whep",
            Player::WhepLowDelay => "whep-0",
            Player::File => "file",
            Player::Rtmp => "rtmp",
        }
    }

    pub fn parse(name: &str) -> Option<Player> {
        Player::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The script the page loads for this player, if any.
    fn script(self) -> Option<PathBuf> {
        let npm = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/npm/node_modules");
        match self {
            Player::Hls | Player::HlsLowLatency => Some(npm.join("hls.js/dist/hls.min.js")),
            Player::Flv => Some(npm.join("mpegts.js/dist/mpegts.js")),
            _ => None,
        }
    }

    /// What is missing to run this player here, if anything.
    pub fn missing(self) -> Option<String> {
        if self == Player::Rtmp {
            return None;
        }
        if !Path::new(super::CHROMIUM).exists() {
            return Some(format!("{} is not installed", super::CHROMIUM));
        }
        match self.script() {
            Some(script) if !script.exists() => Some(format!(
                "{} is missing (npm install --prefix target/npm hls.js mpegts.js)",
                script.display()
            )),
            _ => None,
        }
    }
}

/// One decoded frame: the clock's millisecond and how old it was when it was on display.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub clock: u32,
    pub wall_ms: f64,
    pub age_ms: f64,
}

/// What a viewer saw over a while.
#[derive(Debug, Default)]
pub struct Readings {
    /// The first sight of each clock value, in the order seen.
    pub samples: Vec<Sample>,
    /// Frames whose clock could not be read (no picture yet, a parity error).
    pub unreadable: usize,
    /// The player's last log and `currentTime`.
    pub log: String,
    pub current_time: f64,
}

impl Readings {
    /// p50 and p95 of the samples' ages, ms.
    pub fn p50_p95(&self) -> (f64, f64) {
        let mut ages: Vec<f64> = self.samples.iter().map(|s| s.age_ms).collect();
        ages.sort_by(f64::total_cmp);
        (
            clock::percentile(&ages, 50.0),
            clock::percentile(&ages, 95.0),
        )
    }
}

/// A viewer of one stream (a headless Chromium page or an ffmpeg reader); stopped when dropped.
pub struct Viewer {
    source: Source,
    reports: mpsc::Receiver<Report>,
    seen: HashSet<u32>,
}

/// What shows the viewer its frames: a browser page or the reference reader.
enum Source {
    Browser(Browser),
    Reader(Child),
}

impl Viewer {
    /// Start `player` on `source` (a URL; for [`Player::File`] a local file).
    pub fn start(player: Player, source: &str) -> Viewer {
        if player == Player::Rtmp {
            let (tx, reports) = mpsc::channel();
            let child = reference_reader(source, tx);
            return Viewer {
                source: Source::Reader(child),
                reports,
                seen: HashSet::new(),
            };
        }
        let (page_source, clip) = match player {
            Player::File => (
                "/clip".to_string(),
                std::fs::read(source).expect("the clip"),
            ),
            _ => (source.to_string(), Vec::new()),
        };
        Viewer::chromium(player, &page_source, clip, None, "")
    }

    /// The WHEP player on a sender in the same browser (`whep_loopback`): Chromium's own WebRTC
    /// path, with nothing else in between.
    pub fn start_whep_loopback() -> Viewer {
        let route = Some(whep_loopback::route());
        Viewer::chromium(
            Player::Whep,
            "/whep",
            Vec::new(),
            route,
            whep_loopback::IFRAME,
        )
    }

    fn chromium(
        player: Player,
        source: &str,
        clip: Vec<u8>,
        route: Option<page::Route>,
        extra: &str,
    ) -> Viewer {
        let (tx, reports) = mpsc::channel();
        let script = player
            .script()
            .map(|p| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
            .unwrap_or_default();
        let site = Site {
            html: page::html(player.name(), source, extra),
            script,
            clip,
            route,
        };
        let port = page::serve(site, tx);
        let browser = Browser::launch(
            &format!("http://127.0.0.1:{port}/"),
            &["--window-size=800,600"],
        );
        Viewer {
            source: Source::Browser(browser),
            reports,
            seen: HashSet::new(),
        }
    }

    /// Everything seen in the next `window`, each clock value counted once (its first sight).
    pub fn read_for(&mut self, window: Duration) -> Readings {
        self.read_until(Instant::now() + window, |_| false)
    }

    /// Readings until `done` says so or `deadline` passes.
    pub fn read_until(
        &mut self,
        deadline: Instant,
        mut done: impl FnMut(&Readings) -> bool,
    ) -> Readings {
        let mut readings = Readings::default();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(report) = self.reports.recv_timeout(left) else {
                break;
            };
            if !report.log.is_empty() {
                readings.log = report.log;
            }
            readings.current_time = report.current_time;
            for Seen { wall_ms, gray } in report.frames {
                match clock::decode(&gray) {
                    Some(value) if self.seen.insert(value) => readings.samples.push(Sample {
                        clock: value,
                        wall_ms,
                        age_ms: clock::age_ms(wall_ms, value),
                    }),
                    Some(_) => {}
                    None => readings.unreadable += 1,
                }
            }
            if done(&readings) {
                break;
            }
        }
        readings
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        if let Source::Reader(child) = &mut self.source {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Debian's ffmpeg decoding `url` as it arrives (`low_delay`, each frame flushed at once)
/// into the reader's gray picture of the grid; a thread timestamps each frame as it comes out.
fn reference_reader(url: &str, tx: mpsc::Sender<Report>) -> Child {
    let filter = format!(
        "crop=iw:ih/2:0:0,scale={}:{}:flags=area,format=gray",
        clock::READ_WIDTH,
        clock::READ_HEIGHT
    );
    let mut child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin"])
        .args(["-flags", "low_delay", "-i", url])
        .args(["-an", "-vf", &filter, "-fps_mode", "passthrough"])
        .args(["-flush_packets", "1", "-f", "rawvideo", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg starts");
    let mut out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        let mut gray = vec![0u8; clock::READ_WIDTH * clock::READ_HEIGHT];
        while out.read_exact(&mut gray).is_ok() {
            let wall_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs_f64()
                * 1000.0;
            let report = Report {
                frames: vec![Seen {
                    wall_ms,
                    gray: gray.clone(),
                }],
                ..Report::default()
            };
            if tx.send(report).is_err() {
                return;
            }
        }
    });
    child
}
