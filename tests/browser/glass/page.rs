//! The measuring page and the loopback server that hands it out and takes its reports. The page
//! plays one source with one player, and on every new video frame (`requestVideoFrameCallback`)
//! draws the top half of the picture into a 32×16 canvas and notes its gray levels with
//! `Date.now()`; twice a second it posts what it noted, with the video's `currentTime` and the
//! player's log, to `/report`. Decoding the clock is left to Rust (`clock::decode`), so the page
//! and the ffmpeg reference reader share one decoder.

use super::clock::{READ_HEIGHT, READ_WIDTH};
use crate::common::chromium;
use std::sync::mpsc;

/// One frame the page (or a reader) saw: when, and the gray picture of the clock's grid.
#[derive(Debug, Clone)]
pub struct Seen {
    pub wall_ms: f64,
    pub gray: Vec<u8>,
}

/// One report: the frames seen since the last one, the video's time and the player's recent log.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub current_time: f64,
    pub log: String,
    pub frames: Vec<Seen>,
}

pub use crate::common::chromium::Answer;

/// A route the site adds (`method`, `path`, `body`), `None` for a path it does not serve.
pub type Route = Box<dyn Fn(&str, &str, &[u8]) -> Option<Answer> + Send + Sync>;

/// What the page serves: the HTML, the player script at `/player.js`, a file at `/clip` and any
/// more routes.
pub struct Site {
    pub html: String,
    pub script: Vec<u8>,
    pub clip: Vec<u8>,
    pub route: Option<Route>,
}

/// Serve `site` on a loopback port (returned) until the process ends; reports go to `tx`.
pub fn serve(site: Site, tx: mpsc::Sender<Report>) -> u16 {
    let tx = std::sync::Mutex::new(tx);
    chromium::serve(move |request| {
        let added = site
            .route
            .as_ref()
            .and_then(|route| route(request.method, request.path, request.body));
        if added.is_some() {
            return added;
        }
        match request.path {
            "/" => chromium::ok("text/html", site.html.as_bytes()),
            "/player.js" => chromium::ok("application/javascript", site.script.as_slice()),
            "/clip" => chromium::ok("video/mp4", site.clip.as_slice()),
            "/report" => {
                let report = parse_report(&String::from_utf8_lossy(request.body));
                let _ = tx.lock().unwrap().send(report);
                chromium::no_content()
            }
            _ => None,
        }
    })
}

/// `time T` / `log TEXT` / `frame WALL_MS HEX` lines.
fn parse_report(body: &str) -> Report {
    let mut report = Report::default();
    for line in body.lines() {
        let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
        match key {
            "time" => report.current_time = rest.trim().parse().unwrap_or(0.0),
            "log" => report.log = rest.to_string(),
            "frame" => {
                let Some((wall, hex)) = rest.split_once(' ') else {
                    continue;
                };
                let (Ok(wall_ms), Some(gray)) = (wall.parse(), unhex(hex.trim())) else {
                    continue;
                };
                report.frames.push(Seen { wall_ms, gray });
            }
            _ => {}
        }
    }
    report
}

fn unhex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 2 * READ_WIDTH * READ_HEIGHT || !hex.is_ascii() {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}

/// The page for `player` (`hls`, `hls-ll`, `flv`, `whep`, `file`) playing `source`, with `extra`
/// HTML at the end of its body.
pub fn html(player: &str, source: &str, extra: &str) -> String {
    PAGE.replace("</body>", &format!("{extra}</body>"))
        .replace("\"PLAYER\"", &format!("{player:?}"))
        .replace("\"SOURCE\"", &format!("{source:?}"))
        .replace("READ_WIDTH", &READ_WIDTH.to_string())
        .replace("READ_HEIGHT", &READ_HEIGHT.to_string())
}

const PAGE: &str = r#"<!doctype html>
<html><body style="margin:0;background:#000">
<video id="v" muted autoplay playsinline width="640" height="360"></video>
<script src="/player.js"></script>
<script>
const PLAYER = "PLAYER", SOURCE = "SOURCE";
const video = document.getElementById('v');
const log = [];
const note = (s) => { log.push(s); if (log.length > 30) log.shift(); };
let frames = [];

// The reader: the top half of the frame on display, 4x4 pixels a cell, as gray levels.
const canvas = document.createElement('canvas');
canvas.width = READ_WIDTH; canvas.height = READ_HEIGHT;
const ctx = canvas.getContext('2d', { willReadFrequently: true });
function read() {
  const wall = Date.now();
  if (!video.videoWidth) return;
  ctx.drawImage(video, 0, 0, video.videoWidth, video.videoHeight / 2, 0, 0, READ_WIDTH, READ_HEIGHT);
  const px = ctx.getImageData(0, 0, READ_WIDTH, READ_HEIGHT).data;
  let hex = '';
  for (let i = 0; i < px.length; i += 4) {
    const y = Math.round(0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2]);
    hex += (y < 16 ? '0' : '') + y.toString(16);
  }
  frames.push('frame ' + wall + ' ' + hex);
}
if ('requestVideoFrameCallback' in HTMLVideoElement.prototype) {
  const onFrame = () => { read(); video.requestVideoFrameCallback(onFrame); };
  video.requestVideoFrameCallback(onFrame);
} else {
  note('no requestVideoFrameCallback: reading every 10 ms');
  setInterval(read, 10);
}
const play = () => video.play().catch(err => note('play: ' + err));

function hls(lowLatencyMode) {
  if (!Hls.isSupported()) { note('hls.js unsupported'); return; }
  const hls = new Hls({ lowLatencyMode });
  hls.on(Hls.Events.MANIFEST_PARSED, play);
  hls.on(Hls.Events.ERROR, (e, d) => note('error: ' + d.details + (d.fatal ? ' (fatal)' : '')));
  setInterval(() => note('hls.latency=' + (hls.latency || 0).toFixed(2)), 5000);
  hls.loadSource(SOURCE);
  hls.attachMedia(video);
}

function flv() {
  if (!mpegts.getFeatureList().mseLivePlayback) { note('mpegts.js: no MSE live playback'); return; }
  // A live player as its README configures one: no stash buffer, chase the live edge.
  const player = mpegts.createPlayer({ type: 'flv', isLive: true, url: SOURCE },
    { enableStashBuffer: false, liveBufferLatencyChasing: true });
  player.on(mpegts.Events.ERROR, (type, detail) => note('error: ' + type + ' ' + detail));
  player.attachMediaElement(video);
  player.load();
  play();
}

async function whep(lowDelay) {
  // A plain WHEP client: POST the offer, 201 and the SDP answer back, the tracks into <video>.
  // `lowDelay`: the receiver's knobs at zero, as a page chasing latency sets them.
  const pc = new RTCPeerConnection();
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  const stream = new MediaStream();
  pc.ontrack = (e) => {
    if (lowDelay) { e.receiver.jitterBufferTarget = 0; e.receiver.playoutDelayHint = 0; }
    stream.addTrack(e.track); video.srcObject = stream; play();
  };
  pc.onconnectionstatechange = () => note('pc: ' + pc.connectionState);
  // Chromium's own share: the jitter buffer's mean delay and the decode time per frame, over the
  // last 5 s (the bench prints the player's last log line).
  let last = null;
  setInterval(async () => {
    const stats = await pc.getStats();
    stats.forEach(s => {
      if (s.type !== 'inbound-rtp' || s.kind !== 'video') return;
      if (last && s.jitterBufferEmittedCount > last.jitterBufferEmittedCount) {
        const n = s.jitterBufferEmittedCount - last.jitterBufferEmittedCount;
        const jb = (s.jitterBufferDelay - last.jitterBufferDelay) / n * 1000;
        const dec = (s.totalDecodeTime - last.totalDecodeTime) / Math.max(1, s.framesDecoded - last.framesDecoded) * 1000;
        note('jitter-buffer=' + jb.toFixed(0) + 'ms decode=' + dec.toFixed(1) + 'ms');
      }
      last = s;
    });
  }, 5000);
  await pc.setLocalDescription(await pc.createOffer());
  // Send the offer with its candidates (no trickle): wait for gathering, at most 2 s.
  await new Promise((done) => {
    if (pc.iceGatheringState === 'complete') return done();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && done();
    setTimeout(done, 2000);
  });
  const answer = await fetch(SOURCE, { method: 'POST', headers: { 'Content-Type': 'application/sdp' },
    body: pc.localDescription.sdp });
  if (answer.status !== 201) { note('whep: ' + answer.status + ' ' + await answer.text()); return; }
  await pc.setRemoteDescription({ type: 'answer', sdp: await answer.text() });
  note('whep: answered, session ' + answer.headers.get('Location'));
}

try {
  if (PLAYER === 'hls') hls(false);
  else if (PLAYER === 'hls-ll') hls(true);
  else if (PLAYER === 'flv') flv();
  else if (PLAYER === 'whep' || PLAYER === 'whep-0') whep(PLAYER === 'whep-0').catch(err => note('whep: ' + err));
  else { video.src = SOURCE; play(); }
} catch (err) { note('start: ' + err); }

setInterval(() => {
  const body = ['time ' + video.currentTime, 'log ' + log.join(' | ').replace(/\n/g, ' ')]
    .concat(frames).join('\n');
  frames = [];
  fetch('/report', { method: 'POST', body }).catch(() => {});
}, 500);
</script></body></html>"#;
