//! Assemble: with validation passed and ports allocated, build the [`Plan`]'s roles — each worker's
//! stream settings, rules and ports, the LBs, the static sites with their certificate sources and
//! proxies, the ingests.

use super::super::decode::{LbDecl, StaticDecl, TlsDecl, Topology, WebRtcDecl};
use super::super::plan::*;
use super::ports::Assigned;
use super::stream::{apply_overrides, default_stream};
use super::validate::Validated;
use super::{resolve_path, Environment, Instance};
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Build the plan from a topology that passed validation, with its ports assigned.
pub(super) fn assemble(
    topology: &Topology,
    validated: &Validated<'_>,
    range: PortRange,
    ports: Assigned,
    env_name: Option<&str>,
    environment: &Environment<'_>,
) -> Option<Plan> {
    let rtmp_routed: HashSet<String> = validated
        .lb_workers
        .get("rtmp-lb")
        .map(|names| names.iter().cloned().collect())
        .unwrap_or_default();
    let srt_routed: HashSet<String> = validated
        .lb_workers
        .get("srt-lb")
        .map(|names| names.iter().cloned().collect())
        .unwrap_or_default();
    let rules = super::rules::stream_rules(&topology.rules, environment.base_dir);
    let workers: Vec<WorkerPlan> = validated
        .instances
        .iter()
        .zip(&ports.workers)
        .map(|(instance, ports)| {
            let proxy_protocol = rtmp_routed.contains(&instance.name);
            let mut worker = worker_plan(
                topology,
                validated,
                instance,
                *ports,
                proxy_protocol,
                environment,
            );
            worker.stream.rules = rules.clone();
            worker.srt = srt_plan(
                topology,
                instance,
                ports[0],
                srt_routed.contains(&instance.name),
            );
            worker
        })
        .collect();
    let base = environment.base_dir;
    let lb_plan = |lb: &Option<LbDecl>, control: SocketAddr| -> Option<LbPlan> {
        let lb = lb.as_ref()?;
        Some(LbPlan {
            tls: match &lb.tls {
                Some(tls) => Some(TlsPlan {
                    listen: tls.listen.as_ref()?.value,
                    certs: cert_source(&rtmp_lb_acme_cache(tls, topology), tls, base),
                }),
                None => None,
            },
            host: None,
            listen: lb.listen.as_ref()?.value,
            workers: validated
                .lb_workers
                .get(lb.role)
                .cloned()
                .unwrap_or_default(),
            control,
            auth: lb.auth.clone(),
            cors_origins: lb.cors_origins.clone(),
        })
    };
    let rtmp_lb = lb_plan(&topology.rtmp_lb, ports.rtmp_lb_control);
    let http_lb = lb_plan(&topology.http_lb, ports.http_lb_control);
    let api_lb = lb_plan(&topology.api_lb, ports.api_lb_control);
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
        .zip(ports.static_controls.iter().copied())
        .map(|(site, control)| static_plan(site, &lb_addrs, environment, control))
        .collect::<Option<_>>()?;
    let srt_lb = topology.srt_lb.as_ref().and_then(|lb| {
        Some(LbPlan {
            tls: None,
            listen: lb.listen.as_ref()?.value,
            workers: srt_routed_in_order(&workers, &srt_routed),
            control: ports.srt_lb_control?,
            auth: None,
            cors_origins: None,
            host: None,
        })
    });
    Some(Plan {
        srt_lb,
        hosts: Vec::new(),
        secret: None,
        version: 1,
        env: env_name.map(str::to_string),
        ports: range,
        shell_control: ports.shell_control,
        workers,
        rtmp_lb,
        http_lb,
        api_lb,
        statics,
        ingests: super::rules::ingest_plans(
            &topology.ingests,
            &ports.ingest_controls,
            environment.base_dir,
        ),
    })
}

/// One worker instance: `defaults` and its own settings over the built-in stream settings.
fn worker_plan(
    topology: &Topology,
    validated: &Validated<'_>,
    instance: &Instance<'_>,
    [rtmp, http, control]: [SocketAddr; 3],
    routed_by_rtmp_lb: bool,
    environment: &Environment<'_>,
) -> WorkerPlan {
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
    WorkerPlan {
        srt: None,
        webrtc: decl
            .webrtc
            .as_ref()
            .filter(|_| decl.kind == WorkerKind::Embedded)
            .map(|w| webrtc_plan(w, instance.index, http)),
        host: None,
        origin: None,
        edge_share: None,
        name: instance.name.clone(),
        group: decl.name.value.clone(),
        kind: decl.kind,
        binary: validated.external_binaries.get(&decl.name.value).cloned(),
        rtmp,
        http,
        control,
        proxy_protocol: decl.kind == WorkerKind::Embedded && routed_by_rtmp_lb,
        stream,
    }
}

/// A worker's WebRTC socket: `udp listen` (port + the instance's index in its group), else every
/// address on the UDP port of the worker's own HTTP port number (TCP and UDP ports are apart, so
/// the pool's port is free for UDP too and nothing else moves).
fn webrtc_plan(decl: &WebRtcDecl, index: u16, http: SocketAddr) -> WebRtcPlan {
    let udp = match &decl.udp {
        Some(listen) => {
            let mut addr = listen.value;
            addr.set_port(addr.port().saturating_add(index));
            addr
        }
        None => SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), http.port()),
    };
    WebRtcPlan {
        udp,
        candidates: decl.candidates.iter().map(|c| c.value.clone()).collect(),
    }
}

/// A worker's SRT listener: its own `srt` block, else (when an srt-lb routes to it) one on the
/// loopback with its RTMP port's number (UDP, so the pool's TCP ports need no new slot and no other
/// role's port moves) and the srt-lb's options.
fn srt_plan(
    topology: &Topology,
    instance: &super::Instance<'_>,
    rtmp: SocketAddr,
    routed: bool,
) -> Option<SrtListenPlan> {
    let (listen, options) = match &instance.decl.srt {
        Some(own) => (own.listen.as_ref()?.value, own.options.clone()),
        None if routed => (
            rtmp,
            topology.srt_lb.as_ref()?.srt.clone().unwrap_or_default(),
        ),
        None => return None,
    };
    Some(SrtListenPlan {
        listen,
        latency_ms: options
            .latency_ms
            .unwrap_or(super::super::decode::DEFAULT_LATENCY_MS),
        passphrase_env: options.passphrase_env.map(|p| p.value),
        pbkeylen: options
            .pbkeylen
            .unwrap_or(super::super::decode::DEFAULT_PBKEYLEN),
    })
}

/// The srt-lb's workers: those it routes to that have an SRT listener, in plan order.
fn srt_routed_in_order(workers: &[WorkerPlan], routed: &HashSet<String>) -> Vec<String> {
    workers
        .iter()
        .filter(|w| routed.contains(&w.name) && w.srt.is_some())
        .map(|w| w.name.clone())
        .collect()
}

pub(super) fn loopback_for(addr: SocketAddr) -> SocketAddr {
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
            let certs = cert_source(&format!("./acme/{}", site.name.value), tls, base);
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
        host: None,
    })
}

/// The rtmp-lb's default ACME cache: that of a static site ordering the same names (so that one
/// account and one certificate serve both), else its own.
fn rtmp_lb_acme_cache(tls: &TlsDecl, topology: &Topology) -> String {
    let Some(acme) = &tls.acme else {
        return String::new();
    };
    topology
        .statics
        .iter()
        .find_map(|site| {
            let other = site.tls.as_ref()?.acme.as_ref()?;
            (other.domains == acme.domains).then(|| {
                other
                    .cache
                    .clone()
                    .unwrap_or_else(|| format!("./acme/{}", site.name.value))
            })
        })
        .unwrap_or_else(|| "./acme/rtmp-lb".into())
}

/// Where a listener's certificates come from: ACME (in `default_cache` unless `cache` is given),
/// files, or self-signed (for `localhost` when no name is given).
fn cert_source(default_cache: &str, tls: &TlsDecl, base: &std::path::Path) -> CertSource {
    if let Some(acme) = &tls.acme {
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
            cache: resolve_path(base, acme.cache.as_deref().unwrap_or(default_cache)),
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
    }
}
