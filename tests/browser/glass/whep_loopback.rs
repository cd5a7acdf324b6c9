//! A WHEP server made of the browser itself, so the WHEP player is proven before any server has
//! WHEP: a sender page (in an iframe of the measuring page) draws the clock on a canvas with
//! `Date.now()` — the same grid and parity as `clock`, written again in JavaScript — and answers,
//! with the canvas's stream, the offers that the player POSTs to `/whep`, which the page server
//! relays (`/offer` polled by the sender, `/answer` posted back). What it measures is Chromium's own
//! WebRTC path on loopback: the floor of any WHEP figure the instrument reports.

use super::page::{Answer, Route};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// The iframe the measuring page gets.
pub const IFRAME: &str = r#"<iframe src="/sender" width="320" height="180"></iframe>"#;

#[derive(Default)]
struct Relay {
    offer: Mutex<Option<String>>,
    answer: Mutex<Option<String>>,
    answered: Condvar,
}

/// The routes: `/sender`, `/offer`, `/answer`, and `POST /whep` (201 with the sender's answer).
pub fn route() -> Route {
    let relay = Arc::new(Relay::default());
    Box::new(move |method, path, body| relay.answer(method, path, body))
}

impl Relay {
    fn answer(&self, method: &str, path: &str, body: &[u8]) -> Option<Answer> {
        let text = |status, body: String| Some((status, "text/plain", String::new(), body.into()));
        match (method, path) {
            ("GET", "/sender") => Some(("200 OK", "text/html", String::new(), SENDER.into())),
            ("GET", "/offer") => match self.offer.lock().unwrap().take() {
                Some(offer) => text("200 OK", offer),
                None => text("204 No Content", String::new()),
            },
            ("POST", "/answer") => {
                *self.answer.lock().unwrap() = Some(String::from_utf8_lossy(body).into_owned());
                self.answered.notify_all();
                text("204 No Content", String::new())
            }
            ("POST", "/whep") => {
                *self.answer.lock().unwrap() = None;
                *self.offer.lock().unwrap() = Some(String::from_utf8_lossy(body).into_owned());
                let answer = self.answer.lock().unwrap();
                let (mut answer, _) = self
                    .answered
                    .wait_timeout_while(answer, Duration::from_secs(15), |a| a.is_none())
                    .unwrap();
                match answer.take() {
                    Some(sdp) => Some((
                        "201 Created",
                        "application/sdp",
                        "Location: /whep/1\r\n".into(),
                        sdp.into(),
                    )),
                    None => text("504 Gateway Timeout", "the sender did not answer".into()),
                }
            }
            _ => None,
        }
    }
}

const SENDER: &str = r#"<!doctype html>
<html><body style="margin:0">
<script>
const W = 640, H = 360, COLS = 8, ROWS = 4;
const canvas = document.createElement('canvas');
canvas.width = W; canvas.height = H;
document.body.appendChild(canvas);
const g = canvas.getContext('2d');
// clock.rs's grid: 0 and 31 white, 1 and 30 black, 2..25 the ms bits, 26..29 parity of 6 bits each.
function draw() {
  const ms = Date.now() % 16777216;
  const cell = [1, 0];
  for (let k = 0; k < 24; k++) cell[2 + k] = Math.floor(ms / 2 ** k) % 2;
  for (let q = 0; q < 4; q++) {
    let p = 0;
    for (let j = 0; j < 6; j++) p += cell[2 + 6 * q + j];
    cell[26 + q] = p % 2;
  }
  cell[30] = 0; cell[31] = 1;
  g.fillStyle = '#808080';
  g.fillRect(0, H / 2, W, H / 2);
  for (let i = 0; i < COLS * ROWS; i++) {
    g.fillStyle = cell[i] ? '#ebebeb' : '#101010';
    g.fillRect((i % COLS) * W / COLS, Math.floor(i / COLS) * H / 2 / ROWS, W / COLS, H / 2 / ROWS);
  }
}
setInterval(draw, 10);
const stream = canvas.captureStream(25);
async function serve() {
  for (;;) {
    const offer = await fetch('/offer');
    if (offer.status !== 200) { await new Promise((r) => setTimeout(r, 200)); continue; }
    const pc = new RTCPeerConnection();
    stream.getTracks().forEach((t) => pc.addTrack(t, stream));
    await pc.setRemoteDescription({ type: 'offer', sdp: await offer.text() });
    await pc.setLocalDescription(await pc.createAnswer());
    await new Promise((done) => {
      if (pc.iceGatheringState === 'complete') return done();
      pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && done();
      setTimeout(done, 2000);
    });
    await fetch('/answer', { method: 'POST', body: pc.localDescription.sdp });
  }
}
serve();
</script></body></html>"#;
