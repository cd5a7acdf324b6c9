//! SRS-compatible HTTP callbacks (`on_publish`, `on_play`, …): how operators authenticate clients.
//!
//! Each configured URL gets a POST with a JSON body describing the client; the client is allowed only
//! when every URL answers HTTP 200 with a body of `0` or a JSON object whose `code` is 0. Anything else —
//! another status, another body, a connection error, a timeout — refuses the client, because a hook
//! that cannot be asked must not let an unauthenticated publisher in.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use std::time::Duration;

/// Hook answers larger than this are refused rather than read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Which event a hook reports (SRS's `action` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HookAction {
    OnPublish,
    OnUnpublish,
    OnPlay,
    OnStop,
    OnConnect,
    OnClose,
}

/// The JSON body SRS sends, field for field.
#[derive(Debug, Clone, Serialize)]
pub struct HookEvent {
    pub action: HookAction,
    pub client_id: String,
    pub ip: String,
    pub vhost: String,
    pub app: String,
    pub stream: String,
    /// The query string of the stream name or tcUrl, with its `?` (e.g. `?token=abc`), or empty.
    pub param: String,
    #[serde(rename = "tcUrl")]
    pub tc_url: String,
}

/// Why a hook refused a client.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("hook {url} is not a valid http URL")]
    BadUrl { url: String },
    #[error("hook {url} did not answer within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("hook {url} could not be reached: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("hook {url} refused with HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("hook {url} refused with body {body:?}")]
    Refused { url: String, body: String },
}

/// Call every URL in order; the first refusal stops and is returned.
pub async fn call(urls: &[String], timeout: Duration, event: &HookEvent) -> Result<(), HookError> {
    if urls.is_empty() {
        return Ok(());
    }
    let body = Bytes::from(serde_json::to_vec(event).unwrap_or_default());
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    for url in urls {
        let uri: http::Uri = url
            .parse()
            .map_err(|_| HookError::BadUrl { url: url.clone() })?;
        if uri.scheme_str() != Some("http") {
            return Err(HookError::BadUrl { url: url.clone() });
        }
        let request = http::Request::post(uri)
            .header("content-type", "application/json")
            .body(Full::new(body.clone()))
            .map_err(|_| HookError::BadUrl { url: url.clone() })?;
        let exchange = async {
            let response = client
                .request(request)
                .await
                .map_err(|err| HookError::Unreachable {
                    url: url.clone(),
                    reason: err.to_string(),
                })?;
            let status = response.status().as_u16();
            let answer = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|err| HookError::Unreachable {
                    url: url.clone(),
                    reason: err.to_string(),
                })?
                .to_bytes();
            Ok::<_, HookError>((status, answer))
        };
        let (status, answer) = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| HookError::Timeout {
                url: url.clone(),
                timeout,
            })??;
        if status != 200 {
            return Err(HookError::Status {
                url: url.clone(),
                status,
            });
        }
        if !allows(&answer) {
            return Err(HookError::Refused {
                url: url.clone(),
                body: String::from_utf8_lossy(&answer[..answer.len().min(200)]).into_owned(),
            });
        }
    }
    Ok(())
}

/// SRS's rule: the body `0`, or a JSON object with `"code": 0`.
fn allows(answer: &[u8]) -> bool {
    let text = String::from_utf8_lossy(answer);
    let text = text.trim();
    if text == "0" {
        return true;
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => map.get("code").and_then(|c| c.as_i64()) == Some(0),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::post;
    use std::sync::{Arc, Mutex};

    fn event() -> HookEvent {
        HookEvent {
            action: HookAction::OnPublish,
            client_id: "7".into(),
            ip: "127.0.0.1".into(),
            vhost: "__defaultVhost__".into(),
            app: "live".into(),
            stream: "s".into(),
            param: "?token=good".into(),
            tc_url: "rtmp://127.0.0.1/live".into(),
        }
    }

    /// A hook server that allows `?token=good` and records every body it got.
    async fn hook_server(
        seen: Arc<Mutex<Vec<serde_json::Value>>>,
        delay: Duration,
    ) -> std::net::SocketAddr {
        let app = axum::Router::new()
            .route(
                "/auth",
                post(move |axum::Json(body): axum::Json<serde_json::Value>| {
                    let seen = seen.clone();
                    async move {
                        tokio::time::sleep(delay).await;
                        let ok = body["param"] == "?token=good";
                        seen.lock().unwrap().push(body);
                        if ok {
                            "0".to_string()
                        } else {
                            "{\"code\":403}".to_string()
                        }
                    }
                }),
            )
            .route("/json-ok", post(|| async { "{\"code\":0}" }))
            .route(
                "/teapot",
                post(|| async { (http::StatusCode::IM_A_TEAPOT, "0") }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    #[tokio::test]
    async fn allows_and_refuses_like_srs() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let addr = hook_server(seen.clone(), Duration::ZERO).await;
        let second = Duration::from_secs(2);
        let auth = vec![format!("http://{addr}/auth")];
        call(&auth, second, &event()).await.unwrap();
        let body = seen.lock().unwrap()[0].clone();
        assert_eq!(body["action"], "on_publish");
        assert_eq!(body["tcUrl"], "rtmp://127.0.0.1/live");
        assert_eq!(body["stream"], "s");

        let mut bad = event();
        bad.param = "?token=bad".into();
        assert!(matches!(
            call(&auth, second, &bad).await,
            Err(HookError::Refused { .. })
        ));
        call(&[format!("http://{addr}/json-ok")], second, &event())
            .await
            .unwrap();
        assert!(matches!(
            call(&[format!("http://{addr}/teapot")], second, &event()).await,
            Err(HookError::Status { status: 418, .. })
        ));
        // Every URL must allow: an allowing hook followed by a refusing one refuses.
        let both = vec![auth[0].clone(), format!("http://{addr}/teapot")];
        assert!(call(&both, second, &event()).await.is_err());
    }

    #[tokio::test]
    async fn timeouts_and_unreachable_hooks_refuse() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let addr = hook_server(seen, Duration::from_secs(5)).await;
        let slow = vec![format!("http://{addr}/auth")];
        let result = call(&slow, Duration::from_millis(200), &event()).await;
        assert!(
            matches!(result, Err(HookError::Timeout { .. })),
            "{result:?}"
        );

        // A port nothing listens on: bind, learn the port, close.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let result = call(
            &[format!("http://{closed}/auth")],
            Duration::from_secs(2),
            &event(),
        )
        .await;
        assert!(
            matches!(result, Err(HookError::Unreachable { .. })),
            "{result:?}"
        );
        assert!(matches!(
            call(&["ftp://x/".to_string()], Duration::from_secs(1), &event()).await,
            Err(HookError::BadUrl { .. })
        ));
    }

    #[test]
    fn answer_rules() {
        assert!(allows(b"0"));
        assert!(allows(b" 0\n"));
        assert!(allows(br#"{"code":0,"data":null}"#));
        assert!(!allows(br#"{"code":1}"#));
        assert!(!allows(b""));
        assert!(!allows(b"ok"));
        assert!(!allows(b"[0]"));
    }
}
