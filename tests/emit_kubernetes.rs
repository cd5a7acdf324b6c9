//! `oryx plan FILE --emit kubernetes`: deterministic manifests for every example topology, pinned
//! by snapshots and checked against the Kubernetes schemas by the PyPI package
//! `kubernetes-validate` (installed by scripts/test into target/tools/kubernetes-validate).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

const EXAMPLES: &[(&str, Option<&str>)] = &[
    ("single", None),
    ("cluster", None),
    ("https", None),
    ("external", None),
    ("processing", None),
    ("environments", Some("prod")),
    ("multi-host", None),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn emit(name: &str, env: Option<&str>) -> String {
    let file = format!("examples/configs/{name}.kdl");
    let mut args = vec!["plan", &file, "--emit", "kubernetes"];
    if let Some(env) = env {
        args.extend(["--env", env]);
    }
    let (status, stdout, stderr) = common::cli::oryx(root(), &args);
    assert_eq!(status, 0, "{name}: {stderr}");
    stdout
}

fn validator() -> PathBuf {
    let dir = root().join("target/tools/kubernetes-validate");
    assert!(
        dir.join("kubernetes_validate").is_dir(),
        "kubernetes-validate is missing: run scripts/test, or `python3 -m pip install --target \
         target/tools/kubernetes-validate kubernetes-validate`"
    );
    dir
}

#[test]
fn manifests_are_deterministic_and_pinned() {
    for (name, env) in EXAMPLES {
        let yaml = emit(name, *env);
        assert_eq!(yaml, emit(name, *env), "{name}: same file, same bytes");
        insta::assert_snapshot!(format!("kubernetes-{name}"), yaml);
    }
}

#[test]
fn manifests_pass_the_kubernetes_schemas() {
    let path = validator();
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (name, env) in EXAMPLES {
        let file = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&file, emit(name, *env)).unwrap();
        files.push(file);
    }
    let output = Command::new("python3")
        .args(["-m", "kubernetes_validate", "--strict"])
        .args(&files)
        .env("PYTHONPATH", &path)
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    // Every object was checked: a worker group's StatefulSet, the LBs' Deployments and Services.
    let passed = stdout.lines().filter(|l| l.contains(" passed ")).count();
    assert!(passed >= 20, "{stdout}");
    assert!(stdout.contains("statefulset/worker-edge"), "{stdout}");
    assert!(stdout.contains("deployment/rtmp-lb"), "{stdout}");
    assert!(
        !stdout.contains("failed") && !stderr.contains("ERROR"),
        "{stdout}\n{stderr}"
    );
}

#[test]
fn the_schema_check_catches_a_broken_manifest() {
    let path = validator();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    let yaml = emit("single", None).replacen("replicas: 1", "replicas: \"one\"", 1);
    std::fs::write(&file, yaml).unwrap();
    let output = Command::new("python3")
        .args(["-m", "kubernetes_validate", "--strict", "--quiet"])
        .arg(&file)
        .env("PYTHONPATH", &path)
        .output()
        .expect("run python3");
    assert!(!output.status.success(), "a string replica count must fail");
}

#[test]
fn the_cluster_secret_is_a_secret_reference_never_a_value() {
    let yaml = emit("multi-host", None);
    assert!(yaml.contains("secretKeyRef:"), "{yaml}");
    assert!(yaml.contains("name: \"ORYX_CLUSTER_SECRET\""), "{yaml}");
    assert!(!yaml.contains("kind: \"Secret\""), "{yaml}");
    // Pods derive their control secret from the cluster secret as hosts do: never the raw value
    // as the control secret, and a topology without `secret` reads ORYX_CLUSTER_SECRET.
    for (name, env) in EXAMPLES {
        let yaml = emit(name, *env);
        assert!(!yaml.contains("ORYX_CONTROL_SECRET"), "{name}");
        assert!(yaml.contains("name: \"ORYX_CLUSTER_SECRET\""), "{name}");
    }
    // Public listeners get a LoadBalancer, the loopback api-lb a ClusterIP.
    assert!(yaml.contains("type: \"LoadBalancer\""));
    assert!(yaml.contains("type: \"ClusterIP\""));
}

#[test]
fn webrtc_worker_pods_learn_their_pod_ip() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("webrtc.kdl");
    std::fs::write(
        &file,
        "oryx 1\nworker \"live\" count=2 { webrtc; }\nhttp-lb listen=\"0.0.0.0:8080\"\n",
    )
    .unwrap();
    let (status, yaml, stderr) = common::cli::oryx(
        root(),
        &["plan", file.to_str().unwrap(), "--emit", "kubernetes"],
    );
    assert_eq!(status, 0, "{stderr}");
    // The downward API gives each worker pod its own IP, the candidate it announces.
    let pod_ip = "- name: \"ORYX_POD_IP\"\n              valueFrom:\n                fieldRef:\n                  fieldPath: \"status.podIP\"";
    assert_eq!(yaml.matches(pod_ip).count(), 1, "{yaml}");
    assert!(yaml.contains("name: \"worker-live-webrtc\""), "{yaml}");
    // Only worker pods with WebRTC: the http-lb has no use for it.
    let lb = &yaml[yaml.find("name: \"http-lb\"").unwrap()..];
    assert!(!lb.contains("ORYX_POD_IP"), "{yaml}");
    let output = Command::new("python3")
        .args(["-m", "kubernetes_validate", "--strict"])
        .arg(
            std::fs::write(dir.path().join("w.yaml"), &yaml)
                .map(|_| dir.path().join("w.yaml"))
                .unwrap(),
        )
        .env("PYTHONPATH", validator())
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}
