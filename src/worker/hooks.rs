//! SRS-compatible HTTP(S) callbacks (`on_publish`, `on_play`, …): how operators authenticate clients.
//!
//! Each configured URL gets a POST with a JSON body describing the client; the client is allowed only
//! when every URL answers HTTP 200 with a body of `0` or a JSON object whose `code` is 0; any other
//! answer (a non-200 status below 500, another body) denies. A hook that gives no decision (bad URL,
//! unreachable, TLS failure, timeout, HTTP 5xx, an unreadable answer) is logged as a WARN with the
//! reason and then decided by `on-error` (default deny, like SRS). Clients only ever see the generic
//! [`HookError::client_reason`]: hook URLs carry secrets (`?key=…`). The contract is in `docs/hooks.md`.

use crate::compile::plan::{HookOnError, HookSettings};
use crate::compile::render::redact_url;
use crate::net::https_client::{self, Connector};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::ClientConfig;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// Hook answers larger than this are not read (no decision).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Shortest timeout honoured, so a typo like `timeout "1ms"` cannot refuse everyone.
const MIN_TIMEOUT: Duration = Duration::from_millis(100);

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

/// Why a hook refused a client. The text names the hook (query values masked) and is for the log
/// only; clients get [`HookError::client_reason`].
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("hook {} is not a usable http(s) URL: {reason}", redact_url(.url))]
    BadUrl { url: String, reason: String },
    #[error("hook {} did not answer within {timeout:?}", redact_url(.url))]
    Timeout { url: String, timeout: Duration },
    #[error("hook {} could not be reached: {reason}", redact_url(.url))]
    Unreachable { url: String, reason: String },
    #[error("hook {} failed with HTTP {status}", redact_url(.url))]
    ServerError { url: String, status: u16 },
    #[error("hook {} refused with HTTP {status}", redact_url(.url))]
    Status { url: String, status: u16 },
    #[error("hook {} refused with body {body:?}", redact_url(.url))]
    Refused { url: String, body: String },
}

impl HookError {
    /// True when the hook gave no decision (so `on-error` decides), false when it denied.
    pub fn is_error(&self) -> bool {
        !matches!(self, HookError::Status { .. } | HookError::Refused { .. })
    }

    /// What a refused client is told: never the URL, the status or the body.
    pub fn client_reason(&self) -> &'static str {
        "unauthorized"
    }
}

/// The hooks of one worker: timeout, on-error decision and TLS trust, loaded once.
pub struct Hooks {
    timeout: Duration,
    on_error: HookOnError,
    /// The CA file is read at start; its error is reported by every `https://` call.
    tls: Result<Arc<ClientConfig>, String>,
}

impl Hooks {
    pub fn new(settings: &HookSettings) -> Hooks {
        let tls = https_client::client_config(settings.ca.as_deref()).map_err(|err| {
            tracing::error!("hooks: {err:#}; https:// hooks will fail");
            format!("{err:#}")
        });
        Hooks {
            timeout: Duration::from_millis(settings.timeout_ms).max(MIN_TIMEOUT),
            on_error: settings.on_error,
            tls,
        }
    }

    /// Call every URL in order; the first refusal stops and is returned. A hook that gives no
    /// decision is logged (WARN) and then refuses or is skipped as `on-error` says.
    pub async fn call(&self, urls: &[String], event: &HookEvent) -> Result<(), HookError> {
        if urls.is_empty() {
            return Ok(());
        }
        let body = Bytes::from(serde_json::to_vec(event).unwrap_or_default());
        for url in urls {
            match self.ask(url, body.clone()).await {
                Ok(()) => {}
                Err(err) if err.is_error() => {
                    tracing::warn!(
                        action = ?event.action,
                        on_error = self.on_error.name(),
                        "{err}"
                    );
                    if self.on_error == HookOnError::Deny {
                        return Err(err);
                    }
                }
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// Tells every URL about something that happened (`on_record`): each gets `event` as a JSON
    /// POST; the answer decides nothing, and a failure is logged (WARN) and not retried.
    pub async fn tell(&self, urls: &[String], action: &str, event: &impl Serialize) {
        let body = Bytes::from(serde_json::to_vec(event).unwrap_or_default());
        for url in urls {
            match self.ask(url, body.clone()).await {
                Ok(()) => {}
                Err(err) if err.is_error() => tracing::warn!(action, "{err}"),
                // Any answer is fine: there is nothing to refuse.
                Err(_) => {}
            }
        }
    }

    /// One POST and its decision.
    async fn ask(&self, url: &str, body: Bytes) -> Result<(), HookError> {
        let uri =
            crate::compile::units::parse_http_url(url).map_err(|reason| HookError::BadUrl {
                url: url.into(),
                reason: reason.into(),
            })?;
        let tls = match (&self.tls, uri.scheme() == Some(&http::uri::Scheme::HTTPS)) {
            (Ok(tls), _) => Some(tls.clone()),
            (Err(reason), true) => {
                return Err(HookError::Unreachable {
                    url: url.into(),
                    reason: reason.clone(),
                })
            }
            (Err(_), false) => None,
        };
        let client: Client<_, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build(Connector::new(tls, self.timeout));
        let request = http::Request::post(uri)
            .header("content-type", "application/json")
            .body(Full::new(body))
            .map_err(|err| HookError::BadUrl {
                url: url.into(),
                reason: err.to_string(),
            })?;
        let unreachable = |err: &(dyn std::error::Error + 'static)| HookError::Unreachable {
            url: url.into(),
            reason: https_client::error_chain(err),
        };
        let exchange = async {
            let response = client.request(request).await.map_err(|e| unreachable(&e))?;
            let status = response.status().as_u16();
            let answer = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| unreachable(&*e))?
                .to_bytes();
            Ok::<_, HookError>((status, answer))
        };
        let (status, answer) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| HookError::Timeout {
                url: url.into(),
                timeout: self.timeout,
            })??;
        match status {
            200 if allows(&answer) => Ok(()),
            200 => Err(HookError::Refused {
                url: url.into(),
                body: String::from_utf8_lossy(&answer[..answer.len().min(200)]).into_owned(),
            }),
            500.. => Err(HookError::ServerError {
                url: url.into(),
                status,
            }),
            _ => Err(HookError::Status {
                url: url.into(),
                status,
            }),
        }
    }
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

    fn hooks(timeout: Duration, on_error: HookOnError) -> Hooks {
        Hooks::new(&HookSettings {
            timeout_ms: timeout.as_millis() as u64,
            on_error,
            ..HookSettings::default()
        })
    }

    #[tokio::test]
    async fn allows_and_refuses_like_srs() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let addr = hook_server(seen.clone(), Duration::ZERO).await;
        let hooks = hooks(Duration::from_secs(2), HookOnError::Deny);
        let auth = vec![format!("http://{addr}/auth")];
        hooks.call(&auth, &event()).await.unwrap();
        let body = seen.lock().unwrap()[0].clone();
        assert_eq!(body["action"], "on_publish");
        assert_eq!(body["tcUrl"], "rtmp://127.0.0.1/live");
        assert_eq!(body["stream"], "s");

        let mut bad = event();
        bad.param = "?token=bad".into();
        assert!(matches!(
            hooks.call(&auth, &bad).await,
            Err(HookError::Refused { .. })
        ));
        hooks
            .call(&[format!("http://{addr}/json-ok")], &event())
            .await
            .unwrap();
        assert!(matches!(
            hooks
                .call(&[format!("http://{addr}/teapot")], &event())
                .await,
            Err(HookError::Status { status: 418, .. })
        ));
        // Every URL must allow: an allowing hook followed by a refusing one refuses.
        let both = vec![auth[0].clone(), format!("http://{addr}/teapot")];
        assert!(hooks.call(&both, &event()).await.is_err());
    }

    #[tokio::test]
    async fn timeouts_and_unreachable_hooks_refuse_by_default() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let addr = hook_server(seen, Duration::from_secs(5)).await;
        let slow = vec![format!("http://{addr}/auth")];
        let result = hooks(Duration::from_millis(200), HookOnError::Deny)
            .call(&slow, &event())
            .await;
        assert!(
            matches!(result, Err(HookError::Timeout { .. })),
            "{result:?}"
        );

        let deny = hooks(Duration::from_secs(2), HookOnError::Deny);
        let result = deny.call(&[closed_url()], &event()).await;
        assert!(
            matches!(result, Err(HookError::Unreachable { .. })),
            "{result:?}"
        );
        assert!(matches!(
            deny.call(&["ftp://x/".to_string()], &event()).await,
            Err(HookError::BadUrl { .. })
        ));
    }

    /// A URL on a port nothing listens on: bind, learn the port, close.
    fn closed_url() -> String {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        format!("http://{closed}/auth?key=s3cret")
    }

    #[tokio::test]
    async fn on_error_allow_lets_clients_in_only_when_no_decision_came() {
        let app = axum::Router::new()
            .route(
                "/broken",
                post(|| async { (http::StatusCode::INTERNAL_SERVER_ERROR, "0") }),
            )
            .route(
                "/forbidden",
                post(|| async { (http::StatusCode::FORBIDDEN, "0") }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let broken = vec![format!("http://{addr}/broken")];
        let forbidden = vec![format!("http://{addr}/forbidden")];

        let deny = hooks(Duration::from_secs(2), HookOnError::Deny);
        assert!(matches!(
            deny.call(&broken, &event()).await,
            Err(HookError::ServerError { status: 500, .. })
        ));
        let allow = hooks(Duration::from_secs(2), HookOnError::Allow);
        allow.call(&broken, &event()).await.unwrap();
        allow.call(&[closed_url()], &event()).await.unwrap();
        allow
            .call(&["https://".to_string()], &event())
            .await
            .unwrap();
        // A decision is not an error: a 403 denies whatever on-error says.
        assert!(matches!(
            allow.call(&forbidden, &event()).await,
            Err(HookError::Status { status: 403, .. })
        ));
    }

    #[tokio::test]
    async fn the_log_text_masks_secrets_and_the_client_text_names_nothing() {
        let err = hooks(Duration::from_secs(2), HookOnError::Deny)
            .call(&[closed_url()], &event())
            .await
            .unwrap_err();
        let logged = err.to_string();
        assert!(logged.contains("/auth?key=***"), "{logged}");
        assert!(!logged.contains("s3cret"), "{logged}");
        assert_eq!(err.client_reason(), "unauthorized");
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
