//! The static role under test: its plan written as JSON on free ports, and the role process.

use super::http::get_with_headers;
use super::net::{free_port, loopback};
use super::process::ChildGuard;
use oryx::compile::plan::{CertSource, Plan, PortRange, StaticPlan, TlsPlan};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A static site plan with a plain listener, no TLS, no proxies, on free ports.
pub fn site_plan(root: &Path) -> StaticPlan {
    StaticPlan {
        name: "site".into(),
        root: root.display().to_string(),
        listen: Some(loopback(free_port())),
        tls: None,
        host: None,
        redirect_https: false,
        directory_listing: false,
        proxies: Vec::new(),
        control: loopback(free_port()),
    }
}

pub fn tls_on_free_port(certs: CertSource) -> TlsPlan {
    TlsPlan {
        listen: loopback(free_port()),
        certs,
    }
}

/// Write a whole plan holding just `plan` as JSON into `dir`; returns its path.
pub fn write_plan(dir: &Path, plan: &StaticPlan) -> PathBuf {
    let whole = Plan {
        srt_lb: None,
        hosts: Vec::new(),
        secret: None,
        version: 1,
        env: None,
        ports: PortRange {
            from: 20000,
            to: 20100,
        },
        shell_control: loopback(free_port()),
        workers: Vec::new(),
        rtmp_lb: None,
        http_lb: None,
        api_lb: None,
        statics: vec![plan.clone()],
        ingests: Vec::new(),
    };
    let plan_path = dir.join(format!("plan-{}.json", free_port()));
    std::fs::write(&plan_path, serde_json::to_string_pretty(&whole).unwrap()).unwrap();
    plan_path
}

/// The static role process; killed when dropped.
pub struct Role {
    child: ChildGuard,
    pub plan: StaticPlan,
    pub log: PathBuf,
}

impl Role {
    /// Write the plan into `dir`, start `oryx role static NAME`, wait for `/readyz`.
    pub fn start(dir: &Path, plan: StaticPlan) -> Role {
        let role = Role::spawn(dir, plan);
        role.wait_ready();
        role
    }

    pub fn spawn(dir: &Path, plan: StaticPlan) -> Role {
        let plan_path = write_plan(dir, &plan);
        let log = dir.join(format!("role-{}.log", free_port()));
        let log_file = std::fs::File::create(&log).unwrap();
        let child = super::control::with_secret(&mut Command::new(env!("CARGO_BIN_EXE_oryx")))
            .args(["role", "static", &plan.name, "--plan"])
            .arg(&plan_path)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap();
        Role {
            child: ChildGuard(child),
            plan,
            log,
        }
    }

    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(resp) = get_with_headers(self.plan.control, "/readyz", &[]) {
                if resp.status == 200 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "static role not ready in time; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn http(&self) -> SocketAddr {
        self.plan.listen.expect("plain listener")
    }

    pub fn tls_port(&self) -> u16 {
        self.plan.tls.as_ref().expect("tls listener").listen.port()
    }

    /// Stop the process and wait for it (the cache must be flushed and ports free before a restart).
    pub fn stop(self) {
        drop(self.child);
    }
}
