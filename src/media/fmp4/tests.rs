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
