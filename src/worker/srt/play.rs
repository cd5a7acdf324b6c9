//! An SRT caller in request (play) mode: admitted like an RTMP player (`on_play` with its query),
//! it gets MPEG-TS made from the hub's frames (`media::ts_file`: H.264/HEVC, AAC/Opus), the GOP
//! cache at once, through the playback driver every player protocol shares (merged writes, a slow
//! player skipped ahead to a keyframe).

use super::bridge::{self, Socket};
use crate::media::ts_file::TsFileWriter;
use crate::srt::stream_id::SrtStreamId;
use crate::worker::admission;
use crate::worker::context::{HookSubject, WorkerContext};
use crate::worker::hooks::HookAction;
use crate::worker::hub::{CachedFrame, ClientKind};
use crate::worker::playback::{Playback, PlayerSink};
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Serve one playing caller until it leaves, is kicked, or its stream ends.
pub async fn serve(
    ctx: Arc<WorkerContext>,
    socket: Socket,
    id: SrtStreamId,
    ip: String,
    tc_url: String,
) {
    let guard = ctx.hub.register_client(&ip, ClientKind::SrtPlay);
    let who = HookSubject {
        client_id: guard.entry.id,
        ip: &ip,
        name: &id.name,
        tc_url: &tc_url,
    };
    let player = match admission::play(&ctx, &who, &guard.entry, ClientKind::SrtPlay).await {
        Ok(player) => player,
        Err(err) => {
            tracing::info!(stream = %id.name.key(), client = %ip, %err, "SRT play refused by hook");
            return;
        }
    };
    let (tx, done) = match bridge::sender(socket.lib, socket.sock) {
        Ok(pair) => pair,
        Err(err) => {
            tracing::warn!(%err, "SRT send thread failed to start");
            return;
        }
    };
    tracing::info!(stream = %id.name.key(), client = %ip, "SRT play");
    let wait = Duration::from_millis(ctx.settings().play_wait_ms);
    let give_up = Some(tokio::time::Instant::now() + wait);
    let mut playback = Playback::new(player, &guard.entry, &ctx.merge_clock, give_up);
    let mut sink = SrtSink {
        writer: TsFileWriter::new(),
        tx,
        done,
        wait,
    };
    if let Err(err) = playback.run(&mut sink).await {
        tracing::debug!(stream = %id.name.key(), client = %ip, %err, "SRT play ended");
    }
    drop(sink);
    drop(socket);
    ctx.hook_after(HookAction::OnStop, &who);
    tracing::info!(stream = %id.name.key(), client = %ip, "SRT play stop");
}

/// TS out to the sender thread.
struct SrtSink {
    writer: TsFileWriter,
    tx: mpsc::Sender<Bytes>,
    /// Completes when the sender thread is done (the caller left, a send failed).
    done: oneshot::Receiver<String>,
    wait: Duration,
}

impl PlayerSink for SrtSink {
    async fn send_batch(&mut self, frames: &[(Arc<CachedFrame>, u32)]) -> anyhow::Result<u64> {
        let mut out = Vec::new();
        for (cached, ts) in frames {
            let frame = &cached.frame;
            self.writer.push(frame.kind, *ts, &frame.payload, &mut out);
        }
        let written = out.len() as u64;
        if !out.is_empty() {
            self.tx
                .send(Bytes::from(out))
                .await
                .map_err(|_| anyhow::anyhow!("the SRT caller left"))?;
        }
        Ok(written)
    }

    async fn on_publish(&mut self, _first: bool) -> anyhow::Result<()> {
        Ok(())
    }

    fn publish_gap(&self) -> Duration {
        self.wait
    }

    async fn on_end(&mut self, _had_publisher: bool) -> anyhow::Result<()> {
        Ok(())
    }

    /// A player sends nothing; this completes when its connection is over.
    async fn input(&mut self) -> anyhow::Result<usize> {
        let why = (&mut self.done).await.unwrap_or_default();
        anyhow::bail!("{why}")
    }

    async fn on_input(&mut self, _n: usize) -> anyhow::Result<bool> {
        Ok(true)
    }
}
