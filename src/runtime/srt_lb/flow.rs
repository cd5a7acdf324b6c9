//! One caller's flow after its conclusion: reach a worker on the caller's behalf (the worker's own
//! induction round for its cookie, then the caller's conclusion with that cookie), then relay the
//! worker's datagrams back to the caller until the flow goes idle or either side shuts down.
//!
//! Each flow has its own UDP socket to the worker, so the worker sees one peer address per caller
//! (its cookie and its connection are keyed by it) and the worker's answers need no lookup.

use super::flows::{Flow, Flows, Upstream, IDLE_TIMEOUT};
use crate::compile::plan::WorkerPlan;
use crate::runtime::backends::{Backends, Direction};
use crate::srt::handshake::{self, reject, Handshake, HandshakeKind};
use crate::srt::stream_id::SrtMode;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

/// How often the worker's induction is (re)sent, and how many times, before the next worker.
const INDUCTION_RETRY: Duration = Duration::from_millis(250);
const INDUCTION_TRIES: u32 = 4;
/// How often a flow checks whether it went idle and flushes its byte counts.
const TICK: Duration = Duration::from_secs(1);
/// The largest datagram relayed (UDP's limit; SRT's own are at most its MSS, 1500).
pub const MAX_DATAGRAM: usize = 65536;

/// What the flow task needs besides its flow.
#[derive(Clone)]
pub struct FlowContext {
    pub listener: Arc<UdpSocket>,
    pub backends: Backends,
    pub flows: Flows,
    /// When the LB started: handshake timestamps count from here.
    pub epoch: Instant,
}

impl FlowContext {
    pub fn timestamp(&self) -> u32 {
        self.epoch.elapsed().as_micros() as u32
    }
}

/// Run `flow`, whose caller sent `conclusion`, to its end.
pub async fn run(ctx: FlowContext, flow: Arc<Flow>, conclusion: Handshake, raw: Vec<u8>) {
    let outcome = tokio::select! {
        reached = reach_worker(&ctx, &flow, &conclusion, raw) => reached,
        _ = flow.cancel.cancelled() => None,
    };
    match outcome {
        Some(socket) => {
            relay(&ctx, &flow, &socket).await;
            flush_bytes(&flow);
            tracing::info!(peer = %flow.peer, stream = %flow.key, worker = flow.worker().unwrap_or(""),
                secs = flow.started.elapsed().as_secs(), "flow ended");
        }
        None if !flow.cancel.is_cancelled() => {
            tracing::warn!(peer = %flow.peer, stream = %flow.key, "no worker answered");
            metrics::counter!("oryx_srt_lb_refusals_total", "reason" => "no_worker").increment(1);
            let refusal = conclusion.rejection(reject::UNAVAILABLE, ctx.timestamp());
            let _ = ctx.listener.send_to(&refusal.encode(), flow.peer).await;
        }
        None => {}
    }
    ctx.flows.remove(&flow);
}

/// Try the workers for the flow's stream, best first; the first that answers the induction gets the
/// conclusion. Returns the socket to it.
async fn reach_worker(
    ctx: &FlowContext,
    flow: &Arc<Flow>,
    conclusion: &Handshake,
    mut raw: Vec<u8>,
) -> Option<Arc<UdpSocket>> {
    let direction = match flow.mode {
        SrtMode::Publish => Direction::Publish,
        _ => Direction::Play,
    };
    for worker in ctx.backends.candidates_for(&flow.key, direction) {
        let Some(srt) = worker.srt.as_ref() else {
            continue;
        };
        // In a pod, the worker's Service DNS name, resolved now.
        let target = match crate::net::pod::dial_addr(srt.listen).await {
            Ok(addr) => reachable(addr),
            Err(err) => {
                tracing::warn!(worker = %worker.name, "worker's SRT listener: {err}");
                ctx.backends.mark_down(&worker.name);
                continue;
            }
        };
        match worker_cookie(ctx, target, conclusion).await {
            Ok((socket, cookie)) => {
                handshake::set_cookie(&mut raw, cookie);
                let socket = Arc::new(socket);
                let _ = flow.upstream.set(Upstream {
                    socket: socket.clone(),
                    cookie,
                    worker: worker.name.clone(),
                });
                flow.touch();
                let _ = socket.send(&raw).await;
                routed(ctx, flow, &worker);
                return Some(socket);
            }
            Err(err) => {
                tracing::warn!(worker = %worker.name, srt = %target, "worker's SRT listener: {err:#}");
                ctx.backends.mark_down(&worker.name);
            }
        }
    }
    None
}

fn routed(ctx: &FlowContext, flow: &Flow, worker: &WorkerPlan) {
    tracing::info!(peer = %flow.peer, stream = %flow.key, worker = %worker.name,
        publish = flow.mode == SrtMode::Publish, "routed");
    if flow.mode == SrtMode::Publish {
        ctx.backends.note_publisher(&worker.name, &flow.key);
    } else {
        ctx.backends.note_player(&worker.name, &flow.key);
    }
    metrics::counter!("oryx_srt_lb_routed_total", "worker" => worker.name.clone()).increment(1);
}

/// A listener on every address is reached on loopback.
fn reachable(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, listen.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, listen.port()).into(),
        _ => listen,
    }
}

/// The induction round with the worker at `target`, as the caller of `conclusion` would do it:
/// a fresh socket and the worker's cookie for it.
async fn worker_cookie(
    ctx: &FlowContext,
    target: SocketAddr,
    conclusion: &Handshake,
) -> anyhow::Result<(UdpSocket, u32)> {
    let bind: SocketAddr = if target.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(bind).await?;
    socket.connect(target).await?;
    let mut buf = vec![0u8; 2048];
    for _ in 0..INDUCTION_TRIES {
        let induction = conclusion.induction_for(ctx.timestamp()).encode();
        // A refused send (nothing listens: ICMP port unreachable) is an answer too.
        socket.send(&induction).await?;
        let deadline = tokio::time::Instant::now() + INDUCTION_RETRY;
        while let Ok(received) = tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
            let len = received?;
            let Ok(answer) = Handshake::parse(&buf[..len]) else {
                continue;
            };
            match answer.kind {
                HandshakeKind::Induction if answer.cookie != 0 => {
                    return Ok((socket, answer.cookie))
                }
                HandshakeKind::Rejection(reason) => {
                    anyhow::bail!("refused the induction (reason {reason})")
                }
                _ => {}
            }
        }
    }
    anyhow::bail!(
        "no answer to the induction in {:?}",
        INDUCTION_RETRY * INDUCTION_TRIES
    )
}

/// Worker → caller until the flow is idle, shut down or cancelled (the caller → worker half is the
/// listener loop's).
async fn relay(ctx: &FlowContext, flow: &Flow, socket: &UdpSocket) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            received = socket.recv(&mut buf) => {
                let Ok(len) = received else {
                    // The worker's port is gone (ICMP unreachable): keep waiting for the idle bound
                    // rather than tear the flow down on one stray error.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let packet = &buf[..len];
                flow.touch();
                flow.bytes_out.fetch_add(len as u64, Ordering::Relaxed);
                let _ = ctx.listener.send_to(packet, flow.peer).await;
                if handshake::is_shutdown(packet) {
                    flow.closing.store(true, Ordering::Relaxed);
                    return;
                }
                if let Some(HandshakeKind::Rejection(reason)) = handshake::kind_of(packet) {
                    // The worker refused the caller (a wrong passphrase, its hook): nothing follows.
                    tracing::info!(peer = %flow.peer, stream = %flow.key, reason, "worker refused the caller");
                    metrics::counter!("oryx_srt_lb_refusals_total", "reason" => "worker").increment(1);
                    return;
                }
            }
            _ = tick.tick() => {
                flush_bytes(flow);
                if flow.closing.load(Ordering::Relaxed) {
                    return;
                }
                if flow.idle_for() >= IDLE_TIMEOUT {
                    tracing::info!(peer = %flow.peer, stream = %flow.key, "flow idle, dropped");
                    metrics::counter!("oryx_srt_lb_idle_total").increment(1);
                    return;
                }
            }
            _ = flow.cancel.cancelled() => return,
        }
    }
}

/// Add the flow's byte counts since the last flush to the metrics.
fn flush_bytes(flow: &Flow) {
    let into = flow.bytes_in.swap(0, Ordering::Relaxed);
    let out = flow.bytes_out.swap(0, Ordering::Relaxed);
    if into > 0 {
        metrics::counter!("oryx_srt_lb_bytes_total", "direction" => "in").increment(into);
    }
    if out > 0 {
        metrics::counter!("oryx_srt_lb_bytes_total", "direction" => "out").increment(out);
    }
}
