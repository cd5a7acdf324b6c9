//! WHEP load for `scripts/bench-whep`: N str0m players (tests/common/whep_client.rs) of one stream,
//! attached in waves of 20, held for a while, then a line of what each of them got.
//! Usage: whep_load HOST:PORT PATH PLAYERS SECONDS
//!   e.g. whep_load 127.0.0.1:8080 /live/bench/whep 200 30
//!        whep_load 127.0.0.1:1985 '/rtc/v1/whep/?app=live&stream=bench' 200 30
//! Prints `attached A of N, C connected` once every wave has connected (or waited 20 s: the
//! caller starts measuring then), and after SECONDS what the players received over those SECONDS:
//! how many got frames, RTP packets and frames per player (fewest, median), and the Mbit/s
//! delivered to all of them (UDP payload: SRTP and RTCP as the server sent them).

#[path = "../tests/common/whep_client.rs"]
mod whep_client;

use std::time::{Duration, Instant};
use whep_client::WhepClient;

/// One player's counters at one instant.
#[derive(Clone, Copy)]
struct Snapshot {
    frames: u64,
    packets: u64,
    bytes: u64,
}

fn snapshot(client: &WhepClient) -> Snapshot {
    Snapshot {
        frames: client.frames(),
        packets: client.rtp_packets(),
        bytes: client.udp_bytes(),
    }
}

/// Wait until every client so far has connected, for at most 20 s (a wave's DTLS handshakes).
fn wait_connected(clients: &[WhepClient]) {
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until && !clients.iter().all(WhepClient::connected) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The fewest and the median of `values`.
fn fewest_median(mut values: Vec<u64>) -> (u64, u64) {
    values.sort_unstable();
    let fewest = values.first().copied().unwrap_or(0);
    (fewest, values.get(values.len() / 2).copied().unwrap_or(0))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [http, path, players, seconds] = args.as_slice() else {
        eprintln!("usage: whep_load HOST:PORT PATH PLAYERS SECONDS");
        std::process::exit(2);
    };
    let http = http.parse().expect("HOST:PORT");
    let players: usize = players.parse().expect("PLAYERS");
    let seconds: u64 = seconds.parse().expect("SECONDS");
    let mut clients = Vec::with_capacity(players);
    for i in 0..players {
        match WhepClient::start(http, path) {
            Ok(client) => clients.push(client),
            Err(err) => eprintln!("player {i}: {err}"),
        }
        if clients.len() % 20 == 0 {
            wait_connected(&clients);
        }
    }
    // The last, partial wave too: counted before its handshakes, it would read as not connected.
    wait_connected(&clients);
    let connected = clients.iter().filter(|c| c.connected()).count();
    println!(
        "attached {} of {players}, {connected} connected",
        clients.len()
    );
    // The caller samples the server's CPU now.
    let before: Vec<Snapshot> = clients.iter().map(snapshot).collect();
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let after: Vec<Snapshot> = clients.iter().map(snapshot).collect();
    let elapsed = start.elapsed().as_secs_f64();
    let deltas = || before.iter().zip(&after);
    let frames: Vec<u64> = deltas().map(|(b, a)| a.frames - b.frames).collect();
    let packets: Vec<u64> = deltas().map(|(b, a)| a.packets - b.packets).collect();
    let bytes: u64 = deltas().map(|(b, a)| a.bytes - b.bytes).sum();
    let playing = frames.iter().filter(|&&f| f > 0).count();
    let mbit_s = bytes as f64 * 8.0 / elapsed / 1e6;
    let (fewest_frames, median_frames) = fewest_median(frames);
    let (fewest_packets, median_packets) = fewest_median(packets);
    println!(
        "over {elapsed:.0} s: playing {playing} of {players}; {mbit_s:.2} Mbit/s delivered in all \
         ({:.0} kbit/s per player); RTP packets per player fewest {fewest_packets}, median \
         {median_packets}; frames per player fewest {fewest_frames}, median {median_frames} \
         ({:.1} fps)",
        mbit_s * 1000.0 / players.max(1) as f64,
        median_frames as f64 / elapsed
    );
    for client in clients {
        client.delete();
    }
}
