//! The worker's WebRTC UDP socket: every datagram goes to the session the demux names (a STUN
//! request by its ufrag, the rest by the peer address ICE tied to a session). Anything else —
//! garbage, a stale session's packets, a scan — is dropped without an answer, counted and logged
//! at most once a minute.

use super::WebRtc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Datagrams that belonged to no session, since the worker started.
pub static REFUSED_DATAGRAMS: AtomicU64 = AtomicU64::new(0);

/// Largest datagram read (WebRTC keeps below the path MTU; a bigger one is not ours).
const MAX_DATAGRAM: usize = 2048;

pub async fn receive_loop(service: Arc<WebRtc>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut last_report: Option<Instant> = None;
    loop {
        let (n, from) = match service.socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(err) => {
                // ICMP errors from a vanished peer surface here on Linux; not fatal.
                tracing::debug!(%err, "WebRTC UDP receive");
                continue;
            }
        };
        let datagram = &buf[..n];
        let Some(handle) = service.route(datagram, from) else {
            let refused = REFUSED_DATAGRAMS.fetch_add(1, Ordering::Relaxed) + 1;
            if last_report.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                last_report = Some(Instant::now());
                tracing::info!(%from, refused, "WebRTC datagram for no session dropped");
            }
            continue;
        };
        let changed = {
            let mut session = handle.lock();
            let before = (
                session.timeout,
                session.connected,
                session.keyframe_requested,
                session.closed.is_some(),
            );
            session.receive(&service.socket, from, datagram);
            session.timeout < before.0
                || session.connected != before.1
                || session.keyframe_requested != before.2
                || session.closed.is_some() != before.3
        };
        if changed {
            handle.wake.notify_one();
        }
    }
}
