//! One WebRTC session: the `str0m` engine (ICE-lite, DTLS-SRTP, RTP/RTCP with NACK and PLI) and
//! what oryx tracks about it. Every mutation of the engine is followed by a full drain of its
//! output here ([`Session::drive`]): datagrams go out on the worker's UDP socket, events update the
//! session (connected, a keyframe request, a publisher's media handed to [`super::publish`]).

use super::publish::Ingest;
use crate::webrtc::video::VideoCodec;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use str0m::media::{MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;

/// A session that never connects, or stops hearing from its browser, is reaped after this.
pub const ICE_TIMEOUT: Duration = Duration::from_secs(10);
/// A session not connected within this after the answer is reaped (the browser could not reach
/// any candidate).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// A negotiated outgoing or incoming track.
#[derive(Debug, Clone, Copy)]
pub struct Track {
    pub mid: Mid,
    pub pt: str0m::media::Pt,
}

pub struct Session {
    rtc: Rtc,
    /// When the engine wants its next timeout input.
    pub timeout: Instant,
    pub created: Instant,
    pub connected: bool,
    pub closed: Option<String>,
    /// Last datagram from the browser (ICE consent, RTCP, media).
    pub last_heard: Instant,
    /// The browser asked for a keyframe (PLI/FIR) since the player last looked.
    pub keyframe_requested: bool,
    pub video: Option<Track>,
    pub audio: Option<Track>,
    /// The browser's ICE ufrag from its offer (a `PATCH` with another one is an ICE restart).
    pub remote_ufrag: Option<String>,
    /// The entity-tag of the session's ICE session (`ETag` of the answer, `If-Match` of `PATCH`).
    pub etag: String,
    /// The video codecs this session may use, best first (a player's: the stream's one).
    pub video_codecs: Vec<VideoCodec>,
    /// A WHIP publisher's media on its way into the hub.
    pub ingest: Option<Ingest>,
    /// The host candidates announced, for the log when the browser never connects.
    pub candidates: Vec<SocketAddr>,
    pub sent_bytes: u64,
    pub received_bytes: u64,
}

impl Session {
    pub fn new(rtc: Rtc, candidates: Vec<SocketAddr>) -> Session {
        let now = Instant::now();
        Session {
            rtc,
            timeout: now,
            created: now,
            connected: false,
            closed: None,
            last_heard: now,
            keyframe_requested: false,
            video: None,
            audio: None,
            video_codecs: vec![VideoCodec::H264],
            remote_ufrag: None,
            etag: String::new(),
            ingest: None,
            candidates,
            sent_bytes: 0,
            received_bytes: 0,
        }
    }

    pub fn rtc(&mut self) -> &mut Rtc {
        &mut self.rtc
    }

    /// The candidate a datagram from `peer` reached, as the ICE agent knows it: the loopback
    /// candidate for a loopback peer, else the first other one (a NAT's public address included:
    /// the socket cannot tell which announced address a packet was sent to).
    pub fn destination_for(&self, peer: SocketAddr) -> Option<SocketAddr> {
        let same_family = |c: &&SocketAddr| c.is_ipv4() == peer.is_ipv4();
        let loopback = peer.ip().is_loopback();
        self.candidates
            .iter()
            .filter(same_family)
            .find(|c| c.ip().is_loopback() == loopback)
            .or_else(|| self.candidates.iter().find(same_family))
            .copied()
    }

    /// A datagram from the browser.
    pub fn receive(&mut self, socket: &UdpSocket, from: SocketAddr, datagram: &[u8]) {
        let Some(destination) = self.destination_for(from) else {
            return;
        };
        let Ok(contents) = datagram.try_into() else {
            return;
        };
        let now = Instant::now();
        self.last_heard = now;
        self.received_bytes += datagram.len() as u64;
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source: from,
                destination,
                contents,
            },
        );
        if let Err(err) = self.rtc.handle_input(input) {
            tracing::debug!(%err, "WebRTC datagram refused");
        }
        self.drive(socket);
    }

    /// The engine's timer fired (or may have).
    pub fn tick(&mut self, socket: &UdpSocket) {
        let now = Instant::now();
        if let Err(err) = self.rtc.handle_input(Input::Timeout(now)) {
            self.closed = Some(format!("engine error: {err}"));
        }
        self.drive(socket);
        if self.closed.is_none() {
            self.closed = self.overdue(now);
        }
    }

    /// Why the session is to be reaped now, if it is.
    fn overdue(&self, now: Instant) -> Option<String> {
        if !self.connected && now.duration_since(self.created) > CONNECT_TIMEOUT {
            return Some(format!(
                "the browser never connected within {CONNECT_TIMEOUT:?}: no ICE check reached any of the candidates offered ({}); set `webrtc {{ candidate \"ADDRESS\" }}` to an address the browser can reach",
                self.candidates
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if self.connected && now.duration_since(self.last_heard) > ICE_TIMEOUT {
            return Some(format!(
                "nothing heard from the browser for {ICE_TIMEOUT:?}"
            ));
        }
        None
    }

    /// Drain the engine: send its datagrams, take its events, note its next timeout.
    pub fn drive(&mut self, socket: &UdpSocket) {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(at)) => {
                    self.timeout = at;
                    return;
                }
                Ok(Output::Transmit(t)) => {
                    self.sent_bytes += t.contents.len() as u64;
                    // A full socket buffer drops the datagram, as a router would; NACK recovers.
                    let _ = socket.try_send_to(&t.contents, t.destination);
                }
                Ok(Output::Event(event)) => self.on_event(event),
                Err(err) => {
                    self.closed = Some(format!("engine error: {err}"));
                    self.timeout = Instant::now() + Duration::from_secs(1);
                    return;
                }
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Connected => self.connected = true,
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.closed = Some("ICE disconnected".into());
            }
            Event::KeyframeRequest(_) => self.keyframe_requested = true,
            Event::MediaData(data) => {
                if let Some(ingest) = &mut self.ingest {
                    if let Some(mid) = ingest.on_media(&data) {
                        // A gap in the publisher's video: ask it for a new keyframe.
                        if let Some(mut writer) = self.rtc.writer(mid) {
                            let _ = writer
                                .request_keyframe(None, str0m::media::KeyframeRequestKind::Pli);
                        }
                    }
                }
            }
            Event::MediaAdded(media) => self.learn_track(media.mid, media.kind),
            Event::Closed => self.closed = Some("closed by the browser".into()),
            _ => {}
        }
    }

    /// A media line the engine opened (once DTLS is up): the payload type to send or expect.
    fn learn_track(&mut self, mid: Mid, kind: MediaKind) {
        let Some(writer) = self.rtc.writer(mid) else {
            return;
        };
        let codecs = &self.video_codecs;
        let pt = writer.payload_params().find(|p| {
            let spec = p.spec();
            match kind {
                MediaKind::Video => codecs.iter().any(|c| matches(*c, spec)),
                MediaKind::Audio => spec.codec == str0m::format::Codec::Opus,
            }
        });
        let Some(pt) = pt.map(|p| p.pt()) else {
            return;
        };
        let track = Some(Track { mid, pt });
        match kind {
            MediaKind::Video if self.video.is_none() => self.video = track,
            MediaKind::Audio if self.audio.is_none() => self.audio = track,
            _ => {}
        }
    }

    /// Write one access unit (video) or packet (audio) to the browser.
    pub fn write(
        &mut self,
        socket: &UdpSocket,
        track: Track,
        rtp_time: str0m::media::MediaTime,
        data: Vec<u8>,
    ) {
        let now = Instant::now();
        if let Some(writer) = self.rtc.writer(track.mid) {
            if let Err(err) = writer.write(track.pt, now, rtp_time, data) {
                tracing::debug!(%err, "WebRTC write refused");
            }
        }
        // The engine packetizes on its timer input: give it one now, so the frame goes out with
        // this drain rather than at the player's next timer tick (`play.rs` ticks on a grid).
        if let Err(err) = self.rtc.handle_input(Input::Timeout(now)) {
            self.closed = Some(format!("engine error: {err}"));
        }
        self.drive(socket);
    }
}

/// Whether a negotiated payload type is `codec` as oryx sends it (H.264 in packetization mode 1,
/// VP9 profile 0 or 2).
fn matches(codec: VideoCodec, spec: str0m::format::CodecSpec) -> bool {
    use str0m::format::Codec;
    match codec {
        VideoCodec::H264 => spec.codec == Codec::H264 && spec.format.packetization_mode == Some(1),
        VideoCodec::Hevc => spec.codec == Codec::H265,
        VideoCodec::Vp9 => spec.codec == Codec::Vp9,
        VideoCodec::Av1 => spec.codec == Codec::Av1,
    }
}
