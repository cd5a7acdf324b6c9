//! What the LBs learn from an SRS worker's own HTTP API: `GET /api/v1/streams/` on its control port is
//! both its health check and the list of streams it publishes, as `/api/v1/published` is for an
//! embedded worker.
//!
//! Each LB process keeps one connection per SRS worker alive between polls. A connection per poll
//! (or a TCP probe of SRS's RTMP port, which SRS logs as a failed handshake) costs SRS a few log
//! lines each, and twice a second from every LB that was a steady flood of warnings and hundreds of
//! sockets in TIME_WAIT.

use crate::compile::plan::WorkerPlan;
use crate::net::published::{PublishedKeys, PublishedReport};
use crate::stream_name::{StreamName, DEFAULT_VHOST};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// SRS pages its lists (10 items unless `count` says more); one poll asks for this many streams.
/// Past it, the streams SRS leaves out are routed by rendezvous hashing alone. `from` (ignored by
/// SRS) marks the request as the LBs' own poll in SRS's access log: see [`is_poll_log_line`].
pub const STREAMS_PATH: &str = "/api/v1/streams/?count=10000&from=oryx-lb";

/// Whether `line` of SRS's output is its access-log line for one of the LBs' polls. SRS logs every
/// API request; the shell leaves these out of oryx's log (several a second, saying nothing).
pub fn is_poll_log_line(line: &str) -> bool {
    line.contains(STREAMS_PATH) && line.contains("HTTP #")
}
/// Largest answer read (10 000 streams of SRS's ~700-byte objects fit).
const MAX_ANSWER_BYTES: usize = 16 << 20;
/// Largest answer head read.
const MAX_HEAD_BYTES: usize = 64 << 10;

/// Idle kept-alive connections, by SRS API address, held outside any runtime.
static IDLE: LazyLock<Mutex<HashMap<SocketAddr, std::net::TcpStream>>> =
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
        .map(|s| StreamName::new(DEFAULT_VHOST, &s.app, &s.name))
        .collect();
    Some(PublishedReport {
        streams,
        ..Default::default()
    })
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
    let kept = IDLE.lock().unwrap_or_else(|e| e.into_inner()).remove(&addr);
    // A kept socket is re-registered with the runtime running now (the one it was read on may be
    // gone); SRS may have closed it since the last poll, which a fresh connection settles.
    if let Some(stream) = kept.and_then(|std| TcpStream::from_std(std).ok()) {
        if let Ok(answer) = exchange(stream, addr, path).await {
            return Ok(answer);
        }
    }
    let stream = TcpStream::connect(addr).await?;
    let _ = stream.set_nodelay(true);
    exchange(stream, addr, path).await
}

/// One request on `stream`; the socket goes back to [`IDLE`] when the answer had a length and was
/// read whole.
///
/// A small HTTP/1.1 client of its own rather than hyper's: SRS answers every API request with
/// `Connection: Close` yet keeps serving the connection (it closes only when the *request* asks
/// to), and hyper obeys the header, closing each connection, which SRS then logs as a warning.
async fn exchange(
    mut stream: TcpStream,
    addr: SocketAddr,
    path: &str,
) -> anyhow::Result<(u16, String)> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: oryx-lb\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut buf = Vec::with_capacity(4096);
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        anyhow::ensure!(buf.len() <= MAX_HEAD_BYTES, "{addr}: answer head too long");
        anyhow::ensure!(read_more(&mut stream, &mut buf).await? > 0, "{addr} closed");
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let (status, length) =
        parse_head(&head).ok_or_else(|| anyhow::anyhow!("{addr}: bad answer"))?;
    let mut body = buf.split_off(head_end);
    match length {
        Some(length) => {
            anyhow::ensure!(length <= MAX_ANSWER_BYTES, "{addr}: answer too large");
            while body.len() < length {
                anyhow::ensure!(
                    read_more(&mut stream, &mut body).await? > 0,
                    "{addr} closed"
                );
            }
            body.truncate(length);
            if let Ok(std) = stream.into_std() {
                IDLE.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(addr, std);
            }
        }
        // No length: the body runs to the end of the connection, which is then spent.
        None => {
            while read_more(&mut stream, &mut body).await? > 0 {
                anyhow::ensure!(body.len() <= MAX_ANSWER_BYTES, "{addr}: answer too large");
            }
        }
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Read what is there into `buf`; 0 at the end of the stream.
async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut chunk = [0u8; 16 * 1024];
    let n = stream.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

/// The status and `Content-Length` of an answer head (`HTTP/1.1 200 OK\r\n…\r\n\r\n`). A chunked
/// body is not expected from SRS's API and is refused.
fn parse_head(head: &str) -> Option<(u16, Option<usize>)> {
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.trim().parse().ok()?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return None;
        }
    }
    Some((status, length))
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
            [StreamName::new(DEFAULT_VHOST, "live", "cam")]
        );
        let keys = PublishedKeys::from_report(&report);
        assert!(keys.answers(&crate::stream_name::stream_key("", "live", "cam")));
        assert!(!keys.answers(&crate::stream_name::stream_key("", "live", "gone")));
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
                tokio::spawn(serve_like_srs(stream, answer));
            }
        });
        (addr, accepted)
    }

    /// SRS's keep-alive: `Connection: Close` in every answer, yet the next request is served.
    async fn serve_like_srs(mut stream: TcpStream, answer: &'static str) {
        let mut buf = Vec::new();
        loop {
            let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                if read_more(&mut stream, &mut buf).await.unwrap_or(0) == 0 {
                    return;
                }
                continue;
            };
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            let found = head.starts_with(&format!("GET {STREAMS_PATH} HTTP/1.1\r\n"));
            let (status, body) = if found {
                ("200 OK", answer)
            } else {
                ("404 Not Found", "")
            };
            let reply = format!(
                "HTTP/1.1 {status}\r\nConnection: Close\r\nContent-Length: {}\r\nContent-Type: application/json\r\n\r\n{body}",
                body.len()
            );
            if stream.write_all(reply.as_bytes()).await.is_err() {
                return;
            }
        }
    }

    #[test]
    fn only_the_polls_own_log_lines_are_recognised() {
        let poll = format!("[2026-12-02 08:13:51.736][INFO][24212][6260jj57] HTTP #3 127.0.0.1:57782 GET http://127.0.0.1:29352{STREAMS_PATH}, content-length=-1");
        assert!(is_poll_log_line(&poll));
        let other = "[2026-12-02 08:13:51.736][INFO][24212][6260jj57] HTTP #0 127.0.0.1:57782 GET http://127.0.0.1:29352/api/v1/streams/, content-length=-1";
        assert!(!is_poll_log_line(other));
        assert!(!is_poll_log_line(
            "[INFO] RTMP client ip=127.0.0.1:44134, fd=11"
        ));
    }

    #[test]
    fn answer_heads_are_read_for_status_and_length() {
        assert_eq!(
            parse_head("HTTP/1.1 200 OK\r\nConnection: Close\r\ncontent-length: 81\r\n\r\n"),
            Some((200, Some(81)))
        );
        assert_eq!(
            parse_head("HTTP/1.0 404 Not Found\r\n\r\n"),
            Some((404, None))
        );
        assert_eq!(
            parse_head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
            None
        );
        assert_eq!(parse_head("garbage"), None);
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
