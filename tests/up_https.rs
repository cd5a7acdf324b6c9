//! `oryx up` with HTTPS on the static role, as a user runs it: a KDL topology whose static site gets
//! its certificate from a real ACME server (pebble, started by `scripts/pebble-up`) and keeps it in
//! its cache across a restart of the whole shell; and a full topology (worker, rtmp-lb, http-lb,
//! api-lb, static site with TLS proxying `/live/` to the http-lb and `/api/` to the api-lb) where
//! ffmpeg publishes through the rtmp-lb and ffprobe plays HLS and HTTP-FLV over HTTPS from the site.

mod common;

use common::cluster::*;
use common::http::curl;
use common::pebble::{fetch_verified, Pebble};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// `N` different loopback ports, free right now (held together while chosen so none repeats).
fn distinct_ports<const N: usize>() -> [u16; N] {
    let held: Vec<std::net::TcpListener> = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port"))
        .collect();
    std::array::from_fn(|i| held[i].local_addr().unwrap().port())
}

fn compile(kdl: &Path) -> oryx::compile::plan::Plan {
    oryx::compile::compile_path(kdl, None).unwrap_or_else(|failure| panic!("{failure}"))
}

/// SIGTERM to the shell: it stops every role and exits 0 within a bound.
fn stop_shell(mut shell: Proc) {
    shell.signal(libc::SIGTERM);
    let status = shell.wait_exit(Duration::from_secs(15));
    assert!(
        matches!(status, Some(s) if s.success()),
        "oryx up did not exit 0 on SIGTERM: {status:?}\n{}",
        shell.log_text()
    );
}

#[test]
fn up_gets_an_acme_certificate_from_pebble_and_reuses_it_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let [http_port, tls_port] = distinct_ports();
    let pebble = Pebble::start(&dir.path().join("pebble"), tls_port, http_port);
    let issuing_root = pebble.issuing_root(dir.path());
    let root = site_root(dir.path(), Some("hello over HTTPS from oryx up\n"));
    let cache = dir.path().join("acme-cache");
    let kdl = dir.path().join("https.kdl");
    std::fs::write(
        &kdl,
        format!(
            r#"oryx 1
{ports}
worker "live"
static "site" {{
    root "{root}"
    listen "127.0.0.1:{http_port}"
    redirect-https #true
    tls listen="127.0.0.1:{tls_port}" {{
        acme {{
            domain "oryx.test"
            contact "mailto:ops@oryx.test"
            directory "{directory}"
            directory-ca "{ca}"
            challenge "tls-alpn-01"
            cache "{cache}"
        }}
    }}
}}
"#,
            ports = port_pool(20),
            root = root.display(),
            directory = pebble.directory,
            ca = pebble.ca_pem,
            cache = cache.display(),
        ),
    )
    .unwrap();
    let plan = compile(&kdl);
    let run_dir = dir.path().join("run");

    let shell = up(&kdl, &run_dir);
    wait_all_ready(&plan, 2, Duration::from_secs(20));
    let body = fetch_verified(
        &issuing_root,
        tls_port,
        "/",
        Duration::from_secs(30),
        || shell.log_text(),
    );
    assert_eq!(body, "hello over HTTPS from oryx up\n");
    assert_eq!(pebble.orders(), 1, "one order for the first certificate");
    assert!(
        shell
            .log_text()
            .contains(&format!("static   https://127.0.0.1:{tls_port}/")),
        "{}",
        shell.log_text()
    );
    // The plain listener sends browsers to HTTPS.
    let http_addr = ([127, 0, 0, 1], http_port).into();
    let (status, _) = http_with(http_addr, "GET", "/", &[("Host", "oryx.test")]).unwrap();
    assert_eq!(status, 308);
    stop_shell(shell);
    assert!(
        std::fs::read_dir(&cache).unwrap().count() >= 2,
        "the account key and the certificate are cached"
    );

    // The whole shell again: the certificate comes from the cache, at once, with no new order.
    let shell = up(&kdl, &run_dir);
    wait_all_ready(&plan, 2, Duration::from_secs(20));
    let body = fetch_verified(&issuing_root, tls_port, "/", Duration::from_secs(5), || {
        shell.log_text()
    });
    assert_eq!(body, "hello over HTTPS from oryx up\n");
    assert!(
        shell.log_text().contains("loaded from the cache"),
        "{}",
        shell.log_text()
    );
    assert_eq!(pebble.orders(), 1, "a restart must not order again");
    stop_shell(shell);
}

/// `ffprobe URL` (TLS not verified: the site's certificate is self-signed) listing the codecs it finds,
/// bounded to 15 s; empty when it fails.
fn probe_codecs(url: &str, log: PathBuf) -> String {
    let mut command = Command::new("ffprobe");
    command
        .args(["-v", "error", "-tls_verify", "0", "-rw_timeout", "10000000"])
        .args(["-show_entries", "stream=codec_name", "-of", "csv=p=0", url]);
    let mut probe = Proc::spawn(command, log);
    match probe.wait_exit(Duration::from_secs(15)) {
        Some(status) if status.success() => probe.log_text(),
        _ => String::new(),
    }
}

#[test]
fn up_serves_hls_and_http_flv_over_https_through_the_static_sites_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let media = make_media(dir.path());
    let root = site_root(dir.path(), Some("<h1>oryx player</h1>\n"));
    let [rtmp_lb, http_lb, api_lb, tls_port] = distinct_ports();
    let kdl = dir.path().join("live.kdl");
    std::fs::write(
        &kdl,
        format!(
            r#"oryx 1
{ports}
defaults {{
    hls fragment="1s" window=6
}}
worker "live"
rtmp-lb listen="127.0.0.1:{rtmp_lb}"
http-lb listen="127.0.0.1:{http_lb}"
api-lb listen="127.0.0.1:{api_lb}"
static "site" {{
    root "{root}"
    tls listen="127.0.0.1:{tls_port}" {{
        self-signed "oryx.test"
    }}
    proxy "/live/" to="http-lb"
    proxy "/api/" to="api-lb"
}}
"#,
            ports = port_pool(20),
            root = root.display(),
        ),
    )
    .unwrap();
    let (_, shell) = up_ready(&kdl, &dir.path().join("run"), &[], 5);

    let site = format!("https://127.0.0.1:{tls_port}");
    let page = curl(&["--fail", "--insecure", &format!("{site}/")]);
    assert_eq!(
        String::from_utf8_lossy(&page.stdout),
        "<h1>oryx player</h1>\n",
        "{}",
        String::from_utf8_lossy(&page.stderr)
    );

    let _publisher = publish(
        &media,
        &format!("rtmp://127.0.0.1:{rtmp_lb}/live/s"),
        dir.path().join("publish.log"),
    );
    for (kind, url) in [
        ("HLS", format!("{site}/live/s.m3u8")),
        ("HTTP-FLV", format!("{site}/live/s.flv")),
    ] {
        let mut attempt = 0;
        wait_for(Duration::from_secs(40), kind, || {
            attempt += 1;
            let log = dir.path().join(format!("probe-{kind}-{attempt}.log"));
            let codecs = probe_codecs(&url, log);
            (codecs.contains("h264") && codecs.contains("aac")).then_some(codecs)
        });
    }
    // The playlist itself came through the proxy with its type intact.
    let playlist = curl(&[
        "--fail",
        "--insecure",
        "--write-out",
        "%{content_type}",
        &format!("{site}/live/s.m3u8"),
    ]);
    let text = String::from_utf8_lossy(&playlist.stdout);
    assert!(text.starts_with("#EXTM3U"), "{text}");
    assert!(text.contains(".ts"), "{text}");
    assert!(text.to_lowercase().contains("mpegurl"), "{text}");
    // The API on the same origin sees the stream published through the rtmp-lb.
    let api = curl(&["--fail", "--insecure", &format!("{site}/api/v1/streams")]);
    let streams: serde_json::Value = serde_json::from_slice(&api.stdout)
        .unwrap_or_else(|err| panic!("{err}: {}", String::from_utf8_lossy(&api.stdout)));
    assert_eq!(streams["code"], 0, "{streams}");
    assert!(
        streams["streams"]
            .as_array()
            .is_some_and(|list| list.iter().any(|s| s["name"] == "s")),
        "{streams}"
    );
    stop_shell(shell);
}
