//! The api-lb in front of fake workers: merged `streams`/`clients` tagged with their worker and
//! cluster-unique ids, per-worker summaries, `DELETE /api/v1/clients/WORKER:ID` reaching the right
//! worker, bare ids searched, other calls proxied, the SRS envelope on every answer.

mod common;

use common::cluster::*;
use serde_json::Value;

fn get(addr: std::net::SocketAddr, path: &str) -> (u16, Value) {
    let (status, body) = http(addr, "GET", path).unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}")),
    )
}

#[test]
fn api_lb_aggregates_and_routes_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let a = fake_worker("a");
    let b = fake_worker("b");
    // b answers like an SRS worker (its vhost ids are ids, not names).
    let mut b_plan = fake_worker_plan("b", &b);
    b_plan.kind = oryx::compile::plan::WorkerKind::Srs;
    let mut plan = plan(vec![fake_worker_plan("a", &a), b_plan]);
    plan.api_lb = Some(oryx::compile::plan::LbPlan {
        auth: Some(oryx::compile::plan::ApiAuth {
            scheme: oryx::compile::plan::ApiAuthScheme::Bearer {
                token_env: "ORYX_TEST_TOKEN".into(),
            },
            reads: false,
        }),
        ..lb(&plan.workers)
    });
    let api = plan.api_lb.clone().unwrap();
    let _lb = role_with_env(
        "api-lb",
        &plan,
        api.control,
        dir.path(),
        &[("ORYX_TEST_TOKEN", "tok")],
    );
    let auth = [("Authorization", "Bearer tok")];

    for path in ["/api/v1/streams", "/api/v1/streams/"] {
        let (status, body) = get(api.listen, path);
        assert_eq!(status, 200);
        assert_eq!(body["code"], 0);
        assert!(
            body["server"].is_string() && body["service"].is_string() && body["pid"].is_string()
        );
        let streams = body["streams"].as_array().unwrap();
        assert_eq!(streams.len(), 2, "{body}");
        for s in streams {
            let worker = s["worker"].as_str().unwrap();
            assert_eq!(s["name"], format!("{worker}-cam"));
            assert_eq!(s["id"], format!("{worker}:s1"));
            assert_eq!(s["publish"]["cid"], format!("{worker}:c1"));
        }
    }

    let (_, clients) = get(api.listen, "/api/v1/clients/");
    let clients = clients["clients"].as_array().unwrap();
    let ids: Vec<&str> = clients.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&"a:c1") && ids.contains(&"b:c1"), "{ids:?}");
    // A client's stream id leads to its stream in the merged list; SRS's vhost is an id too, an
    // embedded worker's is a name and stays as it is.
    for c in clients {
        let worker = c["worker"].as_str().unwrap();
        assert_eq!(c["stream"], format!("{worker}:s1"), "{c}");
        let vhost = if worker == "b" { "b:vid-v" } else { "vid-v" };
        assert_eq!(c["vhost"], vhost, "{c}");
    }
    let (_, streams) = get(api.listen, "/api/v1/streams/");
    let b_stream = streams["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["worker"] == "b")
        .unwrap();
    assert_eq!(b_stream["vhost"], "b:vid-v");

    // DELETE with a qualified id reaches only that worker, with the worker's own id.
    let before_a = a.requests.lock().unwrap().len();
    let (status, body) = http_with(api.listen, "DELETE", "/api/v1/clients/b:c1", &auth).unwrap();
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["worker"], "b");
    assert_eq!(body["client"]["id"], "b:c1");
    assert!(b
        .requests
        .lock()
        .unwrap()
        .contains(&"DELETE /api/v1/clients/c1".to_string()));
    assert!(!a.requests.lock().unwrap()[before_a..]
        .iter()
        .any(|r| r.starts_with("DELETE")));

    // A bare id is searched on every worker; an unknown worker is a clear 404.
    let (status, _) = http(api.listen, "GET", "/api/v1/clients/c1").unwrap();
    assert_eq!(status, 200);
    let (status, body) = http_with(api.listen, "DELETE", "/api/v1/clients/zz:c1", &auth).unwrap();
    assert_eq!(status, 404);
    assert!(body.contains("no worker named zz"), "{body}");

    let (_, summaries) = get(api.listen, "/api/v1/summaries");
    let workers = summaries["data"]["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2);
    assert!(workers
        .iter()
        .all(|w| w["ok"] == true && w["data"]["self"]["name"] == w["worker"]));

    // Anything else goes to one worker as is; `?worker=` picks it.
    let (status, versions) = get(api.listen, "/api/v1/versions?worker=b");
    assert_eq!(status, 200);
    assert_eq!(versions["data"]["answered_by"], "b");
    let (status, _) = get(api.listen, "/nothing");
    assert_eq!(status, 404);
}
