//! HTTP-FLV playback: `GET /APP/STREAM.flv` streams the FLV header, metadata, sequence headers, the
//! GOP cache and then live tags, with the same slow-consumer rules as RTMP players. A republish
//! within the `http-flv wait` window continues the same response.

use super::admission;
use super::audio_legacy::LegacyPlayer;
use super::context::{HookSubject, WorkerContext};
use super::hooks::HookAction;
use super::hub::{CachedFrame, ClientGuard, ClientKind};
use super::playback::{Playback, PlayerSink, Step};
use crate::media::flv;
use crate::stream_name::StreamName;
use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};
use bytes::{Bytes, BytesMut};
use std::sync::Arc;
use std::time::Duration;

fn status(code: StatusCode, text: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(text.to_string()));
    *response.status_mut() = code;
    response
}

/// Everything one FLV response holds while it streams; ends hooks and counters when dropped.
struct FlvPlayback {
    playback: Playback,
    sink: FlvSink,
    guard: ClientGuard,
}

impl Drop for FlvPlayback {
    fn drop(&mut self) {
        let who = HookSubject {
            client_id: self.guard.entry.id,
            ip: &self.sink.ip,
            name: &self.sink.name,
            tc_url: "",
        };
        self.sink.ctx.hook_after(HookAction::OnStop, &who);
    }
}

impl FlvPlayback {
    /// The next piece of the body; `None` ends the response.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        match self.playback.step(&mut self.sink).await {
            Step::Sent => self.sink.chunk.take(),
            Step::Done(Ok(())) => None,
            Step::Done(Err(err)) => {
                tracing::debug!(stream = %self.sink.name.key(), %err, "FLV response ended");
                None
            }
        }
    }
}

/// An FLV body: each batch becomes one chunk of tags (the file header before the first).
struct FlvSink {
    ctx: Arc<WorkerContext>,
    name: StreamName,
    ip: String,
    header_sent: bool,
    /// The chunk the last batch made, until the body takes it.
    chunk: Option<Bytes>,
    /// For a request that did not list Opus in `fourCcList`: the stream's Opus becomes AAC.
    legacy: Option<LegacyPlayer>,
}

impl PlayerSink for FlvSink {
    async fn send_batch(&mut self, frames: &[(Arc<CachedFrame>, u32)]) -> anyhow::Result<u64> {
        let converted;
        let frames = match self.legacy.as_mut() {
            Some(legacy) => {
                converted = legacy.convert(frames);
                &converted[..]
            }
            None => frames,
        };
        let size: usize = frames.iter().map(|(f, _)| f.frame.payload.len() + 15).sum();
        let mut out = BytesMut::with_capacity(size + flv::FILE_HEADER_LEN);
        if !self.header_sent {
            out.extend_from_slice(&flv::file_header(true, true));
            self.header_sent = true;
        }
        for (cached, ts) in frames {
            let frame = &cached.frame;
            // An RTMP message length is 24-bit too, so every frame fits a tag.
            if let Err(err) = flv::write_tag(&mut out, frame.kind, *ts, &frame.payload) {
                tracing::warn!(stream = %self.name.key(), "FLV tag dropped: {err}");
            }
        }
        let written = out.len() as u64;
        self.chunk = Some(out.freeze());
        Ok(written)
    }

    async fn on_publish(&mut self, _first: bool) -> anyhow::Result<()> {
        Ok(())
    }

    // An FLV body cannot say "unpublished". An encoder that reconnects (OBS does) is back within
    // seconds: keep the response open for `wait`, and a republish goes on in the same body,
    // timestamps continuing and fresh sequence headers first, as for RTMP players. Past `wait`,
    // end it so the client can reconnect.
    fn publish_gap(&self) -> Duration {
        Duration::from_millis(self.ctx.settings().http_flv.wait_ms)
    }

    async fn on_end(&mut self, _had_publisher: bool) -> anyhow::Result<()> {
        let wait = self.publish_gap();
        tracing::info!(stream = %self.name.key(), client = %self.ip, "FLV response ended: the publisher did not come back within http-flv wait ({wait:?})");
        Ok(())
    }

    /// The request is all an FLV client sends.
    async fn input(&mut self) -> anyhow::Result<usize> {
        std::future::pending().await
    }

    async fn on_input(&mut self, _n: usize) -> anyhow::Result<bool> {
        Ok(true)
    }
}

/// Whether an FLV request takes E-RTMP Opus: its query lists it as RTMP's `connect` would,
/// `?fourCcList=avc1,Opus` (or `*`). Others, legacy players (flv.js, ffmpeg before 7.1), get AAC.
fn takes_opus(query: &str) -> bool {
    query
        .trim_start_matches('?')
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(key, _)| key.eq_ignore_ascii_case("fourCcList"))
        .any(|(_, list)| {
            list.replace("%2C", ",")
                .replace("%2c", ",")
                .split(',')
                .any(|codec| codec == "Opus" || codec == "*")
        })
}

/// Serve `GET` for a `.flv` stream.
pub async fn serve(ctx: Arc<WorkerContext>, name: StreamName, ip: String) -> Response<Body> {
    if !ctx.settings().http_flv.enabled {
        return status(StatusCode::NOT_FOUND, "HTTP-FLV is disabled\n");
    }
    let Some(slot) = ctx.try_connect() else {
        let limit = ctx.settings().max_connections;
        super::refusals::at_limit("http-flv", &ip, limit);
        return status(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("too many connections (max-connections {limit})\n"),
        );
    };
    let guard = ctx.hub.register_client(&ip, ClientKind::FlvPlay);
    let tc_url = String::new();
    let who = HookSubject {
        client_id: guard.entry.id,
        ip: &ip,
        name: &name,
        tc_url: &tc_url,
    };
    let player = match admission::play(&ctx, &who, &guard.entry, ClientKind::FlvPlay).await {
        Ok(player) => player,
        Err(err) => return status(StatusCode::FORBIDDEN, &format!("refused: {err}\n")),
    };
    let legacy = (!takes_opus(&name.param) && super::audio_legacy::supported())
        .then(|| ctx.legacy_audio.player(player.stream().id));
    let mut playback = Playback::new(player, &guard.entry, &ctx.merge_clock, None);
    let wait = Duration::from_millis(ctx.settings().http_flv.wait_ms);
    if !playback
        .wait_for_publisher(tokio::time::Instant::now() + wait)
        .await
    {
        tracing::info!(stream = %name.key(), client = %ip, "FLV request refused: no publisher within http-flv wait ({wait:?})");
        return status(StatusCode::NOT_FOUND, "stream not found\n");
    }
    let playback = FlvPlayback {
        playback,
        sink: FlvSink {
            ctx,
            name,
            ip,
            header_sent: false,
            chunk: None,
            legacy,
        },
        guard,
    };
    let body = futures_util::stream::unfold((playback, slot), |(mut playback, slot)| async move {
        playback
            .next_chunk()
            .await
            .map(|chunk| (Ok::<Bytes, std::io::Error>(chunk), (playback, slot)))
    });
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("video/x-flv"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("*"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_takes_opus_only_when_its_query_lists_it() {
        assert!(takes_opus("?fourCcList=avc1,Opus"));
        assert!(takes_opus("?token=a&fourcclist=avc1%2COpus"));
        assert!(takes_opus("?fourCcList=*"));
        assert!(!takes_opus(""));
        assert!(!takes_opus("?token=Opus"));
        assert!(!takes_opus("?fourCcList=avc1,mp4a"));
    }
    use crate::worker::http::{self, HttpFiles};
    use crate::worker::hub::{Frame, FrameKind, Publisher};
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpSocket, TcpStream};
    use tokio::time::Instant;

    const WRITE_TIMEOUT: Duration = Duration::from_millis(300);

    fn video(key: bool, timestamp: u32, len: usize) -> Frame {
        let mut payload = vec![if key { 0x17 } else { 0x27 }, 1];
        payload.resize(len, 0);
        Frame {
            kind: FrameKind::Video,
            timestamp,
            payload: Bytes::from(payload),
        }
    }

    /// Push 32 KiB frames (a keyframe every 25) until the returned task is aborted.
    fn keep_publishing(mut publisher: Publisher) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            publisher.push(Frame {
                kind: FrameKind::Video,
                timestamp: 0,
                payload: Bytes::from_static(&[0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f]),
            });
            for i in 0u32.. {
                publisher.push(video(i % 25 == 0, i * 10, 32 * 1024));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    }

    async fn request_flv(sock: &mut TcpStream) {
        sock.write_all(b"GET /live/s.flv HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
    }

    fn flv_players(ctx: &WorkerContext) -> Vec<u64> {
        let clients = ctx.hub.clients();
        let players = clients.iter().filter(|c| c.kind == ClientKind::FlvPlay);
        players.map(|c| c.id).collect()
    }

    /// Poll `check` every 10 ms until it holds or `within` passes.
    async fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if check() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        check()
    }

    #[tokio::test]
    async fn a_player_that_never_reads_is_disconnected_and_forgotten_while_a_reader_plays_on() {
        let mut settings = crate::worker::hub::tests::settings();
        // The reading player must never be skipped for lag, even on a busy machine.
        settings.player_queue_bytes = 64 << 20;
        let ctx = WorkerContext::new(settings, false);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let app = http::router(ctx.clone(), HttpFiles::default());
        let server = tokio::spawn(http::serve(listener, app, WRITE_TIMEOUT));
        let name = crate::stream_name::StreamName::from_rtmp(
            crate::stream_name::VhostRule::HostName,
            "rtmp://127.0.0.1/live",
            "live",
            "s",
        );
        let publishing = keep_publishing(ctx.hub.publish(&name, "", 0).unwrap());

        // The stalled player: a small receive buffer, and it never reads.
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stalled = socket.connect(addr).await.unwrap();
        request_flv(&mut stalled).await;
        assert!(eventually(Duration::from_secs(5), || flv_players(&ctx).len() == 1).await);
        let stalled_id = flv_players(&ctx)[0];

        // The reading player: its response starts as it should, then it counts what it gets.
        let mut reader = TcpStream::connect(addr).await.unwrap();
        request_flv(&mut reader).await;
        let mut buf = vec![0u8; 64 * 1024];
        let mut head = Vec::new();
        while head.len() < 12 {
            let n = tokio::time::timeout(Duration::from_secs(5), reader.read(&mut buf))
                .await
                .expect("the reader's response within 5 s")
                .unwrap();
            assert!(n > 0, "closed before the response");
            head.extend_from_slice(&buf[..n]);
        }
        assert!(head.starts_with(b"HTTP/1.1 200"), "{head:?}");
        let received = Arc::new(AtomicU64::new(0));
        let counter = received.clone();
        let reading = tokio::spawn(async move {
            while let Ok(n @ 1..) = reader.read(&mut buf).await {
                counter.fetch_add(n as u64, Ordering::Relaxed);
            }
        });
        assert!(eventually(Duration::from_secs(5), || flv_players(&ctx).len() == 2).await);
        let reader_id = *flv_players(&ctx)
            .iter()
            .find(|id| **id != stalled_id)
            .unwrap();

        // Its socket buffers fill, its writes stall: the connection ends and the hub forgets it.
        assert!(
            eventually(Duration::from_secs(10), || flv_players(&ctx) == [reader_id]).await,
            "the stalled player is still listed: {:?}",
            ctx.hub.clients()
        );
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            let mut buf = vec![0u8; 64 * 1024];
            while stalled.read(&mut buf).await.unwrap_or(0) > 0 {}
        })
        .await;
        assert!(closed.is_ok(), "the stalled player's socket stayed open");

        // The reader plays on, for longer than the write timeout.
        let before = received.load(Ordering::Relaxed);
        tokio::time::sleep(WRITE_TIMEOUT * 3).await;
        assert!(
            received.load(Ordering::Relaxed) > before,
            "the reader stopped receiving"
        );
        assert!(!reading.is_finished(), "the reader was disconnected");
        assert_eq!(flv_players(&ctx), [reader_id]);

        publishing.abort();
        server.abort();
        reading.abort();
    }
}
