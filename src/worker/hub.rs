//! The stream hub: streams keyed by `vhost/app/stream`, one publisher and many players each, the GOP
//! cache, and the shared frame ring players read from at their own pace (their cursor: `player.rs`).
//!
//! # Contract (used by HLS, the API and the RTMP/HTTP-FLV front ends)
//! - [`Hub`] is shared as `Arc<Hub>`. [`Hub::streams`] and [`Hub::clients`] return snapshots for the
//!   API; [`Hub::kick`] disconnects a client by id; [`Hub::add_sink_factory`] registers a
//!   [`SinkFactory`].
//! - A [`StreamSink`] is created by every factory at each publish of a stream. It sees every [`Frame`]
//!   of that publish, in order, synchronously on the publisher's path (never dropped), then
//!   `on_unpublish` once. HLS segmenting is a sink.
//! - [`Frame`] is one RTMP media message (= FLV tag body) with its timestamp in milliseconds.
//!
//! # How fan-out works
//! The publisher appends frames to one ring per stream (shared `Bytes`, never copied per player) and
//! wakes waiting players. Each player holds only a cursor into the ring. The ring keeps the last GOP
//! (the GOP cache) plus at most `player_queue_bytes` of older frames; a player that falls further
//! behind skips ahead to the newest keyframe, and one that keeps falling behind is disconnected. The
//! publisher never waits on a player.

use crate::compile::plan::StreamSettings;
use crate::rtmp::names::StreamName;
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};

pub use super::player::{Player, PlayerEvent};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// What a frame carries: the FLV tag type, since a frame is an FLV tag body.
pub use crate::media::flv::TagKind as FrameKind;

/// One media message: the RTMP message body, which is also the FLV tag body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: FrameKind,
    /// Milliseconds, as the publisher sent them.
    pub timestamp: u32,
    pub payload: Bytes,
}

impl Frame {
    /// A video frame that starts a GOP (key frame, not a sequence header).
    pub fn is_keyframe(&self) -> bool {
        self.kind == FrameKind::Video
            && self.payload.first().is_some_and(|b| (b >> 4) & 0x07 == 1)
            && !self.is_sequence_header()
    }

    /// AVC/HEVC decoder configuration or AAC AudioSpecificConfig (also Enhanced RTMP SequenceStart).
    pub fn is_sequence_header(&self) -> bool {
        let p = &self.payload;
        match self.kind {
            FrameKind::Video => match p.first() {
                Some(b) if b & 0x80 != 0 => b & 0x0f == 0,
                Some(b) => matches!(b & 0x0f, 7 | 12) && p.get(1) == Some(&0),
                None => false,
            },
            FrameKind::Audio => p.first().is_some_and(|b| b >> 4 == 10) && p.get(1) == Some(&0),
            FrameKind::Script => false,
        }
    }

    pub fn is_metadata(&self) -> bool {
        self.kind == FrameKind::Script
            && crate::rtmp::message::data_name(&self.payload).as_deref() == Some("onMetaData")
    }
}

/// The name of a stream, for sinks and hooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamKeyInfo {
    pub vhost: String,
    pub app: String,
    pub stream: String,
    /// Query string with its `?`, or empty.
    pub param: String,
}

impl From<&StreamName> for StreamKeyInfo {
    fn from(n: &StreamName) -> Self {
        StreamKeyInfo {
            vhost: n.vhost.clone(),
            app: n.app.clone(),
            stream: n.stream.clone(),
            param: n.param.clone(),
        }
    }
}

/// Creates a sink at each publish; `None` when it has nothing to do for this stream.
pub trait SinkFactory: Send + Sync {
    fn create(&self, key: &StreamKeyInfo) -> Option<Box<dyn StreamSink>>;
}

/// Sees every frame of one publish, in order, synchronously on the publisher's path.
pub trait StreamSink: Send {
    fn on_frame(&mut self, frame: &Frame);
    fn on_unpublish(&mut self);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientKind {
    FmlePublish,
    RtmpPlay,
    FlvPlay,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSnapshot {
    pub id: u64,
    pub vhost: String,
    pub app: String,
    pub name: String,
    pub tc_url: String,
    pub publisher_client: Option<u64>,
    /// Unix milliseconds.
    pub publish_started_ms: u64,
    pub clients: u32,
    pub frames: u64,
    pub recv_bytes: u64,
    pub send_bytes: u64,
    pub video_sequence_header: Option<Bytes>,
    pub audio_sequence_header: Option<Bytes>,
    pub metadata: Option<Bytes>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSnapshot {
    pub id: u64,
    pub stream_id: Option<u64>,
    pub vhost: String,
    pub app: String,
    pub stream: String,
    pub ip: String,
    pub tc_url: String,
    pub kind: ClientKind,
    /// Unix milliseconds.
    pub connected_ms: u64,
    pub send_bytes: u64,
    pub recv_bytes: u64,
}

/// Hard cap on the ring of one stream whatever the GOP length (an all-intra-less stream of hours).
const MAX_RING_BYTES: u64 = 64 * 1024 * 1024;

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A frame in the ring, with its position and (lazily) its chunked RTMP form.
#[derive(Debug)]
pub struct CachedFrame {
    pub frame: Frame,
    pub seq: u64,
    /// Bytes of the stream before this frame (lag is measured with it).
    pub(super) offset: u64,
    /// `onMetaData` (decided once, not per player).
    pub(super) metadata: bool,
    /// The frame split into chunks at the worker's chunk size, shared by every RTMP player.
    chunked: OnceLock<Bytes>,
}

impl CachedFrame {
    /// The chunked body for `chunk_size` (computed once; every player of a worker uses one size).
    pub fn chunked(&self, chunk_size: usize) -> &Bytes {
        self.chunked.get_or_init(|| {
            crate::rtmp::chunk::chunked_body(
                chunk_size,
                crate::worker::frame_kind::media_kind(self.frame.kind).csid(),
                None,
                &self.frame.payload,
            )
        })
    }
}

#[derive(Default)]
pub(super) struct StreamState {
    pub(super) publisher: Option<u64>,
    pub(super) tc_url: String,
    pub(super) publish_started_ms: u64,
    /// Incremented at every publish; players notice republishes by it.
    pub(super) generation: u64,
    pub(super) metadata: Option<Arc<CachedFrame>>,
    pub(super) video_sh: Option<Arc<CachedFrame>>,
    pub(super) audio_sh: Option<Arc<CachedFrame>>,
    pub(super) ring: VecDeque<Arc<CachedFrame>>,
    pub(super) next_seq: u64,
    pub(super) next_offset: u64,
    /// Seq of the newest keyframe in the ring.
    pub(super) gop_start: Option<u64>,
    pub(super) has_video: bool,
    pub(super) players: u32,
}

/// One live stream.
pub struct Stream {
    pub id: u64,
    pub key: String,
    pub name: StreamKeyInfo,
    state: Mutex<StreamState>,
    pub(super) notify: Notify,
    frames: AtomicU64,
    recv_bytes: AtomicU64,
    send_bytes: AtomicU64,
}

impl Stream {
    pub(super) fn lock(&self) -> MutexGuard<'_, StreamState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Completes at the next change of the stream (a frame, a publish, an unpublish). Create it and
    /// `enable()` it before [`Player::poll`]; await it only when `poll` said `Idle`.
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }

    pub fn add_send_bytes(&self, n: u64) {
        self.send_bytes.fetch_add(n, Ordering::Relaxed);
    }
}

/// Per-client counters and the kick switch.
pub struct ClientEntry {
    pub id: u64,
    info: Mutex<ClientInfo>,
    pub send_bytes: AtomicU64,
    pub recv_bytes: AtomicU64,
    pub cancel: CancellationToken,
    connected_ms: u64,
}

#[derive(Clone)]
struct ClientInfo {
    ip: String,
    kind: ClientKind,
    tc_url: String,
    name: Option<StreamName>,
    stream_id: Option<u64>,
}

impl ClientEntry {
    pub fn add_send(&self, n: u64) {
        self.send_bytes.fetch_add(n, Ordering::Relaxed);
    }

    pub fn add_recv(&self, n: u64) {
        self.recv_bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// Record what the client is doing (after connect/publish/play).
    pub fn describe(
        &self,
        kind: ClientKind,
        tc_url: &str,
        name: Option<&StreamName>,
        stream: Option<u64>,
    ) {
        let mut info = self.info.lock().unwrap_or_else(|e| e.into_inner());
        info.kind = kind;
        info.tc_url = tc_url.to_string();
        info.name = name.cloned();
        info.stream_id = stream;
    }
}

/// Removes the client from the hub when its connection ends.
pub struct ClientGuard {
    hub: Arc<Hub>,
    pub entry: Arc<ClientEntry>,
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.hub.lock_clients().remove(&self.entry.id);
    }
}

/// Why a publish was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    #[error("stream {0} is already being published")]
    AlreadyPublishing(String),
}

/// The hub of one worker.
pub struct Hub {
    /// Swapped in place by a reload; players read it when they start, the ring at each frame.
    settings: Arc<super::settings::LiveSettings>,
    streams: Mutex<HashMap<String, Arc<Stream>>>,
    clients: Mutex<HashMap<u64, Arc<ClientEntry>>>,
    sinks: Mutex<Vec<Arc<dyn SinkFactory>>>,
    next_id: AtomicU64,
}

impl Hub {
    pub fn new(settings: StreamSettings) -> Arc<Hub> {
        Arc::new(Hub {
            settings: super::settings::LiveSettings::new(settings),
            streams: Mutex::new(HashMap::new()),
            clients: Mutex::new(HashMap::new()),
            sinks: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
        })
    }

    pub fn settings(&self) -> Arc<StreamSettings> {
        self.settings.get()
    }

    pub fn live(&self) -> &Arc<super::settings::LiveSettings> {
        &self.settings
    }

    fn lock_streams(&self) -> MutexGuard<'_, HashMap<String, Arc<Stream>>> {
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_clients(&self) -> MutexGuard<'_, HashMap<u64, Arc<ClientEntry>>> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Connections currently open (RTMP and HTTP-FLV).
    pub fn connection_count(&self) -> usize {
        self.lock_clients().len()
    }

    pub fn add_sink_factory(&self, f: Arc<dyn SinkFactory>) {
        self.sinks.lock().unwrap_or_else(|e| e.into_inner()).push(f);
    }

    /// Register a connection; it is listed until the guard drops.
    pub fn register_client(self: &Arc<Self>, ip: &str, kind: ClientKind) -> ClientGuard {
        let entry = Arc::new(ClientEntry {
            id: self.next_id(),
            info: Mutex::new(ClientInfo {
                ip: ip.to_string(),
                kind,
                tc_url: String::new(),
                name: None,
                stream_id: None,
            }),
            send_bytes: AtomicU64::new(0),
            recv_bytes: AtomicU64::new(0),
            cancel: CancellationToken::new(),
            connected_ms: unix_ms(),
        });
        self.lock_clients().insert(entry.id, entry.clone());
        ClientGuard {
            hub: self.clone(),
            entry,
        }
    }

    /// Disconnect a client; false when no such client.
    pub fn kick(&self, client_id: u64) -> bool {
        match self.lock_clients().get(&client_id) {
            Some(entry) => {
                entry.cancel.cancel();
                true
            }
            None => false,
        }
    }

    fn stream(&self, name: &StreamName) -> Arc<Stream> {
        let key = name.key();
        let mut streams = self.lock_streams();
        streams
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(Stream {
                    id: self.next_id(),
                    key,
                    name: StreamKeyInfo::from(name),
                    state: Mutex::new(StreamState::default()),
                    notify: Notify::new(),
                    frames: AtomicU64::new(0),
                    recv_bytes: AtomicU64::new(0),
                    send_bytes: AtomicU64::new(0),
                })
            })
            .clone()
    }

    /// Drop a stream nobody uses any more.
    pub(super) fn release(&self, stream: &Arc<Stream>) {
        let mut streams = self.lock_streams();
        let state = stream.lock();
        if state.publisher.is_none() && state.players == 0 {
            if let Some(current) = streams.get(&stream.key) {
                if Arc::ptr_eq(current, stream) {
                    streams.remove(&stream.key);
                }
            }
        }
    }

    /// Start publishing `name`; refused while another publisher holds it.
    pub fn publish(
        self: &Arc<Self>,
        name: &StreamName,
        tc_url: &str,
        client_id: u64,
    ) -> Result<Publisher, PublishError> {
        let stream = self.stream(name);
        {
            let mut state = stream.lock();
            if state.publisher.is_some() {
                drop(state);
                self.release(&stream);
                return Err(PublishError::AlreadyPublishing(stream.key.clone()));
            }
            state.publisher = Some(client_id);
            state.tc_url = tc_url.to_string();
            state.publish_started_ms = unix_ms();
            state.generation += 1;
            state.metadata = None;
            state.video_sh = None;
            state.audio_sh = None;
            state.ring.clear();
            state.gop_start = None;
            state.has_video = false;
        }
        stream.notify.notify_waiters();
        let info = StreamKeyInfo::from(name);
        let factories = self.sinks.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let sinks = factories.iter().filter_map(|f| f.create(&info)).collect();
        Ok(Publisher {
            hub: self.clone(),
            stream,
            sinks,
        })
    }

    /// Start playing `name` (the stream need not be published yet).
    pub fn play(self: &Arc<Self>, name: &StreamName) -> Player {
        let stream = self.stream(name);
        stream.lock().players += 1;
        Player::new(self.clone(), stream, &self.settings())
    }

    /// The names of the streams that have a publisher now, in no particular order: all the LBs need
    /// to route by, without [`Hub::streams`]'s counters and headers.
    pub fn published(&self) -> Vec<StreamKeyInfo> {
        let streams: Vec<Arc<Stream>> = self.lock_streams().values().cloned().collect();
        streams
            .iter()
            .filter(|s| s.lock().publisher.is_some())
            .map(|s| s.name.clone())
            .collect()
    }

    pub fn streams(&self) -> Vec<StreamSnapshot> {
        let streams: Vec<Arc<Stream>> = self.lock_streams().values().cloned().collect();
        let mut out: Vec<StreamSnapshot> = streams
            .iter()
            .map(|s| {
                let recv = s.recv_bytes.load(Ordering::Relaxed);
                let send = s.send_bytes.load(Ordering::Relaxed);
                let state = s.lock();
                StreamSnapshot {
                    id: s.id,
                    vhost: s.name.vhost.clone(),
                    app: s.name.app.clone(),
                    name: s.name.stream.clone(),
                    tc_url: state.tc_url.clone(),
                    publisher_client: state.publisher,
                    publish_started_ms: state.publish_started_ms,
                    clients: state.players + u32::from(state.publisher.is_some()),
                    frames: s.frames.load(Ordering::Relaxed),
                    recv_bytes: recv,
                    send_bytes: send,
                    video_sequence_header: state.video_sh.as_ref().map(|f| f.frame.payload.clone()),
                    audio_sequence_header: state.audio_sh.as_ref().map(|f| f.frame.payload.clone()),
                    metadata: state.metadata.as_ref().map(|f| f.frame.payload.clone()),
                }
            })
            .collect();
        out.sort_by_key(|s| s.id);
        out
    }

    pub fn clients(&self) -> Vec<ClientSnapshot> {
        let entries: Vec<Arc<ClientEntry>> = self.lock_clients().values().cloned().collect();
        let mut out: Vec<ClientSnapshot> = entries
            .iter()
            .map(|c| {
                let info = c.info.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let (vhost, app, stream) = info.name.as_ref().map_or_else(Default::default, |n| {
                    (n.vhost.clone(), n.app.clone(), n.stream.clone())
                });
                ClientSnapshot {
                    id: c.id,
                    stream_id: info.stream_id,
                    vhost,
                    app,
                    stream,
                    ip: info.ip,
                    tc_url: info.tc_url,
                    kind: info.kind,
                    connected_ms: c.connected_ms,
                    send_bytes: c.send_bytes.load(Ordering::Relaxed),
                    recv_bytes: c.recv_bytes.load(Ordering::Relaxed),
                }
            })
            .collect();
        out.sort_by_key(|c| c.id);
        out
    }
}

/// The publishing side of a stream; unpublishes when dropped.
pub struct Publisher {
    hub: Arc<Hub>,
    stream: Arc<Stream>,
    sinks: Vec<Box<dyn StreamSink>>,
}

impl Publisher {
    pub fn stream_id(&self) -> u64 {
        self.stream.id
    }

    /// Append one frame: sinks first (in order, never dropped), then the ring, then wake players.
    pub fn push(&mut self, frame: Frame) {
        for sink in &mut self.sinks {
            sink.on_frame(&frame);
        }
        let size = frame.payload.len() as u64;
        self.stream.frames.fetch_add(1, Ordering::Relaxed);
        self.stream.recv_bytes.fetch_add(size, Ordering::Relaxed);
        let settings = self.hub.settings();
        {
            let mut state = self.stream.lock();
            let keyframe = frame.is_keyframe();
            let sequence_header = frame.is_sequence_header();
            let metadata = frame.is_metadata();
            if frame.kind == FrameKind::Video {
                state.has_video = true;
            }
            // Encoders without `@setDataFrame` (GStreamer's flvmux, hardware encoders) repeat the
            // same onMetaData every second or so: every player already has it (it goes first), so
            // only a change is passed on.
            if metadata
                && state
                    .metadata
                    .as_ref()
                    .is_some_and(|m| m.frame.payload == frame.payload)
            {
                return;
            }
            let seq = state.next_seq;
            let cached = Arc::new(CachedFrame {
                frame,
                seq,
                offset: state.next_offset,
                metadata,
                chunked: OnceLock::new(),
            });
            state.next_seq += 1;
            state.next_offset += size;
            if sequence_header {
                match cached.frame.kind {
                    FrameKind::Video => state.video_sh = Some(cached.clone()),
                    _ => state.audio_sh = Some(cached.clone()),
                }
            } else if metadata {
                state.metadata = Some(cached.clone());
            }
            // Audio-only streams: every audio frame is a place to start.
            let starts_gop =
                keyframe || (!state.has_video && cached.frame.kind == FrameKind::Audio);
            if starts_gop {
                state.gop_start = Some(seq);
            }
            state.ring.push_back(cached);
            trim_ring(&mut state, settings.player_queue_bytes, settings.gop_cache);
        }
        self.stream.notify.notify_waiters();
    }
}

/// Keep the last GOP plus `queue_bytes` of older frames, never more than [`MAX_RING_BYTES`].
fn trim_ring(state: &mut StreamState, queue_bytes: u64, gop_cache: bool) {
    let head = state.next_offset;
    while let Some(front) = state.ring.front() {
        let in_gop = gop_cache && state.gop_start.is_some_and(|g| front.seq >= g);
        let within_queue = head - front.offset <= queue_bytes;
        let over_cap = head - front.offset > MAX_RING_BYTES;
        if (in_gop || within_queue) && !over_cap {
            break;
        }
        state.ring.pop_front();
    }
    if state
        .gop_start
        .is_some_and(|g| state.ring.front().is_none_or(|f| f.seq > g))
    {
        state.gop_start = None;
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        for sink in &mut self.sinks {
            sink.on_unpublish();
        }
        self.stream.lock().publisher = None;
        self.stream.notify.notify_waiters();
        self.hub.release(&self.stream);
    }
}

#[cfg(test)]
#[path = "hub_tests.rs"]
pub(crate) mod tests;
