//! `record` in a real worker: ffmpeg publishes, the files are probed by ffprobe (h264 + aac, their
//! durations summing to what was published), `on_record` hooks get one call per file, a `kill -9`
//! leaves a readable file, and an unwritable path leaves the stream playing, shows in the API and
//! recording resumes by itself.

mod common;

use common::process::run_tool;
use common::wait::expect_within;
use common::{make_media, probe_codecs, publish, settings, start_worker, Worker};
use oryx::compile::plan::{RecordFormat, RecordRule, StreamRule, StreamSettings};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn rule(pattern: &str, path: &Path, segment_ms: Option<u64>, on_record: Vec<String>) -> StreamRule {
    let ext = path.extension().unwrap().to_str().unwrap();
    StreamRule {
        pattern: pattern.into(),
        record: Some(RecordRule {
            path: path.display().to_string(),
            format: RecordFormat::from_extension(ext).unwrap(),
            segment_ms,
        }),
        forwards: Vec::new(),
        transcode: None,
        exec: Vec::new(),
        on_record,
    }
}

fn with_rules(rules: Vec<StreamRule>) -> StreamSettings {
    let mut settings = settings();
    settings.rules = rules;
    settings
}

/// A hook server that answers `0` and keeps every body.
fn hook_server() -> (String, Arc<Mutex<Vec<String>>>) {
    common::hook_server::start("recorded", |_| true)
}

/// The `record` object of the stream `app/name` in the worker's `/api/v1/streams`.
fn record_state(worker: &Worker, name: &str) -> Option<Value> {
    let answer = common::control::get(worker.control, "/api/v1/streams")?;
    let streams = answer.json()["streams"].as_array()?.clone();
    streams
        .into_iter()
        .find(|s| {
            format!(
                "{}/{}",
                s["app"].as_str().unwrap_or(""),
                s["name"].as_str().unwrap_or("")
            ) == name
        })
        .map(|s| s["record"].clone())
}

/// Recorded files under `dir` (recursively) with extension `ext`, sorted.
fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files(&path, ext));
        } else if path.extension().is_some_and(|e| e == ext) {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// Seconds of media in `file` as ffprobe reads it: the end of its last video packet.
fn probed_duration(file: &Path) -> f64 {
    let (ok, out, err) = run_tool(
        "ffprobe",
        &[
            "-v",
            "error",
            "-select_streams",
            "v",
            "-show_entries",
            "packet=pts_time,duration_time",
            "-of",
            "csv=p=0",
            &file.display().to_string(),
        ],
        Duration::from_secs(30),
    );
    assert!(ok, "ffprobe failed on {}: {err}", file.display());
    let mut first: Option<f64> = None;
    let mut end: f64 = 0.0;
    for line in out.lines() {
        let mut fields = line.split(',').map(|f| f.trim().parse::<f64>().ok());
        let (Some(Some(pts)), duration) = (fields.next(), fields.next().flatten()) else {
            continue;
        };
        first = Some(first.map_or(pts, |f: f64| f.min(pts)));
        end = end.max(pts + duration.unwrap_or(0.04));
    }
    end - first.unwrap_or(0.0)
}

fn assert_h264_aac(file: &Path) {
    let mut codecs = probe_codecs(&file.display().to_string());
    // A TS file lists its streams twice: in its program and on their own.
    codecs.dedup();
    assert_eq!(codecs, ["aac", "h264"], "{}", file.display());
}

/// Publishes `seconds` of media once (no loop) and waits until ffmpeg is done.
fn publish_once(worker: &Worker, media: &Path, stream: &str, seconds: u64) {
    let mut publisher = publish(media, &worker.rtmp_url(stream), false);
    let status = publisher.wait_timeout(Duration::from_secs(seconds + 30));
    assert!(
        status.is_some_and(|s| s.success()),
        "the publisher of {stream} did not finish"
    );
}

#[test]
fn mp4_files_segment_probe_and_are_each_reported_once() {
    let out = tempfile::tempdir().unwrap();
    let (hook, bodies) = hook_server();
    let template = out.path().join("{app}/{stream}/{start}.mp4");
    let worker = start_worker(
        with_rules(vec![rule("rec/*", &template, Some(10_000), vec![hook])]),
        false,
    );
    let media = make_media(worker.dir.path(), 25);
    publish_once(&worker, &media, "rec/show", 25);
    let dir = out.path().join("rec/show");
    // Every file is reported once it is closed (the last at unpublish).
    let reported = expect_within(Duration::from_secs(15), "on_record for every file", || {
        let recorded = files(&dir, "mp4");
        let bodies = common::hook_server::json_bodies(&bodies);
        (!recorded.is_empty() && bodies.len() == recorded.len()).then_some((recorded, bodies))
    });
    let (recorded, bodies) = reported;
    assert!(recorded.len() >= 2, "{recorded:?}");
    let mut total = 0.0;
    for file in &recorded {
        assert_h264_aac(file);
        total += probed_duration(file);
        let path = file.display().to_string();
        let calls: Vec<&Value> = bodies.iter().filter(|b| b["path"] == path).collect();
        assert_eq!(calls.len(), 1, "{path}: {bodies:?}");
        let call = calls[0];
        assert_eq!(call["action"], "on_record");
        assert_eq!(
            (call["app"].as_str(), call["stream"].as_str()),
            (Some("rec"), Some("show"))
        );
        assert_eq!(call["vhost"], "__defaultVhost__");
        assert!(path.contains(call["start"].as_str().unwrap()), "{call}");
        assert_eq!(
            call["bytes"].as_u64(),
            Some(std::fs::metadata(file).unwrap().len())
        );
        assert!(call["duration"].as_f64().unwrap() > 0.0, "{call}");
    }
    // One GOP is 1 s.
    assert!((total - 25.0).abs() <= 1.0, "recorded {total} s of 25 s");
    // The stream is gone once its publisher left, with its record state; metrics count the files.
    let page = common::control::get(worker.control, "/metrics")
        .unwrap()
        .text();
    let counted = common::http::metric(&page, "oryx_record_files_total");
    assert_eq!(counted as usize, recorded.len(), "{page}");
    assert!(common::http::metric(&page, "oryx_record_bytes_total") > 0.0);
}

#[test]
fn flv_and_ts_files_segment_and_probe() {
    let out = tempfile::tempdir().unwrap();
    let worker = start_worker(
        with_rules(vec![
            rule(
                "flv/*",
                &out.path().join("{stream}.flv"),
                Some(4_000),
                vec![],
            ),
            rule(
                "ts/*",
                &out.path().join("{app}-{stream}.ts"),
                Some(4_000),
                vec![],
            ),
        ]),
        false,
    );
    let media = make_media(worker.dir.path(), 10);
    let (flv, ts) = (worker.rtmp_url("flv/show"), worker.rtmp_url("ts/show"));
    let mut publishers = [publish(&media, &flv, false), publish(&media, &ts, false)];
    for publisher in &mut publishers {
        let status = publisher.wait_timeout(Duration::from_secs(40));
        assert!(status.is_some_and(|s| s.success()));
    }
    for ext in ["flv", "ts"] {
        let recorded = expect_within(Duration::from_secs(10), "closed files", || {
            let recorded = files(out.path(), ext);
            let idle =
                record_state(&worker, &format!("{ext}/show")).is_none_or(|r| r["state"] == "idle");
            (recorded.len() >= 2 && idle).then_some(recorded)
        });
        let mut total = 0.0;
        for file in &recorded {
            assert_h264_aac(file);
            total += probed_duration(file);
        }
        assert!(
            (total - 10.0).abs() <= 1.0,
            "{ext}: recorded {total} s of 10 s"
        );
    }
}

#[test]
fn kill_9_mid_file_leaves_a_file_ffprobe_reads() {
    let out = tempfile::tempdir().unwrap();
    let mut worker = start_worker(
        with_rules(vec![rule(
            "rec/*",
            &out.path().join("{stream}.mp4"),
            None,
            vec![],
        )]),
        false,
    );
    let media = make_media(worker.dir.path(), 4);
    let _publisher = publish(&media, &worker.rtmp_url("rec/crash"), true);
    let file = out.path().join("crash.mp4");
    // Several fragments (one per 1 s GOP) are on disk.
    expect_within(Duration::from_secs(20), "fragments on disk", || {
        (common::media::file_len(&file) > 60_000).then_some(())
    });
    worker.child.0.kill().unwrap();
    worker.child.0.wait().unwrap();
    assert_h264_aac(&file);
    assert!(probed_duration(&file) >= 1.0);
}

#[test]
fn an_unwritable_path_keeps_the_stream_playing_and_recording_resumes() {
    let out = tempfile::tempdir().unwrap();
    let blocked = out.path().join("blocked");
    std::fs::write(&blocked, b"a regular file where a directory should be").unwrap();
    let worker = start_worker(
        with_rules(vec![rule(
            "rec/*",
            &blocked.join("{stream}.flv"),
            None,
            vec![],
        )]),
        false,
    );
    let media = make_media(worker.dir.path(), 4);
    let _publisher = publish(&media, &worker.rtmp_url("rec/show"), true);
    let error = expect_within(Duration::from_secs(20), "the error in the API", || {
        let record = record_state(&worker, "rec/show")?;
        (record["state"] == "error").then_some(record)
    });
    assert!(
        error["error"].as_str().unwrap().contains("blocked"),
        "{error}"
    );
    // Players are untouched: HTTP-FLV plays.
    assert!(common::media::probe(&worker.http_url("rec/show.flv")));
    let page = common::control::get(worker.control, "/metrics")
        .unwrap()
        .text();
    assert_eq!(
        common::http::metric(&page, "oryx_record_errors_total"),
        1.0,
        "{page}"
    );

    std::fs::remove_file(&blocked).unwrap();
    std::fs::create_dir(&blocked).unwrap();
    let record = expect_within(Duration::from_secs(20), "recording to resume", || {
        let record = record_state(&worker, "rec/show")?;
        (record["state"] == "recording" && record["bytes"].as_u64() > Some(0)).then_some(record)
    });
    assert_eq!(record["error"], Value::Null);
    assert!(blocked.join("show.flv").exists());
    // Still one episode.
    let page = common::control::get(worker.control, "/metrics")
        .unwrap()
        .text();
    assert_eq!(common::http::metric(&page, "oryx_record_errors_total"), 1.0);
}
