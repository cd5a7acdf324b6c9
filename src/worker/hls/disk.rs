//! The `hls.path` mirror: segments and playlists written under `ROOT/APP/` (default vhost) or
//! `ROOT/VHOST/APP/` (any other) by a thread of its own (atomic renames, so CDN readers never see a
//! partial file), and removed as the window slides.

use super::{valid_name, StreamId, DEFAULT_VHOST};
use bytes::Bytes;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;

/// Disk jobs queued for the writer thread before new ones are dropped (and counted).
const DISK_QUEUE: usize = 256;

/// Writes segments and playlists under `root/APP/` or `root/VHOST/APP/` on a thread of its own, so
/// the publisher path never waits for a disk.
pub(super) struct DiskMirror {
    root: PathBuf,
    jobs: SyncSender<DiskJob>,
}

enum DiskJob {
    Write { path: PathBuf, data: Bytes },
    Remove { path: PathBuf },
}

impl DiskMirror {
    pub(super) fn start(root: PathBuf) -> DiskMirror {
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

    /// The directory of a stream's files, or `None` when its names cannot be mirrored safely.
    pub(super) fn dir(&self, id: &StreamId) -> Option<PathBuf> {
        stream_dir(&self.root, id)
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

    pub(super) fn write_segment(&self, id: &StreamId, name: &str, data: Bytes) {
        if let Some(dir) = self.dir(id) {
            self.send(DiskJob::Write {
                path: dir.join(name),
                data,
            });
        }
    }

    pub(super) fn write_playlist(&self, id: &StreamId, text: Arc<str>) {
        if let Some(dir) = self.dir(id) {
            self.send(DiskJob::Write {
                path: dir.join(format!("{}.m3u8", id.stream)),
                data: Bytes::copy_from_slice(text.as_bytes()),
            });
        }
    }

    pub(super) fn remove_segment(&self, id: &StreamId, name: &str) {
        if let Some(dir) = self.dir(id) {
            self.send(DiskJob::Remove {
                path: dir.join(name),
            });
        }
    }

    pub(super) fn remove_stream(&self, id: &StreamId, sequences: &[u64]) {
        let Some(dir) = self.dir(id) else {
            return;
        };
        self.send(DiskJob::Remove {
            path: dir.join(format!("{}.m3u8", id.stream)),
        });
        for sequence in sequences {
            self.send(DiskJob::Remove {
                path: dir.join(format!("{}-{}.ts", id.stream, sequence)),
            });
        }
    }
}

/// Where a stream's files go: `root/APP/` for the default vhost (the layout CDNs and SRS users
/// expect), `root/VHOST/APP/` for the others, so one app/stream on two vhosts never shares a file.
///
/// `None` when a name could escape `root` or collide: every part must be a plain file name
/// ([`valid_name`]: no `/`, no leading `.`), and an app may not look like one of our files
/// (`*.m3u8`, `*.ts`, `*.tmp`), since `root/VHOST/APP` shares its parent with the default vhost's
/// `root/APP/STREAM.m3u8`-style files when VHOST equals a default-vhost app.
pub(super) fn stream_dir(root: &std::path::Path, id: &StreamId) -> Option<PathBuf> {
    let file_like = |name: &str| {
        [".m3u8", ".ts", ".tmp"]
            .iter()
            .any(|ext| name.ends_with(ext))
    };
    if !valid_name(&id.app) || !valid_name(&id.stream) || file_like(&id.app) {
        return None;
    }
    if id.vhost == DEFAULT_VHOST {
        return Some(root.join(&id.app));
    }
    if !valid_name(&id.vhost) {
        return None;
    }
    Some(root.join(&id.vhost).join(&id.app))
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
