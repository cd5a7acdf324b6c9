//! An SRT caller in publish mode: admitted like an RTMP publisher (hook with its query, one
//! publisher per stream), its MPEG-TS demuxed (`media::ts_demux`, `media::ts_frames`) into the hub
//! as FLV-style frames, so RTMP, HTTP-FLV and HLS players get it as from any publisher.

use super::bridge::{self, Socket};
use crate::media::ts_demux::TsDemuxer;
use crate::media::ts_frames::TsFrames;
use crate::srt::stream_id::SrtStreamId;
use crate::worker::admission::{self, PublishRefused};
use crate::worker::context::{HookSubject, WorkerContext};
use crate::worker::hooks::HookAction;
use crate::worker::hub::{ClientKind, Frame};
use std::sync::Arc;
use std::time::Duration;

/// Serve one publishing caller until it leaves, is kicked, idles out or is refused.
pub async fn serve(
    ctx: Arc<WorkerContext>,
    socket: Socket,
    id: SrtStreamId,
    ip: String,
    tc_url: String,
) {
    let guard = ctx.hub.register_client(&ip, ClientKind::FmlePublish);
    let who = HookSubject {
        client_id: guard.entry.id,
        ip: &ip,
        name: &id.name,
        tc_url: &tc_url,
    };
    let mut publisher = match admission::publish(&ctx, &who, &guard.entry).await {
        Ok(p) => p,
        Err(PublishRefused::Hook(err)) => {
            tracing::info!(stream = %id.name.key(), client = %ip, %err, "SRT publish refused by hook");
            return;
        }
        Err(PublishRefused::Hub(err)) => {
            tracing::info!(stream = %id.name.key(), client = %ip, %err, "SRT publish refused");
            return;
        }
    };
    tracing::info!(stream = %id.name.key(), client = %ip, "SRT publish");
    let merge = publisher.read_merge(Duration::from_millis(ctx.settings().merge_read_ms));
    let prompt = merge.clone();
    let mut input = match bridge::receiver(socket.lib, socket.sock, merge, ctx.rtmp_input.idle) {
        Ok(rx) => rx,
        Err(err) => {
            tracing::warn!(%err, "SRT receive thread failed to start");
            return;
        }
    };
    let mut demux = TsDemuxer::new();
    let mut convert = TsFrames::new();
    let (mut units, mut frames) = (Vec::new(), Vec::new());
    let cancel = guard.entry.cancel.clone();
    let why = loop {
        let piece = tokio::select! {
            piece = input.recv() => piece,
            _ = cancel.cancelled() => break "kicked".to_string(),
        };
        let bytes = match piece {
            Some(Ok(bytes)) => bytes,
            Some(Err(why)) => break why,
            None => break "closed".to_string(),
        };
        guard.entry.add_recv(bytes.len() as u64);
        demux.push(&bytes, &mut units);
        // A WebRTC player shows video held for the audio's PES bursts as stutter.
        convert.set_prompt(prompt.prompt());
        for unit in units.drain(..) {
            convert.push(&unit, &mut frames);
        }
        for (kind, timestamp, payload) in frames.drain(..) {
            publisher.push(Frame {
                kind,
                timestamp,
                payload,
            });
        }
    };
    convert.flush(&mut frames);
    for (kind, timestamp, payload) in frames.drain(..) {
        publisher.push(Frame {
            kind,
            timestamp,
            payload,
        });
    }
    drop(input);
    drop(socket);
    drop(publisher);
    ctx.hook_after(HookAction::OnUnpublish, &who);
    tracing::info!(
        stream = %id.name.key(),
        client = %ip,
        reason = %why,
        ts_errors = demux.errors(),
        dropped_units = convert.dropped(),
        "SRT unpublish"
    );
}
