//! Master playlists for adaptive bitrate: while a stream has a transcode, `APP/STREAM.m3u8` lists
//! its variants (the source first, then each rendition that is published) and the source's own
//! media playlist moves to `APP/STREAM.m3u8?variant=source` (same path, so the http-lb routes it
//! like the master). Each variant's resolution and `CODECS` come from its own stream's sequence
//! headers in the hub (SPS size, avcC profile/compatibility/level, AAC object type), its bandwidth
//! from the rendition's configured bitrates or the source's metadata (else its measured rate).

use crate::media::fmp4::{read_audio, read_video, AudioTag, AudioTrack, VideoTag, VideoTrack};
use crate::media::playlist::{master_playlist, Variant};
use crate::rtmp::amf0::{self, Amf0};
use crate::stream_name::StreamName;
use crate::worker::hub::{Hub, StreamSnapshot};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The query that asks for the source's media playlist instead of the master.
pub const SOURCE_QUERY: (&str, &str) = ("variant", "source");

/// A rendition a transcode publishes back, as the master lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendition {
    /// Its stream name (`cam_360p`), in the source's vhost and app.
    pub stream: String,
    /// Video plus audio bits per second, as configured.
    pub bandwidth: u64,
}

/// The streams that have a transcode now, with their renditions; set and cleared by the worker's
/// children (`worker/children`), read by the HLS routes.
#[derive(Clone, Default)]
pub struct Masters {
    inner: Arc<Mutex<HashMap<StreamName, Vec<Rendition>>>>,
}

impl Masters {
    pub fn set(&self, source: StreamName, renditions: Vec<Rendition>) {
        self.lock().insert(source, renditions);
    }

    pub fn remove(&self, source: &StreamName) {
        self.lock().remove(source);
    }

    pub fn renditions(&self, source: &StreamName) -> Option<Vec<Rendition>> {
        self.lock().get(source).cloned()
    }

    /// The source whose transcode publishes `rendition`, if it is one.
    pub fn source_of(&self, rendition: &StreamName) -> Option<StreamName> {
        self.lock()
            .iter()
            .find(|(source, renditions)| {
                source.vhost == rendition.vhost
                    && source.app == rendition.app
                    && renditions.iter().any(|r| r.stream == rendition.stream)
            })
            .map(|(source, _)| source.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<StreamName, Vec<Rendition>>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the HLS routes need to answer a master playlist: the registry and the hub its variants'
/// sequence headers come from.
#[derive(Clone)]
pub struct MasterSource {
    pub masters: Masters,
    pub hub: Arc<Hub>,
}

impl MasterSource {
    /// The master playlist of `id` when it has a transcode and is published (`None`: serve its
    /// media playlist as usual).
    pub fn playlist(&self, id: &StreamName) -> Option<String> {
        let renditions = self.masters.renditions(id)?;
        render(&self.hub, id, &renditions)
    }
}

/// `EXT-X-RENDITION-REPORT` lines for the LL-HLS media playlist of `id` when it is a variant of a
/// master playlist: one per other variant the store holds with low latency, at its live edge.
pub fn rendition_reports(masters: &Masters, store: &super::HlsStore, id: &StreamName) -> String {
    let (source, renditions) = match masters.renditions(id) {
        Some(renditions) => (id.clone(), renditions),
        None => match masters.source_of(id) {
            Some(source) => {
                let renditions = masters.renditions(&source).unwrap_or_default();
                (source, renditions)
            }
            None => return String::new(),
        },
    };
    let source_uri = format!(
        "{}.m3u8?{}={}",
        source.stream, SOURCE_QUERY.0, SOURCE_QUERY.1
    );
    let variants = std::iter::once((source.stream.clone(), source_uri)).chain(
        renditions
            .into_iter()
            .map(|r| (r.stream.clone(), format!("{}.m3u8", r.stream))),
    );
    let mut text = String::new();
    for (stream, uri) in variants.filter(|(stream, _)| *stream != id.stream) {
        let Some(position) = store.position(&StreamName::new(&source.vhost, &source.app, &stream))
        else {
            continue;
        };
        if position.parts > 0 {
            text.push_str(&format!(
                "#EXT-X-RENDITION-REPORT:URI=\"{uri}\",LAST-MSN={},LAST-PART={}\n",
                position.msn,
                position.parts - 1
            ));
        } else if position.msn > 0 {
            text.push_str(&format!(
                "#EXT-X-RENDITION-REPORT:URI=\"{uri}\",LAST-MSN={}\n",
                position.msn - 1
            ));
        }
    }
    text
}

/// Whether a request's query asks for the source's media playlist.
pub fn wants_source(param: &str) -> bool {
    param
        .trim_start_matches('?')
        .split('&')
        .any(|pair| pair.split_once('=') == Some(SOURCE_QUERY))
}

/// The master playlist of `source` (URIs bare; the caller adds vhost and session), or `None` when
/// the source is not published now.
pub fn render(hub: &Hub, source: &StreamName, renditions: &[Rendition]) -> Option<String> {
    let snapshots = hub.streams();
    let find = |stream: &str| {
        snapshots.iter().find(|s| {
            s.publisher_client.is_some()
                && s.vhost == source.vhost
                && s.app == source.app
                && s.name == stream
        })
    };
    let own = find(&source.stream)?;
    let (resolution, codecs) = describe(own);
    let mut variants = vec![Variant {
        uri: format!(
            "{}.m3u8?{}={}",
            source.stream, SOURCE_QUERY.0, SOURCE_QUERY.1
        ),
        bandwidth: source_bandwidth(own),
        resolution,
        codecs,
    }];
    for rendition in renditions {
        // Listed once it is published: its CODECS are what its encoder wrote, not a guess.
        let Some(snapshot) = find(&rendition.stream) else {
            continue;
        };
        let (resolution, codecs) = describe(snapshot);
        variants.push(Variant {
            uri: format!("{}.m3u8", rendition.stream),
            bandwidth: rendition.bandwidth,
            resolution,
            codecs,
        });
    }
    Some(master_playlist(&variants))
}

/// Resolution and RFC 6381 codecs from a stream's sequence headers (H.264 and AAC; others unnamed).
fn describe(stream: &StreamSnapshot) -> (Option<(u32, u32)>, Vec<String>) {
    let mut resolution = None;
    let mut codecs = Vec::new();
    if let Some(video) = stream.video_sequence_header.as_ref() {
        if let VideoTag::Config(codec, record) = read_video(video) {
            if let Some(track) = VideoTrack::from_config(codec, record) {
                if track.width > 0 && track.height > 0 {
                    resolution = Some((track.width, track.height));
                }
                codecs.push(track.codec_string());
            }
        }
    }
    if let Some(audio) = stream.audio_sequence_header.as_ref() {
        if let AudioTag::Config(codec, config) = read_audio(audio) {
            if let Some(track) = AudioTrack::from_config(codec, config) {
                codecs.push(track.codec_string());
            }
        }
    }
    (resolution, codecs)
}

/// The source's bits per second: its metadata's `videodatarate + audiodatarate` (kbit/s), else
/// what it sent on average since it went live.
fn source_bandwidth(stream: &StreamSnapshot) -> u64 {
    if let Some(kbps) = stream.metadata.as_deref().and_then(metadata_kbps) {
        return (kbps * 1000.0) as u64;
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let elapsed_ms = now_ms.saturating_sub(stream.publish_started_ms).max(1000);
    stream.recv_bytes * 8 * 1000 / elapsed_ms
}

fn metadata_kbps(payload: &[u8]) -> Option<f64> {
    let values = amf0::decode_all(payload).ok()?;
    let fields = values.iter().find_map(|value| match value {
        Amf0::EcmaArray(fields) | Amf0::Object(fields) => Some(fields),
        _ => None,
    })?;
    let number = |key: &str| {
        fields.iter().find_map(|(k, v)| match v {
            Amf0::Number(n) if k == key && n.is_finite() && *n > 0.0 => Some(*n),
            _ => None,
        })
    };
    let total = number("videodatarate").unwrap_or(0.0) + number("audiodatarate").unwrap_or(0.0);
    (total > 0.0).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn renditions_know_their_source() {
        let id = |vhost: &str, stream: &str| StreamName::new(vhost, "live", stream);
        let masters = Masters::default();
        masters.set(
            id("v", "cam"),
            vec![Rendition {
                stream: "cam_360p".into(),
                bandwidth: 1,
            }],
        );
        assert_eq!(
            masters.source_of(&id("v", "cam_360p")),
            Some(id("v", "cam"))
        );
        assert_eq!(masters.source_of(&id("w", "cam_360p")), None);
        assert_eq!(masters.source_of(&id("v", "cam")), None);
        masters.remove(&id("v", "cam"));
        assert_eq!(masters.source_of(&id("v", "cam_360p")), None);
    }

    #[test]
    fn the_source_query_is_recognised() {
        assert!(wants_source("?variant=source"));
        assert!(wants_source("?vhost=a&variant=source&hls_ctx=x"));
        assert!(!wants_source("?variant=sources"));
        assert!(!wants_source(""));
    }

    #[test]
    fn bandwidth_comes_from_metadata_else_the_measured_rate() {
        let metadata = amf0::encode_all(&[
            Amf0::String("onMetaData".into()),
            Amf0::EcmaArray(vec![
                ("videodatarate".into(), Amf0::Number(2000.0)),
                ("audiodatarate".into(), Amf0::Number(128.0)),
            ]),
        ]);
        assert_eq!(metadata_kbps(&metadata), Some(2128.0));
        assert_eq!(metadata_kbps(b"\x02"), None);
        let mut snapshot = StreamSnapshot {
            id: 1,
            vhost: "v".into(),
            app: "live".into(),
            name: "cam".into(),
            tc_url: String::new(),
            publisher_client: Some(1),
            publish_started_ms: 0,
            clients: 1,
            frames: 0,
            recv_bytes: 0,
            send_bytes: 0,
            video_sequence_header: None,
            audio_sequence_header: None,
            metadata: Some(Bytes::from(metadata.to_vec())),
        };
        assert_eq!(source_bandwidth(&snapshot), 2_128_000);
        snapshot.metadata = None;
        assert_eq!(describe(&snapshot), (None, vec![]));
    }
}
