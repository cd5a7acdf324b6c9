//! WebRTC in the worker: WHEP players and WHIP publishers of the hub's streams, every session on
//! the worker's one UDP port. Rooms: `signaling.rs` (the HTTP side: offers, answers, `Location`,
//! `DELETE`/`PATCH`), `udp.rs` (the socket: datagrams to sessions through `crate::webrtc::demux`),
//! `session.rs` (one `str0m` engine and its drain), `play.rs` (WHEP: hub frames to RTP),
//! `publish.rs` (WHIP: RTP to hub frames), `audio.rs` (Opus for players, AAC transcoding's place),
//! `candidates.rs` (which addresses the answers announce), `trickle.rs` (`PATCH`: trickle ICE), `tasks.rs` (a session's life).

pub mod audio;
pub mod candidates;
pub mod play;
pub mod publish;
pub mod session;
pub mod signaling;
pub mod tasks;
pub mod trickle;
pub mod udp;

use super::context::WorkerContext;
use crate::compile::plan::WebRtcPlan;
use crate::stream_name::WebRtcAction;
use crate::webrtc::demux::Demux;
use crate::webrtc::stap::DATAGRAM_MTU;
use crate::webrtc::video::VideoCodec;
use anyhow::Context;
use session::Session;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use str0m::rtp::{Extension, ExtensionMap};
use tokio::net::UdpSocket;
use tokio::sync::Notify;

/// Most WebRTC sessions one worker holds (each has an engine, its resend buffers and a task).
pub const MAX_SESSIONS: usize = 4096;

/// One session as the worker shares it between its task, the socket and signaling.
pub struct SessionHandle {
    pub id: u64,
    /// The unguessable id in the session's URL (who knows it may end the session).
    pub token: String,
    pub action: WebRtcAction,
    pub stream_key: String,
    state: Mutex<Session>,
    /// Something changed (a datagram, a keyframe request, DELETE): the task looks again.
    pub wake: Notify,
}

impl SessionHandle {
    pub fn lock(&self) -> MutexGuard<'_, Session> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When the task must look at the engine next (its timeout, at most a second away: the reaper
    /// checks that often).
    pub fn next_wake(&self) -> tokio::time::Instant {
        let timeout = self.lock().timeout;
        let now = Instant::now();
        let later = timeout
            .saturating_duration_since(now)
            .min(std::time::Duration::from_secs(1));
        tokio::time::Instant::now() + later
    }

    /// End the session (DELETE, the stream ended, shutdown); the task reaps it.
    pub fn close(&self, reason: &str) {
        {
            let mut session = self.lock();
            if session.closed.is_none() {
                session.closed = Some(reason.to_string());
            }
        }
        self.wake.notify_one();
    }
}

#[derive(Default)]
struct Table {
    sessions: HashMap<u64, Arc<SessionHandle>>,
    by_token: HashMap<String, u64>,
    demux: Demux,
}

/// The worker's WebRTC service.
pub struct WebRtc {
    pub ctx: Arc<WorkerContext>,
    pub socket: Arc<UdpSocket>,
    /// The addresses every answer announces as host candidates.
    pub candidates: Vec<SocketAddr>,
    /// One DTLS certificate for the worker's sessions (a key pair per session costs CPU for nothing).
    cert: str0m::config::DtlsCert,
    table: Mutex<Table>,
    next_id: AtomicU64,
    pub transcoders: Arc<audio::Transcoders>,
}

impl WebRtc {
    /// Bind the UDP port, work out the candidates, start the receive loop.
    pub fn install(ctx: &Arc<WorkerContext>, plan: &WebRtcPlan) -> anyhow::Result<Arc<WebRtc>> {
        let provider = str0m::crypto::from_feature_flags();
        let cert = provider
            .dtls_provider
            .generate_certificate()
            .context("generating the WebRTC DTLS certificate")?;
        // Once per process; a later call leaves the first in place.
        provider.install_process_default();
        let std_socket = std::net::UdpSocket::bind(crate::net::pod::listen_addr(plan.udp))
            .with_context(|| format!("WebRTC cannot listen on udp {}", plan.udp))?;
        std_socket.set_nonblocking(true)?;
        let bound = std_socket.local_addr()?;
        let socket = Arc::new(UdpSocket::from_std(std_socket)?);
        let candidates = candidates::announced(bound, &plan.candidates)?;
        tracing::info!(
            udp = %bound,
            candidates = %candidates.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", "),
            "WebRTC ready"
        );
        let service = Arc::new(WebRtc {
            ctx: ctx.clone(),
            socket,
            candidates,
            cert,
            table: Mutex::new(Table::default()),
            next_id: AtomicU64::new(1),
            transcoders: Arc::new(audio::Transcoders::default()),
        });
        tokio::spawn(udp::receive_loop(service.clone()));
        Ok(service)
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn session_count(&self) -> usize {
        self.table().sessions.len()
    }

    /// A new engine for one session: ICE-lite, the video codecs given (the stream's, for a player;
    /// those the hub can carry, for a publisher) and Opus, the worker's certificate and candidates,
    /// local ICE credentials of our own (the demux keys on the ufrag). A player's engine has no
    /// transport-wide congestion control extension: oryx sends the stream's own bitrate and runs no
    /// bandwidth estimator, so the browser's TWCC feedback (a report every ~50 ms per player, each
    /// one received, decrypted and matched against the send register) would buy nothing. A
    /// publisher's keeps it: browsers estimate their sending bitrate from it.
    pub fn new_engine(
        &self,
        ufrag: &str,
        pass: &str,
        video: &[VideoCodec],
        action: WebRtcAction,
    ) -> str0m::Rtc {
        let mut config = str0m::RtcConfig::new();
        if action == WebRtcAction::Whep {
            let exts = config.extension_map();
            let mut kept = ExtensionMap::empty();
            for (id, ext) in exts.iter() {
                if *ext != Extension::TransportSequenceNumber {
                    kept.set(id, ext.clone());
                }
            }
            *exts = kept;
        }
        let mut rtc = config
            .set_ice_lite(true)
            .clear_codecs()
            .enable_h264(video.contains(&VideoCodec::H264))
            .enable_h265(video.contains(&VideoCodec::Hevc))
            .enable_vp9(video.contains(&VideoCodec::Vp9))
            .enable_av1(video.contains(&VideoCodec::Av1))
            .enable_opus(true, false)
            .set_dtls_cert(self.cert.clone())
            .set_local_ice_credentials(str0m::IceCreds {
                ufrag: ufrag.to_string(),
                pass: pass.to_string(),
            })
            // Resends come from this ring (NACK): ~400 packets is a few key frames at 2 Mbit/s,
            // and bounds each session to about half a megabyte.
            .set_send_buffer_video(400)
            // Datagrams of up to 1 200 bytes, not str0m's 1 150: fewer packets per frame (see
            // `stap.rs`); warn only past what no path should see.
            .set_mtu(DATAGRAM_MTU..=1400)
            .set_stats_interval(None)
            .build(Instant::now());
        for addr in &self.candidates {
            if let Ok(candidate) = str0m::Candidate::host(*addr, "udp") {
                rtc.add_local_candidate(candidate);
            }
        }
        rtc
    }

    /// Register a session under its ufrag; `None` past [`MAX_SESSIONS`].
    pub fn register(
        &self,
        ufrag: &str,
        action: WebRtcAction,
        stream_key: String,
        session: Session,
    ) -> Option<Arc<SessionHandle>> {
        let mut table = self.table();
        if table.sessions.len() >= MAX_SESSIONS {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let handle = Arc::new(SessionHandle {
            id,
            token: random_token(16),
            action,
            stream_key,
            state: Mutex::new(session),
            wake: Notify::new(),
        });
        table.demux.add_session(id, ufrag);
        table.by_token.insert(handle.token.clone(), id);
        table.sessions.insert(id, handle.clone());
        Some(handle)
    }

    pub fn unregister(&self, id: u64) {
        let mut table = self.table();
        if let Some(handle) = table.sessions.remove(&id) {
            table.by_token.remove(&handle.token);
        }
        table.demux.remove_session(id);
    }

    pub fn by_token(&self, token: &str) -> Option<Arc<SessionHandle>> {
        let table = self.table();
        let id = table.by_token.get(token)?;
        table.sessions.get(id).cloned()
    }

    /// The session a datagram from `from` belongs to.
    pub fn route(&self, datagram: &[u8], from: SocketAddr) -> Option<Arc<SessionHandle>> {
        let mut table = self.table();
        let id = table.demux.route(datagram, from)?;
        table.sessions.get(&id).cloned()
    }
}

/// `len` random characters from ICE's alphabet (letters and digits).
pub fn random_token(len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}
