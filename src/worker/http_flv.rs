//! HTTP-FLV playback: `GET /APP/STREAM.flv` streams the FLV header, metadata, sequence headers, the
//! GOP cache and then live tags, with the same slow-consumer rules as RTMP players.

use super::context::{HookSubject, WorkerContext};
use super::hooks::HookAction;
use super::hub::{ClientGuard, ClientKind, Player, PlayerEvent};
use crate::media::flv;
use crate::rtmp::names::StreamName;
use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};
use bytes::{Bytes, BytesMut};
use std::sync::Arc;
use std::time::Duration;

const BATCH_FRAMES: usize = 1024;

fn status(code: StatusCode, text: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(text.to_string()));
    *response.status_mut() = code;
    response
}

/// Everything one FLV response holds while it streams; ends hooks and counters when dropped.
struct FlvPlayback {
    ctx: Arc<WorkerContext>,
    player: Player,
    guard: ClientGuard,
    name: StreamName,
    ip: String,
    header_sent: bool,
    merge: Duration,
    /// Sleep the merge window before the next poll (not after the first batch: the GOP goes at once).
    merge_next: bool,
}

impl Drop for FlvPlayback {
    fn drop(&mut self) {
        let who = HookSubject {
            client_id: self.guard.entry.id,
            ip: &self.ip,
            name: &self.name,
            tc_url: "",
        };
        self.ctx.hook_after(HookAction::OnStop, &who);
    }
}

impl FlvPlayback {
    /// The next piece of the body; `None` ends the response.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if self.merge_next && !self.merge.is_zero() {
            let cancel = self.guard.entry.cancel.clone();
            tokio::select! {
                _ = tokio::time::sleep_until(super::context::merge_deadline(self.merge)) => {}
                _ = cancel.cancelled() => return None,
            }
        }
        loop {
            let stream = self.player.stream().clone();
            let notified = stream.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.player.poll(BATCH_FRAMES) {
                PlayerEvent::Frames(frames) => {
                    self.merge_next = frames.len() < BATCH_FRAMES;
                    let size: usize = frames.iter().map(|(f, _)| f.frame.payload.len() + 15).sum();
                    let mut out = BytesMut::with_capacity(size + flv::FILE_HEADER_LEN);
                    if !self.header_sent {
                        out.extend_from_slice(&flv::file_header(true, true));
                        self.header_sent = true;
                    }
                    for (cached, ts) in &frames {
                        let frame = &cached.frame;
                        // An RTMP message length is 24-bit too, so every frame fits a tag.
                        if let Err(err) = flv::write_tag(&mut out, frame.kind, *ts, &frame.payload)
                        {
                            tracing::warn!(stream = %self.name.key(), "FLV tag dropped: {err}");
                        }
                    }
                    let n = out.len() as u64;
                    self.guard.entry.add_send(n);
                    stream.add_send_bytes(n);
                    return Some(out.freeze());
                }
                PlayerEvent::Published => continue,
                // An FLV body cannot say "unpublished"; ending it lets the client reconnect.
                PlayerEvent::Unpublished | PlayerEvent::TooSlow => return None,
                PlayerEvent::Idle => {
                    let cancel = self.guard.entry.cancel.clone();
                    tokio::select! {
                        _ = &mut notified => {}
                        _ = cancel.cancelled() => return None,
                    }
                }
            }
        }
    }
}

/// Serve `GET` for a `.flv` stream.
pub async fn serve(ctx: Arc<WorkerContext>, name: StreamName, ip: String) -> Response<Body> {
    if !ctx.settings.http_flv.enabled {
        return status(StatusCode::NOT_FOUND, "HTTP-FLV is disabled\n");
    }
    let Some(slot) = ctx.try_connect() else {
        return status(StatusCode::SERVICE_UNAVAILABLE, "too many connections\n");
    };
    let guard = ctx.hub.register_client(&ip, ClientKind::FlvPlay);
    let tc_url = String::new();
    let who = HookSubject {
        client_id: guard.entry.id,
        ip: &ip,
        name: &name,
        tc_url: &tc_url,
    };
    if let Err(err) = ctx.hook(HookAction::OnPlay, &who).await {
        return status(StatusCode::FORBIDDEN, &format!("refused: {err}\n"));
    }
    let mut player = ctx.hub.play(&name);
    guard.entry.describe(
        ClientKind::FlvPlay,
        "",
        Some(&name),
        Some(player.stream().id),
    );
    // Wait for a publisher up to `wait_ms`.
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(ctx.settings.http_flv.wait_ms);
    loop {
        let stream = player.stream().clone();
        let notified = stream.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        match player.poll(0) {
            PlayerEvent::Published => break,
            _ => {
                if tokio::time::timeout_at(deadline, &mut notified)
                    .await
                    .is_err()
                {
                    return status(StatusCode::NOT_FOUND, "stream not found\n");
                }
            }
        }
    }
    let playback = FlvPlayback {
        merge: Duration::from_millis(ctx.settings.merge_write_ms),
        ctx,
        player,
        guard,
        name,
        ip,
        header_sent: false,
        merge_next: false,
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
