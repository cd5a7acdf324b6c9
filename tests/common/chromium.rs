//! Headless Chromium on a page the test serves from loopback, running a script of the test's and
//! reporting back over `fetch('/report?k=v&…')` (no DevTools protocol). Fake camera and microphone
//! for `getUserMedia`. For WebRTC tests: the page plays or publishes, its reports say how it went.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// One report of the page: its key/value pairs.
pub type Report = HashMap<String, String>;

/// A number from a report (0 when absent).
pub fn number(report: &Report, key: &str) -> f64 {
    report.get(key).and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

/// A headless Chromium on one page; killed when dropped.
pub struct Page {
    chromium: Child,
    reports: mpsc::Receiver<Report>,
    _profile: tempfile::TempDir,
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
    /// `None` (after printing why) when Chromium is not installed.
    pub fn available() -> bool {
        let there = std::path::Path::new(CHROMIUM).exists();
        if !there {
            println!("skipped: {CHROMIUM} is not installed");
        }
        there
    }

    /// Start Chromium on a page running `script` (after the helpers `report(obj)`, `log`, `video`).
    pub fn start(script: &str) -> Page {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the page server");
        let port = listener.local_addr().unwrap().port();
        let page = format!("{HEAD}{script}\n</script></body></html>");
        let (tx, reports) = mpsc::channel();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let _ = serve(conn, &page, &tx);
            }
        });
        let profile = tempfile::tempdir().unwrap();
        let chromium = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--mute-audio",
                "--autoplay-policy=no-user-gesture-required",
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                // Loopback host candidates (the tests' workers listen on 127.0.0.1).
                "--disable-features=WebRtcHideLocalIpsWithMdns",
                "--allow-loopback-in-peer-connection",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("http://127.0.0.1:{port}/"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromium starts");
        Page {
            chromium,
            reports,
            _profile: profile,
        }
    }

    /// Reports until `done` says so (that report) or `timeout` passes (`Err` with the last one).
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

    /// Kill the browser now (a browser that disappears without a DELETE).
    pub fn kill(&mut self) {
        let _ = self.chromium.kill();
        let _ = self.chromium.wait();
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        self.kill();
    }
}

fn serve(mut conn: TcpStream, page: &str, tx: &mpsc::Sender<Report>) -> std::io::Result<()> {
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
    } else if let Some(query) = path.strip_prefix("/report?") {
        let report = query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (decode(k), decode(v)))
            .collect();
        let _ = tx.send(report);
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

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(&text.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// A page that plays `url` with WHEP and reports the video's time, decoded frames and audio.
pub fn whep_script(url: &str) -> String {
    format!(
        r#"
const url = {url:?};
const pc = new RTCPeerConnection();
pc.addTransceiver('video', {{ direction: 'recvonly' }});
pc.addTransceiver('audio', {{ direction: 'recvonly' }});
const stream = new MediaStream();
pc.ontrack = (e) => {{ stream.addTrack(e.track); video.srcObject = stream; video.play().catch(err => log.push('play: ' + err)); }};
let status = 0, where = '';
(async () => {{
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  const r = await fetch(url, {{ method: 'POST', headers: {{ 'Content-Type': 'application/sdp' }}, body: offer.sdp }});
  status = r.status;
  where = r.headers.get('Location') || '';
  const answer = await r.text();
  if (r.status !== 201) {{ log.push('answer ' + r.status + ': ' + answer); return; }}
  await pc.setRemoteDescription({{ type: 'answer', sdp: answer }});
}})().catch(e => log.push('whep: ' + e));
setInterval(async () => {{
  let frames = 0, audio = 0, width = 0;
  try {{
    const stats = await pc.getStats();
    stats.forEach(s => {{
      if (s.type === 'inbound-rtp' && s.kind === 'video') {{ frames = s.framesDecoded || 0; width = s.frameWidth || 0; }}
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {{ audio = s.packetsReceived || 0; }}
    }});
  }} catch (e) {{ log.push('stats: ' + e); }}
  report({{ t: video.currentTime, frames, audio, width, status, location: where, state: pc.connectionState }});
}}, 500);
"#
    )
}

/// A page that publishes its fake camera and microphone to `url` with WHIP (H.264 and Opus).
pub fn whip_script(url: &str) -> String {
    format!(
        r#"
const url = {url:?};
const pc = new RTCPeerConnection();
let status = 0, where = '';
(async () => {{
  const media = await navigator.mediaDevices.getUserMedia({{ video: {{ width: 320, height: 240 }}, audio: true }});
  for (const track of media.getTracks()) {{
    const t = pc.addTransceiver(track, {{ direction: 'sendonly' }});
    if (track.kind === 'video') {{
      const h264 = RTCRtpSender.getCapabilities('video').codecs.filter(c => c.mimeType === 'video/H264');
      log.push('h264 codecs: ' + h264.length);
      if (h264.length) t.setCodecPreferences(h264);
    }}
  }}
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  const r = await fetch(url, {{ method: 'POST', headers: {{ 'Content-Type': 'application/sdp' }}, body: offer.sdp }});
  status = r.status;
  where = r.headers.get('Location') || '';
  const answer = await r.text();
  if (r.status !== 201) {{ log.push('answer ' + r.status + ': ' + answer); return; }}
  await pc.setRemoteDescription({{ type: 'answer', sdp: answer }});
}})().catch(e => log.push('whip: ' + e));
setInterval(async () => {{
  let frames = 0, audio = 0, codec = '';
  try {{
    const stats = await pc.getStats();
    const codecs = {{}};
    stats.forEach(s => {{ if (s.type === 'codec') codecs[s.id] = s.mimeType; }});
    stats.forEach(s => {{
      if (s.type === 'outbound-rtp' && s.kind === 'video') {{ frames = s.framesEncoded || 0; codec = codecs[s.codecId] || ''; }}
      if (s.type === 'outbound-rtp' && s.kind === 'audio') {{ audio = s.packetsSent || 0; }}
    }});
  }} catch (e) {{ log.push('stats: ' + e); }}
  report({{ frames, audio, codec, status, location: where, state: pc.connectionState }});
}}, 500);
"#
    )
}

/// [`whep_script`] that also reports the decoded video codec (`codec`, getStats' `mimeType`) and
/// a refused answer's body (`refusal`).
pub fn whep_codec_script(url: &str) -> String {
    format!(
        r#"
const url = {url:?};
const pc = new RTCPeerConnection();
pc.addTransceiver('video', {{ direction: 'recvonly' }});
pc.addTransceiver('audio', {{ direction: 'recvonly' }});
const stream = new MediaStream();
pc.ontrack = (e) => {{ stream.addTrack(e.track); video.srcObject = stream; video.play().catch(err => log.push('play: ' + err)); }};
let status = 0, refusal = '';
(async () => {{
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  const r = await fetch(url, {{ method: 'POST', headers: {{ 'Content-Type': 'application/sdp' }}, body: offer.sdp }});
  status = r.status;
  const answer = await r.text();
  if (r.status !== 201) {{ refusal = answer.trim(); return; }}
  await pc.setRemoteDescription({{ type: 'answer', sdp: answer }});
}})().catch(e => log.push('whep: ' + e));
setInterval(async () => {{
  let frames = 0, audio = 0, width = 0, codec = '';
  try {{
    const stats = await pc.getStats();
    const codecs = {{}};
    stats.forEach(s => {{ if (s.type === 'codec') codecs[s.id] = s.mimeType; }});
    stats.forEach(s => {{
      if (s.type === 'inbound-rtp' && s.kind === 'video') {{ frames = s.framesDecoded || 0; width = s.frameWidth || 0; codec = codecs[s.codecId] || ''; }}
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {{ audio = s.packetsReceived || 0; }}
    }});
  }} catch (e) {{ log.push('stats: ' + e); }}
  report({{ t: video.currentTime, frames, audio, width, codec, status, refusal, state: pc.connectionState }});
}}, 500);
"#
    )
}

/// [`whip_script`] publishing video in `mime` only (`video/VP9`, `video/AV1`), chosen with
/// `setCodecPreferences`; reports like it, and a refused answer's body (`refusal`).
pub fn whip_codec_script(url: &str, mime: &str) -> String {
    whip_script(url)
        .replace(
            "c.mimeType === 'video/H264'",
            &format!("c.mimeType === {mime:?}"),
        )
        .replace(
            "if (r.status !== 201) {",
            "if (r.status !== 201) { refusal = answer.trim();",
        )
        .replace(
            "let status = 0, where = '';",
            "let status = 0, where = '', refusal = '';",
        )
        .replace(
            "status, location: where,",
            "status, refusal, location: where,",
        )
}
