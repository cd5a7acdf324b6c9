//! WHEP load for `scripts/bench-whep`: N str0m players (tests/common/whep_client.rs) of one stream,
//! attached in waves of 20, held for a while, then a line of what they got.
//! Usage: whep_load HOST:PORT PATH PLAYERS SECONDS
//!   e.g. whep_load 127.0.0.1:8080 /live/bench/whep 200 30
//!        whep_load 127.0.0.1:1985 '/rtc/v1/whep/?app=live&stream=bench' 200 30

#[path = "../tests/common/whep_client.rs"]
mod whep_client;

use std::time::{Duration, Instant};
use whep_client::WhepClient;

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
            let until = Instant::now() + Duration::from_secs(20);
            while Instant::now() < until && !clients.iter().all(WhepClient::connected) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    let connected = clients.iter().filter(|c| c.connected()).count();
    println!(
        "attached {} of {players}, {connected} connected",
        clients.len()
    );
    // The caller samples the server's CPU now.
    std::thread::sleep(Duration::from_secs(seconds));
    let frames: Vec<u64> = clients.iter().map(WhepClient::frames).collect();
    let playing = frames.iter().filter(|&&f| f > 0).count();
    let total: u64 = frames.iter().sum();
    println!(
        "playing {playing} of {players}, {total} frames in all, fewest {}",
        frames.iter().min().copied().unwrap_or(0)
    );
    for client in clients {
        client.delete();
    }
}
