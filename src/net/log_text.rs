//! Text from outside written into oryx's log: control characters escaped, ANSI colours removed,
//! and the timestamp every JSON log record carries.

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
