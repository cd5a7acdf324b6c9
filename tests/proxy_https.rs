//! A static site's proxy route to an `https://` upstream: written in KDL, passed by `oryx check`,
//! compiled, and served by the static role, trusting the upstream's private CA through `ca=`.

mod common;

use common::cli::oryx;
use common::http::get_with_headers;
use common::net::{free_port, free_port_run};
use common::private_ca::PrivateCa;
use common::static_role::Role;
use std::sync::Arc;

#[test]
fn a_proxy_route_to_an_https_upstream_with_a_private_ca_serves() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("root")).unwrap();
    let ca = PrivateCa::new(dir.path());
    let upstream = ca.serve(Arc::new(|path: &str, _body: &[u8]| {
        (200, format!("upstream saw {path}"))
    }));
    let pool = free_port_run(10);
    let listen = free_port();
    let up = upstream.port();
    let topology = format!(
        r#"oryx 1
ports from={pool} to={}
worker "w"
static "site" {{
    root "./root"
    listen "127.0.0.1:{listen}"
    proxy "/secure/" to="https://localhost:{up}/base/" ca="private-ca.pem" strip-prefix=#true
    proxy "/untrusted/" to="https://127.0.0.1:{up}/"
}}
"#,
        pool + 9
    );
    std::fs::write(dir.path().join("site.kdl"), &topology).unwrap();
    let (status, stdout, stderr) = oryx(dir.path(), &["check", "site.kdl"]);
    assert_eq!(status, 0, "{stdout}{stderr}");

    let plan = oryx::compile::compile_path(&dir.path().join("site.kdl"), None)
        .unwrap_or_else(|f| panic!("{}", f.rendered));
    let site = plan.statics[0].clone();
    let ca_path = dir.path().join("private-ca.pem").display().to_string();
    assert_eq!(
        site.proxies.iter().find_map(|p| p.ca.clone()),
        Some(ca_path)
    );
    let role = Role::start(dir.path(), site);

    let answer = get_with_headers(role.http(), "/secure/clip.flv?token=1", &[]).unwrap();
    assert_eq!(answer.status, 200, "{}\n{}", answer.text(), role.log_text());
    assert_eq!(answer.text(), "upstream saw /base/clip.flv?token=1");

    // Without the CA the upstream's certificate is not trusted: a 502, and the site keeps serving.
    let answer = get_with_headers(role.http(), "/untrusted/x", &[]).unwrap();
    assert_eq!(answer.status, 502, "{}", answer.text());
    let answer = get_with_headers(role.http(), "/secure/again", &[]).unwrap();
    assert_eq!(answer.status, 200);
}

#[test]
fn check_warns_when_a_proxy_ca_file_cannot_be_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("root")).unwrap();
    std::fs::write(
        dir.path().join("site.kdl"),
        r#"oryx 1
worker "w"
static "site" {
    root "./root"
    listen "127.0.0.1:8443"
    proxy "/secure/" to="https://upstream.example/" ca="missing-ca.pem"
}
"#,
    )
    .unwrap();
    // The static role would refuse to start without it: a warning, an error with --deny-warnings.
    let (status, stdout, stderr) = oryx(dir.path(), &["check", "site.kdl"]);
    let text = format!("{stdout}{stderr}");
    assert_eq!(status, 0, "{text}");
    assert!(text.contains("oryx::certificate-unreadable"), "{text}");
    assert!(text.contains("missing-ca.pem"), "{text}");
    let (status, _, _) = oryx(dir.path(), &["check", "--deny-warnings", "site.kdl"]);
    assert_eq!(status, 1);
}
