//! Every URL-typed setting of the schema: a URL `oryx check` accepts is one the runtime takes, and a
//! URL the runtime would refuse is refused by the check (issue: an `https://` hook or proxy passed the
//! check, then refused every publish or crash-looped the site).

mod common;

use common::cli::oryx;
use oryx::compile::plan::{AcmeChallenge, AcmePlan, HookSettings, ProxyRoute};
use oryx::net::acme;
use oryx::net::tls_status::TlsStatus;
use oryx::runtime::static_site::proxy::Proxy;
use oryx::worker::hooks::{HookAction, HookError, HookEvent, Hooks};
use std::path::Path;

/// One URL-typed setting: its name, a topology using it, and what its role does with the URL.
struct Setting {
    name: &'static str,
    kdl: fn(&str) -> String,
    runtime: fn(&str, &Path) -> Result<(), String>,
}

fn hooks_in_defaults(setting: &str, url: &str) -> String {
    format!("oryx 1\ndefaults {{\n    hooks {{ {setting} \"{url}\"; }}\n}}\nworker \"w\"\n")
}

fn hooks_in_worker(setting: &str, url: &str) -> String {
    format!("oryx 1\nworker \"w\" {{\n    hooks {{ {setting} \"{url}\"; }}\n}}\n")
}

/// What a worker does with a hook URL: one call. A URL it cannot use is `HookError::BadUrl`; any
/// other outcome (here: nothing listens) means the URL itself was taken.
fn hook_runtime(url: &str, _dir: &Path) -> Result<(), String> {
    let hooks = Hooks::new(&HookSettings {
        on_publish: vec![url.into()],
        timeout_ms: 2000,
        ..HookSettings::default()
    });
    let event = HookEvent {
        action: HookAction::OnPublish,
        client_id: "1".into(),
        ip: "127.0.0.1".into(),
        vhost: "__defaultVhost__".into(),
        app: "live".into(),
        stream: "s".into(),
        param: String::new(),
        tc_url: "rtmp://127.0.0.1/live".into(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    match runtime.block_on(hooks.call(&[url.to_string()], &event)) {
        Err(err @ HookError::BadUrl { .. }) => Err(err.to_string()),
        _ => Ok(()),
    }
}

/// A stream rule's `hooks { on-record }`: told after each recorded file with the same hook client
/// (`Hooks::tell` posts through the one `ask` that `call` uses).
fn on_record_kdl(url: &str) -> String {
    format!(
        "oryx 1\nworker \"w\"\nstream \"rec/*\" {{\n    record path=\"./r/{{stream}}.flv\"\n    hooks {{ on-record \"{url}\"; }}\n}}\n"
    )
}

fn proxy_kdl(url: &str) -> String {
    format!(
        "oryx 1\nworker \"w\"\nstatic \"s\" {{\n    root \".\"\n    listen \"127.0.0.1:1\"\n    proxy \"/p/\" to=\"{url}\"\n}}\n"
    )
}

/// What the static role does at start with a route.
fn proxy_runtime(url: &str, _dir: &Path) -> Result<(), String> {
    Proxy::new(&[ProxyRoute {
        prefix: "/p/".into(),
        to: url.into(),
        strip_prefix: false,
        writes: true,
        ca: None,
    }])
    .map(|_| ())
    .map_err(|err| format!("{err:#}"))
}

fn acme_kdl(url: &str) -> String {
    format!(
        "oryx 1\nworker \"w\"\nstatic \"s\" {{\n    root \".\"\n    tls listen=\"127.0.0.1:2\" {{\n        acme {{\n            domain \"a.test\"\n            directory \"{url}\"\n        }}\n    }}\n}}\n"
    )
}

/// What the static role does at start with an ACME directory (the client task then retries in the
/// background; dropping the runtime ends it).
fn acme_runtime(url: &str, dir: &Path) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _inside = runtime.enter();
    let plan = AcmePlan {
        domains: vec!["a.test".into()],
        contacts: Vec::new(),
        directory: url.into(),
        directory_ca: None,
        challenge: AcmeChallenge::TlsAlpn01,
        cache: dir.join("acme-cache").display().to_string(),
    };
    let status = TlsStatus::new("acme", plan.domains.clone(), "pending");
    acme::start(&plan, status)
        .map(|_| ())
        .map_err(|err| format!("{err:#}"))
}

fn settings() -> Vec<Setting> {
    macro_rules! hook {
        ($name:literal, $place:ident) => {
            Setting {
                name: concat!("hooks ", $name, " (", stringify!($place), ")"),
                kdl: |url| $place($name, url),
                runtime: hook_runtime,
            }
        };
    }
    vec![
        hook!("on-publish", hooks_in_defaults),
        hook!("on-unpublish", hooks_in_defaults),
        hook!("on-play", hooks_in_defaults),
        hook!("on-stop", hooks_in_defaults),
        hook!("on-publish", hooks_in_worker),
        hook!("on-unpublish", hooks_in_worker),
        hook!("on-play", hooks_in_worker),
        hook!("on-stop", hooks_in_worker),
        Setting {
            name: "stream hooks on-record",
            kdl: on_record_kdl,
            runtime: hook_runtime,
        },
        Setting {
            name: "static proxy to",
            kdl: proxy_kdl,
            runtime: proxy_runtime,
        },
        Setting {
            name: "acme directory",
            kdl: acme_kdl,
            runtime: acme_runtime,
        },
    ]
}

/// URLs of every shape, all on loopback ports nothing listens on.
fn corpus() -> Vec<String> {
    let port = common::net::free_port();
    let mut urls: Vec<String> = [
        "http://127.0.0.1:{p}/auth",
        "https://127.0.0.1:{p}/auth",
        "https://localhost:{p}",
        "http://localhost:{p}/a?key=x&y=1",
        "HTTP://127.0.0.1:{p}/upper",
        "http://[::1]:{p}/v6",
        "http://127.0.0.1:{p}/a%20b",
        "ftp://127.0.0.1:{p}/",
        "rtmp://127.0.0.1:{p}/live",
        "127.0.0.1:{p}/auth",
        "http:/127.0.0.1:{p}",
        "http://",
        "https://",
        "http://:{p}/",
        "http://127.0.0.1:0/",
        "http://127.0.0.1:65536/",
        "http://127.0.0.1:99999999/",
        "http://127.0.0.1:/",
        "http://user:pw@127.0.0.1:{p}/",
        "http://127.0.0.1:{p}/a b",
        "http://127.0.0.1:{p}/#fragment",
        "http://127.0.0.1:{p}/ä",
        "http://127.0.0.1:{p}/a\tb",
        "",
    ]
    .iter()
    .map(|u| u.replace("{p}", &port.to_string()))
    .collect();
    urls.dedup();
    urls
}

#[test]
fn what_check_accepts_the_runtime_accepts_for_every_url_setting() {
    let dir = tempfile::tempdir().unwrap();
    let mut mismatches = Vec::new();
    let mut accepted = 0;
    let mut refused = 0;
    for setting in settings() {
        for url in corpus() {
            std::fs::write(dir.path().join("t.kdl"), (setting.kdl)(&url)).unwrap();
            let (status, stdout, stderr) = oryx(dir.path(), &["check", "t.kdl"]);
            assert!(
                status == 0 || status == 1,
                "{}: check crashed on {url:?}: {stderr}",
                setting.name
            );
            let check = status == 0;
            let runtime = (setting.runtime)(&url, dir.path());
            if check != runtime.is_ok() {
                mismatches.push(format!(
                    "{}: {url:?}: check {} but the runtime {}\n{stdout}{stderr}",
                    setting.name,
                    if check { "accepts" } else { "refuses" },
                    match &runtime {
                        Ok(()) => "accepts".to_string(),
                        Err(err) => format!("refuses ({err})"),
                    }
                ));
            }
            if check {
                accepted += 1;
                // The plan carries the URL as written, so the runtime gets exactly what was tested.
                let plan = oryx::compile::compile_path(&dir.path().join("t.kdl"), None)
                    .unwrap_or_else(|f| panic!("{}", f.rendered));
                let json = serde_json::to_string(&plan).unwrap();
                assert!(
                    json.contains(&serde_json::to_string(&url).unwrap()),
                    "{}: {url:?} not in the plan",
                    setting.name
                );
            } else {
                refused += 1;
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // Both sides of the corpus were exercised for every setting.
    assert!(accepted >= 5 * settings().len(), "{accepted}");
    assert!(refused >= 10 * settings().len(), "{refused}");
}

/// The table above must name every URL-typed setting the schema decodes: a new `.url("name", …)`
/// in `src/compile/` fails here until it is walked too.
#[test]
fn the_walk_covers_every_url_setting_of_the_schema() {
    let walked: Vec<&str> = settings().iter().map(|s| s.name).collect();
    let compile_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/compile");
    let mut found = Vec::new();
    // src/compile/ has subdirectories (decode/, expand/): walk them all.
    let mut files = Vec::new();
    let mut dirs = vec![compile_dir];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    for path in files {
        let text = std::fs::read_to_string(path).unwrap();
        for pattern in [".url(\"", "urls(\""] {
            for piece in text.split(pattern).skip(1) {
                let name = piece.split('"').next().unwrap().to_string();
                found.push(name);
            }
        }
    }
    assert!(found.len() >= 5, "the scan found {found:?}");
    for name in found {
        assert!(
            walked.iter().any(|w| w.contains(&name)),
            "URL setting `{name}` is decoded but not walked by this test"
        );
    }
}
