//! Encoders that send `onMetaData` as a plain data message, without `@setDataFrame`, and repeat it
//! every second (GStreamer's flvmux, hardware encoders): a player that joins late gets the metadata
//! first at timestamp 0 and FFmpeg sees exactly the audio and video, over RTMP and HTTP-FLV.

mod common;

use common::media::make_media;
use common::process::run_tool;
use common::*;
use oryx::media::flv::{self, TagKind};
use oryx::rtmp::amf0::{encode_all, Amf0};
use oryx::rtmp::client::{ClientEvent, ClientMode};
use oryx::rtmp::message::{data_name, MediaKind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECS: Duration = Duration::from_secs(10);

/// A bare `onMetaData` as such an encoder writes it; `videodatarate` changes every other second, so
/// the stream carries both identical repeats and updates.
fn bare_metadata(n: u32) -> Vec<u8> {
    let number = |k: &str, v: f64| (k.to_string(), Amf0::Number(v));
    encode_all(&[
        Amf0::str("onMetaData"),
        Amf0::EcmaArray(vec![
            number("duration", 0.0),
            number("width", 320.0),
            number("height", 240.0),
            number("framerate", 25.0),
            number("videocodecid", 7.0),
            number("videodatarate", f64::from(300 + n / 2)),
            number("audiocodecid", 10.0),
            number("audiosamplerate", 44100.0),
            ("stereo".into(), Amf0::Boolean(false)),
            (
                "metadatacreator".into(),
                Amf0::str("bare-metadata test encoder"),
            ),
        ]),
    ])
    .to_vec()
}

/// Publishes the audio and video of `media` in real time with oryx's RTMP client, with a bare
/// `onMetaData` first and then every second, until the media ends or `stop` is set.
fn bare_metadata_encoder(
    url: String,
    media: PathBuf,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let data = std::fs::read(&media).expect("test media");
        let tags = flv::read_all(&data).expect("ffmpeg's FLV parses");
        let mut client = TestClient::connect(&url, ClientMode::Publish);
        assert!(
            client
                .wait_for(SECS, |e| matches!(e, ClientEvent::Started))
                .is_some(),
            "publish refused"
        );
        let start = Instant::now();
        let mut next_metadata = 0;
        // ffmpeg's own (single) metadata tag is left out: this encoder has its own.
        for tag in tags.iter().filter(|t| t.kind != TagKind::Script) {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let due = start + Duration::from_millis(u64::from(tag.timestamp));
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            if tag.timestamp >= next_metadata {
                let metadata = bare_metadata(next_metadata / 1000);
                client
                    .session
                    .send_media(MediaKind::Script, tag.timestamp, &metadata);
                next_metadata += 1000;
            }
            let kind = match tag.kind {
                TagKind::Audio => MediaKind::Audio,
                _ => MediaKind::Video,
            };
            client.session.send_media(kind, tag.timestamp, &tag.payload);
            if client.flush().is_err() {
                break;
            }
        }
    })
}

/// The tags of an FLV body, as far as it is whole.
fn tags_of(body: &[u8]) -> Vec<flv::FlvTag> {
    let mut reader = flv::FlvReader::new();
    reader.push(body);
    let mut tags = Vec::new();
    while let Ok(Some(tag)) = reader.next_tag() {
        tags.push(tag);
    }
    tags
}

fn is_metadata(payload: &[u8]) -> bool {
    data_name(payload).as_deref() == Some("onMetaData")
}

#[test]
fn late_joiners_of_a_bare_metadata_encoder_see_exactly_audio_and_video() {
    let worker = start_worker(settings(), false);
    let media = make_media(worker.dir.path(), 30);
    let stop = Arc::new(AtomicBool::new(false));
    let encoder = bare_metadata_encoder(worker.rtmp_url("live/bare"), media, stop.clone());
    // Join 3 s after the publish, when the newest metadata sits inside the cached GOP.
    std::thread::sleep(Duration::from_secs(3));

    // FFmpeg over both protocols at once: audio and video, and no `text` stream.
    let rtmp_url = worker.rtmp_url("live/bare");
    let flv_url = worker.http_url("live/bare.flv");
    let rtmp_probe = std::thread::spawn(move || probe_codecs(&rtmp_url));
    let flv_probe = std::thread::spawn(move || probe_codecs(&flv_url));

    // A raw RTMP player: the metadata comes first, and every metadata it gets is at 0.
    let mut player = TestClient::connect(&worker.rtmp_url("live/bare"), ClientMode::Play);
    let mut media_events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(4);
    while Instant::now() < deadline && player.pump() {
        while let Some(event) = player.events.pop_front() {
            if let ClientEvent::Media {
                kind,
                timestamp,
                payload,
            } = event
            {
                media_events.push((kind, timestamp, payload));
            }
        }
    }
    // (`|RtmpSampleAccess` comes with the play answer, before any of the stream.)
    let (kind, timestamp, payload) = media_events
        .iter()
        .find(|(_, _, p)| data_name(p).as_deref() != Some("|RtmpSampleAccess"))
        .expect("media for the RTMP player");
    assert_eq!(
        *kind,
        MediaKind::Script,
        "the first message is not metadata"
    );
    assert!(is_metadata(payload));
    assert_eq!(*timestamp, 0);
    let late_metadata: Vec<u32> = media_events
        .iter()
        .filter(|(k, _, p)| *k == MediaKind::Script && is_metadata(p))
        .map(|(_, ts, _)| *ts)
        .collect();
    assert!(
        late_metadata.iter().all(|ts| *ts == 0),
        "metadata at media timestamps: {late_metadata:?}"
    );
    assert!(media_events.iter().any(|(k, _, _)| *k == MediaKind::Video));

    // An HTTP-FLV player: the same, read from the body curl saved.
    let body = worker.dir.path().join("late.flv");
    run_tool(
        "curl",
        &[
            "-sN",
            "--max-time",
            "3",
            "-o",
            &body.display().to_string(),
            &worker.http_url("live/bare.flv"),
        ],
        Duration::from_secs(10),
    );
    let tags = tags_of(&std::fs::read(&body).expect("curl saved the body"));
    let first = tags.first().expect("tags in the FLV body");
    assert_eq!(first.kind, TagKind::Script, "the first tag is not metadata");
    assert!(is_metadata(&first.payload));
    assert_eq!(first.timestamp, 0);
    let scripts: Vec<u32> = tags
        .iter()
        .filter(|t| t.kind == TagKind::Script)
        .map(|t| t.timestamp)
        .collect();
    assert!(
        scripts.iter().all(|ts| *ts == 0),
        "script tags past 0: {scripts:?}"
    );

    assert_eq!(rtmp_probe.join().unwrap(), ["aac", "h264"], "RTMP");
    assert_eq!(flv_probe.join().unwrap(), ["aac", "h264"], "HTTP-FLV");
    stop.store(true, Ordering::Relaxed);
    encoder.join().unwrap();
}
