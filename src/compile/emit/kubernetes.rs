//! `oryx plan FILE --emit kubernetes`: the plan as Kubernetes manifests. Hosts become pods: a
//! StatefulSet per worker group (stable pod names `worker-GROUP-N` keep the routing stable) with a
//! headless Service, a Deployment and a Service per LB and static site, a Deployment per ingest, the
//! topology in a ConfigMap every pod compiles (same file, same digest), probes on each role's
//! control API, a preStop that lets the endpoints go before the shell's drain, resource requests,
//! and the cluster secret as a Secret reference. Deterministic: same plan, same bytes
//! (docs/kubernetes.md).

use super::super::plan::{LbPlan, Plan, SecretSource, WorkerPlan};
use super::yaml;
use serde_json::{json, Map, Value};
use std::net::SocketAddr;

/// The image the manifests run; override it with kustomize's `images:` or `kubectl set image`.
pub const IMAGE: &str = "oryx:latest";
/// The Secret the manifests read (`kubectl create secret generic oryx --from-literal=…`).
pub const SECRET_NAME: &str = "oryx";
pub const SECRET_KEY: &str = "cluster-secret";
/// The pod's IP (downward API `status.podIP`), given to worker pods with `webrtc`: the ICE candidate
/// a pod announces when the topology configures none (`worker/webrtc/candidates.rs`).
pub const POD_IP_ENV: &str = "ORYX_POD_IP";
/// Where a pod reads the cluster secret when the topology names none (the same name as
/// `net::pod::CLUSTER_SECRET_ENV`: compile/ sits below net/).
pub const CLUSTER_SECRET_ENV: &str = "ORYX_CLUSTER_SECRET";
const CONFIG_MAP: &str = "oryx-topology";
const TOPOLOGY_DIR: &str = "/etc/oryx";
const TOPOLOGY_KEY: &str = "topology.kdl";
const RUN_DIR: &str = "/run/oryx";

/// Every manifest, as one YAML stream.
pub fn manifests(plan: &Plan, topology: &str, env: Option<&str>) -> String {
    let mut docs = vec![config_map(topology)];
    for (group, instances) in worker_groups(plan) {
        docs.extend(worker_group(plan, &group, &instances, env));
    }
    for (role, lb) in [
        ("rtmp-lb", &plan.rtmp_lb),
        ("http-lb", &plan.http_lb),
        ("api-lb", &plan.api_lb),
        ("srt-lb", &plan.srt_lb),
    ] {
        if let Some(lb) = lb {
            docs.extend(lb_workload(plan, role, lb, env));
        }
    }
    for site in &plan.statics {
        let name = dns_name(&format!("static-{}", site.name));
        let mut ports = vec![port("control", site.control, "TCP")];
        ports.extend(site.listen.map(|l| port("http", l, "TCP")));
        ports.extend(site.tls.as_ref().map(|t| port("https", t.listen, "TCP")));
        let public = public_ports(
            &ports[1..],
            [site.listen, site.tls.as_ref().map(|t| t.listen)],
        );
        docs.push(deployment(plan, &name, "static", &ports, env));
        docs.push(service(&name, "static", &public, ServiceKind::Public));
    }
    for ingest in &plan.ingests {
        let name = dns_name(&format!("ingest-{}", ingest.name));
        let ports = [port("control", ingest.control, "TCP")];
        docs.push(deployment(plan, &name, "ingest", &ports, env));
    }
    yaml::stream(&docs)
}

/// Worker groups in plan order with their instances.
fn worker_groups(plan: &Plan) -> Vec<(String, Vec<&WorkerPlan>)> {
    let mut groups: Vec<(String, Vec<&WorkerPlan>)> = Vec::new();
    for worker in &plan.workers {
        match groups.iter_mut().find(|(g, _)| *g == worker.group) {
            Some((_, list)) => list.push(worker),
            None => groups.push((worker.group.clone(), vec![worker])),
        }
    }
    groups
}

/// A Kubernetes object name: lowercase letters, digits and `-` (RFC 1123), at most 52 characters
/// so a StatefulSet's pods and revisions stay within the label limit.
pub fn dns_name(name: &str) -> String {
    let mapped: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let trimmed: String = mapped.trim_matches('-').chars().take(52).collect();
    trimmed.trim_end_matches('-').to_string()
}

fn config_map(topology: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(CONFIG_MAP, "topology"),
        "data": { TOPOLOGY_KEY: topology },
    })
}

fn labels(name: &str, component: &str) -> Value {
    json!({
        "app.kubernetes.io/name": "oryx",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/component": component,
    })
}

fn selector(name: &str) -> Value {
    json!({ "app.kubernetes.io/name": "oryx", "app.kubernetes.io/instance": name })
}

fn metadata(name: &str, component: &str) -> Value {
    json!({ "name": name, "labels": labels(name, component) })
}

fn port(name: &str, addr: SocketAddr, protocol: &str) -> Value {
    json!({ "name": name, "containerPort": addr.port(), "protocol": protocol })
}

/// The container ports that face clients (not loopback-only listeners).
fn public_ports(ports: &[Value], addrs: [Option<SocketAddr>; 2]) -> Vec<Value> {
    let public: Vec<u16> = addrs
        .into_iter()
        .flatten()
        .filter(|a| !a.ip().is_loopback())
        .map(|a| a.port())
        .collect();
    ports
        .iter()
        .filter(|p| {
            p["containerPort"]
                .as_u64()
                .is_some_and(|n| public.contains(&(n as u16)))
        })
        .cloned()
        .collect()
}

fn worker_group(
    plan: &Plan,
    group: &str,
    instances: &[&WorkerPlan],
    env: Option<&str>,
) -> Vec<Value> {
    let name = dns_name(&format!("worker-{group}"));
    // Each pod is a host of its own, so every instance takes the first worker ports of the pool
    // (what per-host allocation gives the first worker of a host).
    let first = &plan.workers[0];
    let model = instances[0];
    let mut ports = vec![
        port("rtmp", first.rtmp, "TCP"),
        port("http", first.http, "TCP"),
        port("control", first.control, "TCP"),
    ];
    if let Some(srt) = &model.srt {
        ports.push(port("srt", srt.listen, "UDP"));
    }
    if let Some(webrtc) = &model.webrtc {
        ports.push(port("webrtc", webrtc.udp, "UDP"));
    }
    let pod = pod_spec(plan, &name, "worker", &ports, env, true);
    let set = json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(&name, "worker"),
        "spec": {
            "serviceName": name,
            "replicas": instances.len(),
            "podManagementPolicy": "Parallel",
            "selector": { "matchLabels": selector(&name) },
            "template": pod,
        },
    });
    let mut docs = vec![set, service(&name, "worker", &ports, ServiceKind::Headless)];
    let udp: Vec<Value> = ports
        .iter()
        .filter(|p| p["name"] == "webrtc")
        .cloned()
        .collect();
    if !udp.is_empty() {
        let public = format!("{name}-webrtc");
        docs.push(service_selecting(
            &public,
            &name,
            "worker",
            &udp,
            ServiceKind::Public,
        ));
    }
    docs
}

fn lb_workload(plan: &Plan, role: &str, lb: &LbPlan, env: Option<&str>) -> Vec<Value> {
    let protocol = if role == "srt-lb" { "UDP" } else { "TCP" };
    let listen_name = match role {
        "rtmp-lb" => "rtmp",
        "srt-lb" => "srt",
        _ => "http",
    };
    let mut ports = vec![
        port("control", lb.control, "TCP"),
        port(listen_name, lb.listen, protocol),
    ];
    ports.extend(lb.tls.as_ref().map(|t| port("rtmps", t.listen, "TCP")));
    let public = public_ports(
        &ports[1..],
        [Some(lb.listen), lb.tls.as_ref().map(|t| t.listen)],
    );
    let kind = if public.is_empty() {
        ServiceKind::Cluster
    } else {
        ServiceKind::Public
    };
    let exposed = if public.is_empty() {
        ports[1..].to_vec()
    } else {
        public
    };
    vec![
        deployment(plan, role, role, &ports, env),
        service(role, role, &exposed, kind),
    ]
}

fn deployment(
    plan: &Plan,
    name: &str,
    component: &str,
    ports: &[Value],
    env: Option<&str>,
) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(name, component),
        "spec": {
            "replicas": 1,
            "selector": { "matchLabels": selector(name) },
            "template": pod_spec(plan, name, component, ports, env, false),
        },
    })
}

#[derive(Clone, Copy)]
enum ServiceKind {
    /// `clusterIP: None`: one DNS name per pod (`worker-edge-3.worker-edge`).
    Headless,
    /// Reached inside the cluster only.
    Cluster,
    /// A public listener: `type: LoadBalancer`.
    Public,
}

fn service(name: &str, component: &str, ports: &[Value], kind: ServiceKind) -> Value {
    service_selecting(name, name, component, ports, kind)
}

fn service_selecting(
    name: &str,
    target: &str,
    component: &str,
    ports: &[Value],
    kind: ServiceKind,
) -> Value {
    let ports: Vec<Value> = ports
        .iter()
        .map(|p| {
            json!({
                "name": p["name"],
                "port": p["containerPort"],
                "targetPort": p["name"],
                "protocol": p["protocol"],
            })
        })
        .collect();
    let mut spec = Map::new();
    spec.insert("selector".into(), selector(target));
    spec.insert("ports".into(), Value::Array(ports));
    match kind {
        ServiceKind::Headless => {
            spec.insert("clusterIP".into(), json!("None"));
            // Peers resolve a pod before it is ready (an origin's edges, the LBs' health checks).
            spec.insert("publishNotReadyAddresses".into(), json!(true));
        }
        ServiceKind::Cluster => {
            spec.insert("type".into(), json!("ClusterIP"));
        }
        ServiceKind::Public => {
            spec.insert("type".into(), json!("LoadBalancer"));
            // Keep the client's address (the LBs log it and pass it on as PROXY v2).
            spec.insert("externalTrafficPolicy".into(), json!("Local"));
        }
    }
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(name, component),
        "spec": spec,
    })
}

/// The pod: one container running `oryx up` on the topology for this pod's host.
fn pod_spec(
    plan: &Plan,
    name: &str,
    component: &str,
    ports: &[Value],
    env: Option<&str>,
    stateful: bool,
) -> Value {
    let mut args = vec![
        json!("up"),
        json!(format!("{TOPOLOGY_DIR}/{TOPOLOGY_KEY}")),
        json!("--run-dir"),
        json!(RUN_DIR),
        json!("--host"),
        json!("$(ORYX_HOST)"),
    ];
    if let Some(env) = env {
        args.extend([json!("--env"), json!(env)]);
    }
    // A StatefulSet pod's host is its own name (`worker-edge-3`); a Deployment's, the Deployment's.
    let host = if stateful {
        json!({ "name": "ORYX_HOST", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } })
    } else {
        json!({ "name": "ORYX_HOST", "value": name })
    };
    let secret_ref = json!({ "secretKeyRef": { "name": SECRET_NAME, "key": SECRET_KEY } });
    // The cluster secret only: every pod derives its control secret from it, as hosts do
    // (`crate::net::pod::secret_source`; a topology without `secret` reads ORYX_CLUSTER_SECRET).
    let mut env_vars = vec![host];
    if ports.iter().any(|p| p["name"] == "webrtc") {
        env_vars.push(json!({
            "name": POD_IP_ENV,
            "valueFrom": { "fieldRef": { "fieldPath": "status.podIP" } },
        }));
    }
    let mut mounts = vec![
        json!({ "name": "topology", "mountPath": TOPOLOGY_DIR, "readOnly": true }),
        json!({ "name": "run", "mountPath": RUN_DIR }),
    ];
    let mut volumes = vec![
        json!({ "name": "topology", "configMap": { "name": CONFIG_MAP } }),
        json!({ "name": "run", "emptyDir": {} }),
    ];
    let default = SecretSource::Env(CLUSTER_SECRET_ENV.into());
    match plan.secret.as_ref().unwrap_or(&default) {
        SecretSource::Env(var) => {
            env_vars.push(json!({ "name": var, "valueFrom": secret_ref }));
        }
        SecretSource::File(path) => {
            let path = std::path::Path::new(path);
            let dir = path
                .parent()
                .map_or("/".into(), |p| p.display().to_string());
            let file = path
                .file_name()
                .map_or("secret".into(), |f| f.to_string_lossy().into_owned());
            mounts.push(json!({ "name": "cluster-secret", "mountPath": dir, "readOnly": true }));
            volumes.push(json!({ "name": "cluster-secret", "secret": {
                "secretName": SECRET_NAME,
                "items": [{ "key": SECRET_KEY, "path": file }],
                "defaultMode": 0o400,
            }}));
        }
    }
    let probe = |path: &str, period: u64, failures: u64| {
        json!({
            "httpGet": { "path": path, "port": "control" },
            "periodSeconds": period,
            "failureThreshold": failures,
        })
    };
    json!({
        "metadata": { "labels": labels(name, component) },
        "spec": {
            // The shell's drain (3 s per role inside its 5 s grace) fits with room to spare.
            "terminationGracePeriodSeconds": 15,
            "containers": [{
                "name": "oryx",
                "image": IMAGE,
                "command": ["oryx"],
                "args": args,
                "env": env_vars,
                "ports": ports,
                "readinessProbe": probe("/readyz", 2, 3),
                "livenessProbe": probe("/healthz", 10, 3),
                // Leave the Service's endpoints before SIGTERM starts the drain, so no new
                // client is sent to a pod that is stopping.
                "lifecycle": { "preStop": { "exec": { "command": ["sleep", "5"] } } },
                "resources": { "requests": requests(component) },
                "volumeMounts": mounts,
            }],
            "volumes": volumes,
        },
    })
}

/// What each kind of role asks for: a worker is one busy thread; the LBs relay or hand off.
fn requests(component: &str) -> Value {
    let (cpu, memory) = match component {
        "worker" => ("1", "512Mi"),
        "rtmp-lb" | "http-lb" | "srt-lb" => ("500m", "128Mi"),
        "ingest" => ("250m", "256Mi"),
        _ => ("100m", "64Mi"),
    };
    json!({ "cpu": cpu, "memory": memory })
}
