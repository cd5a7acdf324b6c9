//! Frames into the open segment: H.264 in AVC form becomes an Annex-B access unit (with an access
//! unit delimiter, and SPS/PPS before a keyframe that lacks them), AAC becomes ADTS frames batched
//! into one PES; both cut the segment when it is due.

use super::{HlsSegmenter, Update};
use crate::media::aac::AudioSpecificConfig;
use crate::media::avc::{self, AvcConfig, NAL_AUD, NAL_IDR, NAL_SPS};

/// Audio dropped this long while waiting for a first video keyframe means the video track announced
/// by its sequence header is not coming: segment the audio alone until a keyframe shows up.
const VIDEO_GIVE_UP_MS: u64 = 5_000;
/// AAC frames (~23 ms each) carried per audio PES: one frame per PES would spend about 40% of the
/// audio bytes on TS headers and stuffing.
const AUDIO_FRAMES_PER_PES: usize = 4;
/// The access unit delimiter NAL unit (primary_pic_type 7: any slice type).
pub(super) const AUD: [u8; 6] = [0, 0, 0, 1, NAL_AUD, 0xf0];

impl HlsSegmenter {
    pub(super) fn push_video(&mut self, ts: u64, payload: &[u8]) -> Update {
        let mut update = Update::default();
        if payload.len() < 5 || payload[0] & 0x0f != 7 {
            self.stats.dropped_frames += 1;
            return update;
        }
        match payload[1] {
            0 => {
                match AvcConfig::parse(&payload[5..]) {
                    Ok(config) => self.avc = Some(config),
                    Err(_) => self.stats.dropped_frames += 1,
                }
                return update;
            }
            1 => {}
            _ => return update, // end of sequence
        }
        let Some(length_size) = self.avc.as_ref().map(|avc| avc.nalu_length_size) else {
            self.stats.dropped_frames += 1;
            return update;
        };
        let keyframe = payload[0] >> 4 == 1;
        if keyframe {
            self.video_absent = false;
            self.waiting_for_video_since = None;
        }
        let composition = i64::from(
            ((u32::from(payload[2]) << 16 | u32::from(payload[3]) << 8 | u32::from(payload[4]))
                << 8) as i32
                >> 8,
        );
        // Convert first: a malformed frame is dropped before it can cut or open a segment.
        if self
            .annexb_access_unit(&payload[5..], length_size, keyframe)
            .is_err()
        {
            self.stats.dropped_frames += 1;
            return update;
        }

        self.observe_timestamp(ts, &mut update);
        learn_interval(&mut self.last_video_ms, &mut self.video_interval_ms, ts);
        let desired = self.desired_tracks();
        if keyframe {
            self.cut_if_due(ts, desired, &mut update);
        }
        self.enforce_bounds(ts, &mut update);
        if self.current.is_none() {
            if !keyframe {
                self.stats.dropped_frames += 1;
                return update;
            }
            self.start_segment(ts, desired);
        }

        let dts = ts * 90;
        let pts = (ts as i64 + composition).max(0) as u64 * 90;
        let video_interval = self.video_interval_ms;
        if let Some(current) = self.current.as_mut() {
            self.muxer
                .write_video(&mut current.data, pts, dts, &self.scratch, keyframe);
            current.end_ms = current.end_ms.max(ts + video_interval);
        }
        update
    }

    /// Builds the Annex-B access unit in `scratch`: AUD, SPS/PPS before a keyframe that lacks them,
    /// then the frame's NAL units (minus any AUD of its own).
    pub(super) fn annexb_access_unit(
        &mut self,
        data: &[u8],
        length_size: u8,
        keyframe: bool,
    ) -> Result<(), avc::AvcError> {
        self.scratch.clear();
        self.scratch.extend_from_slice(&AUD);
        let has_sps = avc::nal_units(data, length_size)
            .any(|nalu| nalu.is_ok_and(|n| n.first().is_some_and(|h| h & 0x1f == NAL_SPS)));
        let has_idr = avc::nal_units(data, length_size)
            .any(|nalu| nalu.is_ok_and(|n| n.first().is_some_and(|h| h & 0x1f == NAL_IDR)));
        if (keyframe || has_idr) && !has_sps {
            if let Some(config) = &self.avc {
                for nalu in config.sps.iter().chain(config.pps.iter()) {
                    avc::push_annexb(&mut self.scratch, nalu);
                }
            }
        }
        for nalu in avc::nal_units(data, length_size) {
            let nalu = nalu?;
            if nalu.first().is_some_and(|h| h & 0x1f != NAL_AUD) {
                avc::push_annexb(&mut self.scratch, nalu);
            }
        }
        Ok(())
    }

    pub(super) fn push_audio(&mut self, ts: u64, payload: &[u8]) -> Update {
        let mut update = Update::default();
        if payload.len() < 2 || payload[0] >> 4 != 10 {
            self.stats.dropped_frames += 1;
            return update;
        }
        if payload[1] == 0 {
            match AudioSpecificConfig::parse(&payload[2..]) {
                Ok(config) => self.aac = Some(config),
                Err(_) => self.stats.dropped_frames += 1,
            }
            return update;
        }
        let Some(aac) = self.aac.clone() else {
            self.stats.dropped_frames += 1;
            return update;
        };
        let raw = &payload[2..];
        let Ok(header) = aac.adts_header(raw.len()) else {
            self.stats.dropped_frames += 1;
            return update;
        };
        self.observe_timestamp(ts, &mut update);
        learn_interval(&mut self.last_audio_ms, &mut self.audio_interval_ms, ts);
        let desired = self.desired_tracks();
        if !desired.video {
            self.cut_if_due(ts, desired, &mut update);
        }
        self.enforce_bounds(ts, &mut update);
        if self.current.is_none() {
            if desired.video {
                // Wait for the video keyframe that opens the segment, but not forever.
                let since = *self.waiting_for_video_since.get_or_insert(ts);
                if ts.saturating_sub(since) < VIDEO_GIVE_UP_MS {
                    self.stats.dropped_frames += 1;
                    return update;
                }
                self.video_absent = true;
            }
            let desired = self.desired_tracks();
            self.start_segment(ts, desired);
        }
        if self.pending_audio_frames == 0 {
            self.pending_audio_pts = ts * 90;
        }
        self.pending_audio.extend_from_slice(&header);
        self.pending_audio.extend_from_slice(raw);
        self.pending_audio_frames += 1;
        if self.pending_audio_frames >= AUDIO_FRAMES_PER_PES {
            self.flush_audio();
        }
        let audio_interval = self.audio_interval_ms;
        if let Some(current) = self.current.as_mut() {
            current.end_ms = current.end_ms.max(ts + audio_interval);
        }
        update
    }

    /// Muxes the buffered audio frames into the open segment as one PES.
    pub(super) fn flush_audio(&mut self) {
        if self.pending_audio_frames == 0 {
            return;
        }
        if let Some(current) = self.current.as_mut() {
            self.muxer.write_audio(
                &mut current.data,
                self.pending_audio_pts,
                &self.pending_audio,
            );
        }
        self.pending_audio.clear();
        self.pending_audio_frames = 0;
    }
}

/// Learns a track's usual frame interval from consecutive timestamps (gaps of a second or more are
/// pauses, not the frame rate).
fn learn_interval(last_ms: &mut Option<u64>, interval_ms: &mut u64, ts: u64) {
    if let Some(previous) = last_ms.replace(ts) {
        if ts > previous && ts - previous < 1000 {
            *interval_ms = ts - previous;
        }
    }
}
