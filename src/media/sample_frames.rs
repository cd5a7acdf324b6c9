//! Synthetic FLV frames for unit tests: a 320x240 H.264 sequence header, tiny key and inter frames,
//! an AAC-LC 44.1 kHz stereo sequence header and audio frames, and a publish of N seconds of them.

use super::flv::TagKind;
use bytes::Bytes;

const SPS: [u8; 22] = [
    0x67, 0x42, 0xc0, 0x0d, 0xda, 0x05, 0x07, 0xec, 0x04, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00,
    0x00, 0x0c, 0x83, 0xc5, 0x0a, 0xa8,
];
const PPS: [u8; 4] = [0x68, 0xce, 0x3c, 0x80];

pub fn video_sequence_header() -> Bytes {
    let mut payload = vec![0x17, 0, 0, 0, 0, 1, SPS[1], SPS[2], SPS[3], 0xff, 0xe1];
    payload.extend_from_slice(&(SPS.len() as u16).to_be_bytes());
    payload.extend_from_slice(&SPS);
    payload.push(1);
    payload.extend_from_slice(&(PPS.len() as u16).to_be_bytes());
    payload.extend_from_slice(&PPS);
    Bytes::from(payload)
}

pub fn video_frame(keyframe: bool) -> Bytes {
    let nal_type = if keyframe { 0x65 } else { 0x41 };
    Bytes::from(vec![
        if keyframe { 0x17 } else { 0x27 },
        1,
        0,
        0,
        0,
        0,
        0,
        0,
        3,
        nal_type,
        0x88,
        0x84,
    ])
}

pub fn audio_sequence_header() -> Bytes {
    Bytes::from_static(&[0xaf, 0, 0x12, 0x10])
}

pub fn audio_frame() -> Bytes {
    Bytes::from_static(&[0xaf, 1, 0x21, 0x10, 0x04, 0x60])
}

/// Sequence headers, then `seconds` of 25 fps video (a keyframe every `gop` frames) interleaved
/// with ~43 AAC frames a second, timestamps from `start_ms`.
pub fn publish(start_ms: u32, seconds: u32, gop: u32) -> Vec<(TagKind, u32, Bytes)> {
    let mut frames = vec![
        (TagKind::Video, start_ms, video_sequence_header()),
        (TagKind::Audio, start_ms, audio_sequence_header()),
    ];
    let mut audio_ms = 0.0f64;
    for i in 0..seconds * 25 {
        let ms = i * 40;
        frames.push((TagKind::Video, start_ms + ms, video_frame(i % gop == 0)));
        while audio_ms < f64::from(ms + 40) {
            frames.push((TagKind::Audio, start_ms + audio_ms as u32, audio_frame()));
            audio_ms += 1024.0 * 1000.0 / 44_100.0;
        }
    }
    frames
}
