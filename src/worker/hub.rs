//! The stream hub: streams keyed by `vhost/app/stream`, one publisher and many players each, the GOP
//! cache, and the shared frame ring players read from at their own pace.
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
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
/// A player skipped ahead this many times within [`SKIP_WINDOW`] is disconnected.
const MAX_SKIPS: u32 = 3;
const SKIP_WINDOW: Duration = Duration::from_secs(30);

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
    offset: u64,
    /// The frame split into chunks at the worker's chunk size, shared by every RTMP player.
    chunked: OnceLock<Bytes>,
}

impl CachedFrame {
    /// The chunked body for `chunk_size` (computed once; every player of a worker uses one size).
    pub fn chunked(&self, chunk_size: usize) -> &Bytes {
        self.chunked.get_or_init(|| {
            crate::rtmp::chunk::chunked_body(
                chunk_size,
                crate::worker::rtmp_conn::media_kind(self.frame.kind).csid(),
                None,
                &self.frame.payload,
            )
        })
    }
}

#[derive(Default)]
struct StreamState {
    publisher: Option<u64>,
    tc_url: String,
    publish_started_ms: u64,
    /// Incremented at every publish; players notice republishes by it.
    generation: u64,
    metadata: Option<Arc<CachedFrame>>,
    video_sh: Option<Arc<CachedFrame>>,
    audio_sh: Option<Arc<CachedFrame>>,
    ring: VecDeque<Arc<CachedFrame>>,
    next_seq: u64,
    next_offset: u64,
    /// Seq of the newest keyframe in the ring.
    gop_start: Option<u64>,
    has_video: bool,
    players: u32,
}

/// One live stream.
pub struct Stream {
    pub id: u64,
    pub key: String,
    pub name: StreamKeyInfo,
    state: Mutex<StreamState>,
    notify: Notify,
    frames: AtomicU64,
    recv_bytes: AtomicU64,
    send_bytes: AtomicU64,
}

impl Stream {
    fn lock(&self) -> MutexGuard<'_, StreamState> {
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
    fn release(&self, stream: &Arc<Stream>) {
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
        let settings = self.settings();
        Player {
            hub: self.clone(),
            stream,
            next_seq: 0,
            started: false,
            playing_generation: None,
            skips: VecDeque::new(),
            gop_cache: settings.gop_cache,
            queue_bytes: settings.player_queue_bytes.max(64 * 1024),
            base: None,
            offset: 0,
            last_out: 0,
            sent_any: false,
            await_keyframe: false,
        }
    }

    /// Whether `name` has a publisher now.
    pub fn is_published(&self, name: &StreamName) -> bool {
        self.lock_streams()
            .get(&name.key())
            .is_some_and(|s| s.lock().publisher.is_some())
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
            let seq = state.next_seq;
            let cached = Arc::new(CachedFrame {
                frame,
                seq,
                offset: state.next_offset,
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

/// What a player should do next.
#[derive(Debug)]
pub enum PlayerEvent {
    /// Frames to send, timestamps already rebased for this player (`(frame, timestamp)`).
    Frames(Vec<(Arc<CachedFrame>, u32)>),
    /// The publisher left (players keep waiting; RTMP tells them `UnpublishNotify`).
    Unpublished,
    /// A publisher (re)started.
    Published,
    /// Nothing yet; wait with [`Player::wait`].
    Idle,
    /// The player fell behind too often: disconnect it.
    TooSlow,
}

/// A player's cursor into a stream's ring: all its per-player state.
pub struct Player {
    hub: Arc<Hub>,
    stream: Arc<Stream>,
    next_seq: u64,
    started: bool,
    /// The generation this player has been told is publishing.
    playing_generation: Option<u64>,
    skips: VecDeque<Instant>,
    gop_cache: bool,
    queue_bytes: u64,
    /// Publisher timestamp that maps to `offset` for this player.
    base: Option<u32>,
    offset: u32,
    last_out: u32,
    sent_any: bool,
    /// Skipped ahead with no keyframe to land on: drop frames until one comes.
    await_keyframe: bool,
}

impl Player {
    pub fn stream(&self) -> &Arc<Stream> {
        &self.stream
    }

    fn rebase(&mut self, ts: u32) -> u32 {
        let base = *self.base.get_or_insert(ts);
        let out = self.offset.wrapping_add(ts.wrapping_sub(base));
        // Keep output monotonic: a frame stamped before the start (audio interleaving) or a jump
        // backwards maps to the last timestamp sent.
        let out = if ts < base || out < self.last_out {
            self.last_out
        } else {
            out
        };
        self.last_out = out;
        out
    }

    /// Take the next batch (at most `max_frames`).
    pub fn poll(&mut self, max_frames: usize) -> PlayerEvent {
        let stream = self.stream.clone();
        let state = stream.lock();
        let publishing = state.publisher.is_some();
        match self.playing_generation {
            Some(generation) => {
                let ended = !publishing || state.generation != generation;
                let drained = !self.started
                    || state.next_seq <= self.next_seq
                    || state.generation != generation;
                if ended && drained {
                    self.playing_generation = None;
                    self.started = false;
                    return PlayerEvent::Unpublished;
                }
            }
            None if publishing => {
                self.playing_generation = Some(state.generation);
                self.started = false;
                self.await_keyframe = false;
                self.next_seq = state.ring.front().map_or(state.next_seq, |f| f.seq);
                // Continue just after what this player saw, so timestamps stay monotonic.
                self.base = None;
                self.offset = if self.sent_any {
                    self.last_out.wrapping_add(1)
                } else {
                    0
                };
                return PlayerEvent::Published;
            }
            None => return PlayerEvent::Idle,
        }
        let front_seq = state.ring.front().map_or(state.next_seq, |f| f.seq);
        let index_of = |seq: u64| seq.checked_sub(front_seq).map(|i| i as usize);
        let mut frames = Vec::new();
        if !self.started {
            let cached_start = if self.gop_cache {
                state.gop_start
            } else {
                None
            };
            let start_seq = match cached_start {
                Some(seq) => seq,
                None => {
                    // No cache to start from: wait for the next place a decoder can start.
                    let has_video = state.has_video;
                    let from = index_of(self.next_seq).unwrap_or(0);
                    let found = state.ring.iter().skip(from).find(|f| {
                        f.frame.is_keyframe() || (!has_video && f.frame.kind == FrameKind::Audio)
                    });
                    match found {
                        Some(f) => f.seq,
                        None => {
                            self.next_seq = state.next_seq;
                            return PlayerEvent::Idle;
                        }
                    }
                }
            };
            self.started = true;
            self.next_seq = start_seq;
            if let Some(f) = index_of(start_seq).and_then(|i| state.ring.get(i)) {
                self.base = Some(f.frame.timestamp);
            }
            // A player continuing across a republish gets the new sequence headers (decoders need
            // them) but not the metadata again: mid-stream onMetaData at a timestamp past 0 is what
            // FFmpeg's FLV reader takes for a new subtitle stream, and the codec facts it repeats are
            // all in the sequence headers.
            let metadata = if self.sent_any {
                &None
            } else {
                &state.metadata
            };
            for f in [metadata, &state.video_sh, &state.audio_sh]
                .into_iter()
                .flatten()
            {
                if f.seq < start_seq {
                    frames.push((f.clone(), self.stamp(f)));
                }
            }
        } else {
            // Fallen off the ring, or lagging more than the queue allows: skip to the newest keyframe.
            let lag = index_of(self.next_seq)
                .and_then(|i| state.ring.get(i))
                .map_or(0, |f| state.next_offset - f.offset);
            if self.next_seq < front_seq || lag > self.queue_bytes {
                let now = Instant::now();
                self.skips.push_back(now);
                while self
                    .skips
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > SKIP_WINDOW)
                {
                    self.skips.pop_front();
                }
                if self.skips.len() as u32 > MAX_SKIPS {
                    crate::worker::metrics::player_too_slow();
                    return PlayerEvent::TooSlow;
                }
                let skipped_from = self.next_seq;
                match state.gop_start {
                    Some(g) if g > self.next_seq => self.next_seq = g,
                    // No newer keyframe yet: drop everything queued and resume at the next one.
                    _ => {
                        self.next_seq = state.next_seq;
                        self.await_keyframe = true;
                    }
                }
                crate::worker::metrics::player_skipped(self.next_seq.saturating_sub(skipped_from));
            }
        }
        let first = index_of(self.next_seq).unwrap_or(0);
        let audio_only = !state.has_video;
        frames.reserve(state.ring.len().saturating_sub(first).min(max_frames));
        for f in state.ring.iter().skip(first).take(max_frames) {
            if self.await_keyframe {
                if !(f.frame.is_keyframe() || audio_only && f.frame.kind == FrameKind::Audio) {
                    self.next_seq = f.seq + 1;
                    continue;
                }
                self.await_keyframe = false;
            }
            self.next_seq = f.seq + 1;
            frames.push((f.clone(), self.stamp(f)));
        }
        drop(state);
        if frames.is_empty() {
            return PlayerEvent::Idle;
        }
        self.sent_any = true;
        PlayerEvent::Frames(frames)
    }

    /// This player's timestamp for `f`: headers and metadata at the current position, media rebased.
    fn stamp(&mut self, f: &CachedFrame) -> u32 {
        if f.frame.is_sequence_header() || f.frame.is_metadata() {
            self.last_out.max(self.offset)
        } else {
            self.rebase(f.frame.timestamp)
        }
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        {
            let mut state = self.stream.lock();
            state.players = state.players.saturating_sub(1);
        }
        self.hub.release(&self.stream);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::compile::plan::{HlsSettings, HookSettings, HttpFlvSettings};

    pub(crate) fn settings() -> StreamSettings {
        StreamSettings {
            gop_cache: true,
            chunk_size: 4096,
            merge_write_ms: 0,
            merge_read_ms: 0,
            player_queue_bytes: 64 * 1024,
            max_connections: 0,
            http_flv: HttpFlvSettings {
                enabled: true,
                wait_ms: 0,
            },
            hls: HlsSettings {
                enabled: false,
                fragment_ms: 2000,
                window: 6,
                path: None,
            },
            hooks: HookSettings::default(),
        }
    }

    fn name(s: &str) -> StreamName {
        crate::rtmp::names::resolve_rtmp("rtmp://127.0.0.1/live", "live", s)
    }

    fn video(ts: u32, key: bool, len: usize) -> Frame {
        let mut p = vec![if key { 0x17 } else { 0x27 }, 1];
        p.resize(len.max(2), 0);
        Frame {
            kind: FrameKind::Video,
            timestamp: ts,
            payload: Bytes::from(p),
        }
    }

    fn frames(event: PlayerEvent) -> Vec<(Arc<CachedFrame>, u32)> {
        match event {
            PlayerEvent::Frames(f) => f,
            other => panic!("expected frames, got {other:?}"),
        }
    }

    #[test]
    fn late_joiner_gets_headers_and_gop_rebased() {
        let hub = Hub::new(settings());
        let mut publisher = hub.publish(&name("s"), "rtmp://x/live", 1).unwrap();
        publisher.push(Frame {
            kind: FrameKind::Video,
            timestamp: 0,
            payload: Bytes::from_static(&[0x17, 0, 0, 0, 0, 1]),
        });
        for i in 0..10u32 {
            publisher.push(video(1000 + i * 40, i % 5 == 0, 100));
        }
        let mut player = hub.play(&name("s"));
        assert!(matches!(player.poll(100), PlayerEvent::Published));
        let got = frames(player.poll(100));
        // Sequence header, then the GOP starting at the keyframe of i=5 (ts 1200), rebased to 0.
        assert!(got[0].0.frame.is_sequence_header());
        assert!(got[1].0.frame.is_keyframe());
        assert_eq!(got[1].1, 0);
        assert_eq!(got.last().unwrap().1, 160);
        assert_eq!(got.len(), 6);
        assert!(matches!(player.poll(100), PlayerEvent::Idle));
        assert_eq!(hub.streams()[0].clients, 2);
    }

    #[test]
    fn second_publisher_is_refused_and_republish_continues_players() {
        let hub = Hub::new(settings());
        let publisher = hub.publish(&name("s"), "", 1).unwrap();
        assert!(hub.publish(&name("s"), "", 2).is_err());
        let mut player = hub.play(&name("s"));
        assert!(matches!(player.poll(10), PlayerEvent::Published));
        drop(publisher);
        assert!(matches!(player.poll(10), PlayerEvent::Unpublished));
        assert!(matches!(player.poll(10), PlayerEvent::Idle));
        let mut publisher = hub.publish(&name("s"), "", 3).unwrap();
        publisher.push(video(5, true, 10));
        assert!(matches!(player.poll(10), PlayerEvent::Published));
        assert_eq!(frames(player.poll(10)).len(), 1);
    }

    fn metadata() -> Frame {
        use crate::rtmp::amf0::{encode_all, Amf0};
        let body = encode_all(&[Amf0::str("onMetaData"), Amf0::Object(vec![])]);
        Frame {
            kind: FrameKind::Script,
            timestamp: 0,
            payload: body.freeze(),
        }
    }

    #[test]
    fn a_republish_resends_sequence_headers_but_not_metadata_and_timestamps_go_on() {
        let hub = Hub::new(settings());
        let sequence_header = Frame {
            kind: FrameKind::Video,
            timestamp: 0,
            payload: Bytes::from_static(&[0x17, 0, 0, 0, 0, 1]),
        };
        let mut publisher = hub.publish(&name("s"), "", 1).unwrap();
        publisher.push(metadata());
        publisher.push(sequence_header.clone());
        publisher.push(video(0, true, 10));
        publisher.push(video(40, false, 10));
        let mut player = hub.play(&name("s"));
        assert!(matches!(player.poll(10), PlayerEvent::Published));
        let first = frames(player.poll(10));
        assert!(first[0].0.frame.is_metadata());
        let last_ts = first.last().unwrap().1;
        drop(publisher);
        assert!(matches!(player.poll(10), PlayerEvent::Unpublished));
        let mut publisher = hub.publish(&name("s"), "", 2).unwrap();
        publisher.push(metadata());
        publisher.push(sequence_header);
        publisher.push(video(0, true, 10));
        assert!(matches!(player.poll(10), PlayerEvent::Published));
        let again = frames(player.poll(10));
        assert!(again.iter().all(|(f, _)| !f.frame.is_metadata()));
        assert!(again[0].0.frame.is_sequence_header());
        assert!(again.iter().all(|(_, ts)| *ts > last_ts), "{again:?}");
    }

    #[test]
    fn slow_player_skips_then_is_dropped_and_ring_stays_bounded() {
        let hub = Hub::new(settings());
        let mut publisher = hub.publish(&name("s"), "", 1).unwrap();
        let mut player = hub.play(&name("s"));
        publisher.push(video(0, true, 1000));
        assert!(matches!(player.poll(10), PlayerEvent::Published));
        assert_eq!(frames(player.poll(10)).len(), 1);
        let mut outcome = None;
        for round in 0..10u32 {
            for i in 0..200u32 {
                publisher.push(video(round * 10_000 + i * 40, i % 20 == 0, 1000));
            }
            match player.poll(1) {
                PlayerEvent::TooSlow => {
                    outcome = Some(round);
                    break;
                }
                PlayerEvent::Frames(f) => assert!(f[0].0.frame.is_keyframe()),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(outcome, Some(MAX_SKIPS));
        let state = player.stream.lock();
        let ring_bytes: usize = state.ring.iter().map(|f| f.frame.payload.len()).sum();
        assert!(ring_bytes < 300 * 1000, "{ring_bytes}");
    }

    #[test]
    fn streams_disappear_when_unused_and_kick_cancels() {
        let hub = Hub::new(settings());
        let guard = hub.register_client("1.2.3.4", ClientKind::RtmpPlay);
        let player = hub.play(&name("s"));
        assert_eq!(hub.streams().len(), 1);
        drop(player);
        assert!(hub.streams().is_empty());
        assert!(hub.kick(guard.entry.id));
        assert!(guard.entry.cancel.is_cancelled());
        assert_eq!(hub.clients().len(), 1);
        drop(guard);
        assert!(hub.clients().is_empty());
        assert!(!hub.kick(12345));
    }

    struct CountingSink(Arc<AtomicU64>);
    impl StreamSink for CountingSink {
        fn on_frame(&mut self, _frame: &Frame) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
        fn on_unpublish(&mut self) {
            self.0.fetch_add(1000, Ordering::Relaxed);
        }
    }
    struct Factory(Arc<AtomicU64>);
    impl SinkFactory for Factory {
        fn create(&self, _key: &StreamKeyInfo) -> Option<Box<dyn StreamSink>> {
            Some(Box::new(CountingSink(self.0.clone())))
        }
    }

    #[test]
    fn sinks_see_every_frame() {
        let hub = Hub::new(settings());
        let count = Arc::new(AtomicU64::new(0));
        hub.add_sink_factory(Arc::new(Factory(count.clone())));
        let mut publisher = hub.publish(&name("s"), "", 1).unwrap();
        for i in 0..500 {
            publisher.push(video(i * 40, i % 50 == 0, 500));
        }
        drop(publisher);
        assert_eq!(count.load(Ordering::Relaxed), 1500);
    }
}
