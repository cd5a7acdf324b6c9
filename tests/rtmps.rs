//! RTMPS at the rtmp-lb: TLS ends in the LB, which relays the plaintext to the worker.
//!
//! ffmpeg publishes over `rtmps://` (self-signed: Debian's ffmpeg does not verify by default) and
//! ffprobe plays the stream back over RTMPS and over plain RTMP on the LB's other port; garbage and
//! stalled handshakes at the RTMPS port are refused within the handshake deadline while other
//! clients play on; a certificate pebble issues to the LB verifies; a worker's `rtmps://` forward
//! reaches another rtmp-lb whose certificate only a private CA vouches for.

mod common;

use common::cluster::*;
use common::http::metric;
use common::media::probe_codecs;
use common::net::{free_port, loopback};
use common::pebble::Pebble;
use common::private_ca::PrivateCa;
use common::wait::expect_within;
use oryx::compile::plan::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One embedded worker behind an rtmp-lb whose RTMPS listener gets its certificates from `certs`.
struct Cluster {
    plan: Plan,
    _worker: Proc,
    lb: Proc,
}

impl Cluster {
    fn start(dir: &Path, certs: CertSource, tls_port: u16) -> Cluster {
        Cluster::start_with(dir, certs, tls_port, Vec::new())
    }

    /// With `statics` in the plan too (the LB reads them; the test starts them if it wants).
    fn start_with(
        dir: &Path,
        certs: CertSource,
        tls_port: u16,
        statics: Vec<StaticPlan>,
    ) -> Cluster {
        let mut w = worker("w", WorkerKind::Embedded, None);
        // As the compiler sets it for a worker behind an rtmp-lb: relayed clients keep their address.
        w.proxy_protocol = true;
        let mut plan = plan(vec![w.clone()]);
        let mut lb_plan = lb(&plan.workers);
        lb_plan.tls = Some(TlsPlan {
            listen: loopback(tls_port),
            certs,
        });
        plan.rtmp_lb = Some(lb_plan.clone());
        plan.statics = statics;
        let plan_file = dir.join("plan.json");
        write_plan(&plan_file, &plan);
        let worker = worker_role(&plan_file, &w, dir);
        let lb = role("rtmp-lb", &plan, lb_plan.control, dir);
        Cluster {
            plan,
            _worker: worker,
            lb,
        }
    }

    fn lb(&self) -> &LbPlan {
        self.plan.rtmp_lb.as_ref().unwrap()
    }

    fn rtmp(&self, path: &str) -> String {
        format!("rtmp://{}/{path}", self.lb().listen)
    }

    fn rtmps(&self, path: &str) -> String {
        let port = self.lb().tls.as_ref().unwrap().listen.port();
        format!("rtmps://127.0.0.1:{port}/{path}")
    }

    fn tls_port(&self) -> u16 {
        self.lb().tls.as_ref().unwrap().listen.port()
    }

    fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.lb.pid()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

fn self_signed() -> CertSource {
    CertSource::SelfSigned {
        names: vec!["localhost".into()],
    }
}

/// ffprobe reads h264 + aac from `url` (retried while the publisher starts).
fn expect_probe(url: &str) {
    expect_within(
        Duration::from_secs(40),
        &format!("ffprobe of {url}"),
        || (probe_codecs(url) == ["aac", "h264"]).then_some(()),
    );
}

#[test]
fn ffmpeg_publishes_and_plays_over_rtmps_beside_plain_rtmp() {
    let dir = tempfile::tempdir().unwrap();
    let media = make_media(dir.path());
    let cluster = Cluster::start(dir.path(), self_signed(), free_port());

    let _secure = publish(
        &media,
        &cluster.rtmps("live/secure"),
        dir.path().join("pub-secure.log"),
    );
    let _plain = publish(
        &media,
        &cluster.rtmp("live/plain"),
        dir.path().join("pub-plain.log"),
    );
    // Each stream plays over both ports: the RTMPS clients reach the publisher's worker.
    expect_probe(&cluster.rtmps("live/secure"));
    expect_probe(&cluster.rtmp("live/secure"));
    expect_probe(&cluster.rtmps("live/plain"));
    expect_probe(&cluster.rtmp("live/plain"));

    let (status, page) = control(cluster.lb().control, "GET", "/metrics").unwrap();
    assert_eq!(status, 200);
    let ok = metric(&page, "oryx_rtmp_lb_tls_handshakes_total{result=\"ok\"}");
    let relays = metric(&page, "oryx_rtmp_lb_relays_total{worker=\"w\"}");
    let handoffs = metric(&page, "oryx_rtmp_lb_handoffs_total{worker=\"w\"}");
    // A publisher and two probes over RTMPS, all relayed; the plain ones handed off.
    assert!(ok >= 3.0, "TLS handshakes: {ok}\n{page}");
    assert!(relays >= 3.0, "RTMPS clients are relayed: {relays}\n{page}");
    assert!(
        handoffs >= 3.0,
        "plain clients are handed off: {handoffs}\n{page}"
    );
    let (_, tls) = control(cluster.lb().control, "GET", "/api/v1/tls").unwrap();
    assert!(
        tls.contains("\"self-signed\"") && tls.contains("\"ready\""),
        "{tls}"
    );
}

#[test]
fn garbage_and_stalled_tls_handshakes_are_refused_and_others_play_on() {
    let dir = tempfile::tempdir().unwrap();
    let media = make_media(dir.path());
    let cluster = Cluster::start(dir.path(), self_signed(), free_port());
    let _publisher = publish(&media, &cluster.rtmps("live/s"), dir.path().join("pub.log"));
    expect_probe(&cluster.rtmps("live/s"));
    let rss_before = cluster.rss_kib();

    // Garbage instead of a ClientHello: closed at once.
    let mut garbage = TcpStream::connect(("127.0.0.1", cluster.tls_port())).unwrap();
    garbage
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let noise: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    let _ = garbage.write_all(&noise);
    let mut buf = [0u8; 4096];
    let mut answered = Vec::new();
    loop {
        match garbage.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answered.extend_from_slice(&buf[..n]),
            Err(err) => panic!("garbage was not refused within 5 s: {err}"),
        }
    }
    // At most a TLS alert came back, never RTMP.
    assert!(answered.len() < 64, "answered garbage with {answered:?}");

    // Many clients that send half a ClientHello and stall: each holds little, and the deadline
    // closes them.
    let half_hello = [
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    let stalled: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut conn = TcpStream::connect(("127.0.0.1", cluster.tls_port())).unwrap();
            conn.write_all(&half_hello).unwrap();
            conn
        })
        .collect();
    let started = Instant::now();
    // Others are served meanwhile.
    expect_probe(&cluster.rtmps("live/s"));
    expect_probe(&cluster.rtmp("live/s"));
    let grown = cluster.rss_kib().saturating_sub(rss_before);
    assert!(
        grown < 32 * 1024,
        "300 stalled handshakes grew the LB by {grown} KiB"
    );
    for mut conn in stalled {
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut byte = [0u8; 1];
        match conn.read(&mut byte) {
            Ok(0) | Err(_) => {}
            Ok(_) => panic!("a stalled handshake got an answer"),
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "stalled handshakes outlived the deadline"
    );
    // The LB counts a failed handshake just after it closes the socket: a client can see the close
    // before the count lands, so the count is awaited (bounded), not read once.
    let failed = "oryx_rtmp_lb_tls_handshakes_total{result=\"failed\"}";
    let mut page = String::new();
    let counted = common::wait::wait_for(Duration::from_secs(10), || {
        page = control(cluster.lb().control, "GET", "/metrics").ok()?.1;
        (metric(&page, failed) >= 301.0).then_some(())
    });
    assert!(counted.is_some(), "{page}");
    expect_probe(&cluster.rtmps("live/s"));
}

/// A rustls client that trusts only `root` completes a handshake with `oryx.test` on `port`.
fn verifies(root: &Path, port: u16) -> Result<(), String> {
    let pem = std::fs::read(root).map_err(|e| e.to_string())?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots
            .add(cert.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("oryx.test").unwrap();
    let mut session =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    while session.is_handshaking() {
        session
            .complete_io(&mut tcp)
            .map_err(|e| format!("handshake: {e}"))?;
    }
    Ok(())
}

#[test]
fn a_pebble_issued_certificate_verifies_on_the_rtmps_port() {
    let dir = tempfile::tempdir().unwrap();
    let tls_port = free_port();
    let pebble = Pebble::start(&dir.path().join("pebble"), tls_port, free_port());
    let certs = pebble.certs(AcmeChallenge::TlsAlpn01, dir.path());
    let cluster = Cluster::start(dir.path(), certs, tls_port);
    let root = pebble.issuing_root(dir.path());
    expect_within(
        Duration::from_secs(30),
        "a certificate that verifies against pebble's root",
        || verifies(&root, tls_port).ok(),
    );
    let (_, tls) = control(cluster.lb().control, "GET", "/api/v1/tls").unwrap();
    assert!(
        tls.contains("\"acme\"") && tls.contains("\"ready\""),
        "{tls}"
    );
    assert_eq!(pebble.orders(), 1);

    // ffmpeg verifies it too (pebble's DNS is not the system's: the host is checked by name).
    let media = make_media(dir.path());
    let _publisher = publish(
        &media,
        &cluster.rtmps("live/verified"),
        dir.path().join("pub.log"),
    );
    let url = cluster.rtmps("live/verified");
    expect_within(Duration::from_secs(40), "a verified ffprobe", || {
        let out = std::process::Command::new("timeout")
            .args([
                "20",
                "ffprobe",
                "-v",
                "error",
                "-tls_verify",
                "1",
                "-ca_file",
            ])
            .arg(&root)
            .args(["-verifyhost", "oryx.test"])
            .args(["-show_entries", "stream=codec_name", "-of", "csv=p=0", &url])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        (out.status.success() && text.contains("h264")).then_some(())
    });
}

#[test]
fn a_static_site_and_the_rtmp_lb_share_one_acme_order() {
    let dir = tempfile::tempdir().unwrap();
    let site_tls_port = free_port();
    let pebble = Pebble::start(&dir.path().join("pebble"), site_tls_port, free_port());
    let certs = pebble.certs(AcmeChallenge::TlsAlpn01, dir.path());
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let mut site = common::static_role::site_plan(&root);
    site.tls = Some(TlsPlan {
        listen: loopback(site_tls_port),
        certs: certs.clone(),
    });
    // The LB first: it waits for the certificate the site is about to order.
    let lb_tls_port = free_port();
    let cluster = Cluster::start_with(dir.path(), certs, lb_tls_port, vec![site.clone()]);
    let _site = common::static_role::Role::start(dir.path(), site);
    let issuing = pebble.issuing_root(dir.path());
    for port in [site_tls_port, lb_tls_port] {
        expect_within(
            Duration::from_secs(30),
            &format!("a certificate that verifies on port {port}"),
            || verifies(&issuing, port).ok(),
        );
    }
    assert_eq!(pebble.orders(), 1, "one order serves both");
    let (_, tls) = control(cluster.lb().control, "GET", "/api/v1/tls").unwrap();
    assert!(tls.contains("\"ready\""), "{tls}");
}

#[test]
fn a_forward_to_rtmps_reaches_another_rtmp_lb_through_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let media = make_media(dir.path());
    let ca = PrivateCa::new(dir.path());
    let certs = CertSource::Files {
        pairs: vec![CertPair {
            cert: ca.chain_pem.display().to_string(),
            key: ca.key_pem.display().to_string(),
        }],
    };
    let target_dir = dir.path().join("target");
    std::fs::create_dir_all(&target_dir).unwrap();
    let target = Cluster::start(&target_dir, certs, free_port());
    let mut settings = common::worker::settings();
    settings.rules = vec![StreamRule {
        pattern: "live/*".into(),
        record: None,
        forwards: vec![ForwardTarget {
            url: format!("rtmps://localhost:{}/live/{{stream}}", target.tls_port()),
            ca: Some(ca.ca_pem.display().to_string()),
        }],
        transcode: None,
        exec: Vec::new(),
        on_record: Vec::new(),
    }];
    let origin = common::worker::start_worker(settings, false);
    let _publisher = publish(
        &media,
        &origin.rtmp_url("live/onward"),
        dir.path().join("pub.log"),
    );
    expect_probe(&target.rtmps("live/onward"));
    expect_probe(&target.rtmp("live/onward"));
}

fn compile(source: &str) -> oryx::compile::Compilation {
    let mut options = oryx::compile::Options::for_file("<test>", None);
    options.check_files = false;
    oryx::compile::compile("<test>", source, &options)
}

#[test]
fn the_rtmp_lb_tls_block_compiles_like_a_static_sites() {
    let alone = compile(
        r#"oryx 1
worker "w"
rtmp-lb listen="0.0.0.0:1935" {
    tls listen="0.0.0.0:1936" { acme { domain "live.example.com"; challenge "http-01"; }; }
}
"#,
    );
    let codes: Vec<&str> = alone.diagnostics.iter().map(|d| d.kind.code()).collect();
    assert_eq!(codes, ["oryx::http01-without-listener"]);
    assert!(alone
        .render_plain()
        .contains("rtmp-lb asks for ACME http-01"));

    let both = compile(
        r#"oryx 1
worker "w"
rtmp-lb listen="0.0.0.0:1935" {
    tls listen="0.0.0.0:1936" { acme { domain "live.example.com"; challenge "http-01"; }; }
}
static "site" {
    root "/srv"
    listen "0.0.0.0:80"
    tls listen="0.0.0.0:443" { acme { domain "live.example.com"; challenge "http-01"; }; }
}
"#,
    );
    let text = both.render_plain();
    let plan = both.plan.unwrap_or_else(|| panic!("{text}"));
    let lb_certs = &plan.rtmp_lb.as_ref().unwrap().tls.as_ref().unwrap().certs;
    assert_eq!(lb_certs, &plan.statics[0].tls.as_ref().unwrap().certs);
    match lb_certs {
        CertSource::Acme(acme) => assert!(acme.cache.ends_with("acme/site"), "{}", acme.cache),
        other => panic!("{other:?}"),
    }

    let two_sources = compile(
        r#"oryx 1
worker "w"
rtmp-lb listen="0.0.0.0:1935" {
    tls listen="0.0.0.0:1936" { self-signed "a"; cert "c.pem" key="k.pem"; }
}
"#,
    );
    let codes: Vec<&str> = two_sources
        .diagnostics
        .iter()
        .map(|d| d.kind.code())
        .collect();
    assert_eq!(codes, ["oryx::conflicting-certificates"]);
}
