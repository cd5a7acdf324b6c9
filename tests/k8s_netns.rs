//! Kubernetes without a cluster (issue 18): the manifests of `oryx plan FILE --emit kubernetes`
//! run as they are, one network namespace per pod on a bridge, each namespace with its own
//! `/etc/hosts` (`/etc/netns/NS/hosts`, what `ip netns exec` mounts over `/etc/hosts`) naming the
//! Services' DNS names the pods dial (`worker-origin-0.worker-origin`, `rtmp-lb`…). Each pod runs
//! its container's own command, args and env (`ORYX_HOST` from `metadata.name` or the
//! Deployment's name, the Secret's key for the secret variables). ffmpeg publishes through the
//! rtmp-lb pod; RTMP and HTTP-FLV players through the LB pods land on edge pods that pulled from
//! the origin pod by its DNS name; a PROXY v2 header without the credential is refused by a
//! worker pod, one with it is taken; an edge pod restarted with another address (its hosts
//! entries changed, as a pod IP changes) is found again by name and serves new players.
//! Its own file (its own process) because the namespaces' names come from the process id.

mod common;

use common::cluster::{make_media, oryx_bin, publish, Proc};
use common::control::{cluster_bearer, control, CLUSTER_ENV, CLUSTER_SECRET};
use common::http::http_with;
use common::media::{play_to_file, probe};
use common::netns::{available, Hosts};
use common::netns_oryx::entry;
use common::wait::expect_within;
use oryx::compile::plan::Plan;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const TOPOLOGY: &str = r#"oryx 1
secret env="ORYX_CLUSTER_SECRET"
worker "origin"
worker "edge" count=2 origin="origin" edge-share=1
rtmp-lb listen="0.0.0.0:1935"
http-lb listen="0.0.0.0:8080"
"#;

/// One pod of the manifests: its name, its Service DNS names, its container's command line and
/// environment as the kubelet would give them.
struct Pod {
    name: String,
    dns: Vec<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

/// The manifests as JSON documents, read by PyYAML (what `kubernetes-validate` of
/// tests/emit_kubernetes.rs reads them with; oryx itself only writes YAML).
fn documents(yaml: &str) -> Vec<Value> {
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tools/kubernetes-validate");
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import sys, json, yaml; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d]))",
        ])
        .env("PYTHONPATH", tools)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "PyYAML reads the manifests");
    serde_json::from_slice(&out.stdout).expect("JSON from PyYAML")
}

/// The pods the StatefulSets and Deployments make, with `$(VAR)` expanded as the kubelet does.
fn pods(docs: &[Value]) -> Vec<Pod> {
    let mut pods = Vec::new();
    for doc in docs {
        let kind = doc["kind"].as_str().unwrap_or_default();
        if kind != "StatefulSet" && kind != "Deployment" {
            continue;
        }
        let set = doc["metadata"]["name"].as_str().unwrap().to_string();
        let container = &doc["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["command"], serde_json::json!(["oryx"]));
        let replicas = doc["spec"]["replicas"].as_u64().unwrap_or(1);
        for n in 0..replicas {
            let (name, dns) = if kind == "StatefulSet" {
                let pod = format!("{set}-{n}");
                let service = doc["spec"]["serviceName"].as_str().unwrap();
                (pod.clone(), format!("{pod}.{service}"))
            } else {
                (set.clone(), set.clone())
            };
            let env: Vec<(String, String)> = container["env"]
                .as_array()
                .unwrap()
                .iter()
                .map(|var| {
                    let value = if let Some(value) = var["value"].as_str() {
                        value.to_string()
                    } else if var["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name" {
                        name.clone()
                    } else {
                        assert_eq!(var["valueFrom"]["secretKeyRef"]["name"], "oryx", "{var}");
                        // `kubectl create secret generic oryx --from-literal=cluster-secret=…`:
                        // the cluster secret, every pod's control secret derived from it.
                        assert_ne!(var["name"], "ORYX_CONTROL_SECRET", "never the raw value");
                        CLUSTER_SECRET.to_string()
                    };
                    (var["name"].as_str().unwrap().to_string(), value)
                })
                .collect();
            let args = container["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|arg| {
                    let mut arg = arg.as_str().unwrap().to_string();
                    for (var, value) in &env {
                        arg = arg.replace(&format!("$({var})"), value);
                    }
                    arg
                })
                .collect();
            let namespaced = format!("{dns}.default.svc.cluster.local");
            pods.push(Pod {
                name,
                dns: vec![dns, namespaced],
                args,
                env,
            });
        }
    }
    pods
}

/// The `/etc/netns/NS/` directories of the test's namespaces, removed on drop.
struct HostsFiles(Vec<PathBuf>);

impl HostsFiles {
    /// Every namespace's `/etc/hosts`: each pod's DNS names at its address.
    fn write(&mut self, hosts: &Hosts, pods: &[Pod], addresses: &[(String, Ipv4Addr)]) {
        let mut text = String::from("127.0.0.1 localhost\n");
        for pod in pods {
            let (_, address) = addresses.iter().find(|(n, _)| *n == pod.name).unwrap();
            text += &format!("{address} {}\n", pod.dns.join(" "));
        }
        for host in &hosts.hosts {
            let dir = PathBuf::from("/etc/netns").join(&host.ns);
            std::fs::create_dir_all(&dir).unwrap();
            if !self.0.contains(&dir) {
                self.0.push(dir.clone());
            }
            // Written in place: `ip netns exec` bind-mounts the file, so a new inode would not
            // reach the namespaces already running.
            std::fs::write(dir.join("hosts"), &text).unwrap();
        }
    }
}

impl Drop for HostsFiles {
    fn drop(&mut self) {
        for dir in &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Run `pod`'s command in its namespace, with the topology file and a run directory of the test
/// in place of the ConfigMap and the emptyDir.
fn start(hosts: &Hosts, pod: &Pod, file: &Path, dir: &Path) -> Proc {
    let mut command = hosts.host(&pod.name).command(&oryx_bin());
    let mut args = pod.args.clone();
    let topology = args.iter().position(|a| a == "up").unwrap() + 1;
    args[topology] = file.display().to_string();
    let run = args.iter().position(|a| a == "--run-dir").unwrap() + 1;
    args[run] = dir.join(format!("run-{}", pod.name)).display().to_string();
    command
        .args(&args)
        .env_remove("ORYX_CONTROL_SECRET")
        .env_remove(CLUSTER_ENV)
        .envs(pod.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("RUST_LOG", "info");
    Proc::spawn(command, dir.join(format!("{}.log", pod.name)))
}

/// The rtmp-lb pod's backend list (its control API listens on the pod's address in pod mode).
fn backends(control_addr: SocketAddr) -> Option<Value> {
    let (status, body) = control(control_addr, "GET", "/api/v1/backends").ok()?;
    (status == 200).then_some(())?;
    let value: Value = serde_json::from_str(&body).ok()?;
    Some(value["backends"].clone())
}

/// `live/NAME` on the API of the worker pod at `control`.
fn stream_entry(control_addr: SocketAddr, name: &str) -> Option<Value> {
    let (status, body) = control(control_addr, "GET", "/api/v1/streams").ok()?;
    (status == 200).then_some(())?;
    let value: Value = serde_json::from_str(&body).ok()?;
    value["streams"]
        .as_array()?
        .iter()
        .find(|s| s["app"] == "live" && s["name"] == name)
        .cloned()
}

/// Give the namespace of `ns` the address `new` in place of `old` (a pod rescheduled).
fn readdress(ns: &str, old: Ipv4Addr, new: Ipv4Addr) {
    let out = Command::new("ip")
        .args(["-n", ns, "-o", "-4", "addr", "show", "to", &old.to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let dev = text
        .split_whitespace()
        .nth(1)
        .expect("the pod's interface")
        .split('@')
        .next()
        .unwrap()
        .to_string();
    // Deleting the only (primary) address first: deleting a primary takes the subnet's secondary
    // addresses with it.
    for (verb, addr) in [("del", old), ("add", new)] {
        let status = Command::new("ip")
            .args(["-n", ns, "addr", verb, &format!("{addr}/24"), "dev", &dev])
            .status()
            .unwrap();
        assert!(status.success(), "ip addr {verb} {addr}");
    }
}

/// What a worker answers to `header` then an RTMP C0+C1: `Some(first byte)` or `None` (closed).
fn answer_to(addr: SocketAddr, header: &[u8]) -> Option<u8> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut hello = header.to_vec();
    hello.push(3);
    hello.extend_from_slice(&[0u8; 1536]);
    stream.write_all(&hello).ok()?;
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(1) => Some(byte[0]),
        _ => None,
    }
}

#[test]
fn the_emitted_pods_find_each_other_by_service_dns_names() {
    if !available() {
        crate::skipped!("needs root for network namespaces");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("topology.kdl");
    std::fs::write(&file, TOPOLOGY).unwrap();
    let plan: Plan = oryx::compile::compile_path(&file, None).expect("valid topology");
    let (status, yaml, stderr) = common::cli::oryx(
        dir.path(),
        &["plan", file.to_str().unwrap(), "--emit", "kubernetes"],
    );
    assert_eq!(status, 0, "{stderr}");
    let pods = pods(&documents(&yaml));
    let names: Vec<&str> = pods.iter().map(|p| p.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "http-lb",
            "rtmp-lb",
            "worker-edge-0",
            "worker-edge-1",
            "worker-origin-0"
        ]
    );
    let hosts = Hosts::new(&names);
    let mut addresses: Vec<(String, Ipv4Addr)> = hosts
        .hosts
        .iter()
        .map(|h| (h.name.clone(), h.address))
        .collect();
    let mut files = HostsFiles(Vec::new());
    files.write(&hosts, &pods, &addresses);
    let mut running: Vec<(String, Proc)> = pods
        .iter()
        .map(|pod| (pod.name.clone(), start(&hosts, pod, &file, dir.path())))
        .collect();

    // Every worker pod serves the ports of the pool's first worker, on its own address.
    let first = &plan.workers[0];
    let at = |pod: &str, port: u16, addresses: &[(String, Ipv4Addr)]| -> SocketAddr {
        let (_, ip) = addresses.iter().find(|(n, _)| n == pod).unwrap();
        SocketAddr::from((*ip, port))
    };
    let lb_control = at(
        "rtmp-lb",
        plan.rtmp_lb.as_ref().unwrap().control.port(),
        &addresses,
    );
    let workers = ["origin", "edge-0", "edge-1"];
    let all_healthy = |names: &[&str]| {
        let list = backends(lb_control)?;
        names
            .iter()
            .all(|n| entry(&list, n)["healthy"] == true)
            .then_some(())
    };
    expect_within(
        Duration::from_secs(60),
        "the rtmp-lb pod sees every worker pod healthy (by DNS name)",
        || all_healthy(&workers),
    );

    // The pods derive their control secret from the Secret's cluster secret, as hosts do: the
    // cluster secret itself is no credential.
    let with = |bearer: &str| {
        http_with(
            lb_control,
            "GET",
            "/api/v1/backends",
            &[("Authorization", bearer)],
        )
        .unwrap()
        .0
    };
    assert_eq!(
        with(&format!("Bearer {CLUSTER_SECRET}")),
        401,
        "the raw value"
    );
    assert_eq!(with(&cluster_bearer()), 200, "the derived control secret");

    // Published through the rtmp-lb pod: relayed (pods share no sockets) to the origin pod.
    let lb = hosts.host("rtmp-lb").address;
    let media = make_media(dir.path());
    let rtmp = format!("rtmp://{lb}:1935/live/cam");
    let _publisher = publish(&media, &rtmp, dir.path().join("publish.log"));
    let origin_control = at("worker-origin-0", first.control.port(), &addresses);
    expect_within(Duration::from_secs(20), "the origin pod publishes", || {
        backends(lb_control)
            .filter(|l| entry(l, "origin")["published"] == 1)
            .map(|_| ())
    });
    assert!(
        stream_entry(origin_control, "cam").is_some(),
        "on the origin's API"
    );

    // Players through the LB pods land on the edge pods, which pull from the origin by its name.
    let flv = format!("http://{}:8080/live/cam.flv", hosts.host("http-lb").address);
    let mut players: Vec<Proc> = (0..3)
        .map(|i| {
            std::thread::sleep(Duration::from_millis(700));
            play_to_file(
                &rtmp,
                &dir.path().join(format!("player-{i}.flv")),
                dir.path().join(format!("player-{i}.log")),
            )
        })
        .collect();
    let pulling = |edge: &str, addresses: &[(String, Ipv4Addr)]| {
        stream_entry(at(edge, first.control.port(), addresses), "cam")
            .filter(|s| s["edge"]["state"] == "pulling")
            .map(|_| ())
    };
    expect_within(Duration::from_secs(40), "both edge pods pulling", || {
        pulling("worker-edge-0", &addresses)?;
        pulling("worker-edge-1", &addresses)
    });
    assert!(probe(&rtmp), "RTMP through the rtmp-lb pod");
    assert!(probe(&flv), "HTTP-FLV through the http-lb pod");
    let origin_clients = stream_entry(origin_control, "cam").map(|s| s["clients"].clone());
    assert!(
        origin_clients.as_ref().and_then(Value::as_u64).unwrap_or(0) >= 3,
        "the origin pod feeds the publisher and both edges' pulls: {origin_clients:?}"
    );

    // An HTTP-FLV player's own address reaches the edge that serves it through the http-lb pod
    // (its X-Forwarded-For carries the LB's credential), as an RTMP player's does through PROXY v2.
    let me = {
        let o = hosts.host("rtmp-lb").address.octets();
        Ipv4Addr::new(o[0], o[1], o[2], 254).to_string()
    };
    let _flv_player = play_to_file(
        &flv,
        &dir.path().join("flv-player.flv"),
        dir.path().join("flv-player.log"),
    );
    expect_within(
        Duration::from_secs(20),
        "an edge pod lists the HTTP-FLV player by its own address",
        || {
            ["worker-edge-0", "worker-edge-1"].iter().find_map(|edge| {
                let api = at(edge, first.control.port(), &addresses);
                let (_, body) = control(api, "GET", "/api/v1/clients").ok()?;
                let value: Value = serde_json::from_str(&body).ok()?;
                value["clients"]
                    .as_array()?
                    .iter()
                    .any(|c| c["type"] == "flv-play" && c["ip"] == me.as_str())
                    .then_some(())
            })
        },
    );

    // Straight to a worker pod: a PROXY v2 header without the credential is refused; with it
    // (the control secret every pod derives from the cluster secret) the session goes on.
    let origin_rtmp = at("worker-origin-0", first.rtmp.port(), &addresses);
    let client: SocketAddr = "203.0.113.9:4000".parse().unwrap();
    let unsigned = oryx::proxy_protocol::encode(client, origin_rtmp);
    assert_eq!(
        answer_to(origin_rtmp, &unsigned),
        None,
        "unsigned header refused"
    );
    let now = oryx::net::pod::unix_now();
    let key = oryx::net::control_secret::Secret::derive(CLUSTER_SECRET.as_bytes());
    let signed =
        oryx::proxy_protocol::encode_signed(client, origin_rtmp, key.as_str().as_bytes(), now);
    assert_eq!(
        answer_to(origin_rtmp, &signed),
        Some(3),
        "signed header: S0"
    );
    assert_eq!(
        answer_to(origin_rtmp, &signed),
        None,
        "the same header replayed is refused"
    );
    let origin_log = running
        .iter()
        .find(|(n, _)| n == "worker-origin-0")
        .unwrap()
        .1
        .log_text();
    assert!(
        origin_log.contains("PROXY v2 header refused"),
        "the refusal is logged"
    );

    // worker-edge-1 rescheduled: stopped, a new address, its DNS entries changed everywhere.
    players.clear();
    let edge = "worker-edge-1";
    let position = running.iter().position(|(n, _)| n == edge).unwrap();
    drop(running.remove(position));
    expect_within(
        Duration::from_secs(20),
        "the rtmp-lb pod sees the stopped edge pod down",
        || {
            let list = backends(lb_control)?;
            (entry(&list, "edge-1")["healthy"] == false).then_some(())
        },
    );
    let host = hosts.host(edge);
    let old = host.address;
    let new = Ipv4Addr::new(old.octets()[0], old.octets()[1], old.octets()[2], 100);
    readdress(&host.ns, old, new);
    for (name, address) in addresses.iter_mut() {
        if name == edge {
            *address = new;
        }
    }
    files.write(&hosts, &pods, &addresses);
    let pod = pods.iter().find(|p| p.name == edge).unwrap();
    running.push((edge.to_string(), start(&hosts, pod, &file, dir.path())));
    expect_within(
        Duration::from_secs(60),
        "the rtmp-lb pod finds the restarted edge pod at its new address",
        || all_healthy(&workers),
    );
    // New players reach it (players spread over both edges again).
    let mut n = 0;
    expect_within(
        Duration::from_secs(60),
        "the restarted edge pod serves new players",
        || {
            if n < 8 {
                players.push(play_to_file(
                    &rtmp,
                    &dir.path().join(format!("again-{n}.flv")),
                    dir.path().join(format!("again-{n}.log")),
                ));
                n += 1;
            }
            std::thread::sleep(Duration::from_millis(500));
            pulling(edge, &addresses)
        },
    );
    assert!(probe(&rtmp), "RTMP after the move");
    assert!(probe(&flv), "HTTP-FLV after the move");
}
