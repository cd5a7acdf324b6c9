//! Does a server serve a protocol at all? Asked before a viewer starts, so a protocol a build does
//! not have yet is reported as "not available" with the server's answer, never guessed.

use super::Player;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// `Ok` when `url` answers like a `player` source; else why not. Playlists and FLV streams appear
/// only once the publisher's first segment or tag is in, so they are asked again until `wait`.
pub fn available(player: Player, url: &str, wait: Duration) -> Result<(), String> {
    let deadline = Instant::now() + wait;
    loop {
        let answer = once(player, url);
        let retry = matches!(player, Player::Hls | Player::HlsLowLatency | Player::Flv);
        match answer {
            Err(_) if retry && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(500))
            }
            other => return other,
        }
    }
}

fn once(player: Player, url: &str) -> Result<(), String> {
    match player {
        Player::Hls | Player::HlsLowLatency => {
            let (status, body) = http("GET", url, None)?;
            if status != 200 || !body.contains("#EXTM3U") {
                return Err(format!("GET {url}: {status}"));
            }
            if player == Player::HlsLowLatency && !body.contains("#EXT-X-PART") {
                return Err("the playlist has no #EXT-X-PART (plain HLS, not LL-HLS)".into());
            }
            Ok(())
        }
        Player::Flv => match http("GET", url, None)? {
            (200, body) if body.contains("FLV") => Ok(()),
            (status, _) => Err(format!("GET {url}: {status}")),
        },
        Player::Whep | Player::WhepLowDelay => {
            // Not an offer a server can answer: only whether anything takes WHEP posts here.
            match http("POST", url, Some("v=0\r\n"))? {
                (404 | 405 | 501, _) => Err(format!("POST {url}: no WHEP endpoint")),
                _ => Ok(()),
            }
        }
        Player::File | Player::Rtmp => Ok(()),
    }
}

/// One HTTP/1.1 request (`Connection: close`); the status and at most the first 64 KiB of the
/// answer, read for at most 3 s (an FLV stream never ends).
fn http(method: &str, url: &str, sdp: Option<&str>) -> Result<(u16, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// is probed"))?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let addr = host
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("{url}: bad address"))?;
    let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(3))
        .map_err(|e| format!("{url}: {e}"))?;
    conn.set_read_timeout(Some(Duration::from_millis(500))).ok();
    let body = sdp.unwrap_or("");
    let headers = match sdp {
        Some(_) => format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n",
            body.len()
        ),
        None => String::new(),
    };
    write!(
        conn,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Connection: close\r\n\r\n{body}"
    )
    .map_err(|e| format!("{url}: {e}"))?;
    let mut answer = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut buf = [0u8; 16384];
    while answer.len() < 65536 && Instant::now() < deadline {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => return Err(format!("{url}: {e}")),
        }
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{url}: no HTTP answer"))?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    Ok((status, body.to_string()))
}
