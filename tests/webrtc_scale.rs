//! WebRTC at scale: 200 WHEP players of one stream (str0m clients, `common::whep_client`) all get
//! media while the worker's resident memory stays under a bound derived from what each session
//! holds, and returns near its baseline after they leave with DELETE and after they vanish (reaped
//! at the ICE timeout). A Chromium page on the same stream keeps playing throughout.

mod common;

use common::chromium::{self, number, Page};
use common::webrtc::webrtc_worker;
use common::whep_client::WhepClient;
use common::worker::Worker;
use std::time::{Duration, Instant};

const PLAYERS: usize = 200;
/// What one WHEP session may hold: its resend ring (400 video packets of at most ~1.2 kB of
/// SRTP each, `set_send_buffer_video(400)`), str0m's other per-session state (ICE, DTLS, SRTP
/// contexts, RTCP; measured at well under 64 KiB) and the hub player's queue, which a player
/// that keeps up leaves nearly empty. 640 KiB is that ring at full MTU plus room for the rest.
const SESSION_KIB: u64 = 640;
/// Allocator slack: glibc keeps freed memory in its arenas for reuse rather than returning every
/// page, so "near the baseline" is the baseline plus this share of the peak growth.
const RETURN_SHARE: f64 = 0.5;

/// The worker's `rtc-play` clients in its API.
fn rtc_players(worker: &Worker) -> usize {
    let answer = common::control::get(worker.control, "/api/v1/clients/").expect("the API answers");
    answer.json()["clients"].as_array().map_or(0, |c| {
        c.iter()
            .filter(|c| c["type"].as_str() == Some("rtc-play"))
            .count()
    })
}

/// Attach `PLAYERS` clients and wait until every one has decoded `frames` frames; the highest RSS
/// seen meanwhile.
fn attach_all(worker: &Worker, frames: u64) -> (Vec<WhepClient>, u64) {
    let mut peak = worker.rss_kib();
    let mut clients = Vec::with_capacity(PLAYERS);
    // In waves of 20, each connected before the next comes: a flash crowd of DTLS handshakes
    // is another test's subject.
    for i in 0..PLAYERS {
        let client = WhepClient::start(worker.http, "/live/cam/whep")
            .unwrap_or_else(|e| panic!("player {i}: {e}"));
        clients.push(client);
        if clients.len() % 20 == 0 {
            common::wait::expect_within(Duration::from_secs(60), "a wave to connect", || {
                clients.iter().all(WhepClient::connected).then_some(())
            });
        }
        peak = peak.max(worker.rss_kib());
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        peak = peak.max(worker.rss_kib());
        let behind = clients.iter().filter(|c| c.frames() < frames).count();
        if behind == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{behind} of {PLAYERS} players have fewer than {frames} frames: {:?}",
            clients
                .iter()
                .map(|c| (c.connected(), c.frames()))
                .filter(|(_, f)| *f < frames)
                .take(10)
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // A few more seconds of steady fan-out: the rings fill to what this stream puts in them.
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        peak = peak.max(worker.rss_kib());
        std::thread::sleep(Duration::from_millis(250));
    }
    (clients, peak)
}

/// The Chromium page is still decoding: its frame count advances past `last`.
fn page_advances(page: &Page, last: f64) -> f64 {
    let report = page
        .wait(Duration::from_secs(20), |r| {
            number(r, "frames") > last + 5.0
        })
        .unwrap_or_else(|r| panic!("the Chromium page stopped decoding: {r:?}"));
    number(&report, "frames")
}

#[test]
fn two_hundred_whep_players_of_one_stream_leave_memory_bounded() {
    if !Page::available() {
        return;
    }
    let (worker, _) = webrtc_worker();
    let dir = tempfile::tempdir().unwrap();
    let media = common::media::tiny_h264_clip(dir.path(), "small.flv", 10, None);
    let _publisher = common::media::publish(&media, &worker.rtmp_url("live/cam"), true);
    let page = Page::start(&chromium::whep_script(&worker.http_url("live/cam/whep")));
    let report = page
        .wait(Duration::from_secs(40), |r| number(r, "frames") >= 10.0)
        .unwrap_or_else(|last| panic!("Chromium did not play over WHEP: {last:?}"));
    let mut frames = number(&report, "frames");
    // Baseline: the stream, its publisher, one browser player, the warm runtime.
    std::thread::sleep(Duration::from_secs(2));
    let baseline = worker.rss_kib();
    let bound = baseline + PLAYERS as u64 * SESSION_KIB;

    // They come, play, and leave with DELETE.
    let (clients, peak) = attach_all(&worker, 10);
    println!("baseline {baseline} KiB, {PLAYERS} players: peak {peak} KiB (bound {bound} KiB)");
    assert!(
        peak < bound,
        "RSS {peak} KiB with {PLAYERS} players: over {bound} KiB"
    );
    assert_eq!(rtc_players(&worker), PLAYERS + 1);
    frames = page_advances(&page, frames);
    for client in clients {
        assert_eq!(client.delete(), 200);
    }
    common::wait::expect_within(
        Duration::from_secs(10),
        "the DELETEd sessions to end",
        || (rtc_players(&worker) == 1).then_some(()),
    );
    std::thread::sleep(Duration::from_secs(2));
    let near = baseline + ((peak - baseline) as f64 * RETURN_SHARE) as u64;
    let after_delete = worker.rss_kib();
    println!("after DELETE: {after_delete} KiB (near: under {near} KiB)");
    assert!(
        after_delete < near,
        "RSS {after_delete} KiB after every player left: not back near {baseline} KiB"
    );
    frames = page_advances(&page, frames);

    // They come again and vanish without a word: reaped at the ICE timeout, memory back again,
    // and the second wave costs no more than the first (nothing of the first was kept).
    let (clients, second_peak) = attach_all(&worker, 10);
    println!("second wave: peak {second_peak} KiB");
    assert!(
        second_peak < bound,
        "RSS {second_peak} KiB with the second {PLAYERS} players: over {bound} KiB"
    );
    drop(clients);
    // ICE timeout (10 s) plus the reaper's second, with room for a loaded machine.
    common::wait::expect_within(
        Duration::from_secs(40),
        "the vanished sessions reaped",
        || (rtc_players(&worker) == 1).then_some(()),
    );
    std::thread::sleep(Duration::from_secs(2));
    let after_reap = worker.rss_kib();
    println!("after the reaper: {after_reap} KiB");
    assert!(
        after_reap < near,
        "RSS {after_reap} KiB after the vanished players were reaped: not back near {baseline} KiB"
    );
    page_advances(&page, frames);
}
