//! fMP4 HLS and LL-HLS from a real worker: FFmpeg 9 publishes HEVC+AAC and gets fMP4 segments that
//! ffprobe and ffmpeg read; H.264/AAC still gets TS by default; with `low-latency` the playlist has
//! parts and a preload hint, a blocking reload returns once the part it asks for exists, a request
//! too far ahead is answered at once; hls.js plays fMP4 H.264, and LL-HLS through the http-lb.

mod browser;
mod common;

use common::http::get;
use common::wait::expect_within;
use common::{ffmpeg9, make_media, publish, settings, start_worker, Worker};
use oryx::compile::plan::{HlsSegmentFormat, StreamSettings};
use std::net::SocketAddr;
use std::time::Duration;

fn hls_settings(low_latency: bool) -> StreamSettings {
    let mut settings = settings();
    settings.hls.enabled = true;
    settings.hls.fragment_ms = 1000;
    settings.hls.window = 6;
    settings.hls.low_latency = low_latency;
    settings.hls.part_ms = low_latency.then_some(200);
    settings
}

/// The playlist at `path` once it has `needle`.
fn playlist_with(http: SocketAddr, path: &str, needle: &str) -> String {
    expect_within(
        Duration::from_secs(30),
        &format!("{path} with {needle}"),
        || {
            let answer = get(http, path)?;
            let text = answer.text();
            (answer.status == 200 && text.contains(needle)).then_some(text)
        },
    )
}

/// ffprobe's codecs of a playlist, once each (it lists an HLS stream's streams under its program
/// too).
fn probed(url: &str) -> Vec<String> {
    let mut codecs = common::probe_codecs(url);
    codecs.dedup();
    codecs
}

#[test]
fn hevc_gets_fmp4_hls_that_probes_and_decodes() {
    let Some(ffmpeg) = ffmpeg9::require() else {
        return;
    };
    let worker = start_worker(hls_settings(false), false);
    let clip = worker.dir.path().join("hevc.flv");
    ffmpeg9::make_clip(&ffmpeg, ffmpeg9::Clip::HevcAac, 4, &clip);
    let _publisher = ffmpeg9::publish(&ffmpeg, &clip, &worker.rtmp_url("live/hv"));
    let text = playlist_with(worker.http, "/live/hv.m3u8", "hv-2.m4s");
    assert!(text.contains("#EXT-X-VERSION:6\n"), "{text}");
    assert!(text.contains("#EXT-X-MAP:URI=\"hv-init.mp4\""), "{text}");
    assert!(!text.contains(".ts"), "{text}");
    let init = get(worker.http, "/live/hv-init.mp4").unwrap();
    assert_eq!(init.status, 200);
    assert_eq!(init.header("content-type"), Some("video/mp4"));
    assert!(
        init.body.windows(4).any(|w| w == b"hvcC"),
        "an hvc1 sample entry"
    );

    let url = worker.http_url("live/hv.m3u8");
    assert_eq!(probed(&url), ["aac", "hevc"]);
    ffmpeg9::read_clean(&ffmpeg, &url, 3, &["video: hevc"]);
}

#[test]
fn av1_and_vp9_with_opus_get_fmp4_hls_that_ffmpeg_decodes() {
    let Some(ffmpeg) = ffmpeg9::require() else {
        return;
    };
    let worker = start_worker(hls_settings(false), false);
    for (clip, name, entry, video) in [
        (ffmpeg9::Clip::Av1Opus, "av", &b"av1C"[..], "video: av1"),
        (ffmpeg9::Clip::Vp9Opus, "vp", &b"vpcC"[..], "video: vp9"),
    ] {
        let file = worker.dir.path().join(format!("{name}.flv"));
        ffmpeg9::make_clip(&ffmpeg, clip, 4, &file);
        let _publisher =
            ffmpeg9::publish(&ffmpeg, &file, &worker.rtmp_url(&format!("live/{name}")));
        let text = playlist_with(
            worker.http,
            &format!("/live/{name}.m3u8"),
            &format!("{name}-2.m4s"),
        );
        assert!(
            text.contains(&format!("#EXT-X-MAP:URI=\"{name}-init.mp4\"")),
            "{text}"
        );
        let init = get(worker.http, &format!("/live/{name}-init.mp4")).unwrap();
        assert_eq!(init.status, 200);
        assert!(
            init.body.windows(4).any(|w| w == entry),
            "{name}: sample entry"
        );
        assert!(
            init.body.windows(4).any(|w| w == b"dOps"),
            "{name}: an Opus sample entry"
        );
        // Debian's ffmpeg 5.1 cannot be trusted with AV1-in-HLS; FFmpeg 9 reads and decodes both.
        let url = worker.http_url(&format!("live/{name}.m3u8"));
        ffmpeg9::read_clean(&ffmpeg, &url, 3, &[video, "audio: opus"]);
    }
}

#[test]
fn h264_still_gets_ts_by_default_and_fmp4_when_asked() {
    let worker = start_worker(hls_settings(false), false);
    let media = make_media(worker.dir.path(), 4);
    let _ts = publish(&media, &worker.rtmp_url("live/avc"), true);
    let text = playlist_with(worker.http, "/live/avc.m3u8", "avc-1.ts");
    assert!(
        text.contains("#EXT-X-VERSION:3\n") && !text.contains("EXT-X-MAP"),
        "{text}"
    );

    let mut fmp4 = hls_settings(false);
    fmp4.hls.segment_format = HlsSegmentFormat::Fmp4;
    let forced = start_worker(fmp4, false);
    let _publisher = publish(&media, &forced.rtmp_url("live/avc"), true);
    let text = playlist_with(forced.http, "/live/avc.m3u8", "avc-2.m4s");
    assert!(text.contains("#EXT-X-MAP:URI=\"avc-init.mp4\""), "{text}");
    assert_eq!(probed(&forced.http_url("live/avc.m3u8")), ["aac", "h264"]);
    play_in_chromium(&forced.http_url("live/avc.m3u8"), None);
}

/// Under `auto`, a republish with other codecs switches the format: H.264/AAC (TS), then HEVC from
/// FFmpeg 9 (fMP4 after a discontinuity, a new `EXT-X-MAP`, version 6), then H.264/AAC again (TS
/// after one more); each half decodes while it is live, and the media sequence never goes back.
#[test]
fn auto_follows_a_republish_with_other_codecs() {
    let Some(ffmpeg) = ffmpeg9::require() else {
        return;
    };
    let worker = start_worker(hls_settings(false), false);
    let media = make_media(worker.dir.path(), 4);
    let hevc = worker.dir.path().join("hevc.flv");
    ffmpeg9::make_clip(&ffmpeg, ffmpeg9::Clip::HevcAac, 4, &hevc);
    let url = worker.http_url("live/sw.m3u8");
    let media_sequence = |text: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{text}"))
    };

    let h264 = publish(&media, &worker.rtmp_url("live/sw"), true);
    let first = playlist_with(worker.http, "/live/sw.m3u8", "sw-2.ts");
    assert!(first.contains("#EXT-X-VERSION:3\n"), "{first}");
    ffmpeg9::read_clean(&ffmpeg, &url, 2, &["video: h264"]);
    drop(h264);
    playlist_with(worker.http, "/live/sw.m3u8", "#EXT-X-ENDLIST");

    let hevc_publisher = ffmpeg9::publish(&ffmpeg, &hevc, &worker.rtmp_url("live/sw"));
    let text = expect_within(Duration::from_secs(40), "the playlist in fMP4", || {
        let text = get(worker.http, "/live/sw.m3u8")?.text();
        (text.matches(".m4s").count() >= 2).then_some(text)
    });
    assert!(!text.contains(".ts"), "{text}");
    assert!(text.contains("#EXT-X-VERSION:6\n"), "{text}");
    assert!(
        text.contains("#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"sw-init.mp4\"\n"),
        "{text}"
    );
    assert!(media_sequence(&text) >= 3, "{text}");
    assert_eq!(get(worker.http, "/live/sw-0.ts").unwrap().status, 404);
    ffmpeg9::read_clean(&ffmpeg, &url, 2, &["video: hevc"]);
    let fmp4_sequence = media_sequence(&text);
    drop(hevc_publisher);
    playlist_with(worker.http, "/live/sw.m3u8", "#EXT-X-ENDLIST");

    let _h264 = publish(&media, &worker.rtmp_url("live/sw"), true);
    let text = expect_within(Duration::from_secs(40), "the playlist in TS again", || {
        let text = get(worker.http, "/live/sw.m3u8")?.text();
        (text.matches(".ts").count() >= 2).then_some(text)
    });
    assert!(
        !text.contains(".m4s") && !text.contains("EXT-X-MAP"),
        "{text}"
    );
    assert!(text.contains("#EXT-X-VERSION:3\n"), "{text}");
    assert!(text.contains("#EXT-X-DISCONTINUITY\n"), "{text}");
    assert!(media_sequence(&text) > fmp4_sequence, "{text}");
    ffmpeg9::read_clean(&ffmpeg, &url, 2, &["video: h264"]);
}

/// The live edge a playlist shows: the open segment's sequence number, how many of its parts are
/// listed, and the part the preload hint names.
fn edge(text: &str) -> (u64, u64, u64) {
    let media_sequence: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .unwrap()
        .parse()
        .unwrap();
    let complete = text.lines().filter(|l| l.starts_with("#EXTINF")).count() as u64;
    let tail = text.rsplit("#EXTINF").next().unwrap();
    let open_parts = tail.matches("#EXT-X-PART:").count() as u64;
    let hint = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\""))
        .and_then(|rest| rest.strip_prefix("ll-p"))
        .and_then(|rest| rest.strip_suffix(".m4s\""))
        .expect(text)
        .parse()
        .unwrap();
    (media_sequence + complete, open_parts, hint)
}

fn ll_worker() -> (Worker, common::ChildGuard) {
    let worker = start_worker(hls_settings(true), false);
    let media = make_media(worker.dir.path(), 4);
    let publisher = publish(&media, &worker.rtmp_url("live/ll"), true);
    (worker, publisher)
}

#[test]
fn ll_hls_blocks_until_the_part_exists() {
    let (worker, _publisher) = ll_worker();
    let text = playlist_with(worker.http, "/live/ll.m3u8", "ll-2.m4s");
    assert!(
        text.contains("#EXT-X-PART-INF:PART-TARGET=0.200\n"),
        "{text}"
    );
    assert!(
        text.contains("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL="),
        "{text}"
    );
    assert!(text.contains(",INDEPENDENT=YES\n"), "{text}");

    // Ask for the part after the last listed one: the answer lists it (it waited for it).
    let (msn, parts, hint) = edge(&text);
    let blocked = get(
        worker.http,
        &format!("/live/ll.m3u8?_HLS_msn={msn}&_HLS_part={parts}"),
    )
    .unwrap();
    assert_eq!(blocked.status, 200, "{}", blocked.text());
    let answer = blocked.text();
    assert!(
        answer.contains(&format!("URI=\"ll-p{hint}.m4s\"")) && answer.contains("#EXT-X-PART:"),
        "the hinted part ll-p{hint} is listed now:\n{answer}"
    );
    let (_, _, next_hint) = edge(&answer);
    assert!(next_hint > hint, "{answer}");

    // The hinted part itself is held until it exists, then served from memory.
    let part = get(worker.http, &format!("/live/ll-p{next_hint}.m4s")).unwrap();
    assert_eq!(part.status, 200);
    assert_eq!(&part.body[4..8], b"moof");
    let later = get(worker.http, "/live/ll.m3u8").unwrap().text();
    assert!(
        later.contains(&format!("URI=\"ll-p{next_hint}.m4s\"")),
        "{later}"
    );

    // Too far ahead: answered at once (400), not held.
    let far = get(
        worker.http,
        &format!("/live/ll.m3u8?_HLS_msn={}", msn + 100),
    )
    .unwrap();
    assert_eq!(far.status, 400);
    let unannounced = get(worker.http, &format!("/live/ll-p{}.m4s", next_hint + 50)).unwrap();
    assert_eq!(unannounced.status, 404);
    // Two segments ahead is allowed and answered within three target durations.
    let (msn, _, _) = edge(&later);
    let ahead = get(worker.http, &format!("/live/ll.m3u8?_HLS_msn={}", msn + 2)).unwrap();
    assert!(matches!(ahead.status, 200 | 503), "{}", ahead.status);
    let bad = get(worker.http, "/live/ll.m3u8?_HLS_part=1").unwrap();
    assert_eq!(bad.status, 400);
    // A delta update leaves old segments out once the playlist is long enough; it is valid either way.
    let delta = get(worker.http, "/live/ll.m3u8?_HLS_skip=YES")
        .unwrap()
        .text();
    assert!(delta.contains("#EXT-X-PRELOAD-HINT"), "{delta}");
}

/// hls.js (with `config`, else the harness's default) plays `url`: currentTime advances, no fatal
/// error.
fn play_in_chromium(url: &str, config: Option<&str>) {
    if let Some(why) = browser::missing() {
        crate::skipped!("{why}");
        return;
    }
    let player = match config {
        Some(config) => browser::Player::start_with(url, config),
        None => browser::Player::start(url),
    };
    let started = player
        .wait(Duration::from_secs(40), |r| r.current_time > 1.0)
        .unwrap_or_else(|last| panic!("hls.js never played {url}: {last:?}"));
    let advanced = player
        .wait(Duration::from_secs(30), |r| {
            r.current_time > started.current_time + 2.0
        })
        .unwrap_or_else(|last| panic!("currentTime stopped advancing: {last:?}"));
    println!("hls.js played {url}: {advanced:?}");
    assert!(
        !advanced.log.contains(":fatal"),
        "hls.js had a fatal error: {}",
        advanced.log
    );
}

#[test]
fn hls_js_plays_ll_hls_through_the_http_lb() {
    use common::cluster;
    use oryx::compile::plan::WorkerKind;
    let dir = tempfile::tempdir().unwrap();
    let mut worker = cluster::worker("edge-0", WorkerKind::Embedded, None);
    worker.stream.hls = hls_settings(true).hls;
    let mut plan = cluster::plan(vec![worker]);
    plan.http_lb = Some(cluster::lb(&plan.workers));
    let _up = cluster::up_plan(&plan, dir.path(), 2);
    let http_lb = plan.http_lb.as_ref().unwrap().listen;
    let media = make_media(dir.path(), 4);
    let rtmp = plan.workers[0].rtmp;
    let _publisher = publish(&media, &format!("rtmp://{rtmp}/live/ll"), true);
    let text = playlist_with(http_lb, "/live/ll.m3u8", "ll-2.m4s");
    // A blocking reload through the LB is held, not cut, and answered with the part.
    let (msn, parts, hint) = edge(&text);
    let blocked = get(
        http_lb,
        &format!("/live/ll.m3u8?_HLS_msn={msn}&_HLS_part={parts}"),
    )
    .unwrap();
    assert_eq!(blocked.status, 200);
    assert!(blocked.text().contains(&format!("URI=\"ll-p{hint}.m4s\"")));
    play_in_chromium(
        &format!("http://{http_lb}/live/ll.m3u8"),
        Some("{ lowLatencyMode: true }"),
    );
}
