//! The SRS-compatible API of a real worker, parsed as JSON: versions, summaries, streams (codec,
//! size, publish state) and clients on both the control and the HTTP port; DELETE kicks a player;
//! the published-streams report the LBs poll.

mod common;

use common::control::{get, request};
use common::http::HttpAnswer;
use common::media::play_to_null;
use common::wait::wait_for;
use common::{make_media, publish, settings, start_worker};
use serde_json::Value;
use std::time::Duration;

fn assert_envelope(answer: &HttpAnswer) -> Value {
    assert_eq!(answer.status, 200, "{}", answer.text());
    let json = answer.json();
    assert_eq!(json["code"], 0, "{json}");
    for key in ["server", "service", "pid"] {
        assert!(json.get(key).is_some(), "{key} missing in {json}");
    }
    json
}

#[test]
fn api_reports_streams_and_clients_and_kicks() {
    let mut worker = start_worker(settings(), false);
    let media = make_media(worker.dir.path(), 4);
    let _publisher = publish(&media, &worker.rtmp_url("live/cam"), true);
    let control = worker.control;
    let http = worker.http;

    for port in [control, http] {
        let versions = assert_envelope(&get(port, "/api/v1/versions").expect("versions"));
        for key in ["major", "minor", "revision", "version"] {
            assert!(versions["data"].get(key).is_some(), "{versions}");
        }
        let summaries = assert_envelope(&get(port, "/api/v1/summaries").expect("summaries"));
        assert_eq!(summaries["data"]["ok"], true);
        assert!(summaries["data"]["self"]["pid"].as_u64().is_some());
        assert!(summaries["data"]["system"]["cpus"].as_u64().unwrap() >= 1);
    }

    // The stream appears with its codecs once the sequence headers are in.
    let stream = wait_for(Duration::from_secs(10), || {
        let json = assert_envelope(&get(control, "/api/v1/streams/")?);
        let stream = json["streams"]
            .as_array()?
            .iter()
            .find(|s| s["name"] == "cam")?
            .clone();
        (stream["video"].is_object() && stream["audio"].is_object()).then_some(stream)
    })
    .expect("stream with codecs listed");
    assert_eq!(stream["app"], "live");
    assert_eq!(stream["url"], "/live/cam");
    assert_eq!(stream["publish"]["active"], true);
    assert_eq!(stream["video"]["codec"], "H264");
    assert_eq!(stream["video"]["width"], 320);
    assert_eq!(stream["video"]["height"], 240);
    assert!(stream["video"]["profile"].is_string());
    assert_eq!(stream["audio"]["codec"], "AAC");
    assert_eq!(stream["audio"]["sample_rate"], 44100);
    for key in [
        "id",
        "vhost",
        "tcUrl",
        "live_ms",
        "clients",
        "frames",
        "send_bytes",
        "recv_bytes",
        "kbps",
    ] {
        assert!(stream.get(key).is_some(), "{key} missing in {stream}");
    }
    // Both spellings and the per-id route work, on the HTTP port too.
    let id = stream["id"].as_str().expect("string id").to_string();
    assert_envelope(&get(http, "/api/v1/streams").expect("streams"));
    let one = assert_envelope(&get(http, &format!("/api/v1/streams/{id}")).expect("stream"));
    assert_eq!(one["stream"]["name"], "cam");
    let missing = get(control, "/api/v1/streams/999999999").expect("answer");
    assert_eq!(missing.status, 404);
    assert_ne!(missing.json()["code"], 0);

    // The LBs' report lists the published stream by name only, with the plan digest the worker
    // runs (the LBs report a peer that runs another plan).
    let published = get(control, "/api/v1/published").expect("published");
    assert_eq!(published.status, 200, "{}", published.text());
    let report = published.json();
    assert_eq!(
        report["streams"],
        serde_json::json!([{"vhost": "__defaultVhost__", "app": "live", "stream": "cam"}])
    );
    let digest = report["digest"].as_str().unwrap_or_default();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 7 + 64,
        "{report}"
    );
    assert_eq!(report.as_object().map(|o| o.len()), Some(2), "{report}");

    // A player shows up as rtmp-play; DELETE disconnects it.
    let mut player = play_to_null(&format!("rtmp://{}/live/cam", worker.rtmp));
    let player_client = wait_for(Duration::from_secs(10), || {
        let json = assert_envelope(&get(control, "/api/v1/clients")?);
        json["clients"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "rtmp-play" && c["name"] == "cam")
            .cloned()
    })
    .expect("player listed");
    for key in [
        "id",
        "vhost",
        "stream",
        "ip",
        "tcUrl",
        "url",
        "name",
        "type",
        "publish",
        "alive",
        "send_bytes",
        "recv_bytes",
        "kbps",
    ] {
        assert!(
            player_client.get(key).is_some(),
            "{key} missing in {player_client}"
        );
    }
    assert_eq!(player_client["publish"], false);
    assert_eq!(player_client["url"], "/live/cam");
    assert_eq!(player_client["stream"], stream["id"]);
    let clients = assert_envelope(&get(http, "/api/v1/clients/").expect("clients"));
    assert!(clients["clients"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "fmle-publish" && c["publish"] == true));

    let client_id = player_client["id"].as_str().expect("string id").to_string();
    let one = assert_envelope(&get(control, &format!("/api/v1/clients/{client_id}")).unwrap());
    assert_eq!(one["client"]["type"], "rtmp-play");
    let kicked = request(control, "DELETE", &format!("/api/v1/clients/{client_id}")).unwrap();
    assert_envelope(&kicked);
    assert!(
        player.wait_timeout(Duration::from_secs(10)).is_some(),
        "kicked player still connected"
    );
    let gone = wait_for(Duration::from_secs(5), || {
        let json = assert_envelope(&get(control, "/api/v1/clients")?);
        (!json["clients"]
            .as_array()?
            .iter()
            .any(|c| c["id"] == player_client["id"]))
        .then_some(())
    });
    assert!(gone.is_some(), "kicked client still listed");
    let again = request(control, "DELETE", &format!("/api/v1/clients/{client_id}")).unwrap();
    assert_eq!(again.status, 404);
    let bad = request(control, "DELETE", "/api/v1/clients/not-a-number").unwrap();
    assert_eq!(bad.status, 400);

    // Metrics carry the stream's counters.
    let metrics = wait_for(Duration::from_secs(6), || {
        let text = get(control, "/metrics")?.text();
        text.contains("oryx_stream_recv_bytes_total")
            .then_some(text)
    })
    .expect("stream metrics rendered");
    assert!(metrics.contains("oryx_streams"), "{metrics}");
    assert!(metrics.contains("oryx_plan_info"), "{metrics}");
    assert!(matches!(worker.child.0.try_wait(), Ok(None)), "worker died");
}
