//! AAC for the legacy outputs of an Opus stream (a WHIP or E-RTMP Opus publisher): one
//! `media::audio::OpusToAac` per stream, made when the first player or output needs it, shared by
//! all of them and dropped with the last. Players that take Opus are never given this.
//!
//! Each player swaps the Opus tags of its batches for the transcoder's AAC (an AAC sequence header
//! for the Opus one, the AAC frames an Opus packet completes for it), video untouched; the first
//! player to reach a frame encodes it, the others take its AAC from a small cache by sequence number.
//! Outputs that cannot carry Opus (TS HLS, forwards to legacy RTMP targets, FLV recordings) join
//! the same transcoder through a [`LegacyTap`] while they need AAC, with the frames' places in the
//! ring ([`crate::worker::hub::FramePlace`]): they see each frame before any player, so they
//! usually encode it and players take it from the cache.

use crate::media::audio::{AacFrame, OpusToAac};
use crate::media::ertmp::{self, AudioPacketType, FourCc};
use crate::worker::hub::{CachedFrame, Frame, FrameKind};
use bytes::{BufMut, Bytes, BytesMut};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};

/// Opus frames whose AAC the stream's cache keeps for consumers behind the first: ~10 s of 20 ms
/// packets (~200 KiB of AAC at 128 kbit/s), so a new player's GOP-cache burst still finds the AAC
/// that TS HLS or a forward, always at the live edge, encoded for it.
const SHARED_FRAMES: usize = 512;
/// The AAC-LC bitrate per channel (bits/s).
const BITRATE_PER_CHANNEL: u32 = 64_000;

/// One stream's transcoder: the OpusHead it was made for, its AAC config and recent output.
struct Shared {
    head: Bytes,
    transcoder: OpusToAac,
    asc: Bytes,
    done: VecDeque<(u64, Vec<AacFrame>)>,
}

/// The worker's Opus→AAC transcoders, one per stream while legacy players hold it.
#[derive(Default)]
pub struct LegacyAudio {
    by_stream: Mutex<HashMap<u64, Weak<Mutex<Option<Shared>>>>>,
}

impl LegacyAudio {
    /// Transcoders running now (the `oryx_audio_transcodes{direction="opus_to_aac"}` gauge).
    pub fn running(&self) -> usize {
        let mut map = self.by_stream.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, weak| weak.strong_count() > 0);
        map.values()
            .filter_map(Weak::upgrade)
            .filter(|s| s.lock().map(|s| s.is_some()).unwrap_or(false))
            .count()
    }

    /// The `/metrics` section of the transcoders.
    pub fn exposition(&self) -> String {
        format!(
            "# HELP oryx_audio_transcodes Audio transcoders running, one per stream and direction.\n\
             # TYPE oryx_audio_transcodes gauge\n\
             oryx_audio_transcodes{{direction=\"opus_to_aac\"}} {}\n",
            self.running()
        )
    }

    /// A player's handle on the stream's transcoder (made at its first Opus sequence header).
    pub fn player(self: &Arc<Self>, stream: u64) -> LegacyPlayer {
        let mut map = self.by_stream.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, weak| weak.strong_count() > 0);
        let shared = match map.get(&stream).and_then(Weak::upgrade) {
            Some(shared) => shared,
            None => {
                let shared = Arc::new(Mutex::new(None));
                map.insert(stream, Arc::downgrade(&shared));
                shared
            }
        };
        LegacyPlayer { shared }
    }
}

/// Whether Opus can be converted on this host (asked once: it loads libopus).
pub fn supported() -> bool {
    static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SUPPORTED.get_or_init(|| match OpusToAac::new(2, 128_000) {
        Ok(_) => true,
        Err(error) => {
            tracing::warn!("Opus to AAC for legacy players is unavailable: {error:#}");
            false
        }
    })
}

/// One legacy player's view of its stream's Opus audio.
pub struct LegacyPlayer {
    shared: Arc<Mutex<Option<Shared>>>,
}

/// What one Opus tag becomes: AAC tag payloads (FLV tag bodies) with their timestamps, the first
/// possibly a sequence header.
struct Aac {
    tags: Vec<(Bytes, u32)>,
    header: bool,
}

impl LegacyPlayer {
    /// `frames` with every Opus tag replaced by AAC (timestamps on the player's clock kept).
    pub fn convert(&mut self, frames: &[(Arc<CachedFrame>, u32)]) -> Vec<(Arc<CachedFrame>, u32)> {
        let mut out = Vec::with_capacity(frames.len());
        for (cached, ts) in frames {
            match self.aac(&cached.frame, cached.seq, *ts) {
                None => out.push((cached.clone(), *ts)),
                Some(aac) => out.extend(aac.tags.into_iter().map(|(payload, at)| {
                    let frame = Frame {
                        kind: FrameKind::Audio,
                        timestamp: at,
                        payload,
                    };
                    (
                        Arc::new(CachedFrame::derived(cached, frame, aac.header)),
                        at,
                    )
                })),
            }
        }
        out
    }

    /// `frame` (the `seq`-th of its stream) as AAC on a clock where it is at `ts`; `None` when it
    /// is not Opus (it passes as it is). A malformed or unconvertible Opus tag gives no tags.
    fn aac(&mut self, frame: &Frame, seq: u64, ts: u32) -> Option<Aac> {
        let header = opus_header(frame)?;
        let body = frame.payload.get(header.body.clone()).unwrap_or(&[]);
        let mut aac = Aac {
            tags: Vec::new(),
            header: false,
        };
        match header.packet_type {
            AudioPacketType::SequenceStart => {
                if let Some(asc) = self.start(body) {
                    aac.tags.push((aac_tag(0, &asc), ts));
                    aac.header = true;
                }
            }
            AudioPacketType::CodedFrames => {
                for (data, at) in self.encode(seq, frame.timestamp, body, ts) {
                    aac.tags.push((aac_tag(1, &data), at));
                }
            }
            _ => {}
        }
        Some(aac)
    }

    /// The AAC config for this OpusHead, making (or remaking, on a new head) the transcoder.
    fn start(&mut self, head: &[u8]) -> Option<Bytes> {
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = shared.as_ref().filter(|s| s.head == head) {
            return Some(s.asc.clone());
        }
        // OpusHead: "OpusHead", version, channel count (RFC 7845 §5.1); AAC here is mono or stereo.
        let channels = head.get(9).copied().unwrap_or(2).clamp(1, 2);
        let transcoder = OpusToAac::new(channels, BITRATE_PER_CHANNEL * u32::from(channels))
            .map_err(|error| tracing::warn!("Opus to AAC: {error:#}"))
            .ok()?;
        let asc = transcoder.audio_specific_config();
        *shared = Some(Shared {
            head: Bytes::copy_from_slice(head),
            transcoder,
            asc: asc.clone(),
            done: VecDeque::new(),
        });
        Some(asc)
    }

    /// The AAC frames of the `seq`-th frame (an Opus packet the publisher stamped `source_ts`),
    /// stamped on a clock where that frame is at `ts`: taken from the cache when another consumer
    /// encoded it, encoded when it is the newest yet, none when it fell out of the cache.
    fn encode(&mut self, seq: u64, source_ts: u32, packet: &[u8], ts: u32) -> Vec<(Bytes, u32)> {
        let mut guard = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        let Some(shared) = guard.as_mut() else {
            return Vec::new();
        };
        let source_ts = u64::from(source_ts);
        let newest = shared.done.back().map(|(seq, _)| *seq);
        // Seqs rise along the cache.
        let cached = shared.done.binary_search_by_key(&seq, |(done, _)| *done);
        let frames = match cached.ok().and_then(|i| shared.done.get(i)) {
            Some((_, frames)) => frames.clone(),
            None if newest.is_none_or(|n| seq > n) => {
                let frames = shared
                    .transcoder
                    .push(packet, source_ts)
                    .unwrap_or_default();
                shared.done.push_back((seq, frames.clone()));
                if shared.done.len() > SHARED_FRAMES {
                    shared.done.pop_front();
                }
                frames
            }
            None => Vec::new(),
        };
        frames
            .into_iter()
            .map(|f| {
                // An AAC frame may start before the packet that completed it: shift by the difference.
                let delta = f.ts_ms as i64 - source_ts as i64;
                (f.data, (i64::from(ts) + delta).max(0) as u32)
            })
            .collect()
    }
}

/// The E-RTMP header of an Opus audio tag; `None` for anything else.
fn opus_header(frame: &Frame) -> Option<ertmp::ExAudioHeader> {
    if frame.kind != FrameKind::Audio {
        return None;
    }
    ertmp::parse_audio(&frame.payload)
        .ok()
        .filter(|h| h.fourcc == FourCc::OPUS)
}

/// Whether `frame` is an E-RTMP Opus tag (what a legacy output cannot carry).
pub fn is_opus(frame: &Frame) -> bool {
    opus_header(frame).is_some()
}

/// The shared transcoder as an output on the publisher's side sees it (TS HLS, a forward to a
/// legacy target, an FLV recording): it keeps the stream's newest OpusHead, so it can join the
/// transcoder whenever its output starts to need AAC, even mid-stream, and it leaves it with
/// [`LegacyTap::leave`] or when dropped. Every output and player of a stream share one transcoder.
pub struct LegacyTap {
    audio: Arc<LegacyAudio>,
    stream: u64,
    head: Option<Bytes>,
    player: Option<LegacyPlayer>,
}

impl LegacyTap {
    pub fn new(audio: Arc<LegacyAudio>, stream: u64) -> LegacyTap {
        LegacyTap {
            audio,
            stream,
            head: None,
            player: None,
        }
    }

    /// Notes the OpusHead of an Opus sequence start (the tap joins with the newest one).
    pub fn observe(&mut self, frame: &Frame) {
        let Some(header) = opus_header(frame) else {
            return;
        };
        if header.packet_type == AudioPacketType::SequenceStart {
            let body = frame.payload.get(header.body.clone()).unwrap_or(&[]);
            self.head = Some(Bytes::copy_from_slice(body));
        }
    }

    /// `frame`, the `seq`-th of the stream, as AAC frames at its own timestamps (the first an AAC
    /// sequence header when it is an Opus one); `None` when it is not Opus, or when this host
    /// cannot convert it (no libopus): the caller passes it on as it is.
    pub fn convert(&mut self, frame: &Frame, seq: u64) -> Option<Vec<Frame>> {
        if !is_opus(frame) || !supported() {
            return None;
        }
        self.observe(frame);
        let aac = self.join().aac(frame, seq, frame.timestamp)?;
        let frames = aac.tags.into_iter().map(|(payload, timestamp)| Frame {
            kind: FrameKind::Audio,
            timestamp,
            payload,
        });
        Some(frames.collect())
    }

    /// The AAC sequence header for the newest OpusHead (joining the transcoder): what a
    /// connection that starts mid-stream sends before the first converted frame.
    pub fn header(&mut self, timestamp: u32) -> Option<Frame> {
        if !supported() {
            return None;
        }
        let head = self.head.clone()?;
        let asc = self.join().start(&head)?;
        Some(Frame {
            kind: FrameKind::Audio,
            timestamp,
            payload: aac_tag(0, &asc),
        })
    }

    /// The stream's transcoder, joined (and given the newest OpusHead) on first use.
    fn join(&mut self) -> &mut LegacyPlayer {
        let player = match self.player.take() {
            Some(player) => player,
            None => {
                let mut player = self.audio.player(self.stream);
                if let Some(head) = &self.head {
                    player.start(head);
                }
                player
            }
        };
        self.player.insert(player)
    }

    /// This output no longer needs AAC: the transcoder stops once nobody else uses it.
    pub fn leave(&mut self) {
        self.player = None;
    }

    /// Whether this output holds the transcoder now.
    pub fn joined(&self) -> bool {
        self.player.is_some()
    }
}

/// A legacy FLV AAC tag body (`0xAF`, then 0 for the AudioSpecificConfig or 1 for a raw frame).
fn aac_tag(packet_type: u8, body: &[u8]) -> Bytes {
    let mut payload = BytesMut::with_capacity(body.len() + 2);
    payload.put_u8(0xAF);
    payload.put_u8(packet_type);
    payload.put_slice(body);
    payload.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_and_aac_pass_untouched_and_a_bad_opus_tag_is_dropped() {
        let legacy = Arc::new(LegacyAudio::default());
        let mut player = legacy.player(1);
        let video = Frame {
            kind: FrameKind::Video,
            timestamp: 0,
            payload: Bytes::from_static(&[0x17, 1, 0, 0, 0]),
        };
        let aac = Frame {
            kind: FrameKind::Audio,
            timestamp: 0,
            payload: Bytes::from_static(&[0xaf, 1, 0x21]),
        };
        // Opus coded frames before any sequence start: nothing to convert with.
        let opus = Frame {
            kind: FrameKind::Audio,
            timestamp: 0,
            payload: Bytes::from_static(b"\x91Opus\xff\xfe"),
        };
        let frames: Vec<_> = [video, aac, opus]
            .into_iter()
            .enumerate()
            .map(|(i, f)| (Arc::new(CachedFrame::for_test(f, i as u64)), 0))
            .collect();
        let out = player.convert(&frames);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].0.frame.payload[0], 0x17);
        assert_eq!(out[1].0.frame.payload[0], 0xaf);
        assert_eq!(legacy.running(), 0);
    }

    fn opus_tag(packet_type: u8, body: &[u8], ts: u32, seq: u64) -> (Arc<CachedFrame>, u32) {
        let mut payload = vec![0x90 | packet_type];
        payload.extend_from_slice(b"Opus");
        payload.extend_from_slice(body);
        let frame = Frame {
            kind: FrameKind::Audio,
            timestamp: ts,
            payload: Bytes::from(payload),
        };
        (Arc::new(CachedFrame::for_test(frame, seq)), ts)
    }

    #[test]
    fn two_players_share_one_transcoder_that_makes_aac() {
        let Ok(mut encoder) = crate::media::audio::libopus::OpusEncoder::new(2, 64_000) else {
            // No libopus here: `tests/opus_to_aac.rs` proves the path where it is installed.
            return;
        };
        let mut head = b"OpusHead".to_vec();
        head.extend_from_slice(&[1, 2, 0, 0, 0x80, 0xbb, 0, 0, 0, 0, 0]);
        let mut frames = vec![opus_tag(0, &head, 0, 0)];
        for i in 0..20u32 {
            let pcm: Vec<f32> = (0..960 * 2)
                .map(|n| ((n + i as usize * 1920) as f32 * 0.03).sin() * 0.3)
                .collect();
            let packet = encoder.encode(&pcm).unwrap();
            frames.push(opus_tag(1, &packet, i * 20, u64::from(i) + 1));
        }
        let legacy = Arc::new(LegacyAudio::default());
        let (mut first, mut second) = (legacy.player(7), legacy.player(7));
        let a = first.convert(&frames);
        assert_eq!(legacy.running(), 1);
        let b = second.convert(&frames);
        assert_eq!(legacy.running(), 1);
        // An AAC sequence header, then raw frames of 1024 samples (21.3 ms) in order.
        assert_eq!(&a[0].0.frame.payload[..2], &[0xaf, 0]);
        assert!(a[0].0.is_header());
        assert!(a.len() > 10, "{}", a.len());
        assert!(a[1..]
            .iter()
            .all(|(f, _)| f.frame.payload[..2] == [0xaf, 1]));
        assert!(a.windows(2).all(|w| w[0].1 <= w[1].1));
        // The second player took the first one's AAC.
        let payloads = |v: &[(Arc<CachedFrame>, u32)]| {
            v.iter()
                .map(|(f, ts)| (f.frame.payload.clone(), *ts))
                .collect::<Vec<_>>()
        };
        assert_eq!(payloads(&a), payloads(&b));
        drop((first, second));
        assert_eq!(legacy.running(), 0);
    }

    /// An OpusHead tag and `n` 20 ms Opus packets of a sine (seq = index), or `None` without libopus.
    fn opus_stream(n: u32) -> Option<Vec<(Arc<CachedFrame>, u32)>> {
        let mut encoder = crate::media::audio::libopus::OpusEncoder::new(2, 64_000).ok()?;
        let mut head = b"OpusHead".to_vec();
        head.extend_from_slice(&[1, 2, 0, 0, 0x80, 0xbb, 0, 0, 0, 0, 0]);
        let mut frames = vec![opus_tag(0, &head, 0, 0)];
        for i in 0..n {
            let pcm: Vec<f32> = (0..960 * 2)
                .map(|k| ((k + i as usize * 1920) as f32 * 0.03).sin() * 0.3)
                .collect();
            let packet = encoder.encode(&pcm).unwrap();
            frames.push(opus_tag(1, &packet, i * 20, u64::from(i) + 1));
        }
        Some(frames)
    }

    #[test]
    fn an_output_and_a_player_share_the_transcoder_and_a_late_tap_joins_with_the_head() {
        let Some(frames) = opus_stream(30) else {
            return; // No libopus here: `tests/opus_legacy_outputs.rs` proves it where it is.
        };
        let legacy = Arc::new(LegacyAudio::default());
        let mut tap = LegacyTap::new(legacy.clone(), 9);
        // The output sees each frame before the player (as a sink does), and encodes it.
        let mut from_tap = Vec::new();
        for (cached, _) in &frames {
            from_tap.extend(tap.convert(&cached.frame, cached.seq).expect("Opus"));
        }
        assert!(tap.joined());
        assert_eq!(legacy.running(), 1);
        let mut player = legacy.player(9);
        let from_player = player.convert(&frames);
        assert_eq!(legacy.running(), 1, "one transcoder for the stream");
        let tap_payloads: Vec<_> = from_tap.iter().map(|f| (&f.payload, f.timestamp)).collect();
        let player_payloads: Vec<_> = from_player
            .iter()
            .map(|(f, ts)| (&f.frame.payload, *ts))
            .collect();
        assert_eq!(
            tap_payloads, player_payloads,
            "the player took the output's AAC"
        );
        assert_eq!(&from_tap[0].payload[..2], &[0xaf, 0]);
        assert!(from_tap.len() > 20, "{}", from_tap.len());
        // Not Opus: passed on as it is.
        let aac = Frame {
            kind: FrameKind::Audio,
            timestamp: 0,
            payload: Bytes::from_static(&[0xaf, 1, 0x21]),
        };
        assert!(tap.convert(&aac, 99).is_none());
        // Everyone leaves: the transcoder stops.
        tap.leave();
        drop(player);
        assert_eq!(legacy.running(), 0);

        // A tap that saw the OpusHead but joins only later (a connection to a legacy target
        // mid-stream) starts the transcoder with that head and gives the AAC header at once.
        let mut late = LegacyTap::new(legacy.clone(), 10);
        late.observe(&frames[0].0.frame);
        assert!(!late.joined());
        let header = late.header(400).expect("an AAC sequence header");
        assert_eq!(
            (&header.payload[..2], header.timestamp),
            (&[0xaf, 0][..], 400)
        );
        let (cached, _) = &frames[20];
        let aac = late.convert(&cached.frame, cached.seq).unwrap();
        assert!(aac.iter().all(|f| f.payload[..2] == [0xaf, 1]));
        assert_eq!(legacy.running(), 1);
        drop(late);
        assert_eq!(legacy.running(), 0);
    }
}
