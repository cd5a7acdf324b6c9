//! Placement: which host each role runs on (`host "NAME"`, a role's `host=`, a worker's `hosts`
//! spread round-robin), the edges' `origin`, and what placement changes in the plan: worker ports
//! counted per host, and the host's address bound where another host must reach a listener.
//!
//! Without `host` nodes nothing here touches the plan: one implicit local host, every port and
//! digest as before.

use super::super::decode::{PlacementDecl, Topology};
use super::super::diagnostic::{suggest, Diagnostic, DiagnosticKind, Span};
use super::super::fields::{Ctx, Spanned};
use super::super::plan::*;
use super::assemble::loopback_for;
use super::Instance;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};

/// The host of every role, in plan order; all `None` without hosts.
#[derive(Debug, Default)]
pub(super) struct Placement {
    pub workers: Vec<Option<String>>,
    pub lbs: HashMap<&'static str, Option<String>>,
    pub statics: Vec<Option<String>>,
    pub ingests: Vec<Option<String>>,
}

/// Check hosts, the secret and every role's placement and origin; decide each role's host.
pub(super) fn place(topology: &Topology, instances: &[Instance<'_>], ctx: &mut Ctx) -> Placement {
    let hosts = check_hosts(topology, ctx);
    check_origins(topology, ctx);
    if hosts.len() > 1 && topology.secret.is_none() {
        let mut diagnostic = Diagnostic::new(DiagnosticKind::MissingSecret { hosts: hosts.len() });
        for host in topology.hosts.iter().take(2) {
            diagnostic = diagnostic.label(host.name.span, "a host");
        }
        ctx.push(diagnostic);
    }
    let names: Vec<&str> = hosts.iter().map(|(name, _)| *name).collect();
    let mut resolve = |role: String, decl: Option<&Spanned<String>>, span: Span| {
        resolve_one(role, decl, span, &names, ctx)
    };
    let mut placement = Placement::default();
    let mut turn: HashMap<&str, usize> = HashMap::new();
    for instance in instances {
        let decl = instance.decl;
        let role = format!("worker \"{}\"", instance.name);
        let host = match &decl.placement {
            PlacementDecl {
                hosts: Some(list), ..
            } => {
                let index = turn.entry(decl.name.value.as_str()).or_insert(0);
                let chosen = &list[*index % list.len()];
                *index += 1;
                resolve(role, Some(chosen), chosen.span)
            }
            PlacementDecl { host, .. } => resolve(role, host.as_ref(), decl.name.span),
        };
        placement.workers.push(host);
    }
    for lb in [
        &topology.rtmp_lb,
        &topology.http_lb,
        &topology.api_lb,
        &topology.srt_lb,
    ]
    .into_iter()
    .flatten()
    {
        let host = resolve(format!("`{}`", lb.role), lb.host.as_ref(), lb.span);
        placement.lbs.insert(lb.role, host);
    }
    for site in &topology.statics {
        let role = format!("static \"{}\"", site.name.value);
        placement
            .statics
            .push(resolve(role, site.host.as_ref(), site.name.span));
    }
    for ingest in &topology.ingests {
        let role = format!("ingest \"{}\"", ingest.role_name());
        placement
            .ingests
            .push(resolve(role, ingest.host.as_ref(), ingest.span));
    }
    placement
}

/// The hosts by name, each once; a second `host` of one name is reported.
fn check_hosts<'a>(topology: &'a Topology, ctx: &mut Ctx) -> Vec<(&'a str, Option<IpAddr>)> {
    let mut seen: HashMap<&str, Span> = HashMap::new();
    let mut hosts = Vec::new();
    for host in &topology.hosts {
        if let Some(first) = seen.get(host.name.value.as_str()) {
            ctx.push(Diagnostic::duplicate_name(
                "host",
                &host.name.value,
                host.name.span,
                *first,
            ));
            continue;
        }
        seen.insert(&host.name.value, host.name.span);
        hosts.push((host.name.value.as_str(), host.address));
    }
    hosts
}

/// The host a role names (checked), the only host when there is one, or an error when several
/// hosts leave the role unplaced.
fn resolve_one(
    role: String,
    decl: Option<&Spanned<String>>,
    span: Span,
    hosts: &[&str],
    ctx: &mut Ctx,
) -> Option<String> {
    match decl {
        Some(name) if hosts.contains(&name.value.as_str()) => Some(name.value.clone()),
        Some(name) => {
            ctx.error_at(
                DiagnosticKind::UnknownHost {
                    name: name.value.clone(),
                    suggestion: suggest(&name.value, hosts),
                    known: hosts.iter().map(|h| h.to_string()).collect(),
                },
                name.span,
                "no such host",
            );
            None
        }
        None if hosts.len() == 1 => Some(hosts[0].to_string()),
        None if hosts.is_empty() => None,
        None => {
            ctx.error_at(
                DiagnosticKind::UnplacedRole {
                    role,
                    hosts: hosts.iter().map(|h| h.to_string()).collect(),
                },
                span,
                "runs on no host",
            );
            None
        }
    }
}

/// `origin="GROUP"` names another worker group.
fn check_origins(topology: &Topology, ctx: &mut Ctx) {
    let groups: Vec<&str> = topology
        .workers
        .iter()
        .map(|w| w.name.value.as_str())
        .collect();
    for worker in &topology.workers {
        let Some(origin) = &worker.origin else {
            continue;
        };
        let itself = origin.value == worker.name.value;
        if itself || !groups.contains(&origin.value.as_str()) {
            let others: Vec<&str> = groups
                .iter()
                .copied()
                .filter(|g| *g != worker.name.value)
                .collect();
            ctx.error_at(
                DiagnosticKind::BadOrigin {
                    name: origin.value.clone(),
                    itself,
                    suggestion: if itself {
                        None
                    } else {
                        suggest(&origin.value, &others)
                    },
                },
                origin.span,
                if itself {
                    "its own group"
                } else {
                    "no such worker group"
                },
            );
        }
    }
}

/// Write placement into `plan`: hosts, secret, each role's host and each edge's origin and share;
/// then, with hosts, count worker ports per host from the bottom of `free` and bind the host's
/// address where another host reaches a listener.
pub(super) fn apply(
    plan: &mut Plan,
    topology: &Topology,
    instances: &[Instance<'_>],
    placement: Placement,
    free: &[u16],
) {
    for (worker, instance) in plan.workers.iter_mut().zip(instances) {
        worker.origin = instance.decl.origin.as_ref().map(|o| o.value.clone());
        worker.edge_share = instance.decl.edge_share;
    }
    // The cluster secret counts without hosts too: pods of `--emit kubernetes` (and one machine
    // that names it) derive their control secret from it like hosts do.
    plan.secret = topology.secret.as_ref().map(|s| s.source.clone());
    if topology.hosts.is_empty() {
        return;
    }
    let mut seen = HashSet::new();
    plan.hosts = topology
        .hosts
        .iter()
        .filter(|h| seen.insert(h.name.value.clone()))
        .filter_map(|h| {
            Some(HostPlan {
                name: h.name.value.clone(),
                address: h.address?,
            })
        })
        .collect();
    for (worker, host) in plan.workers.iter_mut().zip(placement.workers) {
        worker.host = host;
    }
    for (role, lb) in [
        ("rtmp-lb", &mut plan.rtmp_lb),
        ("http-lb", &mut plan.http_lb),
        ("api-lb", &mut plan.api_lb),
        ("srt-lb", &mut plan.srt_lb),
    ] {
        if let Some(lb) = lb {
            lb.host = placement.lbs.get(role).cloned().flatten();
        }
    }
    for (site, host) in plan.statics.iter_mut().zip(placement.statics) {
        site.host = host;
    }
    for (ingest, host) in plan.ingests.iter_mut().zip(placement.ingests) {
        ingest.host = host;
    }
    ports_per_host(plan, free);
    bind_reached_workers(plan);
    proxies_across_hosts(plan);
}

/// Each host counts its workers' ports from the bottom of the pool on its own: two hosts reuse
/// the same numbers, and a worker added on one host moves nothing on another.
fn ports_per_host(plan: &mut Plan, free: &[u16]) {
    let mut next: HashMap<Option<String>, usize> = HashMap::new();
    for worker in &mut plan.workers {
        let index = next.entry(worker.host.clone()).or_insert(0);
        let port = |i: usize| free.get(*index * 3 + i).copied().unwrap_or(0);
        worker.rtmp.set_port(port(0));
        worker.http.set_port(port(1));
        worker.control.set_port(port(2));
        *index += 1;
    }
}

/// A worker that an LB or an edge on another host reaches binds its host's address (RTMP, HTTP
/// and control) instead of loopback.
fn bind_reached_workers(plan: &mut Plan) {
    let address: HashMap<String, IpAddr> = plan
        .hosts
        .iter()
        .map(|h| (h.name.clone(), h.address))
        .collect();
    let mut reached: HashSet<String> = HashSet::new();
    for lb in [&plan.rtmp_lb, &plan.http_lb, &plan.api_lb, &plan.srt_lb]
        .into_iter()
        .flatten()
    {
        for name in &lb.workers {
            if plan.worker(name).is_some_and(|w| w.host != lb.host) {
                reached.insert(name.clone());
            }
        }
    }
    for edge in &plan.workers {
        let Some(origin) = &edge.origin else { continue };
        for worker in &plan.workers {
            if &worker.group == origin && worker.host != edge.host {
                reached.insert(worker.name.clone());
            }
        }
    }
    for worker in &mut plan.workers {
        let ip = worker.host.as_ref().and_then(|h| address.get(h));
        if let (true, Some(ip)) = (reached.contains(&worker.name), ip) {
            for addr in [&mut worker.rtmp, &mut worker.http, &mut worker.control] {
                addr.set_ip(*ip);
            }
        }
    }
}

/// A static site's `proxy … to="api-lb"` (or another LB) on another host goes to that host's
/// address, not loopback.
fn proxies_across_hosts(plan: &mut Plan) {
    let address: HashMap<&str, IpAddr> = plan
        .hosts
        .iter()
        .map(|h| (h.name.as_str(), h.address))
        .collect();
    let lbs: Vec<(String, Option<IpAddr>, Option<String>)> =
        [&plan.rtmp_lb, &plan.http_lb, &plan.api_lb]
            .into_iter()
            .flatten()
            .map(|lb| {
                let local = format!("http://{}", loopback_for(lb.listen));
                let ip = lb.host.as_deref().and_then(|h| address.get(h).copied());
                (local, ip, lb.host.clone())
            })
            .collect();
    for site in &mut plan.statics {
        for proxy in &mut site.proxies {
            for (local, ip, host) in &lbs {
                if &proxy.to == local && host != &site.host {
                    if let (Some(ip), Some(port)) = (ip, local.rsplit(':').next()) {
                        let port: u16 = port.parse().unwrap_or(0);
                        proxy.to = format!("http://{}", SocketAddr::new(*ip, port));
                    }
                }
            }
        }
    }
}
