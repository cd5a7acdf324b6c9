//! The srt-lb's one UDP listener: every caller datagram arrives here. A known caller's packets go
//! to its worker as they are (only a resent conclusion gets the worker's cookie); an unknown
//! caller's induction is answered at once with a stateless cookie; its conclusion, once the cookie
//! checks, names the stream and starts a flow. Anything else is dropped and counted.

use super::flow::{self, FlowContext, MAX_DATAGRAM};
use super::flows::Flow;
use crate::srt::cookie::CookieJar;
use crate::srt::handshake::{self, reject, Handshake, HandshakeKind};
use crate::srt::stream_id;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

/// The listener loop's state.
pub struct Listener {
    pub ctx: FlowContext,
    pub cookies: CookieJar,
    /// The key length advertised in induction answers (bytes: 0, 16, 24, 32).
    pub pbkeylen: u8,
    next_id: AtomicU64,
}

fn refuse(reason: &'static str) {
    metrics::counter!("oryx_srt_lb_refusals_total", "reason" => reason).increment(1);
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Listener {
    pub fn new(ctx: FlowContext, cookies: CookieJar, pbkeylen: u8) -> Listener {
        Listener {
            ctx,
            cookies,
            pbkeylen,
            next_id: AtomicU64::new(1),
        }
    }

    /// Receive and dispatch datagrams until the task is dropped.
    pub async fn serve(&self) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            match self.ctx.listener.recv_from(&mut buf).await {
                Ok((len, peer)) => self.datagram(&mut buf[..len], peer).await,
                Err(err) => {
                    // ICMP errors for a caller that went away surface here on Linux; nothing to do.
                    tracing::debug!(%err, "srt-lb receive");
                }
            }
        }
    }

    async fn datagram(&self, packet: &mut [u8], peer: SocketAddr) {
        if let Some(flow) = self.ctx.flows.get(&peer) {
            if self.known_caller(&flow, packet) {
                return;
            }
        }
        match handshake::kind_of(packet) {
            Some(HandshakeKind::Induction) => self.induction(packet, peer).await,
            Some(HandshakeKind::Conclusion) => self.conclusion(packet, peer).await,
            _ => refuse("unknown_peer"),
        }
    }

    /// A datagram from a caller with a flow; false when it starts a new connection instead (an
    /// induction, or a conclusion from another socket at the same address).
    fn known_caller(&self, flow: &Arc<Flow>, packet: &mut [u8]) -> bool {
        match handshake::kind_of(packet) {
            Some(HandshakeKind::Induction) => return false,
            Some(HandshakeKind::Conclusion) => {
                let caller_socket = Handshake::parse(packet).map(|hs| hs.socket_id);
                if caller_socket != Ok(flow.caller_socket) {
                    self.ctx.flows.remove(flow);
                    return false;
                }
                match flow.upstream.get() {
                    Some(upstream) => {
                        handshake::set_cookie(packet, upstream.cookie);
                    }
                    // Still reaching the worker: the flow task sends the first conclusion.
                    None => return true,
                }
            }
            _ => {}
        }
        let Some(upstream) = flow.upstream.get() else {
            return true;
        };
        flow.touch();
        flow.bytes_in
            .fetch_add(packet.len() as u64, Ordering::Relaxed);
        if handshake::is_shutdown(packet) {
            flow.closing.store(true, Ordering::Relaxed);
        }
        // A full socket buffer drops the datagram, as the network would: SRT retransmits.
        if upstream.socket.try_send(packet).is_err() {
            metrics::counter!("oryx_srt_lb_dropped_total").increment(1);
        }
        true
    }

    /// Answer an induction with our cookie; nothing is kept.
    async fn induction(&self, packet: &[u8], peer: SocketAddr) {
        let Ok(request) = Handshake::parse(packet) else {
            return refuse("malformed");
        };
        if request.dest_socket != 0 {
            return refuse("malformed");
        }
        let cookie = self.cookies.cookie(peer, now_secs());
        let answer = request.induction_answer(cookie, self.pbkeylen, self.ctx.timestamp());
        let _ = self.ctx.listener.send_to(&answer.encode(), peer).await;
    }

    /// A conclusion from a caller without a flow: check its cookie, read its stream id, admit it.
    async fn conclusion(&self, packet: &[u8], peer: SocketAddr) {
        let Ok(hs) = Handshake::parse(packet) else {
            return refuse("malformed");
        };
        if !self.cookies.check(peer, hs.cookie, now_secs()) {
            // Not one of our answers (spoofed, or from before a restart): the caller retries.
            return refuse("cookie");
        }
        let id = match hs.stream_id() {
            Some(Ok(text)) => stream_id::parse(&text).map_err(|err| err.to_string()),
            Some(Err(err)) => Err(err.to_string()),
            None => Err("no stream id (set the caller's streamid)".to_string()),
        };
        let id = match id {
            Ok(id) => id,
            Err(err) => {
                tracing::info!(%peer, "refused: {err}");
                refuse("stream_id");
                return self.reject(&hs, reject::BAD_REQUEST, peer).await;
            }
        };
        let id_num = self.next_id.fetch_add(1, Ordering::Relaxed);
        let flow = Arc::new(Flow::new(
            id_num,
            peer,
            hs.socket_id,
            id.name.key(),
            id.mode,
        ));
        flow.touch();
        if let Err(full) = self.ctx.flows.admit(flow.clone()) {
            tracing::warn!(%peer, stream = %flow.key, "refused: {full} at capacity");
            refuse("overload");
            return self.reject(&hs, reject::OVERLOAD, peer).await;
        }
        tokio::spawn(flow::run(self.ctx.clone(), flow, hs, packet.to_vec()));
    }

    async fn reject(&self, hs: &Handshake, reason: u32, peer: SocketAddr) {
        let refusal = hs.rejection(reason, self.ctx.timestamp());
        let _ = self.ctx.listener.send_to(&refusal.encode(), peer).await;
    }
}
