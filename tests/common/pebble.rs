//! pebble (a test ACME server) and challtestsrv as started by `scripts/pebble-up`, and HTTPS fetches
//! verified against its roots.

use super::http::curl;
use oryx::compile::plan::{AcmeChallenge, AcmePlan, CertSource};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// pebble and challtestsrv, killed by pid when dropped.
pub struct Pebble {
    pub directory: String,
    pub ca_pem: String,
    pub roots_url: String,
    pub log: PathBuf,
    pids: Vec<i32>,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        // Only the two processes pebble-up reported starting.
        for pid in &self.pids {
            unsafe {
                libc::kill(*pid, libc::SIGKILL);
            }
        }
    }
}

impl Pebble {
    /// pebble validating TLS-ALPN-01 on `tls_alpn_port` and HTTP-01 on `http01_port`.
    pub fn start(dir: &Path, tls_alpn_port: u16, http01_port: u16) -> Pebble {
        Pebble::start_with_validity(dir, tls_alpn_port, http01_port, None)
    }

    /// Certificates for `oryx.test` (contact `admin@oryx.test`) ordered from this pebble with
    /// `challenge`, cached in `DIR/acme-cache`.
    pub fn certs(&self, challenge: AcmeChallenge, dir: &Path) -> CertSource {
        CertSource::Acme(AcmePlan {
            domains: vec!["oryx.test".into()],
            contacts: vec!["admin@oryx.test".into()],
            directory: self.directory.clone(),
            directory_ca: Some(self.ca_pem.clone()),
            challenge,
            cache: dir.join("acme-cache").display().to_string(),
        })
    }

    /// `validity_secs`: the lifetime of issued certificates (pebble's default is five years).
    pub fn start_with_validity(
        dir: &Path,
        tls_alpn_port: u16,
        http01_port: u16,
        validity_secs: Option<u32>,
    ) -> Pebble {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pebble-up");
        let mut command = Command::new(script);
        match validity_secs {
            Some(secs) => command.env("PEBBLE_CERT_VALIDITY", secs.to_string()),
            None => command.env_remove("PEBBLE_CERT_VALIDITY"),
        };
        let out = command
            .arg(dir)
            .arg(tls_alpn_port.to_string())
            .arg(http01_port.to_string())
            .output()
            .expect("scripts/pebble-up runs");
        assert!(
            out.status.success(),
            "pebble-up failed (is the pebble package installed?): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let vars: HashMap<String, String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
            .collect();
        Pebble {
            directory: vars["ACME_DIRECTORY"].clone(),
            ca_pem: vars["ACME_CA_PEM"].clone(),
            roots_url: vars["PEBBLE_ROOTS_URL"].clone(),
            log: PathBuf::from(&vars["PEBBLE_LOG"]),
            pids: vars["PEBBLE_PIDS"]
                .split_whitespace()
                .map(|pid| pid.parse().unwrap())
                .collect(),
        }
    }

    /// New orders pebble has received so far.
    pub fn orders(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains("POST /order-plz"))
            .count()
    }

    /// pebble's issuing root (a fresh one each run), written to `dir/issuing-root.pem`.
    pub fn issuing_root(&self, dir: &Path) -> PathBuf {
        let path = dir.join("issuing-root.pem");
        let out = curl(&[
            "--cacert",
            &self.ca_pem,
            "-o",
            path.to_str().unwrap(),
            &self.roots_url,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        path
    }
}

/// `curl --fail --cacert ROOT --resolve oryx.test:PORT:127.0.0.1 https://oryx.test:PORT/PATH`, retried
/// every 200 ms until it verifies and succeeds or `within` is over (then the test fails with curl's
/// error and `server_log()`); returns the body.
pub fn fetch_verified(
    root: &Path,
    port: u16,
    path: &str,
    within: Duration,
    server_log: impl Fn() -> String,
) -> String {
    let resolve = format!("oryx.test:{port}:127.0.0.1");
    let url = format!("https://oryx.test:{port}{path}");
    let deadline = Instant::now() + within;
    loop {
        let out = curl(&[
            "--fail",
            "--cacert",
            root.to_str().unwrap(),
            "--resolve",
            &resolve,
            &url,
        ]);
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout).into_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no verified answer from {url} in time: {}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            server_log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
