//! The worker's SRT listener (`worker { srt … }`): callers publish MPEG-TS into the hub or play it
//! back, chosen by their stream id. libsrt (`libsrt.rs`, loaded at run time) does the transport
//! on its own threads; an accept thread hands each caller to the runtime (`bridge.rs` for the
//! data), `publish.rs` and `play.rs` serve them. A wrong passphrase is refused by libsrt in the
//! handshake: that caller only, the listener goes on.

pub mod bridge;
pub mod libsrt;
pub mod play;
pub mod publish;

use super::context::WorkerContext;
use crate::compile::plan::SrtListenPlan;
use crate::srt::stream_id::{self, SrtMode};
use anyhow::{bail, Context};
use bridge::Socket;
use libsrt::ListenOptions;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::mpsc;

/// MediaMTX's `publish:PATH:user:pass` credentials reach the hooks as `user=` and `pass=` in the
/// query, where SRS's `u=`/`p=` keys already are.
fn with_credentials_in_query(mut id: stream_id::SrtStreamId) -> stream_id::SrtStreamId {
    for (key, value) in [("user", id.user.take()), ("pass", id.pass.take())] {
        if let Some(value) = value {
            let sep = if id.name.param.is_empty() { '?' } else { '&' };
            id.name.param.push(sep);
            id.name.param.push_str(key);
            id.name.param.push('=');
            id.name.param.extend(percent_encoding::utf8_percent_encode(
                &value,
                percent_encoding::NON_ALPHANUMERIC,
            ));
        }
    }
    id
}

/// Accepted callers waiting for the runtime; past it new ones are closed at once.
const ACCEPT_QUEUE: usize = 64;

/// The passphrase a listener uses: read from `plan.passphrase_env` at start, 10–79 characters.
pub fn passphrase(plan: &SrtListenPlan) -> anyhow::Result<Option<String>> {
    let Some(var) = &plan.passphrase_env else {
        return Ok(None);
    };
    let value = std::env::var(var)
        .with_context(|| format!("SRT passphrase: environment variable {var} is not set"))?;
    if !(10..=79).contains(&value.chars().count()) {
        bail!("SRT passphrase in {var} must be 10 to 79 characters");
    }
    Ok(Some(value))
}

/// Bind the listener and serve callers on the current runtime. Errors (no libsrt, the port taken,
/// no passphrase) come back at once, so the worker fails its start with the reason.
pub fn start(plan: &SrtListenPlan, ctx: Arc<WorkerContext>) -> anyhow::Result<()> {
    let lib = libsrt::lib()?;
    let options = ListenOptions {
        latency_ms: plan.latency_ms,
        passphrase: passphrase(plan)?,
        pbkeylen: plan.pbkeylen,
    };
    let listener = lib.listen(crate::net::pod::listen_addr(plan.listen), &options)?;
    let (tx, mut rx) = mpsc::channel::<(Socket, Option<SocketAddr>)>(ACCEPT_QUEUE);
    std::thread::Builder::new()
        .name("srt-accept".into())
        .spawn(move || loop {
            match lib.accept(listener) {
                Ok((sock, peer)) => {
                    // A full queue drops (closes) the caller rather than blocking the accepts.
                    let _ = tx.try_send((Socket { lib, sock }, peer));
                }
                Err(err) => {
                    tracing::warn!(%err, "SRT accept failed");
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            }
        })?;
    let listen = plan.listen;
    tokio::spawn(async move {
        while let Some((socket, peer)) = rx.recv().await {
            tokio::spawn(serve_caller(ctx.clone(), socket, peer, listen));
        }
    });
    tracing::info!(srt = %plan.listen, latency_ms = plan.latency_ms, encrypted = options.passphrase.is_some(), "SRT listening");
    Ok(())
}

async fn serve_caller(
    ctx: Arc<WorkerContext>,
    socket: Socket,
    peer: Option<SocketAddr>,
    listen: SocketAddr,
) {
    let ip = peer.map_or_else(String::new, |p| p.ip().to_string());
    let raw = socket.lib.stream_id(socket.sock);
    let id = match stream_id::parse(&raw) {
        Ok(id) => with_credentials_in_query(id),
        Err(err) => {
            let shown = crate::net::log_text::escape_controls(&raw);
            tracing::info!(client = %ip, stream_id = %shown, %err, "SRT caller refused: bad stream id");
            return;
        }
    };
    let Some(_slot) = ctx.try_connect() else {
        super::refusals::at_limit("srt", &ip, ctx.settings().max_connections);
        return;
    };
    let tc_url = format!("srt://{listen}/{}", id.name.app);
    match id.mode {
        SrtMode::Publish => publish::serve(ctx, socket, id, ip, tc_url).await,
        SrtMode::Play => play::serve(ctx, socket, id, ip, tc_url).await,
    }
}
