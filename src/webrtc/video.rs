//! Video between the hub's FLV tags and what the RTP packetizers take, for every codec WHEP can
//! send: H.264 and HEVC become Annex-B access units with their parameter sets in front of key
//! frames (RFC 6184 / RFC 7798), VP9 frames pass as they are (draft-ietf-payload-vp9), AV1
//! temporal units pass as low-overhead OBUs with the sequence header of the `av1C` record in front
//! of key frames that lack one (the AOM RTP spec starts a coded video sequence with it). Also: which
//! codec a stream's sequence header names, and which video codecs an SDP offer carries.

use crate::media::avc::{self, AvcConfig};
use crate::media::ertmp::{self, FourCc, VideoPacketType};
use crate::media::{av1, tag_class};
use crate::webrtc::stap;

/// A video codec WebRTC can carry and E-RTMP names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    H264,
    Hevc,
    Vp9,
    Av1,
}

impl VideoCodec {
    /// The codec's name in SDP's `a=rtpmap` (upper case).
    pub fn sdp_name(self) -> &'static str {
        match self {
            VideoCodec::H264 => "H264",
            VideoCodec::Hevc => "H265",
            VideoCodec::Vp9 => "VP9",
            VideoCodec::Av1 => "AV1",
        }
    }

    /// The name users know it by (in refusals).
    pub fn label(self) -> &'static str {
        match self {
            VideoCodec::H264 => "H.264",
            VideoCodec::Hevc => "HEVC",
            VideoCodec::Vp9 => "VP9",
            VideoCodec::Av1 => "AV1",
        }
    }

    /// The codec of an FLV video tag body (legacy or E-RTMP); `None` for codecs WebRTC cannot carry.
    pub fn of_tag(payload: &[u8]) -> Option<VideoCodec> {
        let first = *payload.first()?;
        if ertmp::is_ex_video(payload) {
            let header = ertmp::parse_video(payload).ok()?;
            return match header.fourcc {
                FourCc::AVC1 => Some(VideoCodec::H264),
                FourCc::HVC1 => Some(VideoCodec::Hevc),
                FourCc::VP09 => Some(VideoCodec::Vp9),
                FourCc::AV01 => Some(VideoCodec::Av1),
                _ => None,
            };
        }
        match first & 0x0f {
            CODEC_AVC => Some(VideoCodec::H264),
            CODEC_HEVC_LEGACY => Some(VideoCodec::Hevc),
            _ => None,
        }
    }
}

const CODEC_AVC: u8 = 7;
/// The HEVC codec id SRS and Chinese CDNs used before E-RTMP (same layout as AVC's tags).
const CODEC_HEVC_LEGACY: u8 = 12;

/// What a video tag body carries.
#[derive(Debug, PartialEq, Eq)]
pub enum FlvVideo<'a> {
    /// The configuration record (avcC, hvcC, vpcC, av1C).
    Config(VideoCodec, &'a [u8]),
    /// Coded data and its composition time offset (ms).
    Frame {
        codec: VideoCodec,
        body: &'a [u8],
        composition_time: i32,
        keyframe: bool,
    },
}

/// Reads an FLV video tag body; `None` for other codecs, sequence ends, metadata and commands.
pub fn read_flv(payload: &[u8]) -> Option<FlvVideo<'_>> {
    let codec = VideoCodec::of_tag(payload)?;
    let keyframe = tag_class::video(payload) == tag_class::VideoClass::Key;
    if ertmp::is_ex_video(payload) {
        let header = ertmp::parse_video(payload).ok()?;
        if header.command.is_some() {
            return None;
        }
        let body = payload.get(header.body)?;
        return match header.packet_type {
            VideoPacketType::SequenceStart => Some(FlvVideo::Config(codec, body)),
            VideoPacketType::CodedFrames | VideoPacketType::CodedFramesX => Some(FlvVideo::Frame {
                codec,
                body,
                composition_time: header.composition_time,
                keyframe,
            }),
            _ => None,
        };
    }
    if payload.len() < 5 {
        return None;
    }
    let body = &payload[5..];
    match payload[1] {
        0 => Some(FlvVideo::Config(codec, body)),
        1 => Some(FlvVideo::Frame {
            codec,
            body,
            composition_time: (i32::from(payload[2]) << 24
                | i32::from(payload[3]) << 16
                | i32::from(payload[4]) << 8)
                >> 8,
            keyframe,
        }),
        _ => None,
    }
}

/// The NAL units of an hvcC record's arrays (VPS, SPS, PPS, SEI…), in order, and its length size.
pub fn hvcc_parameter_sets(record: &[u8]) -> Option<(u8, Vec<Vec<u8>>)> {
    let length_size = (record.get(21)? & 0x03) + 1;
    let arrays = *record.get(22)?;
    let mut pos = 23usize;
    let mut take = |len: usize| -> Option<&[u8]> {
        let end = pos.checked_add(len).filter(|e| *e <= record.len())?;
        let slice = &record[pos..end];
        pos = end;
        Some(slice)
    };
    let mut units = Vec::new();
    for _ in 0..arrays {
        let nal_type = take(1)?[0] & 0x3f;
        let count = take(2)?;
        for _ in 0..u16::from_be_bytes([count[0], count[1]]) {
            let len = take(2)?;
            let nalu = take(usize::from(u16::from_be_bytes([len[0], len[1]])))?;
            // VPS, SPS, PPS: what a decoder joining at a key frame needs.
            if matches!(nal_type, 32..=34) {
                units.push(nalu.to_vec());
            }
        }
    }
    Some((length_size, units))
}

/// A stream's decoder configuration, as far as the packetizer's input needs it.
#[derive(Debug, Clone)]
enum Config {
    Avc(AvcConfig),
    Hevc { length_size: u8, sets: Vec<Vec<u8>> },
    Vp9,
    Av1 { sequence_header: Option<Vec<u8>> },
}

/// Turns a player's hub video frames into packetizer input for one codec.
#[derive(Debug, Clone)]
pub struct RtpVideo {
    pub codec: VideoCodec,
    config: Option<Config>,
}

/// One frame for the packetizer: its data and presentation time (ms on the player's clock).
#[derive(Debug, PartialEq, Eq)]
pub struct RtpFrame {
    pub data: Vec<u8>,
    pub pts_ms: i64,
}

impl RtpVideo {
    pub fn new(codec: VideoCodec) -> RtpVideo {
        RtpVideo {
            codec,
            config: None,
        }
    }

    /// Take one hub video tag stamped `ts` (ms); a frame to send, if it is one and decodable.
    pub fn push(&mut self, payload: &[u8], ts: u32) -> Option<RtpFrame> {
        match read_flv(payload)? {
            FlvVideo::Config(codec, record) if codec == self.codec => {
                self.config = parse_config(codec, record);
                None
            }
            FlvVideo::Frame {
                codec,
                body,
                composition_time,
                keyframe,
            } if codec == self.codec => {
                let data = self.frame(body, keyframe)?;
                Some(RtpFrame {
                    data,
                    pts_ms: i64::from(ts) + i64::from(composition_time),
                })
            }
            _ => None,
        }
    }

    fn frame(&self, body: &[u8], keyframe: bool) -> Option<Vec<u8>> {
        match self.config.as_ref()? {
            Config::Avc(config) => {
                let units = crate::webrtc::h264::frame_units(config, body, keyframe).ok()?;
                Some(stap::aggregate(&units, stap::RTP_PAYLOAD_MAX))
            }
            Config::Hevc { length_size, sets } => {
                let mut out = Vec::with_capacity(body.len() + 128);
                let has_vps = avc::nal_units(body, *length_size)
                    .any(|n| n.is_ok_and(|n| n.first().is_some_and(|b| (b >> 1) & 0x3f == 32)));
                if keyframe && !has_vps {
                    for set in sets {
                        avc::push_annexb(&mut out, set);
                    }
                }
                avc::avcc_to_annexb(body, *length_size, &mut out).ok()?;
                Some(out)
            }
            Config::Vp9 => (!body.is_empty()).then(|| body.to_vec()),
            Config::Av1 { sequence_header } => av1_unit(body, keyframe, sequence_header.as_deref()),
        }
    }
}

fn parse_config(codec: VideoCodec, record: &[u8]) -> Option<Config> {
    match codec {
        VideoCodec::H264 => AvcConfig::parse(record).ok().map(Config::Avc),
        VideoCodec::Hevc => {
            let (length_size, sets) = hvcc_parameter_sets(record)?;
            Some(Config::Hevc { length_size, sets })
        }
        VideoCodec::Vp9 => Some(Config::Vp9),
        VideoCodec::Av1 => {
            let config = av1::Av1Config::parse(record).ok()?;
            let sequence_header = whole_obus(&config.config_obus)
                .into_iter()
                .find(|(t, _)| *t == av1::OBU_SEQUENCE_HEADER)
                .map(|(_, obu)| obu.to_vec());
            Some(Config::Av1 { sequence_header })
        }
    }
}

/// The OBUs of `data` with their headers: `(type, whole OBU)`; stops at the first broken one.
pub fn whole_obus(data: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let header = data[pos];
        let obu_type = (header >> 3) & 0x0f;
        let mut at = pos + 1 + usize::from(header & 0x04 != 0);
        let end = if header & 0x02 != 0 {
            let mut size = 0u64;
            let mut done = false;
            for i in 0..8 {
                let Some(byte) = data.get(at) else { break };
                at += 1;
                size |= u64::from(byte & 0x7f) << (i * 7);
                if byte & 0x80 == 0 {
                    done = true;
                    break;
                }
            }
            match usize::try_from(size).ok().and_then(|s| at.checked_add(s)) {
                Some(end) if done && end <= data.len() => end,
                _ => break,
            }
        } else {
            data.len()
        };
        if at > end {
            break;
        }
        out.push((obu_type, &data[pos..end]));
        pos = end;
    }
    out
}

/// An AV1 temporal unit for the packetizer: temporal delimiters dropped, the sequence header in
/// front of a key frame that lacks one. `None` when its OBUs do not parse or nothing is left.
fn av1_unit(body: &[u8], keyframe: bool, sequence_header: Option<&[u8]>) -> Option<Vec<u8>> {
    let obus = whole_obus(body);
    if obus.iter().map(|(_, o)| o.len()).sum::<usize>() != body.len() {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() + 32);
    let has_header = obus.iter().any(|(t, _)| *t == av1::OBU_SEQUENCE_HEADER);
    if keyframe && !has_header {
        out.extend_from_slice(sequence_header.unwrap_or_default());
    }
    for (obu_type, obu) in obus {
        if obu_type != av1::OBU_TEMPORAL_DELIMITER {
            out.extend_from_slice(obu);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The video codecs an SDP offer carries (names from `a=rtpmap` of its video sections, upper case,
/// in order, without RTX/RED/FEC), e.g. `["VP8", "VP9", "H264", "AV1"]`.
pub fn offered_video_codecs(sdp: &str) -> Vec<String> {
    let mut in_video = false;
    let mut out: Vec<String> = Vec::new();
    for line in sdp.lines().take(10_000) {
        let line = line.trim_end();
        if line.starts_with("m=") {
            in_video = line.starts_with("m=video");
            continue;
        }
        let Some(rest) = line.strip_prefix("a=rtpmap:").filter(|_| in_video) else {
            continue;
        };
        let Some(name) = rest
            .split_whitespace()
            .nth(1)
            .and_then(|e| e.split('/').next())
        else {
            continue;
        };
        let name = name.to_ascii_uppercase();
        let helper = matches!(name.as_str(), "RTX" | "RED" | "ULPFEC" | "FLEXFEC-03");
        if !helper && !out.contains(&name) && out.len() < 32 {
            out.push(name);
        }
    }
    out
}

/// The offer with each video section's H.264 payload types moved to the front of its `m=` line:
/// the answer lists them first, so a browser that offers H.264 among others publishes H.264,
/// which every player (RTMP, HTTP-FLV, HLS TS) takes. A page that wants VP9 or AV1 offers only
/// those (`setCodecPreferences`).
pub fn h264_first(sdp: &str) -> String {
    let lines: Vec<&str> = sdp.split_inclusive('\n').collect();
    let mut out = String::with_capacity(sdp.len());
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if !line.starts_with("m=video") {
            out.push_str(line);
            i += 1;
            continue;
        }
        let end = (i + 1..lines.len())
            .find(|j| lines[*j].starts_with("m="))
            .unwrap_or(lines.len());
        let h264: Vec<&str> = lines[i + 1..end]
            .iter()
            .filter_map(|l| l.trim_end().strip_prefix("a=rtpmap:"))
            .filter_map(|rest| rest.split_once(' '))
            .filter(|(_, codec)| codec.to_ascii_uppercase().starts_with("H264/"))
            .map(|(pt, _)| pt)
            .collect();
        let bare = line.trim_end_matches(['\r', '\n']);
        let ending = &line[bare.len()..];
        let fields: Vec<&str> = bare.split(' ').collect();
        if fields.len() > 3 {
            let (head, pts) = fields.split_at(3);
            let mut ordered: Vec<&str> = pts.iter().copied().filter(|p| h264.contains(p)).collect();
            ordered.extend(pts.iter().copied().filter(|p| !h264.contains(p)));
            out.push_str(&[head.join(" "), ordered.join(" ")].join(" "));
            out.push_str(ending);
        } else {
            out.push_str(line);
        }
        i += 1;
    }
    out
}

/// Whether an offer's video sections carry `codec` (HEVC is `H265` in SDP).
pub fn offers(sdp: &str, codec: VideoCodec) -> bool {
    offered_video_codecs(sdp)
        .iter()
        .any(|c| c == codec.sdp_name())
}

#[cfg(test)]
#[path = "video_tests.rs"]
mod tests;
