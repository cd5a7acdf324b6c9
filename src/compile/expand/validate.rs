//! Validate: the checks that need the whole topology — names unique after `count`, LB worker lists
//! resolved, external binaries found, public listeners free of conflicts, static sites complete.

use super::super::decode::{LbDecl, ProxyDecl, StaticDecl, TlsDecl, Topology, WorkerDecl};
use super::super::diagnostic::{suggest, Diagnostic, DiagnosticKind};
use super::super::fields::Ctx;
use super::super::plan::*;
use super::{resolve_path, Environment, Instance, Listener};
use crate::compile::diagnostic::Span;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;

/// What validation learnt that assembling the plan needs.
pub(super) struct Validated<'a> {
    pub instances: Vec<Instance<'a>>,
    /// The program each external worker group runs.
    pub external_binaries: HashMap<String, String>,
    /// The worker instances each present LB routes to, by role.
    pub lb_workers: HashMap<&'static str, Vec<String>>,
    pub listeners: Vec<Listener>,
}

/// Run every check that needs the whole topology, in the order the diagnostics are reported.
pub(super) fn validate<'a>(
    topology: &'a Topology,
    environment: &Environment<'_>,
    ctx: &mut Ctx,
) -> Validated<'a> {
    let instances = expand_workers(topology, ctx);
    let groups: Vec<&str> = dedup_groups(&topology.workers);

    let mut external_binaries: HashMap<String, String> = HashMap::new();
    let mut found_binaries: HashMap<String, bool> = HashMap::new();
    for worker in &topology.workers {
        if let Some(binary) = external_binary(worker, environment, &mut found_binaries, ctx) {
            external_binaries.insert(worker.name.value.clone(), binary);
        }
    }

    let lbs: Vec<&LbDecl> = [&topology.rtmp_lb, &topology.http_lb, &topology.api_lb]
        .into_iter()
        .flatten()
        .collect();
    let mut lb_workers: HashMap<&'static str, Vec<String>> = HashMap::new();
    for lb in &lbs {
        lb_workers.insert(
            lb.role,
            resolve_lb_workers(lb, topology, &groups, &instances, ctx),
        );
    }
    if let Some(lb) = &topology.srt_lb {
        let selected = resolve_lb_workers(lb, topology, &groups, &instances, ctx);
        lb_workers.insert(lb.role, srt_capable(lb, selected, &instances, ctx));
    }

    let listeners = collect_listeners(topology);
    check_conflicts(&listeners, ctx);
    let present_lbs: Vec<&str> = lbs.iter().map(|lb| lb.role).collect();
    for site in &topology.statics {
        check_static(site, &present_lbs, environment, ctx);
    }
    if let Some(tls) = topology.rtmp_lb.as_ref().and_then(|lb| lb.tls.as_ref()) {
        // The rtmp-lb has no plain HTTP listener: http-01 works only through a static site that
        // orders the same names (the rtmp-lb then serves that site's certificate).
        let shared = tls.acme.as_ref().is_some_and(|acme| {
            topology.statics.iter().any(|site| {
                site.listen.is_some()
                    && site
                        .tls
                        .as_ref()
                        .and_then(|t| t.acme.as_ref())
                        .is_some_and(|other| other.domains == acme.domains)
            })
        });
        check_tls("rtmp-lb", tls, shared, environment, ctx);
    }
    check_duplicate_statics(&topology.statics, ctx);
    Validated {
        instances,
        external_binaries,
        lb_workers,
        listeners,
    }
}

/// The srt-lb's workers that can serve SRT: nginx-rtmp has no SRT server, so it is left out of
/// the default selection, and naming its group is an error.
fn srt_capable(
    lb: &LbDecl,
    selected: Vec<String>,
    instances: &[Instance<'_>],
    ctx: &mut Ctx,
) -> Vec<String> {
    let kind_of = |name: &str| {
        instances
            .iter()
            .find(|i| i.name == name)
            .map(|i| i.decl.kind)
    };
    if let Some(wanted) = &lb.workers {
        for group in wanted {
            let nginx = instances
                .iter()
                .any(|i| i.decl.name.value == group.value && i.decl.kind == WorkerKind::NginxRtmp);
            if nginx {
                ctx.error_at(
                    DiagnosticKind::UnsupportedOnKind {
                        what: "srt-lb".into(),
                        kind: WorkerKind::NginxRtmp.as_str(),
                        help: "nginx-rtmp has no SRT server: route SRT to embedded or srs workers"
                            .into(),
                    },
                    group.span,
                    "an nginx-rtmp worker group",
                );
            }
        }
    }
    selected
        .into_iter()
        .filter(|name| kind_of(name) != Some(WorkerKind::NginxRtmp))
        .collect()
}

fn overlaps(a: &SocketAddr, b: &SocketAddr) -> bool {
    a.port() == b.port() && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

fn dedup_groups(workers: &[WorkerDecl]) -> Vec<&str> {
    let mut seen = HashSet::new();
    workers
        .iter()
        .map(|w| w.name.value.as_str())
        .filter(|name| seen.insert(*name))
        .collect()
}

fn expand_workers<'a>(topology: &'a Topology, ctx: &mut Ctx) -> Vec<Instance<'a>> {
    let mut seen_groups: HashMap<&str, Span> = HashMap::new();
    let mut seen_instances: HashMap<String, Span> = HashMap::new();
    let mut instances = Vec::new();
    for worker in &topology.workers {
        if let Some(first) = seen_groups.get(worker.name.value.as_str()) {
            ctx.push(Diagnostic::duplicate_name(
                "worker",
                &worker.name.value,
                worker.name.span,
                *first,
            ));
            continue;
        }
        seen_groups.insert(&worker.name.value, worker.name.span);
        let names: Vec<String> = match worker.count {
            Some(n) if n >= 2 => (0..n)
                .map(|i| format!("{}-{i}", worker.name.value))
                .collect(),
            _ => vec![worker.name.value.clone()],
        };
        for (index, name) in names.into_iter().enumerate() {
            if let Some(first) = seen_instances.get(&name) {
                ctx.push(
                    Diagnostic::new(DiagnosticKind::DuplicateName {
                        what: "worker instance",
                        name: name.clone(),
                    })
                    .label(worker.name.span, format!("expands to `{name}`"))
                    .label(*first, "already names this instance"),
                );
                continue;
            }
            seen_instances.insert(name.clone(), worker.name.span);
            instances.push(Instance {
                name,
                index: index as u16,
                decl: worker,
            });
        }
    }
    instances
}

/// The program an external worker runs (its `binary`, or the usual name), warning when not found.
fn external_binary(
    worker: &WorkerDecl,
    environment: &Environment<'_>,
    found: &mut HashMap<String, bool>,
    ctx: &mut Ctx,
) -> Option<String> {
    let default = match worker.kind {
        WorkerKind::Embedded => return None,
        WorkerKind::Srs => "srs",
        WorkerKind::NginxRtmp => "nginx",
    };
    let (binary, span) = match &worker.binary {
        Some(b) => (b.value.clone(), b.span),
        None => (default.to_string(), worker.name.span),
    };
    let exists = *found.entry(binary.clone()).or_insert_with(|| {
        !environment.check_files || binary_exists(&binary, environment.base_dir)
    });
    if !exists {
        ctx.push(
            Diagnostic::new(DiagnosticKind::MissingBinary {
                binary: binary.clone(),
                kind: worker.kind.as_str(),
            })
            .label(span, "not found"),
        );
    }
    // A path (not a bare program name looked up on PATH) is relative to the topology file.
    if binary.contains('/') {
        Some(resolve_path(environment.base_dir, &binary))
    } else {
        Some(binary)
    }
}

pub(super) fn binary_exists(binary: &str, base_dir: &Path) -> bool {
    if binary.contains('/') {
        return Path::new(&resolve_path(base_dir, binary)).is_file();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into(), "/sbin".into()])
        .any(|dir| dir.join(binary).is_file())
}

fn resolve_lb_workers(
    lb: &LbDecl,
    topology: &Topology,
    groups: &[&str],
    instances: &[Instance<'_>],
    ctx: &mut Ctx,
) -> Vec<String> {
    let selected: Vec<String> = match &lb.workers {
        None => instances.iter().map(|i| i.name.clone()).collect(),
        Some(wanted) => {
            let known: HashSet<&str> = groups.iter().copied().collect();
            let mut wanted_groups: HashSet<&str> = HashSet::new();
            for group in wanted {
                if !known.contains(group.value.as_str()) {
                    ctx.error_at(
                        DiagnosticKind::UnknownWorkerGroup {
                            name: group.value.clone(),
                            suggestion: suggest(&group.value, groups),
                            known: groups.iter().map(|g| g.to_string()).collect(),
                        },
                        group.span,
                        "no such worker group",
                    );
                    continue;
                }
                wanted_groups.insert(&group.value);
            }
            with_origins(&mut wanted_groups, topology);
            // Instances in plan order, each once, whatever order and repetition the groups were named in.
            instances
                .iter()
                .filter(|i| wanted_groups.contains(i.decl.name.value.as_str()))
                .map(|i| i.name.clone())
                .collect()
        }
    };
    // A misspelt `worker` node was already reported with its suggestion: one error per LB saying
    // there is no worker would only repeat it.
    let misspelt_worker = ctx.diagnostics.iter().any(|d| {
        matches!(&d.kind, DiagnosticKind::UnknownNode { suggestion: Some(s), .. } if s == "worker")
    });
    if topology.workers.is_empty() && !misspelt_worker {
        ctx.error_at(
            DiagnosticKind::NoWorkers { lb: lb.role.into() },
            lb.span,
            "routes to nothing",
        );
    }
    selected
}

/// Add the origin group of every edge group in `groups` (and theirs, for an edge of edges): an LB
/// that lists only edges still has somewhere to send publishers, where the edges pull from
/// (DESIGN.md "Edge spreading").
fn with_origins<'a>(groups: &mut HashSet<&'a str>, topology: &'a Topology) {
    loop {
        let origins: Vec<&str> = topology
            .workers
            .iter()
            .filter(|w| groups.contains(w.name.value.as_str()))
            .filter_map(|w| w.origin.as_ref().map(|o| o.value.as_str()))
            .filter(|origin| !groups.contains(origin))
            .collect();
        if origins.is_empty() {
            return;
        }
        groups.extend(origins);
    }
}

fn collect_listeners(topology: &Topology) -> Vec<Listener> {
    let mut listeners = Vec::new();
    for lb in [&topology.rtmp_lb, &topology.http_lb, &topology.api_lb]
        .into_iter()
        .flatten()
    {
        if let Some(listen) = &lb.listen {
            listeners.push(Listener {
                addr: listen.value,
                span: listen.span,
                owner: format!("`{}`", lb.role),
                host: lb.host.as_ref().map(|h| h.value.clone()),
                udp: false,
            });
        }
        if let Some(listen) = lb.tls.as_ref().and_then(|t| t.listen.as_ref()) {
            listeners.push(Listener {
                addr: listen.value,
                span: listen.span,
                owner: format!("`{}` tls", lb.role),
                host: lb.host.as_ref().map(|h| h.value.clone()),
                udp: false,
            });
        }
    }
    // SRT is UDP: it meets TCP listeners only in the pool (a worker's SRT port there is its RTMP
    // port's number), so it is checked against the other SRT listeners alone.
    // A worker spread over several hosts (`hosts …`) is unplaced here: it may share any host.
    let host_of =
        |h: &Option<crate::compile::fields::Spanned<String>>| h.as_ref().map(|h| h.value.clone());
    let srt_lb = topology.srt_lb.as_ref().and_then(|lb| {
        let listen = lb.listen.as_ref()?;
        Some((listen, "`srt-lb`".to_string(), host_of(&lb.host)))
    });
    let worker_srt = topology.workers.iter().filter_map(|w| {
        let listen = w.srt.as_ref()?.listen.as_ref()?;
        let owner = format!("worker \"{}\" srt", w.name.value);
        Some((listen, owner, host_of(&w.placement.host)))
    });
    for (listen, owner, host) in srt_lb.into_iter().chain(worker_srt) {
        listeners.push(Listener {
            addr: listen.value,
            span: listen.span,
            owner,
            host,
            udp: true,
        });
    }
    for site in &topology.statics {
        if let Some(listen) = &site.listen {
            listeners.push(Listener {
                addr: listen.value,
                span: listen.span,
                owner: format!("static \"{}\"", site.name.value),
                host: site.host.as_ref().map(|h| h.value.clone()),
                udp: false,
            });
        }
        if let Some(listen) = site.tls.as_ref().and_then(|t| t.listen.as_ref()) {
            listeners.push(Listener {
                addr: listen.value,
                span: listen.span,
                owner: format!("static \"{}\" tls", site.name.value),
                host: site.host.as_ref().map(|h| h.value.clone()),
                udp: false,
            });
        }
    }
    listeners
}

fn check_conflicts(listeners: &[Listener], ctx: &mut Ctx) {
    let mut by_port: HashMap<u16, Vec<&Listener>> = HashMap::new();
    for listener in listeners {
        let same_port = by_port.entry(listener.addr.port()).or_default();
        // Listeners on two named hosts never collide; an unplaced one may share any host.
        let same_host = |l: &&&Listener| match (&l.host, &listener.host) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        if let Some(first) = same_port
            .iter()
            .filter(same_host)
            .find(|l| l.udp == listener.udp && overlaps(&l.addr, &listener.addr))
        {
            ctx.push(
                Diagnostic::new(DiagnosticKind::PortConflict {
                    port: listener.addr.port(),
                    wildcard: first.addr.ip().is_unspecified()
                        || listener.addr.ip().is_unspecified(),
                })
                .label(
                    listener.span,
                    format!("{} listens on {}", listener.owner, listener.addr),
                )
                .label(
                    first.span,
                    format!("{} already listens on {}", first.owner, first.addr),
                ),
            );
        }
        same_port.push(listener);
    }
}

fn check_duplicate_statics(statics: &[StaticDecl], ctx: &mut Ctx) {
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for site in statics {
        if let Some(first) = seen.get(site.name.value.as_str()) {
            ctx.push(Diagnostic::duplicate_name(
                "static site",
                &site.name.value,
                site.name.span,
                *first,
            ));
        } else {
            seen.insert(&site.name.value, site.name.span);
        }
    }
}

fn check_static(
    site: &StaticDecl,
    present_lbs: &[&str],
    environment: &Environment<'_>,
    ctx: &mut Ctx,
) {
    if let Some(root) = &site.root {
        let resolved = resolve_path(environment.base_dir, &root.value);
        if environment.check_files && !Path::new(&resolved).is_dir() {
            ctx.error_at(
                DiagnosticKind::StaticRootMissing { root: resolved },
                root.span,
                "no such directory",
            );
        }
    }
    if site.listen.is_none() && site.tls.is_none() {
        ctx.error_at(
            DiagnosticKind::StaticWithoutListener {
                name: site.name.value.clone(),
            },
            site.name.span,
            "no `listen` and no `tls`",
        );
    }
    if let Some(redirect) = &site.redirect_https {
        if redirect.value && site.tls.is_none() {
            ctx.error_at(
                DiagnosticKind::RedirectWithoutTls {
                    name: site.name.value.clone(),
                },
                redirect.span,
                "redirects to HTTPS",
            );
        }
    }
    if let Some(tls) = &site.tls {
        let owner = format!("static site \"{}\"", site.name.value);
        check_tls(&owner, tls, site.listen.is_some(), environment, ctx);
    }
    for proxy in &site.proxies {
        check_proxy(proxy, present_lbs, environment, ctx);
    }
}

/// A `tls` block of `owner`: exactly one certificate source, complete, its files readable;
/// `http01_answered`: something answers ACME http-01 challenges on port 80 for it.
fn check_tls(
    owner: &str,
    tls: &TlsDecl,
    http01_answered: bool,
    environment: &Environment<'_>,
    ctx: &mut Ctx,
) {
    let sources = usize::from(tls.acme.is_some())
        + usize::from(!tls.certs.is_empty())
        + usize::from(tls.self_signed.is_some());
    if tls.source_spans.is_empty() {
        ctx.error_at(
            DiagnosticKind::TlsWithoutCertificates,
            tls.span,
            "no certificate source",
        );
    } else if sources > 1 {
        let mut diagnostic = Diagnostic::new(DiagnosticKind::ConflictingCertificates);
        for span in &tls.source_spans {
            diagnostic = diagnostic.label(*span, "a certificate source");
        }
        ctx.push(diagnostic);
    }
    if let Some(acme) = &tls.acme {
        if acme.domains.is_empty() {
            ctx.error_at(DiagnosticKind::AcmeWithoutDomain, acme.span, "no `domain`");
        }
        if acme.challenge == AcmeChallenge::Http01 && !http01_answered {
            ctx.error_at(
                DiagnosticKind::Http01WithoutListener {
                    owner: owner.to_string(),
                },
                acme.span,
                "validated over plain HTTP",
            );
        }
    }
    // With conflicting sources that error comes first; the files may not even be meant.
    if environment.check_files && sources == 1 {
        for pair in &tls.certs {
            for file in [&pair.cert, &pair.key] {
                let path = resolve_path(environment.base_dir, file);
                if let Err(err) = std::fs::File::open(&path) {
                    ctx.error_at(
                        DiagnosticKind::CertificateUnreadable {
                            path,
                            reason: err.to_string(),
                        },
                        tls.span,
                        if owner == "rtmp-lb" {
                            "read when the rtmp-lb starts"
                        } else {
                            "read when the site starts"
                        },
                    );
                }
            }
        }
    }
}

/// A `proxy` route: a known LB or an http(s) URL, its CA readable.
fn check_proxy(
    proxy: &ProxyDecl,
    present_lbs: &[&str],
    environment: &Environment<'_>,
    ctx: &mut Ctx,
) {
    let target = proxy.to.value.as_str();
    if !present_lbs.contains(&target) && !super::super::units::is_http_url(target) {
        ctx.error_at(
            DiagnosticKind::UnknownProxyTarget {
                target: target.into(),
                suggestion: suggest(target, present_lbs.iter().copied()),
            },
            proxy.to.span,
            "unknown target",
        );
    }
    // The site reads the CA when it starts, and cannot start without it.
    if let Some(ca) = proxy.ca.as_ref().filter(|_| environment.check_files) {
        let path = resolve_path(environment.base_dir, &ca.value);
        if let Err(err) = std::fs::File::open(&path) {
            ctx.error_at(
                DiagnosticKind::CertificateUnreadable {
                    path,
                    reason: err.to_string(),
                },
                ca.span,
                "read when the site starts",
            );
        }
    }
}
