//! WHIP: a publisher's media from the engine into the hub, as an RTMP publisher's would come:
//! H.264 access units become FLV AVC tags (a sequence header built from SPS/PPS), VP9 and AV1
//! frames E-RTMP `vp09`/`av01` tags (vpcC/av1C built from the bitstream), Opus packets E-RTMP
//! Opus tags. Each track is stamped from its own RTP clock, anchored at the arrival of its
//! first packet, so audio and video stay together without waiting for sender reports.

use crate::webrtc::ingest::{ExIngest, MAX_FRAME};
use crate::webrtc::video::VideoCodec;
use crate::webrtc::{h264::AvcIngest, opus};
use crate::worker::hub::{Frame, FrameKind, Publisher};
use bytes::Bytes;
use std::time::{Duration, Instant};
use str0m::format::Codec;
use str0m::media::{MediaData, MediaTime, Mid};

/// The video codecs a WHIP publisher may send, in oryx's preference (each has an E-RTMP FourCC).
pub const CARRIED: [VideoCodec; 3] = [VideoCodec::H264, VideoCodec::Vp9, VideoCodec::Av1];

/// At most one keyframe request per this (a publisher that lost packets asks once, not per packet).
const KEYFRAME_REQUEST_EVERY: Duration = Duration::from_secs(1);

/// One track's clock: its first RTP time (ms) and the stream time (ms) it maps to.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    rtp_ms: u64,
    stream_ms: u64,
}

pub struct Ingest {
    publisher: Publisher,
    start: Instant,
    avc: AvcIngest,
    ex: ExIngest,
    /// The AV1 temporal unit being gathered and its stream time (ms).
    av1_pending: Option<(u32, Vec<u8>)>,
    video: Option<Anchor>,
    audio: Option<Anchor>,
    audio_started: bool,
    /// The last Opus frame's stream time: a packet at or before it (a duplicate, a reordered
    /// one) is dropped, since RTMP/FLV players refuse an audio track whose time does not rise.
    last_audio_ms: Option<u32>,
    had_keyframe: bool,
    last_request: Option<Instant>,
}

impl Ingest {
    pub fn new(publisher: Publisher) -> Ingest {
        Ingest {
            publisher,
            start: Instant::now(),
            avc: AvcIngest::default(),
            ex: ExIngest::default(),
            av1_pending: None,
            video: None,
            audio: None,
            audio_started: false,
            last_audio_ms: None,
            had_keyframe: false,
            last_request: None,
        }
    }

    /// The stream time (ms) of `time` on the track `anchor` follows.
    fn stamp(
        start: Instant,
        anchor: &mut Option<Anchor>,
        time: MediaTime,
        arrival: Instant,
    ) -> u32 {
        let rtp_ms = time.rebase(str0m::media::Frequency::MILLIS).numer();
        let anchor = anchor.get_or_insert_with(|| Anchor {
            rtp_ms,
            stream_ms: arrival.saturating_duration_since(start).as_millis() as u64,
        });
        (anchor.stream_ms + rtp_ms.saturating_sub(anchor.rtp_ms)) as u32
    }

    /// Take one depacketized frame; `Some(mid)` asks the engine for a keyframe on that track.
    pub fn on_media(&mut self, data: &MediaData) -> Option<Mid> {
        match data.params.spec().codec {
            Codec::H264 => self.on_video(data, None),
            Codec::Vp9 => self.on_video(data, Some(VideoCodec::Vp9)),
            Codec::Av1 => self.on_video(data, Some(VideoCodec::Av1)),
            Codec::Opus => {
                self.on_audio(data);
                None
            }
            _ => None,
        }
    }

    /// A video frame: H.264 (`ex` is `None`) or VP9/AV1 (E-RTMP).
    fn on_video(&mut self, data: &MediaData, ex: Option<VideoCodec>) -> Option<Mid> {
        let mut timestamp = Self::stamp(self.start, &mut self.video, data.time, data.network_time);
        let tags = match ex {
            None => self.avc.push(&data.data),
            Some(VideoCodec::Av1) => {
                // Chromium's AV1 sometimes arrives as two frames of one RTP timestamp (one
                // temporal unit): they go out as one tag, a frame later, so that players see
                // rising timestamps.
                if let Some((ts, unit)) = &mut self.av1_pending {
                    if *ts == timestamp && unit.len() + data.data.len() <= MAX_FRAME {
                        unit.extend_from_slice(&data.data);
                        return None;
                    }
                }
                let (ts, unit) = self.av1_pending.replace((timestamp, data.data.to_vec()))?;
                timestamp = ts;
                self.ex.push(VideoCodec::Av1, &unit)
            }
            Some(codec) => self.ex.push(codec, &data.data),
        };
        if let Some(header) = tags.sequence_header {
            self.push(FrameKind::Video, timestamp, header);
        }
        let mut want_keyframe = !data.contiguous;
        if let Some(frame) = tags.frame {
            self.had_keyframe |= tags.keyframe;
            want_keyframe |= !self.had_keyframe;
            if self.had_keyframe {
                self.push(FrameKind::Video, timestamp, frame);
            }
        } else if !self.had_keyframe {
            want_keyframe = true;
        }
        let now = Instant::now();
        let due = self
            .last_request
            .is_none_or(|t| now.duration_since(t) >= KEYFRAME_REQUEST_EVERY);
        (want_keyframe && due).then(|| {
            self.last_request = Some(now);
            data.mid
        })
    }

    fn on_audio(&mut self, data: &MediaData) {
        let timestamp = Self::stamp(self.start, &mut self.audio, data.time, data.network_time);
        if self.last_audio_ms.is_some_and(|last| timestamp <= last) {
            return;
        }
        self.last_audio_ms = Some(timestamp);
        if !self.audio_started {
            self.audio_started = true;
            let channels = data.params.spec().channels.unwrap_or(2);
            self.push(FrameKind::Audio, timestamp, opus::sequence_start(channels));
        }
        self.push(FrameKind::Audio, timestamp, opus::coded_frame(&data.data));
    }

    fn push(&mut self, kind: FrameKind, timestamp: u32, payload: Vec<u8>) {
        self.publisher.push(Frame {
            kind,
            timestamp,
            payload: Bytes::from(payload),
        });
    }
}
