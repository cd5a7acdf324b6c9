//! `transcode` in the embedded worker, with real clients: ffmpeg publishes `live/cam` (320x240), the
//! worker's ffmpeg child publishes `live/cam_120p` back to it (ffprobe reads 160x120), the master
//! playlist lists both with the codecs ffprobe reports, hls.js in headless Chromium plays the
//! master URL, and the rendition stops with its publisher. All of it behind an `on-play` hook that
//! lets in only players with `token=good`: the transcode reads its source with the worker's
//! internal credential (never shown to the hook), and a master's player plays the rendition under
//! the session the master opened. A missing ffmpeg is one clear error.

mod browser;
mod common;

use common::control;
use common::http::get;
use common::process::run_tool;
use common::wait::{expect_within, wait_until};
use common::{make_media, publish, settings, start_worker, Worker};
use oryx::compile::plan::{Rendition, StreamRule, StreamSettings, TranscodeRule};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An `on-play` hook that allows players whose query holds `token=good`; returns its URL and the
/// bodies it was sent.
fn token_hook() -> (String, Arc<Mutex<Vec<String>>>) {
    common::hook_server::start("hook", |body| body.contains("token=good"))
}

/// `uri` without its `hls_ctx` pair; the session's token.
fn without_session(uri: &str) -> (String, Option<String>) {
    let Some((path, query)) = uri.split_once('?') else {
        return (uri.to_string(), None);
    };
    let mut token = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.strip_prefix("hls_ctx=") {
            Some(value) => {
                token = Some(value.to_string());
                false
            }
            None => true,
        })
        .collect();
    let bare = if rest.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", rest.join("&"))
    };
    (bare, token)
}

fn transcode_settings(binary: &str) -> StreamSettings {
    let mut stream = settings();
    stream.hls.enabled = true;
    stream.hls.fragment_ms = 1000;
    stream.hls.window = 4;
    stream.rules = vec![StreamRule {
        pattern: "live/*".into(),
        record: None,
        forwards: Vec::new(),
        transcode: Some(TranscodeRule {
            binary: binary.into(),
            renditions: vec![Rendition {
                name: "120p".into(),
                width: 160,
                height: 120,
                video_bitrate: 150_000,
                audio_bitrate: Some(48_000),
            }],
        }),
        exec: Vec::new(),
        on_record: Vec::new(),
    }];
    stream
}

fn streams(worker: &Worker) -> Vec<Value> {
    control::get(worker.control, "/api/v1/streams")
        .map(|a| a.json()["streams"].as_array().cloned().unwrap_or_default())
        .unwrap_or_default()
}

fn stream_entry(worker: &Worker, name: &str) -> Option<Value> {
    streams(worker).into_iter().find(|s| s["name"] == name)
}

/// ffprobe's `codec_name,profile,level,width,height` of the video of `url`, one line.
fn probe_video(url: &str) -> Option<Vec<String>> {
    let args = [
        "-v",
        "error",
        "-rw_timeout",
        "8000000",
        "-select_streams",
        "v",
        "-show_entries",
        "stream=codec_name,profile,level,width,height",
        "-of",
        "csv=p=0",
        url,
    ];
    let (ok, out, _) = run_tool("ffprobe", &args, Duration::from_secs(15));
    let line = out.lines().next()?.to_string();
    ok.then(|| line.split(',').map(str::to_string).collect())
}

/// The RFC 6381 name ffprobe's description of an H.264 stream implies, up to the compatibility
/// byte (which ffprobe does not print): `avc1.PP` and the level `LL`.
fn expected_avc(probe: &[String]) -> (String, String) {
    let profile = match probe[1].as_str() {
        "Baseline" | "Constrained Baseline" => "42",
        "Main" => "4d",
        "High" => "64",
        other => panic!("unexpected profile {other}"),
    };
    let level: u32 = probe[4].parse().unwrap();
    (format!("avc1.{profile}"), format!("{level:02x}"))
}

/// The `#EXT-X-STREAM-INF` line before the URI line `uri`.
fn stream_inf<'a>(master: &'a str, uri: &str) -> &'a str {
    let lines: Vec<&str> = master.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == uri)
        .unwrap_or_else(|| panic!("{uri} not in {master}"));
    assert!(lines[at - 1].starts_with("#EXT-X-STREAM-INF:"), "{master}");
    lines[at - 1]
}

fn assert_codecs(inf: &str, probe: &[String]) {
    let (avc, level) = expected_avc(probe);
    let codecs = inf.split("CODECS=\"").nth(1).unwrap().trim_end_matches('"');
    let (video, audio) = codecs.split_once(',').unwrap();
    assert!(
        video.len() == 11 && video.starts_with(&avc) && video.ends_with(&level),
        "{inf} for {probe:?}"
    );
    assert_eq!(audio, "mp4a.40.2", "{inf}");
}

#[test]
fn renditions_publish_back_the_master_lists_them_and_hls_js_plays_it() {
    let dir = tempfile::tempdir().unwrap();
    let (hook, hook_bodies) = token_hook();
    let mut stream = transcode_settings("ffmpeg");
    stream.hooks.on_play = vec![hook];
    let worker = start_worker(stream, false);
    let media = make_media(dir.path(), 4);
    let publisher = publish(&media, &worker.rtmp_url("live/cam"), true);

    // The rendition is a stream of its own on the same worker, at its size.
    let rendition = expect_within(Duration::from_secs(40), "live/cam_120p to play", || {
        probe_video(&worker.rtmp_url("live/cam_120p?token=good"))
    });
    assert_eq!(rendition[0], "h264");
    assert_eq!(
        (rendition[2].as_str(), rendition[3].as_str()),
        ("160", "120")
    );
    let source = expect_within(Duration::from_secs(20), "live/cam to play", || {
        probe_video(&worker.rtmp_url("live/cam?token=good"))
    });
    assert!(
        probe_video(&worker.rtmp_url("live/cam_120p")).is_none(),
        "the hook let a player in without its token"
    );

    // The API shows the transcode child, its credential masked; the rendition is not transcoded
    // again.
    let entry = stream_entry(&worker, "cam").unwrap();
    let child = &entry["children"][0];
    assert_eq!(child["kind"], "transcode");
    assert!(child["pid"].as_u64().is_some(), "{child}");
    let command = child["command"].as_str().unwrap();
    assert!(
        command.contains("scale=160:120") && command.contains("oryx_internal=***"),
        "{command}"
    );
    // The LBs route by the worker's published streams: the rendition is one of them.
    let published = control::get(worker.control, "/api/v1/published")
        .unwrap()
        .text();
    assert!(published.contains("\"cam_120p\""), "{published}");
    let rendition_entry = stream_entry(&worker, "cam_120p").unwrap();
    assert_eq!(rendition_entry["children"], serde_json::json!([]));
    assert!(stream_entry(&worker, "cam_120p_120p").is_none());

    // The master playlist: the source first, then the rendition, with what ffprobe sees.
    let master = expect_within(
        Duration::from_secs(20),
        "a master playlist with both",
        || {
            let answer = get(worker.http, "/live/cam.m3u8?token=good")?;
            let text = answer.text();
            (answer.status == 200 && text.matches("#EXT-X-STREAM-INF").count() == 2).then_some(text)
        },
    );
    // Every URI carries the session the hook allowed (and not the player's own query).
    let uris: Vec<(String, Option<String>)> = master
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(without_session)
        .collect();
    let bare: Vec<&str> = uris.iter().map(|(uri, _)| uri.as_str()).collect();
    assert_eq!(
        bare,
        ["cam.m3u8?variant=source", "cam_120p.m3u8"],
        "{master}"
    );
    let session = uris[0].1.clone().expect("a play session");
    assert_eq!(uris[1].1.as_deref(), Some(session.as_str()));
    let master = master
        .replace(&format!("&hls_ctx={session}"), "")
        .replace(&format!("?hls_ctx={session}"), "");
    let source_inf = stream_inf(&master, "cam.m3u8?variant=source");
    assert!(source_inf.contains("RESOLUTION=320x240"), "{source_inf}");
    assert_codecs(source_inf, &source);
    let rendition_inf = stream_inf(&master, "cam_120p.m3u8");
    assert!(
        rendition_inf.contains("RESOLUTION=160x120"),
        "{rendition_inf}"
    );
    assert!(
        rendition_inf.contains("BANDWIDTH=198000"),
        "{rendition_inf}"
    );
    assert_codecs(rendition_inf, &rendition);
    // The variants' playlists and segments play under the master's session: the rendition's too,
    // though the hook would refuse its URL (no token in it).
    let hook_calls = hook_bodies.lock().unwrap().len();
    for media_playlist in [
        format!("/live/cam.m3u8?variant=source&hls_ctx={session}"),
        format!("/live/cam_120p.m3u8?hls_ctx={session}"),
    ] {
        let text = expect_within(Duration::from_secs(20), "a media playlist", || {
            get(worker.http, &media_playlist)
                .map(|a| a.text())
                .filter(|t| t.contains("#EXTINF"))
        });
        assert!(!text.contains("#EXT-X-STREAM-INF"), "{text}");
        let segment = text.lines().rfind(|l| l.contains(".ts")).unwrap();
        assert!(segment.contains(&format!("hls_ctx={session}")), "{text}");
        let answer = get(worker.http, &format!("/live/{segment}")).unwrap();
        assert_eq!(answer.status, 200, "{segment}");
    }
    assert_eq!(
        hook_bodies.lock().unwrap().len(),
        hook_calls,
        "the session covers the variants"
    );
    assert_eq!(get(worker.http, "/live/cam_120p.m3u8").unwrap().status, 403);

    // hls.js in headless Chromium plays the master URL.
    match browser::missing() {
        Some(why) => crate::skipped!("hls.js in Chromium: {why}"),
        None => {
            let player = browser::Player::start(&worker.http_url("live/cam.m3u8?token=good"));
            let mut first = None;
            let played = player.wait(Duration::from_secs(60), |report| {
                let start = *first.get_or_insert(report.current_time);
                report.current_time > start + 2.0
            });
            match played {
                // hls.js orders the levels by bandwidth; both must be there.
                Ok(report) => assert!(report.log.contains("levels=160x120|320x240"), "{report:?}"),
                Err(last) => panic!("hls.js did not play the master playlist: {last:?}"),
            }
        }
    }

    // The publisher stops: the rendition goes with it, and the playlist is no master any more.
    drop(publisher);
    assert!(
        wait_until(Duration::from_secs(15), || stream_entry(
            &worker, "cam_120p"
        )
        .is_none()),
        "the rendition outlived its source: {:?}",
        streams(&worker)
    );
    let after = get(worker.http, "/live/cam.m3u8?token=good")
        .map(|a| a.text())
        .unwrap_or_default();
    assert!(!after.contains("#EXT-X-STREAM-INF"), "{after}");
    // The hook was asked about players, never told the worker's internal credential.
    let bodies = hook_bodies.lock().unwrap();
    assert!(!bodies.is_empty());
    assert!(
        bodies.iter().all(|b| !b.contains("oryx_internal")),
        "{bodies:?}"
    );
}

#[test]
fn a_missing_ffmpeg_is_one_clear_error_and_the_stream_plays_on() {
    let dir = tempfile::tempdir().unwrap();
    let worker = start_worker(transcode_settings("/nonexistent/ffmpeg"), false);
    let media = make_media(dir.path(), 4);
    let _publisher = publish(&media, &worker.rtmp_url("live/lone"), true);
    let entry = expect_within(Duration::from_secs(20), "the stream in the API", || {
        stream_entry(&worker, "lone").filter(|e| e["publish"]["active"] == true)
    });
    let child = &entry["children"][0];
    assert_eq!(child["kind"], "transcode");
    assert_eq!(child["pid"], Value::Null);
    assert_eq!(child["restarts"], 0);
    let reason = child["last_exit"].as_str().unwrap();
    assert!(
        reason.contains("missing binary: /nonexistent/ffmpeg"),
        "{reason}"
    );
    assert!(probe_video(&worker.rtmp_url("live/lone")).is_some());
    // Not retried: the reason and the count stay as they were.
    std::thread::sleep(Duration::from_secs(1));
    let again = stream_entry(&worker, "lone").unwrap();
    assert_eq!(again["children"][0]["restarts"], 0);
    // No master playlist lists a rendition that cannot exist.
    let playlist = get(worker.http, "/live/lone.m3u8")
        .map(|a| a.text())
        .unwrap_or_default();
    assert!(!playlist.contains("lone_120p"), "{playlist}");
}

#[test]
fn renditions_play_through_the_lbs_from_the_worker_that_made_them() {
    use common::cluster;
    use oryx::compile::plan::WorkerKind;
    let dir = tempfile::tempdir().unwrap();
    let names = ["edge-0", "edge-1"];
    // A source whose rendition's own rendezvous choice is the other worker: only the LBs'
    // published-streams poll can find the rendition where it is.
    let first_choice = |stream: &str| {
        oryx::route::rank(&oryx::route::stream_key("", "live", stream), &names)[0].to_string()
    };
    let source = (0..100)
        .map(|i| format!("show{i}"))
        .find(|s| first_choice(s) != first_choice(&format!("{s}_120p")))
        .unwrap();
    let workers: Vec<_> = names
        .iter()
        .map(|name| {
            let mut worker = cluster::worker(name, WorkerKind::Embedded, None);
            worker.stream.rules = transcode_settings("ffmpeg").rules;
            worker
        })
        .collect();
    let mut plan = cluster::plan(workers);
    plan.rtmp_lb = Some(cluster::lb(&plan.workers));
    plan.http_lb = Some(cluster::lb(&plan.workers));
    let _up = cluster::up_plan(&plan, dir.path(), 4);
    let (rtmp_lb, http_lb) = (
        plan.rtmp_lb.as_ref().unwrap().listen,
        plan.http_lb.as_ref().unwrap().listen,
    );
    let media = make_media(dir.path(), 4);
    let _publisher = publish(&media, &format!("rtmp://{rtmp_lb}/live/{source}"), true);

    let rendition_url = format!("rtmp://{rtmp_lb}/live/{source}_120p");
    let probe = expect_within(
        Duration::from_secs(40),
        "the rendition through the rtmp-lb",
        || probe_video(&rendition_url),
    );
    assert_eq!((probe[2].as_str(), probe[3].as_str()), ("160", "120"));
    let master = expect_within(
        Duration::from_secs(20),
        "the master through the http-lb",
        || {
            let text = get(http_lb, &format!("/live/{source}.m3u8"))?.text();
            (text.matches("#EXT-X-STREAM-INF").count() == 2).then_some(text)
        },
    );
    assert!(master.contains(&format!("{source}_120p.m3u8")), "{master}");
    let playlist = expect_within(Duration::from_secs(20), "the rendition's playlist", || {
        get(http_lb, &format!("/live/{source}_120p.m3u8"))
            .map(|a| a.text())
            .filter(|t| t.contains("#EXTINF"))
    });
    let segment = playlist.lines().rfind(|l| l.ends_with(".ts")).unwrap();
    assert_eq!(
        get(http_lb, &format!("/live/{segment}")).unwrap().status,
        200
    );
}
