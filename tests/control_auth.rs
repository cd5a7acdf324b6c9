//! The control plane needs the run's secret: an LB's `PUT /api/v1/backends`, a worker's API and
//! `/metrics`, the shell's `POST /reload` answer 401 without it (to curl, and to another local user
//! who cannot read the secret either), and work with it; `oryx reload` reads it from the run
//! directory; `/healthz` stays open and says nothing secret; no command line shows the secret; and
//! the secret is never sent to a control port another user has taken.

mod common;

use common::cluster::*;
use common::control::{as_nobody, curl_status, AUTH, ENV, FILE, SECRET};
use oryx::compile::plan::WorkerKind;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

fn curl() -> Command {
    Command::new("curl")
}

/// The names in an LB's `GET /api/v1/backends` answer (with the secret).
fn backend_names(lb: std::net::SocketAddr, bearer: &str) -> Vec<String> {
    let (status, body) = curl_status(
        curl(),
        "GET",
        &format!("http://{lb}/api/v1/backends"),
        None,
        &[&format!("Authorization: {bearer}")],
    );
    assert_eq!(status, 200, "{body}");
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    value["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn lb_and_worker_control_calls_need_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let w = worker("w", WorkerKind::Embedded, None);
    let mut plan = plan(vec![w.clone()]);
    plan.rtmp_lb = Some(lb(&plan.workers));
    let lb_plan = plan.rtmp_lb.clone().unwrap();
    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &plan);
    let _worker = worker_role(&plan_file, &w, dir.path());
    let _lb = role("rtmp-lb", &plan, lb_plan.control, dir.path());
    let bearer = format!("Bearer {SECRET}");
    let backends = format!("http://{}/api/v1/backends", lb_plan.control);

    // The attack of the issue: point the LB at nothing (or at our own listener).
    for headers in [
        &[][..],
        &["Authorization: Bearer wrong-secret-0123456789"][..],
    ] {
        let (status, body) = curl_status(curl(), "PUT", &backends, Some("[]"), headers);
        assert_eq!(status, 401, "PUT without the secret: {body}");
        assert!(body.contains("\"code\":401"), "{body}");
    }
    if let Some(nobody) = as_nobody("curl") {
        let (status, body) = curl_status(nobody, "PUT", &backends, Some("[]"), &[]);
        assert_eq!(status, 401, "PUT as another user: {body}");
    }
    assert_eq!(
        backend_names(lb_plan.control, &bearer),
        ["w"],
        "the set is untouched"
    );

    // A worker's stream list, metrics and kicks are control calls too, on both of its ports.
    for addr in [w.control, w.http] {
        for (method, path) in [
            ("GET", "/api/v1/published"),
            ("GET", "/api/v1/streams"),
            ("DELETE", "/api/v1/clients/1"),
        ] {
            let url = format!("http://{addr}{path}");
            let (status, body) = curl_status(curl(), method, &url, None, &[]);
            assert_eq!(status, 401, "{method} {url}: {body}");
        }
    }
    let metrics = format!("http://{}/metrics", w.control);
    assert_eq!(curl_status(curl(), "GET", &metrics, None, &[]).0, 401);
    let header = format!("{}: {}", AUTH.0, AUTH.1);
    assert_eq!(
        curl_status(curl(), "GET", &metrics, None, &[&header]).0,
        200
    );
    let published = format!("http://{}/api/v1/published", w.control);
    let (status, body) = curl_status(curl(), "GET", &published, None, &[&header]);
    assert_eq!((status, body.contains("streams")), (200, true), "{body}");

    // Health stays open and tells nothing secret.
    for addr in [w.control, lb_plan.control] {
        let (status, body) =
            curl_status(curl(), "GET", &format!("http://{addr}/healthz"), None, &[]);
        assert_eq!(status, 200, "{body}");
        assert!(!body.contains(SECRET), "{body}");
    }

    // With the secret, the call works: the set is replaced.
    let (status, body) = curl_status(curl(), "PUT", &backends, Some("[]"), &[&header]);
    assert_eq!(status, 200, "{body}");
    assert!(backend_names(lb_plan.control, &bearer).is_empty());
}

#[test]
fn the_shell_makes_a_private_secret_per_run_and_reload_needs_it() {
    let dir = tempfile::tempdir().unwrap();
    let w = worker("w", WorkerKind::Embedded, None);
    let mut plan = plan(vec![w.clone()]);
    plan.rtmp_lb = Some(lb(&plan.workers));
    let lb_control = plan.rtmp_lb.as_ref().unwrap().control;
    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &plan);
    let run_dir = dir.path().join("run");
    // No ORYX_CONTROL_SECRET: the shell makes one.
    let mut command = Command::new(oryx_bin());
    command
        .arg("up")
        .arg(&plan_file)
        .arg("--run-dir")
        .arg(&run_dir)
        .env_remove(ENV)
        .env("RUST_LOG", "info");
    let shell = Proc::spawn(command, dir.path().join("up.log"));
    let status = wait_all_ready(&plan, 2, Duration::from_secs(30));

    let file = run_dir.join(FILE);
    let secret = std::fs::read_to_string(&file).unwrap().trim().to_string();
    assert_eq!(secret.len(), 64, "32 random bytes in hex");
    assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()));
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(&run_dir), 0o700);
    let bearer = format!("Authorization: Bearer {secret}");

    // Handed to each role in its environment, never on a command line (`ps` shows those).
    let mut pids = vec![shell.pid()];
    pids.extend(
        status["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["pid"].as_i64().unwrap() as i32),
    );
    for pid in &pids {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        assert!(
            !String::from_utf8_lossy(&cmdline).contains(&secret),
            "pid {pid}"
        );
    }
    let role_env = std::fs::read(format!("/proc/{}/environ", pids[1])).unwrap();
    assert!(String::from_utf8_lossy(&role_env).contains(&secret));
    // A per-run secret: the roles take this one, not the tests' fixed one.
    let lb_backends = format!("http://{lb_control}/api/v1/backends");
    assert_eq!(
        curl_status(
            curl(),
            "GET",
            &lb_backends,
            None,
            &[&format!("{}: {}", AUTH.0, AUTH.1)]
        )
        .0,
        401
    );
    assert_eq!(
        curl_status(curl(), "GET", &lb_backends, None, &[&bearer]).0,
        200
    );

    let reload_url = format!("http://{}/reload", plan.shell_control);
    let (code, body) = curl_status(curl(), "POST", &reload_url, None, &[]);
    assert_eq!(code, 401, "reload without the secret: {body}");
    let (code, _) = curl_status(
        curl(),
        "POST",
        &reload_url,
        None,
        &["Authorization: Bearer 0123456789abcdef0123"],
    );
    assert_eq!(code, 401, "reload with a wrong secret");
    if let Some(mut nobody) = as_nobody("cat") {
        let out = nobody.arg(&file).output().unwrap();
        assert!(!out.status.success(), "another user reads the secret");
        let (code, _) = curl_status(as_nobody("curl").unwrap(), "POST", &reload_url, None, &[]);
        assert_eq!(code, 401);
        let out = as_nobody(oryx_bin().to_str().unwrap())
            .unwrap()
            .args(["reload", "--run-dir"])
            .arg(&run_dir)
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "another user's `oryx reload` must fail"
        );
    }

    let (code, body) = curl_status(curl(), "POST", &reload_url, None, &[&bearer]);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"ok\":true"), "{body}");
    let out = Command::new(oryx_bin())
        .args(["reload", "--run-dir"])
        .arg(&run_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("reloaded: plan"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Answers every GET with an empty published report and prints whether it came with a secret.
const CATCHER: &str = "import http.server, sys
class Catch(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        given = self.headers.get('Authorization')
        print('SECRET' if given else 'NONE', self.path, flush=True)
        body = b'{\"streams\":[]}'
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), Catch).serve_forever()
";

#[test]
fn the_secret_is_not_sent_to_a_port_another_user_holds() {
    let python = "/usr/bin/python3";
    if !std::path::Path::new(python).exists() {
        eprintln!("no {python}: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A worker that is down, and another user who bound its control port meanwhile.
    let w = worker("w", WorkerKind::Embedded, None);
    let Some(mut catcher) = as_nobody(python) else {
        return;
    };
    let catcher = Proc::spawn(
        {
            catcher
                .arg("-c")
                .arg(CATCHER)
                .arg(w.control.port().to_string());
            catcher
        },
        dir.path().join("catcher.log"),
    );
    wait_for(Duration::from_secs(10), "the other user's listener", || {
        std::net::TcpStream::connect(w.control).ok()
    });
    let mut plan = plan(vec![w.clone()]);
    plan.rtmp_lb = Some(lb(&plan.workers));
    let lb_plan = plan.rtmp_lb.clone().unwrap();
    let lb = role("rtmp-lb", &plan, lb_plan.control, dir.path());
    wait_for(Duration::from_secs(10), "the LB's refusal", || {
        lb.log_text()
            .contains(&format!("{} is held by uid 65534", w.control))
            .then_some(())
    });
    // The LB keeps polling; none of its calls reached the port with the secret.
    wait_for(Duration::from_secs(10), "three failed polls", || {
        let (_, body) = control(lb_plan.control, "GET", "/api/v1/backends").ok()?;
        let value: serde_json::Value = serde_json::from_str(&body).ok()?;
        (value["backends"][0]["failures"].as_u64()? >= 3).then_some(())
    });
    let caught = catcher.log_text();
    assert!(
        !caught.contains("SECRET"),
        "the secret went to another user: {caught}"
    );
    assert!(backend_names(lb_plan.control, &format!("Bearer {SECRET}")) == ["w"]);
    let (status, body) = control(lb_plan.control, "GET", "/api/v1/backends").unwrap();
    assert_eq!(status, 200);
    assert!(
        body.contains("\"healthy\":false"),
        "the taken port is not a healthy worker: {body}"
    );
}
