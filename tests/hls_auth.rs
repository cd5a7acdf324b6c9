//! HLS play auth and vhost-correct URIs on a real worker: with `on-play` set, a playlist or segment
//! without the token gets 403, with it 200, a segment URL without its `hls_ctx` session 403; the hook
//! is asked once per session with the player's query; ffprobe and ffmpeg play through the session
//! URIs. A vhost-b playlist lists vhost b's segments, on the worker and through the http-lb.

mod common;

use common::http::{get, metric, HttpAnswer};
use common::media::make_flv;
use common::process::run_tool;
use common::wait::expect_within;
use common::{publish, settings, start_worker};
use oryx::compile::plan::StreamSettings;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const FRAGMENT_MS: u64 = 1000;

fn hls_settings() -> StreamSettings {
    let mut settings = settings();
    settings.hls.enabled = true;
    settings.hls.fragment_ms = FRAGMENT_MS;
    settings.hls.window = 4;
    settings
}

/// The URI lines of a playlist.
fn uris(playlist: &str) -> Vec<String> {
    playlist
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// The value of `key` in a URI's query.
fn query_value<'a>(uri: &'a str, key: &str) -> Option<&'a str> {
    let (_, query) = uri.split_once('?')?;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
}

/// A hook endpoint that allows bodies whose param holds `token=good` and records every body.
fn hook_server() -> (String, Arc<Mutex<Vec<String>>>) {
    common::hook_server::start("hook", |body| {
        let body: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        body["param"]
            .as_str()
            .is_some_and(|p| p.contains("token=good"))
    })
}

fn on_play_bodies(bodies: &Mutex<Vec<String>>) -> Vec<serde_json::Value> {
    let bodies = common::hook_server::json_bodies(bodies);
    bodies
        .into_iter()
        .filter(|b| b["action"] == "on_play")
        .collect()
}

fn status(answer: Option<HttpAnswer>) -> u16 {
    answer.map_or(0, |a| a.status)
}

#[test]
fn on_play_gates_hls_by_session() {
    let (hook, bodies) = hook_server();
    let mut settings = hls_settings();
    settings.hooks.on_play = vec![hook];
    let worker = start_worker(settings, false);
    let media = common::make_media(worker.dir.path(), 4);
    let _publisher = publish(&media, &worker.rtmp_url("live/cam"), true);
    let http = worker.http;

    // Once the stream has segments, the token holder gets a playlist whose every URI has the session.
    let playlist = expect_within(Duration::from_secs(20), "a playlist", || {
        let answer = get(http, "/live/cam.m3u8?token=good")?;
        (answer.status == 200 && uris(&answer.text()).len() >= 2).then(|| answer.text())
    });
    let listed = uris(&playlist);
    let session = query_value(&listed[0], "hls_ctx")
        .unwrap_or_else(|| panic!("no session in {playlist}"))
        .to_string();
    assert_eq!(session.len(), 32, "{session}");
    for uri in &listed {
        assert_eq!(query_value(uri, "hls_ctx"), Some(session.as_str()), "{uri}");
        assert!(uri.starts_with("cam-"), "{uri}");
    }
    // The hook saw the player's query; the session key never reaches it.
    let plays = on_play_bodies(&bodies);
    let allowed = plays
        .iter()
        .find(|b| b["param"] == "?token=good")
        .unwrap_or_else(|| panic!("no on_play with the token: {plays:?}"));
    assert_eq!(allowed["stream"], "cam");
    assert_eq!(allowed["app"], "live");
    assert_eq!(allowed["ip"], "127.0.0.1");

    // Without the token, or with a wrong one: 403, for the playlist and for a segment.
    let segment = listed[0].split('?').next().unwrap().to_string();
    for path in [
        "/live/cam.m3u8".to_string(),
        "/live/cam.m3u8?token=bad".to_string(),
        format!("/live/{segment}"),
        format!("/live/{segment}?token=good"),
        format!("/live/{segment}?hls_ctx={}", "0".repeat(32)),
        format!("/live/nobody-1.ts?hls_ctx={session}"),
        format!("/live/nobody.m3u8?hls_ctx={session}"),
    ] {
        assert_eq!(status(get(http, &path)), 403, "{path}");
    }
    // A raw client hammering without a token or with made-up sessions opens none.
    for i in 0..40 {
        let path = if i % 2 == 0 {
            format!("/live/cam.m3u8?token=bad{i}")
        } else {
            format!("/live/{segment}?hls_ctx={i:032x}")
        };
        assert_eq!(status(get(http, &path)), 403, "{path}");
    }
    let overlong = format!("/live/cam.m3u8?token=good&pad={}", "x".repeat(2000));
    assert_eq!(status(get(http, &overlong)), 400);
    let page = common::control::get(worker.control, "/metrics")
        .unwrap()
        .text();
    assert_eq!(metric(&page, "oryx_hls_sessions"), 1.0, "{page}");

    // With the session the segment is served; with its session removed from the URL it is not.
    let with_session = get(http, &format!("/live/{}", listed[0])).unwrap();
    assert_eq!(with_session.status, 200);
    assert_eq!(with_session.header("content-type"), Some("video/mp2t"));
    assert_eq!(with_session.body.first(), Some(&0x47));
    let stripped = listed[0].replace(&format!("hls_ctx={session}"), "");
    assert_eq!(status(get(http, &format!("/live/{stripped}"))), 403);

    // Reloads keep the session and do not ask the hook again: at the URL the player was given, or
    // at one naming the session.
    let asked = on_play_bodies(&bodies).len();
    for path in [
        "/live/cam.m3u8?token=good".to_string(),
        format!("/live/cam.m3u8?token=good&hls_ctx={session}"),
    ] {
        let again = get(http, &path).unwrap();
        assert_eq!(again.status, 200, "{path}");
        let uri = uris(&again.text())[0].clone();
        assert_eq!(query_value(&uri, "hls_ctx"), Some(session.as_str()));
    }
    assert_eq!(on_play_bodies(&bodies).len(), asked);

    // Real players go through the session URIs.
    let url = format!("http://{http}/live/cam.m3u8?token=good");
    common::media::assert_plays_cleanly(&url, 3);
    let denied = format!("http://{http}/live/cam.m3u8?token=bad");
    let (ok, _, _) = run_tool(
        "ffprobe",
        &["-v", "error", &denied],
        Duration::from_secs(20),
    );
    assert!(!ok, "ffprobe played without a good token");
}

/// Publishes `live/vz` on the default vhost and on vhost `b` of `rtmp` from two different pictures,
/// so their segments differ byte for byte.
fn publish_two_vhosts(
    dir: &std::path::Path,
    default_rtmp: std::net::SocketAddr,
    b_rtmp: std::net::SocketAddr,
    stream: &str,
) -> (common::ChildGuard, common::ChildGuard) {
    let default_media = dir.join("default.flv");
    let b_media = dir.join("b.flv");
    make_flv(&default_media, "320x240", 4, 25);
    make_flv(&b_media, "160x120", 4, 25);
    let default_url = format!("rtmp://{default_rtmp}/live/{stream}");
    let b_url = format!("rtmp://{b_rtmp}/live/{stream}?vhost=b");
    (
        publish(&default_media, &default_url, true),
        publish(&b_media, &b_url, true),
    )
}

/// The first listed segment of the playlist at `path` on `addr` that both `addr` serves at the URI
/// as listed (resolved like a player: relative to `/live/`) and `direct` serves at `direct_path`;
/// returns (listed URI, bytes via the listed URI, bytes from `direct`).
fn listed_and_direct(
    addr: std::net::SocketAddr,
    path: &str,
    direct: std::net::SocketAddr,
    direct_query: &str,
) -> Option<(String, Vec<u8>, Vec<u8>)> {
    let playlist = get(addr, path).filter(|a| a.status == 200)?.text();
    let uri = uris(&playlist).first()?.clone();
    let via_listed = get(addr, &format!("/live/{uri}")).filter(|a| a.status == 200)?;
    let bare = uri.split('?').next()?;
    let from_direct =
        get(direct, &format!("/live/{bare}{direct_query}")).filter(|a| a.status == 200)?;
    Some((uri, via_listed.body, from_direct.body))
}

#[test]
fn a_vhost_playlist_lists_its_own_vhost_segments() {
    let worker = start_worker(hls_settings(), false);
    let (_default, _b) = publish_two_vhosts(worker.dir.path(), worker.rtmp, worker.rtmp, "vz");
    let http = worker.http;
    // The same segment number can be missing on one vhost for a moment: retry until both serve it.
    let (uri, listed, b_segment) =
        expect_within(Duration::from_secs(20), "vhost b segments", || {
            listed_and_direct(http, "/live/vz.m3u8?vhost=b", http, "?vhost=b")
        });
    assert_eq!(query_value(&uri, "vhost"), Some("b"), "{uri}");
    assert!(listed == b_segment, "{uri} is not vhost b's segment");
    let default_segment = expect_within(Duration::from_secs(20), "the default vhost's", || {
        let bare = uri.split('?').next()?;
        get(http, &format!("/live/{bare}?vhost=__defaultVhost__")).filter(|a| a.status == 200)
    });
    assert!(
        default_segment.body != b_segment,
        "the two vhosts' segments are the same"
    );

    // The default vhost's URIs stay bare (no session, no vhost: the URLs of before).
    let default_playlist = get(http, "/live/vz.m3u8").unwrap().text();
    for uri in uris(&default_playlist) {
        assert!(!uri.contains('?'), "{uri}");
    }
}

#[test]
fn vhost_segments_route_through_the_http_lb() {
    use common::cluster::{lb, plan, role, worker, worker_role, write_plan};
    use oryx::compile::plan::WorkerKind;
    use oryx::route;

    let dir = tempfile::tempdir().unwrap();
    let a = worker("w-0", WorkerKind::Embedded, None);
    let b = worker("w-1", WorkerKind::Embedded, None);
    let mut plan = plan(vec![a.clone(), b.clone()]);
    plan.http_lb = Some(lb(&plan.workers));
    let http_lb = plan.http_lb.clone().unwrap();
    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &plan);
    // A stream whose default-vhost key goes to w-0 first: a vhost-b segment that lost its vhost
    // would be asked of w-0, which holds the other vhost's stream of that name.
    let stream = (0..100)
        .map(|i| format!("vz{i}"))
        .find(|s| route::rank(&route::stream_key("", "live", s), &["w-0", "w-1"])[0] == "w-0")
        .unwrap();
    let _a = worker_role(&plan_file, &a, dir.path());
    let _b = worker_role(&plan_file, &b, dir.path());
    let _lb = role("http-lb", &plan, http_lb.control, dir.path());
    let (_default, _vhost_b) = publish_two_vhosts(dir.path(), a.rtmp, b.rtmp, &stream);

    let playlist_path = format!("/live/{stream}.m3u8?vhost=b");
    let (uri, through_lb, on_b) =
        expect_within(Duration::from_secs(30), "vhost b via the lb", || {
            listed_and_direct(http_lb.listen, &playlist_path, b.http, "?vhost=b")
        });
    assert_eq!(query_value(&uri, "vhost"), Some("b"), "{uri}");
    assert!(
        through_lb == on_b,
        "{uri} through the http-lb is not w-1's vhost b segment"
    );

    let url = format!("http://{}{playlist_path}", http_lb.listen);
    let (ok, stdout, stderr) = run_tool(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "stream=width",
            "-of",
            "csv=p=0",
            &url,
        ],
        Duration::from_secs(20),
    );
    assert!(ok, "ffprobe failed: {stderr}");
    assert!(
        stdout.contains("160") && !stdout.contains("320"),
        "vhost b's picture is 160 wide: {stdout}"
    );
}
