//! Allocate ports: the loopback pool (`ports from= to=`), checked against the public listeners, and
//! handed out to the roles' internal listeners.

use super::super::decode::Topology;
use super::super::diagnostic::{Diagnostic, DiagnosticKind, Span};
use super::super::fields::Ctx;
use super::super::plan::PortRange;
use super::{Listener, DEFAULT_PORTS};
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

pub(super) fn pool(topology: &Topology, ctx: &mut Ctx) -> Option<(PortRange, Option<Span>)> {
    match &topology.ports {
        None => Some((DEFAULT_PORTS, None)),
        Some(decl) if decl.from > decl.to => {
            ctx.push(
                Diagnostic::new(DiagnosticKind::BadPortRange {
                    from: decl.from,
                    to: decl.to,
                })
                .label(decl.span, "empty range"),
            );
            None
        }
        Some(decl) => Some((
            PortRange {
                from: decl.from,
                to: decl.to,
            },
            Some(decl.span),
        )),
    }
}

/// The pool's ports that no public listener takes, when there are enough of them for `instances`
/// workers (three ports each) and `statics` static sites and ingests (one each); every problem is
/// reported to `ctx`.
pub(super) fn allocate(
    pool: Option<(PortRange, Option<Span>)>,
    listeners: &[Listener],
    instances: usize,
    statics: usize,
    ctx: &mut Ctx,
) -> Option<(PortRange, Vec<u16>)> {
    let (range, span) = pool?;
    let reserved: HashSet<u16> = listeners.iter().map(|l| l.addr.port()).collect();
    let needed = instances * 3 + fixed_slots(statics);
    for listener in listeners {
        let port = listener.addr.port();
        if (range.from..=range.to).contains(&port) {
            let mut diagnostic = Diagnostic::new(DiagnosticKind::PoolOverlapsListener { port })
                .label(
                    listener.span,
                    format!("{} listens on {port}", listener.owner),
                );
            if let Some(span) = span {
                diagnostic = diagnostic.label(span, "the pool includes it");
            }
            ctx.push(diagnostic);
        }
    }
    let free: Vec<u16> = (range.from..=range.to)
        .filter(|p| !reserved.contains(p))
        .collect();
    if free.len() < needed {
        let available = free.len();
        let mut diagnostic =
            Diagnostic::new(DiagnosticKind::PortPoolTooSmall { needed, available });
        if let Some(span) = span {
            diagnostic = diagnostic.label(span, format!("{available} usable ports"));
        }
        ctx.push(diagnostic);
        None
    } else {
        Some((range, free))
    }
}

/// The shell, a slot for each LB kind whether present or not, and each static site.
fn fixed_slots(statics: usize) -> usize {
    1 + 3 + statics
}

/// The loopback addresses each role listens on internally.
pub(super) struct Assigned {
    pub shell_control: SocketAddr,
    pub rtmp_lb_control: SocketAddr,
    pub http_lb_control: SocketAddr,
    pub api_lb_control: SocketAddr,
    pub static_controls: Vec<SocketAddr>,
    /// Per ingest, in file order: below the static sites, so adding one moves no other role.
    pub ingest_controls: Vec<SocketAddr>,
    /// The srt-lb's, below the ingests (and only when there is one, so that plans without it
    /// keep every port).
    pub srt_lb_control: Option<SocketAddr>,
    /// Per worker instance, in plan order: RTMP, HTTP, control.
    pub workers: Vec<[SocketAddr; 3]>,
}

/// Hand out `free` (which [`allocate`] checked is large enough).
///
/// Fixed roles take their control ports from the top of the pool and workers from the bottom, so
/// adding or removing a worker never moves another role's port: reloads that only change workers
/// stay `hot` for the LBs and the shell.
pub(super) fn assign(free: &[u16], topology: &Topology, instances: usize) -> Assigned {
    let loopback = |port: u16| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    // `free` holds at least the ports needed, so the two ends never meet.
    let mut top = free.iter().rev().copied();
    let mut fixed = || loopback(top.next().unwrap_or(0));
    let shell_control = fixed();
    let rtmp_lb_control = fixed();
    let http_lb_control = fixed();
    let api_lb_control = fixed();
    let static_controls: Vec<SocketAddr> = topology.statics.iter().map(|_| fixed()).collect();
    let ingest_controls: Vec<SocketAddr> = topology.ingests.iter().map(|_| fixed()).collect();
    let srt_lb_control = topology.srt_lb.as_ref().map(|_| fixed());
    let mut bottom = free.iter().copied();
    let mut take = || loopback(bottom.next().unwrap_or(0));
    let workers = (0..instances).map(|_| [take(), take(), take()]).collect();
    Assigned {
        shell_control,
        rtmp_lb_control,
        http_lb_control,
        api_lb_control,
        static_controls,
        ingest_controls,
        srt_lb_control,
        workers,
    }
}
