//! The one headless-Chromium harness of the tests: [`Browser`] launches Debian's chromium with the
//! flags every test wants (fake camera and microphone, loopback WebRTC, autoplay), optionally
//! with the DevTools protocol over a pipe ([`Cdp`]: page eval, screenshots); [`serve`] is the
//! loopback server for a test's own pages; [`Page`] is a page running a test's script that reports
//! back over `fetch('/report?k=v&…')`. The hls.js player (tests/browser/mod.rs) and the latency
//! instrument (tests/browser/glass) are thin users of these.

pub use super::cdp::Cdp;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// One report of the page: its key/value pairs.
pub type Report = HashMap<String, String>;

/// A number from a report (0 when absent).
pub fn number(report: &Report, key: &str) -> f64 {
    report.get(key).and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

/// Flags of every launch: headless, no first-run noise, autoplay, a fake camera and microphone,
/// and WebRTC on loopback (the tests' workers listen on 127.0.0.1: host candidates there, shown
/// as addresses rather than mDNS names).
const FLAGS: &[&str] = &[
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
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--allow-loopback-in-peer-connection",
];

/// A headless Chromium with a profile of its own; killed when dropped.
pub struct Browser {
    child: Child,
    cdp: Option<Cdp>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Chromium on `url`, with `extra` flags after the common ones.
    pub fn launch(url: &str, extra: &[&str]) -> Browser {
        Browser::spawn(url, extra, false)
    }

    /// [`Browser::launch`] with the DevTools protocol attached to the page (`--remote-debugging-pipe`).
    pub fn launch_cdp(url: &str, extra: &[&str]) -> Browser {
        Browser::spawn(url, extra, true)
    }

    fn spawn(url: &str, extra: &[&str], cdp: bool) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut command = Command::new(CHROMIUM);
        command
            .args(FLAGS)
            .args(extra)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let (child, cdp) = if cdp {
            command.arg("--remote-debugging-pipe").arg(url);
            let (child, cdp) = Cdp::spawn(command);
            (child, Some(cdp))
        } else {
            (command.arg(url).spawn().expect("chromium starts"), None)
        };
        Browser {
            child,
            cdp,
            _profile: profile,
        }
    }

    /// The DevTools protocol of a [`Browser::launch_cdp`].
    pub fn cdp(&mut self) -> &mut Cdp {
        self.cdp.as_mut().expect("launched with launch_cdp")
    }

    /// Kill the browser now.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A request to a test's page server: method, path (with the query), body.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub body: &'a [u8],
}

/// An answer: status line, content type, extra header lines (each ending in CRLF), body.
pub type Answer = (&'static str, &'static str, String, Vec<u8>);

/// Serve a test's pages on a loopback port (returned) until the process ends: `handler` answers
/// each request (`None`: 404). One thread per request: the page may hold one open while it
/// reports on another.
pub fn serve(handler: impl Fn(&Request) -> Option<Answer> + Send + Sync + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the page server");
    let port = listener.local_addr().unwrap().port();
    let handler = Arc::new(handler);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let handler = handler.clone();
            // A request cut short is the browser's business; what the page reports is what counts.
            std::thread::spawn(move || answer(conn, &*handler));
        }
    });
    port
}

fn answer(
    mut conn: TcpStream,
    handler: &dyn Fn(&Request) -> Option<Answer>,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0).min(1 << 22);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut words = request_line.split_whitespace();
    let request = Request {
        method: words.next().unwrap_or("GET"),
        path: words.next().unwrap_or("/"),
        body: &body,
    };
    let (status, kind, headers, content) =
        handler(&request).unwrap_or(("404 Not Found", "text/plain", String::new(), Vec::new()));
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n{headers}Connection: close\r\n\r\n",
        content.len()
    )?;
    conn.write_all(&content)
}

/// `200 OK` with `content`.
pub fn ok(kind: &'static str, content: impl Into<Vec<u8>>) -> Option<Answer> {
    Some(("200 OK", kind, String::new(), content.into()))
}

/// `204 No Content`.
pub fn no_content() -> Option<Answer> {
    Some(("204 No Content", "text/plain", String::new(), Vec::new()))
}

/// The pairs of a `k=v&…` query, decoded.
pub fn query_pairs(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// Reports until `done` says so (that report) or `timeout` passes (`Err` with the last one).
pub fn wait_report<R>(
    reports: &mpsc::Receiver<R>,
    timeout: Duration,
    mut done: impl FnMut(&R) -> bool,
) -> Result<R, Option<R>> {
    let deadline = Instant::now() + timeout;
    let mut last = None;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match reports.recv_timeout(left) {
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

/// A headless Chromium on one page; killed when dropped.
pub struct Page {
    browser: Browser,
    reports: mpsc::Receiver<Report>,
}

const HEAD: &str = r#"<!doctype html>
<html><body><video id="v" muted autoplay playsinline></video>
<script>
const video = document.getElementById('v');
const log = [];
function report(values) {
  values.log = log.slice(-10).join(' | ');
  fetch('/report?' + new URLSearchParams(values)).catch(() => {});
}
window.onerror = (m) => log.push('error: ' + m);
</script>
<script>
"#;

impl Page {
    /// `false` (after printing why) when Chromium is not installed.
    pub fn available() -> bool {
        let there = std::path::Path::new(CHROMIUM).exists();
        if !there {
            crate::skipped!("{CHROMIUM} is not installed");
        }
        there
    }

    /// Start Chromium on a page running `script` (after the helpers `report(obj)`, `log`, `video`).
    pub fn start(script: &str) -> Page {
        let page = format!("{HEAD}{script}\n</script></body></html>");
        let (tx, reports) = mpsc::channel();
        let tx = std::sync::Mutex::new(tx);
        let port = serve(move |request| {
            if request.path == "/" {
                return ok("text/html", page.as_bytes());
            }
            let query = request.path.strip_prefix("/report?")?;
            let _ = tx.lock().unwrap().send(query_pairs(query));
            no_content()
        });
        let browser = Browser::launch(&format!("http://127.0.0.1:{port}/"), &[]);
        Page { browser, reports }
    }

    /// Reports until `done` says so (that report) or `timeout` passes (`Err` with the last one).
    pub fn wait(
        &self,
        timeout: Duration,
        done: impl FnMut(&Report) -> bool,
    ) -> Result<Report, Option<Report>> {
        wait_report(&self.reports, timeout, done)
    }

    /// Kill the browser now (a browser that disappears without a DELETE).
    pub fn kill(&mut self) {
        self.browser.kill();
    }
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(&text.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// The WHIP/WHEP signalling of a page with a `pc`: `signal(url)` posts its offer, keeps the answer's
/// `status`, its `Location` (`where`) and a refused answer's body (`refusal`, also logged), and
/// applies the answer; `codecsOf(stats)` maps getStats' codec ids to their `mimeType`.
const SIGNAL: &str = r#"
let status = 0, where = '', refusal = '';
async function signal(url) {
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: offer.sdp });
  status = r.status;
  where = r.headers.get('Location') || '';
  const answer = await r.text();
  if (r.status !== 201) { refusal = answer.trim(); log.push('answer ' + r.status + ': ' + answer); return; }
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
}
function codecsOf(stats) {
  const codecs = {};
  stats.forEach(s => { if (s.type === 'codec') codecs[s.id] = s.mimeType; });
  return codecs;
}
"#;

/// A page that plays `url` with WHEP and reports the video's time, decoded frames, width and codec
/// (getStats' `mimeType`), audio packets, and the answer (`status`, `location`, `refusal`).
pub fn whep_script(url: &str) -> String {
    format!(
        r#"
const url = {url:?};
const pc = new RTCPeerConnection();
pc.addTransceiver('video', {{ direction: 'recvonly' }});
pc.addTransceiver('audio', {{ direction: 'recvonly' }});
const stream = new MediaStream();
pc.ontrack = (e) => {{ stream.addTrack(e.track); video.srcObject = stream; video.play().catch(err => log.push('play: ' + err)); }};
{SIGNAL}
signal(url).catch(e => log.push('whep: ' + e));
setInterval(async () => {{
  let frames = 0, audio = 0, width = 0, codec = '';
  try {{
    const stats = await pc.getStats();
    const codecs = codecsOf(stats);
    stats.forEach(s => {{
      if (s.type === 'inbound-rtp' && s.kind === 'video') {{ frames = s.framesDecoded || 0; width = s.frameWidth || 0; codec = codecs[s.codecId] || ''; }}
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {{ audio = s.packetsReceived || 0; }}
    }});
  }} catch (e) {{ log.push('stats: ' + e); }}
  report({{ t: video.currentTime, frames, audio, width, codec, status, location: where, refusal, state: pc.connectionState }});
}}, 500);
"#
    )
}

/// A page that publishes its fake camera and microphone to `url` with WHIP (H.264 and Opus).
pub fn whip_script(url: &str) -> String {
    whip_codec_script(url, "video/H264")
}

/// A page that publishes its fake camera (320x240) in `mime` (`video/H264`, `video/VP9`,
/// `video/AV1`, chosen with `setCodecPreferences`) and its microphone (Opus) to `url` with WHIP,
/// and reports the encoded frames and codec, audio packets, and the answer (`status`,
/// `location`, `refusal`).
pub fn whip_codec_script(url: &str, mime: &str) -> String {
    format!(
        r#"
const url = {url:?};
const pc = new RTCPeerConnection();
{SIGNAL}
(async () => {{
  const media = await navigator.mediaDevices.getUserMedia({{ video: {{ width: 320, height: 240 }}, audio: true }});
  for (const track of media.getTracks()) {{
    const t = pc.addTransceiver(track, {{ direction: 'sendonly' }});
    if (track.kind === 'video') {{
      const wanted = RTCRtpSender.getCapabilities('video').codecs.filter(c => c.mimeType === {mime:?});
      log.push({mime:?} + ' codecs: ' + wanted.length);
      if (wanted.length) t.setCodecPreferences(wanted);
    }}
  }}
  await signal(url);
}})().catch(e => log.push('whip: ' + e));
setInterval(async () => {{
  let frames = 0, audio = 0, codec = '';
  try {{
    const stats = await pc.getStats();
    const codecs = codecsOf(stats);
    stats.forEach(s => {{
      if (s.type === 'outbound-rtp' && s.kind === 'video') {{ frames = s.framesEncoded || 0; codec = codecs[s.codecId] || ''; }}
      if (s.type === 'outbound-rtp' && s.kind === 'audio') {{ audio = s.packetsSent || 0; }}
    }});
  }} catch (e) {{ log.push('stats: ' + e); }}
  report({{ frames, audio, codec, status, refusal, location: where, state: pc.connectionState }});
}}, 500);
"#
    )
}
