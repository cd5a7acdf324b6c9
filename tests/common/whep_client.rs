//! A WHEP player without a browser, for tests and the fan-out benchmark: str0m (the worker's own
//! WebRTC engine, here as the controlling ICE agent) POSTs a video-only offer, runs ICE and
//! DTLS-SRTP over a UDP socket of its own, and counts the frames it depacketizes and the RTP
//! packets and bytes that reach its socket. One thread per player; self-contained (std and str0m
//! only) so that `examples/whep_load.rs` includes it too. Its DTLS (str0m 0.24's dimpl, DTLS 1.2,
//! ECDHE-ECDSA suites only) completes with oryx and with SRS 6 at SRS's defaults (`ecdsa on`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use str0m::media::{Direction, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};

/// What the player's thread shares with its owner.
#[derive(Default)]
pub struct Counters {
    /// Frames depacketized (str0m's `MediaData` events) and their bytes.
    pub frames: AtomicU64,
    pub bytes: AtomicU64,
    /// SRTP packets (not RTCP) that reached the socket, and every datagram's bytes from the server:
    /// what the server delivered, whether or not a frame could be assembled from it.
    pub rtp_packets: AtomicU64,
    pub udp_bytes: AtomicU64,
    pub connected: AtomicBool,
    pub stop: AtomicBool,
    /// When each of the first [`ARRIVALS`] frames was depacketized (how they were spread in time).
    pub arrivals: std::sync::Mutex<Vec<Instant>>,
}

/// Frame arrival times kept per player (a few minutes at 25 fps; bounded for the load test).
pub const ARRIVALS: usize = 4096;

/// One WHEP player; its thread stops when dropped (without a DELETE: the worker reaps it).
pub struct WhepClient {
    pub counters: Arc<Counters>,
    /// The session's URL path (`Location`).
    pub location: String,
    http: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

/// An HTTP answer: status, `Location`, body.
pub struct Answer {
    pub status: u16,
    pub location: String,
    pub body: String,
}

/// One HTTP/1.1 request with `Connection: close`.
pub fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> std::io::Result<Answer> {
    let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        conn,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let location = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("location")
                .then(|| value.trim().to_string())
        })
        .unwrap_or_default();
    Ok(Answer {
        status,
        location,
        body: body.to_string(),
    })
}

impl WhepClient {
    /// POST a video-only offer to `path` on `http` (the worker or the http-lb) and start playing.
    pub fn start(http: SocketAddr, path: &str) -> Result<WhepClient, String> {
        static PROVIDER: Once = Once::new();
        PROVIDER.call_once(|| str0m::crypto::from_feature_flags().install_process_default());
        let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let local = socket.local_addr().map_err(|e| e.to_string())?;
        let mut rtc = Rtc::builder()
            .clear_codecs()
            .enable_h264(true)
            .set_stats_interval(None)
            .build(Instant::now());
        let candidate = Candidate::host(local, "udp").map_err(|e| e.to_string())?;
        rtc.add_local_candidate(candidate);
        let mut change = rtc.sdp_api();
        change.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        let (offer, pending) = change.apply().ok_or("no offer")?;
        let answer = http_post(http, path, &offer.to_sdp_string())?;
        let sdp = str0m::change::SdpAnswer::from_sdp_string(&answer.body)
            .map_err(|e| format!("answer: {e}"))?;
        rtc.sdp_api()
            .accept_answer(pending, sdp)
            .map_err(|e| format!("answer refused: {e}"))?;
        let counters = Arc::new(Counters::default());
        let shared = counters.clone();
        let thread = std::thread::Builder::new()
            .name("whep-client".into())
            .spawn(move || run(rtc, socket, local, &shared))
            .map_err(|e| e.to_string())?;
        Ok(WhepClient {
            counters,
            location: answer.location,
            http,
            thread: Some(thread),
        })
    }

    pub fn frames(&self) -> u64 {
        self.counters.frames.load(Ordering::Relaxed)
    }

    pub fn rtp_packets(&self) -> u64 {
        self.counters.rtp_packets.load(Ordering::Relaxed)
    }

    pub fn udp_bytes(&self) -> u64 {
        self.counters.udp_bytes.load(Ordering::Relaxed)
    }

    pub fn connected(&self) -> bool {
        self.counters.connected.load(Ordering::Relaxed)
    }

    /// Leave: DELETE the session, then stop. The DELETE's status.
    pub fn delete(mut self) -> u16 {
        let status = http(self.http, "DELETE", &self.location, "").map_or(0, |a| a.status);
        self.stop();
        status
    }

    /// Vanish: stop sending anything (a closed tab); the worker reaps it at the ICE timeout.
    pub fn stop(&mut self) {
        self.counters.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for WhepClient {
    fn drop(&mut self) {
        self.stop();
    }
}

fn http_post(addr: SocketAddr, path: &str, offer: &str) -> Result<Answer, String> {
    let answer = http(addr, "POST", path, offer).map_err(|e| format!("POST {path}: {e}"))?;
    if answer.status != 201 {
        return Err(format!("POST {path}: {} {}", answer.status, answer.body));
    }
    Ok(answer)
}

/// The player's loop: drain the engine, wait for a datagram until its next timeout, repeat.
fn run(mut rtc: Rtc, socket: UdpSocket, local: SocketAddr, counters: &Counters) {
    let mut buf = vec![0u8; 2000];
    while !counters.stop.load(Ordering::Relaxed) {
        let wake = loop {
            match rtc.poll_output() {
                Ok(Output::Timeout(at)) => break at,
                Ok(Output::Transmit(t)) => {
                    let _ = socket.send_to(&t.contents, t.destination);
                }
                Ok(Output::Event(event)) => on_event(event, counters),
                Err(_) => return,
            }
        };
        if counters.stop.load(Ordering::Relaxed) {
            return;
        }
        // Wake at least every 100 ms to notice a stop.
        let wait = wake
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_millis(1), Duration::from_millis(100));
        let _ = socket.set_read_timeout(Some(wait));
        let input = match socket.recv_from(&mut buf) {
            Ok((n, source)) => match count(&buf[..n], counters).try_into() {
                Ok(contents) => Input::Receive(
                    Instant::now(),
                    Receive {
                        proto: Protocol::Udp,
                        source,
                        destination: local,
                        contents,
                    },
                ),
                Err(_) => continue,
            },
            Err(_) => Input::Timeout(Instant::now()),
        };
        if rtc.handle_input(input).is_err() {
            return;
        }
    }
}

/// Count a datagram from the server: its bytes, and one RTP packet if it is one (RFC 7983: first
/// byte 128..=191 is RTP or RTCP; RFC 5761: payload types 64..=95 with the marker bit are RTCP).
fn count<'a>(datagram: &'a [u8], counters: &Counters) -> &'a [u8] {
    counters
        .udp_bytes
        .fetch_add(datagram.len() as u64, Ordering::Relaxed);
    if matches!(datagram, [128..=191, second, ..] if !(192..=223).contains(second)) {
        counters.rtp_packets.fetch_add(1, Ordering::Relaxed);
    }
    datagram
}

fn on_event(event: Event, counters: &Counters) {
    match event {
        Event::Connected => counters.connected.store(true, Ordering::Relaxed),
        Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
            counters.connected.store(false, Ordering::Relaxed)
        }
        Event::MediaData(data) => {
            if let Ok(mut arrivals) = counters.arrivals.lock() {
                if arrivals.len() < ARRIVALS {
                    arrivals.push(Instant::now());
                }
            }
            counters.frames.fetch_add(1, Ordering::Relaxed);
            counters
                .bytes
                .fetch_add(data.data.len() as u64, Ordering::Relaxed);
        }
        _ => {}
    }
}
