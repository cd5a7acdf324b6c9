//! Unit tests of the fMP4 segmenter, its LL-HLS playlists and the blocking-reload rules.

use super::cmaf::{CmafConfig, CmafSegmenter};
use super::format::{SegmentFormat, StreamSegmenter};
use super::ll_playlist::{directives, part_readiness, readiness, Position, Readiness};
use super::HlsConfig;
use crate::media::flv::TagKind;
use crate::media::sample_frames::publish;

fn ll(window: usize) -> CmafSegmenter {
    CmafSegmenter::new(CmafConfig {
        stream: "cam".into(),
        fragment_ms: 1000,
        window,
        part_ms: Some(200),
    })
}

fn feed(seg: &mut CmafSegmenter, seconds: u32, gop: u32) {
    for (kind, ts, payload) in publish(0, seconds, gop) {
        seg.push(kind, ts, &payload);
    }
}

#[test]
fn parts_make_segments_cut_at_keyframes() {
    let mut seg = ll(6);
    feed(&mut seg, 5, 25);
    let text = seg.live_playlist(false).unwrap();
    assert!(
        text.starts_with("#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:1\n"),
        "{text}"
    );
    assert!(text.contains(
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=6.000,PART-HOLD-BACK=0.600\n"
    ));
    assert!(text.contains("#EXT-X-PART-INF:PART-TARGET=0.200\n"));
    assert!(text.contains("#EXT-X-MAP:URI=\"cam-init.mp4\"\n"));
    assert!(text.contains("#EXTINF:1.000,\ncam-0.m4s\n"), "{text}");
    assert!(text.contains(",INDEPENDENT=YES\n"));
    let parts: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("#EXT-X-PART:"))
        .collect();
    assert!(parts.len() >= 10, "{text}");
    for line in &parts {
        let duration: f64 = line["#EXT-X-PART:DURATION=".len()..]
            .split(',')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(duration <= 0.2, "{line}");
    }
    let position = seg.position();
    let hint = format!(
        "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"cam-p{}.m4s\"\n",
        position.next_part
    );
    assert!(text.ends_with(&hint), "{text}");
    // Each segment is its parts, back to back, starting with a moof.
    let segment = seg.segment(0).unwrap();
    assert_eq!(&segment.data[4..8], b"moof");
    assert_eq!(&seg.init(0).unwrap()[4..8], b"ftyp");
    assert!(seg.part(position.next_part - 1).is_some());
    assert!(seg.part(position.next_part).is_none());
    // The disk's playlist has no parts.
    let plain = seg.playlist().unwrap();
    assert!(plain.contains("#EXT-X-VERSION:6\n") && !plain.contains("#EXT-X-PART"));
}

#[test]
fn delta_updates_skip_old_segments() {
    let mut seg = ll(12);
    feed(&mut seg, 12, 25);
    let full = seg.live_playlist(false).unwrap();
    let delta = seg.live_playlist(true).unwrap();
    assert!(!full.contains("#EXT-X-SKIP"));
    let skipped: usize = delta
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-SKIP:SKIPPED-SEGMENTS="))
        .expect(&delta)
        .parse()
        .unwrap();
    assert!(skipped >= 4, "{delta}");
    assert!(!delta.contains("\ncam-0.m4s\n"));
    assert_eq!(
        full.matches("#EXTINF").count(),
        delta.matches("#EXTINF").count() + skipped
    );
}

#[test]
fn blocking_rules_follow_the_edge() {
    let at = Position {
        msn: 5,
        parts: 2,
        next_part: 40,
        ended: false,
        started: true,
    };
    assert_eq!(readiness(at, 5, Some(1)), Readiness::Ready);
    assert_eq!(readiness(at, 5, Some(2)), Readiness::Wait);
    assert_eq!(readiness(at, 4, None), Readiness::Ready);
    assert_eq!(readiness(at, 5, None), Readiness::Wait);
    assert_eq!(readiness(at, 7, Some(0)), Readiness::Wait);
    assert_eq!(readiness(at, 8, None), Readiness::TooFar);
    assert_eq!(part_readiness(at, 39), Readiness::Ready);
    assert_eq!(part_readiness(at, 40), Readiness::Wait);
    assert_eq!(part_readiness(at, 41), Readiness::TooFar);
    let ended = Position { ended: true, ..at };
    assert_eq!(readiness(ended, 6, None), Readiness::Ready);
    let d = directives("_HLS_msn=5&_HLS_part=2&_HLS_skip=YES").unwrap();
    assert_eq!((d.block, d.skip), (Some((5, Some(2))), true));
    assert!(directives("_HLS_part=2").is_err());
    assert!(directives("_HLS_msn=x").is_err());
    assert_eq!(directives("vhost=a").unwrap().block, None);
}

#[test]
fn auto_picks_ts_for_h264_and_fmp4_otherwise() {
    let config = HlsConfig {
        stream: "cam".into(),
        fragment_ms: 1000,
        window: 6,
    };
    let mut h264 = StreamSegmenter::new(config.clone(), SegmentFormat::Auto, None);
    for (kind, ts, payload) in publish(0, 3, 25) {
        h264.push(kind, ts, &payload);
    }
    assert_eq!(h264.is_fmp4(), Some(false));
    assert!(h264.playlist().unwrap().contains("cam-0.ts"));
    let mut hevc = StreamSegmenter::new(config.clone(), SegmentFormat::Auto, None);
    hevc.push(
        TagKind::Video,
        0,
        &bytes::Bytes::from_static(b"\x90hvc1\x01"),
    );
    let mut irap = b"\x91hvc1\x00\x00\x00".to_vec();
    irap.extend_from_slice(&[0, 0, 0, 2, 19 << 1, 1]);
    hevc.push(TagKind::Video, 0, &bytes::Bytes::from(irap));
    assert_eq!(hevc.is_fmp4(), Some(true));
    let forced = StreamSegmenter::new(config, SegmentFormat::Fmp4, None);
    assert_eq!(forced.is_fmp4(), Some(true));
}

#[test]
fn a_republish_starts_a_new_init_and_a_discontinuity() {
    let mut seg = ll(6);
    feed(&mut seg, 3, 25);
    seg.end_of_stream();
    assert!(seg
        .live_playlist(false)
        .unwrap()
        .ends_with("#EXT-X-ENDLIST\n"));
    feed(&mut seg, 3, 25);
    let text = seg.live_playlist(false).unwrap();
    assert!(
        text.contains("#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"cam-init1.mp4\"\n"),
        "{text}"
    );
    assert!(seg.init(1).is_some());
}

#[test]
fn garbage_never_panics() {
    let mut seg = ll(3);
    let mut state = 7u32;
    for i in 0..3000u32 {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let len = (state >> 24) as usize % 40;
        let bytes: Vec<u8> = (0..len).map(|j| (state >> (j % 24)) as u8).collect();
        let kind = if state & 1 == 0 {
            TagKind::Video
        } else {
            TagKind::Audio
        };
        seg.push(kind, i * 10, &bytes::Bytes::from(bytes));
    }
    let _ = seg.live_playlist(true);
}

/// `frames` with the video as E-RTMP `avc1` tags: H.264 that the TS muxer does not read, so `auto`
/// picks fMP4 for it.
fn enhanced(frames: Vec<(TagKind, u32, bytes::Bytes)>) -> Vec<(TagKind, u32, bytes::Bytes)> {
    use crate::media::ertmp::{write_video, FourCc, VideoPacketType};
    frames
        .into_iter()
        .map(|(kind, ts, payload)| {
            if kind != TagKind::Video {
                return (kind, ts, payload);
            }
            let packet = if payload[1] == 0 {
                VideoPacketType::SequenceStart
            } else {
                VideoPacketType::CodedFrames
            };
            let mut tag = Vec::new();
            write_video(
                &mut tag,
                payload[0] >> 4,
                packet,
                FourCc::AVC1,
                0,
                &payload[5..],
            );
            (kind, ts, bytes::Bytes::from(tag))
        })
        .collect()
}

/// Publishes `frames` as a new publish of `seg` (after the previous one ended), as the worker
/// does under `auto`; returns what changed.
fn republish(
    seg: &mut StreamSegmenter,
    frames: Vec<(TagKind, u32, bytes::Bytes)>,
) -> super::Update {
    seg.end_of_stream();
    seg.redecide();
    seg.resume();
    let mut merged = super::Update::default();
    for (kind, ts, payload) in frames {
        merged.merge(seg.push(kind, ts, &payload));
    }
    merged
}

#[test]
fn auto_follows_a_republish_with_other_codecs() {
    let config = HlsConfig {
        stream: "cam".into(),
        fragment_ms: 1000,
        window: 6,
    };
    let mut seg = StreamSegmenter::new(config, SegmentFormat::Auto, None);
    republish(&mut seg, publish(0, 3, 25));
    assert_eq!(seg.is_fmp4(), Some(false));
    let ts_files = {
        seg.end_of_stream();
        seg.held_files()
    };
    assert_eq!(ts_files, ["cam-0.ts", "cam-1.ts", "cam-2.ts"]);

    // Other codecs: fMP4 continues the numbering after a discontinuity, the TS files go.
    let update = republish(&mut seg, enhanced(publish(0, 3, 25)));
    assert_eq!(seg.is_fmp4(), Some(true));
    assert_eq!(update.removed, ts_files);
    let text = seg.playlist().unwrap();
    assert!(
        text.contains(
            "#EXT-X-MEDIA-SEQUENCE:3\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"cam-init.mp4\"\n"
        ),
        "{text}"
    );
    assert!(text.contains("#EXT-X-VERSION:6\n"), "{text}");
    assert!(!text.contains(".ts"), "{text}");

    // Back to H.264/AAC: TS again, one discontinuity further.
    let update = republish(&mut seg, publish(0, 3, 25));
    assert_eq!(seg.is_fmp4(), Some(false));
    assert!(update.removed.contains(&"cam-init.mp4".to_string()));
    assert!(update.removed.contains(&"cam-3.m4s".to_string()));
    let text = seg.playlist().unwrap();
    assert!(
        text.contains("#EXT-X-MEDIA-SEQUENCE:6\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n"),
        "{text}"
    );
    assert!(text.contains("#EXT-X-DISCONTINUITY\n#EXTINF:"), "{text}");
    assert!(
        text.contains("cam-6.ts") && !text.contains(".m4s"),
        "{text}"
    );

    // fMP4 once more: a new init name, so no cache serves the first one.
    republish(&mut seg, enhanced(publish(0, 3, 25)));
    let text = seg.playlist().unwrap();
    assert!(
        text.contains("#EXT-X-MAP:URI=\"cam-init1.mp4\"\n"),
        "{text}"
    );
    assert!(text.contains("#EXT-X-DISCONTINUITY-SEQUENCE:2\n"), "{text}");

    // The same codecs again: the segmenter goes on, nothing is removed.
    let update = republish(&mut seg, enhanced(publish(0, 3, 25)));
    assert!(update.removed.is_empty());
    assert!(seg.playlist().unwrap().contains("cam-init1.mp4"));
}

#[test]
fn while_a_republish_waits_for_its_codecs_the_previous_playlist_is_served() {
    let config = HlsConfig {
        stream: "cam".into(),
        fragment_ms: 1000,
        window: 6,
    };
    let mut seg = StreamSegmenter::new(config, SegmentFormat::Auto, None);
    for (kind, ts, payload) in publish(0, 3, 25) {
        seg.push(kind, ts, &payload);
    }
    seg.end_of_stream();
    assert!(seg.playlist().unwrap().ends_with("#EXT-X-ENDLIST\n"));
    seg.redecide();
    seg.resume();
    // Only sequence headers so far: nothing chosen, the TS playlist (live again) answers.
    for (kind, ts, payload) in enhanced(publish(0, 3, 25)).into_iter().take(2) {
        seg.push(kind, ts, &payload);
    }
    assert_eq!(seg.is_fmp4(), Some(false));
    let text = seg.playlist().unwrap();
    assert!(
        text.contains("cam-2.ts") && !text.contains("ENDLIST"),
        "{text}"
    );
    assert!(seg.segment(2).is_some());
    // It leaves again before a coded frame: the playlist ends as it did.
    seg.end_of_stream();
    assert!(seg.playlist().unwrap().ends_with("#EXT-X-ENDLIST\n"));
}

#[test]
fn a_file_copy_of_ll_hls_has_parts_but_no_blocking() {
    let mut seg = ll(6);
    feed(&mut seg, 3, 25);
    let text = seg.file_playlist().unwrap();
    assert!(
        text.contains("#EXT-X-SERVER-CONTROL:PART-HOLD-BACK=0.600\n"),
        "{text}"
    );
    assert!(!text.contains("CAN-BLOCK-RELOAD") && !text.contains("CAN-SKIP"));
    assert!(text.contains("#EXT-X-PART:") && text.contains("#EXT-X-PRELOAD-HINT:"));
    // Everything else is what the worker serves.
    let served = seg.live_playlist(false).unwrap();
    let strip = |t: &str| {
        t.lines()
            .filter(|l| !l.starts_with("#EXT-X-SERVER-CONTROL"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&text), strip(&served));
}

#[test]
fn parts_leaving_the_playlist_are_reported() {
    let mut seg = ll(6);
    let mut added = Vec::new();
    let mut evicted = Vec::new();
    for (kind, ts, payload) in publish(0, 8, 25) {
        let update = seg.push(kind, ts, &payload);
        added.extend(update.parts.iter().map(|p| p.id));
        evicted.extend(update.evicted_parts);
    }
    assert!(!evicted.is_empty());
    let text = seg.live_playlist(false).unwrap();
    for id in &evicted {
        assert!(!text.contains(&format!("cam-p{id}.m4s")), "{id}: {text}");
        assert!(seg.part(*id).is_none());
    }
    // Every part that came is either listed (and held) or was reported gone.
    let held = seg.held_parts();
    for id in &added {
        assert!(held.contains(id) != evicted.contains(id), "{id}");
    }
}
