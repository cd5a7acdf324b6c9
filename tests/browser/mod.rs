//! hls.js in headless Chromium (the harness of `tests/common/chromium.rs`): the test serves a small
//! page and `hls.min.js` from loopback; the page plays a URL and reports the video's `currentTime`
//! (and hls.js's events) back every half second.
//!
//! Needs Debian's chromium (`/usr/bin/chromium`) and hls.js from npm in `target/npm`
//! (`npm install --prefix target/npm hls.js`; `scripts/test` installs both).

#[allow(dead_code)] // each test binary uses its own part of the latency harness
pub mod glass;

use crate::common::chromium::{self, Browser};
use std::path::PathBuf;
use std::sync::{mpsc, Mutex};
use std::time::Duration;

pub use chromium::CHROMIUM;

/// Where `npm install --prefix target/npm hls.js` puts the player.
pub fn hls_js() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/npm/node_modules/hls.js/dist/hls.min.js")
}

/// What is missing to run the browser test, if anything.
pub fn missing() -> Option<String> {
    if !std::path::Path::new(CHROMIUM).exists() {
        return Some(format!("{CHROMIUM} is not installed"));
    }
    if !hls_js().exists() {
        return Some(format!(
            "{} is missing (npm install --prefix target/npm hls.js)",
            hls_js().display()
        ));
    }
    None
}

/// One report of the page: the video's time and what hls.js said so far.
#[derive(Debug, Clone)]
pub struct Report {
    pub current_time: f64,
    pub log: String,
}

/// A headless Chromium playing one URL with hls.js; killed when dropped.
pub struct Player {
    _browser: Browser,
    reports: mpsc::Receiver<Report>,
}

const PAGE: &str = r#"<!doctype html>
<html><body><video id="v" muted autoplay playsinline></video>
<script src="/hls.min.js"></script>
<script>
const video = document.getElementById('v');
const log = [];
const mime = 'video/mp4; codecs="avc1.64001f,mp4a.40.2"';
log.push('mse-h264=' + (window.MediaSource ? MediaSource.isTypeSupported(mime) : 'no-mse'));
if (!Hls.isSupported()) {
  log.push('hls.js unsupported');
} else {
  const hls = new Hls(CONFIG);
  hls.on(Hls.Events.MANIFEST_PARSED, (e, d) => {
    log.push('levels=' + d.levels.map(l => l.width + 'x' + l.height).join('|'));
    video.play().catch(err => log.push('play:' + err));
  });
  hls.on(Hls.Events.LEVEL_SWITCHED, (e, d) => log.push('level=' + d.level));
  hls.on(Hls.Events.ERROR, (e, d) => log.push('error:' + d.details + (d.fatal ? ':fatal' : '')));
  hls.loadSource(SOURCE);
  hls.attachMedia(video);
}
setInterval(() => {
  const q = 't=' + video.currentTime + '&log=' + encodeURIComponent(log.slice(-20).join(' '));
  fetch('/report?' + q).catch(() => {});
}, 500);
</script></body></html>"#;

impl Player {
    /// Start Chromium on a page that plays `source` (an `.m3u8` URL) with hls.js.
    pub fn start(source: &str) -> Player {
        Player::start_with(source, "{ liveSyncDurationCount: 2 }")
    }

    /// [`Player::start`] with hls.js's configuration given as a JavaScript object literal
    /// (`{ lowLatencyMode: true }`).
    pub fn start_with(source: &str, config: &str) -> Player {
        let page = PAGE
            .replace("SOURCE", &format!("{source:?}"))
            .replace("CONFIG", config);
        let script = std::fs::read(hls_js()).expect("hls.min.js");
        let (tx, reports) = mpsc::channel();
        let tx = Mutex::new(tx);
        let port = chromium::serve(move |request| match request.path {
            "/" => chromium::ok("text/html", page.as_bytes()),
            "/hls.min.js" => chromium::ok("application/javascript", script.as_slice()),
            path => {
                let query = path.strip_prefix("/report?")?;
                let _ = tx.lock().unwrap().send(parse_report(query));
                chromium::no_content()
            }
        });
        let browser = Browser::launch(&format!("http://127.0.0.1:{port}/"), &[]);
        Player {
            _browser: browser,
            reports,
        }
    }

    /// Reports until `done` says so (returning that report) or `timeout` passes (`Err` with the last
    /// report, for the failure message).
    pub fn wait(
        &self,
        timeout: Duration,
        done: impl FnMut(&Report) -> bool,
    ) -> Result<Report, Option<Report>> {
        chromium::wait_report(&self.reports, timeout, done)
    }
}

fn parse_report(query: &str) -> Report {
    let pairs = chromium::query_pairs(query);
    Report {
        current_time: chromium::number(&pairs, "t"),
        log: pairs.get("log").cloned().unwrap_or_default(),
    }
}
