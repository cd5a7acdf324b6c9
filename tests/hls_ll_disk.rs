//! LL-HLS from the disk mirror: a worker with `hls path=DIR low-latency=#true` writes the parts,
//! init and segments and the LL playlist (parts, preload hint, no blocking reload: a file copy is
//! polled) into DIR, removes parts as they leave the playlist, and hls.js in headless Chromium
//! (`lowLatencyMode`) plays the playlist from a plain nginx serving DIR, fetching parts from it.

#[allow(dead_code)] // this binary uses one of the harness's players
mod browser;
mod common;

use common::net::free_port;
use common::wait::expect_within;
use common::{make_media, publish, settings, start_worker, ChildGuard};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The URIs of a playlist's `EXT-X-PART` tags.
fn part_uris(text: &str) -> Vec<String> {
    text.lines()
        .filter(|line| line.starts_with("#EXT-X-PART:"))
        .filter_map(|line| line.split("URI=\"").nth(1)?.split('"').next())
        .map(str::to_string)
        .collect()
}

/// Every file a playlist names: segments, `EXT-X-MAP` inits, parts (not the preload hint's, which
/// is the next part to come).
fn listed_files(text: &str) -> Vec<String> {
    let mut files = part_uris(text);
    files.extend(
        text.lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .map(str::to_string),
    );
    files.extend(
        text.lines()
            .filter_map(|line| line.strip_prefix("#EXT-X-MAP:URI=\""))
            .filter_map(|rest| rest.split('"').next())
            .map(str::to_string),
    );
    files
}

fn part_files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.contains("-p") && name.ends_with(".m4s"))
                .collect()
        })
        .unwrap_or_default()
}

/// Debian's nginx serving `root` as static files on a free port (CORS open, as a CDN origin
/// would be for a player on another origin), its access log in `log`.
fn nginx(root: &Path, run: &Path, port: u16) -> ChildGuard {
    let conf = run.join("nginx.conf");
    std::fs::create_dir_all(run).unwrap();
    let r = run.display();
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nmaster_process off;\npid {r}/nginx.pid;\nerror_log {r}/error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log {r}/access.log;\n\
             client_body_temp_path {r}/body; proxy_temp_path {r}/proxy;\n\
             fastcgi_temp_path {r}/fastcgi; uwsgi_temp_path {r}/uwsgi; scgi_temp_path {r}/scgi;\n\
             types {{ application/vnd.apple.mpegurl m3u8; video/mp4 m4s mp4; }}\n\
             server {{\n    listen 127.0.0.1:{port};\n    root {};\n\
             add_header Access-Control-Allow-Origin * always;\n\
             location ~ \\.m3u8$ {{ add_header Cache-Control no-cache; \
             add_header Access-Control-Allow-Origin * always; }}\n  }}\n}}\n",
            root.display()
        ),
    )
    .unwrap();
    let child = Command::new("nginx")
        .args(["-e", &format!("{r}/error.log"), "-c"])
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run nginx");
    ChildGuard(child)
}

#[test]
fn ll_hls_from_the_disk_mirror_plays_from_a_static_server() {
    let root = tempfile::tempdir().unwrap();
    let mut stream = settings();
    stream.hls.enabled = true;
    stream.hls.fragment_ms = 1000;
    stream.hls.window = 6;
    stream.hls.low_latency = true;
    stream.hls.part_ms = Some(200);
    stream.hls.path = Some(root.path().display().to_string());
    let worker = start_worker(stream, false);
    let media = make_media(worker.dir.path(), 4);
    let _publisher = publish(&media, &worker.rtmp_url("live/ld"), true);

    let dir = root.path().join("live");
    let playlist = dir.join("ld.m3u8");
    let text = expect_within(
        Duration::from_secs(30),
        "a disk playlist with parts",
        || {
            let text = std::fs::read_to_string(&playlist).ok()?;
            (text.contains("ld-3.m4s") && text.contains("#EXT-X-PART:")).then_some(text)
        },
    );
    // What the worker serves, save what a file cannot do (block, skip).
    assert!(text.contains("#EXT-X-VERSION:9\n"), "{text}");
    assert!(
        text.contains("#EXT-X-PART-INF:PART-TARGET=0.200\n"),
        "{text}"
    );
    assert!(
        text.contains("#EXT-X-SERVER-CONTROL:PART-HOLD-BACK=0.600\n"),
        "{text}"
    );
    assert!(!text.contains("CAN-BLOCK-RELOAD"), "{text}");
    assert!(
        text.contains("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"ld-p"),
        "{text}"
    );
    assert!(text.contains(",INDEPENDENT=YES"), "{text}");
    // Every file it lists is there (written before the playlist that lists it).
    let listed = listed_files(&text);
    assert!(listed.iter().any(|f| f == "ld-init.mp4"), "{listed:?}");
    for file in &listed {
        assert!(
            dir.join(file).is_file(),
            "{file} listed but missing: {text}"
        );
    }
    let first_parts = part_uris(&text);
    assert!(first_parts.len() >= 5, "{text}");

    // Parts leave with their segment (the playlist lists the newest few segments' parts): gone
    // from the playlist, gone from the disk, and the disk never holds much more than it lists.
    let oldest = first_parts[0].clone();
    let later = expect_within(
        Duration::from_secs(30),
        "the first parts out of the playlist",
        || {
            let text = std::fs::read_to_string(&playlist).ok()?;
            (!text.contains(&oldest) && text.contains("#EXT-X-PART:")).then_some(text)
        },
    );
    expect_within(Duration::from_secs(10), "old part files removed", || {
        (!dir.join(&oldest).exists()).then_some(())
    });
    let on_disk = part_files(&dir);
    let listed_now = part_uris(&later).len();
    assert!(
        on_disk.len() <= listed_now + 15,
        "{} part files for {listed_now} listed: {on_disk:?}",
        on_disk.len()
    );

    // A plain static server and hls.js in low-latency mode: it plays, and it fetched parts.
    let port = free_port();
    let run = worker.dir.path().join("nginx");
    let _nginx = nginx(root.path(), &run, port);
    let url = format!("http://127.0.0.1:{port}/live/ld.m3u8");
    expect_within(
        Duration::from_secs(10),
        "nginx serving the playlist",
        || {
            let answer = common::http::get(([127, 0, 0, 1], port).into(), "/live/ld.m3u8")?;
            (answer.status == 200 && answer.text().contains("#EXT-X-PART:")).then_some(())
        },
    );
    if let Some(why) = browser::missing() {
        crate::skipped!("{why}");
        return;
    }
    let player = browser::Player::start_with(&url, "{ lowLatencyMode: true }");
    let started = player
        .wait(Duration::from_secs(40), |r| r.current_time > 1.0)
        .unwrap_or_else(|last| panic!("hls.js never played {url}: {last:?}"));
    let advanced = player
        .wait(Duration::from_secs(30), |r| {
            r.current_time > started.current_time + 2.0
        })
        .unwrap_or_else(|last| panic!("currentTime stopped advancing: {last:?}"));
    assert!(
        !advanced.log.contains(":fatal"),
        "hls.js had a fatal error: {}",
        advanced.log
    );
    let access = std::fs::read_to_string(run.join("access.log")).unwrap_or_default();
    let fetched_parts = access
        .lines()
        .filter(|line| line.contains("GET /live/ld-p") && line.contains(" 200 "))
        .count();
    assert!(
        fetched_parts > 0,
        "hls.js fetched no part from the static server:\n{access}"
    );
    println!("hls.js played {url} from disk: {advanced:?}, {fetched_parts} parts fetched");
}
