//! The canonical layout of a topology file, for `oryx fmt`.
//!
//! A conservative formatter: it re-indents by nesting (4 spaces), collapses runs of spaces between
//! tokens, writes properties as `key=value`, keeps at most one blank line and trims trailing
//! whitespace. It never touches strings, comments or how values are spelled, so comments survive and
//! the result means exactly what the input meant (checked by comparing the parsed documents).

use super::diagnostic::{Diagnostic, DiagnosticKind, Span};
use super::parse;

const INDENT: &str = "    ";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Normal,
    /// `"…"`.
    Quoted,
    /// `"""…"""`.
    MultiQuoted,
    /// `#"…"#` (`multi`: `#"""…"""#`).
    Raw {
        hashes: usize,
        multi: bool,
    },
    /// `/* … */`, nestable.
    BlockComment(usize),
}

/// Format `text`; syntax errors are returned as diagnostics.
pub fn format_kdl(text: &str) -> Result<String, Vec<Diagnostic>> {
    let original = parse::parse(text)?;
    let formatted = layout(text);
    // The layout only moves whitespace outside strings and comments; prove it on this input.
    let same = parse::parse(&formatted).ok().is_some_and(|mut reparsed| {
        let mut original = original.clone();
        original.clear_format_recursive();
        reparsed.clear_format_recursive();
        original.to_string() == reparsed.to_string()
    });
    if same {
        Ok(formatted)
    } else {
        Err(vec![Diagnostic::new(DiagnosticKind::Syntax {
            message: "this file uses a layout `oryx fmt` cannot rewrite safely".into(),
            help: Some("the file was left unchanged; please report it".into()),
        })
        .label(Span::new(0, 0), "here")])
    }
}

fn layout(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    let mut state = State::Normal;
    let mut pending_blank = false;
    for raw_line in text.split('\n') {
        let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        if state != State::Normal {
            // Inside a multi-line string or comment: the line is content, copied as it is.
            let (_, new_state, new_depth) = scan(line, state, depth);
            state = new_state;
            depth = new_depth;
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let trimmed = line.trim();
        if trimmed.is_empty() {
            pending_blank = true;
            continue;
        }
        let closers = trimmed
            .chars()
            .take_while(|c| *c == '}' || *c == ';' || c.is_whitespace())
            .filter(|c| *c == '}')
            .count();
        let indent = depth.saturating_sub(closers);
        let opened_block = out.trim_end().ends_with('{');
        if pending_blank && !out.is_empty() && !opened_block && closers == 0 {
            out.push('\n');
        }
        pending_blank = false;
        let (body, new_state, new_depth) = scan(trimmed, State::Normal, depth);
        state = new_state;
        depth = new_depth;
        for _ in 0..indent {
            out.push_str(INDENT);
        }
        if state == State::Normal {
            out.push_str(body.trim_end());
        } else {
            out.push_str(&body);
        }
        out.push('\n');
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    if out.is_empty() {
        return out;
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// Scan one line from `state`: the line with whitespace between tokens normalised, and the state
/// and brace depth at its end. Long because it is one state machine (normal, strings, raw strings,
/// block comments) whose states share the cursor and the output.
fn scan(line: &str, mut state: State, mut depth: usize) -> (String, State, usize) {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len());
    let mut pending_space = false;
    let mut i = 0;
    let starts_with = |i: usize, pattern: &str| {
        let pattern: Vec<char> = pattern.chars().collect();
        chars.get(i..i + pattern.len()) == Some(&pattern[..])
    };
    while i < chars.len() {
        let c = chars[i];
        match state {
            State::Normal => {
                if c.is_whitespace() {
                    pending_space = true;
                    i += 1;
                    continue;
                }
                if starts_with(i, "//") {
                    if !out.is_empty() {
                        out.push(' ');
                    }
                    out.extend(&chars[i..]);
                    return (out, State::Normal, depth);
                }
                let after_equals = out.ends_with('=');
                if pending_space && !out.is_empty() && c != '=' && !after_equals {
                    out.push(' ');
                }
                pending_space = false;
                if starts_with(i, "/*") {
                    state = State::BlockComment(1);
                    out.push_str("/*");
                    i += 2;
                    continue;
                }
                if starts_with(i, "\"\"\"") {
                    state = State::MultiQuoted;
                    out.push_str("\"\"\"");
                    i += 3;
                    continue;
                }
                match c {
                    '"' => state = State::Quoted,
                    '#' => {
                        let hashes = chars[i..].iter().take_while(|c| **c == '#').count();
                        if chars.get(i + hashes) == Some(&'"') {
                            let multi = starts_with(i + hashes, "\"\"\"");
                            let opener = hashes + if multi { 3 } else { 1 };
                            out.extend(&chars[i..i + opener]);
                            i += opener;
                            state = State::Raw { hashes, multi };
                            continue;
                        }
                    }
                    '{' => depth += 1,
                    '}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
                out.push(c);
                i += 1;
            }
            State::Quoted | State::MultiQuoted => {
                if c == '\\' {
                    out.push(c);
                    if let Some(next) = chars.get(i + 1) {
                        out.push(*next);
                    }
                    i += 2;
                    continue;
                }
                if state == State::MultiQuoted && starts_with(i, "\"\"\"") {
                    out.push_str("\"\"\"");
                    i += 3;
                    state = State::Normal;
                    continue;
                }
                if state == State::Quoted && c == '"' {
                    state = State::Normal;
                }
                out.push(c);
                i += 1;
            }
            State::Raw { hashes, multi } => {
                let quote = if multi { "\"\"\"" } else { "\"" };
                let closer: String = quote
                    .chars()
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                if starts_with(i, &closer) {
                    out.push_str(&closer);
                    i += closer.chars().count();
                    state = State::Normal;
                    continue;
                }
                out.push(c);
                i += 1;
            }
            State::BlockComment(level) => {
                if starts_with(i, "*/") {
                    out.push_str("*/");
                    i += 2;
                    state = if level == 1 {
                        State::Normal
                    } else {
                        State::BlockComment(level - 1)
                    };
                    continue;
                }
                if starts_with(i, "/*") {
                    out.push_str("/*");
                    i += 2;
                    state = State::BlockComment(level + 1);
                    continue;
                }
                out.push(c);
                i += 1;
            }
        }
    }
    (out, state, depth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reindents_and_keeps_comments_and_spelling() {
        let text = "// top\noryx 1\n\n\n\nworker   \"live\"   count = 2 {\n  // inside\n      chunk-size 4096 // trailing\n hooks {\non-publish \"http://a/b\"  /* c { */\n}\n}\n\n";
        let formatted = format_kdl(text).unwrap();
        assert_eq!(
            formatted,
            "// top\noryx 1\n\nworker \"live\" count=2 {\n    // inside\n    chunk-size 4096 // trailing\n    hooks {\n        on-publish \"http://a/b\" /* c { */\n    }\n}\n"
        );
        assert_eq!(format_kdl(&formatted).unwrap(), formatted);
    }

    #[test]
    fn leaves_multiline_strings_alone() {
        let text = "a \"\"\"\n   keep   this\n   \"\"\"\nb #\"raw  { \"#\n";
        let formatted = format_kdl(text).unwrap();
        assert!(formatted.contains("   keep   this\n"), "{formatted}");
        assert!(formatted.contains("#\"raw  { \"#"), "{formatted}");
    }

    #[test]
    fn syntax_errors_are_reported() {
        assert!(format_kdl("a {\n").is_err());
    }
}
