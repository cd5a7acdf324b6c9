//! `oryx up` with a static site next to a worker and the api-lb: the shell starts and waits for the
//! static role like any other, which serves its files and proxies `/api/` to the api-lb.

mod common;

use common::cluster::*;

#[test]
fn static_site_runs_under_the_shell_and_proxies_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let root = site_root(dir.path(), Some("<h1>oryx player</h1>"));
    let [api, site] = [0u16, 1].map(|_| free_addr().port());
    let kdl = dir.path().join("site.kdl");
    std::fs::write(
        &kdl,
        format!(
            r#"oryx 1
{ports}
worker "live"
api-lb listen="127.0.0.1:{api}"
static "site" {{
    root "{root}"
    listen "127.0.0.1:{site}"
    proxy "/api/" to="api-lb"
}}
"#,
            ports = port_pool(20),
            root = root.display()
        ),
    )
    .unwrap();
    let (_, shell) = up_ready(&kdl, &dir.path().join("run"), &[], 3);
    assert!(shell.log_text().contains("static   http://127.0.0.1:"));

    let site_addr: std::net::SocketAddr = ([127, 0, 0, 1], site).into();
    let (status, body) = http(site_addr, "GET", "/index.html").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("oryx player"));
    let (status, body) = http(site_addr, "GET", "/api/v1/streams").unwrap();
    assert_eq!(status, 200, "{body}");
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(value["code"], 0, "{body}");
    assert!(value["streams"].is_array(), "{body}");
}
