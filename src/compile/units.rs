//! Parsing of the language's unit-bearing strings: durations, sizes, bitrates, frame sizes, addresses
//! and URLs.

use std::net::SocketAddr;

/// Why an address was rejected.
#[derive(Debug, PartialEq, Eq)]
pub enum AddressError {
    /// Not `host:port` at all.
    Malformed,
    /// The port is 0 or above 65535 (the number as written).
    PortOutOfRange(String),
}

/// `"500ms"`, `"2s"`, `"1m"`, `"1h"` or `"0"` → milliseconds.
pub fn parse_duration_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() || digits.len() > 12 {
        return None;
    }
    let number: u64 = digits.parse().ok()?;
    let scale = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "" if number == 0 => 1,
        _ => return None,
    };
    number.checked_mul(scale)
}

/// `"4096"`, `"64KiB"`, `"8MiB"`, `"1GiB"` (also `KB`/`MB`/`GB` decimal, `B`) → bytes.
pub fn parse_size_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() || digits.len() > 15 {
        return None;
    }
    let number: u64 = digits.parse().ok()?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" => 1 << 10,
        "MiB" | "M" => 1 << 20,
        "GiB" | "G" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return None,
    };
    number.checked_mul(scale)
}

/// `"800k"`, `"2.5M"`, `"2500000"` → bits per second (`k` = 1000, `M` = 1 000 000, like ffmpeg's
/// `-b:v`). At most three decimals; zero is refused (a rendition always has a bitrate).
pub fn parse_bitrate(text: &str) -> Option<u64> {
    let text = text.trim();
    let (number, scale) = match text.as_bytes().last()? {
        b'k' | b'K' => (&text[..text.len() - 1], 1_000u64),
        b'm' | b'M' => (&text[..text.len() - 1], 1_000_000),
        _ => (text, 1),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 12 || fraction.len() > 3 || !digits_only(whole) {
        return None;
    }
    if !digits_only(fraction) || (number.contains('.') && fraction.is_empty()) {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    let thousandths: u64 = format!("{fraction:0<3}").parse().ok()?;
    let bits = whole
        .checked_mul(scale)?
        .checked_add(thousandths.checked_mul(scale)? / 1000)?;
    // A fraction finer than the unit allows (`2.5` bits) means nothing.
    if !(thousandths * scale).is_multiple_of(1000) || bits == 0 {
        return None;
    }
    Some(bits)
}

/// `"1280x720"` → (width, height), each side 16..=8192.
pub fn parse_frame_size(text: &str) -> Option<(u32, u32)> {
    let (w, h) = text.trim().split_once(['x', 'X'])?;
    let side = |s: &str| -> Option<u32> {
        if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u32 = s.parse().ok()?;
        (16..=8192).contains(&n).then_some(n)
    };
    Some((side(w)?, side(h)?))
}

/// `host:port` with an IP host (`0.0.0.0:1935`, `[::1]:1935`); `localhost` means 127.0.0.1.
pub fn parse_address(text: &str) -> Result<SocketAddr, AddressError> {
    let text = text.trim();
    let (host, port) = text.rsplit_once(':').ok_or(AddressError::Malformed)?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || port.len() > 10 {
        return Err(AddressError::Malformed);
    }
    let number: u64 = port.parse().map_err(|_| AddressError::Malformed)?;
    if number == 0 || number > 65535 {
        return Err(AddressError::PortOutOfRange(port.to_string()));
    }
    let host = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    format!("{host}:{number}")
        .parse()
        .map_err(|_| AddressError::Malformed)
}

/// An absolute `http://` or `https://` URL with a host: what [`parse_http_url`] accepts.
pub fn is_http_url(text: &str) -> bool {
    parse_http_url(text).is_ok()
}

/// Parse an `http://` or `https://` URL the way the runtime will use it. `oryx check` and every role
/// that sends to a URL (hooks, proxy routes, the ACME client) call this one function, so a URL the
/// check accepts is one the runtime accepts. The error says what is wrong, for the diagnostic label.
pub fn parse_http_url(text: &str) -> Result<http::Uri, &'static str> {
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    if !lower.starts_with("http://") && !lower.starts_with("https://") {
        return Err("not an http:// or https:// URL");
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains whitespace");
    }
    if text.contains('#') {
        return Err("a fragment (`#…`) is never sent");
    }
    let uri: http::Uri = text.parse().map_err(|_| "not a valid URL")?;
    let authority = uri.authority().ok_or("no host")?;
    if authority.as_str().contains('@') {
        // Neither hyper nor the hook protocol sends user info; a silently dropped password would
        // look like a broken hook. A token in the query string is sent.
        return Err("user info (`user:password@`) is not sent; put a token in the query instead");
    }
    if uri.host().is_none_or(|h| h.is_empty() || h == "[]") {
        return Err("no host");
    }
    // http::Uri keeps a port it cannot represent as `None`, which clients read as the default port.
    if let Some((_, port)) = authority.as_str().rsplit_once(':') {
        if !port.ends_with(']') && port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err("port out of range 1..=65535");
        }
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("500ms"), Some(500));
        assert_eq!(parse_duration_ms("2s"), Some(2000));
        assert_eq!(parse_duration_ms("1m"), Some(60_000));
        assert_eq!(parse_duration_ms("0"), Some(0));
        assert_eq!(parse_duration_ms("2"), None);
        assert_eq!(parse_duration_ms("2 s"), None);
        assert_eq!(parse_duration_ms("fast"), None);
        assert_eq!(parse_duration_ms("99999999999999999999s"), None);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size_bytes("4096"), Some(4096));
        assert_eq!(parse_size_bytes("64KiB"), Some(65536));
        assert_eq!(parse_size_bytes("4MiB"), Some(4 << 20));
        assert_eq!(parse_size_bytes("1GB"), Some(1_000_000_000));
        assert_eq!(parse_size_bytes("lots"), None);
        assert_eq!(parse_size_bytes("4 furlongs"), None);
    }

    #[test]
    fn bitrates() {
        assert_eq!(parse_bitrate("800k"), Some(800_000));
        assert_eq!(parse_bitrate("2.5M"), Some(2_500_000));
        assert_eq!(parse_bitrate("2500000"), Some(2_500_000));
        assert_eq!(parse_bitrate("128K"), Some(128_000));
        assert_eq!(parse_bitrate("1.25k"), Some(1250));
        for bad in [
            "",
            "k",
            "0",
            "0k",
            "2.5",
            "1.k",
            "-1k",
            "fast",
            "2.5G",
            "1.0001M",
            "9999999999999M",
        ] {
            assert_eq!(parse_bitrate(bad), None, "{bad}");
        }
    }

    #[test]
    fn frame_sizes() {
        assert_eq!(parse_frame_size("1280x720"), Some((1280, 720)));
        assert_eq!(parse_frame_size("640X360"), Some((640, 360)));
        for bad in [
            "",
            "x",
            "1280",
            "1280x",
            "0x0",
            "1280x720x1",
            "99999x1",
            "a x b",
        ] {
            assert_eq!(parse_frame_size(bad), None, "{bad}");
        }
    }

    #[test]
    fn addresses() {
        assert_eq!(
            parse_address("0.0.0.0:1935").unwrap().to_string(),
            "0.0.0.0:1935"
        );
        assert_eq!(parse_address("[::1]:80").unwrap().to_string(), "[::1]:80");
        assert_eq!(
            parse_address("localhost:8080").unwrap().to_string(),
            "127.0.0.1:8080"
        );
        assert_eq!(
            parse_address("0.0.0.0:0"),
            Err(AddressError::PortOutOfRange("0".into()))
        );
        assert_eq!(
            parse_address("0.0.0.0:65536"),
            Err(AddressError::PortOutOfRange("65536".into()))
        );
        assert_eq!(parse_address("1935"), Err(AddressError::Malformed));
        assert_eq!(
            parse_address("example.com:80"),
            Err(AddressError::Malformed)
        );
    }

    #[test]
    fn urls() {
        assert!(is_http_url("http://127.0.0.1:8085/auth"));
        assert!(is_http_url("https://example.com"));
        assert!(!is_http_url("ftp://x"));
        assert!(!is_http_url("http://"));
        assert!(is_http_url("HTTPS://Example.com:8443/a?b=c"));
        assert!(is_http_url("http://[::1]:8085/auth"));
        for bad in [
            "http://h:0/",
            "http://h:65536/",
            "http://h:/",
            "http://u:p@h/",
            "http://h/a b",
            "http://h/#top",
            "http://:80/",
            "https://",
            "http:/h",
            "h/a",
        ] {
            assert!(!is_http_url(bad), "{bad}");
        }
    }
}
