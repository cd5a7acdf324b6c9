//! Unit tests of the E-RTMP headers: what FFmpeg 9 sends, round trips, multitrack, bad input.

use super::*;

#[test]
fn parses_what_ffmpeg_sends() {
    // FFmpeg 9's HEVC key frame: CodedFrames, composition time 200, then NAL units.
    let tag = [
        0x91, b'h', b'v', b'c', b'1', 0, 0, 0xc8, 0, 0, 0, 2, 0x28, 1,
    ];
    let h = parse_video(&tag).unwrap();
    assert_eq!(h.frame_type, FRAME_TYPE_KEY);
    assert_eq!(h.packet_type, VideoPacketType::CodedFrames);
    assert_eq!(h.fourcc, FourCc::HVC1);
    assert_eq!(h.composition_time, 200);
    assert_eq!(&tag[h.body], &[0, 0, 0, 2, 0x28, 1]);
    // AV1 coded frames have no composition time.
    let tag = [0x91, b'a', b'v', b'0', b'1', 0x12, 0];
    let h = parse_video(&tag).unwrap();
    assert_eq!(&tag[h.body], &[0x12, 0]);
    // Opus sequence start.
    let tag = b"\x90OpusOpusHead";
    let a = parse_audio(tag).unwrap();
    assert_eq!(a.packet_type, AudioPacketType::SequenceStart);
    assert_eq!(a.fourcc, FourCc::OPUS);
    assert_eq!(&tag[a.body], b"OpusHead");
}

#[test]
fn roundtrips_single_and_multitrack() {
    let mut out = Vec::new();
    write_video(
        &mut out,
        2,
        VideoPacketType::CodedFrames,
        FourCc::HVC1,
        -5,
        &[9, 9],
    );
    let h = parse_video(&out).unwrap();
    assert_eq!((h.composition_time, h.frame_type), (-5, 2));
    assert_eq!(&out[h.body], &[9, 9]);

    let mut out = Vec::new();
    write_video_multitrack(
        &mut out,
        1,
        VideoPacketType::CodedFramesX,
        FourCc::AV01,
        &[(3, &[1, 2, 3]), (4, &[5])],
    );
    let h = parse_video(&out).unwrap();
    assert_eq!(h.multitrack, Some(MultitrackType::ManyTracks));
    assert_eq!((h.track_id, h.fourcc), (3, FourCc::AV01));
    assert_eq!(&out[h.body], &[1, 2, 3]);

    let mut out = Vec::new();
    write_audio_multitrack(
        &mut out,
        AudioPacketType::CodedFrames,
        FourCc::OPUS,
        &[(0, &[7])],
    );
    let a = parse_audio(&out).unwrap();
    assert_eq!(a.multitrack, Some(MultitrackType::OneTrack));
    assert_eq!(&out[a.body], &[7]);

    let mut out = Vec::new();
    write_audio(
        &mut out,
        AudioPacketType::MultichannelConfig,
        FourCc::OPUS,
        &[1, 2],
    );
    assert_eq!(
        parse_audio(&out).unwrap().packet_type,
        AudioPacketType::MultichannelConfig
    );
}

#[test]
fn skips_mod_ex_and_reads_commands_and_many_codecs() {
    // ModEx (3 bytes of nanosecond offset), then CodedFramesX of vp09.
    let tag = [0x97, 2, 0, 1, 2, 0x03, b'v', b'p', b'0', b'9', 0x82];
    let h = parse_video(&tag).unwrap();
    assert_eq!(h.packet_type, VideoPacketType::CodedFramesX);
    assert_eq!(&tag[h.body], &[0x82]);
    // A command frame: no FourCC, one command byte.
    let h = parse_video(&[0xd1, 0]).unwrap();
    assert_eq!(h.command, Some(0));
    // Many tracks, many codecs: the first track's FourCC is its own.
    let tag = [
        0x96, 0x21, b'h', b'v', b'c', b'1', 0, 0, 0, 4, 0, 0, 0, 7, b'a',
    ];
    let h = parse_video(&tag).unwrap();
    assert_eq!(h.fourcc, FourCc::HVC1);
    assert_eq!(&tag[h.body], &[7]);
}

#[test]
fn refuses_malformed_headers() {
    assert_eq!(parse_video(&[]), Err(ErtmpError::Truncated));
    assert_eq!(parse_video(&[0x17, 0]), Err(ErtmpError::NotEnhanced));
    assert_eq!(parse_video(&[0x91, b'h', b'v']), Err(ErtmpError::Truncated));
    assert!(matches!(
        parse_video(b"\x91xxxx"),
        Err(ErtmpError::UnknownFourCc(_))
    ));
    assert_eq!(
        parse_video(b"\x98hvc1"),
        Err(ErtmpError::ReservedPacketType(8))
    );
    assert_eq!(
        parse_video(b"\x96\x16hvc1"),
        Err(ErtmpError::NestedMultitrack)
    );
    assert!(matches!(
        parse_video(b"\x96\x11hvc1\x00\x00\x00\x09ab"),
        Err(ErtmpError::TrackOverrun {
            size: 9,
            available: 2
        })
    ));
    assert_eq!(parse_video(&[0x97, 0xff, 0xff]), Err(ErtmpError::Truncated));
    assert_eq!(parse_audio(&[0xaf, 1]), Err(ErtmpError::NotEnhanced));
    assert_eq!(
        parse_audio(b"\x93Opus"),
        Err(ErtmpError::ReservedPacketType(3))
    );
    assert!(matches!(
        parse_audio(b"\x91avc1"),
        Err(ErtmpError::UnknownFourCc(_))
    ));
}
