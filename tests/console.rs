//! The console and the player page in headless Chromium (over the DevTools protocol) against a real
//! `oryx up` topology with an ffmpeg publisher and players: the console (with the API's token) lists
//! the stream with its codecs, worker, publisher and players per protocol; its preview plays the
//! stream over WHEP (the `<video>`'s decoded frames and time advance) and a screenshot of it is
//! written under target/; without the token it shows the login prompt and the API refuses; the
//! console also loads through a static site's prefix proxy; the player page on the http-lb plays
//! over WebRTC.

mod common;

use common::chromium::{Browser, Page};
use common::cluster::*;
use common::http::{get, get_with_headers};
use common::media::{make_media, play_to_null, publish};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
    let root = site_root(dir.path(), None);
    let [rtmp, http, api, site] = [0u16, 1, 2, 3].map(|_| free_addr().port());
    let udp = common::webrtc::free_udp();
    let kdl = dir.path().join("console.kdl");
    std::fs::write(
        &kdl,
        format!(
            r#"oryx 1
{ports}
worker "live" {{
    webrtc {{
        udp listen="{udp}"
    }}
}}
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
            ports = port_pool(20),
            root = root.display()
        ),
    )
    .unwrap();
    let run = dir.path().join("run");
    let (_, shell) = up_ready(&kdl, &run, &[("ORYX_TEST_API_TOKEN", TOKEN)], 5);
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

/// Chromium on `url` (DevTools protocol) until `ready` holds for its DOM (bounded); that DOM.
fn dom_when(url: &str, what: &str, ready: impl Fn(&str) -> bool) -> String {
    let mut browser = Browser::launch_cdp(url, &["--window-size=1400,900"]);
    dom_of(&mut browser, what, ready)
}

fn dom_of(browser: &mut Browser, what: &str, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let dom = browser
            .cdp()
            .eval("document.documentElement ? document.documentElement.outerHTML : ''")
            .unwrap_or_else(|e| panic!("{e}"));
        let dom = dom.as_str().unwrap_or_default().to_string();
        if ready(&dom) {
            return dom;
        }
        assert!(Instant::now() < deadline, "{what}: {dom}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The preview `<video>`: its decoded frames and time, and the panel's state.
fn preview_video(browser: &mut Browser) -> (f64, f64, String) {
    let value = browser
        .cdp()
        .eval(
            "(() => { const v = document.getElementById('preview-video'); return [v.webkitDecodedFrameCount, v.currentTime, document.getElementById('preview-state').textContent]; })()",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    (
        value[0].as_f64().unwrap_or(0.0),
        value[1].as_f64().unwrap_or(0.0),
        value[2].as_str().unwrap_or_default().to_string(),
    )
}

/// The gray levels of a PNG, decoded by ffmpeg.
fn png_gray(dir: &Path, png: &[u8]) -> Vec<u8> {
    let file = dir.join("shot.png");
    std::fs::write(&file, png).unwrap();
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-i"])
        .arg(&file)
        .args(["-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(out.status.success(), "ffmpeg cannot decode the screenshot");
    out.stdout
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
fn console_lists_and_previews_a_stream_over_whep_and_the_player_page_plays_it() {
    if !Page::available() {
        return;
    }
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
    let dom = dom_when(
        &format!("http://{}/console/", s.api),
        "the login prompt",
        |dom| dom.contains("data-state=\"login\""),
    );
    assert!(!dom.contains("data-stream=\"live/cam\""));

    // With it: the stream, its worker, codecs, publisher and players per protocol.
    let url = format!("http://{}/console/#token={TOKEN}", s.api);
    let dom = dom_when(&url, "the stream row with its players", |dom| {
        dom.contains("data-state=\"ready\"")
            && stream_row(dom, "live/cam").is_some_and(|r| r.contains("rtmp 1"))
    });
    let row = stream_row(&dom, "live/cam").unwrap();
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

    // `?preview=` opens the preview, which plays the stream over WHEP: the <video>'s decoded
    // frames and time advance; then a screenshot of the console with the picture in it.
    let url = format!("http://{}/console/?preview=live/cam#token={TOKEN}", s.api);
    let mut console = Browser::launch_cdp(&url, &["--window-size=1400,900"]);
    let deadline = Instant::now() + Duration::from_secs(40);
    let (frames, time) = loop {
        let (frames, time, state) = preview_video(&mut console);
        if frames >= 25.0 && time >= 1.0 {
            assert_eq!(state, "WebRTC");
            break (frames, time);
        }
        assert!(
            Instant::now() < deadline,
            "the preview does not play: {frames} frames, {time} s, state {state:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    std::thread::sleep(Duration::from_secs(2));
    let (later_frames, later_time, _) = preview_video(&mut console);
    assert!(
        later_frames > frames && later_time > time,
        "the preview stalled: {frames} → {later_frames} frames, {time} → {later_time} s"
    );
    let png = console.cdp().screenshot().unwrap_or_else(|e| panic!("{e}"));
    let shot = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/console-preview.png");
    std::fs::write(&shot, &png).unwrap();
    println!("console screenshot: {}", shot.display());
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    let gray = png_gray(s.dir.path(), &png);
    let mut levels = [0usize; 256];
    gray.iter().for_each(|&g| levels[g as usize] += 1);
    let commonest = levels.iter().max().copied().unwrap_or(0);
    assert!(
        !gray.is_empty() && commonest < gray.len() * 9 / 10,
        "the screenshot is (nearly) one colour: {commonest} of {} pixels alike",
        gray.len()
    );
    drop(console);

    // The player page: served by the http-lb, plays over WebRTC (HLS and a message are its
    // fallbacks).
    let page = get(s.http, "/play/live/cam").unwrap();
    assert_eq!(page.status, 200);
    assert!(page.text().contains("RTCPeerConnection"));
    let play = format!("http://{}/play/live/cam", s.http);
    let dom = dom_when(&play, "the player page's choice", |dom| {
        ["webrtc", "hls", "unsupported"]
            .iter()
            .any(|state| dom.contains(&format!("data-state=\"{state}\"")))
    });
    assert!(dom.contains("data-state=\"webrtc\""), "{dom}");
    assert!(dom.contains("live/cam.m3u8"), "{dom}");
}
