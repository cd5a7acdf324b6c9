//! Text from outside written into oryx's log: control characters escaped, ANSI colours removed,
//! secrets this process handed to its children masked, and the timestamp every JSON log record
//! carries.

/// `text` with every control character (and the Unicode line separators and bidi overrides that
/// reorder or break a displayed line) written as a Rust escape; borrowed when there is none.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `line` without ANSI escape sequences (SRS colours its warnings and errors on a console, and the
/// shell forwards its lines into oryx's own log).
pub fn strip_ansi(line: &str) -> std::borrow::Cow<'_, str> {
    if !line.contains('\x1b') {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        // CSI (`ESC [ … final`): parameters and intermediates, then one byte in @..~.
        if chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            // A two-byte escape (`ESC c`, …): drop the next character too.
            chars.next();
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Whether this process logs JSON lines (set by the logging setup), so what a role forwards from
/// its own children matches its log.
static JSON_LINES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn set_json_lines(on: bool) {
    JSON_LINES.store(on, std::sync::atomic::Ordering::Relaxed);
}

pub fn json_lines() -> bool {
    JSON_LINES.load(std::sync::atomic::Ordering::Relaxed)
}

/// Secrets a child process may print back (a worker's internal credential sits in the URLs its
/// ffmpeg prints): every forwarded line has them masked.
static SECRETS: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// What a masked secret reads as.
pub const MASK: &str = "***";

/// Mask `secret` in every line forwarded from now on (short strings are refused: masking `a`
/// would garble every line).
pub fn add_secret(secret: &str) {
    if secret.len() < 8 {
        return;
    }
    let mut secrets = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    if !secrets.iter().any(|s| s == secret) {
        secrets.push(secret.to_string());
    }
}

/// `text` with every registered secret replaced by [`MASK`]; borrowed when it holds none.
pub fn mask_secrets(text: &str) -> std::borrow::Cow<'_, str> {
    let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    let mut out = std::borrow::Cow::Borrowed(text);
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = std::borrow::Cow::Owned(out.replace(secret.as_str(), MASK));
        }
    }
    out
}

/// Seconds since the Unix epoch with milliseconds (`1764075600.123`), cheap and sortable.
pub fn timestamp_now() -> String {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:03}", since.as_secs(), since.subsec_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_clean_text_is_borrowed() {
        let forged = "a\n[shell] ERROR\x1b[31m\r\t\u{7f}\u{9b}\u{202e}\u{2028}é";
        assert_eq!(
            escape_controls(forged),
            "a\\n[shell] ERROR\\u{1b}[31m\\r\\t\\u{7f}\\u{9b}\\u{202e}\\u{2028}é"
        );
        assert!(matches!(
            escape_controls("live/cam é"),
            std::borrow::Cow::Borrowed("live/cam é")
        ));
    }

    #[test]
    fn registered_secrets_are_masked() {
        add_secret("s3cr3t-token-for-a-test");
        add_secret("short");
        assert_eq!(
            mask_secrets("rtmp://h/live/cam?k=s3cr3t-token-for-a-test&x=1 short"),
            "rtmp://h/live/cam?k=***&x=1 short"
        );
        assert!(matches!(
            mask_secrets("clean"),
            std::borrow::Cow::Borrowed("clean")
        ));
    }

    #[test]
    fn ansi_colours_are_stripped() {
        assert_eq!(
            strip_ansi("\x1b[33m[2026][WARN] slow\x1b[0m"),
            "[2026][WARN] slow"
        );
        assert_eq!(strip_ansi("\x1b[1;31merror\x1b[0m!"), "error!");
        assert_eq!(strip_ansi("plain [text]"), "plain [text]");
        assert_eq!(strip_ansi("cut \x1b["), "cut ");
        assert_eq!(strip_ansi("\x1bc reset"), " reset");
    }
}
