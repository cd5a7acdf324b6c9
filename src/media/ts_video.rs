//! Video access units for MPEG-TS from FLV-style frames: the configuration record (avcC or hvcC)
//! gives the NAL length size and the parameter sets; a frame becomes an Annex-B access unit with
//! the codec's access unit delimiter first and the parameter sets before a keyframe that lacks
//! them (a reader joining there, or FFmpeg after loss, must find them in band).

use super::avc::{self, AvcConfig};
use super::ts::TsVideo;
use super::ts_tags::VideoKind;

/// H.264 AUD (nal_unit_type 9, primary_pic_type 7: any slice type).
const AVC_AUD: [u8; 6] = [0, 0, 0, 1, 0x09, 0xf0];
/// HEVC AUD (nal_unit_type 35, layer 0, temporal id 1; pic_type 2: I, P or B slices).
const HEVC_AUD: [u8; 7] = [0, 0, 0, 1, 0x46, 0x01, 0x50];
const AVC_NAL_SPS: u8 = 7;
const AVC_NAL_AUD: u8 = 9;
const HEVC_NAL_VPS: u8 = 32;
const HEVC_NAL_PPS: u8 = 34;
const HEVC_NAL_AUD: u8 = 35;
/// Parameter sets kept from one record, in bytes: far above any real VPS+SPS+PPS.
const MAX_PARAMETER_BYTES: usize = 64 * 1024;

/// One video configuration, ready to make access units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsVideoConfig {
    pub coding: TsVideo,
    length_size: u8,
    /// VPS/SPS/PPS (HEVC) or SPS/PPS (H.264), in the record's order.
    parameter_sets: Vec<Vec<u8>>,
}

impl TsVideoConfig {
    /// From a sequence header's record; `None` when it does not parse.
    pub fn parse(kind: VideoKind, record: &[u8]) -> Option<TsVideoConfig> {
        match kind {
            VideoKind::Avc => {
                let config = AvcConfig::parse(record).ok()?;
                Some(TsVideoConfig {
                    coding: TsVideo::H264,
                    length_size: config.nalu_length_size,
                    parameter_sets: config
                        .sps
                        .iter()
                        .chain(config.pps.iter())
                        .map(|n| n.to_vec())
                        .collect(),
                })
            }
            VideoKind::Hevc => hevc_record(record),
        }
    }

    fn nal_type(&self, nalu: &[u8]) -> Option<u8> {
        let header = *nalu.first()?;
        Some(match self.coding {
            TsVideo::H264 => header & 0x1f,
            TsVideo::Hevc => (header >> 1) & 0x3f,
        })
    }

    /// Builds the Annex-B access unit of `data` (length-prefixed NAL units) in `out` (cleared
    /// first); false when the frame is malformed or holds nothing but delimiters.
    pub fn access_unit(&self, data: &[u8], keyframe: bool, out: &mut Vec<u8>) -> bool {
        if avc::nal_units(data, self.length_size).any(|n| n.is_err()) {
            return false;
        }
        out.clear();
        let (aud, aud_type) = match self.coding {
            TsVideo::H264 => (&AVC_AUD[..], AVC_NAL_AUD),
            TsVideo::Hevc => (&HEVC_AUD[..], HEVC_NAL_AUD),
        };
        out.extend_from_slice(aud);
        let in_band = avc::nal_units(data, self.length_size).flatten().any(|n| {
            match (self.coding, self.nal_type(n)) {
                (TsVideo::H264, Some(t)) => t == AVC_NAL_SPS,
                (TsVideo::Hevc, Some(t)) => (HEVC_NAL_VPS..=HEVC_NAL_PPS).contains(&t),
                _ => false,
            }
        });
        if keyframe && !in_band {
            for nalu in &self.parameter_sets {
                avc::push_annexb(out, nalu);
            }
        }
        let before = out.len();
        for nalu in avc::nal_units(data, self.length_size).flatten() {
            if self.nal_type(nalu).is_some_and(|t| t != aud_type) {
                avc::push_annexb(out, nalu);
            }
        }
        out.len() > before
    }
}

/// The HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3): the NAL length size from byte
/// 21, then arrays of NAL units; VPS, SPS and PPS are kept.
fn hevc_record(record: &[u8]) -> Option<TsVideoConfig> {
    if record.len() < 23 || record[0] != 1 {
        return None;
    }
    let length_size = (record[21] & 0x03) + 1;
    if length_size == 3 {
        return None;
    }
    let arrays = record[22];
    let mut pos = 23;
    let mut parameter_sets = Vec::new();
    let mut kept = 0;
    for _ in 0..arrays {
        let nal_type = record.get(pos)? & 0x3f;
        let count = u16::from_be_bytes([*record.get(pos + 1)?, *record.get(pos + 2)?]);
        pos += 3;
        for _ in 0..count {
            let len = usize::from(u16::from_be_bytes([
                *record.get(pos)?,
                *record.get(pos + 1)?,
            ]));
            let nalu = record.get(pos + 2..pos + 2 + len)?;
            pos += 2 + len;
            kept += len;
            if (HEVC_NAL_VPS..=HEVC_NAL_PPS).contains(&nal_type)
                && !nalu.is_empty()
                && kept <= MAX_PARAMETER_BYTES
            {
                parameter_sets.push(nalu.to_vec());
            }
        }
    }
    Some(TsVideoConfig {
        coding: TsVideo::Hevc,
        length_size,
        parameter_sets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An hvcC with one VPS, one SPS and one PPS (bodies shortened: only their headers matter).
    fn hvcc() -> Vec<u8> {
        let mut record = vec![1, 1, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 93, 0xf0, 0, 0xfc];
        record.extend_from_slice(&[0xfd, 0xf8, 0xf8, 0, 0, 0x0f, 3]);
        for (nal_type, body) in [
            (32u8, &[0x40, 1, 0xc][..]),
            (33, &[0x42, 1, 1]),
            (34, &[0x44, 1]),
        ] {
            record.push(0x80 | nal_type);
            record.extend_from_slice(&1u16.to_be_bytes());
            record.extend_from_slice(&(body.len() as u16).to_be_bytes());
            record.extend_from_slice(body);
        }
        record
    }

    #[test]
    fn hevc_keyframes_get_aud_and_parameter_sets() {
        let config = TsVideoConfig::parse(VideoKind::Hevc, &hvcc()).unwrap();
        assert_eq!(config.coding, TsVideo::Hevc);
        assert_eq!(config.parameter_sets.len(), 3);
        // An IDR_W_RADL slice (type 19) and an AUD of the source that must not be repeated.
        let frame = [0, 0, 0, 3, 0x46, 1, 0x50, 0, 0, 0, 3, 19 << 1, 1, 0xaf];
        let mut out = Vec::new();
        assert!(config.access_unit(&frame, true, &mut out));
        let mut want = HEVC_AUD.to_vec();
        for ps in [
            &[0x40, 1, 0xc][..],
            &[0x42, 1, 1],
            &[0x44, 1],
            &[19 << 1, 1, 0xaf],
        ] {
            want.extend_from_slice(&[0, 0, 0, 1]);
            want.extend_from_slice(ps);
        }
        assert_eq!(out, want);
        // Inter frames get no parameter sets.
        assert!(config.access_unit(&frame, false, &mut out));
        assert_eq!(out.len(), HEVC_AUD.len() + 4 + 3);
        // Only an AUD: nothing to write. Truncated: refused.
        assert!(!config.access_unit(&frame[..7], false, &mut out));
        assert!(!config.access_unit(&frame[..9], false, &mut out));
    }

    #[test]
    fn bad_records_are_refused() {
        let record = hvcc();
        for len in 0..record.len() {
            // Any prefix either parses with fewer sets or is refused; never a panic.
            let _ = TsVideoConfig::parse(VideoKind::Hevc, &record[..len]);
        }
        assert!(TsVideoConfig::parse(VideoKind::Hevc, &record[..20]).is_none());
        assert!(TsVideoConfig::parse(VideoKind::Avc, &[1, 2, 3]).is_none());
    }
}
