//! The static role as a user runs it (`oryx role static NAME --plan FILE`): files, path safety, TLS
//! (self-signed, certificate files chosen by SNI), HTTPS redirect, reverse-proxy routes.

mod common;

use common::http::{curl, get_with_headers, request_with_headers};
use common::net::free_port;
use common::static_role::*;
use oryx::compile::plan::{CertPair, CertSource, ProxyRoute};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

const SECRET: &str = "top-secret-outside-root";

/// `DIR/root` holding a small site, and `DIR/secret.txt` next to (outside) it.
fn make_site(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::create_dir_all(root.join("empty")).unwrap();
    std::fs::write(dir.join("secret.txt"), SECRET).unwrap();
    std::fs::write(root.join("index.html"), "<h1>oryx home</h1>\n").unwrap();
    std::fs::write(root.join("sub/index.html"), "sub index\n").unwrap();
    std::fs::write(root.join("empty/a.txt"), "a\n").unwrap();
    std::fs::write(root.join("empty/b <&>.txt"), "b\n").unwrap();
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(root.join("big.bin"), &big).unwrap();
    for (name, body) in [
        ("s.m3u8", "#EXTM3U\n"),
        ("seg.ts", "ts"),
        ("live.flv", "FLV"),
        ("movie.mp4", "mp4"),
        ("app.js", "console.log('plain')"),
        ("style.css", "body{}"),
        ("mod.wasm", "\0asm"),
        ("page.html", "<p>page</p>"),
    ] {
        std::fs::write(root.join(name), body).unwrap();
    }
    // Precompressed siblings: their content differs so the test can tell which one was sent.
    std::fs::write(root.join("app.js.gz"), "GZIP-VARIANT").unwrap();
    std::fs::write(root.join("app.js.br"), "BROTLI-VARIANT").unwrap();
    std::os::unix::fs::symlink(dir.join("secret.txt"), root.join("escape.txt")).unwrap();
    std::os::unix::fs::symlink(dir, root.join("escape-dir")).unwrap();
    std::os::unix::fs::symlink(root.join("page.html"), root.join("inside-link.html")).unwrap();
    root
}

fn files_role(dir: &Path, listing: bool) -> Role {
    let root = make_site(dir);
    let mut plan = site_plan(&root);
    plan.directory_listing = listing;
    Role::start(dir, plan)
}

#[test]
fn serves_index_and_redirects_directories_to_their_slash() {
    let dir = tempfile::tempdir().unwrap();
    let role = files_role(dir.path(), false);
    let resp = get_with_headers(role.http(), "/", &[]).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "<h1>oryx home</h1>\n");
    assert_eq!(
        resp.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let resp = get_with_headers(role.http(), "/sub?x=1", &[]).unwrap();
    assert_eq!(resp.status, 308);
    assert_eq!(resp.header("location"), Some("/sub/?x=1"));
    let resp = get_with_headers(role.http(), "/sub/", &[]).unwrap();
    assert_eq!(resp.text(), "sub index\n");
    let resp = get_with_headers(role.http(), "/missing.txt", &[]).unwrap();
    assert_eq!(resp.status, 404);
    let resp = request_with_headers(role.http(), "POST", "/index.html", &[]).unwrap();
    assert_eq!(resp.status, 405);
    let metrics = get_with_headers(role.plan.control, "/metrics", &[common::control::AUTH])
        .unwrap()
        .text();
    assert!(
        metrics.contains("oryx_static_requests_total{class=\"2xx\"} 2"),
        "{metrics}"
    );
}

#[test]
fn a_file_with_a_trailing_slash_is_not_found_like_nginx() {
    let dir = tempfile::tempdir().unwrap();
    let role = files_role(dir.path(), false);
    for path in ["/index.html/", "/page.html/", "/sub/index.html/"] {
        let resp = get_with_headers(role.http(), path, &[]).unwrap();
        assert_eq!(resp.status, 404, "{path} must not serve the file");
        assert!(!resp.text().contains("oryx home"), "{path}");
    }
    // The file itself still answers.
    let resp = get_with_headers(role.http(), "/page.html", &[]).unwrap();
    assert_eq!(resp.status, 200);
}

#[test]
fn mime_types_fit_players_and_browsers() {
    let dir = tempfile::tempdir().unwrap();
    let role = files_role(dir.path(), false);
    for (path, mime) in [
        ("/s.m3u8", "application/vnd.apple.mpegurl"),
        ("/seg.ts", "video/mp2t"),
        ("/live.flv", "video/x-flv"),
        ("/movie.mp4", "video/mp4"),
        ("/page.html", "text/html; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/mod.wasm", "application/wasm"),
    ] {
        let resp = get_with_headers(role.http(), path, &[]).unwrap();
        assert_eq!(resp.status, 200, "{path}");
        assert_eq!(resp.header("content-type"), Some(mime), "{path}");
    }
}

#[test]
fn byte_ranges_answer_206() {
    let dir = tempfile::tempdir().unwrap();
    let role = files_role(dir.path(), false);
    let resp = get_with_headers(role.http(), "/big.bin", &[("Range", "bytes=1000-1009")]).unwrap();
    assert_eq!(resp.status, 206);
    assert_eq!(resp.header("content-range"), Some("bytes 1000-1009/100000"));
    let expected: Vec<u8> = (1000..1010u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(resp.body, expected);
    let resp = get_with_headers(role.http(), "/big.bin", &[("Range", "bytes=200000-")]).unwrap();
    assert_eq!(resp.status, 416);
    assert_eq!(resp.header("content-range"), Some("bytes */100000"));
    // If-Range naming the current ETag keeps the range; a stale one gets the whole file.
    let etag = resp.header("etag").unwrap().to_string();
    let resp = get_with_headers(
        role.http(),
        "/big.bin",
        &[("Range", "bytes=-5"), ("If-Range", &etag)],
    )
    .unwrap();
    assert_eq!(resp.status, 206);
    assert_eq!(resp.body.len(), 5);
    let resp = get_with_headers(
        role.http(),
        "/big.bin",
        &[("Range", "bytes=-5"), ("If-Range", "\"stale\"")],
    )
    .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body.len(), 100_000);
    let resp = request_with_headers(role.http(), "HEAD", "/big.bin", &[]).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-length"), Some("100000"));
    assert_eq!(resp.header("accept-ranges"), Some("bytes"));
}

#[test]
fn etag_and_last_modified_give_304() {
    let dir = tempfile::tempdir().unwrap();
    let role = files_role(dir.path(), false);
    let first = get_with_headers(role.http(), "/page.html", &[]).unwrap();
    let etag = first.header("etag").expect("an ETag").to_string();
    let modified = first
        .header("last-modified")
        .expect("a Last-Modified")
        .to_string();
    let resp = get_with_headers(role.http(), "/page.html", &[("If-None-Match", &etag)]).unwrap();
    assert_eq!(resp.status, 304);
    assert!(resp.body.is_empty());
    assert_eq!(resp.header("etag"), Some(etag.as_str()));
    let resp = get_with_headers(
        role.http(),
        "/page.html",
        &[("If-Modified-Since", &modified)],
    )
    .unwrap();
    assert_eq!(resp.status, 304);
    // A different tag means a changed file: the full body, even if the date would say "unchanged".
    let resp = get_with_headers(
        role.http(),
        "/page.html",
        &[
            ("If-None-Match", "\"stale\""),
            ("If-Modified-Since", &modified),
        ],
    )
    .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "<p>page</p>");
}

#[test]
fn precompressed_siblings_are_sent_to_clients_that_accept_them() {
    let dir = tempfile::tempdir().unwrap();
    let role = files_role(dir.path(), false);
    let resp = get_with_headers(role.http(), "/app.js", &[("Accept-Encoding", "gzip")]).unwrap();
    assert_eq!(resp.header("content-encoding"), Some("gzip"));
    assert_eq!(resp.text(), "GZIP-VARIANT");
    assert_eq!(
        resp.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    let resp = get_with_headers(role.http(), "/app.js", &[("Accept-Encoding", "br")]).unwrap();
    assert_eq!(resp.header("content-encoding"), Some("br"));
    assert_eq!(resp.text(), "BROTLI-VARIANT");
    let resp = get_with_headers(role.http(), "/app.js", &[]).unwrap();
    assert_eq!(resp.header("content-encoding"), None);
    assert_eq!(resp.text(), "console.log('plain')");
}

#[test]
fn directory_listing_is_off_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let role = files_role(dir.path(), false);
    let resp = get_with_headers(role.http(), "/empty/", &[]).unwrap();
    assert_eq!(resp.status, 404);
    assert!(!resp.text().contains("a.txt"));
}

#[test]
fn directory_listing_when_on_names_entries_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let role = files_role(dir.path(), true);
    let resp = get_with_headers(role.http(), "/empty/", &[]).unwrap();
    assert_eq!(resp.status, 200);
    let html = resp.text();
    assert!(html.contains("href=\"a%2Etxt\""), "{html}");
    assert!(html.contains("b &lt;&amp;&gt;.txt"), "{html}");
    // Directories with an index.html still serve it.
    let resp = get_with_headers(role.http(), "/sub/", &[]).unwrap();
    assert_eq!(resp.text(), "sub index\n");
}

/// Every refused path answers 403 or 404 and never leaks the file outside the root.
fn assert_refused(raw_path: &str) {
    let dir = tempfile::tempdir().unwrap();
    let role = files_role(dir.path(), true);
    let resp = get_with_headers(role.http(), raw_path, &[]).unwrap();
    assert!(
        resp.status == 403 || resp.status == 404,
        "{raw_path} answered {}",
        resp.status
    );
    assert!(
        !resp.text().contains(SECRET),
        "{raw_path} leaked the secret"
    );
}

#[test]
fn dot_dot_traversal_is_refused() {
    assert_refused("/../secret.txt");
    assert_refused("/sub/../../secret.txt");
}

#[test]
fn percent_encoded_traversal_is_refused() {
    assert_refused("/%2e%2e/secret.txt");
    assert_refused("/%2E%2E/secret.txt");
    assert_refused("/sub/%2e%2e%2f%2e%2e%2fsecret.txt");
    assert_refused("/..%2fsecret.txt");
    assert_refused("/..%5csecret.txt");
}

#[test]
fn nul_bytes_are_refused() {
    assert_refused("/index.html%00.txt");
    assert_refused("/%00");
}

#[test]
fn symlinks_leading_outside_the_root_are_refused() {
    assert_refused("/escape.txt");
    assert_refused("/escape-dir/secret.txt");
    assert_refused("/escape-dir/");
}

#[test]
fn symlinks_inside_the_root_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let role = files_role(dir.path(), false);
    let resp = get_with_headers(role.http(), "/inside-link.html", &[]).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "<p>page</p>");
}

#[test]
fn self_signed_tls_serves_http2_and_http1() {
    let dir = tempfile::tempdir().unwrap();
    let root = make_site(dir.path());
    let mut plan = site_plan(&root);
    plan.tls = Some(tls_on_free_port(CertSource::SelfSigned {
        names: vec!["localhost".into()],
    }));
    let role = Role::start(dir.path(), plan);
    let url = format!("https://localhost:{}/page.html", role.tls_port());
    let out = curl(&["-k", "--http2", "-w", "\n%{http_version}", &url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "<p>page</p>\n2");
    let out = curl(&["-k", "--http1.1", "-w", "\n%{http_version}", &url]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "<p>page</p>\n1.1");
    // Not signed by anyone the client trusts: verification must fail.
    let out = curl(&[&url]);
    assert!(!out.status.success());
    let status =
        get_with_headers(role.plan.control, "/api/v1/tls", &[common::control::AUTH]).unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.body).unwrap();
    assert_eq!(status["source"], "self-signed");
    assert_eq!(status["state"], "ready");
    // A returning client resumes its session instead of a full handshake (TLS 1.3 and 1.2).
    for version in ["-tls1_3", "-tls1_2"] {
        let session = dir.path().join(format!("session{version}.pem"));
        let connect = format!("127.0.0.1:{}", role.tls_port());
        // A request answered over the connection keeps s_client around until the server's
        // session tickets (sent right after the handshake) have arrived.
        let s_client = |session_flag: &str| {
            let mut child = std::process::Command::new("timeout")
                .args([
                    "10",
                    "openssl",
                    "s_client",
                    version,
                    "-ign_eof",
                    "-connect",
                    &connect,
                    session_flag,
                ])
                .arg(&session)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            stdin
                .write_all(b"GET /page.html HTTP/1.0\r\nHost: localhost\r\n\r\n")
                .unwrap();
            drop(stdin);
            child.wait_with_output().unwrap()
        };
        let first = String::from_utf8_lossy(&s_client("-sess_out").stdout).into_owned();
        assert!(first.contains("New,"), "{first}");
        let again = String::from_utf8_lossy(&s_client("-sess_in").stdout).into_owned();
        assert!(again.contains("Reused,"), "{version}: {again}");
        assert!(again.contains("<p>page</p>"), "{version}: {again}");
    }
}

/// A CA and two leaf certificates (for `a.test` and `b.test`) written as PEM files in `dir`.
fn make_ca_and_leaves(dir: &Path) -> (std::path::PathBuf, Vec<CertPair>) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "oryx test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca.pem()).unwrap();
    let mut pairs = Vec::new();
    for name in ["a.test", "b.test"] {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![name.to_string()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
        let cert_path = dir.join(format!("{name}.pem"));
        let key_path = dir.join(format!("{name}.key"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        pairs.push(CertPair {
            cert: cert_path.display().to_string(),
            key: key_path.display().to_string(),
        });
    }
    (ca_path, pairs)
}

#[test]
fn certificate_files_are_chosen_by_sni() {
    let dir = tempfile::tempdir().unwrap();
    let root = make_site(dir.path());
    let (ca, pairs) = make_ca_and_leaves(dir.path());
    let mut plan = site_plan(&root);
    plan.tls = Some(tls_on_free_port(CertSource::Files { pairs }));
    let role = Role::start(dir.path(), plan);
    let port = role.tls_port();
    for name in ["a.test", "b.test"] {
        // curl verifies the chain and the name: it succeeds only if the matching certificate came.
        let resolve = format!("{name}:{port}:127.0.0.1");
        let url = format!("https://{name}:{port}/page.html");
        let out = curl(&[
            "--cacert",
            ca.to_str().unwrap(),
            "--resolve",
            &resolve,
            "-w",
            "%{ssl_verify_result}",
            &url,
        ]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "<p>page</p>0");
    }
}

#[test]
fn unreadable_certificate_files_stop_the_role_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = make_site(dir.path());
    let mut plan = site_plan(&root);
    plan.tls = Some(tls_on_free_port(CertSource::Files {
        pairs: vec![CertPair {
            cert: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
        }],
    }));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oryx"))
        .args(["role", "static", "site", "--plan"])
        .arg(write_plan(dir.path(), &plan))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/cert.pem"), "{stderr}");
}

#[test]
fn plain_listener_redirects_to_https_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let root = make_site(dir.path());
    let mut plan = site_plan(&root);
    plan.tls = Some(tls_on_free_port(CertSource::SelfSigned {
        names: vec!["localhost".into()],
    }));
    plan.redirect_https = true;
    let role = Role::start(dir.path(), plan);
    let resp = get_with_headers(
        role.http(),
        "/page.html?a=1",
        &[("Host", "example.test:8080")],
    )
    .unwrap();
    assert_eq!(resp.status, 308);
    let expected = format!("https://example.test:{}/page.html?a=1", role.tls_port());
    assert_eq!(resp.header("location"), Some(expected.as_str()));
    // curl follows it to the TLS listener and gets the file.
    let url = format!("http://localhost:{}/page.html", role.http().port());
    let out = curl(&["-k", "-L", &url]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "<p>page</p>");
}

/// What the test upstream saw of one request.
struct Seen {
    request_head: String,
}

/// A one-connection upstream: answers with a chunked body whose second chunk is only sent once the
/// test says the first one arrived through the proxy, proving the proxy does not buffer.
fn streaming_upstream() -> (u16, mpsc::Receiver<Seen>, mpsc::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (seen_tx, seen_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let (mut tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
            if tcp.read(&mut byte).unwrap_or(0) == 0 {
                break;
            }
            head.push(byte[0]);
        }
        let _ = seen_tx.send(Seen {
            request_head: String::from_utf8_lossy(&head).into_owned(),
        });
        let _ = tcp.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n",
        );
        let _ = tcp.flush();
        if go_rx.recv_timeout(Duration::from_secs(10)).is_ok() {
            let _ = tcp.write_all(b"6\r\nsecond\r\n0\r\n\r\n");
        }
    });
    (port, seen_rx, go_tx)
}

#[test]
fn proxy_streams_bodies_and_sets_forwarded_headers() {
    let dir = tempfile::tempdir().unwrap();
    let root = make_site(dir.path());
    let (upstream_port, seen, go) = streaming_upstream();
    let mut plan = site_plan(&root);
    plan.proxies = vec![
        ProxyRoute {
            prefix: "/live/".into(),
            to: "http://127.0.0.1:1/never".into(),
            strip_prefix: false,
            writes: true,
            ca: None,
        },
        ProxyRoute {
            prefix: "/live/flv/".into(),
            to: format!("http://127.0.0.1:{upstream_port}/up"),
            strip_prefix: true,
            writes: true,
            ca: None,
        },
    ];
    let role = Role::start(dir.path(), plan);
    let mut tcp = std::net::TcpStream::connect(role.http()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(
        b"GET /live/flv/s.flv?token=1 HTTP/1.1\r\nHost: viewer.example:8080\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&received).contains("first") {
        let n = tcp
            .read(&mut buf)
            .expect("first chunk arrives before the body ends");
        assert!(n > 0, "connection closed before the first chunk");
        received.extend_from_slice(&buf[..n]);
    }
    assert!(!String::from_utf8_lossy(&received).contains("second"));
    go.send(()).unwrap();
    tcp.read_to_end(&mut received).unwrap();
    let text = String::from_utf8_lossy(&received).into_owned();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("content-type: video/x-flv"),
        "{text}"
    );
    assert!(text.contains("second"), "{text}");

    let head = seen
        .recv_timeout(Duration::from_secs(5))
        .unwrap()
        .request_head;
    let lower = head.to_ascii_lowercase();
    assert!(
        head.starts_with("GET /up/s.flv?token=1 HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(lower.contains("x-forwarded-for: 127.0.0.1\r\n"), "{head}");
    assert!(lower.contains("x-forwarded-proto: http\r\n"), "{head}");
    assert!(
        lower.contains("x-forwarded-host: viewer.example:8080\r\n"),
        "{head}"
    );
    assert!(
        lower.contains(&format!("host: 127.0.0.1:{upstream_port}\r\n")),
        "{head}"
    );
}

#[test]
fn proxy_answers_502_when_the_upstream_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let root = make_site(dir.path());
    let mut plan = site_plan(&root);
    let dead = free_port();
    plan.proxies = vec![ProxyRoute {
        prefix: "/api/".into(),
        to: format!("http://127.0.0.1:{dead}"),
        strip_prefix: false,
        writes: true,
        ca: None,
    }];
    let role = Role::start(dir.path(), plan);
    let resp = get_with_headers(role.http(), "/api/v1/versions", &[]).unwrap();
    assert_eq!(resp.status, 502);
    assert!(
        resp.text().contains(&format!("127.0.0.1:{dead}")),
        "{}",
        resp.text()
    );
    // Paths outside every route are still files.
    let resp = get_with_headers(role.http(), "/page.html", &[]).unwrap();
    assert_eq!(resp.status, 200);
}

#[test]
fn hls_through_an_https_proxy_route_plays_with_ffprobe() {
    let dir = tempfile::tempdir().unwrap();
    let hls = dir.path().join("hls");
    std::fs::create_dir_all(&hls).unwrap();
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-t",
            "4",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-c:a",
            "aac",
            "-f",
            "hls",
            "-hls_time",
            "1",
            "-hls_list_size",
            "0",
        ])
        .arg(hls.join("s.m3u8"))
        .status()
        .unwrap();
    assert!(status.success());
    // The upstream: a second static role serving the HLS files on plain HTTP.
    let upstream_dir = dir.path().join("upstream");
    std::fs::create_dir_all(&upstream_dir).unwrap();
    let upstream = Role::start(&upstream_dir, site_plan(&hls));
    let site_dir = dir.path().join("site");
    let root = make_site(&site_dir);
    let mut plan = site_plan(&root);
    plan.listen = None;
    plan.tls = Some(tls_on_free_port(CertSource::SelfSigned {
        names: vec!["localhost".into()],
    }));
    plan.proxies = vec![ProxyRoute {
        prefix: "/live/".into(),
        to: format!("http://{}", upstream.http()),
        strip_prefix: true,
        writes: true,
        ca: None,
    }];
    let role = Role::start(&site_dir, plan);
    let url = format!("https://localhost:{}/live/s.m3u8", role.tls_port());
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-tls_verify",
            "0",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
        ])
        .arg(&url)
        .output()
        .unwrap();
    let streams = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(streams.contains("h264"), "{streams}");
    assert!(streams.contains("aac"), "{streams}");
}

/// An upstream that answers each request with the request head it received, as the body.
fn echo_upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(mut tcp) = tcp else { break };
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
                if tcp.read(&mut byte).unwrap_or(0) == 0 {
                    break;
                }
                head.push(byte[0]);
            }
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                head.len()
            );
            let _ = tcp.write_all(answer.as_bytes());
            let _ = tcp.write_all(&head);
        }
    });
    port
}

#[test]
fn proxy_over_https_and_http2_says_https_and_the_original_host() {
    let dir = tempfile::tempdir().unwrap();
    let root = make_site(dir.path());
    let upstream = echo_upstream();
    let mut plan = site_plan(&root);
    plan.tls = Some(tls_on_free_port(CertSource::SelfSigned {
        names: vec!["localhost".into()],
    }));
    plan.proxies = vec![ProxyRoute {
        prefix: "/api/".into(),
        to: format!("http://127.0.0.1:{upstream}"),
        strip_prefix: false,
        writes: true,
        ca: None,
    }];
    let role = Role::start(dir.path(), plan);
    let port = role.tls_port();
    let url = format!("https://localhost:{port}/api/v1/streams?x=1");
    let out = curl(&["-k", "--http2", "-H", "X-Forwarded-For: 10.0.0.7", &url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(
        head.starts_with("get /api/v1/streams?x=1 http/1.1\r\n"),
        "{head}"
    );
    assert!(head.contains("x-forwarded-proto: https\r\n"), "{head}");
    assert!(
        head.contains(&format!("x-forwarded-host: localhost:{port}\r\n")),
        "{head}"
    );
    // An address the client already claimed is kept, ours appended.
    assert!(
        head.contains("x-forwarded-for: 10.0.0.7, 127.0.0.1\r\n"),
        "{head}"
    );
}

#[test]
fn start_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let root = make_site(dir.path());
    let plan = site_plan(&root);
    let plan_path = write_plan(dir.path(), &plan);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oryx"))
        .args(["role", "static", "no-such-site", "--plan"])
        .arg(&plan_path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no static site named \"no-such-site\""),
        "{stderr}"
    );

    let mut plan = site_plan(&root);
    plan.root = dir.path().join("missing-root").display().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oryx"))
        .args(["role", "static", "site", "--plan"])
        .arg(write_plan(dir.path(), &plan))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("missing-root"), "{stderr}");
}
