//! The api-lb role: one SRS-compatible `/api/v1` for the whole cluster.
//!
//! `streams`, `clients` and `summaries` are gathered from every worker that has an API (embedded
//! workers and SRS, on their control port; nginx-rtmp has none) and merged; each item is tagged with
//! `"worker"`, and its ids become `WORKER:ID` so they stay unique across workers and lead back to
//! their worker: `GET`/`DELETE /api/v1/clients/WORKER:ID` goes to that worker with the plain id (so do
//! `streams/` and, for SRS's vhost ids, `vhosts/`). A bare id is tried on every worker. Any other `/api/v1/*` request is proxied to one worker
//! (`?worker=NAME` picks it; else the first healthy one).

use super::api_access::{guard, Access};
use super::backends::{http_call, Backends};
use crate::compile::plan::{Plan, WorkerKind, WorkerPlan};
use crate::stream_name::query;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use std::time::Duration;

/// How long one worker may take to answer.
const WORKER_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest request body forwarded to a worker.
const MAX_BODY: usize = 1 << 20;

#[derive(Clone)]
struct ApiLb {
    backends: Backends,
    /// SRS's `service` field: an id of this process, so clients notice restarts.
    service: String,
}

pub fn run(plan: Plan) -> anyhow::Result<()> {
    let lb_plan = plan
        .api_lb
        .clone()
        .ok_or_else(|| anyhow::anyhow!("the plan has no api-lb"))?;
    let access = Access::from_plan(&lb_plan)?;
    let console_plan = plan.clone();
    super::lb_start::run(plan, "api-lb", |lb| async move {
        let front = crate::net::http_serve::Front {
            role: "api-lb",
            cap: crate::net::conn_cap::ConnectionCap::new(
                format!("api-lb {}", lb.listener.local_addr()?),
                crate::net::limits::current_connection_cap(2),
            ),
            write_timeout: crate::net::write_deadline::WRITE_TIMEOUT,
            cors: false,
        };
        // The console's status sits behind the credential check with the API; its files do not.
        let info = super::console::ConsoleInfo::from_plan(&console_plan, lb.backends.clone());
        let api = router(lb.backends).merge(super::console::status_router(info));
        let app = guard(api, access, lb_plan.cors_origins.as_deref())
            .merge(super::console::asset_router());
        let handler = crate::net::http_serve::router_handler(app);
        crate::net::http_serve::serve(
            lb.listener,
            front,
            handler,
            crate::net::shutdown::requested(),
        )
        .await;
        Ok(())
    })
}

/// The api-lb's routes over `backends`.
pub fn router(backends: Backends) -> Router {
    let state = ApiLb {
        backends,
        service: format!("{:08x}", rand::random::<u32>()),
    };
    Router::new()
        .route("/api/v1/streams", get(list_streams))
        .route("/api/v1/streams/", get(list_streams))
        .route("/api/v1/clients", get(list_clients))
        .route("/api/v1/clients/", get(list_clients))
        .route("/api/v1/summaries", get(summaries))
        .route("/api/v1/streams/{id}", get(one_stream).delete(one_stream))
        .route("/api/v1/clients/{id}", get(one_client).delete(one_client))
        .route("/api/v1/vhosts/{id}", get(one_vhost))
        .fallback(passthrough)
        .with_state(state)
}

impl ApiLb {
    /// The SRS envelope: `code`, `server`, `service`, `pid`, then the payload.
    fn envelope(&self, code: i64, payload: Map<String, Value>) -> Json<Value> {
        let mut body = Map::new();
        body.insert("code".into(), json!(code));
        body.insert(
            "server".into(),
            json!(format!("oryx-api-lb/{}", env!("CARGO_PKG_VERSION"))),
        );
        body.insert("service".into(), json!(self.service));
        body.insert("pid".into(), json!(std::process::id().to_string()));
        body.extend(payload);
        Json(Value::Object(body))
    }

    /// Workers with an SRS-compatible API, healthy ones only.
    fn api_workers(&self) -> Vec<WorkerPlan> {
        self.backends
            .healthy()
            .into_iter()
            .filter(|w| w.kind != WorkerKind::NginxRtmp)
            .collect()
    }

    fn api_worker(&self, name: &str) -> Option<WorkerPlan> {
        self.backends
            .snapshot()
            .into_iter()
            .map(|b| b.plan)
            .find(|w| w.name == name && w.kind != WorkerKind::NginxRtmp)
    }

    /// `GET path` on every API worker; the `key` arrays merged, items tagged. Unreachable workers
    /// are listed under `"errors"` rather than failing the whole answer.
    async fn gather(&self, path: &str, key: &str) -> Json<Value> {
        let workers = self.api_workers();
        let answers = futures_util::future::join_all(
            workers
                .iter()
                .map(|w| http_call(w.control, "GET", path, None, WORKER_TIMEOUT)),
        )
        .await;
        let mut items = Vec::new();
        let mut errors = Vec::new();
        for (worker, answer) in workers.iter().zip(answers) {
            match answer.map(|(status, text)| (status, serde_json::from_str::<Value>(&text))) {
                Ok((200, Ok(mut body))) => {
                    if let Some(Value::Array(list)) = body.get_mut(key).map(Value::take) {
                        items.extend(list.into_iter().map(|item| tag(item, worker)));
                    }
                }
                Ok((status, _)) => errors.push(json!({"worker": worker.name, "status": status})),
                Err(err) => errors.push(json!({"worker": worker.name, "error": err.to_string()})),
            }
        }
        let mut payload = Map::new();
        payload.insert(key.into(), Value::Array(items));
        if !errors.is_empty() {
            payload.insert("errors".into(), Value::Array(errors));
        }
        self.envelope(0, payload)
    }

    /// Send one item request (`GET`/`DELETE /api/v1/KIND/ID`) to the worker the id names, or try
    /// every worker for a bare id.
    async fn one(&self, method: &Method, kind: &str, id: &str) -> Response {
        let targets: Vec<(WorkerPlan, String)> = match split_id(id) {
            Some((worker, local)) => match self.api_worker(worker) {
                Some(w) => vec![(w, local.to_string())],
                None => {
                    let mut payload = Map::new();
                    payload.insert("error".into(), json!(format!("no worker named {worker}")));
                    return (StatusCode::NOT_FOUND, self.envelope(2048, payload)).into_response();
                }
            },
            None => self
                .api_workers()
                .into_iter()
                .map(|w| (w, id.to_string()))
                .collect(),
        };
        let item_key = kind.trim_end_matches('s');
        let mut last = None;
        for (worker, local) in targets {
            let path = format!("/api/v1/{kind}/{local}");
            match http_call(worker.control, method.as_str(), &path, None, WORKER_TIMEOUT).await {
                Ok((status, text)) => {
                    // A worker that answers with something other than JSON (an external worker's
                    // plain error page) is passed on as a JSON string, never as `null`.
                    let body: Value = serde_json::from_str(&text)
                        .unwrap_or_else(|_| json!({ "code": status, "error": text.trim() }));
                    let code = body.get("code").and_then(Value::as_i64).unwrap_or(-1);
                    if status == 200 && code == 0 {
                        let mut body = body;
                        if let Some(item) = body.get_mut(item_key) {
                            *item = tag(item.take(), &worker);
                        }
                        if let Some(obj) = body.as_object_mut() {
                            obj.insert("worker".into(), json!(worker.name));
                        }
                        return (StatusCode::OK, Json(body)).into_response();
                    }
                    last = Some((status, body));
                }
                Err(err) => tracing::warn!(worker = %worker.name, "{err:#}"),
            }
        }
        match last {
            Some((status, body)) => (
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                Json(body),
            )
                .into_response(),
            None => {
                let mut payload = Map::new();
                payload.insert(
                    "error".into(),
                    json!(format!("no worker answered for {kind}/{id}")),
                );
                (StatusCode::NOT_FOUND, self.envelope(2048, payload)).into_response()
            }
        }
    }
}

/// `WORKER:ID` → (`WORKER`, `ID`).
fn split_id(id: &str) -> Option<(&str, &str)> {
    id.split_once(':')
        .filter(|(worker, local)| !worker.is_empty() && !local.is_empty())
}

/// Tag an item with its worker and make its ids cluster-unique (`WORKER:ID`): its own `id`, a
/// stream's publisher (`publish.cid`), a client's stream (`stream`), and on SRS a stream's or
/// client's `vhost`, which there is the id of SRS's vhost object (an embedded worker names the vhost
/// itself there).
pub fn tag(mut item: Value, worker: &WorkerPlan) -> Value {
    let kind = worker.kind;
    let worker = worker.name.as_str();
    if let Some(obj) = item.as_object_mut() {
        let qualify = |v: &Value| match v {
            Value::String(s) => Some(json!(format!("{worker}:{s}"))),
            Value::Number(n) => Some(json!(format!("{worker}:{n}"))),
            _ => None,
        };
        let mut keys = vec!["id", "stream"];
        if kind == WorkerKind::Srs {
            keys.push("vhost");
        }
        for key in keys {
            if let Some(id) = obj.get(key).and_then(qualify) {
                obj.insert(key.into(), id);
            }
        }
        // A stream's publisher is a client id; keep it pointing at the right client.
        if let Some(publish) = obj.get_mut("publish").and_then(Value::as_object_mut) {
            if let Some(cid) = publish.get("cid").and_then(qualify) {
                publish.insert("cid".into(), cid);
            }
        }
        obj.insert("worker".into(), json!(worker));
    }
    item
}

async fn list_streams(State(lb): State<ApiLb>) -> Json<Value> {
    lb.gather("/api/v1/streams/", "streams").await
}

async fn list_clients(State(lb): State<ApiLb>) -> Json<Value> {
    lb.gather("/api/v1/clients/", "clients").await
}

async fn summaries(State(lb): State<ApiLb>) -> Json<Value> {
    let workers = lb.api_workers();
    let answers = futures_util::future::join_all(
        workers
            .iter()
            .map(|w| http_call(w.control, "GET", "/api/v1/summaries", None, WORKER_TIMEOUT)),
    )
    .await;
    let mut per_worker = Vec::new();
    for (worker, answer) in workers.iter().zip(answers) {
        let data = match answer {
            Ok((200, text)) => serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|mut body| body.get_mut("data").map(Value::take))
                .unwrap_or(Value::Null),
            _ => Value::Null,
        };
        per_worker.push(json!({ "worker": worker.name, "ok": !data.is_null(), "data": data }));
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let all_ok = per_worker.iter().all(|w| w["ok"] == json!(true));
    let mut payload = Map::new();
    payload.insert(
        "data".into(),
        json!({ "ok": all_ok, "now_ms": now_ms, "workers": per_worker }),
    );
    lb.envelope(0, payload)
}

async fn one_stream(State(lb): State<ApiLb>, method: Method, Path(id): Path<String>) -> Response {
    if method == Method::DELETE {
        return crate::worker::api::stream_delete_refused();
    }
    lb.one(&method, "streams", &id).await
}

async fn one_vhost(State(lb): State<ApiLb>, method: Method, Path(id): Path<String>) -> Response {
    lb.one(&method, "vhosts", &id).await
}

async fn one_client(State(lb): State<ApiLb>, method: Method, Path(id): Path<String>) -> Response {
    lb.one(&method, "clients", &id).await
}

/// Any other `/api/v1/*` request goes to one worker as is.
async fn passthrough(State(lb): State<ApiLb>, method: Method, uri: Uri, body: Bytes) -> Response {
    let path = uri.path();
    if !path.starts_with("/api/v1/") && path != "/api/v1" {
        let mut payload = Map::new();
        payload.insert("error".into(), json!(format!("not found: {path}")));
        return (StatusCode::NOT_FOUND, lb.envelope(404, payload)).into_response();
    }
    if body.len() > MAX_BODY {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n").into_response();
    }
    let chosen = match uri.query().and_then(|q| query::value(q, "worker")) {
        Some(name) => lb.api_worker(&name),
        None => lb.api_workers().into_iter().next(),
    };
    let Some(worker) = chosen else {
        let mut payload = Map::new();
        payload.insert("error".into(), json!("no worker with an API is available"));
        return (StatusCode::BAD_GATEWAY, lb.envelope(502, payload)).into_response();
    };
    let path_and_query = uri.path_and_query().map(|pq| pq.as_str()).unwrap_or(path);
    let body = (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned());
    match http_call(
        worker.control,
        method.as_str(),
        path_and_query,
        body,
        WORKER_TIMEOUT,
    )
    .await
    {
        Ok((status, text)) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            [("content-type", "application/json")],
            text,
        )
            .into_response(),
        Err(err) => {
            lb.backends.mark_down(&worker.name);
            let mut payload = Map::new();
            payload.insert(
                "error".into(),
                json!(format!("worker {} did not answer: {err}", worker.name)),
            );
            (StatusCode::BAD_GATEWAY, lb.envelope(502, payload)).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(name: &str, kind: WorkerKind) -> WorkerPlan {
        let text = "oryx 1\nworker \"w\"\n";
        let plan =
            crate::compile::compile_source("t.kdl", text, None).unwrap_or_else(|f| panic!("{f}"));
        let mut worker = plan.workers[0].clone();
        worker.name = name.into();
        worker.kind = kind;
        worker
    }

    #[test]
    fn tagging_qualifies_ids_and_is_reversible() {
        let embedded = worker("w-1", WorkerKind::Embedded);
        let item = tag(
            json!({"id": 7, "name": "foo", "vhost": "__defaultVhost__", "publish": {"active": true, "cid": "k3"}}),
            &embedded,
        );
        assert_eq!(item["id"], json!("w-1:7"));
        assert_eq!(item["publish"]["cid"], json!("w-1:k3"));
        assert_eq!(item["worker"], json!("w-1"));
        // An embedded worker's vhost is a name, not an id.
        assert_eq!(item["vhost"], json!("__defaultVhost__"));
        let client = tag(json!({"id": "c", "stream": "7", "vhost": "v"}), &embedded);
        assert_eq!(client["stream"], json!("w-1:7"));
        let no_stream = tag(json!({"id": "c", "stream": null}), &embedded);
        assert_eq!(no_stream["stream"], Value::Null);
        assert_eq!(split_id("w-1:7"), Some(("w-1", "7")));
        assert_eq!(split_id("7"), None);
        assert_eq!(split_id(":7"), None);
    }

    #[test]
    fn srs_stream_and_vhost_ids_are_qualified_too() {
        // SRS 6's shapes: a stream's `vhost` and a client's `vhost`/`stream` are ids of other items.
        let srs = worker("srs-0", WorkerKind::Srs);
        let stream = tag(
            json!({"id": "vid-2c8", "name": "cam", "vhost": "vid-u6z", "publish": {"active": true, "cid": "3p5"}}),
            &srs,
        );
        assert_eq!(stream["id"], json!("srs-0:vid-2c8"));
        assert_eq!(stream["vhost"], json!("srs-0:vid-u6z"));
        assert_eq!(stream["publish"]["cid"], json!("srs-0:3p5"));
        let client = tag(
            json!({"id": "3p5", "vhost": "vid-u6z", "stream": "vid-2c8", "name": "cam"}),
            &srs,
        );
        assert_eq!(client["id"], json!("srs-0:3p5"));
        assert_eq!(client["vhost"], stream["vhost"]);
        assert_eq!(client["stream"], stream["id"]);
        assert_eq!(client["name"], json!("cam"));
    }
}
