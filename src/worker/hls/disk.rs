//! The `hls.path` mirror: segments and playlists written under `ROOT/APP/` (default vhost) or
//! `ROOT/VHOST/APP/` (any other) by a thread of its own (atomic renames, so CDN readers never see a
//! partial file), and removed as the window slides.
//!
//! A worker's playlists name it in a comment line ([`owner_line`]; players ignore comments), so a
//! restarted worker can remove what its previous run left behind (a crash leaves live-looking
//! playlists without `#EXT-X-ENDLIST`) without touching the files of other workers sharing the
//! directory, or of a worker that took one of its streams over meanwhile.

use super::{valid_name, StreamName, DEFAULT_VHOST};
use crate::media::hls::{StreamSegmenter, Update};
use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;

/// Disk jobs queued for the writer thread before new ones are dropped (and counted).
const DISK_QUEUE: usize = 256;

/// Writes segments and playlists under `root/APP/` or `root/VHOST/APP/` on a thread of its own, so
/// the publisher path never waits for a disk.
pub(super) struct DiskMirror {
    root: PathBuf,
    jobs: SyncSender<DiskJob>,
    /// The comment line naming the worker, added to its playlists.
    owner: Option<String>,
}

enum DiskJob {
    Write { path: PathBuf, data: Bytes },
    Remove { path: PathBuf },
}

impl DiskMirror {
    /// Starts the writer thread for `root`. With an `owner` (the worker's name), it first removes
    /// the playlists a previous run of that worker left under `root` and their segments.
    pub(super) fn start(root: PathBuf, owner: Option<String>) -> DiskMirror {
        let (jobs, queue) = sync_channel::<DiskJob>(DISK_QUEUE);
        let owner = owner.and_then(|name| owner_line(&name));
        let cleanup = owner.clone().map(|line| (root.clone(), line));
        let spawned = std::thread::Builder::new()
            .name("hls-disk".into())
            .spawn(move || {
                // Before any job: this run's files are written after the old ones are gone.
                if let Some((root, line)) = cleanup {
                    let removed = remove_leftovers(&root, &line);
                    if removed > 0 {
                        tracing::info!(
                            root = %root.display(), files = removed,
                            "removed the HLS files a previous run of this worker left"
                        );
                    }
                }
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
        DiskMirror { root, jobs, owner }
    }

    /// Mirrors what `update` changed in a stream: new init segments, segments and (with low
    /// latency) parts first, then the playlist that lists them ([`StreamSegmenter::file_playlist`]:
    /// with parts when low latency is on), then the removal of what it no longer lists. The jobs
    /// run in order on the writer thread, so a reader never finds a listed file missing, save
    /// ones removed as the window slides. `rerender` writes the playlist even when no file changed
    /// (the stream ended, or went live again).
    pub(super) fn mirror(
        &self,
        id: &StreamName,
        segmenter: &StreamSegmenter,
        update: &Update,
        rerender: bool,
    ) {
        let low_latency = segmenter.position().is_some();
        let playlist_changed = rerender
            || update.completed.is_some()
            || !update.evicted.is_empty()
            || update.init.is_some()
            || !update.removed.is_empty()
            || (low_latency && update.part);
        if !playlist_changed {
            return;
        }
        if let Some((generation, data)) = &update.init {
            if let Some(name) = segmenter.init_name(*generation) {
                self.write_segment(id, &name, data.clone());
            }
        }
        if low_latency {
            for part in &update.parts {
                if let Some(name) = segmenter.part_name(part.id) {
                    self.write_segment(id, &name, part.data.clone());
                }
            }
        }
        if let Some(segment) = &update.completed {
            let name = segmenter.segment_name(segment.sequence);
            self.write_segment(id, &name, segment.data.clone());
        }
        if let Some(text) = segmenter.file_playlist() {
            self.write_playlist(id, Arc::from(text));
        }
        let evicted = update
            .evicted
            .iter()
            .map(|&seq| segmenter.segment_name(seq));
        let inits = update
            .evicted_inits
            .iter()
            .filter_map(|&generation| segmenter.init_name(generation));
        let parts = update
            .evicted_parts
            .iter()
            .filter(|_| low_latency)
            .filter_map(|&part| segmenter.part_name(part));
        for name in evicted
            .chain(inits)
            .chain(parts)
            .chain(update.removed.iter().cloned())
        {
            self.remove_segment(id, &name);
        }
    }

    /// The directory of a stream's files, or `None` when its names cannot be mirrored safely.
    pub(super) fn dir(&self, id: &StreamName) -> Option<PathBuf> {
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

    pub(super) fn write_segment(&self, id: &StreamName, name: &str, data: Bytes) {
        if let Some(dir) = self.dir(id) {
            self.send(DiskJob::Write {
                path: dir.join(name),
                data,
            });
        }
    }

    pub(super) fn write_playlist(&self, id: &StreamName, text: Arc<str>) {
        if let Some(dir) = self.dir(id) {
            let mut data = String::with_capacity(text.len() + 64);
            data.push_str(&text);
            if let Some(owner) = &self.owner {
                data.push_str(owner);
                data.push('\n');
            }
            self.send(DiskJob::Write {
                path: dir.join(format!("{}.m3u8", id.stream)),
                data: Bytes::from(data),
            });
        }
    }

    pub(super) fn remove_segment(&self, id: &StreamName, name: &str) {
        if let Some(dir) = self.dir(id) {
            self.send(DiskJob::Remove {
                path: dir.join(name),
            });
        }
    }

    pub(super) fn remove_stream(&self, id: &StreamName, names: &[String]) {
        let Some(dir) = self.dir(id) else {
            return;
        };
        self.send(DiskJob::Remove {
            path: dir.join(format!("{}.m3u8", id.stream)),
        });
        for name in names {
            self.send(DiskJob::Remove {
                path: dir.join(name),
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
pub(super) fn stream_dir(root: &std::path::Path, id: &StreamName) -> Option<PathBuf> {
    let file_like = |name: &str| {
        [".m3u8", ".ts", ".m4s", ".mp4", ".tmp"]
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

/// The comment line that marks a playlist as written by worker `name` (`None` for a name that
/// cannot be one line).
pub(super) fn owner_line(name: &str) -> Option<String> {
    (!name.is_empty() && !name.chars().any(char::is_control))
        .then(|| format!("{OWNER_PREFIX}{name}"))
}

const OWNER_PREFIX: &str = "# oryx-worker: ";
/// Playlists larger than this are not ours (ours list a window of segments).
const MAX_PLAYLIST_BYTES: u64 = 1 << 20;

/// Removes, under `root/APP/` and `root/VHOST/APP/`, every playlist carrying `owner` (the owner
/// line) with the segments it lists, the spares before them, the one after (written just before a
/// crash) and their temporary files. Other files are left alone. Returns how many were removed.
pub(super) fn remove_leftovers(root: &Path, owner: &str) -> usize {
    let mut removed = 0;
    for dir in subdirs(root) {
        removed += remove_leftovers_in(&dir, owner);
        for inner in subdirs(&dir) {
            removed += remove_leftovers_in(&inner, owner);
        }
    }
    removed
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .map(|entry| entry.path())
        .collect()
}

fn remove_leftovers_in(dir: &Path, owner: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.filter_map(|entry| entry.ok()) {
        let name = entry.file_name();
        let Some(stream) = name.to_str().and_then(|n| n.strip_suffix(".m3u8")) else {
            continue;
        };
        let is_small_file = entry
            .metadata()
            .is_ok_and(|meta| meta.is_file() && meta.len() <= MAX_PLAYLIST_BYTES);
        if !valid_name(stream) || !is_small_file {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        if !text.lines().any(|line| line == owner) {
            continue;
        }
        let mut files = vec![format!("{stream}.m3u8")];
        let sequences: Vec<u64> = text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|uri| {
                uri.strip_prefix(stream)?
                    .strip_prefix('-')?
                    .strip_suffix(".ts")
            })
            .filter_map(|sequence| sequence.parse().ok())
            .collect();
        files.extend(
            sequences
                .iter()
                .map(|sequence| format!("{stream}-{sequence}.ts")),
        );
        if let (Some(&first), Some(&last)) = (sequences.iter().min(), sequences.iter().max()) {
            // The spares before the window and the segment after it; a window is a few dozen
            // segments, so a wider span is not one of our playlists and gets only what it lists.
            let spares = crate::media::hls::SPARE_SEGMENTS as u64;
            if last - first <= 10_000 {
                let around = first.saturating_sub(spares)..first;
                files.extend(
                    around
                        .chain(last.checked_add(1))
                        .map(|n| format!("{stream}-{n}.ts")),
                );
            }
        }
        // fMP4 playlists: their listed segments, and what their tags name (`EXT-X-MAP`'s init
        // segments, LL-HLS `EXT-X-PART`s and the preload hint's part, written just before a
        // crash).
        let prefix = format!("{stream}-");
        files.extend(
            text.lines()
                .map(|line| match line.split_once("URI=\"") {
                    Some((tag, rest)) if tag.starts_with('#') => {
                        rest.split_once('"').map_or("", |(uri, _)| uri)
                    }
                    _ => line,
                })
                .filter(|uri| uri.starts_with(&prefix) && !uri.contains('/'))
                .filter(|uri| uri.ends_with(".m4s") || uri.ends_with(".mp4"))
                .map(str::to_string),
        );
        for file in files {
            for path in [dir.join(&file), dir.join(format!("{file}.tmp"))] {
                if std::fs::remove_file(&path).is_ok() {
                    removed += 1;
                }
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn leftovers_of_this_worker_go_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let ours = owner_line("live-0").unwrap();
        let playlist = |uris: &[&str], owner: &str| {
            let mut text = String::from("#EXTM3U\n#EXT-X-TARGETDURATION:2\n");
            for uri in uris {
                text.push_str(&format!("#EXTINF:2.000,\n{uri}\n"));
            }
            text + owner + "\n"
        };
        let live = root.join("live");
        write(
            &live.join("cam.m3u8"),
            &playlist(&["cam-5.ts", "cam-6.ts"], &ours),
        );
        // 5 and 6 listed, 3 and 4 the spares, 7 written just before the end; 2 and 8 are not ours
        // to guess at.
        for n in 2..=8 {
            write(&live.join(format!("cam-{n}.ts")), "ts");
        }
        write(&live.join("cam-6.ts.tmp"), "partial");
        write(&live.join("cam.m3u8.tmp"), "partial");
        // Another worker's stream, a foreign file, a span too wide to be a window of ours.
        write(
            &live.join("other.m3u8"),
            &playlist(&["other-1.ts"], "# oryx-worker: live-1"),
        );
        write(&live.join("other-1.ts"), "ts");
        write(&live.join("notes.txt"), "keep");
        write(
            &live.join("wide.m3u8"),
            &playlist(&["wide-0.ts", "wide-99999999.ts"], &ours),
        );
        write(&live.join("wide-0.ts"), "ts");
        write(&live.join("wide-1.ts"), "ts");
        // A vhost's directory one level deeper.
        let vhost = root.join("example.com/live");
        write(&vhost.join("cam.m3u8"), &playlist(&["cam-0.ts"], &ours));
        write(&vhost.join("cam-0.ts"), "ts");

        let removed = remove_leftovers(root, &ours);
        assert_eq!(
            names(&live),
            [
                "cam-2.ts",
                "cam-8.ts",
                "notes.txt",
                "other-1.ts",
                "other.m3u8",
                "wide-1.ts"
            ]
        );
        assert!(names(&vhost).is_empty());
        assert_eq!(removed, 12);
        // A missing root is no error.
        assert_eq!(remove_leftovers(&root.join("nope"), &ours), 0);
    }

    #[test]
    fn leftovers_of_ll_hls_include_parts_and_the_hinted_one() {
        let dir = tempfile::tempdir().unwrap();
        let ours = owner_line("live-0").unwrap();
        let live = dir.path().join("live");
        let text = format!(
            "#EXTM3U\n#EXT-X-MAP:URI=\"ll-init1.mp4\"\n\
             #EXT-X-PART:DURATION=0.200,URI=\"ll-p7.m4s\",INDEPENDENT=YES\n\
             #EXTINF:0.200,\nll-3.m4s\n\
             #EXT-X-PART:DURATION=0.200,URI=\"ll-p8.m4s\"\n\
             #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"ll-p9.m4s\"\n{ours}\n"
        );
        write(&live.join("ll.m3u8"), &text);
        for file in [
            "ll-init1.mp4",
            "ll-p7.m4s",
            "ll-3.m4s",
            "ll-p8.m4s",
            "ll-p9.m4s",
        ] {
            write(&live.join(file), "x");
        }
        write(&live.join("other-p1.m4s"), "x");
        assert_eq!(remove_leftovers(dir.path(), &ours), 6);
        assert_eq!(names(&live), ["other-p1.m4s"]);
    }

    #[test]
    fn owner_lines_are_comments_of_one_line() {
        assert_eq!(
            owner_line("live-0").as_deref(),
            Some("# oryx-worker: live-0")
        );
        assert_eq!(owner_line("a\nb"), None);
        assert_eq!(owner_line(""), None);
    }
}
