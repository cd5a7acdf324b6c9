//! Validate and expand: the typed [`Topology`] becomes a [`Plan`] — defaults filled, `count` expanded,
//! references resolved, listeners cross-checked and loopback ports allocated from the pool.

use super::decode::{LbDecl, StaticDecl, StreamOverrides, Topology, WorkerDecl};
use super::diagnostic::{suggest, Diagnostic, DiagnosticKind, Span};
use super::fields::Ctx;
use super::plan::*;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Component, Path, PathBuf};

/// The default pool for loopback ports.
pub const DEFAULT_PORTS: PortRange = PortRange {
    from: 19350,
    to: 19999,
};

/// Options that depend on where the topology lives.
pub struct Environment<'a> {
    /// Directory relative paths start from.
    pub base_dir: &'a Path,
    /// Look at the filesystem for `binary` and static `root` (warnings only).
    pub check_files: bool,
}

/// Default stream settings (DESIGN.md §4).
pub fn default_stream() -> StreamSettings {
    StreamSettings {
        gop_cache: true,
        chunk_size: 60000,
        // SRS's default (mw_latency 350): fan-out CPU is paid per write call, so merging 350 ms of
        // frames per write costs ~1/3 of 100 ms. New players get the GOP cache at once regardless.
        merge_write_ms: 350,
        // One wakeup reads ~100 ms of a publisher's media instead of one TCP segment, which cuts the
        // fixed per-stream CPU; every player of the stream sees at most 100 ms more latency, on top of
        // merge-write's window, so this one is kept shorter.
        merge_read_ms: 100,
        play_wait_ms: DEFAULT_PLAY_WAIT_MS,
        player_queue_bytes: 4 << 20,
        max_connections: 10000,
        http_flv: HttpFlvSettings {
            enabled: true,
            wait_ms: 5000,
        },
        hls: HlsSettings {
            enabled: true,
            fragment_ms: 2000,
            window: 6,
            path: None,
        },
        hooks: HookSettings {
            timeout_ms: 3000,
            ..HookSettings::default()
        },
    }
}

fn apply_overrides(base: &mut StreamSettings, o: &StreamOverrides) {
    fn set<T: Clone>(slot: &mut T, value: &Option<T>) {
        if let Some(v) = value {
            *slot = v.clone();
        }
    }
    set(&mut base.gop_cache, &o.gop_cache);
    set(&mut base.chunk_size, &o.chunk_size);
    set(&mut base.merge_write_ms, &o.merge_write_ms);
    set(&mut base.merge_read_ms, &o.merge_read_ms);
    set(&mut base.play_wait_ms, &o.play_wait_ms);
    set(&mut base.player_queue_bytes, &o.player_queue_bytes);
    set(&mut base.max_connections, &o.max_connections);
    set(&mut base.http_flv.enabled, &o.http_flv_enabled);
    set(&mut base.http_flv.wait_ms, &o.http_flv_wait_ms);
    set(&mut base.hls.enabled, &o.hls_enabled);
    set(&mut base.hls.fragment_ms, &o.hls_fragment_ms);
    set(&mut base.hls.window, &o.hls_window);
    if o.hls_path.is_some() {
        base.hls.path = o.hls_path.clone();
    }
    set(&mut base.hooks.on_publish, &o.on_publish);
    set(&mut base.hooks.on_unpublish, &o.on_unpublish);
    set(&mut base.hooks.on_play, &o.on_play);
    set(&mut base.hooks.on_stop, &o.on_stop);
    set(&mut base.hooks.timeout_ms, &o.hooks_timeout_ms);
    set(&mut base.hooks.on_error, &o.hooks_on_error);
    if o.hooks_ca.is_some() {
        base.hooks.ca = o.hooks_ca.clone();
    }
}

/// `path` relative to `base` (absolute paths unchanged), without `.` components.
pub fn resolve_path(base: &Path, path: &str) -> String {
    let joined = base.join(path);
    let cleaned: PathBuf = joined
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    let text = cleaned.to_string_lossy().into_owned();
    if text.is_empty() {
        ".".into()
    } else {
        text
    }
}

/// A public listener, for conflict checks.
struct Listener {
    addr: SocketAddr,
    span: Span,
    owner: String,
}

fn overlaps(a: &SocketAddr, b: &SocketAddr) -> bool {
    a.port() == b.port() && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// A worker instance before ports are known.
struct Instance<'a> {
    name: String,
    decl: &'a WorkerDecl,
}

/// Validate and expand `topology`; `None` when any error was reported.
pub fn expand(
    topology: &Topology,
    env_name: Option<&str>,
    environment: &Environment<'_>,
    ctx: &mut Ctx,
) -> Option<Plan> {
    let ports = pool(topology, ctx);
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
    let mut lb_workers: HashMap<&str, Vec<String>> = HashMap::new();
    for lb in &lbs {
        lb_workers.insert(
            lb.role,
            resolve_lb_workers(lb, topology, &groups, &instances, ctx),
        );
    }

    let listeners = collect_listeners(topology);
    check_conflicts(&listeners, ctx);
    let present_lbs: Vec<&str> = lbs.iter().map(|lb| lb.role).collect();
    for site in &topology.statics {
        check_static(site, &present_lbs, environment, ctx);
    }
    check_duplicate_statics(&topology.statics, ctx);

    let reserved: HashSet<u16> = listeners.iter().map(|l| l.addr.port()).collect();
    // Fixed roles (the shell, a slot for each LB kind whether present or not, static sites) take
    // their control ports from the top of the pool and workers from the bottom, so adding or removing
    // a worker never moves another role's port: reloads that only change workers stay `hot` for the
    // LBs and the shell.
    let fixed_slots = 1 + 3 + topology.statics.len();
    let needed = instances.len() * 3 + fixed_slots;
    let allocated = ports.and_then(|(range, span)| {
        for listener in &listeners {
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
    });

    if ctx
        .diagnostics
        .iter()
        .any(|d| d.severity() == super::diagnostic::Severity::Error)
    {
        return None;
    }
    let (range, free) = allocated?;
    let loopback = |port: u16| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    // `free` holds at least `needed` ports, so the two ends never meet.
    let mut top = free.iter().rev().copied();
    let mut fixed = || loopback(top.next().unwrap_or(0));
    let shell_control = fixed();
    let rtmp_lb_control = fixed();
    let http_lb_control = fixed();
    let api_lb_control = fixed();
    let static_controls: Vec<SocketAddr> = topology.statics.iter().map(|_| fixed()).collect();
    let mut bottom = free.iter().copied();
    let mut take = || loopback(bottom.next().unwrap_or(0));

    let rtmp_routed: HashSet<String> = lb_workers
        .get("rtmp-lb")
        .map(|names| names.iter().cloned().collect())
        .unwrap_or_default();
    let workers: Vec<WorkerPlan> = instances
        .iter()
        .map(|instance| {
            let decl = instance.decl;
            let mut stream = default_stream();
            apply_overrides(&mut stream, &topology.defaults);
            apply_overrides(&mut stream, &decl.stream);
            stream.hls.path = stream
                .hls
                .path
                .map(|path| resolve_path(environment.base_dir, &path));
            stream.hooks.ca = stream
                .hooks
                .ca
                .map(|path| resolve_path(environment.base_dir, &path));
            let binary = external_binaries.get(&decl.name.value).cloned();
            WorkerPlan {
                name: instance.name.clone(),
                group: decl.name.value.clone(),
                kind: decl.kind,
                binary,
                rtmp: take(),
                http: take(),
                control: take(),
                proxy_protocol: decl.kind == WorkerKind::Embedded
                    && rtmp_routed.contains(&instance.name),
                stream,
            }
        })
        .collect();
    let lb_plan = |lb: &Option<LbDecl>, control: SocketAddr| -> Option<LbPlan> {
        let lb = lb.as_ref()?;
        Some(LbPlan {
            listen: lb.listen.as_ref()?.value,
            workers: lb_workers.get(lb.role).cloned().unwrap_or_default(),
            control,
            auth: lb.auth.clone(),
            cors_origins: lb.cors_origins.clone(),
        })
    };
    let rtmp_lb = lb_plan(&topology.rtmp_lb, rtmp_lb_control);
    let http_lb = lb_plan(&topology.http_lb, http_lb_control);
    let api_lb = lb_plan(&topology.api_lb, api_lb_control);
    let lb_addrs: Vec<(&str, SocketAddr)> = [
        ("rtmp-lb", &rtmp_lb),
        ("http-lb", &http_lb),
        ("api-lb", &api_lb),
    ]
    .into_iter()
    .filter_map(|(name, lb)| lb.as_ref().map(|lb| (name, lb.listen)))
    .collect();
    let statics: Vec<StaticPlan> = topology
        .statics
        .iter()
        .zip(static_controls)
        .map(|(site, control)| static_plan(site, &lb_addrs, environment, control))
        .collect::<Option<_>>()?;
    Some(Plan {
        version: 1,
        env: env_name.map(str::to_string),
        ports: range,
        shell_control,
        workers,
        rtmp_lb,
        http_lb,
        api_lb,
        statics,
    })
}

fn pool(topology: &Topology, ctx: &mut Ctx) -> Option<(PortRange, Option<Span>)> {
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
        for name in names {
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
            instances.push(Instance { name, decl: worker });
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

fn binary_exists(binary: &str, base_dir: &Path) -> bool {
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
            });
        }
    }
    for site in &topology.statics {
        if let Some(listen) = &site.listen {
            listeners.push(Listener {
                addr: listen.value,
                span: listen.span,
                owner: format!("static \"{}\"", site.name.value),
            });
        }
        if let Some(listen) = site.tls.as_ref().and_then(|t| t.listen.as_ref()) {
            listeners.push(Listener {
                addr: listen.value,
                span: listen.span,
                owner: format!("static \"{}\" tls", site.name.value),
            });
        }
    }
    listeners
}

fn check_conflicts(listeners: &[Listener], ctx: &mut Ctx) {
    let mut by_port: HashMap<u16, Vec<&Listener>> = HashMap::new();
    for listener in listeners {
        let same_port = by_port.entry(listener.addr.port()).or_default();
        if let Some(first) = same_port.iter().find(|l| overlaps(&l.addr, &listener.addr)) {
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
            if acme.challenge == AcmeChallenge::Http01 && site.listen.is_none() {
                ctx.error_at(
                    DiagnosticKind::Http01WithoutListener {
                        name: site.name.value.clone(),
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
                            "read when the site starts",
                        );
                    }
                }
            }
        }
    }
    for proxy in &site.proxies {
        let target = proxy.to.value.as_str();
        if !present_lbs.contains(&target) && !super::units::is_http_url(target) {
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
}

fn loopback_for(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(std::net::Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

fn static_plan(
    site: &StaticDecl,
    lbs: &[(&str, SocketAddr)],
    environment: &Environment<'_>,
    control: SocketAddr,
) -> Option<StaticPlan> {
    let base = environment.base_dir;
    let tls = match &site.tls {
        None => None,
        Some(tls) => {
            let certs = if let Some(acme) = &tls.acme {
                CertSource::Acme(AcmePlan {
                    domains: acme.domains.clone(),
                    contacts: acme.contacts.clone(),
                    directory: acme.directory.clone().unwrap_or_else(|| {
                        if acme.staging {
                            LETS_ENCRYPT_STAGING.into()
                        } else {
                            LETS_ENCRYPT_PRODUCTION.into()
                        }
                    }),
                    directory_ca: acme.directory_ca.as_deref().map(|p| resolve_path(base, p)),
                    challenge: acme.challenge,
                    cache: resolve_path(
                        base,
                        acme.cache
                            .as_deref()
                            .unwrap_or(&format!("./acme/{}", site.name.value)),
                    ),
                })
            } else if !tls.certs.is_empty() {
                CertSource::Files {
                    pairs: tls
                        .certs
                        .iter()
                        .map(|pair| CertPair {
                            cert: resolve_path(base, &pair.cert),
                            key: resolve_path(base, &pair.key),
                        })
                        .collect(),
                }
            } else {
                let names = tls.self_signed.clone().unwrap_or_default();
                CertSource::SelfSigned {
                    names: if names.is_empty() {
                        vec!["localhost".into()]
                    } else {
                        names
                    },
                }
            };
            Some(TlsPlan {
                listen: tls.listen.as_ref()?.value,
                certs,
            })
        }
    };
    let proxies = site
        .proxies
        .iter()
        .map(|p| {
            let to = match lbs.iter().find(|(name, _)| *name == p.to.value) {
                Some((_, addr)) => format!("http://{}", loopback_for(*addr)),
                None => p.to.value.clone(),
            };
            ProxyRoute {
                prefix: p.prefix.clone(),
                to,
                strip_prefix: p.strip_prefix,
                writes: p.writes.unwrap_or(p.to.value != "api-lb"),
                ca: p.ca.as_ref().map(|ca| resolve_path(base, &ca.value)),
            }
        })
        .collect();
    Some(StaticPlan {
        name: site.name.value.clone(),
        root: resolve_path(base, &site.root.as_ref()?.value),
        listen: site.listen.as_ref().map(|l| l.value),
        tls,
        redirect_https: site.redirect_https.as_ref().is_some_and(|r| r.value),
        directory_listing: site.directory_listing,
        proxies,
        control,
    })
}
