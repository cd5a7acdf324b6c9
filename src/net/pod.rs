//! Pod mode (`oryx up FILE --host POD` where POD is a Kubernetes pod name, not a declared `host`):
//! where a role binds and how it reaches its peers when addresses are not known in advance.
//!
//! A pod's IP is chosen by the cluster when the pod starts and changes when it restarts, so the
//! plan's addresses (loopback, or `host` addresses) mean nothing there. In pod mode every listener
//! of the pod's role binds all addresses, and every plan address of a peer role is dialled by that
//! peer's Service DNS name (`worker-edge-3.worker-edge:PORT`, `rtmp-lb:PORT`, [`Plan::pod_address`]),
//! resolved at each dial (pods come and go and change IPs) within a bounded time. Outside pod mode
//! every function here returns the plan's address unchanged, so machine topologies are untouched.
//!
//! The book is keyed by the plan's socket addresses, which are unique within a plan (ports are
//! allocated per host), so the callers keep passing `worker.rtmp`, `lb.control`… and the mapping
//! lives only here. Every worker pod of a group serves the ports of the pool's first worker: that
//! is what the StatefulSet's manifests declare (`compile/emit/kubernetes.rs`: one pod template per
//! group, probes on the named port `control`).

use crate::compile::emit::kubernetes::dns_name;
use crate::compile::plan::{Plan, SecretSource};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, SystemTime};

/// Set by the shell of a pod for its roles: the pod's name (`worker-edge-3`, `rtmp-lb`).
pub const ENV: &str = "ORYX_POD";
/// Where a pod reads the cluster secret when the topology names none (the manifests set it from
/// the Secret `oryx`): pods span hosts, so they always derive their control secret from one.
pub const CLUSTER_SECRET_ENV: &str = crate::compile::emit::kubernetes::CLUSTER_SECRET_ENV;
/// Set by the manifests on worker pods with `webrtc`: the pod's IP (`status.podIP`).
pub const POD_IP_ENV: &str = crate::compile::emit::kubernetes::POD_IP_ENV;
/// How long one name lookup may take before the dial fails (the caller's own timeout may be
/// shorter).
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

static POD: OnceLock<Pod> = OnceLock::new();

/// Where one plan address is, seen from this pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A listener of this pod's own role: bound on all addresses, dialled on loopback.
    Own(u16),
    /// A peer pod's listener: its Service DNS name and port.
    Peer(String, u16),
}

/// The plan's addresses as one pod sees them.
#[derive(Debug, Clone, Default)]
pub struct Book {
    pub pod: String,
    places: HashMap<SocketAddr, Place>,
}

impl Book {
    /// The book of pod `pod` (a name [`Plan::pod_role`] knows) for `plan`.
    pub fn new(plan: &Plan, pod: &str) -> Book {
        let mut places = HashMap::new();
        let mut put = |addr: SocketAddr, name: String, port: u16| {
            let place = if name == pod {
                Place::Own(port)
            } else {
                Place::Peer(name, port)
            };
            places.insert(addr, place);
        };
        if let Some(first) = plan.workers.first() {
            for worker in &plan.workers {
                let Some(own) = plan.worker_pod(&worker.name) else {
                    continue;
                };
                let model = plan.workers.iter().find(|w| w.group == worker.group);
                let service = own.rsplit_once('-').map_or(own.as_str(), |(s, _)| s);
                let name = |own: &str| {
                    if own == pod {
                        own.to_string()
                    } else {
                        format!("{own}.{service}")
                    }
                };
                put(worker.rtmp, name(&own), first.rtmp.port());
                put(worker.http, name(&own), first.http.port());
                put(worker.control, name(&own), first.control.port());
                if let (Some(srt), Some(model)) = (&worker.srt, model.and_then(|m| m.srt.as_ref()))
                {
                    put(srt.listen, name(&own), model.listen.port());
                }
                if let (Some(rtc), Some(model)) =
                    (&worker.webrtc, model.and_then(|m| m.webrtc.as_ref()))
                {
                    put(rtc.udp, name(&own), model.udp.port());
                }
            }
        }
        for (role, lb) in [
            ("rtmp-lb", &plan.rtmp_lb),
            ("http-lb", &plan.http_lb),
            ("api-lb", &plan.api_lb),
            ("srt-lb", &plan.srt_lb),
        ] {
            let Some(lb) = lb else { continue };
            put(lb.control, role.into(), lb.control.port());
            put(lb.listen, role.into(), lb.listen.port());
            if let Some(tls) = &lb.tls {
                put(tls.listen, role.into(), tls.listen.port());
            }
        }
        for site in &plan.statics {
            let name = dns_name(&format!("static-{}", site.name));
            put(site.control, name.clone(), site.control.port());
            if let Some(listen) = site.listen {
                put(listen, name.clone(), listen.port());
            }
            if let Some(tls) = &site.tls {
                put(tls.listen, name.clone(), tls.listen.port());
            }
        }
        for ingest in &plan.ingests {
            let name = dns_name(&format!("ingest-{}", ingest.name));
            put(ingest.control, name, ingest.control.port());
        }
        Book {
            pod: pod.to_string(),
            places,
        }
    }

    pub fn place(&self, addr: SocketAddr) -> Option<&Place> {
        self.places.get(&addr)
    }

    /// Where a listener the plan puts at `addr` binds: all addresses of the pod for its own
    /// role's listeners; anything else (the shell's control API) as planned.
    pub fn listen_addr(&self, addr: SocketAddr) -> SocketAddr {
        match self.place(addr) {
            Some(Place::Own(port)) => SocketAddr::new(unspecified(addr.ip()), *port),
            _ => addr,
        }
    }

    /// `host:port` a client outside this process names for `addr` (an ffmpeg URL): the peer's DNS
    /// name, loopback for this pod's own listeners, `None` for an address the book does not know.
    pub fn authority(&self, addr: SocketAddr) -> Option<String> {
        match self.place(addr)? {
            Place::Own(port) => Some(SocketAddr::new(loopback(addr.ip()), *port).to_string()),
            Place::Peer(name, port) => Some(format!("{name}:{port}")),
        }
    }
}

fn unspecified(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    }
}

fn loopback(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
        IpAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
    }
}

/// This process's pod: its address book, rebuilt when the plan changes. A shell rebuilds it on
/// reload ([`rebuild`]); a role follows its plan file (`--plan`), which its shell rewrites before
/// it tells any role of the new plan (a backend push, a settings push), so the first dial after
/// a reload already sees the new book: a worker group grown from 2 to 3 pods has its
/// `worker-edge-2` reached by name.
#[derive(Debug)]
pub struct Pod {
    book: RwLock<Arc<Book>>,
    /// The role's plan file and the (modified time, length) of the version the book was built from.
    file: Option<(PathBuf, Mutex<Option<Stamp>>)>,
}

/// A file's (modified time, length): what tells a rewritten plan file.
type Stamp = (SystemTime, u64);

impl Pod {
    /// Pod `pod` of `plan`; `file` is the plan file to follow (a role's), if any.
    pub fn new(plan: &Plan, pod: &str, file: Option<&Path>) -> Pod {
        Pod {
            book: RwLock::new(Arc::new(Book::new(plan, pod))),
            file: file.map(|f| (f.to_path_buf(), Mutex::new(stamp(f)))),
        }
    }

    /// The book in force, rebuilt first when the followed plan file changed since.
    pub fn book(&self) -> Arc<Book> {
        self.follow();
        self.book.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Rebuild the book from `plan` (same pod).
    pub fn rebuild(&self, plan: &Plan) {
        let mut book = self.book.write().unwrap_or_else(|e| e.into_inner());
        let new = Book::new(plan, &book.pod);
        if new.places != book.places {
            tracing::info!(
                pod = %new.pod,
                peers = new.places.len(),
                digest = %plan.digest(),
                "pod mode: address book rebuilt from the new plan"
            );
        }
        *book = Arc::new(new);
    }

    /// One `stat` per call: a reload rewrites the file, then tells the role. A file caught half
    /// written does not parse; its stamp is not taken, so the next call reads it again.
    fn follow(&self) {
        let Some((path, seen)) = &self.file else {
            return;
        };
        let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
        let now = stamp(path);
        if now.is_none() || now == *seen {
            return;
        }
        let plan = std::fs::read_to_string(path)
            .ok()
            .and_then(|text| serde_json::from_str::<Plan>(&text).ok());
        if let Some(plan) = plan {
            self.rebuild(&plan);
            *seen = now;
        }
    }
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Enter pod mode for pod `pod` of `plan` (once per process; later calls are ignored); a role
/// passes its plan `file` to follow reloads.
pub fn init(plan: &Plan, pod: &str, file: Option<&Path>) {
    let state = Pod::new(plan, pod, file);
    tracing::info!(
        pod,
        peers = state.book().places.len(),
        "pod mode: listening on all addresses, peers by their Service DNS names"
    );
    let _ = POD.set(state);
}

/// A reload of the shell: its book follows the new plan (outside pod mode, nothing).
pub fn rebuild(plan: &Plan) {
    if let Some(pod) = POD.get() {
        pod.rebuild(plan);
    }
}

fn book() -> Option<Arc<Book>> {
    POD.get().map(Pod::book)
}

/// Where a shell or role of `plan` reads the cluster secret: the topology's `secret`, else, in a
/// pod, [`CLUSTER_SECRET_ENV`]; outside a pod without `secret`, none (a per-run control secret).
pub fn secret_source(plan: &Plan, in_pod: bool) -> Option<SecretSource> {
    match &plan.secret {
        Some(source) => Some(source.clone()),
        None if in_pod => Some(SecretSource::Env(CLUSTER_SECRET_ENV.into())),
        None => None,
    }
}

/// The pod this role runs in, as its shell said ([`ENV`]), when `plan` knows that pod.
pub fn pod_from_env(plan: &Plan) -> Option<String> {
    let pod = std::env::var(ENV).ok()?;
    (!pod.is_empty() && plan.host(&pod).is_none() && plan.pod_role(&pod).is_some()).then_some(pod)
}

/// Enter pod mode when the shell said this role runs in a pod ([`ENV`]); `file` is the role's
/// plan file (`-`, standard input, is not followed).
pub fn init_from_env(plan: &Plan, file: &Path) {
    if let Some(pod) = pod_from_env(plan) {
        init(plan, &pod, (file.as_os_str() != "-").then_some(file));
    }
}

/// The pod's own IP as the manifests give it ([`POD_IP_ENV`]); `None` outside pod mode.
pub fn pod_ip() -> Option<IpAddr> {
    if !active() {
        return None;
    }
    std::env::var(POD_IP_ENV).ok()?.trim().parse().ok()
}

/// Whether this process runs in a pod.
pub fn active() -> bool {
    POD.get().is_some()
}

/// Where to bind a listener the plan puts at `addr` ([`Book::listen_addr`]).
pub fn listen_addr(addr: SocketAddr) -> SocketAddr {
    book().map_or(addr, |book| book.listen_addr(addr))
}

/// `host:port` for a URL handed to another program that dials `addr` itself (it resolves the name
/// when it connects); outside pod mode, `addr`.
pub fn authority(addr: SocketAddr) -> String {
    book()
        .and_then(|book| book.authority(addr))
        .unwrap_or_else(|| addr.to_string())
}

/// The key of the PROXY v2 credential ([`crate::proxy_protocol::encode_signed`]): the control
/// secret, which every pod derives from the cluster secret.
pub fn proxy_key() -> &'static [u8] {
    super::control_secret::process().as_str().as_bytes()
}

/// Seconds since the epoch, the credential's clock.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The socket address to connect to for the plan address `addr`, resolved now: in pod mode a
/// peer's DNS name is looked up at every dial (within [`RESOLVE_TIMEOUT`]), and a name that does
/// not resolve is an error that says which.
pub async fn dial_addr(addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let Some(book) = book() else {
        return Ok(addr);
    };
    let place = book.place(addr).cloned();
    match place {
        None => Ok(addr),
        Some(Place::Own(port)) => Ok(SocketAddr::new(loopback(addr.ip()), port)),
        Some(Place::Peer(name, port)) => resolve(&name, port).await,
    }
}

async fn resolve(name: &str, port: u16) -> std::io::Result<SocketAddr> {
    let lookup = tokio::net::lookup_host((name, port));
    let found = match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
        Ok(Ok(mut addrs)) => addrs
            .next()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address")),
        Ok(Err(err)) => Err(err),
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no answer in {RESOLVE_TIMEOUT:?}"),
        )),
    };
    found.map_err(|err| {
        report(name, &err);
        std::io::Error::new(err.kind(), format!("{name}:{port} does not resolve: {err}"))
    })
}

/// Log a name that does not resolve, at most every 10 s per name: health checks ask twice a
/// second, and a pod that is being rescheduled has no address for a while.
fn report(name: &str, err: &std::io::Error) {
    if super::log_every::due("pod-dns", name, Duration::from_secs(10)) {
        tracing::warn!(peer = %name, %err, "pod mode: a peer's DNS name does not resolve");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/configs/multi-host.kdl");
        crate::compile::compile_path(&path, None).expect("the example compiles")
    }

    #[test]
    fn a_pod_binds_its_own_listeners_everywhere_and_names_its_peers() {
        let plan = plan();
        let first = &plan.workers[0];
        let edge = plan.worker("edge-3").expect("edge-3");
        let origin = plan.worker("origin").expect("origin");
        let book = Book::new(&plan, "worker-edge-3");
        // Its own listeners: all addresses, the ports every worker pod of the manifests serves.
        assert_eq!(
            book.listen_addr(edge.rtmp),
            SocketAddr::from(([0, 0, 0, 0], first.rtmp.port()))
        );
        assert_eq!(
            book.place(edge.control),
            Some(&Place::Own(first.control.port()))
        );
        // Peers: the Service DNS names of Plan::pod_address.
        assert_eq!(
            book.authority(origin.rtmp),
            plan.pod_address("origin", first.rtmp.port())
        );
        let lb = plan.rtmp_lb.as_ref().expect("rtmp-lb");
        assert_eq!(
            book.authority(lb.control),
            Some(format!("rtmp-lb:{}", lb.control.port()))
        );
        // Another pod's listener is not bound here, and the shell's control API stays put.
        assert_eq!(book.listen_addr(origin.rtmp), origin.rtmp);
        assert_eq!(book.listen_addr(plan.shell_control), plan.shell_control);
        // The LB pod sees edge-3 by name.
        let lb_book = Book::new(&plan, "rtmp-lb");
        assert_eq!(
            lb_book.authority(edge.rtmp),
            plan.pod_address("edge-3", first.rtmp.port())
        );
        assert_eq!(
            lb_book.listen_addr(lb.listen).ip(),
            IpAddr::from([0, 0, 0, 0])
        );
    }

    fn grown(count: usize) -> Plan {
        let text =
            format!("oryx 1\nworker \"edge\" count={count}\nrtmp-lb listen=\"0.0.0.0:1935\"\n");
        let options = crate::compile::Options::for_file("<test>", None);
        let compilation = crate::compile::compile("<test>", &text, &options);
        compilation.plan.expect("the topology compiles")
    }

    #[test]
    fn a_reload_rebuilds_the_book_from_the_new_plan() {
        let (old, new) = (grown(2), grown(3));
        let edge2 = new.worker("edge-2").expect("edge-2").clone();
        let port = new.workers[0].rtmp.port();
        let want = Some(format!("worker-edge-2.worker-edge:{port}"));
        // The shell of the LB pod: `oryx reload`/SIGHUP rebuilds its book.
        let shell = Pod::new(&old, "rtmp-lb", None);
        assert_eq!(
            shell.book().authority(edge2.rtmp),
            None,
            "not in the old plan"
        );
        shell.rebuild(&new);
        assert_eq!(shell.book().authority(edge2.rtmp), want);
        // Its role follows the plan file the shell rewrites before pushing the new backends.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rtmp-lb.json");
        std::fs::write(&file, serde_json::to_string(&old).unwrap()).unwrap();
        let role = Pod::new(&old, "rtmp-lb", Some(&file));
        assert_eq!(role.book().authority(edge2.rtmp), None);
        // Half written: no plan, the old book stays until the file is whole.
        std::fs::write(&file, "{\"workers\": [").unwrap();
        assert_eq!(role.book().authority(edge2.rtmp), None);
        std::fs::write(&file, serde_json::to_string_pretty(&new).unwrap()).unwrap();
        assert_eq!(role.book().authority(edge2.rtmp), want);
        assert_eq!(
            role.book()
                .listen_addr(new.rtmp_lb.as_ref().unwrap().listen)
                .ip(),
            IpAddr::from([0, 0, 0, 0])
        );
    }

    #[test]
    fn a_pod_always_has_a_cluster_secret_source() {
        let plan = grown(2);
        assert_eq!(secret_source(&plan, false), None, "one machine: per run");
        assert_eq!(
            secret_source(&plan, true),
            Some(SecretSource::Env(CLUSTER_SECRET_ENV.into()))
        );
        let mut named = plan.clone();
        named.secret = Some(SecretSource::File("/etc/oryx/key".into()));
        assert_eq!(secret_source(&named, true), named.secret);
    }

    #[tokio::test]
    async fn outside_pod_mode_addresses_are_untouched() {
        // This test process never enters pod mode.
        let addr: SocketAddr = "127.0.0.1:19350".parse().unwrap();
        assert_eq!(listen_addr(addr), addr);
        assert_eq!(authority(addr), "127.0.0.1:19350");
        assert_eq!(dial_addr(addr).await.unwrap(), addr);
    }

    #[tokio::test]
    async fn a_name_that_does_not_resolve_is_a_clear_error() {
        let err = resolve("no-such-pod.oryx.invalid", 1935).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("no-such-pod.oryx.invalid:1935 does not resolve"),
            "{err}"
        );
    }
}
