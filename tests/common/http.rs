//! Tiny raw HTTP clients (raw so tests control every byte, malformed requests included), one response
//! parser for them all, and curl for TLS.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output};
use std::time::Duration;

/// A parsed HTTP response.
#[derive(Debug)]
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.text()))
    }
}

/// What a response's bytes hold: the answer and whether a chunked body was complete.
struct Parsed {
    answer: HttpAnswer,
    complete: bool,
}

/// Parses a whole response; a HEAD answer has no body. `Err` names what is malformed.
fn parse(data: &[u8], head: bool) -> Result<Parsed, &'static str> {
    let head_end = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no header end")?;
    let head_text = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head_text.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or("bad status line")?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let rest = &data[head_end + 4..];
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let (body, complete) = if head {
        (Vec::new(), true)
    } else if chunked {
        dechunk(rest)
    } else {
        (rest.to_vec(), true)
    };
    Ok(Parsed {
        answer: HttpAnswer {
            status,
            headers,
            body,
        },
        complete,
    })
}

/// The chunks of a chunked body up to the first malformed or missing one, and whether the final
/// zero-size chunk was reached.
fn dechunk(mut data: &[u8]) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") else {
            return (body, false);
        };
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let Ok(size) = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
        else {
            return (body, false);
        };
        data = &data[line_end + 2..];
        if size == 0 {
            return (body, true);
        }
        if data.len() < size {
            return (body, false);
        }
        body.extend_from_slice(&data[..size]);
        if data.len() < size + 2 {
            return (body, false);
        }
        data = &data[size + 2..];
    }
}

/// Sends raw bytes (a whole request) and reads the answer until the server closes, a 5 s read
/// timeout or 64 MiB. `None` when the connection fails or no status line comes back; a chunked body
/// cut short is returned as far as it came.
pub fn raw_request(addr: SocketAddr, request: &[u8]) -> Option<HttpAnswer> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .ok()?;
    // The server may answer and close before reading everything (431 on huge headers).
    let _ = stream.write_all(request);
    let mut data = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => data.extend_from_slice(&buffer[..n]),
            Err(_) => break,
        }
        if data.len() > 64 * 1024 * 1024 {
            break;
        }
    }
    parse(&data, false).ok().map(|parsed| parsed.answer)
}

/// `METHOD PATH` over HTTP/1.1 with `Connection: close` (see [`raw_request`]).
pub fn request(addr: SocketAddr, method: &str, path: &str) -> Option<HttpAnswer> {
    let text = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    raw_request(addr, text.as_bytes())
}

pub fn get(addr: SocketAddr, path: &str) -> Option<HttpAnswer> {
    request(addr, "GET", path)
}

/// `METHOD raw_path` over HTTP/1.1 sent byte for byte (no client-side normalisation), with
/// `headers` (and `Host` unless given), read until the server closes; a malformed answer or an
/// incomplete chunked body is an error.
pub fn request_with_headers(
    addr: SocketAddr,
    method: &str,
    raw_path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<HttpAnswer> {
    let mut tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut request = format!("{method} {raw_path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("Host: {addr}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    tcp.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw)?;
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let parsed = parse(&raw, method == "HEAD").map_err(bad)?;
    if !parsed.complete {
        return Err(bad("bad chunked body"));
    }
    Ok(parsed.answer)
}

/// `GET raw_path` with `headers` (see [`request_with_headers`]).
pub fn get_with_headers(
    addr: SocketAddr,
    raw_path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<HttpAnswer> {
    request_with_headers(addr, "GET", raw_path, headers)
}

/// One HTTP/1.0 request bounded by 2 s to connect, 5 s per read and 16 MiB; (status, body).
fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.take(16 << 20).read_to_end(&mut raw)?;
    let status = String::from_utf8_lossy(&raw)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            std::io::Error::other(format!("not HTTP: {:?}", String::from_utf8_lossy(&raw)))
        })?;
    let body_start = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |p| p + 4);
    Ok((status, raw[body_start..].to_vec()))
}

/// A minimal HTTP/1.0 GET: (status, body).
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    exchange(addr, "GET", path, &[])
}

/// One HTTP/1.0 request; returns status and body as text.
pub fn http(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    http_with(addr, method, path, &[])
}

/// [`http`] with extra request headers.
pub fn http_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, String)> {
    let (status, body) = exchange(addr, method, path, headers)?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Runs curl with `args` (plus `-sS` and a time limit); returns its output.
pub fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl runs")
}

/// The value of one series on a `/metrics` page (0 when absent).
pub fn metric(page: &str, series: &str) -> f64 {
    page.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// One HTTP request read from `conn` as text: the head, then `Content-Length` bytes of body (what
/// the hook servers of the tests need; bounded by the connection's read timeout).
#[allow(dead_code)]
pub fn read_request(conn: &mut TcpStream) -> String {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = conn.read(&mut buf) {
        data.extend_from_slice(&buf[..n]);
        let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if data.len() >= end + 4 + length {
            break;
        }
    }
    String::from_utf8_lossy(&data).into_owned()
}
