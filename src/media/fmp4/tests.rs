use super::*;
use crate::media::sample_frames::{self, publish};

fn run(muxer: &mut Fmp4Muxer, frames: &[(TagKind, u32, Bytes)]) -> Vec<Fmp4Output> {
    let mut out = Vec::new();
    for (kind, ts, payload) in frames {
        muxer.push(*kind, *ts, payload, &mut out);
    }
    muxer.finish(&mut out);
    out
}

fn fragments(out: &[Fmp4Output]) -> Vec<&FragmentInfo> {
    out.iter()
        .filter_map(|o| match o {
            Fmp4Output::Fragment(f) => Some(f),
            Fmp4Output::Init(_) => None,
        })
        .collect()
}

#[test]
fn init_first_then_a_fragment_per_gop() {
    let mut muxer = Fmp4Muxer::new(5_000);
    let out = run(&mut muxer, &publish(1000, 4, 25));
    assert!(matches!(out[0], Fmp4Output::Init(_)));
    assert_eq!(
        out.iter()
            .filter(|o| matches!(o, Fmp4Output::Init(_)))
            .count(),
        1
    );
    let fragments = fragments(&out);
    assert_eq!(fragments.len(), 4, "one per 1 s GOP");
    assert!(fragments.iter().all(|f| f.independent));
    assert_eq!(fragments[0].start_ms, 0);
    assert_eq!(fragments[1].start_ms, 1000);
    let total: u64 = fragments.iter().map(|f| f.duration_ms).sum();
    assert_eq!(total, 4000);
    for f in &fragments {
        assert_eq!(&f.data[4..8], b"moof");
    }
}

#[test]
fn long_gops_are_cut_on_time() {
    let mut muxer = Fmp4Muxer::new(1_000);
    let out = run(&mut muxer, &publish(0, 6, 125));
    let fragments = fragments(&out);
    assert!(fragments.len() >= 6, "{}", fragments.len());
    assert!(fragments[0].independent);
    assert!(!fragments[1].independent);
    // Small parts (LL-HLS) come from a small fragment duration.
    let mut parts = Fmp4Muxer::new(200);
    assert!(fragments_len(&mut parts, 2) >= 10);
}

fn fragments_len(muxer: &mut Fmp4Muxer, seconds: u32) -> usize {
    fragments(&run(muxer, &publish(0, seconds, 50))).len()
}

#[test]
fn waits_for_a_keyframe_and_counts_what_it_drops() {
    let mut muxer = Fmp4Muxer::new(1_000);
    let mut out = Vec::new();
    muxer.push(
        TagKind::Video,
        0,
        &sample_frames::video_sequence_header(),
        &mut out,
    );
    muxer.push(
        TagKind::Video,
        40,
        &sample_frames::video_frame(false),
        &mut out,
    );
    assert!(out.is_empty());
    assert!(!muxer.started());
    assert_eq!(muxer.dropped_frames(), 1);
    muxer.push(
        TagKind::Video,
        80,
        &sample_frames::video_frame(true),
        &mut out,
    );
    assert!(muxer.started());
    assert!(matches!(out[0], Fmp4Output::Init(_)));
}

#[test]
fn a_new_sequence_header_after_init_is_reported() {
    let mut muxer = Fmp4Muxer::new(1_000);
    let out = run(&mut muxer, &publish(0, 1, 25));
    assert!(!out.is_empty());
    assert!(!muxer.config_changed());
    let mut other = sample_frames::audio_sequence_header().to_vec();
    other[2] = 0x11; // 48 kHz
    muxer.push(TagKind::Audio, 2000, &Bytes::from(other), &mut Vec::new());
    assert!(muxer.config_changed());
}

#[test]
fn audio_only_streams_start_at_once() {
    let mut muxer = Fmp4Muxer::new(1_000);
    let frames: Vec<_> = publish(0, 3, 25)
        .into_iter()
        .filter(|(kind, _, _)| *kind == TagKind::Audio)
        .collect();
    let out = run(&mut muxer, &frames);
    assert!(matches!(out[0], Fmp4Output::Init(_)));
    assert!(fragments(&out).len() >= 3);
}

#[test]
fn timestamps_that_jump_back_continue_the_timeline() {
    let mut muxer = Fmp4Muxer::new(10_000);
    let mut frames = publish(50_000, 2, 25);
    frames.extend(publish(0, 2, 25).into_iter().skip(2));
    let out = run(&mut muxer, &frames);
    let fragments = fragments(&out);
    for pair in fragments.windows(2) {
        assert!(pair[1].start_ms >= pair[0].start_ms, "{pair:?}");
    }
}

#[test]
fn garbage_never_panics() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..300 {
        let mut muxer = Fmp4Muxer::new(next() % 2000);
        let mut out = Vec::new();
        for (kind, ts, payload) in publish(0, 1, 10) {
            let mut bytes = payload.to_vec();
            match next() % 4 {
                0 => bytes.truncate((next() % 8) as usize),
                1 if !bytes.is_empty() => {
                    let i = (next() as usize) % bytes.len();
                    bytes[i] = next() as u8;
                }
                2 => bytes.extend((0..next() % 40).map(|_| next() as u8)),
                _ => {}
            }
            let ts = if next() % 10 == 0 { next() as u32 } else { ts };
            muxer.push(kind, ts, &Bytes::from(bytes), &mut out);
        }
        muxer.push(TagKind::Video, 0, &Bytes::new(), &mut out);
        muxer.push(TagKind::Audio, 0, &Bytes::new(), &mut out);
        muxer.finish(&mut out);
    }
}

/// FFmpeg 9 / SVT-AV1's av1C for 160x96 (as in `media::av1`'s tests).
const AV1C_160X96: [u8; 17] = [
    0x81, 0x00, 0x0c, 0x00, 0x0a, 0x0b, 0x02, 0x00, 0x00, 0x05, 0x1d, 0xa7, 0xef, 0x80, 0x5f, 0x00,
    0x08,
];

fn av1_tag(
    frame_type: u8,
    packet_type: crate::media::ertmp::VideoPacketType,
    body: &[u8],
) -> Bytes {
    let mut tag = Vec::new();
    crate::media::ertmp::write_video(
        &mut tag,
        frame_type,
        packet_type,
        crate::media::ertmp::FourCc::AV01,
        0,
        body,
    );
    Bytes::from(tag)
}

/// The bytes of every `mdat` in `data`.
fn mdat_payloads(data: &[u8]) -> Vec<Vec<u8>> {
    let mut payloads = Vec::new();
    let mut pos = 0;
    while pos + 8 <= data.len() {
        let size = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        if size < 8 || pos + size > data.len() {
            break;
        }
        if &data[pos + 4..pos + 8] == b"mdat" {
            payloads.push(data[pos + 8..pos + size].to_vec());
        }
        pos += size;
    }
    payloads
}

#[test]
fn av1_samples_carry_no_temporal_delimiters() {
    use crate::media::ertmp::{VideoPacketType, FRAME_TYPE_INTER, FRAME_TYPE_KEY};
    let seq = &AV1C_160X96[4..];
    // A key temporal unit: TD, sequence header, key frame; an inter one: TD, frame; one with a
    // TD in the middle too (a malformed unit still loses them all) and one that is only a TD.
    let mut key = vec![0x12, 0x00];
    key.extend_from_slice(seq);
    key.extend_from_slice(&[0x32, 0x02, 0x10, 0x00]);
    let inter = [0x12, 0x00, 0x32, 0x02, 0x30, 0x00];
    let twice = [
        0x12, 0x00, 0x32, 0x02, 0x30, 0x00, 0x12, 0x00, 0x32, 0x01, 0x30,
    ];
    let mut muxer = Fmp4Muxer::new(10_000);
    let mut out = Vec::new();
    let frames = [
        av1_tag(FRAME_TYPE_KEY, VideoPacketType::SequenceStart, &AV1C_160X96),
        av1_tag(FRAME_TYPE_KEY, VideoPacketType::CodedFrames, &key),
        av1_tag(FRAME_TYPE_INTER, VideoPacketType::CodedFrames, &inter),
        av1_tag(
            FRAME_TYPE_INTER,
            VideoPacketType::CodedFrames,
            &[0x12, 0x00],
        ),
        av1_tag(FRAME_TYPE_INTER, VideoPacketType::CodedFrames, &twice),
    ];
    for (i, frame) in frames.iter().enumerate() {
        muxer.push(TagKind::Video, i as u32 * 40, frame, &mut out);
    }
    muxer.finish(&mut out);
    assert_eq!(muxer.dropped_frames(), 1, "the unit that was only a TD");
    let mdat: Vec<u8> = fragments(&out)
        .iter()
        .flat_map(|f| mdat_payloads(&f.data))
        .flatten()
        .collect();
    let mut expected = key[2..].to_vec();
    expected.extend_from_slice(&inter[2..]);
    expected.extend_from_slice(&[0x32, 0x02, 0x30, 0x00, 0x32, 0x01, 0x30]);
    assert_eq!(mdat, expected);
    // Zero-copy when there is nothing to drop; unparsable units stay as they came.
    let clean = Bytes::from_static(&[0x32, 0x02, 0x30, 0x00]);
    assert_eq!(without_temporal_delimiters(clean.clone()), clean);
    let truncated = Bytes::from_static(&[0x12, 0x00, 0x32, 0x09, 0x30]);
    assert_eq!(without_temporal_delimiters(truncated.clone()), truncated);
}
