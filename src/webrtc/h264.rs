//! H.264 between the hub and RTP: a hub frame (FLV AVC tag: AVCC length-prefixed NAL units) becomes
//! an Annex-B access unit for the RTP packetizer (RFC 6184: SPS/PPS go in front of every key frame,
//! where the packetizer aggregates them into one STAP-A, and large units are split into FU-A), and
//! an access unit from a WHIP publisher (depacketized to Annex-B) becomes FLV AVC tags, with a
//! sequence header built from its SPS/PPS whenever they change.

use crate::media::avc::{self, AvcConfig, AvcError};

const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
const NAL_AUD: u8 = 9;
const NAL_IDR: u8 = 5;

/// What an FLV AVC tag body (legacy or E-RTMP `avc1`) carries.
#[derive(Debug, PartialEq, Eq)]
pub enum FlvAvc<'a> {
    /// The AVCDecoderConfigurationRecord.
    Config(&'a [u8]),
    /// Length-prefixed NAL units and their composition time offset (ms).
    Frame {
        body: &'a [u8],
        composition_time: i32,
        keyframe: bool,
    },
}

/// Read an FLV video tag body as H.264; `None` for other codecs, end-of-sequence and commands.
pub fn read_flv(payload: &[u8]) -> Option<FlvAvc<'_>> {
    use crate::media::ertmp::{self, FourCc, VideoPacketType};
    let first = *payload.first()?;
    if ertmp::is_ex_video(payload) {
        let header = ertmp::parse_video(payload).ok()?;
        if header.fourcc != FourCc::AVC1 || header.command.is_some() {
            return None;
        }
        let body = payload.get(header.body)?;
        return match header.packet_type {
            VideoPacketType::SequenceStart => Some(FlvAvc::Config(body)),
            VideoPacketType::CodedFrames | VideoPacketType::CodedFramesX => Some(FlvAvc::Frame {
                body,
                composition_time: header.composition_time,
                keyframe: header.frame_type == ertmp::FRAME_TYPE_KEY,
            }),
            _ => None,
        };
    }
    if first & 0x0f != 7 || payload.len() < 5 {
        return None;
    }
    let body = &payload[5..];
    match payload[1] {
        0 => Some(FlvAvc::Config(body)),
        1 => Some(FlvAvc::Frame {
            body,
            composition_time: (i32::from(payload[2]) << 24
                | i32::from(payload[3]) << 16
                | i32::from(payload[4]) << 8)
                >> 8,
            keyframe: first >> 4 == 1,
        }),
        _ => None,
    }
}

/// Largest access unit a WHIP publisher may hand in (a 4K intra frame is well below).
pub const MAX_ACCESS_UNIT: usize = 8 * 1024 * 1024;

/// The Annex-B access unit of an AVCC frame body (the FLV payload after its 5-byte header). A key
/// frame gets the stream's SPS and PPS in front unless it carries its own.
pub fn to_annexb(config: &AvcConfig, body: &[u8], keyframe: bool) -> Result<Vec<u8>, AvcError> {
    let mut out = Vec::with_capacity(body.len() + 64);
    if keyframe {
        let has_sps = avc::nal_units(body, config.nalu_length_size)
            .any(|n| n.is_ok_and(|n| n.first().is_some_and(|b| b & 0x1f == NAL_SPS)));
        if !has_sps {
            for nalu in config.sps.iter().chain(config.pps.iter()) {
                avc::push_annexb(&mut out, nalu);
            }
        }
    }
    avc::avcc_to_annexb(body, config.nalu_length_size, &mut out)?;
    Ok(out)
}

/// The NAL units of an AVCC frame body, with the stream's SPS and PPS in front of a key frame
/// that carries none (what [`to_annexb`] writes, as slices for `stap::aggregate`).
pub fn frame_units<'a>(
    config: &'a AvcConfig,
    body: &'a [u8],
    keyframe: bool,
) -> Result<Vec<&'a [u8]>, AvcError> {
    let body_units =
        avc::nal_units(body, config.nalu_length_size).collect::<Result<Vec<_>, _>>()?;
    let mut units = Vec::with_capacity(body_units.len() + 2);
    if keyframe
        && !body_units
            .iter()
            .any(|n| n.first().is_some_and(|b| b & 0x1f == NAL_SPS))
    {
        units.extend(config.sps.iter().chain(config.pps.iter()).map(|s| &s[..]));
    }
    units.extend(body_units);
    Ok(units)
}

/// The NAL units of an Annex-B stream (3- or 4-byte start codes), empty units skipped.
pub fn split_annexb(data: &[u8]) -> Vec<&[u8]> {
    let mut units = Vec::new();
    let mut start = None;
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            if let Some(s) = start {
                let mut end = i;
                // A 4-byte start code's leading zero belongs to it, not to the unit before.
                while end > s && data[end - 1] == 0 {
                    end -= 1;
                }
                if end > s {
                    units.push(&data[s..end]);
                }
            }
            i += 3;
            start = Some(i);
        } else {
            i += 1;
        }
    }
    if let Some(s) = start {
        if s < data.len() {
            units.push(&data[s..]);
        }
    }
    units
}

/// The FLV AVC sequence header (tag body) of one SPS and one PPS.
pub fn sequence_header(sps: &[u8], pps: &[u8]) -> Option<Vec<u8>> {
    if sps.len() < 4 || sps.len() > usize::from(u16::MAX) || pps.len() > usize::from(u16::MAX) {
        return None;
    }
    let mut out = vec![0x17, 0x00, 0, 0, 0, 1, sps[1], sps[2], sps[3], 0xff, 0xe1];
    out.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    out.extend_from_slice(sps);
    out.push(1);
    out.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    out.extend_from_slice(pps);
    Some(out)
}

/// Turns a publisher's Annex-B access units into FLV AVC tag bodies.
#[derive(Debug, Default)]
pub struct AvcIngest {
    sps: Option<Vec<u8>>,
    pps: Option<Vec<u8>>,
    /// The SPS/PPS the last sequence header carried.
    announced: Option<(Vec<u8>, Vec<u8>)>,
}

/// What one access unit became.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct AvcTags {
    /// A new sequence header, to go before `frame`.
    pub sequence_header: Option<Vec<u8>>,
    /// The frame's tag body; `None` until the first SPS/PPS (a decoder could not use it).
    pub frame: Option<Vec<u8>>,
    pub keyframe: bool,
}

impl AvcIngest {
    pub fn push(&mut self, access_unit: &[u8]) -> AvcTags {
        let mut tags = AvcTags::default();
        if access_unit.len() > MAX_ACCESS_UNIT {
            return tags;
        }
        let mut body = vec![0x27, 0x01, 0, 0, 0];
        for nalu in split_annexb(access_unit) {
            match nalu[0] & 0x1f {
                NAL_SPS => self.sps = Some(nalu.to_vec()),
                NAL_PPS => self.pps = Some(nalu.to_vec()),
                NAL_AUD => {}
                kind => {
                    tags.keyframe |= kind == NAL_IDR;
                    body.extend_from_slice(&(nalu.len() as u32).to_be_bytes());
                    body.extend_from_slice(nalu);
                }
            }
        }
        let (Some(sps), Some(pps)) = (&self.sps, &self.pps) else {
            return tags;
        };
        if self.announced.as_ref() != Some(&(sps.clone(), pps.clone())) {
            tags.sequence_header = sequence_header(sps, pps);
            if tags.sequence_header.is_some() {
                self.announced = Some((sps.clone(), pps.clone()));
            }
        }
        if self.announced.is_none() || body.len() == 5 {
            return tags;
        }
        if tags.keyframe {
            body[0] = 0x17;
        }
        tags.frame = Some(body);
        tags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPS: &[u8] = &[0x67, 0x42, 0xc0, 0x1f, 0xda];
    const PPS: &[u8] = &[0x68, 0xce, 0x3c, 0x80];

    fn config() -> AvcConfig {
        AvcConfig {
            profile_indication: 0x42,
            profile_compatibility: 0xc0,
            level_indication: 0x1f,
            nalu_length_size: 4,
            sps: vec![bytes::Bytes::from_static(SPS)],
            pps: vec![bytes::Bytes::from_static(PPS)],
        }
    }

    #[test]
    fn key_frames_get_the_parameter_sets_in_front() {
        let body = [0, 0, 0, 3, 0x65, 0xaa, 0xbb];
        let key = to_annexb(&config(), &body, true).unwrap();
        assert_eq!(
            split_annexb(&key),
            vec![SPS, PPS, &[0x65u8, 0xaa, 0xbb][..]]
        );
        let inter = to_annexb(&config(), &[0, 0, 0, 2, 0x41, 0x01], false).unwrap();
        assert_eq!(inter, [0, 0, 0, 1, 0x41, 0x01]);
        assert!(to_annexb(&config(), &[0, 0, 0, 9, 0x41], false).is_err());
    }

    #[test]
    fn reads_legacy_and_enhanced_avc_tags() {
        assert_eq!(
            read_flv(&[0x17, 0, 0, 0, 0, 1, 2]),
            Some(FlvAvc::Config(&[1, 2]))
        );
        assert_eq!(
            read_flv(&[0x27, 1, 0, 0, 40, 9]),
            Some(FlvAvc::Frame {
                body: &[9],
                composition_time: 40,
                keyframe: false
            })
        );
        let mut ex = Vec::new();
        crate::media::ertmp::write_video(
            &mut ex,
            crate::media::ertmp::FRAME_TYPE_KEY,
            crate::media::ertmp::VideoPacketType::CodedFrames,
            crate::media::ertmp::FourCc::AVC1,
            -2,
            &[5, 6],
        );
        assert_eq!(
            read_flv(&ex),
            Some(FlvAvc::Frame {
                body: &[5, 6],
                composition_time: -2,
                keyframe: true
            })
        );
        assert_eq!(read_flv(&[0x12, 1, 0, 0, 0]), None); // another legacy codec
        assert_eq!(read_flv(&[0x17, 1]), None);
        assert_eq!(read_flv(&[]), None);
    }

    #[test]
    fn splits_three_and_four_byte_start_codes() {
        let data = [
            0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 2, 0, 0, 0, 1, 0x65, 3, 0,
        ];
        assert_eq!(
            split_annexb(&data),
            vec![&[0x67u8, 1][..], &[0x68, 2], &[0x65, 3, 0]]
        );
        assert!(split_annexb(&[1, 2, 3]).is_empty());
        assert!(split_annexb(&[0, 0, 1]).is_empty());
    }

    #[test]
    fn a_publisher_access_unit_becomes_a_sequence_header_and_a_key_frame() {
        let mut ingest = AvcIngest::default();
        // An inter frame before any SPS: nothing a decoder could use.
        assert_eq!(ingest.push(&[0, 0, 0, 1, 0x41, 9]), AvcTags::default());
        let mut au = vec![0, 0, 0, 1];
        au.extend_from_slice(SPS);
        au.extend_from_slice(&[0, 0, 0, 1]);
        au.extend_from_slice(PPS);
        au.extend_from_slice(&[0, 0, 0, 1, 0x65, 7, 7]);
        let tags = ingest.push(&au);
        let header = tags.sequence_header.unwrap();
        let parsed = AvcConfig::parse(&header[5..]).unwrap();
        assert_eq!(parsed.sps[0].as_ref(), SPS);
        assert_eq!(parsed.pps[0].as_ref(), PPS);
        assert!(tags.keyframe);
        assert_eq!(
            tags.frame.unwrap(),
            [0x17, 1, 0, 0, 0, 0, 0, 0, 3, 0x65, 7, 7]
        );
        // The same parameter sets again: no new header.
        let again = ingest.push(&au);
        assert!(again.sequence_header.is_none() && again.frame.is_some());
        let inter = ingest.push(&[0, 0, 1, 0x41, 5]);
        assert_eq!(
            inter.frame.unwrap(),
            [0x27, 1, 0, 0, 0, 0, 0, 0, 2, 0x41, 5]
        );
    }
}
