//! The worker's RTMP listener: accepts connections (optionally behind a PROXY v2 header), drives a
//! server session, and runs each connection as a publisher into the hub or a player out of it.

use super::admission::{self, PublishRefused};
use super::audio_legacy::LegacyPlayer;
use super::context::{HookSubject, WorkerContext};
use super::hooks::HookAction;
use super::hub::{CachedFrame, ClientGuard, ClientKind, Frame, Player, Publisher, Stream};
use super::merge_clock::MergeClock;
use super::playback::{Playback, PlayerSink};
use super::rtmp_codecs::{check_media, refused_codec, wants_aac};
use super::rtmp_input::{self, ConnInput};
use super::vectored::WriteQueue;
use crate::net::write_deadline::WRITE_TIMEOUT;
use crate::proxy_protocol::{self, Decoded};
use crate::rtmp::chunk::{chunked_body, put_message_header};
use crate::rtmp::enhanced::EnhancedCaps;
use crate::rtmp::server::{ServerEvent, ServerSession};
use crate::stream_name::{StreamName, VhostRule};
use bytes::{Bytes, BytesMut};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// A client that starts no PROXY header or one it does not finish is closed after this long (after
/// it, `rtmp_input` bounds what a connection sends and how long it may complete nothing).
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest fmt-0 chunk header: 3-byte basic header, 11-byte message header, extended timestamp.
const MAX_MESSAGE_HEADER: usize = 18;
/// Read buffer of a publisher: a merged read of ~100 ms of a 4 Mbit/s stream in one call.
const READ_BUFFER: usize = 64 * 1024;
/// Read buffer until a connection publishes: enough for the handshake and commands, and small, since
/// thousands of players connect at once and the allocator keeps what they briefly used.
const HELLO_BUFFER: usize = 2048;

use super::frame_kind::{frame_kind, media_kind};

/// Accept RTMP connections until the listener fails.
pub async fn serve(listener: TcpListener, ctx: Arc<WorkerContext>) {
    loop {
        match listener.accept().await {
            Ok((socket, peer)) => {
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    if let Err(err) = handle(ctx, socket, peer).await {
                        tracing::debug!(%peer, %err, "rtmp connection ended");
                    }
                });
            }
            Err(err) => {
                // Out of descriptors and the like: back off instead of spinning.
                tracing::warn!(%err, "rtmp accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// This worker's memory of the PROXY credentials it took: each is good once.
fn replay_guard() -> &'static std::sync::Mutex<proxy_protocol::ReplayGuard> {
    static GUARD: std::sync::OnceLock<std::sync::Mutex<proxy_protocol::ReplayGuard>> =
        std::sync::OnceLock::new();
    GUARD.get_or_init(Default::default)
}

/// Read a PROXY v2 header if one comes; returns the client address and the bytes after it. In a
/// pod, where any address may be the LB's, the header must carry the credential.
async fn read_proxy_header(
    rd: &mut OwnedReadHalf,
    peer: SocketAddr,
) -> anyhow::Result<(SocketAddr, Bytes)> {
    let mut buf = BytesMut::with_capacity(256);
    loop {
        match proxy_protocol::decode(&buf)? {
            Decoded::NotProxy => return Ok((peer, buf.freeze())),
            Decoded::Header { header, len } => {
                if crate::net::pod::active() {
                    let key = crate::net::pod::proxy_key();
                    let now = crate::net::pod::unix_now();
                    if let Err(err) = replay_guard()
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .verify(&buf[..len], key, now)
                    {
                        tracing::warn!(%peer, "PROXY v2 header refused (pod mode needs the LB's credential): {err}");
                        anyhow::bail!("PROXY v2 header refused: {err}");
                    }
                }
                let rest = buf.split_off(len).freeze();
                return Ok((header.source.unwrap_or(peer), rest));
            }
            Decoded::NeedMore => {
                let n = tokio::time::timeout(IDLE_TIMEOUT, rd.read_buf(&mut buf)).await??;
                if n == 0 {
                    anyhow::bail!("closed before the PROXY header ended");
                }
            }
        }
    }
}

struct Conn {
    ctx: Arc<WorkerContext>,
    guard: ClientGuard,
    ip: String,
    session: ServerSession,
    /// Bounds on what the client sends (budgets, idle deadline); every read goes through it.
    input: ConnInput,
    wr: OwnedWriteHalf,
    tc_url: String,
    app: String,
    /// What the client announced of E-RTMP in `connect` (a player is sent only codecs it takes).
    enhanced: EnhancedCaps,
}

impl Conn {
    async fn flush_session(&mut self) -> std::io::Result<()> {
        if self.session.has_output() {
            let out = self.session.take_output();
            self.guard.entry.add_send(out.len() as u64);
            tokio::time::timeout(WRITE_TIMEOUT, self.wr.write_all(&out))
                .await
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        }
        Ok(())
    }

    fn subject<'a>(&'a self, name: &'a StreamName) -> HookSubject<'a> {
        HookSubject {
            client_id: self.guard.entry.id,
            ip: &self.ip,
            name,
            tc_url: &self.tc_url,
        }
    }
}

async fn handle(
    ctx: Arc<WorkerContext>,
    socket: TcpStream,
    peer: SocketAddr,
) -> anyhow::Result<()> {
    let _ = socket.set_nodelay(true);
    let (mut rd, wr) = socket.into_split();
    let (client, first_bytes) = if ctx.proxy_protocol()
        && (super::lb_peers::sends_proxy_header(peer.ip()) || crate::net::pod::active())
    {
        read_proxy_header(&mut rd, peer).await?
    } else {
        (peer, Bytes::new())
    };
    let session = ServerSession::new(ctx.settings().chunk_size);
    serve_session(ctx, rd, wr, client, first_bytes, session).await
}

/// Serve a connection from `session`'s state on, `first_bytes` being its first input. Also the entry
/// point for sockets the rtmp-lb hands over (`super::handoff`), whose handshake happened elsewhere.
///
/// Long for a reason: it is the connection's one read loop (merged reads, budgets, kick), and the
/// state the loop carries (the publisher, the read buffer, pending bytes) is what a split would have
/// to pass around; the per-event work lives in `admit_publisher` and `serve_player`.
pub(crate) async fn serve_session(
    ctx: Arc<WorkerContext>,
    mut rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
    client: SocketAddr,
    first_bytes: Bytes,
    mut session: ServerSession,
) -> anyhow::Result<()> {
    let slot = ctx.try_connect();
    let guard = ctx
        .hub
        .register_client(&client.ip().to_string(), ClientKind::RtmpPlay);
    let input = ConnInput::new(
        &ctx.rtmp_input,
        &mut session,
        client.to_string(),
        guard.entry.cancel.clone(),
    );
    let mut conn = Conn {
        ip: client.ip().to_string(),
        session,
        input,
        ctx,
        guard,
        wr,
        tc_url: String::new(),
        app: String::new(),
        enhanced: EnhancedCaps::default(),
    };
    if slot.is_none() {
        let limit = conn.ctx.settings().max_connections;
        super::refusals::at_limit("rtmp", &conn.ip, limit);
        conn.session.refuse_connect(&format!(
            "NetConnection.Connect.Rejected: too many connections (max-connections {limit})"
        ));
    }
    let _slot = slot;
    let mut publisher: Option<(Publisher, StreamName)> = None;
    let mut buf = vec![0u8; HELLO_BUFFER];
    let mut pending = first_bytes;
    let mut grow_buffer = false;
    let merge_read = Duration::from_millis(conn.ctx.settings().merge_read_ms);
    // Set after a publisher's read that drained the socket: wait `merge-read` before the next, so
    // one wakeup reads a window of media rather than each TCP segment (SRS's merged read); not
    // while a WHEP player takes the stream's frames as they come (`merge_read.rs`).
    let mut merge_next_read: Option<Duration> = None;
    let result = 'conn: loop {
        let data: &[u8] = if pending.is_empty() {
            let cancel = conn.guard.entry.cancel.clone();
            if let Some(window) = merge_next_read.take() {
                tokio::select! {
                    _ = tokio::time::sleep(window) => {}
                    _ = cancel.cancelled() => break Ok(()),
                }
            }
            let n = tokio::select! {
                r = tokio::time::timeout_at(conn.input.deadline(), rd.read(&mut buf)) => match r {
                    Ok(Ok(n)) => n,
                    Ok(Err(err)) => break Err(err.into()),
                    Err(_) => break Err(conn.input.idle_error()),
                },
                _ = cancel.cancelled() => break Ok(()),
            };
            if n == 0 {
                break Ok(());
            }
            merge_next_read = publisher
                .as_ref()
                .and_then(|(p, _)| p.read_merge(merge_read).wait_after(n, buf.len()));
            &buf[..n]
        } else {
            &pending
        };
        conn.guard.entry.add_recv(data.len() as u64);
        let events = match conn.input.feed(&mut conn.session, data) {
            Ok(events) => events,
            Err(err) => {
                // Whatever the session still wanted to say (a refusal) goes out before the close.
                let _ = conn.flush_session().await;
                break Err(err);
            }
        };
        pending = Bytes::new();
        let mut play = None;
        for event in events {
            match event {
                ServerEvent::Connected(info) => {
                    conn.tc_url = info.tc_url;
                    conn.app = info.app;
                    if info.enhanced.announced {
                        tracing::debug!(client = %conn.ip, codecs = ?info.enhanced.fourccs, caps_ex = info.enhanced.caps_ex, "client announced E-RTMP");
                    }
                    conn.enhanced = info.enhanced;
                }
                ServerEvent::Publish { stream_id, name } => {
                    if publisher.is_some() {
                        conn.session.reject_publish(
                            stream_id,
                            "NetStream.Publish.BadName",
                            "already publishing",
                        );
                        continue;
                    }
                    match admit_publisher(&mut conn, stream_id, &name).await {
                        Some(admitted) => {
                            grow_buffer = true;
                            publisher = Some(admitted);
                        }
                        None => return Ok(()),
                    }
                }
                ServerEvent::Media {
                    kind,
                    timestamp,
                    payload,
                } => {
                    if let Some((p, name)) = publisher.as_mut() {
                        if let Err(err) = check_media(kind, &payload) {
                            // This publisher only: its stream ends, every other goes on.
                            tracing::warn!(stream = %name.key(), client = %conn.ip, %err, "closing a publisher that sent a malformed E-RTMP tag");
                            break 'conn Err(anyhow::anyhow!("malformed E-RTMP tag: {err}"));
                        }
                        p.push(Frame {
                            kind: frame_kind(kind),
                            timestamp,
                            payload,
                        });
                    }
                }
                ServerEvent::CloseStream { .. } => {
                    if let Some((p, name)) = publisher.take() {
                        drop(p);
                        conn.ctx
                            .hook_after(HookAction::OnUnpublish, &conn.subject(&name));
                        tracing::info!(stream = %name.key(), "unpublish");
                    }
                }
                ServerEvent::Play { stream_id, name } => {
                    play = Some((stream_id, name));
                }
            }
        }
        if let Err(err) = conn.flush_session().await {
            break Err(err.into());
        }
        if std::mem::take(&mut grow_buffer) {
            buf = vec![0u8; READ_BUFFER];
        }
        if let Some((stream_id, name)) = play {
            if publisher.is_some() {
                conn.session.reject_play(
                    stream_id,
                    "NetStream.Play.Failed",
                    "this connection publishes",
                );
                let _ = conn.flush_session().await;
                break Ok(());
            }
            // Players read little: free the publisher-sized read buffer before the long wait.
            drop(std::mem::take(&mut buf));
            return serve_player(&mut conn, &mut rd, stream_id, &name).await;
        }
    };
    if let Some((p, name)) = publisher.take() {
        drop(p);
        conn.ctx
            .hook_after(HookAction::OnUnpublish, &conn.subject(&name));
        tracing::info!(stream = %name.key(), "unpublish (connection closed)");
    }
    result
}

/// Admit a publisher (hook, hub) and answer it; `None` when refused (the refusal is sent).
async fn admit_publisher(
    conn: &mut Conn,
    stream_id: u32,
    name: &str,
) -> Option<(Publisher, StreamName)> {
    let stream_name = StreamName::from_rtmp(VhostRule::HostName, &conn.tc_url, &conn.app, name);
    let who = conn.subject(&stream_name);
    match admission::publish(&conn.ctx, &who, &conn.guard.entry).await {
        Ok(p) => {
            conn.session.accept_publish(stream_id, name);
            tracing::info!(stream = %stream_name.key(), client = %conn.ip, "publish");
            Some((p, stream_name))
        }
        Err(PublishRefused::Hook(err)) => {
            tracing::info!(stream = %stream_name.key(), %err, "publish refused by hook");
            conn.session
                .reject_publish(stream_id, "NetStream.Publish.Unauthorized", &err);
            let _ = conn.flush_session().await;
            None
        }
        Err(PublishRefused::Hub(err)) => {
            tracing::info!(%err, "publish refused");
            conn.session
                .reject_publish(stream_id, "NetStream.Publish.BadName", &err.to_string());
            let _ = conn.flush_session().await;
            None
        }
    }
}

/// Admit a player (hook, hub), answer it and play until it ends; the connection ends with it.
async fn serve_player(
    conn: &mut Conn,
    rd: &mut OwnedReadHalf,
    stream_id: u32,
    name: &str,
) -> anyhow::Result<()> {
    let stream_name = StreamName::from_rtmp(VhostRule::HostName, &conn.tc_url, &conn.app, name);
    let who = conn.subject(&stream_name);
    let admitted = admission::play(&conn.ctx, &who, &conn.guard.entry, ClientKind::RtmpPlay).await;
    let player = match admitted {
        Ok(player) => player,
        Err(err) => {
            tracing::info!(stream = %stream_name.key(), %err, "play refused by hook");
            conn.session
                .reject_play(stream_id, "NetStream.Play.Unauthorized", &err);
            let _ = conn.flush_session().await;
            return Ok(());
        }
    };
    conn.session.accept_play(stream_id, name);
    conn.flush_session().await?;
    // The worker's own child (a transcode's ffmpeg) lives as long as the publish it reads: it
    // gets the end at once, so it finishes by itself instead of blocking in a read.
    let wait = if super::internal::carries(&stream_name.param) {
        Duration::ZERO
    } else {
        Duration::from_millis(conn.ctx.settings().play_wait_ms)
    };
    let edge_pull = super::internal::carries_edge_pull(&stream_name);
    let result = play_loop(conn, rd, player, stream_id, name, wait, edge_pull).await;
    conn.ctx
        .hook_after(HookAction::OnStop, &conn.subject(&stream_name));
    result
}

/// Send the stream to a player until it leaves, is kicked or falls behind for good.
async fn play_loop(
    conn: &mut Conn,
    rd: &mut OwnedReadHalf,
    player: Player,
    stream_id: u32,
    name: &str,
    wait: Duration,
    edge_pull: bool,
) -> anyhow::Result<()> {
    // An edge's pull is served as it comes, and its publisher reads unmerged while it pulls: the
    // edge's WebRTC players take frames as they come (`merge_read.rs`) and an edge cannot say when
    // it has one, and merging on this hop would add its windows to every edge player's latency.
    // The cost is one unmerged read per stream and one unmerged write per edge (about doubles the
    // origin's per-stream CPU: DESIGN.md §5); the fan-out that merging saves CPU on is the edges'
    // own players, which still merge there.
    let _prompt = edge_pull.then(|| player.stream().prompt_demand().hold());
    let clock = if edge_pull {
        MergeClock::new(Duration::ZERO)
    } else {
        conn.ctx.merge_clock.clone()
    };
    // The unpublish notice is held until `play-wait` passes, since ffmpeg and rtmpdump stop at it
    // and an encoder that reconnects is back within seconds: a republish in time goes on in the
    // same play, new sequence headers first, as an HTTP-FLV body does.
    let give_up = Some(tokio::time::Instant::now() + wait);
    let legacy =
        wants_aac(&conn.enhanced).then(|| conn.ctx.legacy_audio.player(player.stream().id));
    let mut sink = RtmpSink {
        legacy,
        stream: player.stream().clone(),
        chunk_size: conn.session.out_chunk_size(),
        conn,
        rd,
        stream_id,
        name,
        wait,
        queue: WriteQueue::default(),
        buf: vec![0u8; 1024],
    };
    let mut playback = Playback::new(player, &sink.conn.guard.entry, &clock, give_up);
    playback.run(&mut sink).await
}

/// An RTMP player: batches go out as chunked messages on the connection's message stream.
struct RtmpSink<'a> {
    stream: Arc<Stream>,
    conn: &'a mut Conn,
    rd: &'a mut OwnedReadHalf,
    chunk_size: usize,
    stream_id: u32,
    name: &'a str,
    wait: Duration,
    queue: WriteQueue,
    buf: Vec<u8>,
    /// For a player that did not announce Opus: the stream's Opus becomes AAC.
    legacy: Option<LegacyPlayer>,
}

impl PlayerSink for RtmpSink<'_> {
    async fn send_batch(&mut self, frames: &[(Arc<CachedFrame>, u32)]) -> anyhow::Result<u64> {
        let converted;
        let frames = match self.legacy.as_mut() {
            Some(legacy) => {
                converted = legacy.convert(frames);
                &converted[..]
            }
            None => frames,
        };
        if frames.is_empty() {
            return Ok(0);
        }
        if let Some(codec) = frames
            .iter()
            .filter(|(cached, _)| cached.is_header())
            .find_map(|(cached, _)| refused_codec(&self.conn.enhanced, &cached.frame))
        {
            return refuse_codec(self, &codec).await;
        }
        let queue = &mut self.queue;
        if self.conn.session.has_output() {
            queue.push(self.conn.session.take_output());
        }
        // All headers of the batch go into one buffer, cut into one slice per frame: one
        // allocation per batch instead of one growth step per header, and none kept by an idle
        // player (a GOP burst's would be kilobytes).
        let mut headers = BytesMut::with_capacity(frames.len() * MAX_MESSAGE_HEADER);
        let mut ends = Vec::with_capacity(frames.len());
        for (cached, ts) in frames {
            let kind = media_kind(cached.frame.kind);
            put_message_header(
                &mut headers,
                kind.csid(),
                *ts,
                cached.frame.payload.len(),
                kind.type_id(),
                self.stream_id,
            );
            ends.push(headers.len());
        }
        let all_headers = headers.freeze();
        queue.reserve(2 * frames.len());
        let mut start = 0;
        for ((cached, ts), end) in frames.iter().zip(ends) {
            queue.push(all_headers.slice(start..end));
            start = end;
            if *ts >= 0xFF_FFFF {
                let kind = media_kind(cached.frame.kind);
                let payload = &cached.frame.payload;
                queue.push(chunked_body(
                    self.chunk_size,
                    kind.csid(),
                    Some(*ts),
                    payload,
                ));
            } else {
                queue.push(cached.chunked(self.chunk_size).clone());
            }
        }
        let written = tokio::time::timeout(WRITE_TIMEOUT, queue.flush(&mut self.conn.wr))
            .await
            .map_err(|_| anyhow::anyhow!("player accepted nothing for {WRITE_TIMEOUT:?}"))??;
        Ok(written)
    }

    async fn on_publish(&mut self, first: bool) -> anyhow::Result<()> {
        if first {
            self.conn.session.publish_notify(self.stream_id, self.name);
            self.conn.flush_session().await?;
        }
        Ok(())
    }

    fn publish_gap(&self) -> Duration {
        self.wait
    }

    async fn on_end(&mut self, had_publisher: bool) -> anyhow::Result<()> {
        end_without_publisher(
            self.conn,
            self.rd,
            &self.stream,
            self.stream_id,
            self.name,
            had_publisher,
            self.wait,
        )
        .await
    }

    async fn input(&mut self) -> anyhow::Result<usize> {
        tokio::select! {
            read = self.rd.read(&mut self.buf) => Ok(read?),
            // A player may stay silent, but not in the middle of a message.
            _ = rtmp_input::sleep_until(self.conn.input.stall_deadline(&self.conn.session)) => {
                Err(self.conn.input.idle_error())
            }
        }
    }

    async fn on_input(&mut self, n: usize) -> anyhow::Result<bool> {
        player_input(self.conn, n, &self.buf).await
    }
}

/// The stream's codec is not one the player announced: say so (`NetStream.Play.Failed`) rather than
/// send what it cannot decode, and end the play.
async fn refuse_codec(sink: &mut RtmpSink<'_>, codec: &str) -> anyhow::Result<u64> {
    let announced = sink.conn.enhanced.fourccs.join(",");
    let reason = format!(
        "{} is {codec}, which this player did not announce in its E-RTMP fourCcList ({announced})",
        sink.name
    );
    tracing::info!(stream = %sink.stream.key, client = %sink.conn.ip, "play failed: {reason}");
    sink.conn
        .session
        .reject_play(sink.stream_id, "NetStream.Play.Failed", &reason);
    sink.conn.flush_session().await?;
    close_after_status(sink.conn, sink.rd).await;
    Err(anyhow::anyhow!("play failed: {reason}"))
}

/// `play-wait` passed without a publisher: tell the player (`StreamNotFound` when none came at
/// all, the held `UnpublishNotify` when one left and did not come back) and close, so players of a
/// stream that never comes do not hold connection slots for ever.
async fn end_without_publisher(
    conn: &mut Conn,
    rd: &mut OwnedReadHalf,
    stream: &Stream,
    stream_id: u32,
    name: &str,
    had_publisher: bool,
    wait: Duration,
) -> anyhow::Result<()> {
    if had_publisher {
        tracing::info!(stream = %stream.key, client = %conn.ip, "player closed: the publisher did not come back within play-wait ({wait:?})");
        conn.session.unpublish_notify(stream_id, name);
    } else {
        tracing::info!(stream = %stream.key, client = %conn.ip, "player closed: no publisher within play-wait ({wait:?})");
        conn.session.reject_play(
            stream_id,
            "NetStream.Play.StreamNotFound",
            &format!("{name} was not published within {wait:?}"),
        );
    }
    conn.flush_session().await?;
    close_after_status(conn, rd).await;
    Ok(())
}

/// Close after the client has read a status: FIN first, then read what it still sends until it
/// closes (bounded), since closing with unread input would reset the connection and could discard
/// the status before the client reads it.
async fn close_after_status(conn: &mut Conn, rd: &mut OwnedReadHalf) {
    let _ = conn.wr.shutdown().await;
    let mut buf = [0u8; 1024];
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while matches!(rd.read(&mut buf).await, Ok(1..)) {}
    })
    .await;
}

/// Handle bytes from a player; false when it is done (closed, deleteStream).
async fn player_input(conn: &mut Conn, n: usize, buf: &[u8]) -> anyhow::Result<bool> {
    if n == 0 {
        return Ok(false);
    }
    conn.guard.entry.add_recv(n as u64);
    let events = conn.input.feed(&mut conn.session, &buf[..n])?;
    conn.flush_session().await?;
    if events
        .iter()
        .any(|e| matches!(e, ServerEvent::CloseStream { .. }))
    {
        return Ok(false);
    }
    Ok(true)
}

#[cfg(test)]
#[path = "rtmp_conn_tests.rs"]
mod tests;
