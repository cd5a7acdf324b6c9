//! HLS in the embedded worker: one in-memory segmenter per published stream, TS or fMP4 (fed by the
//! hub's publisher path through [`sink`]), served as `GET /APP/STREAM.m3u8`, `/APP/STREAM-SEQ.ts`
//! or `.m4s`, LL-HLS parts `/APP/STREAM-pN.m4s` and init segments `/APP/STREAM-init.mp4`
//! ([`serve`]; blocking LL-HLS requests in [`blocking`]) behind the `on-play` hooks when set
//! ([`auth`], [`session`]), optionally mirrored into `hls.path` for a CDN ([`disk`]).

pub mod auth;
mod blocking;
mod disk;
pub mod master;
pub mod serve;
pub mod session;
pub mod sink;

use crate::compile::plan::HlsSettings;
use crate::compile::plan::{HlsSegmentFormat, DEFAULT_HLS_PART_MS};
use crate::media::flv::TagKind;
use crate::media::hls::{HlsConfig, SegmentFormat, StreamSegmenter, Update};
use crate::worker::context::WorkerContext;
use crate::worker::http::HttpFiles;
use bytes::Bytes;
use disk::DiskMirror;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use auth::PlayGate;
pub use serve::{register, respond, valid_name};
pub use sink::HlsSinkFactory;

/// Streams are keyed by their name without a query ([`StreamName::without_param`]).
pub use crate::stream_name::{StreamName, DEFAULT_VHOST};

/// One stream's HLS state; it outlives a publish so a republish continues the playlist.
struct StreamHls {
    segmenter: StreamSegmenter,
    /// The playlist served (with LL-HLS parts when low latency is on), re-rendered as it changes.
    playlist: Option<Arc<str>>,
    /// Bumped whenever the playlist changes: what blocked LL-HLS requests wait on ([`blocking`]).
    changes: tokio::sync::watch::Sender<u64>,
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
    /// Swapped by a reload ([`HlsStore::update`]); `path` stays what the store started with.
    settings: std::sync::RwLock<HlsSettings>,
    streams: Mutex<HashMap<StreamName, Arc<Mutex<StreamHls>>>>,
    disk: Option<DiskMirror>,
    /// Streams with a transcode: their `.m3u8` is a master playlist ([`master`]).
    masters: master::Masters,
    /// The one clock of every blocked LL-HLS request: ticks every [`blocking::TICK`].
    ticks: tokio::sync::watch::Sender<u64>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take HLS down with it: the data is still consistent per call.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl HlsStore {
    pub fn new(settings: HlsSettings) -> HlsStore {
        HlsStore::with_owner(settings, None)
    }

    /// The store of the worker named `owner`: its files in `hls.path` say so, and the files a
    /// previous run of it left there are removed first.
    pub fn for_worker(settings: HlsSettings, owner: &str) -> HlsStore {
        HlsStore::with_owner(settings, Some(owner.to_string()))
    }

    fn with_owner(settings: HlsSettings, owner: Option<String>) -> HlsStore {
        let disk = settings
            .path
            .as_ref()
            .map(|root| DiskMirror::start(PathBuf::from(root), owner));
        HlsStore {
            inner: Arc::new(StoreInner {
                settings: std::sync::RwLock::new(settings),
                streams: Mutex::new(HashMap::new()),
                disk,
                masters: master::Masters::default(),
                ticks: tokio::sync::watch::Sender::new(0),
            }),
        }
    }

    fn settings(&self) -> HlsSettings {
        self.inner
            .settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A reload's new HLS settings: new streams start with them, running ones take the fragment and
    /// window from their next segment. The disk directory is fixed when the worker starts.
    pub fn update(&self, new: &HlsSettings) {
        {
            let mut settings = self
                .inner
                .settings
                .write()
                .unwrap_or_else(|e| e.into_inner());
            settings.enabled = new.enabled;
            settings.fragment_ms = new.fragment_ms;
            settings.window = new.window;
            // New streams take these, and republishes under `auto`; a running one keeps its format.
            settings.segment_format = new.segment_format;
            settings.low_latency = new.low_latency;
            settings.part_ms = new.part_ms;
        }
        let entries: Vec<_> = lock(&self.inner.streams).values().cloned().collect();
        for entry in entries {
            lock(&entry)
                .segmenter
                .reconfigure(new.fragment_ms, new.window as usize);
        }
    }

    pub fn enabled(&self) -> bool {
        self.settings().enabled
    }

    /// The streams whose playlist is a master one (a transcode registers its renditions here).
    pub fn masters(&self) -> master::Masters {
        self.inner.masters.clone()
    }

    /// How long a stream's segments stay after its publisher left: long enough for players to
    /// drain the window, short enough that dead streams do not pile up.
    fn dispose_after(&self) -> Duration {
        let settings = self.settings();
        let window_ms = settings.fragment_ms.max(100) * u64::from(settings.window.max(1));
        Duration::from_millis((window_ms * 2).max(10_000))
    }

    /// A publisher started: returns the sink its frames go to. `None` when HLS is off.
    pub fn publish(&self, name: StreamName) -> Option<HlsPublisher> {
        if !self.enabled() {
            return None;
        }
        // The stream, not the publisher's query: players come with queries of their own.
        let id = StreamName {
            param: String::new(),
            ..name
        };
        self.sweep();
        if let Some(disk) = &self.inner.disk {
            if disk.dir(&id).is_none() {
                tracing::warn!(
                    vhost = %id.vhost, app = %id.app, stream = %id.stream,
                    "HLS names unfit for a file path; this stream is served from memory only"
                );
            }
        }
        let settings = self.settings();
        let entry = {
            let mut streams = lock(&self.inner.streams);
            streams
                .entry(id.clone())
                .or_insert_with(|| {
                    Arc::new(Mutex::new(StreamHls {
                        segmenter: new_segmenter(&id, &settings),
                        playlist: None,
                        changes: tokio::sync::watch::Sender::new(0),
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
            if state.segmenter.ended() {
                if settings.segment_format == HlsSegmentFormat::Auto {
                    // A republish may bring other codecs: `auto` chooses again from its frames.
                    state.segmenter.redecide();
                }
                // Live again: players reloading before the first new segment must not see ENDLIST.
                state.segmenter.resume();
                self.apply_with(&id, &mut state, Update::default(), true);
            }
        }
        Some(HlsPublisher {
            store: self.clone(),
            id,
            entry,
            ended: false,
        })
    }

    /// Wakes every blocked LL-HLS request so it can check its deadline (the store's one timer).
    pub fn tick(&self) {
        self.inner.ticks.send_modify(|t| *t = t.wrapping_add(1));
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
                disposed.push((id.clone(), state.segmenter.held_files()));
            }
            keep
        });
        if let Some(disk) = &self.inner.disk {
            for (id, names) in disposed {
                disk.remove_stream(&id, &names);
            }
        }
    }

    /// Streams known to the store (publishing or recently ended).
    pub fn stream_ids(&self) -> Vec<StreamName> {
        let mut ids: Vec<StreamName> = lock(&self.inner.streams).keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Bytes held in segments across all streams (bounded by window + spares per stream).
    pub fn memory_bytes(&self) -> usize {
        let entries: Vec<_> = lock(&self.inner.streams).values().cloned().collect();
        entries
            .iter()
            .map(|entry| lock(entry).segmenter.memory_bytes())
            .sum()
    }

    /// The LL-HLS live edge of a stream (`None` without low latency).
    pub fn position(&self, id: &StreamName) -> Option<crate::media::hls::ll_playlist::Position> {
        self.entry(id)
            .and_then(|entry| lock(&entry).segmenter.position())
    }

    /// Frames HLS dropped for a stream (before the first keyframe, malformed).
    pub fn dropped_frames(&self, id: &StreamName) -> u64 {
        self.entry(id)
            .map_or(0, |entry| lock(&entry).segmenter.stats().dropped_frames)
    }

    fn entry(&self, id: &StreamName) -> Option<Arc<Mutex<StreamHls>>> {
        lock(&self.inner.streams).get(id).cloned()
    }

    /// Finds the stream a request means: the exact vhost first; when the client named no vhost
    /// explicitly (only a Host header), the only stream with that app and name on any vhost.
    fn lookup(
        &self,
        vhost: &str,
        explicit: bool,
        app: &str,
        stream: &str,
    ) -> Option<(StreamName, Arc<Mutex<StreamHls>>)> {
        let streams = lock(&self.inner.streams);
        let exact = StreamName::new(vhost, app, stream);
        if let Some(entry) = streams.get(&exact) {
            return Some((exact, entry.clone()));
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
        Some((first.0.clone(), first.1.clone()))
    }

    /// The current playlist of a stream, as written to disk (its URIs bare).
    pub fn playlist(
        &self,
        vhost: &str,
        explicit: bool,
        app: &str,
        stream: &str,
    ) -> Option<Arc<str>> {
        let (_, entry) = self.lookup(vhost, explicit, app, stream)?;
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
        let (_, entry) = self.lookup(vhost, explicit, app, stream)?;
        let state = lock(&entry);
        state
            .segmenter
            .segment(sequence)
            .map(|segment| segment.data.clone())
    }

    fn apply(&self, id: &StreamName, state: &mut StreamHls, update: Update) {
        self.apply_with(id, state, update, false);
    }

    /// Publishes what `update` changed; `rerender` renders the playlist even when no segment came
    /// or went (it ended, or went live again).
    fn apply_with(&self, id: &StreamName, state: &mut StreamHls, update: Update, rerender: bool) {
        if !rerender && !update.changed() {
            return;
        }
        // A republish that switched formats has no segment of its own yet: players keep the
        // previous playlist (live again) until its first one, then see a discontinuity.
        if let Some(text) = state.segmenter.live_playlist(false) {
            state.playlist = Some(Arc::from(text));
        }
        state.changes.send_modify(|v| *v = v.wrapping_add(1));
        if let Some(disk) = &self.inner.disk {
            disk.mirror(id, &state.segmenter, &update, rerender);
        }
    }
}

/// A stream's segmenter as the settings say: TS, fMP4, or `auto`; LL-HLS parts with `low-latency`.
fn new_segmenter(id: &StreamName, settings: &HlsSettings) -> StreamSegmenter {
    let format = match settings.segment_format {
        HlsSegmentFormat::Auto => SegmentFormat::Auto,
        HlsSegmentFormat::Ts => SegmentFormat::Ts,
        HlsSegmentFormat::Fmp4 => SegmentFormat::Fmp4,
    };
    let part_ms = settings
        .low_latency
        .then(|| settings.part_ms.unwrap_or(DEFAULT_HLS_PART_MS));
    StreamSegmenter::new(
        HlsConfig {
            stream: id.stream.clone(),
            fragment_ms: settings.fragment_ms,
            window: settings.window as usize,
        },
        format,
        part_ms,
    )
}

/// The HLS side of one publish: the hub hands it every frame.
pub struct HlsPublisher {
    store: HlsStore,
    id: StreamName,
    entry: Arc<Mutex<StreamHls>>,
    ended: bool,
}

impl HlsPublisher {
    pub fn on_frame(&mut self, kind: TagKind, timestamp: u32, payload: &Bytes) {
        let mut state = lock(&self.entry);
        let update = state.segmenter.push(kind, timestamp, payload);
        self.store.apply(&self.id, &mut state, update);
    }

    /// Whether the segmenter takes Opus as it is (fMP4, or `auto` before its choice, which picks
    /// fMP4 for Opus); a TS one needs AAC.
    pub fn carries_opus(&self) -> bool {
        lock(&self.entry).segmenter.carries_opus()
    }

    pub fn on_unpublish(&mut self) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        let mut state = lock(&self.entry);
        let update = state.segmenter.end_of_stream();
        // The playlist now ends with `#EXT-X-ENDLIST`, in memory and on disk.
        self.store.apply_with(&self.id, &mut state, update, true);
        state.publishing = false;
        state.idle_since = Some(Instant::now());
    }
}

impl Drop for HlsPublisher {
    fn drop(&mut self) {
        self.on_unpublish();
    }
}

/// How often ended streams and idle play sessions are looked for.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Sets HLS up in the worker `name`: the store, its sink on the hub, its `.m3u8`/`.ts` handlers
/// (behind the `on-play` hooks when set) and a task that disposes of ended streams and idle
/// sessions. Runs inside the worker's runtime.
pub fn install(ctx: &Arc<WorkerContext>, files: &HttpFiles, name: &str) -> HlsStore {
    let store = HlsStore::for_worker(ctx.settings().hls.clone(), name);
    ctx.hub.add_sink_factory(Arc::new(HlsSinkFactory::new(
        store.clone(),
        ctx.legacy_audio.clone(),
    )));
    // Always a gate: `on-play` may be added by a reload; it lets requests through while unset.
    let gate = Some(PlayGate::always(ctx, super::hls::session::MAX_SESSIONS));
    let masters = master::MasterSource {
        masters: store.masters(),
        hub: ctx.hub.clone(),
    };
    register(&store, files, gate.clone(), Some(masters));
    let ticking = store.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(blocking::TICK);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            ticking.tick();
        }
    });
    let sweeping = store.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(SWEEP_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            sweeping.sweep();
            if let Some(gate) = &gate {
                gate.expire();
            }
        }
    });
    store
}

#[cfg(test)]
mod tests;
