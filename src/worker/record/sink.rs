//! The hub's side of recording: at each publish, the first stream rule matching the stream decides;
//! with a `record`, a sink hands every frame (a cheap `Bytes` clone) to a bounded queue drained by a
//! writer thread. When the queue is full the sink drops frames up to the next keyframe (counted in
//! `oryx_record_dropped_frames_total`) and resumes there, headers first: the publisher never waits.

use super::queue::{Msg, Queue};
use super::status::RecordRegistry;
use super::writer::{Notify, RecordedFile, Recorder};
use crate::compile::pattern::first_match;
use crate::compile::plan::RecordFormat;
use crate::worker::audio_legacy::{is_opus, LegacyAudio, LegacyTap};
use crate::worker::context::WorkerContext;
use crate::worker::hub::{Frame, FrameKind, FramePlace, SinkFactory, StreamName, StreamSink};
use std::sync::{Arc, Weak};

pub struct RecordSinkFactory {
    /// Weak: the context holds the hub, which holds this factory.
    ctx: Weak<WorkerContext>,
    registry: RecordRegistry,
}

impl RecordSinkFactory {
    pub fn new(ctx: Weak<WorkerContext>, registry: RecordRegistry) -> RecordSinkFactory {
        RecordSinkFactory { ctx, registry }
    }
}

impl SinkFactory for RecordSinkFactory {
    fn create(&self, key: &StreamName, internal: bool) -> Option<Box<dyn StreamSink>> {
        // The worker's own renditions are not matched by rules again (docs/transcode.md).
        if internal {
            return None;
        }
        let ctx = self.ctx.upgrade()?;
        // The settings in force at this publish: a reload applies to the next one.
        let settings = ctx.settings();
        let rule = first_match(&settings.rules, &key.vhost, &key.app, &key.stream)?;
        let record = rule.record.clone()?;
        // FLV readers before FFmpeg 7.1 know no E-RTMP audio: an Opus stream is recorded as AAC.
        let legacy = (record.format == RecordFormat::Flv).then(|| ctx.legacy_audio.clone());
        let name = format!("{}/{}/{}", key.vhost, key.app, key.stream);
        let status = self.registry.start(&name, &record.path);
        let notify = notifier(&ctx, rule.on_record.clone(), &settings.hooks);
        let queue = Arc::new(Queue::default());
        let mut recorder = Recorder::new(record, key.clone(), status, notify);
        let draining = queue.clone();
        let guard = super::WriterGuard::new();
        let spawned = std::thread::Builder::new()
            .name("record".into())
            .spawn(move || {
                let _guard = guard;
                loop {
                    match draining.pop() {
                        Msg::Frame(frame) => recorder.on_frame(&frame),
                        Msg::End => return recorder.finish(),
                    }
                }
            });
        if let Err(err) = spawned {
            tracing::error!(stream = %name, %err, "cannot start a recording thread; not recording");
            return None;
        }
        let mut sink = RecordSink::new(queue, name);
        sink.legacy = legacy;
        Some(Box::new(sink))
    }
}

/// Posts each closed file to `urls` from the worker's runtime (the writer thread has none).
fn notifier(
    ctx: &WorkerContext,
    urls: Vec<String>,
    hooks: &crate::compile::plan::HookSettings,
) -> Notify {
    let runtime = tokio::runtime::Handle::try_current().ok();
    let client = ctx.hooks_for(hooks);
    Box::new(move |file: RecordedFile| {
        tracing::info!(path = %file.path, duration = file.duration, bytes = file.bytes, "recorded");
        let (Some(runtime), false) = (&runtime, urls.is_empty()) else {
            return;
        };
        let (client, urls) = (client.clone(), urls.clone());
        runtime.spawn(async move { client.tell(&urls, "on_record", &file).await });
    })
}

struct RecordSink {
    queue: Arc<Queue>,
    name: String,
    /// The queue was full: frames are dropped until a keyframe fits.
    dropping: bool,
    dropped: u64,
    /// The latest metadata, video and audio sequence headers, sent again when a drop ends.
    headers: [Option<Frame>; 3],
    /// An FLV recording's Opus→AAC transcoders; the stream's is joined at its first Opus tag.
    legacy: Option<Arc<LegacyAudio>>,
    tap: Option<LegacyTap>,
}

impl RecordSink {
    fn new(queue: Arc<Queue>, name: String) -> RecordSink {
        RecordSink {
            queue,
            name,
            dropping: false,
            dropped: 0,
            headers: [None, None, None],
            legacy: None,
            tap: None,
        }
    }
}

impl StreamSink for RecordSink {
    fn on_frame(&mut self, frame: &Frame) {
        if frame.is_metadata() || frame.is_sequence_header() {
            let slot = match frame.kind {
                FrameKind::Script => 0,
                FrameKind::Video => 1,
                FrameKind::Audio => 2,
            };
            self.headers[slot] = Some(frame.clone());
        }
        if !self.dropping {
            if self.queue.try_push(frame) {
                return;
            }
            self.dropping = true;
            tracing::warn!(stream = %self.name, "the recording falls behind; dropping frames up to a keyframe");
        }
        let resumed = frame.is_keyframe() && {
            let mut batch: Vec<Frame> = self.headers.iter().flatten().cloned().collect();
            batch.push(frame.clone());
            self.queue.try_push_all(batch)
        };
        if resumed {
            tracing::info!(stream = %self.name, dropped = self.dropped, "the recording caught up");
            self.dropping = false;
            self.dropped = 0;
        } else {
            self.dropped += 1;
            metrics::counter!("oryx_record_dropped_frames_total").increment(1);
        }
    }

    fn on_frame_at(&mut self, frame: &Frame, place: FramePlace) {
        let Some(legacy) = self.legacy.as_ref().filter(|_| is_opus(frame)) else {
            return self.on_frame(frame);
        };
        let tap = self
            .tap
            .get_or_insert_with(|| LegacyTap::new(legacy.clone(), place.stream));
        match tap.convert(frame, place.seq) {
            Some(aac) => aac.iter().for_each(|f| self.on_frame(f)),
            None => self.on_frame(frame),
        }
    }

    fn on_unpublish(&mut self) {
        self.queue.end();
        self.tap = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::sample_frames;
    use crate::worker::record::queue::MAX_QUEUE_FRAMES;

    fn frame(kind: FrameKind, payload: bytes::Bytes) -> Frame {
        Frame {
            kind,
            timestamp: 0,
            payload,
        }
    }

    #[test]
    fn a_full_queue_drops_up_to_a_keyframe_and_resumes_with_the_headers() {
        let queue = Arc::new(Queue::default());
        let mut sink = RecordSink::new(queue.clone(), "v/rec/show".into());
        sink.on_frame(&frame(
            FrameKind::Video,
            sample_frames::video_sequence_header(),
        ));
        sink.on_frame(&frame(
            FrameKind::Audio,
            sample_frames::audio_sequence_header(),
        ));
        let inter = frame(FrameKind::Video, sample_frames::video_frame(false));
        while queue.len() < MAX_QUEUE_FRAMES {
            sink.on_frame(&inter);
        }
        // Full: inter frames and audio are dropped, never queued.
        sink.on_frame(&inter);
        sink.on_frame(&frame(FrameKind::Audio, sample_frames::audio_frame()));
        assert!(sink.dropping);
        assert_eq!(sink.dropped, 2);
        // The writer catches up a little: a keyframe with both headers fits again.
        for _ in 0..3 {
            queue.pop();
        }
        sink.on_frame(&inter);
        assert!(sink.dropping, "an inter frame does not end the drop");
        sink.on_frame(&frame(FrameKind::Video, sample_frames::video_frame(true)));
        assert!(!sink.dropping);
        assert_eq!(queue.len(), MAX_QUEUE_FRAMES);
        // The newest three: video header, audio header, keyframe.
        let tail: Vec<Frame> = (0..MAX_QUEUE_FRAMES)
            .filter_map(|_| match queue.pop() {
                Msg::Frame(f) => Some(f),
                Msg::End => None,
            })
            .collect();
        let tail = &tail[tail.len() - 3..];
        assert!(tail[0].is_sequence_header() && tail[0].kind == FrameKind::Video);
        assert!(tail[1].is_sequence_header() && tail[1].kind == FrameKind::Audio);
        assert!(tail[2].is_keyframe());
    }
}
