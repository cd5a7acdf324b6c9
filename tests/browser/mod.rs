//! hls.js in headless Chromium, driven without the DevTools protocol: the test serves a small page
//! and `hls.min.js` from a loopback HTTP server of its own; the page plays a URL and reports the
//! video's `currentTime` (and hls.js's events) back to that server every half second.
//!
//! Needs Debian's chromium (`/usr/bin/chromium`) and hls.js from npm in `target/npm`
//! (`npm install --prefix target/npm hls.js`; `scripts/test` installs both).

#[allow(dead_code)] // each test binary uses its own part of the latency harness
pub mod glass;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const CHROMIUM: &str = "/usr/bin/chromium";

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
    chromium: Child,
    reports: mpsc::Receiver<Report>,
    _profile: tempfile::TempDir,
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
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the page server");
        let port = listener.local_addr().unwrap().port();
        let page = PAGE
            .replace("SOURCE", &format!("{source:?}"))
            .replace("CONFIG", config);
        let script = std::fs::read(hls_js()).expect("hls.min.js");
        let (tx, reports) = mpsc::channel();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                // A request cut short is the browser's business; the reports are what count.
                let _ = serve(conn, &page, &script, &tx);
            }
        });
        let profile = tempfile::tempdir().unwrap();
        let chromium = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--mute-audio",
                "--autoplay-policy=no-user-gesture-required",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("http://127.0.0.1:{port}/"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromium starts");
        Player {
            chromium,
            reports,
            _profile: profile,
        }
    }

    /// Reports until `done` says so (returning that report) or `timeout` passes (`Err` with the last
    /// report, for the failure message).
    pub fn wait(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&Report) -> bool,
    ) -> Result<Report, Option<Report>> {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.reports.recv_timeout(left) {
                Ok(report) => {
                    if done(&report) {
                        return Ok(report);
                    }
                    last = Some(report);
                }
                Err(_) => break,
            }
        }
        Err(last)
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        let _ = self.chromium.kill();
        let _ = self.chromium.wait();
    }
}

/// Answer one request of the page: the page, the script, or a report (204).
fn serve(
    mut conn: TcpStream,
    page: &str,
    script: &[u8],
    tx: &mpsc::Sender<Report>,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let (status, kind, body): (&str, &str, &[u8]) = if path == "/" {
        ("200 OK", "text/html", page.as_bytes())
    } else if path == "/hls.min.js" {
        ("200 OK", "application/javascript", script)
    } else if let Some(query) = path.strip_prefix("/report?") {
        let _ = tx.send(parse_report(query));
        ("204 No Content", "text/plain", b"")
    } else {
        ("404 Not Found", "text/plain", b"")
    };
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    conn.write_all(body)
}

fn parse_report(query: &str) -> Report {
    let mut report = Report {
        current_time: 0.0,
        log: String::new(),
    };
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("t", value)) => report.current_time = value.parse().unwrap_or(0.0),
            Some(("log", value)) => {
                report.log = percent_encoding::percent_decode_str(value)
                    .decode_utf8_lossy()
                    .into_owned()
            }
            _ => {}
        }
    }
    report
}
