//! HLS files on disk end with the stream: on unpublish the playlist gets `#EXT-X-ENDLIST` (served and
//! on disk) and its files go once players had time to drain the window; a worker started over a
//! directory holding what its killed previous run wrote removes those files and leaves other
//! workers' and foreign files alone.

mod common;

use common::http::get;
use common::wait::{expect_within, wait_until};
use common::{make_media, publish, settings, start_worker};
use oryx::compile::plan::StreamSettings;
use std::path::Path;
use std::time::Duration;

fn disk_settings(dir: &Path) -> StreamSettings {
    let mut settings = settings();
    settings.hls.enabled = true;
    settings.hls.fragment_ms = 1000;
    settings.hls.window = 2;
    settings.hls.path = Some(dir.display().to_string());
    settings
}

fn segment_names(playlist: &str) -> Vec<String> {
    playlist
        .lines()
        .filter(|line| !line.starts_with('#') && line.ends_with(".ts"))
        .map(str::to_string)
        .collect()
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn unpublish_ends_the_playlist_and_removes_it_after_the_window() {
    let hls_dir = tempfile::tempdir().unwrap();
    let worker = start_worker(disk_settings(hls_dir.path()), false);
    let media = make_media(worker.dir.path(), 3);
    let mut publisher = publish(&media, &worker.rtmp_url("live/cam"), false);
    assert!(
        publisher.wait_timeout(Duration::from_secs(30)).is_some(),
        "the publish never ended"
    );

    let app_dir = hls_dir.path().join("live");
    let on_disk = expect_within(Duration::from_secs(10), "ENDLIST on disk", || {
        let text = std::fs::read_to_string(app_dir.join("cam.m3u8")).ok()?;
        text.contains("#EXT-X-ENDLIST\n").then_some(text)
    });
    let listed = segment_names(&on_disk);
    assert!(!listed.is_empty(), "{on_disk}");
    let served = get(worker.http, "/live/cam.m3u8").expect("the served playlist");
    assert_eq!(served.status, 200);
    assert!(
        served.text().ends_with("#EXT-X-ENDLIST\n"),
        "{}",
        served.text()
    );

    // After the window (and a margin for late players), nothing of the stream is left.
    let gone = wait_until(Duration::from_secs(60), || {
        file_names(&app_dir)
            .iter()
            .all(|name| !name.starts_with("cam"))
    });
    assert!(gone, "files left: {:?}", file_names(&app_dir));
    assert_eq!(status_of(worker.http, "/live/cam.m3u8"), 404);
}

fn status_of(addr: std::net::SocketAddr, path: &str) -> u16 {
    get(addr, path).map_or(0, |answer| answer.status)
}

#[test]
fn a_restarted_worker_removes_what_its_previous_run_left() {
    let hls_dir = tempfile::tempdir().unwrap();
    let root = hls_dir.path();
    let settings = disk_settings(root);
    let mut first = start_worker(settings.clone(), false);
    let media = make_media(first.dir.path(), 4);
    let default_publisher = publish(&media, &first.rtmp_url("live/cam"), true);
    let vhost_publisher = publish(&media, &first.rtmp_url("live/cam?vhost=example.com"), true);
    let default_dir = root.join("live");
    let vhost_dir = root.join("example.com/live");
    for dir in [&default_dir, &vhost_dir] {
        expect_within(Duration::from_secs(20), "segments on disk", || {
            let text = std::fs::read_to_string(dir.join("cam.m3u8")).ok()?;
            let names = segment_names(&text);
            (names.len() >= 2 && names.iter().all(|n| dir.join(n).exists())).then_some(())
        });
    }
    // Another worker's playlist in the same directory, and a file that is no one's.
    let other = "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.000,\nother-5.ts\n\
                 # oryx-worker: someone-else\n";
    std::fs::write(default_dir.join("other.m3u8"), other).unwrap();
    std::fs::write(default_dir.join("other-5.ts"), b"ts").unwrap();
    std::fs::write(default_dir.join("readme.txt"), b"keep").unwrap();

    // The worker dies: its playlists stay, live-looking (no ENDLIST).
    first.child.0.kill().unwrap();
    first.child.0.wait().unwrap();
    drop((default_publisher, vhost_publisher));
    let left = std::fs::read_to_string(default_dir.join("cam.m3u8")).unwrap();
    assert!(!left.contains("#EXT-X-ENDLIST"), "{left}");

    // Its next run removes them, and only them.
    let _second = start_worker(settings, false);
    let clean = wait_until(Duration::from_secs(20), || {
        let ours = |dir: &Path| file_names(dir).iter().any(|n| n.starts_with("cam"));
        !ours(&default_dir) && !ours(&vhost_dir)
    });
    assert!(
        clean,
        "left behind: {:?} and {:?}",
        file_names(&default_dir),
        file_names(&vhost_dir)
    );
    assert_eq!(
        file_names(&default_dir),
        ["other-5.ts", "other.m3u8", "readme.txt"]
    );
}
