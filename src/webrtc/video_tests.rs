use super::*;
use crate::media::ertmp::{write_video, FRAME_TYPE_INTER, FRAME_TYPE_KEY};

fn ex(frame_type: u8, packet: VideoPacketType, fourcc: FourCc, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_video(&mut out, frame_type, packet, fourcc, 0, body);
    out
}

/// The sequence header OBU of FFmpeg 9 / SVT-AV1's av1C for 160x96 (`media::av1`'s test record).
const SEQ_OBU: &[u8] = &[
    0x0a, 0x0b, 0x02, 0x00, 0x00, 0x05, 0x1d, 0xa7, 0xef, 0x80, 0x5f, 0x00, 0x08,
];
const TD_OBU: &[u8] = &[0x12, 0x00];
/// An OBU_FRAME whose first payload bits say: show_existing_frame 0, frame_type KEY (0).
const KEY_FRAME_OBU: &[u8] = &[0x32, 0x03, 0x10, 0x00, 0x00];
/// frame_type INTER (1).
const INTER_FRAME_OBU: &[u8] = &[0x32, 0x03, 0x30, 0x00, 0x00];

#[test]
fn the_stream_codec_comes_from_its_tags() {
    assert_eq!(
        VideoCodec::of_tag(&[0x17, 0, 0, 0, 0]),
        Some(VideoCodec::H264)
    );
    assert_eq!(
        VideoCodec::of_tag(&[0x1c, 0, 0, 0, 0]),
        Some(VideoCodec::Hevc)
    );
    let vp9 = ex(
        FRAME_TYPE_KEY,
        VideoPacketType::SequenceStart,
        FourCc::VP09,
        &[1; 12],
    );
    assert_eq!(VideoCodec::of_tag(&vp9), Some(VideoCodec::Vp9));
    let av1 = ex(
        FRAME_TYPE_KEY,
        VideoPacketType::SequenceStart,
        FourCc::AV01,
        &[0x81],
    );
    assert_eq!(VideoCodec::of_tag(&av1), Some(VideoCodec::Av1));
    let vp8 = ex(
        FRAME_TYPE_KEY,
        VideoPacketType::SequenceStart,
        FourCc::VP08,
        &[],
    );
    assert_eq!(VideoCodec::of_tag(&vp8), None);
    assert_eq!(VideoCodec::of_tag(&[0x12, 0]), None);
    assert_eq!(VideoCodec::of_tag(&[]), None);
}

#[test]
fn vp9_frames_pass_through_once_configured() {
    let mut rtp = RtpVideo::new(VideoCodec::Vp9);
    let key = [0x82, 0x49, 0x83, 0x42, 0x00, 0x13, 0xf0, 0x0e, 0xf0];
    let tag = ex(
        FRAME_TYPE_KEY,
        VideoPacketType::CodedFrames,
        FourCc::VP09,
        &key,
    );
    // No vpcC yet: nothing (a player joins with the configuration first).
    assert_eq!(rtp.push(&tag, 0), None);
    let config = ex(
        FRAME_TYPE_KEY,
        VideoPacketType::SequenceStart,
        FourCc::VP09,
        &[1, 0, 0, 0, 0, 10, 0x80, 0, 0, 0, 0, 0],
    );
    assert_eq!(rtp.push(&config, 0), None);
    assert_eq!(
        rtp.push(&tag, 40),
        Some(RtpFrame {
            data: key.to_vec(),
            pts_ms: 40
        })
    );
    // Another codec's tags are not this player's.
    assert_eq!(rtp.push(&[0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65], 80), None);
}

fn av1_config() -> Vec<u8> {
    let mut record = vec![0x81, 0x04, 0x0c, 0x00];
    record.extend_from_slice(SEQ_OBU);
    ex(
        FRAME_TYPE_KEY,
        VideoPacketType::SequenceStart,
        FourCc::AV01,
        &record,
    )
}

#[test]
fn av1_key_frames_get_the_sequence_header_and_lose_temporal_delimiters() {
    let mut rtp = RtpVideo::new(VideoCodec::Av1);
    assert_eq!(rtp.push(&av1_config(), 0), None);
    let key_unit = [TD_OBU, KEY_FRAME_OBU].concat();
    let key = ex(
        FRAME_TYPE_KEY,
        VideoPacketType::CodedFrames,
        FourCc::AV01,
        &key_unit,
    );
    let frame = rtp.push(&key, 0).unwrap();
    assert_eq!(frame.data, [SEQ_OBU, KEY_FRAME_OBU].concat());
    // A key frame carrying its own sequence header keeps just that one.
    let own = [TD_OBU, SEQ_OBU, KEY_FRAME_OBU].concat();
    let tag = ex(
        FRAME_TYPE_KEY,
        VideoPacketType::CodedFrames,
        FourCc::AV01,
        &own,
    );
    assert_eq!(
        rtp.push(&tag, 0).unwrap().data,
        [SEQ_OBU, KEY_FRAME_OBU].concat()
    );
    let inter_unit = [TD_OBU, INTER_FRAME_OBU].concat();
    let inter = ex(
        FRAME_TYPE_INTER,
        VideoPacketType::CodedFrames,
        FourCc::AV01,
        &inter_unit,
    );
    assert_eq!(rtp.push(&inter, 33).unwrap().data, INTER_FRAME_OBU);
    // A broken OBU size: dropped, not sent half.
    let broken = ex(
        FRAME_TYPE_INTER,
        VideoPacketType::CodedFrames,
        FourCc::AV01,
        &[0x32, 0x7f, 1],
    );
    assert_eq!(rtp.push(&broken, 66), None);
}

#[test]
fn hevc_key_frames_get_vps_sps_pps_in_front() {
    let vps = [0x40, 0x01, 0x0c];
    let sps = [0x42, 0x01, 0x01];
    let pps = [0x44, 0x01, 0xc1];
    let mut record = vec![1u8; 22];
    record[21] = 0x03; // 4-byte lengths
    record.push(3);
    for (kind, unit) in [(32u8, &vps), (33, &sps), (34, &pps)] {
        record.extend_from_slice(&[kind, 0, 1, 0, unit.len() as u8]);
        record.extend_from_slice(unit);
    }
    let (length_size, sets) = hvcc_parameter_sets(&record).unwrap();
    assert_eq!((length_size, sets.len()), (4, 3));
    let mut rtp = RtpVideo::new(VideoCodec::Hevc);
    let config = ex(
        FRAME_TYPE_KEY,
        VideoPacketType::SequenceStart,
        FourCc::HVC1,
        &record,
    );
    assert_eq!(rtp.push(&config, 0), None);
    // An IDR_W_RADL slice (type 19).
    let body = [0, 0, 0, 3, 0x26, 0x01, 0xaf];
    let tag = ex(
        FRAME_TYPE_KEY,
        VideoPacketType::CodedFramesX,
        FourCc::HVC1,
        &body,
    );
    let frame = rtp.push(&tag, 0).unwrap();
    let units = crate::webrtc::h264::split_annexb(&frame.data);
    assert_eq!(units, vec![&vps[..], &sps, &pps, &[0x26, 0x01, 0xaf]]);
    assert!(hvcc_parameter_sets(&record[..30]).is_none());
}

#[test]
fn offers_list_their_video_codecs_without_helpers() {
    let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 45 102 103\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\n\
a=rtpmap:98 VP9/90000\r\na=rtpmap:45 AV1/90000\r\na=rtpmap:102 H264/90000\r\na=rtpmap:103 H264/90000\r\n\
a=rtpmap:104 red/90000\r\na=rtpmap:105 ulpfec/90000\r\n";
    assert_eq!(offered_video_codecs(sdp), ["VP8", "VP9", "AV1", "H264"]);
    assert!(offers(sdp, VideoCodec::Av1));
    assert!(!offers(sdp, VideoCodec::Hevc));
    assert!(offered_video_codecs("garbage").is_empty());
}

#[test]
fn h264_goes_first_in_video_sections_only() {
    let sdp = "m=audio 9 RTP 111 0\r\na=rtpmap:111 opus/48000/2\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96 98 102 45\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:98 VP9/90000\r\n\
a=rtpmap:102 H264/90000\r\na=rtpmap:45 AV1/90000\r\n";
    let out = h264_first(sdp);
    assert!(
        out.contains("m=video 9 UDP/TLS/RTP/SAVPF 102 96 98 45\r\n"),
        "{out}"
    );
    assert!(out.starts_with("m=audio 9 RTP 111 0\r\n"));
    assert_eq!(out.len(), sdp.len());
    assert_eq!(h264_first("m=video 9\n"), "m=video 9\n");
}
