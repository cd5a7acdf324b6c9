//! The hub's unit tests: publish, play, republish, metadata, slow players, sinks.

use super::player::MAX_SKIPS;
use super::*;
use crate::compile::plan::{HlsSettings, HookSettings, HttpFlvSettings};

pub(crate) fn settings() -> StreamSettings {
    StreamSettings {
        gop_cache: true,
        chunk_size: 4096,
        merge_write_ms: 0,
        merge_read_ms: 0,
        play_wait_ms: 30_000,
        player_queue_bytes: 64 * 1024,
        max_connections: 0,
        http_flv: HttpFlvSettings {
            enabled: true,
            wait_ms: 0,
        },
        hls: HlsSettings {
            enabled: false,
            fragment_ms: 2000,
            window: 6,
            path: None,
            segment_format: Default::default(),
            low_latency: false,
            part_ms: None,
        },
        hooks: HookSettings::default(),
        rules: Vec::new(),
    }
}

fn name(s: &str) -> StreamName {
    crate::stream_name::StreamName::from_rtmp(
        crate::stream_name::VhostRule::HostName,
        "rtmp://127.0.0.1/live",
        "live",
        s,
    )
}

fn video(ts: u32, key: bool, len: usize) -> Frame {
    let mut p = vec![if key { 0x17 } else { 0x27 }, 1];
    p.resize(len.max(2), 0);
    Frame {
        kind: FrameKind::Video,
        timestamp: ts,
        payload: Bytes::from(p),
    }
}

fn frames(event: PlayerEvent) -> Vec<(Arc<CachedFrame>, u32)> {
    match event {
        PlayerEvent::Frames(f) => f,
        other => panic!("expected frames, got {other:?}"),
    }
}

#[test]
fn late_joiner_gets_headers_and_gop_rebased() {
    let hub = Hub::new(settings());
    let mut publisher = hub.publish(&name("s"), "rtmp://x/live", 1).unwrap();
    publisher.push(Frame {
        kind: FrameKind::Video,
        timestamp: 0,
        payload: Bytes::from_static(&[0x17, 0, 0, 0, 0, 1]),
    });
    for i in 0..10u32 {
        publisher.push(video(1000 + i * 40, i % 5 == 0, 100));
    }
    let mut player = hub.play(&name("s"));
    assert!(matches!(player.poll(100), PlayerEvent::Published));
    let got = frames(player.poll(100));
    // Sequence header, then the GOP starting at the keyframe of i=5 (ts 1200), rebased to 0.
    assert!(got[0].0.frame.is_sequence_header());
    assert!(got[1].0.frame.is_keyframe());
    assert_eq!(got[1].1, 0);
    assert_eq!(got.last().unwrap().1, 160);
    assert_eq!(got.len(), 6);
    assert!(matches!(player.poll(100), PlayerEvent::Idle));
    assert_eq!(hub.streams()[0].clients, 2);
}

fn audio(ts: u32) -> Frame {
    Frame {
        kind: FrameKind::Audio,
        timestamp: ts,
        payload: Bytes::from_static(&[0xaf, 1, 0x21]),
    }
}

/// An SRT publisher's prompt video (`media/interleave.rs`) runs ahead of its audio bursts: each
/// track keeps its own timestamps, and audio stamped just before a late joiner's keyframe is
/// not sent (it would all land on the keyframe's timestamp).
#[test]
fn each_track_keeps_its_own_timestamps_when_audio_follows_the_video() {
    let hub = Hub::new(settings());
    let mut publisher = hub.publish(&name("s"), "", 1).unwrap();
    publisher.push(video(1000, true, 10));
    publisher.push(video(1040, false, 10));
    // The audio burst from before the keyframe to past the video.
    for ts in [900, 923, 946, 969, 992, 1015, 1038, 1061] {
        publisher.push(audio(ts));
    }
    publisher.push(video(1080, false, 10));
    let mut player = hub.play(&name("s"));
    assert!(matches!(player.poll(100), PlayerEvent::Published));
    let got = frames(player.poll(100));
    let stamps = |kind: FrameKind| -> Vec<u32> {
        got.iter()
            .filter(|f| f.0.frame.kind == kind)
            .map(|f| f.1)
            .collect()
    };
    assert_eq!(stamps(FrameKind::Video), [0, 40, 80]);
    assert_eq!(stamps(FrameKind::Audio), [15, 38, 61]);
}

#[test]
fn second_publisher_is_refused_and_republish_continues_players() {
    let hub = Hub::new(settings());
    let publisher = hub.publish(&name("s"), "", 1).unwrap();
    assert!(hub.publish(&name("s"), "", 2).is_err());
    let mut player = hub.play(&name("s"));
    assert!(matches!(player.poll(10), PlayerEvent::Published));
    drop(publisher);
    assert!(matches!(player.poll(10), PlayerEvent::Unpublished));
    assert!(matches!(player.poll(10), PlayerEvent::Idle));
    let mut publisher = hub.publish(&name("s"), "", 3).unwrap();
    publisher.push(video(5, true, 10));
    assert!(matches!(player.poll(10), PlayerEvent::Published));
    assert_eq!(frames(player.poll(10)).len(), 1);
}

fn metadata() -> Frame {
    use crate::rtmp::amf0::{encode_all, Amf0};
    let body = encode_all(&[Amf0::str("onMetaData"), Amf0::Object(vec![])]);
    Frame {
        kind: FrameKind::Script,
        timestamp: 0,
        payload: body.freeze(),
    }
}

#[test]
fn a_republish_resends_sequence_headers_but_not_metadata_and_timestamps_go_on() {
    let hub = Hub::new(settings());
    let sequence_header = Frame {
        kind: FrameKind::Video,
        timestamp: 0,
        payload: Bytes::from_static(&[0x17, 0, 0, 0, 0, 1]),
    };
    let mut publisher = hub.publish(&name("s"), "", 1).unwrap();
    publisher.push(metadata());
    publisher.push(sequence_header.clone());
    publisher.push(video(0, true, 10));
    publisher.push(video(40, false, 10));
    let mut player = hub.play(&name("s"));
    assert!(matches!(player.poll(10), PlayerEvent::Published));
    let first = frames(player.poll(10));
    assert!(first[0].0.frame.is_metadata());
    let last_ts = first.last().unwrap().1;
    drop(publisher);
    assert!(matches!(player.poll(10), PlayerEvent::Unpublished));
    let mut publisher = hub.publish(&name("s"), "", 2).unwrap();
    publisher.push(metadata());
    publisher.push(sequence_header);
    publisher.push(video(0, true, 10));
    assert!(matches!(player.poll(10), PlayerEvent::Published));
    let again = frames(player.poll(10));
    assert!(again.iter().all(|(f, _)| !f.frame.is_metadata()));
    assert!(again[0].0.frame.is_sequence_header());
    assert!(again.iter().all(|(_, ts)| *ts > last_ts), "{again:?}");
}

fn metadata_n(n: f64) -> Frame {
    use crate::rtmp::amf0::{encode_all, Amf0};
    let body = encode_all(&[
        Amf0::str("onMetaData"),
        Amf0::EcmaArray(vec![("videodatarate".into(), Amf0::Number(n))]),
    ]);
    Frame {
        kind: FrameKind::Script,
        timestamp: 0,
        payload: body.freeze(),
    }
}

#[test]
fn repeated_bare_metadata_goes_first_at_zero_and_only_changes_follow_at_zero() {
    let hub = Hub::new(settings());
    let mut publisher = hub.publish(&name("s"), "", 1).unwrap();
    // A flvmux-like encoder: metadata first and again every second, at the media timestamp.
    publisher.push(Frame {
        timestamp: 0,
        ..metadata_n(1.0)
    });
    publisher.push(Frame {
        kind: FrameKind::Video,
        timestamp: 0,
        payload: Bytes::from_static(&[0x17, 0, 0, 0, 0, 1]),
    });
    for i in 0..50u32 {
        let ts = i * 40;
        if i > 0 && ts % 1000 == 0 {
            publisher.push(Frame {
                timestamp: ts,
                ..metadata_n(1.0)
            });
        }
        publisher.push(video(ts, i % 25 == 0, 10));
    }
    // The newest copy sits inside the cached GOP (keyframe at 1000 ms): a late joiner still
    // gets it first, at 0, and not again.
    let mut player = hub.play(&name("s"));
    assert!(matches!(player.poll(100), PlayerEvent::Published));
    let got = frames(player.poll(100));
    assert!(got[0].0.frame.is_metadata());
    assert_eq!(got[0].1, 0);
    assert!(got[1].0.frame.is_sequence_header());
    assert!(got[2].0.frame.is_keyframe());
    assert_eq!(got.iter().filter(|(f, _)| f.frame.is_metadata()).count(), 1);
    // An identical repeat is not passed on; a change is, at 0.
    publisher.push(Frame {
        timestamp: 2000,
        ..metadata_n(1.0)
    });
    publisher.push(video(2000, false, 10));
    let got = frames(player.poll(100));
    assert_eq!(got.len(), 1);
    assert!(!got[0].0.frame.is_metadata());
    publisher.push(Frame {
        timestamp: 2040,
        ..metadata_n(2.0)
    });
    let got = frames(player.poll(100));
    assert!(got[0].0.frame.is_metadata());
    assert_eq!(got[0].1, 0);
}

#[test]
fn slow_player_skips_then_is_dropped_and_ring_stays_bounded() {
    let hub = Hub::new(settings());
    let mut publisher = hub.publish(&name("s"), "", 1).unwrap();
    let mut player = hub.play(&name("s"));
    publisher.push(video(0, true, 1000));
    assert!(matches!(player.poll(10), PlayerEvent::Published));
    assert_eq!(frames(player.poll(10)).len(), 1);
    let mut outcome = None;
    for round in 0..10u32 {
        for i in 0..200u32 {
            publisher.push(video(round * 10_000 + i * 40, i % 20 == 0, 1000));
        }
        match player.poll(1) {
            PlayerEvent::TooSlow => {
                outcome = Some(round);
                break;
            }
            PlayerEvent::Frames(f) => assert!(f[0].0.frame.is_keyframe()),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(outcome, Some(MAX_SKIPS));
    let state = player.stream().lock();
    let ring_bytes: usize = state.ring.iter().map(|f| f.frame.payload.len()).sum();
    assert!(ring_bytes < 300 * 1000, "{ring_bytes}");
}

#[test]
fn streams_disappear_when_unused_and_kick_cancels() {
    let hub = Hub::new(settings());
    let guard = hub.register_client("1.2.3.4", ClientKind::RtmpPlay);
    let player = hub.play(&name("s"));
    assert_eq!(hub.streams().len(), 1);
    drop(player);
    assert!(hub.streams().is_empty());
    assert!(hub.kick(guard.entry.id));
    assert!(guard.entry.cancel.is_cancelled());
    assert_eq!(hub.clients().len(), 1);
    drop(guard);
    assert!(hub.clients().is_empty());
    assert!(!hub.kick(12345));
}

struct CountingSink(Arc<AtomicU64>);
impl StreamSink for CountingSink {
    fn on_frame(&mut self, _frame: &Frame) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    fn on_unpublish(&mut self) {
        self.0.fetch_add(1000, Ordering::Relaxed);
    }
}
struct Factory(Arc<AtomicU64>);
impl SinkFactory for Factory {
    fn create(&self, _key: &StreamName, _internal: bool) -> Option<Box<dyn StreamSink>> {
        Some(Box::new(CountingSink(self.0.clone())))
    }
}

#[test]
fn sinks_see_every_frame() {
    let hub = Hub::new(settings());
    let count = Arc::new(AtomicU64::new(0));
    hub.add_sink_factory(Arc::new(Factory(count.clone())));
    let mut publisher = hub.publish(&name("s"), "", 1).unwrap();
    for i in 0..500 {
        publisher.push(video(i * 40, i % 50 == 0, 500));
    }
    drop(publisher);
    assert_eq!(count.load(Ordering::Relaxed), 1500);
}

fn frame(kind: FrameKind, ts: u32, payload: &[u8]) -> Frame {
    Frame {
        kind,
        timestamp: ts,
        payload: Bytes::copy_from_slice(payload),
    }
}

#[test]
fn enhanced_rtmp_hevc_late_joiner_starts_on_an_irap_with_every_header() {
    let hub = Hub::new(settings());
    let mut publisher = hub.publish(&name("h"), "", 1).unwrap();
    publisher.push(frame(FrameKind::Video, 0, b"\x90hvc1\x01config"));
    publisher.push(frame(FrameKind::Video, 0, b"\xd4hvc1\x02colorInfo"));
    publisher.push(frame(FrameKind::Audio, 0, b"\x90OpusOpusHead"));
    publisher.push(frame(
        FrameKind::Audio,
        0,
        b"\x94Opus\x01\x01\x00\x00\x00\x04",
    ));
    // IDR (NAL 19), then TRAIL (1) frames; one flagged key whose data is a TRAIL picture, which a
    // decoder cannot start on; then a CRA (21) flagged inter that it can.
    let nal = |t: u8| [0, 0, 0, 2, t << 1, 1];
    let hevc = |flag: u8, t: u8| {
        let mut p = vec![0x80 | flag << 4 | 1, b'h', b'v', b'c', b'1', 0, 0, 0];
        p.extend_from_slice(&nal(t));
        p
    };
    publisher.push(frame(FrameKind::Video, 40, &hevc(1, 19)));
    publisher.push(frame(FrameKind::Video, 80, &hevc(2, 1)));
    publisher.push(frame(FrameKind::Video, 120, &hevc(1, 1)));
    publisher.push(frame(FrameKind::Video, 160, &hevc(2, 21)));
    publisher.push(frame(FrameKind::Audio, 170, b"\x91Opus\xf8"));
    publisher.push(frame(FrameKind::Video, 200, &hevc(2, 1)));
    let mut player = hub.play(&name("h"));
    assert!(matches!(player.poll(100), PlayerEvent::Published));
    let got = frames(player.poll(100));
    let payloads: Vec<&[u8]> = got.iter().map(|(f, _)| &f.frame.payload[..]).collect();
    assert_eq!(payloads[0], b"\x90hvc1\x01config");
    assert_eq!(payloads[1], b"\xd4hvc1\x02colorInfo");
    assert_eq!(payloads[2], b"\x90OpusOpusHead");
    assert_eq!(payloads[3], b"\x94Opus\x01\x01\x00\x00\x00\x04");
    // The GOP starts at the CRA (ts 160), rebased to 0.
    assert_eq!(payloads[4], &hevc(2, 21)[..]);
    assert_eq!(got[4].1, 0);
    assert_eq!(got.len(), 7);
    assert!(got[0].0.frame.is_sequence_header() && got[4].0.frame.is_keyframe());
}
