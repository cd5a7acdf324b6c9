//! libsrt's blocking calls bridged to tokio: one thread per connection, bounded channels both
//! ways, so the worker's runtime never blocks on SRT. A publisher's thread merges what it receives
//! for a window (like RTMP's `merge-read`: one wakeup per window, not per 1316-byte message; none
//! while a WHEP player watches, `worker/merge_read.rs`); a
//! player's thread sends what the playback hands it, in 1316-byte messages (7 TS packets, SRT's
//! live-mode payload), and watches the connection's state while idle.

use super::libsrt::{Lib, Recv, SrtSocket};
use crate::worker::merge_read::ReadMerge;
use bytes::{Bytes, BytesMut};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// SRT live mode carries at most this many bytes a message.
pub const MESSAGE_BYTES: usize = 1316;
/// Merged input handed over in one piece at most (a window of a 50 Mbit/s stream).
const MERGE_BYTES: usize = 256 * 1024;
/// The merge window's bounds (also the receive timeout's, so the idle check and the flush run
/// that often while nothing comes).
const MIN_WINDOW: Duration = Duration::from_millis(10);
const MAX_WINDOW: Duration = Duration::from_millis(200);
/// Merged pieces queued toward the publisher task; a full queue stops the reads (libsrt then
/// holds the data in its receive buffer, bounded by the latency window).
const INPUT_QUEUE: usize = 16;
/// Batches queued toward a player's thread; the playback's cursor skips a slow player ahead.
const OUTPUT_QUEUE: usize = 8;

/// An accepted socket, closed when dropped (also ends its thread's blocking calls).
pub struct Socket {
    pub lib: &'static Lib,
    pub sock: SrtSocket,
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.lib.close(self.sock);
    }
}

/// Receive on a thread of its own: merged pieces arrive on the channel, which closes when the
/// connection ends (by the caller, an error, or `idle` without any data). The text says why.
pub fn receiver(
    lib: &'static Lib,
    sock: SrtSocket,
    merge: ReadMerge,
    idle: Duration,
) -> anyhow::Result<mpsc::Receiver<Result<Bytes, String>>> {
    let timeout = merge.window().clamp(MIN_WINDOW, MAX_WINDOW);
    lib.set_timeouts(sock, timeout.as_millis() as i32, 1000)?;
    let (tx, rx) = mpsc::channel(INPUT_QUEUE);
    std::thread::Builder::new()
        .name("srt-recv".into())
        .spawn(move || receive_loop(lib, sock, merge, idle, tx))?;
    Ok(rx)
}

fn receive_loop(
    lib: &'static Lib,
    sock: SrtSocket,
    merge: ReadMerge,
    idle: Duration,
    tx: mpsc::Sender<Result<Bytes, String>>,
) {
    let mut buf = [0u8; 1500];
    let mut merged = BytesMut::with_capacity(64 * 1024);
    let mut flushed = Instant::now();
    let mut last_data = Instant::now();
    loop {
        let end = match lib.recv(sock, &mut buf) {
            Recv::Data(n) => {
                merged.extend_from_slice(&buf[..n]);
                last_data = Instant::now();
                None
            }
            Recv::Timeout if last_data.elapsed() >= idle => {
                Some(format!("no data for {} s", idle.as_secs()))
            }
            Recv::Timeout => None,
            Recv::Closed(why) => Some(why),
        };
        // A WHEP player of the stream takes each message as it comes (zero window).
        let window = match merge.window() {
            w if w.is_zero() => w,
            w => w.clamp(MIN_WINDOW, MAX_WINDOW),
        };
        if !merged.is_empty()
            && (merged.len() >= MERGE_BYTES || flushed.elapsed() >= window || end.is_some())
        {
            flushed = Instant::now();
            if tx.blocking_send(Ok(merged.split().freeze())).is_err() {
                return;
            }
        }
        if let Some(why) = end {
            let _ = tx.blocking_send(Err(why));
            return;
        }
        if tx.is_closed() {
            return;
        }
    }
}

/// Send on a thread of its own: batches go in on the channel; the returned receiver completes
/// when the connection is over (a failed send, the caller gone), with the reason.
pub fn sender(
    lib: &'static Lib,
    sock: SrtSocket,
) -> anyhow::Result<(mpsc::Sender<Bytes>, tokio::sync::oneshot::Receiver<String>)> {
    lib.set_timeouts(sock, 1000, 10_000)?;
    let (tx, rx) = mpsc::channel::<Bytes>(OUTPUT_QUEUE);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("srt-send".into())
        .spawn(move || {
            let why = send_loop(lib, sock, rx);
            let _ = done_tx.send(why);
        })?;
    Ok((tx, done_rx))
}

fn send_loop(lib: &'static Lib, sock: SrtSocket, mut rx: mpsc::Receiver<Bytes>) -> String {
    loop {
        let batch = match rx.try_recv() {
            Ok(batch) => batch,
            Err(mpsc::error::TryRecvError::Disconnected) => return "playback ended".into(),
            Err(mpsc::error::TryRecvError::Empty) => {
                // Nothing to send: look at the connection now and then, so a caller that left
                // while the stream had no publisher is noticed.
                if !lib.connected(sock) {
                    return "the caller left".into();
                }
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        for message in batch.chunks(MESSAGE_BYTES) {
            match lib.send(sock, message) {
                Ok(true) => {}
                Ok(false) => return "send timed out".into(),
                Err(err) => return format!("send failed: {err}"),
            }
        }
    }
}
