//! What the LBs learn from an SRS worker's own HTTP API: `GET /api/v1/streams/` on its control port is
//! both its health check and the list of streams it publishes, as `/api/v1/published` is for an
//! embedded worker.
//!
//! Each LB process keeps one connection per SRS worker alive between polls. A connection per poll
//! (or a TCP probe of SRS's RTMP port, which SRS logs as a failed handshake) costs SRS a few log
//! lines each, and twice a second from every LB that was a steady flood of warnings and hundreds of
//! sockets in TIME_WAIT.

use crate::compile::plan::WorkerPlan;
use crate::route;
use crate::runtime::published::{PublishedKeys, PublishedReport, PublishedStream};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

/// SRS pages its lists (10 items unless `count` says more); one poll asks for this many streams.
/// Past it, the streams SRS leaves out are routed by rendezvous hashing alone.
pub const STREAMS_PATH: &str = "/api/v1/streams/?count=10000";
/// Largest answer read (10 000 streams of SRS's ~700-byte objects fit).
const MAX_ANSWER_BYTES: usize = 16 << 20;

/// Idle kept-alive connections, by SRS API address. A connection whose task ended (SRS closed it,
/// or the runtime that drove it is gone) reports closed and is replaced.
static IDLE: LazyLock<Mutex<HashMap<SocketAddr, SendRequest<Empty<Bytes>>>>> =
    LazyLock::new(Mutex::default);

/// SRS's answer to `GET /api/v1/streams/`, the parts the LBs use.
#[derive(Debug, Deserialize)]
struct StreamsAnswer {
    code: i64,
    #[serde(default)]
    streams: Vec<SrsStream>,
}

#[derive(Debug, Deserialize)]
struct SrsStream {
    #[serde(default)]
    app: String,
    /// The stream's name (SRS's `stream`); `id` is SRS's statistics id.
    #[serde(default)]
    name: String,
    #[serde(default)]
    publish: Publish,
}

#[derive(Debug, Default, Deserialize)]
struct Publish {
    #[serde(default)]
    active: bool,
}

/// The published-streams report in an SRS streams answer: the streams whose publisher is there now
/// (SRS keeps a stream's entry a while after its publisher left). `None` when the answer is not a
/// successful one.
///
/// Every stream is in the default vhost: the compiled srs.conf declares no other, and SRS files a
/// client naming an unknown vhost under the default one.
pub fn report_from_answer(body: &str) -> Option<PublishedReport> {
    let answer: StreamsAnswer = serde_json::from_str(body).ok()?;
    if answer.code != 0 {
        return None;
    }
    let streams = answer
        .streams
        .into_iter()
        .filter(|s| s.publish.active && !s.app.is_empty() && !s.name.is_empty())
        .map(|s| PublishedStream {
            vhost: route::DEFAULT_VHOST.into(),
            app: s.app,
            stream: s.name,
        })
        .collect();
    Some(PublishedReport { streams })
}

/// One check of an SRS worker: `Some` with what it publishes when its API answered, `None` when not.
pub async fn check(worker: &WorkerPlan, timeout: Duration) -> Option<PublishedKeys> {
    match tokio::time::timeout(timeout, get(worker.control, STREAMS_PATH)).await {
        Ok(Ok((200, body))) => {
            let report = report_from_answer(&body);
            if report.is_none() {
                tracing::debug!(worker = %worker.name, "SRS answered its stream list with an error");
            }
            report.map(|r| PublishedKeys::from_report(&r))
        }
        Ok(Ok(_)) | Err(_) => None,
        Ok(Err(err)) => {
            tracing::debug!(worker = %worker.name, "SRS API: {err:#}");
            None
        }
    }
}

/// `GET path` on `addr` over a kept-alive connection (a fresh one if there is none, or if the kept
/// one fails).
async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    let kept = IDLE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&addr)
        .filter(|sender| !sender.is_closed());
    if let Some(sender) = kept {
        // SRS may have closed it since the last poll; a fresh connection settles that.
        if let Ok(answer) = exchange(sender, addr, path).await {
            return Ok(answer);
        }
    }
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    exchange(sender, addr, path).await
}

/// One request on `sender`; the connection goes back to [`IDLE`] when the answer was read whole.
async fn exchange(
    mut sender: SendRequest<Empty<Bytes>>,
    addr: SocketAddr,
    path: &str,
) -> anyhow::Result<(u16, String)> {
    sender.ready().await?;
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, addr.to_string())
        .body(Empty::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
        .collect()
        .await
        .map_err(|err| anyhow::anyhow!("reading answer from {addr}: {err}"))?
        .to_bytes();
    IDLE.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(addr, sender);
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from a real SRS 6 answer: one stream live, one whose publisher left.
    const ANSWER: &str = r#"{"code":0,"server":"vid-x8l9t5k","service":"f1w3p73o","pid":"42",
        "streams":[
          {"id":"vid-2c8m4e2","name":"cam","vhost":"vid-u6z20g9","app":"live",
           "tcUrl":"rtmp://127.0.0.1:1935/live","url":"/live/cam","live_ms":1,"clients":2,
           "frames":10,"send_bytes":1,"recv_bytes":2,"kbps":{"recv_30s":1,"send_30s":2},
           "publish":{"active":true,"cid":"3p55e1k7"},"video":null,"audio":null},
          {"id":"vid-0k5r0s1","name":"gone","vhost":"vid-u6z20g9","app":"live",
           "publish":{"active":false}}
        ]}"#;

    #[test]
    fn only_streams_with_a_publisher_count() {
        let report = report_from_answer(ANSWER).unwrap();
        assert_eq!(
            report.streams,
            [PublishedStream {
                vhost: route::DEFAULT_VHOST.into(),
                app: "live".into(),
                stream: "cam".into(),
            }]
        );
        let keys = PublishedKeys::from_report(&report);
        assert!(keys.answers(&route::stream_key("", "live", "cam")));
        assert!(!keys.answers(&route::stream_key("", "live", "gone")));
    }

    #[test]
    fn an_error_answer_is_not_a_healthy_worker() {
        assert!(report_from_answer(r#"{"code":1000}"#).is_none());
        assert!(report_from_answer("<html>not found</html>").is_none());
        assert_eq!(
            report_from_answer(r#"{"code":0,"streams":[]}"#)
                .unwrap()
                .streams,
            []
        );
    }

    /// A one-route SRS API that counts the connections it accepted.
    async fn fake_srs_api(answer: &'static str) -> (SocketAddr, std::sync::Arc<Mutex<u32>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = std::sync::Arc::new(Mutex::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                *count.lock().unwrap() += 1;
                let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
                    let found = request.uri().path() == "/api/v1/streams/"
                        && request.uri().query() == Some("count=10000");
                    let (status, body) = if found { (200, answer) } else { (404, "") };
                    async move {
                        hyper::Response::builder()
                            .status(status)
                            .body(http_body_util::Full::new(Bytes::from(body)))
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        (addr, accepted)
    }

    fn srs_at(control: SocketAddr) -> WorkerPlan {
        let text = "oryx 1\nworker \"s\" kind=\"srs\" binary=\"/bin/sh\"\n";
        let plan =
            crate::compile::compile_source("t.kdl", text, None).unwrap_or_else(|f| panic!("{f}"));
        let mut worker = plan.workers[0].clone();
        worker.control = control;
        worker
    }

    #[tokio::test]
    async fn polls_reuse_one_connection() {
        let (addr, accepted) = fake_srs_api(ANSWER).await;
        let worker = srs_at(addr);
        for _ in 0..5 {
            let keys = check(&worker, Duration::from_secs(5)).await.unwrap();
            assert_eq!(keys.stream_count(), 1);
        }
        assert_eq!(*accepted.lock().unwrap(), 1);
    }

    #[tokio::test]
    async fn a_worker_without_the_api_is_down() {
        let (addr, _) = fake_srs_api(r#"{"code":1000}"#).await;
        assert!(check(&srs_at(addr), Duration::from_secs(5)).await.is_none());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let gone = srs_at(([127, 0, 0, 1], port).into());
        assert!(check(&gone, Duration::from_secs(5)).await.is_none());
    }
}
