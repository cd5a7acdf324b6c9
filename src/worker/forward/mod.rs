//! Forwards (`forward "rtmp[s]://…"` in a stream rule): the worker that holds a publisher pushes the
//! stream to every forward URL of the first matching rule, with oryx's own RTMP client, reconnecting
//! with backoff; the state of each is in `/api/v1/streams` and `/metrics`. Contract: `docs/forward.md`.
//!
//! Rooms: `target.rs` (the URL), `queue.rs` (the bounded queue that skips a slow target ahead),
//! `audio.rs` (Opus as it is, or AAC for a target that did not list Opus),
//! `status.rs` (what the sink, the task and the API share), `push.rs` (the connection task). This
//! file is the hub's side: a sink per publish, and the registry the API and metrics read.

mod audio;
mod push;
mod queue;
mod status;
mod target;

pub use status::{ForwardSnapshot, State};

use crate::compile::placeholders::{expand, start_stamp, Values};
use crate::worker::hub::{Frame, FramePlace, SinkFactory, StreamName, StreamSink};
use crate::worker::settings::LiveSettings;
use serde_json::Value;
use status::Forward;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The forwards of one publish, with the id of that publish.
type Published = (u64, Vec<Arc<Forward>>);

/// The forwards of every stream being published now, by `vhost/app/stream`.
#[derive(Clone, Default)]
pub struct Forwards {
    /// Each entry carries the id of the publish that made it, so a late unpublish of an earlier
    /// publish does not remove a newer one's.
    streams: Arc<Mutex<HashMap<String, Published>>>,
    next_publish: Arc<AtomicU64>,
}

fn stream_key(vhost: &str, app: &str, stream: &str) -> String {
    format!("{vhost}/{app}/{stream}")
}

impl Forwards {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Published>> {
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The forwards of one stream, in rule order (empty when it has none).
    pub fn of_stream(&self, vhost: &str, app: &str, stream: &str) -> Vec<ForwardSnapshot> {
        let list = self
            .lock()
            .get(&stream_key(vhost, app, stream))
            .map(|(_, list)| list.clone())
            .unwrap_or_default();
        list.iter().map(|f| f.snapshot()).collect()
    }

    /// `"forwards"` of a stream entry in `/api/v1/streams`.
    pub fn json(&self, vhost: &str, app: &str, stream: &str) -> Value {
        Value::Array(
            self.of_stream(vhost, app, stream)
                .iter()
                .map(ForwardSnapshot::json)
                .collect(),
        )
    }

    /// Every forward of the worker, for `/metrics`.
    pub fn all(&self) -> Vec<ForwardSnapshot> {
        let lists: Vec<Arc<Forward>> = self
            .lock()
            .values()
            .flat_map(|(_, list)| list.iter().cloned())
            .collect();
        lists.iter().map(|f| f.snapshot()).collect()
    }
}

/// Registers the forward sink on the worker's hub; `rtmp` is the worker's RTMP address (`{url}`).
pub fn install(ctx: &crate::worker::context::WorkerContext, rtmp: SocketAddr) -> Forwards {
    let forwards = Forwards::default();
    ctx.hub.add_sink_factory(Arc::new(ForwardSinkFactory {
        live: ctx.live().clone(),
        forwards: forwards.clone(),
        rtmp,
        legacy: ctx.legacy_audio.clone(),
    }));
    forwards
}

/// At each publish: the forwards of the first matching rule, each with its push task.
struct ForwardSinkFactory {
    live: Arc<LiveSettings>,
    forwards: Forwards,
    rtmp: SocketAddr,
    legacy: Arc<crate::worker::audio_legacy::LegacyAudio>,
}

impl SinkFactory for ForwardSinkFactory {
    fn create(&self, key: &StreamName, internal: bool) -> Option<Box<dyn StreamSink>> {
        // The worker's own renditions are not matched by rules again (docs/transcode.md).
        if internal {
            return None;
        }
        // The settings in force at this publish: a reload applies to the next one.
        let settings = self.live.get();
        let rule = crate::compile::pattern::first_match(
            &settings.rules,
            &key.vhost,
            &key.app,
            &key.stream,
        )?;
        if rule.forwards.is_empty() {
            return None;
        }
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let name = stream_key(&key.vhost, &key.app, &key.stream);
        let start = start_stamp(std::time::SystemTime::now());
        let url = play_url(self.rtmp, key);
        let values = Values::of(key, &start, &url);
        let mut list = Vec::new();
        for forward in &rule.forwards {
            let target = match target::Target::parse(&expand(&forward.url, &values)) {
                Ok(target) => target,
                Err(reason) => {
                    tracing::warn!(stream = %name, error = %reason, "forward skipped");
                    continue;
                }
            };
            let shared = Arc::new(Forward::new(
                target::mask_key(&target.masked, &key.stream),
                settings.player_queue_bytes as usize,
            ));
            let push = push::Push {
                forward: shared.clone(),
                target,
                ca: forward.ca.clone(),
                stream: name.clone(),
                legacy: self.legacy.clone(),
            };
            runtime.spawn(push.run());
            list.push(shared);
        }
        if list.is_empty() {
            return None;
        }
        let publish = self.forwards.next_publish.fetch_add(1, Ordering::Relaxed);
        self.forwards
            .lock()
            .insert(name.clone(), (publish, list.clone()));
        Some(Box::new(ForwardSink {
            list,
            forwards: self.forwards.clone(),
            name,
            publish,
        }))
    }
}

/// `{url}`: a loopback RTMP URL that plays the stream from this worker, as exec's `{url}` but
/// without the internal credential (a forward URL leaves the process).
fn play_url(rtmp: SocketAddr, key: &StreamName) -> String {
    key.rtmp_url(crate::net::reachable::reachable(rtmp), &key.stream, None)
}

/// The publisher's side: hands each frame to every forward's queue, never waiting.
struct ForwardSink {
    list: Vec<Arc<Forward>>,
    forwards: Forwards,
    name: String,
    publish: u64,
}

impl StreamSink for ForwardSink {
    fn on_frame(&mut self, frame: &Frame) {
        self.on_frame_at(frame, FramePlace { stream: 0, seq: 0 });
    }

    fn on_frame_at(&mut self, frame: &Frame, place: FramePlace) {
        for forward in &self.list {
            if forward.queue().push_at(frame, place) {
                forward.wake.notify_one();
            }
        }
    }

    fn on_unpublish(&mut self) {
        for forward in &self.list {
            forward.end();
        }
        let mut streams = self.forwards.lock();
        if streams
            .get(&self.name)
            .is_some_and(|(publish, _)| *publish == self.publish)
        {
            streams.remove(&self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::plan::{ForwardTarget, StreamRule};

    fn rule(pattern: &str, url: &str) -> StreamRule {
        StreamRule {
            pattern: pattern.into(),
            record: None,
            forwards: vec![ForwardTarget {
                url: url.into(),
                ca: None,
            }],
            transcode: None,
            exec: Vec::new(),
            on_record: Vec::new(),
        }
    }

    fn key(app: &str, stream: &str) -> StreamName {
        StreamName {
            vhost: crate::route::DEFAULT_VHOST.into(),
            app: app.into(),
            stream: stream.into(),
            param: String::new(),
        }
    }

    #[tokio::test]
    async fn a_publish_gets_the_first_matching_rules_forwards_until_it_ends() {
        let ctx = crate::worker::context::WorkerContext::new(
            crate::compile::plan::StreamSettings {
                rules: vec![
                    rule("live/*", "rtmp://127.0.0.1:9/live/{stream}?key=s3cret"),
                    rule("**", "rtmp://127.0.0.1:9/all/{stream}"),
                ],
                ..crate::worker::hub::tests::settings()
            },
            false,
        );
        let forwards = install(&ctx, "127.0.0.1:1935".parse().unwrap());
        let factory = ForwardSinkFactory {
            live: ctx.live().clone(),
            forwards: forwards.clone(),
            rtmp: "127.0.0.1:1935".parse().unwrap(),
            legacy: ctx.legacy_audio.clone(),
        };
        let mut sink = factory.create(&key("live", "cam"), false).expect("a sink");
        let vhost = crate::route::DEFAULT_VHOST;
        let listed = forwards.of_stream(vhost, "live", "cam");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].url, "rtmp://127.0.0.1:9/live/cam?key=***");
        assert_eq!(forwards.all().len(), 1);
        assert!(
            factory.create(&key("other", "x"), false).is_some(),
            "`**` matches"
        );
        sink.on_unpublish();
        assert!(forwards.of_stream(vhost, "live", "cam").is_empty());

        // A reload applies from the next publish.
        let mut reloaded = (*ctx.settings()).clone();
        reloaded.rules = vec![rule("other/*", "rtmp://127.0.0.1:9/x/{stream}")];
        ctx.live().set(reloaded);
        assert!(factory.create(&key("live", "cam"), false).is_none());
        assert!(factory.create(&key("other", "y"), false).is_some());
    }

    #[test]
    fn the_url_placeholder_plays_from_this_worker() {
        let addr = "127.0.0.1:1935".parse().unwrap();
        assert_eq!(
            play_url(addr, &key("live", "cam")),
            "rtmp://127.0.0.1:1935/live/cam"
        );
        let mut other = key("live", "cam");
        other.vhost = "example.com".into();
        assert_eq!(
            play_url(addr, &other),
            "rtmp://127.0.0.1:1935/live/cam?vhost=example.com"
        );
    }
}
