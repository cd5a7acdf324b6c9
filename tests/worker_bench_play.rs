//! `oryx bench play` against a worker: every player plays, over RTMP and HTTP-FLV, and the JSON
//! report adds up.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

fn bench(url: &str, players: u32) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_oryx"))
        .args(["bench", "play", url, "--players", &players.to_string()])
        .args(["--seconds", "3", "--json"])
        .output()
        .expect("oryx bench runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON report")
}

#[test]
fn bench_play_holds_many_rtmp_and_flv_players() {
    let worker = start_worker(settings(), false);
    let media = make_media(worker.dir.path(), 6);
    let _publisher = publish(&media, &worker.rtmp_url("live/b"), true);
    std::thread::sleep(Duration::from_millis(1500));
    for url in [worker.rtmp_url("live/b"), worker.http_url("live/b.flv")] {
        let report = bench(&url, 40);
        assert_eq!(report["connected"], 40, "{url}: {report}");
        assert_eq!(report["failed"], 0, "{url}: {report}");
        assert!(
            report["bytes_per_player_min"].as_u64().unwrap() > 20_000,
            "{url}: {report}"
        );
        assert!(
            report["mbit_per_s"].as_f64().unwrap() > 1.0,
            "{url}: {report}"
        );
        assert!(
            report["first_byte_ms_max"].as_f64().unwrap() < 2000.0,
            "{url}: {report}"
        );
    }
    // Nothing published there: the players fail and the command says so.
    let output = Command::new(env!("CARGO_BIN_EXE_oryx"))
        .args(["bench", "play", &worker.http_url("live/none.flv")])
        .args(["--players", "2", "--seconds", "1"])
        .output()
        .unwrap();
    assert!(!output.status.success());
}
