//! The `hls.path` mirror: segments and playlists written under `ROOT/APP/` by a thread of its own
//! (atomic renames, so CDN readers never see a partial file), and removed as the window slides.

use super::StreamId;
use bytes::Bytes;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;

/// Disk jobs queued for the writer thread before new ones are dropped (and counted).
const DISK_QUEUE: usize = 256;

/// Writes segments and playlists under `root/APP/` on a thread of its own, so the publisher path
/// never waits for a disk.
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

    pub(super) fn write_segment(&self, id: &StreamId, name: &str, data: Bytes) {
        self.send(DiskJob::Write {
            path: self.dir(id).join(name),
            data,
        });
    }

    pub(super) fn write_playlist(&self, id: &StreamId, text: Arc<str>) {
        self.send(DiskJob::Write {
            path: self.dir(id).join(format!("{}.m3u8", id.stream)),
            data: Bytes::copy_from_slice(text.as_bytes()),
        });
    }

    pub(super) fn remove_segment(&self, id: &StreamId, name: &str) {
        self.send(DiskJob::Remove {
            path: self.dir(id).join(name),
        });
    }

    pub(super) fn remove_stream(&self, id: &StreamId, sequences: &[u64]) {
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
