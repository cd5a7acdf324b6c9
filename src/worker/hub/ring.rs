//! The frame ring of one stream: the frames players read (shared, never copied per player), the
//! GOP cache, and the trim that keeps the last GOP plus the player queue.

use super::registry::StreamState;
use super::{Frame, FrameKind, HeaderSlot};
use bytes::Bytes;
use std::sync::{Arc, OnceLock};

// The ring chunks frames for RTMP players once, so it needs the RTMP message kind of a frame kind:
// the mapping lives below both the hub and the RTMP front end (`worker/frame_kind.rs`).
pub use crate::worker::frame_kind::media_kind;

/// Append `frame` to the stream's ring; false when it was a repeat of the current metadata (dropped,
/// so nobody is woken).
pub(super) fn append(
    state: &mut StreamState,
    frame: Frame,
    queue_bytes: u64,
    gop_cache: bool,
) -> bool {
    let size = frame.payload.len() as u64;
    // Classified once here (parsing E-RTMP headers and codec data), never per player.
    let (keyframe, header) = frame.gop_role();
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
        return false;
    }
    let seq = state.next_seq;
    let cached = Arc::new(CachedFrame {
        frame,
        seq,
        offset: state.next_offset,
        metadata,
        keyframe,
        header: header.is_some(),
        chunked: OnceLock::new(),
    });
    state.next_seq += 1;
    state.next_offset += size;
    if let Some(slot) = header {
        let kept = match slot {
            HeaderSlot::Video => &mut state.video_sh,
            HeaderSlot::VideoExtra => &mut state.video_extra,
            HeaderSlot::Audio => &mut state.audio_sh,
            HeaderSlot::AudioExtra => &mut state.audio_extra,
        };
        *kept = Some(cached.clone());
    } else if metadata {
        state.metadata = Some(cached.clone());
    }
    // Audio-only streams: every audio frame is a place to start.
    let starts_gop = keyframe || (!state.has_video && cached.frame.kind == FrameKind::Audio);
    if starts_gop {
        state.gop_start = Some(seq);
    }
    state.ring.push_back(cached);
    trim_ring(state, queue_bytes, gop_cache);
    true
}

/// Hard cap on the ring of one stream whatever the GOP length (an all-intra-less stream of hours).
const MAX_RING_BYTES: u64 = 64 * 1024 * 1024;

/// A frame in the ring, with its position and (lazily) its chunked RTMP form.
#[derive(Debug)]
pub struct CachedFrame {
    pub frame: Frame,
    pub seq: u64,
    /// Bytes of the stream before this frame (lag is measured with it).
    pub(super) offset: u64,
    /// `onMetaData` (decided once, not per player).
    pub(super) metadata: bool,
    /// A video frame a decoder can start on (decided once: E-RTMP codecs need their data parsed).
    pub(super) keyframe: bool,
    /// A codec header (sequence header, E-RTMP metadata or channel config) the stream keeps.
    pub(super) header: bool,
    /// The frame split into chunks at the worker's chunk size, shared by every RTMP player.
    chunked: OnceLock<Bytes>,
}

impl CachedFrame {
    /// A frame made from `source` for one kind of player (AAC transcoded from its Opus): same place
    /// in the stream, its own payload and chunked form.
    pub fn derived(source: &CachedFrame, frame: Frame, header: bool) -> CachedFrame {
        CachedFrame {
            frame,
            seq: source.seq,
            offset: source.offset,
            metadata: false,
            keyframe: false,
            header,
            chunked: OnceLock::new(),
        }
    }

    /// A frame outside any ring, for unit tests of what players do with frames.
    #[cfg(test)]
    pub fn for_test(frame: Frame, seq: u64) -> CachedFrame {
        CachedFrame {
            frame,
            seq,
            offset: 0,
            metadata: false,
            keyframe: false,
            header: false,
            chunked: OnceLock::new(),
        }
    }

    /// A codec header the stream keeps for new players (sequence header, E-RTMP video metadata or
    /// audio channel config), decided once when the frame came.
    pub fn is_header(&self) -> bool {
        self.header
    }

    /// The chunked body for `chunk_size` (computed once; every player of a worker uses one size).
    pub fn chunked(&self, chunk_size: usize) -> &Bytes {
        self.chunked.get_or_init(|| {
            crate::rtmp::chunk::chunked_body(
                chunk_size,
                media_kind(self.frame.kind).csid(),
                None,
                &self.frame.payload,
            )
        })
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
