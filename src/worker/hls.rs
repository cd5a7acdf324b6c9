//! HLS in the embedded worker: one in-memory segmenter per published stream (fed by the hub's
//! publisher path), the `GET /APP/STREAM.m3u8` and `GET /APP/STREAM-SEQ.ts` routes, and the optional
//! mirror of segments and playlists into `hls.path` for a CDN (atomic renames, cleanup as the window
//! slides).

use crate::compile::plan::HlsSettings;
use crate::media::flv::TagKind;
use crate::media::hls::{HlsConfig, HlsSegmenter, Update};
use crate::worker::http::{FileRequest, HttpFiles};
use crate::worker::hub::{Frame, FrameKind, Hub, SinkFactory, StreamKeyInfo, StreamSink};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The vhost SRS reports when the client named none it knows.
pub use crate::route::DEFAULT_VHOST;
/// App and stream names longer than this are refused.
const MAX_NAME_LEN: usize = 128;
/// Disk jobs queued for the writer thread before new ones are dropped (and counted).
const DISK_QUEUE: usize = 256;

/// `vhost/app/stream`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId {
    pub vhost: String,
    pub app: String,
    pub stream: String,
}

/// One stream's HLS state; it outlives a publish so a republish continues the playlist.
struct StreamHls {
    segmenter: HlsSegmenter,
    playlist: Option<Arc<str>>,
    publishing: bool,
    /// When the publisher left (the stream is disposed of some time later).
    idle_since: Option<Instant>,
}

/// All streams' segmenters, shared by the hub's sinks and the HTTP routes.
#[derive(Clone)]
pub struct HlsStore {
    inner: Arc<StoreInner>,
}

struct StoreInner {
    settings: HlsSettings,
    streams: Mutex<HashMap<StreamId, Arc<Mutex<StreamHls>>>>,
    disk: Option<DiskMirror>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take HLS down with it: the data is still consistent per call.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl HlsStore {
    pub fn new(settings: HlsSettings) -> HlsStore {
        let disk = settings
            .path
            .as_ref()
            .map(|root| DiskMirror::start(PathBuf::from(root)));
        HlsStore {
            inner: Arc::new(StoreInner {
                settings,
                streams: Mutex::new(HashMap::new()),
                disk,
            }),
        }
    }

    pub fn enabled(&self) -> bool {
        self.inner.settings.enabled
    }

    /// How long a stream's segments stay after its publisher left: long enough for players to
    /// drain the window, short enough that dead streams do not pile up.
    fn dispose_after(&self) -> Duration {
        let window_ms =
            self.inner.settings.fragment_ms.max(100) * u64::from(self.inner.settings.window.max(1));
        Duration::from_millis((window_ms * 2).max(10_000))
    }

    /// A publisher started: returns the sink its frames go to. `None` when HLS is off.
    pub fn publish(&self, id: StreamId) -> Option<HlsPublisher> {
        if !self.enabled() {
            return None;
        }
        self.sweep();
        let entry = {
            let mut streams = lock(&self.inner.streams);
            streams
                .entry(id.clone())
                .or_insert_with(|| {
                    Arc::new(Mutex::new(StreamHls {
                        segmenter: HlsSegmenter::new(HlsConfig {
                            stream: id.stream.clone(),
                            fragment_ms: self.inner.settings.fragment_ms,
                            window: self.inner.settings.window as usize,
                        }),
                        playlist: None,
                        publishing: false,
                        idle_since: None,
                    }))
                })
                .clone()
        };
        {
            let mut state = lock(&entry);
            state.publishing = true;
            state.idle_since = None;
        }
        Some(HlsPublisher {
            store: self.clone(),
            id,
            entry,
            ended: false,
        })
    }

    /// Drops streams whose publisher left longer ago than the dispose delay.
    pub fn sweep(&self) {
        let dispose_after = self.dispose_after();
        let mut disposed = Vec::new();
        lock(&self.inner.streams).retain(|id, entry| {
            let state = lock(entry);
            let keep = state.publishing
                || state
                    .idle_since
                    .is_none_or(|since| since.elapsed() < dispose_after);
            if !keep {
                disposed.push((
                    id.clone(),
                    state
                        .segmenter
                        .listed()
                        .iter()
                        .map(|s| s.sequence)
                        .collect::<Vec<_>>(),
                ));
            }
            keep
        });
        if let Some(disk) = &self.inner.disk {
            for (id, sequences) in disposed {
                disk.remove_stream(&id, &sequences);
            }
        }
    }

    /// Streams known to the store (publishing or recently ended).
    pub fn stream_ids(&self) -> Vec<StreamId> {
        let mut ids: Vec<StreamId> = lock(&self.inner.streams).keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Frames HLS dropped for a stream (before the first keyframe, malformed).
    pub fn dropped_frames(&self, id: &StreamId) -> u64 {
        self.entry(id)
            .map_or(0, |entry| lock(&entry).segmenter.stats().dropped_frames)
    }

    fn entry(&self, id: &StreamId) -> Option<Arc<Mutex<StreamHls>>> {
        lock(&self.inner.streams).get(id).cloned()
    }

    /// Finds the stream a request means: the exact vhost first; when the client named no vhost
    /// explicitly (only a Host header), the only stream with that app and name on any vhost.
    fn resolve(
        &self,
        vhost: &str,
        explicit: bool,
        app: &str,
        stream: &str,
    ) -> Option<Arc<Mutex<StreamHls>>> {
        let streams = lock(&self.inner.streams);
        let exact = StreamId {
            vhost: vhost.to_string(),
            app: app.to_string(),
            stream: stream.to_string(),
        };
        if let Some(entry) = streams.get(&exact) {
            return Some(entry.clone());
        }
        if explicit {
            return None;
        }
        let mut matches = streams
            .iter()
            .filter(|(id, _)| id.app == app && id.stream == stream);
        let first = matches.next()?;
        if matches.next().is_some() {
            return None;
        }
        Some(first.1.clone())
    }

    /// The current playlist of a stream.
    pub fn playlist(
        &self,
        vhost: &str,
        explicit: bool,
        app: &str,
        stream: &str,
    ) -> Option<Arc<str>> {
        let entry = self.resolve(vhost, explicit, app, stream)?;
        let state = lock(&entry);
        state.playlist.clone()
    }

    /// A segment still held in memory.
    pub fn segment(
        &self,
        vhost: &str,
        explicit: bool,
        app: &str,
        stream: &str,
        sequence: u64,
    ) -> Option<Bytes> {
        let entry = self.resolve(vhost, explicit, app, stream)?;
        let state = lock(&entry);
        state
            .segmenter
            .segment(sequence)
            .map(|segment| segment.data.clone())
    }

    fn apply(&self, id: &StreamId, state: &mut StreamHls, update: Update) {
        if update.completed.is_none() && update.evicted.is_empty() {
            return;
        }
        let playlist: Option<Arc<str>> = state.segmenter.playlist().map(Arc::from);
        state.playlist = playlist.clone();
        if let Some(disk) = &self.inner.disk {
            if let Some(segment) = &update.completed {
                disk.write_segment(
                    id,
                    &state.segmenter.segment_name(segment.sequence),
                    segment.data.clone(),
                );
            }
            if let Some(text) = playlist {
                disk.write_playlist(id, text);
            }
            for sequence in update.evicted {
                disk.remove_segment(id, &state.segmenter.segment_name(sequence));
            }
        }
    }
}

/// The HLS side of one publish: the hub hands it every frame.
pub struct HlsPublisher {
    store: HlsStore,
    id: StreamId,
    entry: Arc<Mutex<StreamHls>>,
    ended: bool,
}

impl HlsPublisher {
    pub fn on_frame(&mut self, kind: TagKind, timestamp: u32, payload: &[u8]) {
        let mut state = lock(&self.entry);
        let update = state.segmenter.push(kind, timestamp, payload);
        self.store.apply(&self.id, &mut state, update);
    }

    pub fn on_unpublish(&mut self) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        let mut state = lock(&self.entry);
        let update = state.segmenter.end_of_stream();
        self.store.apply(&self.id, &mut state, update);
        state.publishing = false;
        state.idle_since = Some(Instant::now());
    }
}

impl Drop for HlsPublisher {
    fn drop(&mut self) {
        self.on_unpublish();
    }
}

/// The hub's side of HLS: every publish gets a sink feeding that stream's segmenter.
pub struct HlsSinkFactory {
    store: HlsStore,
}

impl HlsSinkFactory {
    pub fn new(store: HlsStore) -> HlsSinkFactory {
        HlsSinkFactory { store }
    }
}

impl SinkFactory for HlsSinkFactory {
    fn create(&self, key: &StreamKeyInfo) -> Option<Box<dyn StreamSink>> {
        let publisher = self.store.publish(StreamId {
            vhost: key.vhost.clone(),
            app: key.app.clone(),
            stream: key.stream.clone(),
        })?;
        Some(Box::new(HlsSink(publisher)))
    }
}

struct HlsSink(HlsPublisher);

impl StreamSink for HlsSink {
    fn on_frame(&mut self, frame: &Frame) {
        let kind = match frame.kind {
            FrameKind::Audio => TagKind::Audio,
            FrameKind::Video => TagKind::Video,
            FrameKind::Script => TagKind::Script,
        };
        self.0.on_frame(kind, frame.timestamp, &frame.payload);
    }

    fn on_unpublish(&mut self) {
        self.0.on_unpublish();
    }
}

/// Sets HLS up in a worker: the store, its sink on the hub, its `.m3u8`/`.ts` handlers.
pub fn install(hub: &Hub, files: &HttpFiles, settings: HlsSettings) -> HlsStore {
    let store = HlsStore::new(settings);
    hub.add_sink_factory(Arc::new(HlsSinkFactory::new(store.clone())));
    register(&store, files);
    store
}

/// Serves `.m3u8` and `.ts` through the worker's HTTP file dispatch.
pub fn register(store: &HlsStore, files: &HttpFiles) {
    for ext in [".m3u8", ".ts"] {
        let store = store.clone();
        files.register(
            ext,
            Arc::new(move |request: FileRequest| {
                let answer = respond_to(&store, &request);
                Box::pin(async move { answer })
            }),
        );
    }
}

/// Answers a stream file request the worker's router already split into vhost, app and stream.
fn respond_to(store: &HlsStore, request: &FileRequest) -> Response {
    let explicit = request
        .name
        .param
        .trim_start_matches('?')
        .split('&')
        .any(|pair| pair.starts_with("vhost="));
    let file = request.path.rsplit('/').next().unwrap_or("");
    respond(
        store,
        &request.name.vhost,
        explicit,
        &request.name.app,
        file,
    )
}

/// Writes segments and playlists under `root/APP/` on a thread of its own, so the publisher path
/// never waits for a disk.
struct DiskMirror {
    root: PathBuf,
    jobs: SyncSender<DiskJob>,
}

enum DiskJob {
    Write { path: PathBuf, data: Bytes },
    Remove { path: PathBuf },
}

impl DiskMirror {
    fn start(root: PathBuf) -> DiskMirror {
        let (jobs, queue) = sync_channel::<DiskJob>(DISK_QUEUE);
        let spawned = std::thread::Builder::new()
            .name("hls-disk".into())
            .spawn(move || {
                for job in queue {
                    match job {
                        DiskJob::Write { path, data } => {
                            if let Err(err) = write_atomically(&path, &data) {
                                tracing::warn!(path = %path.display(), %err, "cannot write HLS file");
                            }
                        }
                        DiskJob::Remove { path } => {
                            if let Err(err) = std::fs::remove_file(&path) {
                                if err.kind() != std::io::ErrorKind::NotFound {
                                    tracing::warn!(path = %path.display(), %err, "cannot remove HLS file");
                                }
                            }
                        }
                    }
                }
            });
        if let Err(err) = spawned {
            tracing::error!(%err, "cannot start the HLS disk writer");
        }
        DiskMirror { root, jobs }
    }

    fn dir(&self, id: &StreamId) -> PathBuf {
        self.root.join(&id.app)
    }

    fn send(&self, job: DiskJob) {
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                metrics::counter!("oryx_hls_disk_jobs_dropped_total").increment(1);
                tracing::warn!("HLS disk writer is behind; a file update was skipped");
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    fn write_segment(&self, id: &StreamId, name: &str, data: Bytes) {
        self.send(DiskJob::Write {
            path: self.dir(id).join(name),
            data,
        });
    }

    fn write_playlist(&self, id: &StreamId, text: Arc<str>) {
        self.send(DiskJob::Write {
            path: self.dir(id).join(format!("{}.m3u8", id.stream)),
            data: Bytes::copy_from_slice(text.as_bytes()),
        });
    }

    fn remove_segment(&self, id: &StreamId, name: &str) {
        self.send(DiskJob::Remove {
            path: self.dir(id).join(name),
        });
    }

    fn remove_stream(&self, id: &StreamId, sequences: &[u64]) {
        self.send(DiskJob::Remove {
            path: self.dir(id).join(format!("{}.m3u8", id.stream)),
        });
        for sequence in sequences {
            self.remove_segment(id, &format!("{}-{}.ts", id.stream, sequence));
        }
    }
}

/// Writes `path.tmp` then renames it over `path`, so CDN readers never see a partial file.
fn write_atomically(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, data)?;
    std::fs::rename(&temporary, path)
}

/// An app or stream name we accept in a URL: short, no path tricks, no control characters.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~'))
}

/// What an HLS URL asks for.
#[derive(Debug, PartialEq, Eq)]
enum HlsFile<'a> {
    Playlist { stream: &'a str },
    Segment { stream: &'a str, sequence: u64 },
}

fn parse_file(file: &str) -> Option<HlsFile<'_>> {
    if let Some(stream) = file.strip_suffix(".m3u8") {
        return Some(HlsFile::Playlist { stream });
    }
    let base = file.strip_suffix(".ts")?;
    let (stream, sequence) = base.rsplit_once('-')?;
    if sequence.is_empty() || sequence.len() > 19 || !sequence.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(HlsFile::Segment {
        stream,
        sequence: sequence.parse().ok()?,
    })
}

fn with_common_headers(mut response: Response, cache: &'static str) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

fn not_found(message: &'static str) -> Response {
    with_common_headers((StatusCode::NOT_FOUND, message).into_response(), "no-cache")
}

fn bad_request(message: &'static str) -> Response {
    with_common_headers(
        (StatusCode::BAD_REQUEST, message).into_response(),
        "no-cache",
    )
}

/// Answers `GET /APP/STREAM.m3u8` and `GET /APP/STREAM-SEQ.ts` for a request already split into
/// vhost (`explicit` when the client named it with `?vhost=`), app and file name.
pub fn respond(store: &HlsStore, vhost: &str, explicit: bool, app: &str, file: &str) -> Response {
    if !store.enabled() {
        return not_found("HLS is disabled\n");
    }
    if !valid_name(app) || file.len() > MAX_NAME_LEN + 24 || file.contains("..") {
        return bad_request("bad app or file name\n");
    }
    let Some(request) = parse_file(file) else {
        return not_found("not an HLS resource\n");
    };
    match request {
        HlsFile::Playlist { stream } => {
            if !valid_name(stream) {
                return bad_request("bad stream name\n");
            }
            match store.playlist(vhost, explicit, app, stream) {
                Some(text) => {
                    let mut response = text.to_string().into_response();
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/vnd.apple.mpegurl"),
                    );
                    with_common_headers(response, "no-cache")
                }
                None => not_found("no such stream\n"),
            }
        }
        HlsFile::Segment { stream, sequence } => {
            if !valid_name(stream) {
                return bad_request("bad stream name\n");
            }
            match store.segment(vhost, explicit, app, stream, sequence) {
                Some(data) => {
                    let mut response = data.into_response();
                    response
                        .headers_mut()
                        .insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp2t"));
                    // A segment never changes once published.
                    with_common_headers(response, "public, max-age=60")
                }
                None => not_found("no such segment\n"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hls_file_names() {
        assert_eq!(
            parse_file("cam.m3u8"),
            Some(HlsFile::Playlist { stream: "cam" })
        );
        assert_eq!(
            parse_file("my-cam-12.ts"),
            Some(HlsFile::Segment {
                stream: "my-cam",
                sequence: 12
            })
        );
        assert_eq!(parse_file("cam.flv"), None);
        assert_eq!(parse_file("cam-.ts"), None);
        assert_eq!(parse_file("cam-1x.ts"), None);
        assert_eq!(parse_file("cam-99999999999999999999.ts"), None);
    }

    #[test]
    fn validates_names() {
        assert!(valid_name("live"));
        assert!(valid_name("cam_1.hd"));
        for bad in [
            "",
            "..",
            ".hidden",
            "a/b",
            "a\0b",
            "a b",
            "é",
            &"x".repeat(129),
        ] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }

    fn settings(path: Option<String>) -> HlsSettings {
        HlsSettings {
            enabled: true,
            fragment_ms: 1000,
            window: 2,
            path,
        }
    }

    fn stream_id(stream: &str) -> StreamId {
        StreamId {
            vhost: DEFAULT_VHOST.into(),
            app: "live".into(),
            stream: stream.into(),
        }
    }

    /// Audio-only AAC frames: simplest way to make segments without a real encoder.
    fn feed_audio(publisher: &mut HlsPublisher, seconds: u32) {
        publisher.on_frame(TagKind::Audio, 0, &[0xaf, 0, 0x12, 0x10]);
        for i in 0..seconds * 43 {
            publisher.on_frame(TagKind::Audio, i * 1000 / 43, &[0xaf, 1, 0x21, 0x10, 0x04]);
        }
    }

    #[test]
    fn serves_playlists_and_segments_from_memory() {
        let store = HlsStore::new(settings(None));
        let mut publisher = store.publish(stream_id("cam")).unwrap();
        feed_audio(&mut publisher, 4);
        let vhost = DEFAULT_VHOST;
        // A vhost the client did not name explicitly falls back to the only stream of that name.
        let playlist = store.playlist("127.0.0.1", false, "live", "cam").unwrap();
        assert!(playlist.contains("cam-1.ts"), "{playlist}");
        let response = respond(&store, vhost, false, "live", "cam.m3u8");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/vnd.apple.mpegurl"
        );
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache");
        assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        let response = respond(&store, vhost, false, "live", "cam-1.ts");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "video/mp2t");
        for (app, file, status) in [
            ("live", "nope.m3u8", StatusCode::NOT_FOUND),
            ("live", "cam-999.ts", StatusCode::NOT_FOUND),
            ("live", "cam.flv", StatusCode::NOT_FOUND),
            ("..", "cam.m3u8", StatusCode::BAD_REQUEST),
            ("live", "..cam.m3u8", StatusCode::BAD_REQUEST),
            ("live", "c\0am.m3u8", StatusCode::BAD_REQUEST),
        ] {
            assert_eq!(
                respond(&store, vhost, false, app, file).status(),
                status,
                "{app}/{file}"
            );
        }
        assert_eq!(
            respond(&store, "elsewhere", true, "live", "cam.m3u8").status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn mirrors_to_disk_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let store = HlsStore::new(settings(Some(dir.path().display().to_string())));
        let mut publisher = store.publish(stream_id("cam")).unwrap();
        feed_audio(&mut publisher, 10);
        publisher.on_unpublish();
        let app_dir = dir.path().join("live");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut names: Vec<String> = std::fs::read_dir(&app_dir)
                .map(|entries| {
                    entries
                        .filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            let playlist = std::fs::read_to_string(app_dir.join("cam.m3u8")).unwrap_or_default();
            let listed: Vec<&str> = playlist.lines().filter(|l| l.ends_with(".ts")).collect();
            // Window 2 plus spares; older segments were deleted; no temporary files remain.
            let settled = listed.len() == 2
                && names.iter().all(|n| !n.ends_with(".tmp"))
                && names.iter().filter(|n| n.ends_with(".ts")).count()
                    <= 2 + crate::media::hls::SPARE_SEGMENTS
                && !names.contains(&"cam-0.ts".to_string());
            if settled {
                for name in listed {
                    assert!(names.contains(&name.to_string()), "{name} in {names:?}");
                }
                break;
            }
            assert!(
                Instant::now() < deadline,
                "disk mirror did not settle: {names:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn disabled_store_makes_no_publishers() {
        let mut off = settings(None);
        off.enabled = false;
        let store = HlsStore::new(off);
        assert!(store.publish(stream_id("cam")).is_none());
        assert_eq!(
            respond(&store, DEFAULT_VHOST, false, "live", "cam.m3u8").status(),
            StatusCode::NOT_FOUND
        );
    }
}
