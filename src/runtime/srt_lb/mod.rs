//! The srt-lb role: one UDP port in front of the workers' SRT listeners. It reads each caller's
//! stream id from the SRT handshake, picks the worker with the same affinity as the rtmp-lb (the
//! worker that publishes the stream, else rendezvous), and relays the caller's datagrams to that
//! worker and back without parsing the media.
//!
//! The stream id comes only in the caller's conclusion, after the induction round that gives it a
//! cookie, so the LB plays the listener for that round itself (a stateless cookie: [`listener`]),
//! then plays the caller towards the chosen worker: it asks the worker for its own cookie from a
//! socket of the flow's own, puts that cookie into the caller's conclusion and forwards it
//! ([`flow`]). From there both sides talk to each other through the LB untouched: socket ids,
//! sequence numbers and the key material (a passphrase works end to end; the LB never knows it).
//!
//! Bounded: inductions cost nothing, a flow exists only for a caller that answered our cookie, flows
//! and flows still reaching a worker are capped ([`flows`]), and a flow silent both ways for
//! [`flows::IDLE_TIMEOUT`] is dropped.

mod flow;
mod flows;
mod listener;

use super::backends::Backends;
use crate::compile::plan::Plan;
use crate::net::control::Control;
use anyhow::Context;
use std::sync::Arc;
use std::time::Instant;

pub use flows::{IDLE_TIMEOUT, MAX_FLOWS, MAX_PENDING};

/// Kernel receive buffer asked for the listener socket: every caller's datagrams queue there.
const LISTENER_RCVBUF: usize = 8 << 20;

pub fn run(plan: Plan) -> anyhow::Result<()> {
    let lb = plan.srt_lb.clone().context("the plan has no srt-lb")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let control = Control::new("srt-lb", &plan.digest());
        let backends = Backends::from_plan(&plan, &lb.workers);
        backends.poll_once().await;
        backends.spawn_poller();
        let flows = flows::Flows::default();
        control
            .serve(lb.control, backends.router().merge(flows.router()))
            .await?;
        let socket = bind_udp(lb.listen)
            .with_context(|| format!("srt-lb cannot listen on udp {}", lb.listen))?;
        // Advertise the workers' key length in induction answers, as their own listeners would.
        let pbkeylen = backends
            .snapshot()
            .iter()
            .filter_map(|b| b.plan.srt.as_ref())
            .find(|srt| srt.passphrase_env.is_some())
            .map_or(0, |srt| srt.pbkeylen);
        let ctx = flow::FlowContext {
            listener: Arc::new(socket),
            backends,
            flows: flows.clone(),
            epoch: Instant::now(),
        };
        let listener =
            listener::Listener::new(ctx, crate::srt::cookie::CookieJar::random(), pbkeylen);
        tracing::info!(role = "srt-lb", listen = %lb.listen, workers = ?lb.workers, "serving");
        control.set_ready(true);
        tokio::select! {
            _ = listener.serve() => {}
            _ = crate::net::shutdown::requested() => {}
        }
        control.set_ready(false);
        tracing::info!(role = "srt-lb", flows = flows.count(), "stopping");
        Ok(())
    })
}

/// The listener socket, with a receive buffer sized for many callers.
fn bind_udp(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::UdpSocket> {
    let addr = crate::net::pod::listen_addr(addr);
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    let _ = socket.set_recv_buffer_size(LISTENER_RCVBUF);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    tokio::net::UdpSocket::from_std(socket.into())
}
