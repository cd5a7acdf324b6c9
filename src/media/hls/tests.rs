//! The segmenter's unit tests.

use super::frames::AUD;
use super::*;

const SPS: [u8; 22] = [
    0x67, 0x42, 0xc0, 0x0d, 0xda, 0x05, 0x07, 0xec, 0x04, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00,
    0x00, 0x0c, 0x83, 0xc5, 0x0a, 0xa8,
];
const PPS: [u8; 4] = [0x68, 0xce, 0x3c, 0x80];

fn video_sequence_header() -> Vec<u8> {
    let mut payload = vec![0x17, 0, 0, 0, 0, 1, SPS[1], SPS[2], SPS[3], 0xff, 0xe1];
    payload.extend_from_slice(&(SPS.len() as u16).to_be_bytes());
    payload.extend_from_slice(&SPS);
    payload.push(1);
    payload.extend_from_slice(&(PPS.len() as u16).to_be_bytes());
    payload.extend_from_slice(&PPS);
    payload
}

fn video_frame(keyframe: bool) -> Vec<u8> {
    let nal_type = if keyframe { 0x65 } else { 0x41 };
    vec![
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
    ]
}

fn segmenter(window: usize) -> HlsSegmenter {
    HlsSegmenter::new(HlsConfig {
        stream: "cam".into(),
        fragment_ms: 2000,
        window,
    })
}

/// Feeds `seconds` of 25 fps video with a keyframe every `gop` frames, starting at `start_ms`.
fn feed_video(seg: &mut HlsSegmenter, start_ms: u32, frames: u32, gop: u32) -> Vec<Update> {
    (0..frames)
        .map(|i| {
            seg.push(
                TagKind::Video,
                start_ms + i * 40,
                &video_frame(i % gop == 0),
            )
        })
        .collect()
}

#[test]
fn cuts_at_keyframes_after_the_fragment() {
    let mut seg = segmenter(3);
    seg.push(TagKind::Video, 0, &video_sequence_header());
    // 10 s at 25 fps, keyframe every 30 frames (1.2 s): cuts at 2.4, 4.8, 7.2, 9.6 s.
    feed_video(&mut seg, 0, 250, 30);
    let listed = seg.listed();
    let durations: Vec<u64> = listed.iter().map(|s| s.duration_ms).collect();
    assert_eq!(durations, vec![2400, 2400, 2400]);
    assert_eq!(listed[0].sequence, 1);
    let playlist = seg.playlist().unwrap();
    assert!(playlist.contains("#EXT-X-TARGETDURATION:3\n"), "{playlist}");
    assert!(playlist.contains("#EXT-X-MEDIA-SEQUENCE:1\n"), "{playlist}");
    assert!(
        playlist.contains("#EXTINF:2.400,\ncam-3.ts\n"),
        "{playlist}"
    );
    // Each segment starts with PAT, PMT, then a keyframe PES carrying AUD, SPS, PPS.
    let data = &listed[1].data;
    assert_eq!(data.len() % 188, 0);
    assert_eq!(data[188 * 2 + 1] & 0x40, 0x40);
    let pes_start = data[188 * 2..].windows(6).position(|w| w == AUD).unwrap();
    let after_aud = &data[188 * 2 + pes_start + 6..];
    assert_eq!(&after_aud[..5], &[0, 0, 0, 1, 0x67]);
    end_of_stream_flushes(&mut seg);
}

fn end_of_stream_flushes(seg: &mut HlsSegmenter) {
    let update = seg.end_of_stream();
    let last = update.completed.unwrap();
    assert_eq!(last.sequence, 4);
    // 9.6 s to 9.96 s plus one frame.
    assert_eq!(last.duration_ms, 400);
}

#[test]
fn window_slides_and_memory_stays_bounded() {
    let mut seg = segmenter(2);
    seg.push(TagKind::Video, 0, &video_sequence_header());
    let updates = feed_video(&mut seg, 0, 25 * 60, 50);
    let evicted: Vec<u64> = updates.iter().flat_map(|u| u.evicted.clone()).collect();
    assert_eq!(evicted.first(), Some(&0));
    assert_eq!(seg.segments.len(), 2 + SPARE_SEGMENTS);
    let playlist = seg.playlist().unwrap();
    let first = seg.listed()[0].sequence;
    assert!(first > 10);
    assert!(playlist.contains(&format!("#EXT-X-MEDIA-SEQUENCE:{first}\n")));
    assert!(seg.segment(first - 1).is_some(), "a spare is still served");
    assert!(seg.segment(0).is_none());
}

#[test]
fn a_new_window_and_fragment_apply_from_the_next_segment() {
    let mut seg = segmenter(2);
    seg.push(TagKind::Video, 0, &video_sequence_header());
    // Keyframes every second: 2 s segments.
    feed_video(&mut seg, 0, 25 * 20, 25);
    assert_eq!(seg.listed().len(), 2);
    let first = seg.listed()[0].sequence;
    seg.reconfigure(1000, 5);
    assert_eq!(seg.listed().len(), 2, "nothing changes before the next cut");
    feed_video(&mut seg, 20_000, 25 * 20, 25);
    let listed = seg.listed();
    assert_eq!(listed.len(), 5);
    assert_eq!(listed.last().unwrap().duration_ms, 1000);
    assert!(
        listed[0].sequence > first,
        "the media sequence never goes back"
    );
    assert_eq!(seg.segments.len(), 5 + SPARE_SEGMENTS);
    // Shrinking drops the oldest listed at the next cut.
    seg.reconfigure(1000, 1);
    feed_video(&mut seg, 40_000, 50, 25);
    assert_eq!(seg.listed().len(), 1);
    assert_eq!(seg.segments.len(), 1 + SPARE_SEGMENTS);
}

#[test]
fn drops_until_the_first_keyframe() {
    let mut seg = segmenter(3);
    seg.push(TagKind::Video, 0, &video_sequence_header());
    seg.push(TagKind::Video, 0, &video_frame(false));
    seg.push(TagKind::Video, 40, &video_frame(false));
    assert_eq!(seg.stats().dropped_frames, 2);
    feed_video(&mut seg, 80, 100, 50);
    assert_eq!(seg.listed()[0].duration_ms, 2000);
}

#[test]
fn audio_only_cuts_on_time() {
    let mut seg = segmenter(5);
    seg.push(TagKind::Audio, 0, &[0xaf, 0, 0x12, 0x10]);
    for i in 0..500u32 {
        // 1024 samples at 44.1 kHz ≈ 23.2 ms.
        let ts = i * 1024 * 1000 / 44100;
        seg.push(TagKind::Audio, ts, &[0xaf, 1, 0x21, 0x10, 0x04]);
    }
    let listed = seg.listed();
    assert!(listed.len() >= 4);
    for segment in &listed {
        assert!(
            (2000..2100).contains(&segment.duration_ms),
            "{}",
            segment.duration_ms
        );
    }
    assert_eq!(seg.stats().dropped_frames, 0);
}

#[test]
fn audio_is_segmented_alone_when_announced_video_never_comes() {
    let mut seg = segmenter(5);
    seg.push(TagKind::Video, 0, &video_sequence_header());
    seg.push(TagKind::Audio, 0, &[0xaf, 0, 0x12, 0x10]);
    for i in 0..500u32 {
        seg.push(TagKind::Audio, i * 23, &[0xaf, 1, 0x21, 0x10, 0x04]);
    }
    let listed = seg.listed();
    assert!(listed.len() >= 2, "audio was not segmented");
    // The PMT lists audio only: no H.264 stream type.
    assert!(!listed[0].data[188..376]
        .windows(3)
        .any(|w| w == [0x1b, 0xe1, 0x00]));
    // Video arriving later opens a new segment with both tracks.
    let before = seg.stats().segments;
    feed_video(&mut seg, 11_500, 100, 25);
    assert!(seg.stats().segments > before);
    let last = seg.listed().last().cloned().unwrap();
    assert!(last.data[188..376]
        .windows(3)
        .any(|w| w == [0x1b, 0xe1, 0x00]));
}

#[test]
fn republish_and_timestamp_restart_mark_discontinuities() {
    let mut seg = segmenter(10);
    seg.push(TagKind::Video, 0, &video_sequence_header());
    feed_video(&mut seg, 0, 150, 25);
    seg.end_of_stream();
    seg.push(TagKind::Video, 0, &video_sequence_header());
    feed_video(&mut seg, 0, 150, 25);
    // The timeline restarts without an unpublish.
    feed_video(&mut seg, 100_000, 150, 25);
    feed_video(&mut seg, 0, 100, 25);
    let playlist = seg.playlist().unwrap();
    assert_eq!(
        playlist.matches("#EXT-X-DISCONTINUITY\n").count(),
        3,
        "{playlist}"
    );
    assert!(!playlist.contains("#EXT-X-ENDLIST"), "{playlist}");
}

#[test]
fn unpublish_ends_the_playlist_until_a_republish() {
    let mut seg = segmenter(3);
    seg.push(TagKind::Video, 0, &video_sequence_header());
    feed_video(&mut seg, 0, 100, 25);
    assert!(!seg.playlist().unwrap().contains("#EXT-X-ENDLIST"));
    seg.end_of_stream();
    assert!(seg.ended());
    let ended = seg.playlist().unwrap();
    assert!(ended.ends_with("#EXT-X-ENDLIST\n"), "{ended}");
    seg.resume();
    assert!(!seg.playlist().unwrap().contains("#EXT-X-ENDLIST"));
    seg.end_of_stream();
    // A frame of a new publish makes it live again too.
    seg.push(TagKind::Video, 0, &video_sequence_header());
    assert!(!seg.ended());
    assert!(seg.target_duration_ms() >= 2000);
}

#[test]
fn discontinuity_sequence_counts_slid_out_tags() {
    let mut seg = segmenter(2);
    seg.push(TagKind::Video, 0, &video_sequence_header());
    feed_video(&mut seg, 0, 100, 25);
    seg.end_of_stream();
    seg.push(TagKind::Video, 0, &video_sequence_header());
    feed_video(&mut seg, 0, 500, 25);
    let playlist = seg.playlist().unwrap();
    assert!(
        playlist.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"),
        "{playlist}"
    );
}

#[test]
fn ignores_garbage_without_panicking() {
    let mut seg = segmenter(3);
    for payload in [
        &[][..],
        &[0x17],
        &[0x17, 0, 0, 0, 0, 1],
        &[0x17, 1, 0, 0, 0, 0, 0, 0, 9, 0x65],
        &[0x12, 1, 0, 0, 0],
    ] {
        seg.push(TagKind::Video, 0, payload);
        seg.push(TagKind::Audio, 0, payload);
    }
    seg.push(TagKind::Video, 0, &video_sequence_header());
    seg.push(TagKind::Video, 0, &[0x17, 1, 0, 0, 0, 0, 0, 0, 9, 0x65]);
    assert!(seg.stats().dropped_frames > 0);
    assert!(seg.playlist().is_none());
}
