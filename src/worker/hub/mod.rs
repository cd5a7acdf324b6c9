//! The stream hub: streams keyed by `vhost/app/stream`, one publisher and many players each, the GOP
//! cache, and the shared frame ring players read from at their own pace. Its rooms: `registry.rs`
//! (streams by name), `clients.rs` (connections and their snapshots), `ring.rs` (the GOP/frame
//! ring), `player.rs` (a player's cursor); this file holds the types they share and the publisher.
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

mod clients;
mod player;
mod registry;
mod ring;

use crate::compile::plan::StreamSettings;
use crate::media::tag_class::{self, AudioClass, VideoClass};
/// Sinks get the stream's name as the publisher gave it (its query included).
pub use crate::stream_name::StreamName;
use crate::worker::merge_read::ReadMerge;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

pub use clients::{ClientEntry, ClientGuard};
pub use player::{Player, PlayerEvent};
pub use registry::Stream;
pub use ring::{media_kind, CachedFrame};

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
    /// A video frame a decoder can start on (H.264/HEVC/AV1/VP9 key frame, not a sequence header).
    pub fn is_keyframe(&self) -> bool {
        self.kind == FrameKind::Video && tag_class::video(&self.payload) == VideoClass::Key
    }

    /// Decoder configuration: AVC/HEVC sequence header, AAC AudioSpecificConfig, E-RTMP
    /// SequenceStart of any codec.
    pub fn is_sequence_header(&self) -> bool {
        match self.kind {
            FrameKind::Video => tag_class::video(&self.payload) == VideoClass::Config,
            FrameKind::Audio => tag_class::audio(&self.payload) == AudioClass::Config,
            FrameKind::Script => false,
        }
    }

    /// What the GOP cache makes of this frame, from one look at it: whether a decoder can start on
    /// it, and which header slot it fills (kept beyond the ring for new players).
    pub(crate) fn gop_role(&self) -> (bool, Option<HeaderSlot>) {
        match self.kind {
            FrameKind::Video => match tag_class::video(&self.payload) {
                VideoClass::Key => (true, None),
                VideoClass::Config => (false, Some(HeaderSlot::Video)),
                VideoClass::ConfigExtra => (false, Some(HeaderSlot::VideoExtra)),
                VideoClass::Other => (false, None),
            },
            FrameKind::Audio => match tag_class::audio(&self.payload) {
                AudioClass::Config => (false, Some(HeaderSlot::Audio)),
                AudioClass::ConfigExtra => (false, Some(HeaderSlot::AudioExtra)),
                AudioClass::Other => (false, None),
            },
            FrameKind::Script => (false, None),
        }
    }

    pub fn is_metadata(&self) -> bool {
        self.kind == FrameKind::Script
            && crate::rtmp::message::data_name(&self.payload).as_deref() == Some("onMetaData")
    }
}

/// The codec facts a new player needs before media, kept per stream (newest of each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderSlot {
    /// The video sequence header (E-RTMP SequenceStart).
    Video,
    /// E-RTMP video Metadata (`colorInfo`), which applies to the frames after it.
    VideoExtra,
    /// The audio sequence header (E-RTMP SequenceStart).
    Audio,
    /// E-RTMP MultichannelConfig.
    AudioExtra,
}

/// Creates a sink at each publish; `None` when it has nothing to do for this stream.
pub trait SinkFactory: Send + Sync {
    /// `internal`: published by the worker's own child with its internal credential (a transcode's
    /// rendition); stream rules do not apply to it, so nothing recurses (`worker/internal.rs`).
    fn create(&self, key: &StreamName, internal: bool) -> Option<Box<dyn StreamSink>>;
}

/// Where a frame sits in its stream: the stream's id and the [`CachedFrame::seq`] the frame takes
/// in the ring. Work a sink shares with players (AAC transcoded from Opus, `worker/audio_legacy.rs`)
/// is keyed by it. A repeated metadata frame, which the ring drops, shares its successor's seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramePlace {
    pub stream: u64,
    pub seq: u64,
}

/// Sees every frame of one publish, in order, synchronously on the publisher's path.
pub trait StreamSink: Send {
    fn on_frame(&mut self, frame: &Frame);
    /// [`StreamSink::on_frame`] with the frame's place; what the hub calls. Sinks that share work
    /// with players by it take this one.
    fn on_frame_at(&mut self, frame: &Frame, place: FramePlace) {
        let _ = place;
        self.on_frame(frame);
    }
    fn on_unpublish(&mut self);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientKind {
    FmlePublish,
    RtmpPlay,
    FlvPlay,
    /// A WHEP player.
    RtcPlay,
    /// A WHIP publisher.
    RtcPublish,
    /// An SRT caller in request mode (MPEG-TS out).
    SrtPlay,
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

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Why a publish was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    #[error("stream {0} is already being published")]
    AlreadyPublishing(String),
    /// This worker is an edge: its streams come from its origin group, never from a client.
    #[error("this worker is an edge of origin group {0:?}: publish to the origin (the LBs send publishers there)")]
    Edge(String),
}

/// Told when a stream gets its first player and when its last player leaves: how an edge knows
/// which streams to pull (`worker/edge/`). Called outside the hub's locks, on the player's task.
pub trait PlayDemand: Send + Sync {
    fn first_player(&self, name: &StreamName);
    fn last_player_left(&self, name: &StreamName);
}

/// What makes a hub an edge's: its origin group and who watches its players.
struct EdgeRole {
    origin: String,
    demand: Arc<dyn PlayDemand>,
}

/// The hub of one worker.
pub struct Hub {
    /// Swapped in place by a reload; players read it when they start, the ring at each frame.
    settings: Arc<crate::worker::settings::LiveSettings>,
    streams: Mutex<HashMap<String, Arc<Stream>>>,
    clients: Mutex<HashMap<u64, Arc<ClientEntry>>>,
    sinks: Mutex<Vec<Arc<dyn SinkFactory>>>,
    next_id: AtomicU64,
    /// Set once at start on an edge worker.
    edge: std::sync::OnceLock<EdgeRole>,
}

impl Hub {
    pub fn new(settings: StreamSettings) -> Arc<Hub> {
        Arc::new(Hub {
            settings: crate::worker::settings::LiveSettings::new(settings),
            streams: Mutex::new(HashMap::new()),
            clients: Mutex::new(HashMap::new()),
            sinks: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            edge: std::sync::OnceLock::new(),
        })
    }

    /// Make this the hub of an edge of `origin`: `demand` hears of each stream's first and last
    /// player, and clients' publishes are refused ([`Hub::edge_origin`]).
    pub fn set_edge(&self, origin: &str, demand: Arc<dyn PlayDemand>) {
        let _ = self.edge.set(EdgeRole {
            origin: origin.to_string(),
            demand,
        });
    }

    /// The origin group when this is an edge's hub.
    pub fn edge_origin(&self) -> Option<&str> {
        self.edge.get().map(|edge| edge.origin.as_str())
    }

    /// Tell the edge (if any) that `stream`'s players went from none to one or from one to none.
    pub(crate) fn demand_changed(&self, stream: &Stream, first: bool) {
        if let Some(edge) = self.edge.get() {
            if first {
                edge.demand.first_player(&stream.name);
            } else {
                edge.demand.last_player_left(&stream.name);
            }
        }
    }

    pub fn settings(&self) -> Arc<StreamSettings> {
        self.settings.get()
    }

    pub fn live(&self) -> &Arc<crate::worker::settings::LiveSettings> {
        &self.settings
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn add_sink_factory(&self, f: Arc<dyn SinkFactory>) {
        self.sinks.lock().unwrap_or_else(|e| e.into_inner()).push(f);
    }

    /// Start publishing `name`; refused while another publisher holds it.
    pub fn publish(
        self: &Arc<Self>,
        name: &StreamName,
        tc_url: &str,
        client_id: u64,
    ) -> Result<Publisher, PublishError> {
        self.publish_as(name, tc_url, client_id, false)
    }

    /// [`Hub::publish`], saying whether the publisher is the worker's own child (`internal`: the
    /// sinks see it in [`StreamKeyInfo::internal`]).
    pub fn publish_as(
        self: &Arc<Self>,
        name: &StreamName,
        tc_url: &str,
        client_id: u64,
        internal: bool,
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
            state.video_extra = None;
            state.audio_extra = None;
            state.ring.clear();
            state.gop_start = None;
            state.has_video = false;
        }
        stream.notify.notify_waiters();
        let factories = self.sinks.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let sinks = factories
            .iter()
            .filter_map(|f| f.create(name, internal))
            .collect();
        Ok(Publisher {
            hub: self.clone(),
            stream,
            sinks,
        })
    }

    /// Start playing `name` (the stream need not be published yet).
    pub fn play(self: &Arc<Self>, name: &StreamName) -> Player {
        let stream = self.stream(name);
        let first = {
            let mut state = stream.lock();
            state.players += 1;
            state.players == 1
        };
        if first {
            self.demand_changed(&stream, true);
        }
        Player::new(self.clone(), stream, &self.settings())
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

    /// This publisher's read merging: `merge-read`, off while a player takes the stream's frames
    /// as they come (`worker/merge_read.rs`).
    pub fn read_merge(&self, configured: std::time::Duration) -> ReadMerge {
        ReadMerge::new(configured, self.stream.prompt_demand().clone())
    }

    /// Append one frame: sinks first (in order, never dropped), then the ring, then wake players.
    pub fn push(&mut self, frame: Frame) {
        if !self.sinks.is_empty() {
            // Only the publisher appends, so the seq the ring will give this frame is known now.
            let place = FramePlace {
                stream: self.stream.id,
                seq: self.stream.lock().next_seq,
            };
            for sink in &mut self.sinks {
                sink.on_frame_at(&frame, place);
            }
        }
        let size = frame.payload.len() as u64;
        self.stream.frames.fetch_add(1, Ordering::Relaxed);
        self.stream.recv_bytes.fetch_add(size, Ordering::Relaxed);
        let settings = self.hub.settings();
        let appended = ring::append(
            &mut self.stream.lock(),
            frame,
            settings.player_queue_bytes,
            settings.gop_cache,
        );
        if appended {
            self.stream.notify.notify_waiters();
        }
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
pub(crate) mod tests;
