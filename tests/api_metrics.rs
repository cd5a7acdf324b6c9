//! `/metrics` and the API's rates of a real worker, with ffmpeg publishing and playing: the
//! exposition text parses, carries connections, streams, per-stream bytes in/out, dropped frames and
//! the plan digest; `kbps` are real 30 s rates; `live_ms` is the time of the answer (as SRS); and a
//! stream's series disappear once it is gone, so short streams do not pile up labels.

mod common;

use common::control::get;
use common::media::play_to_null;
use common::wait::wait_for;
use common::{make_media, publish, settings, start_worker};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One parsed exposition: `name{labels}` (exactly as rendered) → value.
struct Exposition {
    series: HashMap<String, f64>,
    text: String,
}

impl Exposition {
    /// Parses the text format strictly: every non-comment line must be `series value`.
    fn parse(text: String) -> Exposition {
        let mut series = HashMap::new();
        for line in text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (key, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("malformed line {line:?}"));
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("non-numeric value in {line:?}"));
            assert!(
                series.insert(key.to_string(), value).is_none(),
                "duplicate series {key}"
            );
        }
        Exposition { series, text }
    }

    fn value(&self, key: &str) -> Option<f64> {
        self.series.get(key).copied()
    }

    /// The value of the series named `name` whose labels include every `label="value"` given.
    fn find(&self, name: &str, labels: &[&str]) -> Option<f64> {
        self.series.iter().find_map(|(key, value)| {
            let rest = key.strip_prefix(name)?.strip_prefix('{')?;
            labels
                .iter()
                .all(|label| rest.contains(label))
                .then_some(*value)
        })
    }
}

fn scrape(control: SocketAddr) -> Option<Exposition> {
    let answer = get(control, "/metrics")?;
    (answer.status == 200).then(|| Exposition::parse(answer.text()))
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

const CAM: [&str; 3] = [
    "vhost=\"__defaultVhost__\"",
    "app=\"live\"",
    "stream=\"cam\"",
];

fn stream_json(control: SocketAddr) -> Option<serde_json::Value> {
    let json = get(control, "/api/v1/streams")?.json();
    json["streams"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == "cam")
        .cloned()
}

#[test]
fn metrics_and_rates_follow_a_real_publish_and_play() {
    let worker = start_worker(settings(), false);
    let media = make_media(worker.dir.path(), 4);
    let publisher = publish(&media, &worker.rtmp_url("live/cam"), true);
    let player = play_to_null(&format!("http://{}/live/cam.flv", worker.http));
    let control = worker.control;

    // Publisher and player are both counted, and bytes and frames flow both ways.
    let metrics = wait_for(Duration::from_secs(15), || {
        let metrics = scrape(control)?;
        let flowing = metrics.find("oryx_stream_clients", &CAM)? >= 2.0
            && metrics.find("oryx_stream_send_bytes_total", &CAM)? > 10_000.0
            && metrics.find("oryx_stream_recv_bytes_total", &CAM)? > 10_000.0
            && metrics.find("oryx_stream_frames_total", &CAM)? > 10.0;
        flowing.then_some(metrics)
    })
    .expect("publisher and player in /metrics");
    assert!(metrics.value("oryx_connections").unwrap() >= 2.0);
    assert_eq!(metrics.value("oryx_streams"), Some(1.0));
    assert_eq!(metrics.value("oryx_streams_published"), Some(1.0));
    // Dropped frames are there from the start, as zeros.
    assert_eq!(
        metrics.find("oryx_stream_hls_dropped_frames_total", &CAM),
        Some(0.0)
    );
    assert!(metrics.value("oryx_player_dropped_frames_total").is_some());
    // The plan digest is a label, the same the health answer reports.
    let digest = get(control, "/healthz").expect("healthz").json()["digest"]
        .as_str()
        .expect("digest")
        .to_string();
    let plan_label = format!("digest=\"{digest}\"");
    assert_eq!(
        metrics.find("oryx_plan_info", &[&plan_label, "role=\"worker/w\""]),
        Some(1.0),
        "{}",
        metrics.text
    );
    for family in [
        "oryx_connections gauge",
        "oryx_stream_recv_bytes_total counter",
        "oryx_stream_send_bytes_total counter",
    ] {
        assert!(
            metrics.text.contains(&format!("# TYPE {family}")),
            "{}",
            metrics.text
        );
    }

    // kbps is a windowed rate: it agrees with the byte counters measured here over a few seconds.
    let first = stream_json(control).expect("stream listed");
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(5));
    let second = stream_json(control).expect("stream listed");
    let secs = started.elapsed().as_secs_f64();
    let measured_kbps = (second["recv_bytes"].as_u64().unwrap()
        - first["recv_bytes"].as_u64().unwrap()) as f64
        * 8.0
        / 1000.0
        / secs;
    let reported = second["kbps"]["recv_30s"].as_u64().unwrap() as f64;
    assert!(
        measured_kbps > 20.0 && reported > measured_kbps / 4.0 && reported < measured_kbps * 4.0,
        "reported {reported} kbps, measured {measured_kbps} kbps"
    );
    assert!(second["kbps"]["send_30s"].as_u64().unwrap() > 0, "{second}");
    // SRS's live_ms is the time of the answer.
    let live_ms = second["live_ms"].as_u64().expect("live_ms");
    assert!(live_ms.abs_diff(unix_ms()) < 5_000, "live_ms {live_ms}");
    let clients = get(control, "/api/v1/clients").expect("clients").json();
    let clients = clients["clients"].as_array().expect("clients array");
    let publisher_kbps = clients
        .iter()
        .find(|c| c["type"] == "fmle-publish")
        .map(|c| c["kbps"]["recv_30s"].as_u64().unwrap())
        .expect("publisher listed");
    let player_kbps = clients
        .iter()
        .find(|c| c["type"] == "flv-play")
        .map(|c| c["kbps"]["send_30s"].as_u64().unwrap())
        .expect("player listed");
    assert!(
        publisher_kbps > 0 && player_kbps > 0,
        "publisher {publisher_kbps} kbps, player {player_kbps} kbps"
    );

    // Once publisher and player leave, the stream and its series are gone.
    drop(player);
    drop(publisher);
    let gone = wait_for(Duration::from_secs(10), || {
        let metrics = scrape(control)?;
        (metrics.value("oryx_streams") == Some(0.0) && !metrics.text.contains("stream=\"cam\""))
            .then_some(())
    });
    assert!(gone.is_some(), "series of a disposed stream remain");
}
