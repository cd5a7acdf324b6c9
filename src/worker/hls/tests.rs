//! The HLS store's unit tests: segments, playlists, republish, vhosts, the disk mirror.

use super::*;
use axum::http::{header, StatusCode};

fn settings(path: Option<String>) -> HlsSettings {
    HlsSettings {
        enabled: true,
        fragment_ms: 1000,
        window: 2,
        path,
        segment_format: Default::default(),
        low_latency: false,
        part_ms: None,
    }
}

fn stream_id(stream: &str) -> StreamName {
    StreamName::new(DEFAULT_VHOST, "live", stream)
}

/// Audio-only AAC frames: simplest way to make segments without a real encoder.
fn feed_audio(publisher: &mut HlsPublisher, seconds: u32) {
    publisher.on_frame(
        TagKind::Audio,
        0,
        &Bytes::from_static(&[0xaf, 0, 0x12, 0x10]),
    );
    for i in 0..seconds * 43 {
        publisher.on_frame(
            TagKind::Audio,
            i * 1000 / 43,
            &Bytes::from_static(&[0xaf, 1, 0x21, 0x10, 0x04]),
        );
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
    assert!(store.memory_bytes() > 0);
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
fn idle_streams_are_disposed_with_their_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = HlsStore::new(settings(Some(dir.path().display().to_string())));
    let mut publisher = store.publish(stream_id("gone")).unwrap();
    feed_audio(&mut publisher, 4);
    drop(publisher);
    let playlist = dir.path().join("live/gone.m3u8");
    let written = (0..250).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        playlist.exists()
    });
    assert!(written);
    // Recently ended streams stay for late readers.
    store.sweep();
    assert_eq!(store.stream_ids(), vec![stream_id("gone")]);
    let entry = store.entry(&stream_id("gone")).unwrap();
    lock(&entry).idle_since = Instant::now().checked_sub(Duration::from_secs(3600));
    store.sweep();
    assert!(store.stream_ids().is_empty());
    let removed = (0..250).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        std::fs::read_dir(dir.path().join("live")).is_ok_and(|mut d| d.next().is_none())
    });
    assert!(removed, "files of a disposed stream remain");
}

fn wait_for_file(path: &std::path::Path) -> bool {
    (0..250).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        path.exists()
    })
}

#[test]
fn vhosts_get_their_own_directories() {
    let dir = tempfile::tempdir().unwrap();
    let store = HlsStore::new(settings(Some(dir.path().display().to_string())));
    let other = StreamName {
        vhost: "example.com".into(),
        ..stream_id("cam")
    };
    let mut default_publisher = store.publish(stream_id("cam")).unwrap();
    let mut other_publisher = store.publish(other.clone()).unwrap();
    feed_audio(&mut default_publisher, 4);
    feed_audio(&mut other_publisher, 8);
    drop(default_publisher);
    drop(other_publisher);
    let default_playlist = dir.path().join("live/cam.m3u8");
    let other_playlist = dir.path().join("example.com/live/cam.m3u8");
    assert!(wait_for_file(&default_playlist) && wait_for_file(&other_playlist));
    // Each file holds its own vhost's playlist: the same ones the HTTP routes serve.
    let settled = (0..250).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        let on_disk = |path: &std::path::Path| std::fs::read_to_string(path).unwrap_or_default();
        let default_text = store.playlist(DEFAULT_VHOST, true, "live", "cam");
        let other_text = store.playlist("example.com", true, "live", "cam");
        default_text.as_deref() == Some(on_disk(&default_playlist).as_str())
            && other_text.as_deref() == Some(on_disk(&other_playlist).as_str())
    });
    assert!(settled, "playlists on disk differ from the served ones");
    assert_ne!(
        std::fs::read_to_string(&default_playlist).unwrap(),
        std::fs::read_to_string(&other_playlist).unwrap()
    );
    // Disposing of one vhost's stream leaves the other's files alone.
    let entry = store.entry(&other).unwrap();
    lock(&entry).idle_since = Instant::now().checked_sub(Duration::from_secs(3600));
    store.sweep();
    let removed = (0..250).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        !other_playlist.exists()
    });
    assert!(removed);
    assert!(default_playlist.exists());
}

#[test]
fn unsafe_names_are_not_mirrored() {
    let root = std::path::Path::new("/srv/hls");
    let id = |vhost: &str, app: &str, stream: &str| StreamName::new(vhost, app, stream);
    assert_eq!(
        disk::stream_dir(root, &id(DEFAULT_VHOST, "live", "cam")),
        Some(root.join("live"))
    );
    assert_eq!(
        disk::stream_dir(root, &id("a.example", "live", "cam")),
        Some(root.join("a.example/live"))
    );
    for bad in [
        id(DEFAULT_VHOST, "..", "cam"),
        id(DEFAULT_VHOST, "live/sub", "cam"),
        id(DEFAULT_VHOST, "live", "../cam"),
        id(DEFAULT_VHOST, "cam.m3u8", "x"),
        id("a.example", "live.ts", "x"),
        id("..", "live", "cam"),
        id("a/b", "live", "cam"),
    ] {
        assert_eq!(disk::stream_dir(root, &bad), None, "{bad:?}");
    }
    // The stream still plays from memory; nothing lands outside the root.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let store = HlsStore::new(settings(Some(root.display().to_string())));
    let escaping = StreamName {
        app: "..".into(),
        ..stream_id("cam")
    };
    let mut publisher = store.publish(escaping).unwrap();
    feed_audio(&mut publisher, 6);
    drop(publisher);
    assert!(store.playlist(DEFAULT_VHOST, true, "..", "cam").is_some());
    std::thread::sleep(Duration::from_millis(200));
    assert!(!dir.path().join("cam.m3u8").exists());
    assert!(!root.exists() || std::fs::read_dir(&root).unwrap().next().is_none());
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

#[test]
fn ll_hls_variants_report_each_other_and_parts_are_served() {
    let mut ll = settings(None);
    ll.low_latency = true;
    ll.part_ms = Some(200);
    ll.window = 6;
    let store = HlsStore::new(ll);
    let mut publishers: Vec<HlsPublisher> = ["cam", "cam_360p"]
        .iter()
        .map(|s| store.publish(stream_id(s)).unwrap())
        .collect();
    for publisher in &mut publishers {
        for (kind, ts, payload) in crate::media::sample_frames::publish(0, 4, 25) {
            publisher.on_frame(kind, ts, &payload);
        }
    }
    store.masters().set(
        stream_id("cam"),
        vec![master::Rendition {
            stream: "cam_360p".into(),
            bandwidth: 500_000,
        }],
    );
    let reports = master::rendition_reports(&store.masters(), &store, &stream_id("cam"));
    assert!(
        reports.starts_with("#EXT-X-RENDITION-REPORT:URI=\"cam_360p.m3u8\",LAST-MSN="),
        "{reports}"
    );
    let back = master::rendition_reports(&store.masters(), &store, &stream_id("cam_360p"));
    assert!(
        back.starts_with("#EXT-X-RENDITION-REPORT:URI=\"cam.m3u8?variant=source\""),
        "{back}"
    );
    let text = store.playlist(DEFAULT_VHOST, false, "live", "cam").unwrap();
    let part = text
        .lines()
        .find_map(|l| l.split("URI=\"cam-p").nth(1))
        .and_then(|rest| rest.split('.').next())
        .unwrap()
        .to_string();
    let answer = respond(
        &store,
        DEFAULT_VHOST,
        false,
        "live",
        &format!("cam-p{part}.m4s"),
    );
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(
        respond(&store, DEFAULT_VHOST, false, "live", "cam-init.mp4").status(),
        StatusCode::OK
    );
    // A TS name of an fMP4 stream is not one of its files.
    assert_eq!(
        respond(&store, DEFAULT_VHOST, false, "live", "cam-0.ts").status(),
        StatusCode::NOT_FOUND
    );
}
