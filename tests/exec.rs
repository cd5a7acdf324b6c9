//! `exec` in the embedded worker, with real processes: a command runs once per publish with its
//! placeholders expanded, is restarted (and counted) when it exits while the stream lives, and is
//! gone (with what it started) when the publisher stops. `{url}` plays past an `on-play` hook that
//! refuses everyone, and only with the worker's internal credential.

mod common;

use common::control;
use common::http::metric;
use common::process::{alive, run_tool};
use common::wait::{expect_within, wait_until};
use common::{make_media, publish, settings, start_worker, Worker};
use oryx::compile::plan::StreamRule;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

fn exec_rule(pattern: &str, commands: Vec<String>) -> StreamRule {
    StreamRule {
        pattern: pattern.into(),
        record: None,
        forwards: Vec::new(),
        transcode: None,
        exec: commands,
        on_record: Vec::new(),
    }
}

/// The `/api/v1/streams` entry of `name`, if listed.
fn stream_entry(worker: &Worker, name: &str) -> Option<Value> {
    let answer = control::get(worker.control, "/api/v1/streams")?;
    let json = answer.json();
    json["streams"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name)
        .cloned()
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn pid_of(line: &str) -> i32 {
    line.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn exec_runs_per_publish_restarts_and_stops_with_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let (runs, grandchildren) = (dir.path().join("runs"), dir.path().join("grandchildren"));
    let mut stream = settings();
    stream.rules = vec![exec_rule(
        "live/*",
        vec![
            // `exec`: the pid written is the process the worker supervises.
            format!(
                "sh -c 'echo $$ {{app}} {{stream}} >> {}; exec sleep 1000'",
                runs.display()
            ),
            // A process the command starts itself: it must stop with it (the process group).
            format!(
                "sh -c 'sleep 1000 & echo $! >> {}; wait'",
                grandchildren.display()
            ),
        ],
    )];
    let worker = start_worker(stream, false);
    let media = make_media(dir.path(), 4);
    let publisher = publish(&media, &worker.rtmp_url("live/cam"), true);

    let first = expect_within(Duration::from_secs(20), "the exec to run", || {
        lines(&runs).first().cloned()
    });
    assert!(first.ends_with(" live cam"), "{first}");
    let first_pid = pid_of(&first);
    let entry = expect_within(Duration::from_secs(10), "the API to list it", || {
        stream_entry(&worker, "cam").filter(|e| e["children"][0]["pid"] == first_pid)
    });
    let child = &entry["children"][0];
    assert_eq!(child["kind"], "exec");
    assert_eq!(child["restarts"], 0);
    assert_eq!(child["crash_loop"], false);
    let command = child["command"].as_str().unwrap();
    assert!(
        command.starts_with("sh -c 'echo $$ live cam >> "),
        "placeholders expanded in the shown command: {command}"
    );
    let page = control::get(worker.control, "/metrics").unwrap().text();
    assert_eq!(metric(&page, "oryx_children{kind=\"exec\"}"), 2.0, "{page}");

    // It exits while the stream lives: restarted with the same placeholders, and counted.
    unsafe { libc::kill(first_pid, libc::SIGKILL) };
    let second = expect_within(Duration::from_secs(10), "the exec to restart", || {
        lines(&runs).get(1).cloned()
    });
    assert!(second.ends_with(" live cam"), "{second}");
    let second_pid = pid_of(&second);
    assert_ne!(second_pid, first_pid);
    expect_within(Duration::from_secs(10), "the restart in the API", || {
        stream_entry(&worker, "cam")
            .filter(|e| e["children"][0]["restarts"] == 1 && e["children"][0]["pid"] == second_pid)
    });
    let page = control::get(worker.control, "/metrics").unwrap().text();
    assert!(metric(&page, "oryx_child_restarts_total{kind=\"exec\"}") >= 1.0);
    let grandchild = expect_within(Duration::from_secs(10), "the grandchild", || {
        lines(&grandchildren).first().map(|l| pid_of(l))
    });
    assert!(alive(grandchild));

    // The publisher stops: every process the rule started is gone, the API lists none.
    drop(publisher);
    assert!(
        wait_until(Duration::from_secs(10), || !alive(second_pid)
            && !alive(grandchild)),
        "exec processes outlived their stream"
    );
    assert!(wait_until(Duration::from_secs(10), || {
        stream_entry(&worker, "cam").is_none()
    }));
    let page = control::get(worker.control, "/metrics").unwrap().text();
    assert_eq!(metric(&page, "oryx_children{kind=\"exec\"}"), 0.0);
    assert_eq!(lines(&runs).len(), 2, "no run after the stream ended");
}

#[test]
fn url_plays_past_a_refusing_on_play_hook_only_with_the_internal_credential() {
    let dir = tempfile::tempdir().unwrap();
    let url_file = dir.path().join("url");
    let mut stream = settings();
    // Nobody answers there and `on-error` is deny: every player is refused.
    stream.hooks.on_play = vec![format!("http://127.0.0.1:{}/deny", common::free_port())];
    stream.rules = vec![exec_rule(
        "live/*",
        vec![format!(
            "sh -c 'echo {{url}} > {}; exec sleep 1000'",
            url_file.display()
        )],
    )];
    let worker = start_worker(stream, false);
    let media = make_media(dir.path(), 4);
    let _publisher = publish(&media, &worker.rtmp_url("live/door"), true);
    let url = expect_within(Duration::from_secs(20), "the exec to write {url}", || {
        lines(&url_file).first().cloned()
    });
    assert!(url.starts_with(&format!(
        "rtmp://127.0.0.1:{}/live/door?",
        worker.rtmp.port()
    )));
    assert!(url.contains("oryx_internal="), "{url}");

    let probe = |url: &str| {
        let args = [
            "-v",
            "error",
            "-rw_timeout",
            "8000000",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
            url,
        ];
        run_tool("ffprobe", &args, Duration::from_secs(15))
    };
    let (ok, out, err) = probe(&url);
    assert!(
        ok && out.contains("h264"),
        "{{url}} did not play: {out} {err}"
    );
    let plain = url.split('?').next().unwrap();
    let (ok, out, _) = probe(plain);
    assert!(
        !ok || !out.contains("h264"),
        "played without the credential"
    );
    let forged = format!("{plain}?oryx_internal=0000");
    let (ok, out, _) = probe(&forged);
    assert!(
        !ok || !out.contains("h264"),
        "played with a wrong credential"
    );

    // The API shows the command with the credential masked.
    let entry = stream_entry(&worker, "door").unwrap();
    let command = entry["children"][0]["command"]
        .as_str()
        .unwrap()
        .to_string();
    let token = url.split("oryx_internal=").nth(1).unwrap();
    assert!(!command.contains(token), "{command}");
    assert!(command.contains("oryx_internal=***"), "{command}");
    let page = control::get(worker.control, "/metrics").unwrap().text();
    assert!(!page.contains(token));
}

#[test]
fn a_command_that_keeps_failing_is_reported_as_a_crash_loop() {
    let dir = tempfile::tempdir().unwrap();
    let mut stream = settings();
    stream.rules = vec![exec_rule("live/*", vec!["sh -c 'exit 3'".into()])];
    let worker = start_worker(stream, false);
    let media = make_media(dir.path(), 4);
    let _publisher = publish(&media, &worker.rtmp_url("live/flaky"), true);
    // Five exits within a minute (backoff 0.2 + 0.4 + 0.8 + 1.6 s) make a crash loop.
    let entry = expect_within(Duration::from_secs(30), "the crash loop in the API", || {
        stream_entry(&worker, "flaky").filter(|e| e["children"][0]["crash_loop"] == true)
    });
    let child = &entry["children"][0];
    assert!(child["restarts"].as_u64().unwrap() >= 4, "{child}");
    let last_exit = child["last_exit"].as_str().unwrap();
    assert!(last_exit.contains("exit status: 3"), "{last_exit}");
    let page = control::get(worker.control, "/metrics").unwrap().text();
    assert!(metric(&page, "oryx_child_restarts_total{kind=\"exec\"}") >= 4.0);
    // The stream itself is untouched.
    assert_eq!(entry["publish"]["active"], true);
}
