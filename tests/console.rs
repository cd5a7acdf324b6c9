//! The console and the player page in headless Chromium against a real `oryx up` topology with an
//! ffmpeg publisher and players: the console (with the API's token) lists the stream with its
//! codecs, worker, publisher and players per protocol, and a screenshot is written under target/;
//! without the token it shows the login prompt and the API refuses; the console also loads through
//! a static site's prefix proxy; the player page on the http-lb tries WHEP and falls back.

mod common;

use common::cluster::*;
use common::http::{get, get_with_headers};
use common::media::{make_media, play_to_null, publish};
use common::process::run_tool;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";
const TOKEN: &str = "console-t0ken";

struct Setup {
    dir: tempfile::TempDir,
    _shell: common::process::Proc,
    rtmp: SocketAddr,
    http: SocketAddr,
    api: SocketAddr,
    site: SocketAddr,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("html");
    std::fs::create_dir_all(&root).unwrap();
    let base = free_port_run(20);
    let [rtmp, http, api, site] = [0u16, 1, 2, 3].map(|_| free_addr().port());
    let kdl = dir.path().join("console.kdl");
    std::fs::write(
        &kdl,
        format!(
            r#"oryx 1
ports from={base} to={to}
worker "live"
rtmp-lb listen="127.0.0.1:{rtmp}"
http-lb listen="127.0.0.1:{http}"
api-lb listen="127.0.0.1:{api}" {{
    auth token-env="ORYX_TEST_API_TOKEN" reads=#true
}}
static "site" {{
    root "{root}"
    listen "127.0.0.1:{site}"
    proxy "/ops/" to="api-lb" strip-prefix=#true
}}
"#,
            to = base + 19,
            root = root.display()
        ),
    )
    .unwrap();
    let plan = oryx::compile::compile_path(&kdl, None).unwrap_or_else(|f| panic!("{f}"));
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_oryx"));
    command
        .arg("up")
        .arg(&kdl)
        .arg("--run-dir")
        .arg(dir.path().join("run"))
        .env("RUST_LOG", "info")
        .env("ORYX_TEST_API_TOKEN", TOKEN);
    let shell = common::process::Proc::spawn(command, dir.path().join("up.log"));
    wait_all_ready(&plan, 5, Duration::from_secs(30));
    let at = |port| SocketAddr::from(([127, 0, 0, 1], port));
    Setup {
        dir,
        _shell: shell,
        rtmp: at(rtmp),
        http: at(http),
        api: at(api),
        site: at(site),
    }
}

/// Chromium loads `url`, runs its scripts for a few seconds of virtual time and prints the DOM
/// (or writes a screenshot with `extra`).
fn chromium(dir: &std::path::Path, url: &str, extra: &[&str]) -> String {
    let profile = tempfile::tempdir_in(dir).unwrap();
    let user_data = format!("--user-data-dir={}", profile.path().display());
    let mut args = vec![
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--mute-audio",
        "--autoplay-policy=no-user-gesture-required",
        &user_data,
    ];
    args.push("--virtual-time-budget=6000");
    args.extend_from_slice(extra);
    args.push(url);
    let (_, stdout, stderr) = run_tool(CHROMIUM, &args, Duration::from_secs(60));
    if stdout.is_empty() && !extra.iter().any(|a| a.starts_with("--screenshot")) {
        panic!("chromium printed nothing for {url}: {stderr}");
    }
    stdout
}

fn api_get(api: SocketAddr, path: &str) -> Option<Value> {
    let auth = format!("Bearer {TOKEN}");
    let answer = get_with_headers(api, path, &[("Authorization", &auth)]).ok()?;
    (answer.status == 200).then(|| answer.json())
}

/// The `<tr data-stream="NAME">` row of the dumped DOM.
fn stream_row<'a>(dom: &'a str, name: &str) -> Option<&'a str> {
    let start = dom.find(&format!("data-stream=\"{name}\""))?;
    let end = dom[start..].find("</tr>")? + start;
    Some(&dom[start..end])
}

#[test]
fn console_lists_streams_and_the_player_page_falls_back() {
    let s = setup();
    let media = make_media(s.dir.path(), 20);
    let _publisher = publish(&media, &format!("rtmp://{}/live/cam", s.rtmp), true);
    let _flv_player = play_to_null(&format!("http://{}/live/cam.flv", s.http));
    let _rtmp_player = play_to_null(&format!("rtmp://{}/live/cam", s.rtmp));
    // Both players are listed by the API before the page looks.
    wait_for(
        Duration::from_secs(20),
        "the stream and its two players in the API",
        || {
            let clients = api_get(s.api, "/api/v1/clients/")?;
            let list = clients["clients"].as_array()?;
            let players = list
                .iter()
                .filter(|c| c["name"] == "cam" && c["publish"] == false)
                .count();
            (players >= 2).then_some(())
        },
    );

    // The API refuses without the token; the console's files do not need it.
    assert_eq!(get(s.api, "/api/v1/streams/").unwrap().status, 401);
    assert_eq!(get(s.api, "/api/v1/console").unwrap().status, 401);
    let page = get(s.api, "/console/").unwrap();
    assert_eq!(page.status, 200);
    assert!(page.text().contains("console.js"));
    assert!(get(s.api, "/console/console.js")
        .unwrap()
        .text()
        .contains("oryxPlay"));
    let info = api_get(s.api, "/api/v1/console").expect("the console's status with the token");
    assert_eq!(info["play"]["port"], s.http.port());
    assert!(
        info["digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{info}"
    );
    assert_eq!(info["roles"].as_array().map(Vec::len), Some(5), "{info}");
    assert_eq!(info["workers"][0]["healthy"], true);
    // Through the static site's prefix proxy too (relative links keep the prefix).
    let proxied = get(s.site, "/ops/console/").unwrap();
    assert_eq!(proxied.status, 200);
    assert!(proxied.text().contains("oryx console"));

    // Without the token: the login prompt.
    let dom = chromium(
        s.dir.path(),
        &format!("http://{}/console/", s.api),
        &["--dump-dom"],
    );
    assert!(dom.contains("data-state=\"login\""), "{dom}");
    assert!(!dom.contains("data-stream=\"live/cam\""));

    // With it: the stream, its worker, codecs, publisher and players per protocol.
    let url = format!("http://{}/console/#token={TOKEN}", s.api);
    let dom = chromium(s.dir.path(), &url, &["--dump-dom"]);
    assert!(dom.contains("data-state=\"ready\""), "{dom}");
    let row = stream_row(&dom, "live/cam").unwrap_or_else(|| panic!("no stream row in {dom}"));
    assert!(row.contains(">live<"), "worker: {row}");
    assert!(row.contains("H264") && row.contains("AAC"), "codecs: {row}");
    assert!(row.contains("127.0.0.1"), "publisher: {row}");
    assert!(
        row.contains("flv 1") && row.contains("rtmp 1"),
        "players: {row}"
    );
    assert!(
        row.contains(&format!("http://127.0.0.1:{}/play/live/cam", s.http.port())),
        "{row}"
    );
    assert!(
        dom.contains("class=\"ok\">healthy<"),
        "worker health: {dom}"
    );

    let shot = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    let shot_arg = format!("--screenshot={}", shot.display());
    chromium(s.dir.path(), &url, &[&shot_arg, "--window-size=1400,900"]);
    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );

    // `?preview=` opens the preview: WHEP is tried (and HLS), each attempt reported in the panel.
    let url = format!("http://{}/console/?preview=live/cam#token={TOKEN}", s.api);
    let dom = chromium(s.dir.path(), &url, &["--dump-dom"]);
    let panel = &dom[dom.find("id=\"preview\"").expect("the preview panel")..];
    assert!(
        !panel.starts_with("id=\"preview\" class=\"card\" hidden"),
        "{panel}"
    );
    assert!(
        ["WebRTC<", "HLS<", "cannot play<"]
            .iter()
            .any(|s| panel.contains(s)),
        "preview state: {panel}"
    );

    // The player page: served by the http-lb, WHEP first, then native HLS or a clear message.
    let page = get(s.http, "/play/live/cam").unwrap();
    assert_eq!(page.status, 200);
    assert!(page.text().contains("RTCPeerConnection"));
    let play = format!("http://{}/play/live/cam", s.http);
    let dom = chromium(s.dir.path(), &play, &["--dump-dom"]);
    let state = ["webrtc", "hls", "unsupported"]
        .into_iter()
        .find(|state| dom.contains(&format!("data-state=\"{state}\"")))
        .unwrap_or_else(|| panic!("the player chose nothing: {dom}"));
    if state != "webrtc" {
        // Until the worker answers WHEP the attempt is logged and the fallback shown.
        assert!(dom.contains("WebRTC: "), "{dom}");
    }
    if state == "unsupported" {
        assert!(
            dom.contains("neither over WebRTC nor as native HLS"),
            "{dom}"
        );
    }
    assert!(dom.contains("live/cam.m3u8"), "{dom}");
}
