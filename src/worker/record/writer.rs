//! One publish's recording, run on a writer thread: opens a file at the first keyframe (sequence
//! headers and metadata first), a new one at the first keyframe after `segment` and when the codecs
//! change, writes frames as they come, and reports each closed file. A failure (unwritable path,
//! full disk) ends the file, is logged once per episode and retried at a later keyframe.

use super::format::FileMuxer;
use super::status::RecordStatus;
use crate::compile::placeholders::{expand, start_stamp, Values};
use crate::compile::plan::RecordRule;
use crate::worker::hub::{Frame, FrameKind, StreamName};
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// After a failure, the next attempt waits at least this long (and for a keyframe).
pub const RETRY_INTERVAL: Duration = Duration::from_secs(2);
/// `NAME-1.mp4` … `NAME-999.mp4` are tried before a file name counts as taken.
const MAX_SUFFIX: u32 = 999;

/// The `on_record` hook's JSON body: one closed file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedFile {
    pub action: &'static str,
    pub path: String,
    /// The file's `{start}` stamp (UTC, `2026-12-02T06-00-00`).
    pub start: String,
    /// Seconds of media in the file.
    pub duration: f64,
    pub bytes: u64,
    pub vhost: String,
    pub app: String,
    pub stream: String,
}

/// Told about every closed file (the `on_record` hooks).
pub type Notify = Box<dyn Fn(RecordedFile) + Send>;

/// The file being written.
struct OpenFile {
    path: PathBuf,
    file: File,
    muxer: FileMuxer,
    stamp: String,
    /// The publisher's timestamp of the file's first keyframe: the file's time 0.
    base: u32,
    last_ms: u64,
    /// The last video frame's time and the gap before it: the file's end is one frame later.
    last_video_ms: Option<u64>,
    video_interval_ms: u64,
    bytes: u64,
}

/// The latest sequence headers and metadata, which start every file.
#[derive(Default)]
struct Headers {
    metadata: Option<Frame>,
    video: Option<Frame>,
    audio: Option<Frame>,
}

pub struct Recorder {
    rule: RecordRule,
    key: StreamName,
    status: Arc<RecordStatus>,
    notify: Notify,
    headers: Headers,
    file: Option<OpenFile>,
    retry_at: Option<Instant>,
    buf: Vec<u8>,
}

impl Recorder {
    pub fn new(
        rule: RecordRule,
        key: StreamName,
        status: Arc<RecordStatus>,
        notify: Notify,
    ) -> Recorder {
        Recorder {
            rule,
            key,
            status,
            notify,
            headers: Headers::default(),
            file: None,
            retry_at: None,
            buf: Vec::with_capacity(64 * 1024),
        }
    }

    pub fn on_frame(&mut self, frame: &Frame) {
        if frame.is_sequence_header() || frame.is_metadata() {
            let slot = match frame.kind {
                FrameKind::Video => &mut self.headers.video,
                FrameKind::Audio => &mut self.headers.audio,
                FrameKind::Script => &mut self.headers.metadata,
            };
            if slot
                .as_ref()
                .is_some_and(|old| old.payload == frame.payload)
            {
                return; // a repeat changes nothing
            }
            *slot = Some(frame.clone());
            if self.file.is_some() {
                self.write(frame);
            }
            return;
        }
        if frame.kind == FrameKind::Script {
            return;
        }
        // Files start at a keyframe; audio-only streams at any audio frame.
        let starts_file =
            frame.is_keyframe() || (frame.kind == FrameKind::Audio && self.headers.video.is_none());
        if starts_file {
            if let Some(open) = &self.file {
                let at = relative(frame.timestamp, open.base);
                let due = self.rule.segment_ms.is_some_and(|segment| at >= segment);
                if due || open.muxer.needs_new_file() {
                    self.close(Some(at));
                }
            }
            if self.file.is_none() && self.retry_at.is_none_or(|at| Instant::now() >= at) {
                self.open(frame.timestamp);
            }
        }
        if self.file.is_some() {
            self.write(frame);
        }
    }

    /// The publisher left: the open file is closed and reported.
    pub fn finish(&mut self) {
        self.close(None);
        self.status.ended();
    }

    fn open(&mut self, base: u32) {
        let stamp = start_stamp(SystemTime::now());
        let values = Values::of(&self.key, &stamp, "");
        let wanted = PathBuf::from(expand(&self.rule.path, &values));
        let (path, file) = match create_unique(&wanted) {
            Ok(opened) => opened,
            Err(err) => return self.fail(&wanted, &err),
        };
        if self.status.state() == super::status::State::Error {
            tracing::info!(stream = %self.key_text(), path = %path.display(), "recording resumed");
        } else {
            tracing::info!(stream = %self.key_text(), path = %path.display(), "recording");
        }
        self.status.recording(&path.display().to_string());
        self.retry_at = None;
        self.file = Some(OpenFile {
            path,
            file,
            muxer: FileMuxer::new(self.rule.format),
            stamp,
            base,
            last_ms: 0,
            last_video_ms: None,
            video_interval_ms: 0,
            bytes: 0,
        });
        let headers = [
            &self.headers.metadata,
            &self.headers.video,
            &self.headers.audio,
        ];
        let headers: Vec<Frame> = headers.into_iter().flatten().cloned().collect();
        for mut header in headers {
            header.timestamp = base;
            self.write(&header);
        }
    }

    fn write(&mut self, frame: &Frame) {
        let Some(open) = self.file.as_mut() else {
            return;
        };
        let at = relative(frame.timestamp, open.base);
        if frame.kind == FrameKind::Script {
            // Metadata at 0, as players get it: FFmpeg reads a data tag at any other time as a
            // `text` stream.
            self.buf.clear();
            open.muxer
                .push(frame.kind, 0, &frame.payload, &mut self.buf);
            return self.flush_buf();
        }
        open.last_ms = open.last_ms.max(at);
        if frame.kind == FrameKind::Video && !frame.is_sequence_header() {
            if let Some(previous) = open.last_video_ms.filter(|p| at > *p) {
                open.video_interval_ms = at - previous;
            }
            open.last_video_ms = Some(at);
        }
        self.buf.clear();
        open.muxer
            .push(frame.kind, at as u32, &frame.payload, &mut self.buf);
        self.flush_buf();
    }

    /// Writes what the muxer produced; a failure ends the file and starts an error episode.
    fn flush_buf(&mut self) {
        let Some(open) = self.file.as_mut() else {
            return;
        };
        if let Err(err) = write_out(open, &self.buf, &self.status) {
            let path = open.path.clone();
            self.end_file(None, false);
            let text = format!("cannot write {}: {err}", path.display());
            self.fail(&path, &std::io::Error::new(err.kind(), text));
        }
    }

    /// Ends the open file (its media lasts until `end_ms`, else its last frame) and reports it.
    fn close(&mut self, end_ms: Option<u64>) {
        self.end_file(end_ms, true);
    }

    /// [`Recorder::close`]; `finish` false after a failed write (the disk has already said no).
    fn end_file(&mut self, end_ms: Option<u64>, finish: bool) {
        let Some(mut open) = self.file.take() else {
            return;
        };
        if finish {
            self.buf.clear();
            open.muxer.finish(&mut self.buf);
            if let Err(err) = write_out(&mut open, &self.buf, &self.status) {
                let text = format!("cannot write {}: {err}", open.path.display());
                self.fail(&open.path, &std::io::Error::new(err.kind(), text));
            }
        }
        drop(open.file);
        if open.bytes == 0 {
            return;
        }
        self.status.closed_file();
        let last_frame_end = open.last_ms + open.video_interval_ms;
        let duration_ms = end_ms.unwrap_or(last_frame_end).max(open.last_ms);
        (self.notify)(RecordedFile {
            action: "on_record",
            path: open.path.display().to_string(),
            start: open.stamp,
            duration: duration_ms as f64 / 1000.0,
            bytes: open.bytes,
            vhost: self.key.vhost.clone(),
            app: self.key.app.clone(),
            stream: self.key.stream.clone(),
        });
    }

    fn fail(&mut self, path: &Path, err: &std::io::Error) {
        let text = err.to_string();
        if self.status.failed(&path.display().to_string(), &text) {
            tracing::error!(
                stream = %self.key_text(), path = %path.display(), error = %text,
                "cannot record; the stream goes on, and recording resumes when the path is writable"
            );
        }
        self.retry_at = Some(Instant::now() + RETRY_INTERVAL);
    }

    fn key_text(&self) -> String {
        format!("{}/{}/{}", self.key.vhost, self.key.app, self.key.stream)
    }
}

/// Milliseconds of `timestamp` after `base` (frames slightly before it count as 0).
fn relative(timestamp: u32, base: u32) -> u64 {
    (timestamp.wrapping_sub(base) as i32).max(0) as u64
}

fn write_out(open: &mut OpenFile, data: &[u8], status: &RecordStatus) -> std::io::Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    open.file.write_all(data)?;
    open.bytes += data.len() as u64;
    status.wrote(data.len() as u64);
    Ok(())
}

/// Creates `wanted` (and its directories), or `NAME-1.EXT`, `NAME-2.EXT`… when it exists: an
/// existing file is never overwritten.
fn create_unique(wanted: &Path) -> std::io::Result<(PathBuf, File)> {
    if let Some(parent) = wanted.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|err| {
            std::io::Error::new(
                err.kind(),
                format!("cannot create the directory {}: {err}", parent.display()),
            )
        })?;
    }
    let stem = wanted
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let ext = wanted.extension().map(|e| e.to_string_lossy().into_owned());
    for n in 0..=MAX_SUFFIX {
        let path = if n == 0 {
            wanted.to_path_buf()
        } else {
            let name = match &ext {
                Some(ext) => format!("{stem}-{n}.{ext}"),
                None => format!("{stem}-{n}"),
            };
            wanted.with_file_name(name)
        };
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(err) => {
                return Err(std::io::Error::new(
                    err.kind(),
                    format!("cannot create {}: {err}", path.display()),
                ))
            }
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        format!(
            "{} and {MAX_SUFFIX} numbered variants exist",
            wanted.display()
        ),
    ))
}

#[cfg(test)]
mod tests;
