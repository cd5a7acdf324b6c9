//! Opus between E-RTMP and RTP (RFC 7587: one Opus packet per RTP payload, 48 kHz clock): the
//! packet of a hub audio frame, and the E-RTMP tags a WHIP publisher's packets become.

use crate::media::ertmp::{self, AudioPacketType, FourCc};

/// The Opus packet of an E-RTMP coded-frames audio tag; `None` for anything else (a sequence
/// start, another codec, legacy FLV audio).
pub fn packet(tag: &[u8]) -> Option<&[u8]> {
    let header = ertmp::parse_audio(tag).ok()?;
    (header.fourcc == FourCc::OPUS && header.packet_type == AudioPacketType::CodedFrames)
        .then(|| tag.get(header.body))
        .flatten()
}

/// Whether an audio tag is E-RTMP Opus (of any packet type).
pub fn is_opus(tag: &[u8]) -> bool {
    ertmp::parse_audio(tag).is_ok_and(|h| h.fourcc == FourCc::OPUS)
}

/// The E-RTMP sequence start of a WebRTC Opus track: an `OpusHead` (RFC 7845 §5.1) for 48 kHz,
/// `channels` channels, the usual 3840-sample pre-skip… of an encoder we did not see: 0.
pub fn sequence_start(channels: u8) -> Vec<u8> {
    let mut head = Vec::with_capacity(19);
    head.extend_from_slice(b"OpusHead");
    head.push(1);
    head.push(channels);
    head.extend_from_slice(&0u16.to_le_bytes());
    head.extend_from_slice(&48_000u32.to_le_bytes());
    head.extend_from_slice(&0i16.to_le_bytes());
    head.push(0);
    let mut out = Vec::with_capacity(24);
    ertmp::write_audio(
        &mut out,
        AudioPacketType::SequenceStart,
        FourCc::OPUS,
        &head,
    );
    out
}

/// The E-RTMP coded-frames tag of one Opus packet.
pub fn coded_frame(packet: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(packet.len() + 5);
    ertmp::write_audio(&mut out, AudioPacketType::CodedFrames, FourCc::OPUS, packet);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_go_in_and_out_of_ertmp_tags() {
        let tag = coded_frame(&[0xfc, 1, 2]);
        assert!(is_opus(&tag));
        assert_eq!(packet(&tag), Some(&[0xfc, 1, 2][..]));
        let start = sequence_start(2);
        assert!(is_opus(&start));
        assert_eq!(packet(&start), None);
        let head = crate::media::opus::OpusHead::parse(&start[5..]).unwrap();
        assert_eq!((head.channels, head.input_sample_rate), (2, 48_000));
        // Legacy AAC audio is not Opus.
        assert_eq!(packet(&[0xaf, 0x01, 0x21]), None);
        assert!(!is_opus(&[]));
    }
}
