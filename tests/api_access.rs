//! Who may use the API from outside: writes through the api-lb need the topology's credential (none
//! configured: refused), a static site in front of the api-lb forwards reads only unless told, CORS
//! answers browsers on every answer (errors and preflights included), and `DELETE` of a stream says
//! what to do instead. Driven with raw HTTP requests and a real ffmpeg publisher that gets kicked.

mod common;

use common::cluster::*;
use common::http::{get_with_headers, request_with_headers};
use common::media::{make_media, publish};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;

const TOKEN: &str = "t0ken-for-the-test";

struct Setup {
    _dir: tempfile::TempDir,
    _shell: common::process::Proc,
    rtmp: SocketAddr,
    api: SocketAddr,
    site: SocketAddr,
    media: std::path::PathBuf,
}

/// `oryx up` with a worker, the rtmp-lb, an api-lb (`auth` from `auth`, or none) and a static site
/// proxying `/api/` (reads only, the default) and `/admin/` (`writes=#true`) to the api-lb.
fn setup(auth: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = site_root(dir.path(), None);
    let [rtmp, api, site] = [0u16, 1, 2].map(|_| free_addr().port());
    let kdl = dir.path().join("api.kdl");
    std::fs::write(
        &kdl,
        format!(
            r#"oryx 1
{ports}
worker "live"
rtmp-lb listen="127.0.0.1:{rtmp}"
api-lb listen="127.0.0.1:{api}" {{
    {auth}
    cors-origins "https://console.example"
}}
static "site" {{
    root "{root}"
    listen "127.0.0.1:{site}"
    proxy "/api/" to="api-lb"
    proxy "/admin/" to="api-lb" strip-prefix=#true writes=#true
}}
"#,
            ports = port_pool(20),
            root = root.display()
        ),
    )
    .unwrap();
    let run = dir.path().join("run");
    let (_, shell) = up_ready(&kdl, &run, &[("ORYX_TEST_API_TOKEN", TOKEN)], 4);
    let media = make_media(dir.path(), 20);
    Setup {
        rtmp: ([127, 0, 0, 1], rtmp).into(),
        api: ([127, 0, 0, 1], api).into(),
        site: ([127, 0, 0, 1], site).into(),
        media,
        _shell: shell,
        _dir: dir,
    }
}

/// The API client id of the publisher of `live/STREAM`, once it is listed.
fn publisher_id(api: SocketAddr, stream: &str) -> String {
    wait_for(Duration::from_secs(15), "the publisher in the API", || {
        let (status, body) = http(api, "GET", "/api/v1/clients/").ok()?;
        if status != 200 {
            return None;
        }
        let body: Value = serde_json::from_str(&body).ok()?;
        body["clients"].as_array()?.iter().find_map(|c| {
            (c["stream"].is_string()
                && c["publish"] == true
                && c["url"] == format!("/live/{stream}"))
            .then(|| c["id"].as_str().unwrap().to_string())
        })
    })
}

#[test]
fn writes_need_the_credential_and_a_public_proxy_forwards_reads_only() {
    let s = setup(r#"auth token-env="ORYX_TEST_API_TOKEN""#);
    let mut publisher = publish(&s.media, &format!("rtmp://{}/live/kickme", s.rtmp), true);
    let id = publisher_id(s.api, "kickme");
    let path = format!("/api/v1/clients/{id}");

    // Reads stay open, directly and through the site.
    let (status, _) = http(s.api, "GET", &path).unwrap();
    assert_eq!(status, 200);
    let (status, _) = http(s.site, "GET", &path).unwrap();
    assert_eq!(status, 200);

    // A kick through the public site's `/api/` is refused by the site itself.
    let answer = request_with_headers(s.site, "DELETE", &path, &[]).unwrap();
    assert_eq!(answer.status, 405, "{}", answer.text());
    assert_eq!(answer.header("allow"), Some("GET, HEAD, OPTIONS"));

    // Without the credential, or with a wrong one: 401 with a challenge and a JSON reason.
    for headers in [vec![], vec![("Authorization", "Bearer wrong")]] {
        let answer = request_with_headers(s.api, "DELETE", &path, &headers).unwrap();
        assert_eq!(answer.status, 401, "{}", answer.text());
        assert_eq!(
            answer.header("www-authenticate"),
            Some("Bearer realm=\"oryx api\"")
        );
        assert_eq!(answer.json()["code"], 401);
        // Through `/admin/` (writes allowed by the site) the api-lb still wants the credential.
        let admin = format!("/admin{path}");
        let answer = request_with_headers(s.site, "DELETE", &admin, &headers).unwrap();
        assert_eq!(answer.status, 401, "{}", answer.text());
    }
    assert!(
        publisher.wait_timeout(Duration::from_millis(500)).is_none(),
        "refused kicks must not disconnect the publisher"
    );

    // With it, through the site's write-enabled route: the real ffmpeg publisher is disconnected.
    let bearer = format!("Bearer {TOKEN}");
    let admin = format!("/admin{path}");
    let answer =
        request_with_headers(s.site, "DELETE", &admin, &[("Authorization", &bearer)]).unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["code"], 0);
    assert!(
        publisher.wait_timeout(Duration::from_secs(15)).is_some(),
        "the kicked ffmpeg publisher must stop"
    );

    // DELETE of a stream, even with the credential: 405 with a JSON reason and `Allow`, as SRS
    // refuses it, never a `null` body.
    let answer = request_with_headers(
        s.api,
        "DELETE",
        "/api/v1/streams/live:1",
        &[("Authorization", &bearer)],
    )
    .unwrap();
    assert_eq!(answer.status, 405, "{}", answer.text());
    assert_eq!(answer.header("allow"), Some("GET"));
    assert_eq!(answer.json()["code"], 405, "{}", answer.text());
}

#[test]
fn without_auth_writes_are_refused_and_cors_answers_every_response() {
    let s = setup("");
    let origin = ("Origin", "https://console.example");

    // No credential configured: a write is refused with a reason that says how to enable it.
    let answer = request_with_headers(s.api, "DELETE", "/api/v1/clients/1", &[]).unwrap();
    assert_eq!(answer.status, 403, "{}", answer.text());
    assert!(answer.text().contains("auth"), "{}", answer.text());

    // CORS on a read, on a 404, on a refusal, for the configured origin only.
    for (method, path) in [
        ("GET", "/api/v1/streams/"),
        ("GET", "/nothing-here"),
        ("DELETE", "/api/v1/clients/1"),
    ] {
        let answer = request_with_headers(s.api, method, path, &[origin]).unwrap();
        assert_eq!(
            answer.header("access-control-allow-origin"),
            Some("https://console.example"),
            "{method} {path}: {}",
            answer.status
        );
    }
    let other = get_with_headers(
        s.api,
        "/api/v1/streams/",
        &[("Origin", "https://evil.example")],
    )
    .unwrap();
    assert_eq!(other.header("access-control-allow-origin"), None);

    // A browser's preflight for an authenticated DELETE is answered without the credential.
    let answer = request_with_headers(
        s.api,
        "OPTIONS",
        "/api/v1/clients/1",
        &[
            origin,
            ("Access-Control-Request-Method", "DELETE"),
            ("Access-Control-Request-Headers", "authorization"),
        ],
    )
    .unwrap();
    assert!(
        answer.status == 200 || answer.status == 204,
        "{}",
        answer.status
    );
    let methods = answer
        .header("access-control-allow-methods")
        .unwrap_or_default()
        .to_string();
    assert!(methods.contains("DELETE"), "{methods}");
    assert!(answer
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .contains("authorization"));
}
