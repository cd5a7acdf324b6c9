//! A hook endpoint for tests: answers SRS's way (`0` allows, `1` refuses) as `allow` decides from
//! the request body, and keeps every body it was sent.

use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Start one on a free loopback port; returns its URL (`http://ADDR/PATH`) and the bodies so far.
pub fn start(
    path: &str,
    allow: impl Fn(&str) -> bool + Send + 'static,
) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/{path}", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            conn.set_read_timeout(Some(Duration::from_secs(2))).ok();
            let text = super::http::read_request(&mut conn);
            let body = text
                .split_once("\r\n\r\n")
                .map_or("", |(_, b)| b)
                .to_string();
            let answer = if allow(&body) { "0" } else { "1" };
            seen.lock().unwrap().push(body);
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n{answer}"
            );
        }
    });
    (url, bodies)
}

/// The bodies so far, as JSON (a body that is not JSON becomes `null`).
pub fn json_bodies(bodies: &Mutex<Vec<String>>) -> Vec<serde_json::Value> {
    let bodies = bodies.lock().unwrap();
    bodies
        .iter()
        .map(|b| serde_json::from_str(b).unwrap_or_default())
        .collect()
}
