//! The audio a WHEP player gets: Opus packets. An Opus source (E-RTMP Opus from FFmpeg 9, a WHIP
//! publisher) passes through; an AAC source needs a transcoder, run once per stream while at
//! least one WebRTC player watches it and shared by all of them (each player takes the packets
//! of the frames it sends from the stream's small cache, the first one to reach a frame encodes
//! it).
//!
//! The transcoder is `crate::media::audio::AacToOpus` (AAC decoded in Rust, Opus from libopus loaded
//! at run time): [`new_aac_transcoder`] is the one place it plugs in. On a host without libopus an
//! AAC source plays video-only and its answer marks the audio m-line `inactive`.

use crate::worker::hub::CachedFrame;
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};

/// One Opus packet and its timestamp on the source's clock (ms).
#[derive(Debug, Clone)]
pub struct OpusPacket {
    pub data: Bytes,
    pub ts_ms: u64,
}

/// AAC in, Opus out (the contract of `crate::media::audio::AacToOpus`).
pub trait AacTranscoder: Send {
    fn push(&mut self, raw_aac: &[u8], ts_ms: u64) -> anyhow::Result<Vec<OpusPacket>>;
}

/// `AacToOpus` behind the worker's transcoder trait.
struct Adapter(crate::media::audio::AacToOpus);

impl AacTranscoder for Adapter {
    fn push(&mut self, raw_aac: &[u8], ts_ms: u64) -> anyhow::Result<Vec<OpusPacket>> {
        Ok(self
            .0
            .push(raw_aac, ts_ms)?
            .into_iter()
            .map(|frame| OpusPacket {
                data: frame.data,
                ts_ms: frame.ts_ms,
            })
            .collect())
    }
}

/// A transcoder for `asc`, or `None` when it cannot be made (no libopus on this host, or a
/// configuration the decoder refuses): then the stream's WebRTC players get video only.
pub fn new_aac_transcoder(
    asc: &crate::media::aac::AudioSpecificConfig,
) -> Option<Box<dyn AacTranscoder>> {
    match crate::media::audio::AacToOpus::new(asc) {
        Ok(transcoder) => Some(Box::new(Adapter(transcoder))),
        Err(error) => {
            tracing::warn!("AAC to Opus for WebRTC players is unavailable: {error:#}");
            None
        }
    }
}

/// Whether AAC sources can be heard over WebRTC on this host (asked once: it loads libopus).
pub fn aac_supported() -> bool {
    static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        crate::media::aac::AudioSpecificConfig::parse(&[0x12, 0x10])
            .ok()
            .and_then(|asc| new_aac_transcoder(&asc))
            .is_some()
    })
}

/// Frames whose packets the stream's cache keeps for players a little behind the first.
const SHARED_FRAMES: usize = 128;

/// One stream's transcoder and the packets of its most recent frames, by frame sequence number.
struct Shared {
    transcoder: Box<dyn AacTranscoder>,
    done: VecDeque<(u64, Vec<OpusPacket>)>,
}

/// The worker's transcoders, one per stream while players hold it.
#[derive(Default)]
pub struct Transcoders {
    by_stream: Mutex<HashMap<u64, Weak<Mutex<Shared>>>>,
}

impl Transcoders {
    fn get(&self, stream: u64, asc: &[u8]) -> Option<Arc<Mutex<Shared>>> {
        let mut map = self.by_stream.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, weak| weak.strong_count() > 0);
        if let Some(shared) = map.get(&stream).and_then(Weak::upgrade) {
            return Some(shared);
        }
        let asc = crate::media::aac::AudioSpecificConfig::parse(asc).ok()?;
        let shared = Arc::new(Mutex::new(Shared {
            transcoder: new_aac_transcoder(&asc)?,
            done: VecDeque::new(),
        }));
        map.insert(stream, Arc::downgrade(&shared));
        Some(shared)
    }
}

/// A player's view of its stream's audio.
pub struct AudioPath {
    transcoders: Arc<Transcoders>,
    stream: u64,
    aac: Option<Arc<Mutex<Shared>>>,
}

impl AudioPath {
    pub fn new(transcoders: Arc<Transcoders>, stream: u64) -> AudioPath {
        AudioPath {
            transcoders,
            stream,
            aac: None,
        }
    }

    /// The Opus packets of one hub audio frame, stamped on the player's clock (`ts` is the
    /// frame's player timestamp, ms).
    pub fn packets(&mut self, frame: &CachedFrame, ts: u32) -> Vec<(Bytes, u32)> {
        let payload = &frame.frame.payload;
        if let Some(packet) = crate::webrtc::opus::packet(payload) {
            return vec![(frame.frame.payload.slice_ref(packet), ts)];
        }
        // Legacy AAC: sound format 10; byte 1 is 0 for the AudioSpecificConfig, 1 for raw frames.
        if payload.len() < 2 || payload[0] >> 4 != 10 {
            return Vec::new();
        }
        if payload[1] == 0 {
            self.aac = self.transcoders.get(self.stream, &payload[2..]);
            return Vec::new();
        }
        let Some(shared) = &self.aac else {
            return Vec::new();
        };
        let mut shared = shared.lock().unwrap_or_else(|e| e.into_inner());
        let newest = shared.done.back().map(|(seq, _)| *seq);
        let packets = match shared.done.iter().find(|(seq, _)| *seq == frame.seq) {
            Some((_, packets)) => packets.clone(),
            None if newest.is_none_or(|n| frame.seq > n) => {
                let source_ts = u64::from(frame.frame.timestamp);
                let packets = shared
                    .transcoder
                    .push(&payload[2..], source_ts)
                    .unwrap_or_default();
                shared.done.push_back((frame.seq, packets.clone()));
                if shared.done.len() > SHARED_FRAMES {
                    shared.done.pop_front();
                }
                packets
            }
            None => Vec::new(),
        };
        let source_ts = u64::from(frame.frame.timestamp);
        packets
            .into_iter()
            .map(|p| {
                let delta = p.ts_ms.saturating_sub(source_ts) as u32;
                (p.data, ts.wrapping_add(delta))
            })
            .collect()
    }
}
