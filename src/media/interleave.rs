//! Frames of several tracks put back in timestamp order. An MPEG-TS muxer packs audio into PES of
//! several frames (FFmpeg: ~300 ms), so demuxed audio arrives in bursts that start behind the video
//! and end ahead of it; the hub and its players (a late joiner is rebased to its keyframe) need
//! one timeline. A frame goes out once every track has reached its timestamp; a track that stays
//! silent holds nothing longer than [`MAX_HOLD_MS`], and at most [`MAX_FRAMES`] wait.
//!
//! Holding video for the audio bunches it: it goes out once per audio PES (~300 ms), which a
//! player that takes frames as they come (WebRTC: `worker/merge_read.rs`) shows as stutter. While
//! [`Interleaver::set_prompt`] is on, video is never held: it goes out as it comes, and audio
//! frames stamped before it follow as they come (each track stays in its own order, the tracks are
//! no longer in one order across them). Audio ahead of the video still waits for it. RTMP/FLV
//! players take per-track order (FFmpeg's FLV reader and mpegts.js queue each track; the hub's
//! players keep each track monotonic on its own: `worker/hub/player.rs`), and so does the HLS
//! segmenter, which cuts at video keyframes and writes each frame where it arrives.

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
    /// Video goes out as it comes (a player takes frames as they come).
    prompt: bool,
}

impl Interleaver {
    pub fn new() -> Interleaver {
        Interleaver::default()
    }

    /// Whether video goes out as it comes, not held until the audio reaches its timestamp.
    pub fn set_prompt(&mut self, prompt: bool) {
        self.prompt = prompt;
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
        // Prompt: everything up to the newest video goes; only audio ahead of it waits.
        let watermark = match (self.prompt, self.last_video) {
            (true, Some(v)) => watermark.max(v),
            _ => watermark,
        };
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

    /// Per track, whether the timestamps never go back.
    fn each_track_in_order(out: &[(TagKind, u32, Bytes)]) -> bool {
        [TagKind::Video, TagKind::Audio].iter().all(|kind| {
            let times: Vec<u32> = out.iter().filter(|f| f.0 == *kind).map(|f| f.1).collect();
            times.windows(2).all(|w| w[0] <= w[1])
        })
    }

    #[test]
    fn prompt_video_goes_out_as_it_comes_and_the_audio_burst_follows() {
        let mut il = Interleaver::new();
        il.set_prompt(true);
        let mut out = Vec::new();
        // FFmpeg's TS muxer: 300 ms of audio in one PES, after the video it spans.
        for ts in [0, 40, 80, 120, 160, 200, 240, 280] {
            let before = out.len();
            il.push(frame(TagKind::Video, ts), &mut out);
            assert_eq!(out.len(), before + 1, "video at {ts} goes out at once");
        }
        for ts in (0..=300).step_by(21) {
            il.push(frame(TagKind::Audio, ts), &mut out);
        }
        // Audio up to the newest video went; the frame ahead of it (294 > 280) waits for video.
        assert_eq!(out.len(), 8 + 14);
        il.push(frame(TagKind::Video, 320), &mut out);
        assert_eq!(out.len(), 8 + 15 + 1);
        assert!(each_track_in_order(&out));
        assert!(il.queue.is_empty());
    }

    #[test]
    fn leaving_prompt_holds_video_for_the_audio_again() {
        let mut il = Interleaver::new();
        let mut out = Vec::new();
        il.set_prompt(true);
        for ts in [0, 40, 80] {
            il.push(frame(TagKind::Video, ts), &mut out);
        }
        il.push(frame(TagKind::Audio, 0), &mut out);
        assert_eq!(out.len(), 4);
        il.set_prompt(false);
        for ts in [120, 160, 200] {
            il.push(frame(TagKind::Video, ts), &mut out);
        }
        assert_eq!(out.len(), 4, "video waits for the audio");
        for ts in (21..=210).step_by(21) {
            il.push(frame(TagKind::Audio, ts), &mut out);
        }
        il.flush(&mut out);
        assert!(each_track_in_order(&out));
        assert_eq!(out.len(), 4 + 3 + 10);
        // Once the audio has caught up, one order again across the tracks.
        let tail: Vec<u32> = out[4..].iter().map(|f| f.1).collect();
        assert!(tail.windows(2).all(|w| w[0] <= w[1]), "{tail:?}");
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
