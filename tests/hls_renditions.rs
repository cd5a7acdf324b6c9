//! `EXT-X-RENDITION-REPORT` with a real ABR ladder: a worker with a transcode and `low-latency`
//! behind the http-lb; each variant's LL-HLS playlist reports the other variants with URIs the
//! master lists and a `LAST-MSN`/`LAST-PART` that the reported playlist holds; hls.js in
//! `lowLatencyMode` plays the master through the http-lb in headless Chromium.

#[allow(dead_code)] // this binary uses one of the harness's players
mod browser;
mod common;

use common::cluster;
use common::http::get;
use common::wait::expect_within;
use common::{make_media, publish};
use oryx::compile::plan::{Rendition, StreamRule, TranscodeRule, WorkerKind};
use std::net::SocketAddr;
use std::time::Duration;

/// One `EXT-X-RENDITION-REPORT`: its URI, `LAST-MSN`, `LAST-PART`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Report {
    uri: String,
    msn: u64,
    part: Option<u64>,
}

fn reports(text: &str) -> Vec<Report> {
    text.lines()
        .filter_map(|line| line.strip_prefix("#EXT-X-RENDITION-REPORT:"))
        .map(|attrs| {
            let uri = attrs
                .split("URI=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_default()
                .to_string();
            let number = |key: &str| {
                attrs
                    .split(',')
                    .find_map(|pair| pair.strip_prefix(key))
                    .and_then(|value| value.parse().ok())
            };
            Report {
                uri,
                msn: number("LAST-MSN=").unwrap_or_else(|| panic!("no LAST-MSN: {attrs}")),
                part: number("LAST-PART="),
            }
        })
        .collect()
}

/// Whether a media playlist holds segment `msn` (and its part `part`, when that segment is the
/// open one, whose parts are all that lists it).
fn holds(text: &str, msn: u64, part: Option<u64>) -> bool {
    let mut current: u64 = text
        .lines()
        .find_map(|line| line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .and_then(|n| n.parse().ok())
        .expect("a media sequence");
    let first = current;
    let mut parts = 0;
    for line in text.lines() {
        if line.starts_with("#EXT-X-SKIP:") {
            return false;
        }
        if line.starts_with("#EXT-X-PART:") {
            parts += 1;
        } else if line.starts_with("#EXTINF:") {
            if current == msn {
                // A completed segment holds every part it had.
                return true;
            }
            current += 1;
            parts = 0;
        }
    }
    msn >= first && msn == current && part.is_some_and(|p| p < parts)
}

/// The master's variant URIs, in its order.
fn variant_uris(master: &str) -> Vec<String> {
    let lines: Vec<&str> = master.lines().collect();
    lines
        .windows(2)
        .filter(|pair| pair[0].starts_with("#EXT-X-STREAM-INF:"))
        .map(|pair| pair[1].to_string())
        .collect()
}

fn fetch(http: SocketAddr, path: &str) -> Option<String> {
    get(http, path)
        .filter(|answer| answer.status == 200)
        .map(|answer| answer.text())
}

#[test]
fn rendition_reports_name_the_other_variants_and_hls_js_plays_the_ll_master() {
    let dir = tempfile::tempdir().unwrap();
    let mut worker = cluster::worker("edge-0", WorkerKind::Embedded, None);
    worker.stream.hls.enabled = true;
    worker.stream.hls.fragment_ms = 1000;
    worker.stream.hls.window = 6;
    worker.stream.hls.low_latency = true;
    worker.stream.hls.part_ms = Some(200);
    worker.stream.rules = vec![StreamRule {
        pattern: "live/*".into(),
        record: None,
        forwards: Vec::new(),
        transcode: Some(TranscodeRule {
            binary: "ffmpeg".into(),
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
    let mut plan = cluster::plan(vec![worker]);
    plan.http_lb = Some(cluster::lb(&plan.workers));
    let _up = cluster::up_plan(&plan, dir.path(), 2);
    let http = plan.http_lb.as_ref().unwrap().listen;
    let media = make_media(dir.path(), 4);
    let rtmp = plan.workers[0].rtmp;
    let _publisher = publish(&media, &format!("rtmp://{rtmp}/live/cam"), true);

    let master = expect_within(Duration::from_secs(60), "a master with both", || {
        fetch(http, "/live/cam.m3u8").filter(|t| t.contains("cam_120p.m3u8"))
    });
    let variants = variant_uris(&master);
    assert_eq!(
        variants,
        ["cam.m3u8?variant=source", "cam_120p.m3u8"],
        "{master}"
    );

    // Each variant's playlist reports every other one, at an edge the reported playlist holds.
    for uri in &variants {
        let text = expect_within(
            Duration::from_secs(30),
            &format!("{uri} with parts and a rendition report"),
            || {
                fetch(http, &format!("/live/{uri}")).filter(|t| {
                    t.contains("#EXT-X-PART:") && t.contains("#EXT-X-RENDITION-REPORT:")
                })
            },
        );
        let found = reports(&text);
        let others: Vec<&String> = variants.iter().filter(|v| *v != uri).collect();
        assert_eq!(
            found.iter().map(|r| &r.uri).collect::<Vec<_>>(),
            others,
            "{uri}: {text}"
        );
        for report in &found {
            assert!(report.part.is_some(), "{uri}: {report:?} without LAST-PART");
            let reported = fetch(http, &format!("/live/{}", report.uri)).unwrap();
            assert!(
                holds(&reported, report.msn, report.part),
                "{uri} reports {report:?}, which {} does not hold:\n{reported}",
                report.uri
            );
            // A blocking reload of that edge is answered at once with a playlist that has it.
            let separator = if report.uri.contains('?') { '&' } else { '?' };
            let blocked = fetch(
                http,
                &format!(
                    "/live/{}{separator}_HLS_msn={}&_HLS_part={}",
                    report.uri,
                    report.msn,
                    report.part.unwrap()
                ),
            )
            .unwrap();
            assert!(holds(&blocked, report.msn, report.part), "{blocked}");
        }
    }

    // hls.js in low-latency mode plays the ABR master through the http-lb.
    if let Some(why) = browser::missing() {
        crate::skipped!("{why}");
        return;
    }
    let url = format!("http://{http}/live/cam.m3u8");
    let player = browser::Player::start_with(&url, "{ lowLatencyMode: true }");
    let started = player
        .wait(Duration::from_secs(60), |r| r.current_time > 1.0)
        .unwrap_or_else(|last| panic!("hls.js never played {url}: {last:?}"));
    let advanced = player
        .wait(Duration::from_secs(40), |r| {
            r.current_time > started.current_time + 3.0
        })
        .unwrap_or_else(|last| panic!("currentTime stopped advancing: {last:?}"));
    assert!(advanced.log.contains("levels="), "{advanced:?}");
    assert!(
        !advanced.log.contains(":fatal"),
        "hls.js had a fatal error: {}",
        advanced.log
    );
    println!("hls.js played the LL master {url}: {advanced:?}");
}
