//! The SRS-compatible HTTP API of the embedded worker: `/api/v1/versions`, `/summaries`, `/streams`
//! (+ `/{id}`), `/clients` (+ `/{id}`, `DELETE` kicks). Answers have SRS's envelope
//! `{"code":0,"server":…,"service":…,"pid":…, payload}` and SRS 6's keys, so operators' scripts and
//! dashboards written for SRS work unchanged.

use crate::worker::forward::Forwards;
use crate::worker::hub::{ClientKind, ClientSnapshot, Hub, StreamSnapshot};
use crate::worker::metrics::{Kbps, Rates};
use crate::worker::record::RecordRegistry;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// SRS's error codes for a missing stream or client.
const ERROR_STREAM_NOT_FOUND: i64 = 2048;
const ERROR_CLIENT_NOT_FOUND: i64 = 2049;
const ERROR_BAD_REQUEST: i64 = 1001;

/// Shared state of the API routes.
#[derive(Clone)]
pub struct Api {
    inner: Arc<ApiInner>,
    /// Each stream entry's `"forwards"`.
    forwards: Forwards,
    /// The streams' child processes (exec, transcode): each stream entry lists its own.
    children: Option<crate::worker::children::Children>,
    /// Each recorded stream entry's `"record"`.
    record: RecordRegistry,
    /// On an edge, each pulled stream's `"edge"`.
    edge: Option<crate::worker::edge::Edge>,
}

struct ApiInner {
    hub: Arc<Hub>,
    /// The 30 s byte rates of streams and clients, sampled by the metrics sampler.
    rates: Arc<Rates>,
    /// SRS's `server` id: this process.
    server: String,
    /// SRS's `service` id: this run (changes on restart).
    service: String,
    started: Instant,
}

impl Api {
    pub fn new(hub: Arc<Hub>, worker_name: &str, rates: Arc<Rates>) -> Api {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Api {
            inner: Arc::new(ApiInner {
                hub,
                rates,
                server: format!("vid-{worker_name}"),
                service: format!("{:x}", (nanos as u64) ^ u64::from(std::process::id())),
                started: Instant::now(),
            }),
            forwards: Forwards::default(),
            children: None,
            record: RecordRegistry::default(),
            edge: None,
        }
    }

    /// Pulled streams show their pull (`"edge": {"origin", "state", "bytes", …}`).
    pub fn with_edge(mut self, edge: Option<crate::worker::edge::Edge>) -> Api {
        self.edge = edge;
        self
    }

    /// Report the state of these forwards in each stream's entry.
    pub fn with_forwards(mut self, forwards: Forwards) -> Api {
        self.forwards = forwards;
        self
    }

    /// List each stream's child processes in its entry (`"children": […]`).
    pub fn with_children(mut self, children: crate::worker::children::Children) -> Api {
        self.children = Some(children);
        self
    }

    /// Streams with a recording show it (`"record": {"path", "state", "error", "files", "bytes"}`).
    pub fn with_record(mut self, record: RecordRegistry) -> Api {
        self.record = record;
        self
    }

    /// One stream's entry: SRS's keys, oryx's `"forwards"`, and its child processes when the worker
    /// runs any.
    fn stream_entry(&self, stream: &StreamSnapshot, now_ms: u64) -> Value {
        let mut entry = stream_json(stream, self.stream_kbps(stream), now_ms);
        entry["forwards"] = self.forwards.json(&stream.vhost, &stream.app, &stream.name);
        if let (Some(children), Value::Object(map)) = (&self.children, &mut entry) {
            map.insert(
                "children".into(),
                children.json(&stream.vhost, &stream.app, &stream.name),
            );
        }
        if let Some(record) = self.record.json(&stream.vhost, &stream.app, &stream.name) {
            entry["record"] = record;
        }
        let pull = self.edge.as_ref();
        if let Some(pull) = pull.and_then(|e| e.json(&stream.vhost, &stream.app, &stream.name)) {
            entry["edge"] = pull;
        }
        entry
    }

    /// The `/api/v1/*` routes; merged into both the control API and the worker's HTTP port.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/v1/versions", get(versions))
            .route("/api/v1/summaries", get(summaries))
            .route("/api/v1/streams", get(streams))
            .route("/api/v1/streams/", get(streams))
            .route(
                "/api/v1/streams/{id}",
                get(stream).delete(|| async { stream_delete_refused() }),
            )
            .route("/api/v1/clients", get(clients))
            .route("/api/v1/clients/", get(clients))
            .route("/api/v1/clients/{id}", get(client).delete(kick))
            .with_state(self.clone())
    }

    /// `{"code":…,"server":…,"service":…,"pid":…}` plus `payload`'s keys.
    fn envelope(&self, code: i64, payload: Value) -> Value {
        let mut object = Map::new();
        object.insert("code".into(), json!(code));
        object.insert("server".into(), json!(self.inner.server));
        object.insert("service".into(), json!(self.inner.service));
        object.insert("pid".into(), json!(std::process::id().to_string()));
        if let Value::Object(extra) = payload {
            object.extend(extra);
        }
        Value::Object(object)
    }

    fn stream_kbps(&self, stream: &StreamSnapshot) -> Kbps {
        self.inner.rates.kbps(
            stream.id,
            stream.recv_bytes,
            stream.send_bytes,
            Instant::now(),
        )
    }

    fn client_kbps(&self, client: &ClientSnapshot) -> Kbps {
        self.inner.rates.kbps(
            client.id,
            client.recv_bytes,
            client.send_bytes,
            Instant::now(),
        )
    }

    fn answer(&self, status: StatusCode, code: i64, payload: Value) -> Response {
        let mut response = (status, axum::Json(self.envelope(code, payload))).into_response();
        response.headers_mut().insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        response
    }
}

/// SRS answers `DELETE /api/v1/streams/ID` with 405; so do we, but with a JSON body that says what
/// to do instead (kick the publisher), since an operator who tries it wants the stream gone.
pub fn stream_delete_refused() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, "GET")],
        axum::Json(json!({
            "code": 405,
            "error": "streams cannot be deleted; kick the publisher with DELETE /api/v1/clients/ID \
                      (the stream's publish.cid)",
        })),
    )
        .into_response()
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `?start=&count=` paging as SRS does it (all by default here).
fn page<T>(items: Vec<T>, query: &HashMap<String, String>) -> Vec<T> {
    let start = query
        .get("start")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let count = query
        .get("count")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(usize::MAX);
    items.into_iter().skip(start).take(count).collect()
}

pub use super::api_codecs::{audio_json, video_json};

/// One stream in SRS 6's shape; `now_ms` is the current Unix time in ms.
pub fn stream_json(stream: &StreamSnapshot, kbps: Kbps, now_ms: u64) -> Value {
    // SRS sets `cid` only while a publisher is there.
    let publish = match stream.publisher_client {
        Some(id) => json!({"active": true, "cid": id.to_string()}),
        None => json!({"active": false}),
    };
    json!({
        "id": stream.id.to_string(),
        "name": stream.name,
        "vhost": stream.vhost,
        "app": stream.app,
        "tcUrl": stream.tc_url,
        "url": format!("/{}/{}", stream.app, stream.name),
        // SRS reports the time of the answer here (not when the stream went live); scripts
        // written for SRS compute ages against it, so it is the same.
        "live_ms": now_ms,
        "clients": stream.clients,
        "frames": stream.frames,
        "send_bytes": stream.send_bytes,
        "recv_bytes": stream.recv_bytes,
        "kbps": {"recv_30s": kbps.recv_30s, "send_30s": kbps.send_30s},
        "publish": publish,
        "video": super::api_codecs::video_json_with(
            stream.video_sequence_header.as_deref(),
            stream.metadata.as_deref(),
        ),
        "audio": audio_json(stream.audio_sequence_header.as_deref()),
    })
}

fn client_type(kind: ClientKind) -> &'static str {
    match kind {
        ClientKind::FmlePublish => "fmle-publish",
        ClientKind::RtmpPlay => "rtmp-play",
        ClientKind::FlvPlay => "flv-play",
        ClientKind::RtcPlay => "rtc-play",
        ClientKind::RtcPublish => "rtc-publish",
        ClientKind::SrtPlay => "srt-play",
    }
}

/// One client in SRS 6's shape; `kbps` are its 30 s rates.
pub fn client_json(client: &ClientSnapshot, now_ms: u64, kbps: Kbps) -> Value {
    let alive_secs = now_ms.saturating_sub(client.connected_ms) as f64 / 1000.0;
    let publish = matches!(
        client.kind,
        ClientKind::FmlePublish | ClientKind::RtcPublish
    );
    json!({
        "id": client.id.to_string(),
        "vhost": client.vhost,
        "stream": client.stream_id.map(|id| id.to_string()),
        "ip": client.ip,
        "pageUrl": "",
        "swfUrl": "",
        "tcUrl": client.tc_url,
        "url": if client.stream.is_empty() {
            String::new()
        } else {
            format!("/{}/{}", client.app, client.stream)
        },
        "name": client.stream,
        "type": client_type(client.kind),
        "publish": publish,
        "alive": alive_secs,
        "send_bytes": client.send_bytes,
        "recv_bytes": client.recv_bytes,
        "kbps": {"recv_30s": kbps.recv_30s, "send_30s": kbps.send_30s},
    })
}

async fn versions(State(api): State<Api>) -> Response {
    let mut parts = env!("CARGO_PKG_VERSION")
        .split('.')
        .map(|part| part.parse::<u64>().unwrap_or(0));
    let (major, minor, revision) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    api.answer(
        StatusCode::OK,
        0,
        json!({"data": {
            "major": major,
            "minor": minor,
            "revision": revision,
            "version": env!("CARGO_PKG_VERSION"),
            "server_name": "oryx",
        }}),
    )
}

async fn summaries(State(api): State<Api>) -> Response {
    let system = crate::worker::metrics::system_sample();
    let process = crate::worker::metrics::process_sample();
    let uptime_ms = api.inner.started.elapsed().as_millis() as u64;
    let data = json!({
        "ok": true,
        "now_ms": unix_ms(),
        "self": {
            "version": env!("CARGO_PKG_VERSION"),
            "pid": std::process::id(),
            "ppid": process.ppid,
            "argv": std::env::args().collect::<Vec<_>>().join(" "),
            "cwd": std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default(),
            "mem_kbyte": process.rss_kbyte,
            "mem_percent": if system.mem_ram_kbyte > 0 {
                process.rss_kbyte as f64 * 100.0 / system.mem_ram_kbyte as f64
            } else {
                0.0
            },
            "cpu_percent": process.cpu_percent,
            "srs_uptime": uptime_ms / 1000,
        },
        "system": {
            "cpus": system.cpus,
            "cpus_online": system.cpus,
            "uptime": system.uptime_secs,
            "load_1m": system.load_1m,
            "load_5m": system.load_5m,
            "load_15m": system.load_15m,
            "mem_ram_kbyte": system.mem_ram_kbyte,
            "mem_ram_percent": system.mem_ram_percent,
            "conn_srs": api.inner.hub.connection_count(),
        },
    });
    api.answer(StatusCode::OK, 0, json!({"data": data}))
}

async fn streams(State(api): State<Api>, Query(query): Query<HashMap<String, String>>) -> Response {
    let mut snapshots = api.inner.hub.streams();
    snapshots.sort_by_key(|s| s.id);
    let now = unix_ms();
    let list: Vec<Value> = page(snapshots, &query)
        .iter()
        .map(|s| api.stream_entry(s, now))
        .collect();
    api.answer(StatusCode::OK, 0, json!({"streams": list}))
}

fn parse_id(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    text.parse().ok()
}

async fn stream(State(api): State<Api>, Path(id): Path<String>) -> Response {
    let Some(id) = parse_id(&id) else {
        return api.answer(StatusCode::BAD_REQUEST, ERROR_BAD_REQUEST, json!({}));
    };
    match api.inner.hub.streams().iter().find(|s| s.id == id) {
        Some(found) => api.answer(
            StatusCode::OK,
            0,
            json!({"stream": api.stream_entry(found, unix_ms())}),
        ),
        None => api.answer(StatusCode::NOT_FOUND, ERROR_STREAM_NOT_FOUND, json!({})),
    }
}

async fn clients(State(api): State<Api>, Query(query): Query<HashMap<String, String>>) -> Response {
    let mut snapshots = api.inner.hub.clients();
    snapshots.sort_by_key(|c| c.id);
    let now = unix_ms();
    let list: Vec<Value> = page(snapshots, &query)
        .iter()
        .map(|c| client_json(c, now, api.client_kbps(c)))
        .collect();
    api.answer(StatusCode::OK, 0, json!({"clients": list}))
}

async fn client(State(api): State<Api>, Path(id): Path<String>) -> Response {
    let Some(id) = parse_id(&id) else {
        return api.answer(StatusCode::BAD_REQUEST, ERROR_BAD_REQUEST, json!({}));
    };
    match api.inner.hub.clients().iter().find(|c| c.id == id) {
        Some(found) => api.answer(
            StatusCode::OK,
            0,
            json!({"client": client_json(found, unix_ms(), api.client_kbps(found))}),
        ),
        None => api.answer(StatusCode::NOT_FOUND, ERROR_CLIENT_NOT_FOUND, json!({})),
    }
}

async fn kick(State(api): State<Api>, Path(id): Path<String>) -> Response {
    let Some(id) = parse_id(&id) else {
        return api.answer(StatusCode::BAD_REQUEST, ERROR_BAD_REQUEST, json!({}));
    };
    if api.inner.hub.kick(id) {
        tracing::info!(client = id, "client kicked through the API");
        api.answer(StatusCode::OK, 0, json!({}))
    } else {
        api.answer(StatusCode::NOT_FOUND, ERROR_CLIENT_NOT_FOUND, json!({}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    // FLV payloads of the sequence headers ffmpeg sends for 320x240 baseline H.264 and 44.1 kHz stereo AAC.
    fn avc_sequence_header() -> Vec<u8> {
        let sps = [
            0x67, 0x42, 0xc0, 0x0d, 0xda, 0x05, 0x07, 0xec, 0x04, 0x40, 0x00, 0x00, 0x03, 0x00,
            0x40, 0x00, 0x00, 0x0c, 0x83, 0xc5, 0x0a, 0xa8,
        ];
        let mut payload = vec![
            0x17,
            0,
            0,
            0,
            0,
            1,
            0x42,
            0xc0,
            0x0d,
            0xff,
            0xe1,
            0,
            sps.len() as u8,
        ];
        payload.extend_from_slice(&sps);
        payload.extend_from_slice(&[1, 0, 4, 0x68, 0xce, 0x3c, 0x80]);
        payload
    }

    fn snapshot() -> StreamSnapshot {
        StreamSnapshot {
            id: 7,
            vhost: "__defaultVhost__".into(),
            app: "live".into(),
            name: "cam".into(),
            tc_url: "rtmp://127.0.0.1/live".into(),
            publisher_client: Some(3),
            publish_started_ms: 1_000,
            clients: 2,
            frames: 100,
            recv_bytes: 5000,
            send_bytes: 9000,
            video_sequence_header: Some(Bytes::from(avc_sequence_header())),
            audio_sequence_header: Some(Bytes::from_static(&[0xaf, 0, 0x12, 0x10])),
            metadata: None,
        }
    }

    #[test]
    fn stream_has_srs_keys_and_codec_details() {
        let kbps = Kbps {
            recv_30s: 800,
            send_30s: 1600,
        };
        let json = stream_json(&snapshot(), kbps, 1_764_000_000_000);
        assert_eq!(json["id"], "7");
        // As SRS: the time of the answer, not of the publish.
        assert_eq!(json["live_ms"], 1_764_000_000_000u64);
        assert_eq!(json["url"], "/live/cam");
        assert_eq!(json["tcUrl"], "rtmp://127.0.0.1/live");
        assert_eq!(json["kbps"], json!({"recv_30s": 800, "send_30s": 1600}));
        assert_eq!(json["publish"], json!({"active": true, "cid": "3"}));
        assert_eq!(
            json["video"],
            json!({"codec": "H264", "profile": "Baseline", "level": "1.3", "width": 320, "height": 240})
        );
        assert_eq!(
            json["audio"],
            json!({"codec": "AAC", "sample_rate": 44100, "channel": 2, "profile": "LC"})
        );
    }

    #[test]
    fn missing_or_broken_codecs_are_null_or_partial() {
        let mut stream = snapshot();
        stream.video_sequence_header = None;
        stream.audio_sequence_header = Some(Bytes::from_static(&[0x2f, 0]));
        stream.publisher_client = None;
        let json = stream_json(&stream, Kbps::default(), 0);
        assert!(json["video"].is_null());
        assert!(json["audio"].is_null());
        assert_eq!(json["publish"], json!({"active": false}));
        assert_eq!(
            video_json(Some(&[0x17, 0, 0, 0, 0, 9])),
            json!({"codec": "H264", "profile": null, "level": null, "width": null, "height": null})
        );
        assert_eq!(
            audio_json(Some(&[0xaf, 0])),
            json!({"codec": "AAC", "sample_rate": null, "channel": null, "profile": null})
        );
    }

    #[test]
    fn client_has_srs_keys() {
        let client = ClientSnapshot {
            id: 9,
            stream_id: Some(7),
            vhost: "__defaultVhost__".into(),
            app: "live".into(),
            stream: "cam".into(),
            ip: "10.0.0.1".into(),
            tc_url: "rtmp://x/live".into(),
            kind: ClientKind::FlvPlay,
            connected_ms: 10_000,
            send_bytes: 125_000,
            recv_bytes: 0,
        };
        let kbps = Kbps {
            recv_30s: 0,
            send_30s: 500,
        };
        let json = client_json(&client, 12_000, kbps);
        assert_eq!(json["id"], "9");
        assert_eq!(json["stream"], "7");
        assert_eq!(json["type"], "flv-play");
        assert_eq!(json["publish"], false);
        assert_eq!(json["alive"], 2.0);
        assert_eq!(json["url"], "/live/cam");
        assert_eq!(json["kbps"], json!({"recv_30s": 0, "send_30s": 500}));
    }

    #[test]
    fn pages_like_srs() {
        let mut query = HashMap::new();
        assert_eq!(page(vec![1, 2, 3, 4], &query), vec![1, 2, 3, 4]);
        query.insert("start".to_string(), "1".to_string());
        query.insert("count".to_string(), "2".to_string());
        assert_eq!(page(vec![1, 2, 3, 4], &query), vec![2, 3]);
        assert_eq!(parse_id("12"), Some(12));
        assert_eq!(parse_id("-1"), None);
        assert_eq!(parse_id("99999999999999999999999"), None);
    }
}
