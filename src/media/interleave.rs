//! Frames of several tracks put back in timestamp order. An MPEG-TS muxer packs audio into PES of
//! several frames (FFmpeg: ~300 ms), so demuxed audio arrives in bursts that start behind the video
//! and end ahead of it; the hub and its players (a late joiner is rebased to its keyframe) need
//! one timeline. A frame goes out once every track has reached its timestamp; a track that stays
//! silent holds nothing longer than [`MAX_HOLD_MS`], and at most [`MAX_FRAMES`] wait.

use super::flv::TagKind;
use bytes::Bytes;
use std::collections::VecDeque;

/// The longest a frame waits for another track.
pub const MAX_HOLD_MS: u32 = 1000;
/// The most frames held.
pub const MAX_FRAMES: usize = 4096;

/// Frames in (each track in its own order), frames out in one order.
#[derive(Debug, Default)]
pub struct Interleaver {
    queue: VecDeque<(TagKind, u32, Bytes)>,
    last_video: Option<u32>,
    last_audio: Option<u32>,
}

impl Interleaver {
    pub fn new() -> Interleaver {
        Interleaver::default()
    }

    /// Takes one frame; appends to `out` every frame that may go now.
    pub fn push(&mut self, frame: (TagKind, u32, Bytes), out: &mut Vec<(TagKind, u32, Bytes)>) {
        let ts = frame.1;
        match frame.0 {
            TagKind::Video => self.last_video = Some(self.last_video.map_or(ts, |t| t.max(ts))),
            TagKind::Audio => self.last_audio = Some(self.last_audio.map_or(ts, |t| t.max(ts))),
            TagKind::Script => {}
        }
        // After every frame with a timestamp not above it: a track's own order is kept.
        let at = self.queue.partition_point(|f| f.1 <= ts);
        self.queue.insert(at, frame);
        let newest = self.queue.back().map_or(0, |f| f.1);
        let watermark = match (self.last_video, self.last_audio) {
            (Some(v), Some(a)) => v.min(a),
            _ => newest.saturating_sub(MAX_HOLD_MS),
        }
        .max(newest.saturating_sub(MAX_HOLD_MS));
        while let Some(first) = self.queue.front() {
            if first.1 > watermark && self.queue.len() <= MAX_FRAMES {
                break;
            }
            out.extend(self.queue.pop_front());
        }
    }

    /// Everything held, in order (the publisher is leaving).
    pub fn flush(&mut self, out: &mut Vec<(TagKind, u32, Bytes)>) {
        out.extend(self.queue.drain(..));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: TagKind, ts: u32) -> (TagKind, u32, Bytes) {
        (kind, ts, Bytes::new())
    }

    #[test]
    fn an_audio_burst_is_woven_into_the_video() {
        let mut il = Interleaver::new();
        let mut out = Vec::new();
        for ts in [0, 100, 200, 300] {
            il.push(frame(TagKind::Video, ts), &mut out);
        }
        for ts in [179, 200, 221, 243, 264, 285, 307] {
            il.push(frame(TagKind::Audio, ts), &mut out);
        }
        il.push(frame(TagKind::Video, 400), &mut out);
        il.flush(&mut out);
        let times: Vec<u32> = out.iter().map(|f| f.1).collect();
        let mut sorted = times.clone();
        sorted.sort();
        assert_eq!(times, sorted);
        assert_eq!(out.len(), 12);
    }

    #[test]
    fn a_single_track_waits_at_most_the_hold() {
        let mut il = Interleaver::new();
        let mut out = Vec::new();
        for ts in (0..3000).step_by(40) {
            il.push(frame(TagKind::Video, ts), &mut out);
        }
        assert!(out.len() > 40);
        assert!(il.queue.len() <= (MAX_HOLD_MS / 40 + 2) as usize);
        for i in 0..(MAX_FRAMES as u32 + 10) {
            il.push(frame(TagKind::Script, 5000), &mut out);
            assert!(il.queue.len() <= MAX_FRAMES, "{i}");
        }
    }
}
