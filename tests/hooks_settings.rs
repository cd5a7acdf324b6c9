//! `hooks { on-error … ca … }` end to end: decoded with did-you-mean, planned (the CA path resolved
//! next to the topology), shown by `oryx plan`, and obeyed by a running worker.

mod common;

use common::cli::oryx;
use common::worker::TestClient;
use common::{settings, start_worker};
use oryx::compile::plan::HookOnError;
use oryx::rtmp::client::{ClientEvent, ClientMode};
use std::time::Duration;

#[test]
fn a_misspelt_on_error_is_an_error_with_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.kdl"),
        "oryx 1\nworker \"w\" {\n    hooks { on-error \"alow\"; }\n}\n",
    )
    .unwrap();
    let (status, stdout, stderr) = oryx(dir.path(), &["check", "t.kdl"]);
    let text = format!("{stdout}{stderr}");
    assert_eq!(status, 1, "{text}");
    assert!(text.contains("oryx::bad-value"), "{text}");
    assert!(text.contains("did you mean `allow`?"), "{text}");
}

#[test]
fn on_error_and_ca_are_planned_and_shown() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.kdl"),
        r#"oryx 1
defaults {
    hooks {
        on-publish "https://hooks.example/auth?key=s3cret"
        on-error "allow"
        ca "certs/hooks-ca.pem"
    }
}
worker "open"
worker "strict" {
    hooks { on-error "deny"; }
}
"#,
    )
    .unwrap();
    let plan = oryx::compile::compile_path(&dir.path().join("t.kdl"), None)
        .unwrap_or_else(|f| panic!("{}", f.rendered));
    let ca = dir.path().join("certs/hooks-ca.pem").display().to_string();
    let open = &plan.worker("open").unwrap().stream.hooks;
    assert_eq!(open.on_error, HookOnError::Allow);
    assert_eq!(open.ca.as_deref(), Some(ca.as_str()));
    let strict = &plan.worker("strict").unwrap().stream.hooks;
    assert_eq!(strict.on_error, HookOnError::Deny);
    assert_eq!(strict.ca.as_deref(), Some(ca.as_str()));

    let (status, stdout, stderr) = oryx(dir.path(), &["plan", "t.kdl"]);
    assert_eq!(status, 0, "{stderr}");
    assert!(
        // Relative to the topology file, as `oryx plan t.kdl` was given it.
        stdout.contains(
            "hook      on-publish https://hooks.example/auth?key=*** (timeout 3s, on-error allow, ca certs/hooks-ca.pem)"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("on-error deny"), "{stdout}");
    assert!(!stdout.contains("s3cret"), "{stdout}");
}

#[test]
fn a_worker_with_on_error_allow_lets_publishers_in_when_the_hook_is_down() {
    let gone = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let hook = format!("http://{gone}/auth");
    let started = |e: &ClientEvent| matches!(e, ClientEvent::Started | ClientEvent::Status { .. });

    let mut allow = settings();
    allow.hooks.on_publish = vec![hook.clone()];
    allow.hooks.on_error = HookOnError::Allow;
    let worker = start_worker(allow, false);
    let mut client = TestClient::connect(&worker.rtmp_url("live/s"), ClientMode::Publish);
    let answer = client.wait_for(Duration::from_secs(15), started);
    assert!(matches!(answer, Some(ClientEvent::Started)), "{answer:?}");

    let mut deny = settings();
    deny.hooks.on_publish = vec![hook];
    let worker = start_worker(deny, false);
    let mut client = TestClient::connect(&worker.rtmp_url("live/s"), ClientMode::Publish);
    let answer = client.wait_for(Duration::from_secs(15), started);
    assert!(
        matches!(&answer, Some(ClientEvent::Status { level, .. }) if level == "error"),
        "{answer:?}"
    );
}
