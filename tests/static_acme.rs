//! ACME against a real ACME server: pebble (started by `scripts/pebble-up`) issues a certificate for
//! `oryx.test` to the static role, curl verifies the chain against pebble's root, and a restart reuses
//! the cached certificate without a new order.

mod common;

use common::http::get_with_headers;
use common::net::{free_port, loopback};
use common::pebble::{fetch_verified, Pebble};
use common::static_role::*;
use oryx::compile::plan::{AcmeChallenge, AcmePlan, CertSource, StaticPlan, TlsPlan};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

fn acme_plan(
    dir: &Path,
    pebble: &Pebble,
    tls_port: u16,
    http_port: u16,
    challenge: AcmeChallenge,
) -> StaticPlan {
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("index.html"), "hello from oryx over ACME\n").unwrap();
    let mut plan = site_plan(&root);
    plan.listen = Some(loopback(http_port));
    plan.tls = Some(TlsPlan {
        listen: loopback(tls_port),
        certs: pebble.certs(challenge, dir),
    });
    plan
}

fn assert_cache_private(dir: &Path) {
    let cache = dir.join("acme-cache");
    assert_eq!(std::fs::metadata(&cache).unwrap().mode() & 0o777, 0o700);
    let mut files = 0;
    for entry in std::fs::read_dir(&cache).unwrap() {
        let entry = entry.unwrap();
        assert_eq!(
            entry.metadata().unwrap().mode() & 0o777,
            0o600,
            "{}",
            entry.path().display()
        );
        files += 1;
    }
    assert_eq!(files, 2, "an account key and a certificate");
}

#[test]
fn tls_alpn_01_certificate_is_issued_then_reused_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (tls_port, http_port) = (free_port(), free_port());
    let pebble = Pebble::start(&dir.path().join("pebble"), tls_port, http_port);
    let plan = acme_plan(
        dir.path(),
        &pebble,
        tls_port,
        http_port,
        AcmeChallenge::TlsAlpn01,
    );
    let root = pebble.issuing_root(dir.path());

    let role = Role::start(dir.path(), plan.clone());
    let body = fetch_verified(&root, role.tls_port(), "/", Duration::from_secs(20), || {
        role.log_text()
    });
    assert_eq!(body, "hello from oryx over ACME\n");
    assert_eq!(pebble.orders(), 1);
    assert_cache_private(dir.path());
    let status =
        get_with_headers(role.plan.control, "/api/v1/tls", &[common::control::AUTH]).unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.body).unwrap();
    assert_eq!(status["source"], "acme");
    assert_eq!(status["state"], "ready");
    assert_eq!(status["deployed"], 1);
    assert_eq!(status["names"][0], "oryx.test");
    role.stop();

    let role = Role::start(dir.path(), plan);
    let body = fetch_verified(&root, role.tls_port(), "/", Duration::from_secs(5), || {
        role.log_text()
    });
    assert_eq!(body, "hello from oryx over ACME\n");
    assert!(
        role.log_text().contains("loaded from the cache"),
        "{}",
        role.log_text()
    );
    assert_eq!(pebble.orders(), 1, "a restart must not order again");
}

#[test]
fn http_01_is_answered_on_the_plain_listener_even_when_it_redirects() {
    let dir = tempfile::tempdir().unwrap();
    let (tls_port, http_port) = (free_port(), free_port());
    let pebble = Pebble::start(&dir.path().join("pebble"), tls_port, http_port);
    let mut plan = acme_plan(
        dir.path(),
        &pebble,
        tls_port,
        http_port,
        AcmeChallenge::Http01,
    );
    plan.redirect_https = true;
    let root = pebble.issuing_root(dir.path());

    let role = Role::start(dir.path(), plan);
    let body = fetch_verified(&root, role.tls_port(), "/", Duration::from_secs(20), || {
        role.log_text()
    });
    assert_eq!(body, "hello from oryx over ACME\n");
    assert!(
        role.log_text().contains("HTTP-01 validation"),
        "{}",
        role.log_text()
    );
    let resp = get_with_headers(role.http(), "/", &[("Host", "oryx.test")]).unwrap();
    assert_eq!(resp.status, 308);
    let expected = format!("https://oryx.test:{tls_port}/");
    assert_eq!(resp.header("location"), Some(expected.as_str()));
}

#[test]
fn certificates_are_renewed_before_they_expire() {
    let dir = tempfile::tempdir().unwrap();
    let (tls_port, http_port) = (free_port(), free_port());
    // Renewal starts when a third of the lifetime is left: about 6 s after issuance here.
    let pebble =
        Pebble::start_with_validity(&dir.path().join("pebble"), tls_port, http_port, Some(9));
    let plan = acme_plan(
        dir.path(),
        &pebble,
        tls_port,
        http_port,
        AcmeChallenge::TlsAlpn01,
    );
    let root = pebble.issuing_root(dir.path());
    let role = Role::start(dir.path(), plan);
    fetch_verified(&root, role.tls_port(), "/", Duration::from_secs(20), || {
        role.log_text()
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while role.log_text().matches("obtained and deployed").count() < 2 {
        assert!(
            Instant::now() < deadline,
            "no renewal in time; role log:\n{}",
            role.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(pebble.orders() >= 2);
    // The renewed certificate is the one served now, and it verifies.
    let body = fetch_verified(&root, role.tls_port(), "/", Duration::from_secs(5), || {
        role.log_text()
    });
    assert_eq!(body, "hello from oryx over ACME\n");
}

#[test]
fn an_unreachable_acme_server_is_reported_while_the_site_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("index.html"), "plain still works\n").unwrap();
    let mut plan = site_plan(&root);
    plan.tls = Some(TlsPlan {
        listen: loopback(free_port()),
        certs: CertSource::Acme(AcmePlan {
            domains: vec!["oryx.test".into()],
            contacts: Vec::new(),
            directory: format!("https://127.0.0.1:{}/dir", free_port()),
            directory_ca: None,
            challenge: AcmeChallenge::TlsAlpn01,
            cache: dir.path().join("acme-cache").display().to_string(),
        }),
    });
    let role = Role::start(dir.path(), plan);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        let resp =
            get_with_headers(role.plan.control, "/api/v1/tls", &[common::control::AUTH]).unwrap();
        let status: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
        if !status["last_error"].is_null() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "no ACME error reported: {status}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status["state"], "pending");
    let resp = get_with_headers(role.http(), "/", &[]).unwrap();
    assert_eq!(resp.text(), "plain still works\n");
}
