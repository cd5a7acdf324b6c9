//! The stream registry: streams by `vhost/app/stream`, their shared state under one lock, and their
//! lifetime (a stream lives while it has a publisher or a player).

use super::{CachedFrame, Hub, StreamSnapshot};
use crate::stream_name::StreamName;
use crate::worker::merge_read::PromptDemand;
use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

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
    /// E-RTMP video Metadata and audio MultichannelConfig: sent after their sequence headers.
    pub(super) video_extra: Option<Arc<CachedFrame>>,
    pub(super) audio_extra: Option<Arc<CachedFrame>>,
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
    pub name: StreamName,
    state: Mutex<StreamState>,
    pub(super) notify: Notify,
    pub(super) frames: AtomicU64,
    pub(super) recv_bytes: AtomicU64,
    send_bytes: AtomicU64,
    /// Players that take this stream's frames as they come (WHEP): its publisher's reads are not
    /// merged while there are any (`worker/merge_read.rs`).
    prompt: Arc<PromptDemand>,
}

impl Stream {
    /// Who wants this stream's frames as they come; a WHEP player holds it while it plays.
    pub fn prompt_demand(&self) -> &Arc<PromptDemand> {
        &self.prompt
    }

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

impl Hub {
    pub(super) fn lock_streams(&self) -> MutexGuard<'_, HashMap<String, Arc<Stream>>> {
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn stream(&self, name: &StreamName) -> Arc<Stream> {
        let key = name.key();
        let mut streams = self.lock_streams();
        streams
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(Stream {
                    id: self.next_id(),
                    key,
                    name: name.clone(),
                    state: Mutex::new(StreamState::default()),
                    notify: Notify::new(),
                    frames: AtomicU64::new(0),
                    recv_bytes: AtomicU64::new(0),
                    send_bytes: AtomicU64::new(0),
                    prompt: Arc::default(),
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

    /// The names of the streams that have a publisher now, in no particular order: all the LBs need
    /// to route by, without [`Hub::streams`]'s counters and headers.
    pub fn published(&self) -> Vec<StreamName> {
        let streams: Vec<Arc<Stream>> = self.lock_streams().values().cloned().collect();
        streams
            .iter()
            .filter(|s| s.lock().publisher.is_some())
            .map(|s| s.name.clone())
            .collect()
    }

    /// Each stream that has players, with how many (what an edge reports to the LBs).
    pub fn player_counts(&self) -> Vec<(StreamName, u32)> {
        let streams: Vec<Arc<Stream>> = self.lock_streams().values().cloned().collect();
        streams
            .iter()
            .map(|s| (s.name.without_param(), s.lock().players))
            .filter(|(_, players)| *players > 0)
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
}
