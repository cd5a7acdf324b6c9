//! HLS served by a real worker: ffmpeg publishes over RTMP, the playlist fills within 3 × fragment,
//! ffprobe and ffmpeg accept it over HTTP, the disk mirror follows the window, and malformed requests
//! get 4xx without disturbing the stream.

mod common;

use common::http::{get, raw_request};
use common::wait::wait_for;
use common::{make_media, publish, settings, start_worker, Worker};
use oryx::compile::plan::StreamSettings;
use std::time::{Duration, Instant};

const FRAGMENT_MS: u64 = 1000;

fn media_sequence(playlist: &str) -> Option<u64> {
    playlist
        .lines()
        .find_map(|line| line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .and_then(|value| value.trim().parse().ok())
}

fn segment_names(playlist: &str) -> Vec<String> {
    playlist
        .lines()
        .filter(|line| line.ends_with(".ts"))
        .map(str::to_string)
        .collect()
}

fn hls_settings(window: u32, path: Option<String>) -> StreamSettings {
    let mut settings = settings();
    settings.hls.enabled = true;
    settings.hls.fragment_ms = FRAGMENT_MS;
    settings.hls.window = window;
    settings.hls.path = path;
    settings
}

/// A worker with a looping ffmpeg publisher on `live/cam`.
fn worker_with_publisher(window: u32, path: Option<String>) -> (Worker, common::ChildGuard) {
    let worker = start_worker(hls_settings(window, path), false);
    let media = make_media(worker.dir.path(), 4);
    let publisher = publish(&media, &worker.rtmp_url("live/cam"), true);
    (worker, publisher)
}

fn alive(worker: &mut Worker) -> bool {
    matches!(worker.child.0.try_wait(), Ok(None))
}

#[test]
fn playlist_fills_and_decodes_over_http() {
    let hls_dir = tempfile::tempdir().unwrap();
    let (mut worker, _publisher) =
        worker_with_publisher(4, Some(hls_dir.path().display().to_string()));
    let http = worker.http;
    // The clock starts when the publish does (the API shows it), not when ffmpeg is launched.
    let published = wait_for(Duration::from_secs(10), || {
        let answer = common::control::get(worker.control, "/api/v1/streams")?;
        answer.text().contains("\"active\":true").then_some(())
    });
    assert!(published.is_some(), "the publish never started");
    let started = Instant::now();

    // Within 3 × fragment of the first segment being possible, at least two are listed.
    let playlist = wait_for(Duration::from_millis(3 * FRAGMENT_MS + 2000), || {
        let answer = get(http, "/live/cam.m3u8")?;
        (answer.status == 200 && segment_names(&answer.text()).len() >= 2).then_some(answer)
    })
    .unwrap_or_else(|| panic!("no playlist with 2 segments after {:?}", started.elapsed()));
    let elapsed = started.elapsed();
    assert!(
        elapsed <= Duration::from_millis(3 * FRAGMENT_MS),
        "two segments took {elapsed:?} after the publish started"
    );
    assert_eq!(
        playlist.header("content-type"),
        Some("application/vnd.apple.mpegurl")
    );
    assert_eq!(playlist.header("access-control-allow-origin"), Some("*"));
    assert_eq!(playlist.header("cache-control"), Some("no-cache"));
    let text = playlist.text();
    assert!(text.starts_with("#EXTM3U\n#EXT-X-VERSION:3\n"), "{text}");
    for line in text.lines().filter_map(|l| l.strip_prefix("#EXTINF:")) {
        let seconds: f64 = line.trim_end_matches(',').parse().unwrap();
        assert!(
            seconds * 1000.0 <= (FRAGMENT_MS + 1000) as f64 + 1.0,
            "{text}"
        );
    }

    let first = &segment_names(&text)[0];
    let segment = get(http, &format!("/live/{first}")).expect("segment answer");
    assert_eq!(segment.status, 200);
    assert_eq!(segment.header("content-type"), Some("video/mp2t"));
    assert_eq!(segment.body.len() % 188, 0);
    assert_eq!(segment.body.first(), Some(&0x47));

    let url = format!("http://{http}/live/cam.m3u8");
    common::media::assert_plays_cleanly(&url, 5);

    // The disk mirror has the playlist and the segments it lists; nothing older than the spares.
    let mirrored = wait_for(Duration::from_secs(5), || {
        let on_disk = std::fs::read_to_string(hls_dir.path().join("live/cam.m3u8")).ok()?;
        let names = segment_names(&on_disk);
        names
            .iter()
            .all(|name| hls_dir.path().join("live").join(name).exists())
            .then_some(names)
    });
    assert!(mirrored.is_some(), "disk mirror incomplete");
    let ts_files = std::fs::read_dir(hls_dir.path().join("live"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".ts"))
        .count();
    assert!(ts_files <= 4 + 2, "{ts_files} segment files left on disk");
    assert!(alive(&mut worker));
}

#[test]
fn malformed_requests_get_4xx_and_the_stream_keeps_playing() {
    let (mut worker, _publisher) = worker_with_publisher(3, None);
    let http = worker.http;
    let before = wait_for(Duration::from_secs(10), || {
        let answer = get(http, "/live/cam.m3u8")?;
        (answer.status == 200).then(|| media_sequence(&answer.text()))?
    })
    .expect("playlist appears");

    let huge_header = format!(
        "GET /live/cam.m3u8 HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(512 * 1024)
    );
    let cases: Vec<(String, Vec<u8>)> = vec![
        ("huge header".into(), huge_header.into_bytes()),
        ("dot-dot".into(), b"GET /live/..%2f..%2fetc%2fpasswd.m3u8 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec()),
        ("dot-dot app".into(), b"GET /%2e%2e/cam.m3u8 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec()),
        ("bad percent-encoding".into(), b"GET /live/%zz%.m3u8 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec()),
        ("NUL".into(), b"GET /live/c%00am.m3u8 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec()),
        ("overlong name".into(), format!("GET /live/{}.m3u8 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "n".repeat(4000)).into_bytes()),
        ("unknown stream".into(), b"GET /live/nobody.m3u8 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec()),
        ("unknown segment".into(), b"GET /live/cam-99999.ts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec()),
        ("garbage".into(), b"\x16\x03\x01\x02\x00 hello\r\n\r\n".to_vec()),
    ];
    for (name, request) in &cases {
        if let Some(answer) = raw_request(http, request) {
            assert!(
                (400..500).contains(&answer.status),
                "{name}: status {} ({})",
                answer.status,
                answer.text()
            );
        }
        // No answer at all (connection closed) is acceptable for garbage; a crash is not.
        assert!(alive(&mut worker), "worker died after {name}");
    }

    // The stream carries on: the window keeps sliding.
    let later = wait_for(Duration::from_secs(10), || {
        let answer = get(http, "/live/cam.m3u8")?;
        let sequence = media_sequence(&answer.text())?;
        (sequence > before).then_some(sequence)
    });
    assert!(
        later.is_some(),
        "playlist stopped advancing after malformed requests"
    );
}

#[test]
fn republish_continues_the_playlist_after_a_discontinuity() {
    let worker = start_worker(hls_settings(10, None), false);
    let media = make_media(worker.dir.path(), 3);
    let url = worker.rtmp_url("live/cam");
    let playlist = || {
        get(worker.http, "/live/cam.m3u8")
            .filter(|answer| answer.status == 200)
            .map(|answer| answer.text())
    };
    // The first publish plays the 3 s file once and ends.
    let mut first = publish(&media, &url, false);
    assert!(
        first.wait_timeout(Duration::from_secs(20)).is_some(),
        "first publish never ended"
    );
    let before =
        wait_for(Duration::from_secs(5), playlist).expect("playlist after the first publish");
    let segments_before = segment_names(&before);
    assert!(!before.contains("#EXT-X-DISCONTINUITY"), "{before}");

    let _second = publish(&media, &url, true);
    let after = wait_for(Duration::from_secs(10), || {
        let text = playlist()?;
        text.contains("#EXT-X-DISCONTINUITY\n").then_some(text)
    })
    .expect("a discontinuity after the republish");
    // Same media sequence numbering, continued: the old segments are still listed first.
    assert_eq!(media_sequence(&after), Some(0), "{after}");
    assert!(after.starts_with("#EXTM3U"));
    assert_eq!(
        segment_names(&after)[..segments_before.len()],
        segments_before[..]
    );
}

#[test]
fn disk_mirror_keeps_vhosts_apart() {
    let hls_dir = tempfile::tempdir().unwrap();
    let worker = start_worker(
        hls_settings(4, Some(hls_dir.path().display().to_string())),
        false,
    );
    let media = make_media(worker.dir.path(), 4);
    let _default = publish(&media, &worker.rtmp_url("live/cam"), true);
    // The second publish starts later, so the two playlists differ (media sequence, segments).
    std::thread::sleep(Duration::from_millis(2500));
    let _other = publish(&media, &worker.rtmp_url("live/cam?vhost=example.com"), true);
    // The default vhost keeps `PATH/APP/`; another vhost gets `PATH/VHOST/APP/`. Each directory
    // holds the playlist HTTP serves for its vhost, and the segments it lists.
    let mirrored = |dir: std::path::PathBuf, query: &str| {
        let on_disk = std::fs::read_to_string(dir.join("cam.m3u8")).ok()?;
        let served = get(worker.http, &format!("/live/cam.m3u8{query}"))?;
        let names = segment_names(&on_disk);
        // Served URIs carry the vhost (`?vhost=`); the files sit in the vhost's directory instead,
        // and name the worker that wrote them in a comment line.
        let served_bare: String = served
            .text()
            .lines()
            .map(|line| format!("{}\n", line.split('?').next().unwrap_or("")))
            .collect();
        let disk_bare: String = on_disk
            .lines()
            .filter(|line| !line.starts_with("# oryx-worker: "))
            .map(|line| format!("{line}\n"))
            .collect();
        (served.status == 200
            && served_bare == disk_bare
            && names.len() >= 2
            && names.iter().all(|name| dir.join(name).exists()))
        .then_some(on_disk)
    };
    let default_dir = hls_dir.path().join("live");
    let other_dir = hls_dir.path().join("example.com").join("live");
    let both = wait_for(Duration::from_secs(15), || {
        let default_playlist = mirrored(default_dir.clone(), "?vhost=__defaultVhost__")?;
        let other_playlist = mirrored(other_dir.clone(), "?vhost=example.com")?;
        (default_playlist != other_playlist).then_some(())
    });
    assert!(
        both.is_some(),
        "vhosts not mirrored apart: {:?} / {:?}",
        std::fs::read_to_string(default_dir.join("cam.m3u8")),
        std::fs::read_to_string(other_dir.join("cam.m3u8"))
    );
}
