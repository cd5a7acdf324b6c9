//! A WHIP publisher's VP9 and AV1 frames into E-RTMP `vp09`/`av01` tags, with the configuration
//! record built from the bitstream, since WebRTC carries none: `vpcC` from a VP9 key frame's
//! uncompressed header (profile, bit depth), `av1C` from the sequence header OBU that browsers send
//! with every key frame (profile, level, tier; the record's other fields are read by players from
//! the OBU it carries). A new record goes out whenever it changes; frames wait for the first one.

use super::h264::AvcTags;
use super::video::VideoCodec;
use crate::media::bits::BitReader;
use crate::media::ertmp::{self, FourCc, VideoPacketType, FRAME_TYPE_INTER, FRAME_TYPE_KEY};
use crate::media::{av1, vp9};

/// Largest frame taken (as for H.264).
pub const MAX_FRAME: usize = super::h264::MAX_ACCESS_UNIT;

/// VP9 or AV1 frames of one publisher to E-RTMP tag bodies.
#[derive(Debug, Default)]
pub struct ExIngest {
    announced: Option<Vec<u8>>,
}

impl ExIngest {
    /// One depacketized frame of `codec` (VP9 or AV1; other codecs give nothing).
    pub fn push(&mut self, codec: VideoCodec, frame: &[u8]) -> AvcTags {
        let mut tags = AvcTags::default();
        if frame.is_empty() || frame.len() > MAX_FRAME {
            return tags;
        }
        let (fourcc, keyframe, record) = match codec {
            VideoCodec::Vp9 => {
                let key = vp9::frame_info(frame).is_some_and(|f| f.keyframe);
                (FourCc::VP09, key, if key { vpcc(frame) } else { None })
            }
            VideoCodec::Av1 => {
                let key = av1::is_key_temporal_unit(frame).unwrap_or(false);
                (FourCc::AV01, key, av1c(frame))
            }
            VideoCodec::H264 | VideoCodec::Hevc => return tags,
        };
        if let Some(record) = record.filter(|r| self.announced.as_ref() != Some(r)) {
            let mut header = Vec::with_capacity(record.len() + 5);
            ertmp::write_video(
                &mut header,
                FRAME_TYPE_KEY,
                VideoPacketType::SequenceStart,
                fourcc,
                0,
                &record,
            );
            tags.sequence_header = Some(header);
            self.announced = Some(record);
        }
        if self.announced.is_none() {
            return tags;
        }
        let frame_type = if keyframe {
            FRAME_TYPE_KEY
        } else {
            FRAME_TYPE_INTER
        };
        let mut body = Vec::with_capacity(frame.len() + 5);
        ertmp::write_video(
            &mut body,
            frame_type,
            VideoPacketType::CodedFrames,
            fourcc,
            0,
            frame,
        );
        tags.keyframe = keyframe;
        tags.frame = Some(body);
        tags
    }
}

/// The VPCodecConfigurationRecord (version 1) of a VP9 key frame: profile, level 3.1 (WebRTC
/// says none; players do not need it), bit depth, 4:2:0 or 4:4:4 by profile, BT.709.
pub fn vpcc(frame: &[u8]) -> Option<Vec<u8>> {
    let mut bits = BitReader::new(frame);
    if bits.read_bits(2).ok()? != 2 {
        return None;
    }
    let low = bits.read_bit().ok()? as u8;
    let high = bits.read_bit().ok()? as u8;
    let profile = high << 1 | low;
    if profile == 3 {
        bits.read_bit().ok()?;
    }
    // show_existing_frame, frame_type (0 = key), show_frame, error_resilient_mode, sync code.
    if bits.read_bit().ok()? || bits.read_bit().ok()? {
        return None;
    }
    bits.read_bits(2).ok()?;
    if bits.read_bits(24).ok()? != 0x49_83_42 {
        return None;
    }
    let bit_depth: u8 = if profile >= 2 {
        if bits.read_bit().ok()? {
            12
        } else {
            10
        }
    } else {
        8
    };
    // 1: 4:2:0 co-located with luma (what libvpx writes); 3: 4:4:4 for profiles 1 and 3.
    let chroma: u8 = if profile % 2 == 1 { 3 } else { 1 };
    Some(vec![
        1,
        0,
        0,
        0,
        profile,
        31,
        bit_depth << 4 | chroma << 1,
        1,
        1,
        1,
        0,
        0,
    ])
}

/// The AV1CodecConfigurationRecord of a temporal unit carrying a sequence header OBU.
pub fn av1c(unit: &[u8]) -> Option<Vec<u8>> {
    let (_, obu) = super::video::whole_obus(unit)
        .into_iter()
        .find(|(t, _)| *t == av1::OBU_SEQUENCE_HEADER)?;
    let (_, payload) = av1::obus(obu).next()?.ok()?;
    let (profile, level, tier) = level_and_tier(payload)?;
    // Bit depth and subsampling by the profile's usual form (Main: 8-bit 4:2:0, High: 4:4:4,
    // Professional: 4:2:2); decoders read the exact values from the OBU itself.
    let (ssx, ssy) = match profile {
        1 => (0, 0),
        2 => (1, 0),
        _ => (1, 1),
    };
    let mut record = vec![
        0x81,
        profile << 5 | level,
        tier << 7 | ssx << 3 | ssy << 2,
        0,
    ];
    record.extend_from_slice(obu);
    Some(record)
}

/// seq_profile, the first operating point's seq_level_idx and seq_tier of a sequence header.
fn level_and_tier(payload: &[u8]) -> Option<(u8, u8, u8)> {
    let mut bits = BitReader::new(payload);
    let profile = bits.read_bits(3).ok()? as u8;
    let _still = bits.read_bit().ok()?;
    if bits.read_bit().ok()? {
        // reduced_still_picture_header
        return Some((profile, bits.read_bits(5).ok()? as u8, 0));
    }
    if bits.read_bit().ok()? {
        // timing_info: num_units_in_display_tick, time_scale, equal_picture_interval.
        bits.read_bits(32).ok()?;
        bits.read_bits(32).ok()?;
        if bits.read_bit().ok()? {
            // num_ticks_per_picture_minus_1 (uvlc)
            let mut zeros = 0u32;
            while !bits.read_bit().ok()? {
                zeros += 1;
                if zeros >= 32 {
                    return None;
                }
            }
            bits.read_bits(zeros).ok()?;
        }
        if bits.read_bit().ok()? {
            // decoder_model_info: its delay lengths only matter past the first level.
            bits.read_bits(5).ok()?;
            bits.read_bits(32).ok()?;
            bits.read_bits(10).ok()?;
        }
    }
    let _initial_display_delay = bits.read_bit().ok()?;
    let _operating_points = bits.read_bits(5).ok()?;
    let _idc = bits.read_bits(12).ok()?;
    let level = bits.read_bits(5).ok()? as u8;
    let tier = if level > 7 {
        bits.read_bit().ok()? as u8
    } else {
        0
    };
    Some((profile, level, tier))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FFmpeg 9 / SVT-AV1's sequence header OBU for 160x96 (`media::av1`'s test record).
    const SEQ_OBU: &[u8] = &[
        0x0a, 0x0b, 0x02, 0x00, 0x00, 0x05, 0x1d, 0xa7, 0xef, 0x80, 0x5f, 0x00, 0x08,
    ];
    const KEY_FRAME_OBU: &[u8] = &[0x32, 0x03, 0x10, 0x00, 0x00];
    const INTER_FRAME_OBU: &[u8] = &[0x32, 0x03, 0x30, 0x00, 0x00];
    /// A VP9 profile 0 key frame header (frame marker, profile, key, shown, sync code, 8-bit).
    const VP9_KEY: &[u8] = &[0x82, 0x49, 0x83, 0x42, 0x00, 0x13, 0xf0, 0x0e, 0xf0];
    const VP9_INTER: &[u8] = &[0x86, 0x00, 0x40, 0x92];

    #[test]
    fn av1_gets_an_av1c_record_from_the_key_frame_sequence_header() {
        let record = av1c(&[SEQ_OBU, KEY_FRAME_OBU].concat()).unwrap();
        let config = av1::Av1Config::parse(&record).unwrap();
        assert_eq!(config.seq_profile, 0);
        assert_eq!(config.config_obus, SEQ_OBU);
        assert_eq!(config.dimensions().unwrap(), (160, 96));
        assert_eq!(av1c(KEY_FRAME_OBU), None);

        let mut ingest = ExIngest::default();
        // An inter frame before any sequence header: nothing a player could decode.
        assert_eq!(
            ingest.push(VideoCodec::Av1, INTER_FRAME_OBU),
            AvcTags::default()
        );
        let key = ingest.push(VideoCodec::Av1, &[SEQ_OBU, KEY_FRAME_OBU].concat());
        let header = key.sequence_header.unwrap();
        assert_eq!(
            crate::media::tag_class::video(&header),
            crate::media::tag_class::VideoClass::Config
        );
        assert!(key.keyframe);
        let frame = key.frame.unwrap();
        assert_eq!(
            crate::media::tag_class::video(&frame),
            crate::media::tag_class::VideoClass::Key
        );
        // The same sequence header again: no new record.
        let again = ingest.push(VideoCodec::Av1, &[SEQ_OBU, KEY_FRAME_OBU].concat());
        assert!(again.sequence_header.is_none() && again.keyframe);
        let inter = ingest.push(VideoCodec::Av1, INTER_FRAME_OBU);
        assert!(!inter.keyframe);
        assert!(inter.frame.unwrap().ends_with(INTER_FRAME_OBU));
    }

    #[test]
    fn vp9_gets_a_vpcc_record_from_its_key_frames() {
        let record = vpcc(VP9_KEY).unwrap();
        let config = vp9::Vp9Config::parse(&record).unwrap();
        assert_eq!((config.profile, config.bit_depth), (0, 8));
        assert_eq!(vpcc(VP9_INTER), None);
        let mut ingest = ExIngest::default();
        assert_eq!(ingest.push(VideoCodec::Vp9, VP9_INTER), AvcTags::default());
        let key = ingest.push(VideoCodec::Vp9, VP9_KEY);
        assert!(key.sequence_header.is_some() && key.keyframe);
        let inter = ingest.push(VideoCodec::Vp9, VP9_INTER);
        assert!(inter.sequence_header.is_none() && !inter.keyframe);
        assert!(inter.frame.unwrap().ends_with(VP9_INTER));
        assert_eq!(ingest.push(VideoCodec::H264, VP9_KEY), AvcTags::default());
        assert_eq!(ingest.push(VideoCodec::Vp9, &[]), AvcTags::default());
    }
}
