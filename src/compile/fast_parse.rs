//! A fast path for the common subset of KDL v2 that topologies use, building the same spanned
//! `kdl` document the full parser builds.
//!
//! The `kdl` crate's parser recovers from errors and keeps every byte of formatting, which costs
//! about 30 µs per node; topologies of thousands of workers need better. This parser accepts plain
//! nodes, quoted and bare strings, decimal integers, `#true`/`#false`/`#null`, children blocks, `;`,
//! and line and block comments. On anything else (type annotations, slashdash, multi-line or raw
//! strings, other numbers, line continuations, non-ASCII outside strings, any error) it returns
//! `None` and [`super::parse`] uses the full parser, which also produces the error messages.
//!
//! `ORYX_FAST_PARSE=0` turns it off ([`enabled`]). [`compare_with_kdl`] is the proof it stays honest:
//! the fuzz target `fuzz/fuzz_targets/fast_parse.rs` and `tests/compile_fuzz_smoke.rs` run it on
//! mutated topologies.

use kdl::{KdlDocument, KdlEntry, KdlIdentifier, KdlNode, KdlValue};

/// Nesting deeper than this goes to the full parser (keeps recursion bounded).
const MAX_DEPTH: usize = 64;

/// False when `ORYX_FAST_PARSE=0`: every text then takes the `kdl` crate's parser.
pub fn enabled() -> bool {
    std::env::var_os("ORYX_FAST_PARSE").is_none_or(|v| v != "0")
}

/// Fuzz entry point: when the fast path accepts `data`, the `kdl` crate accepts it too and builds the
/// same tree (names, values, and every span the compiler reports). Panics on any disagreement.
pub fn compare_with_kdl(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(fast) = parse_fast(text) else {
        return;
    };
    match KdlDocument::parse_v2(text) {
        Ok(full) => assert_same_nodes(fast.nodes(), full.nodes(), text),
        Err(error) => panic!("fast path accepted what the kdl crate refuses ({error}):\n{text:?}"),
    }
}

fn assert_same_nodes(fast: &[KdlNode], full: &[KdlNode], text: &str) {
    assert_eq!(fast.len(), full.len(), "node count in {text:?}");
    for (a, b) in fast.iter().zip(full) {
        assert_eq!(a.name().value(), b.name().value(), "{text:?}");
        assert_eq!(a.name().span(), b.name().span(), "name span in {text:?}");
        assert_eq!(a.entries().len(), b.entries().len(), "entries in {text:?}");
        for (x, y) in a.entries().iter().zip(b.entries()) {
            assert_eq!(x.value(), y.value(), "{text:?}");
            assert_eq!(x.span(), y.span(), "entry span in {text:?}");
            assert_eq!(
                x.name().map(|n| n.value()),
                y.name().map(|n| n.value()),
                "{text:?}"
            );
            assert_eq!(
                x.name().map(|n| n.span()),
                y.name().map(|n| n.span()),
                "{text:?}"
            );
        }
        assert_eq!(a.children().is_some(), b.children().is_some(), "{text:?}");
        if let (Some(x), Some(y)) = (a.children(), b.children()) {
            assert_same_nodes(x.nodes(), y.nodes(), text);
        }
    }
}

/// Parse `text` if it stays inside the fast subset.
pub fn parse_fast(text: &str) -> Option<KdlDocument> {
    let mut parser = Parser {
        text,
        bytes: text.as_bytes(),
        at: 0,
    };
    let nodes = parser.nodes(0)?;
    if parser.at != parser.bytes.len() {
        return None;
    }
    let mut document = KdlDocument::new();
    *document.nodes_mut() = nodes;
    Some(document)
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

fn is_identifier_byte(b: u8) -> bool {
    // A conservative ASCII subset of KDL's identifier characters; others take the full parser.
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_'
                | b'.'
                | b':'
                | b'+'
                | b'*'
                | b'!'
                | b'?'
                | b'$'
                | b'%'
                | b'&'
                | b'@'
                | b'~'
        )
}

fn identifier(name: &str, start: usize, end: usize) -> KdlIdentifier {
    let mut identifier = KdlIdentifier::from(name);
    identifier.set_span((start, end - start));
    identifier
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.at + offset).copied()
    }

    /// Nodes until end of input (depth 0) or a `}` (left for the caller).
    fn nodes(&mut self, depth: usize) -> Option<Vec<KdlNode>> {
        if depth > MAX_DEPTH {
            return None;
        }
        let mut nodes = Vec::new();
        loop {
            self.skip_line_space()?;
            match self.peek() {
                None if depth == 0 => return Some(nodes),
                Some(b'}') if depth > 0 => return Some(nodes),
                None | Some(b'}') => return None,
                Some(_) => nodes.push(self.node(depth)?),
            }
        }
    }

    /// Whitespace, newlines and comments between nodes (a `;` only ends a node: see [`Self::node`]).
    fn skip_line_space(&mut self) -> Option<()> {
        loop {
            match (self.peek(), self.peek_at(1)) {
                (Some(b' ' | b'\t' | b'\n'), _) => self.at += 1,
                (Some(b'\r'), Some(b'\n')) => self.at += 2,
                (Some(b'/'), Some(b'/')) => self.skip_line_comment()?,
                (Some(b'/'), Some(b'*')) => self.skip_block_comment()?,
                _ => return Some(()),
            }
        }
    }

    /// Whitespace and block comments inside a node; true when any was skipped.
    fn skip_node_space(&mut self) -> Option<bool> {
        let start = self.at;
        loop {
            match (self.peek(), self.peek_at(1)) {
                (Some(b' ' | b'\t'), _) => self.at += 1,
                (Some(b'/'), Some(b'*')) => self.skip_block_comment()?,
                (Some(b'\\'), _) => return None,
                _ => return Some(self.at > start),
            }
        }
    }

    fn skip_line_comment(&mut self) -> Option<()> {
        while let Some(b) = self.peek() {
            if b == b'\n' || b == b'\r' {
                break;
            }
            self.skip_comment_char()?;
        }
        Some(())
    }

    /// One character of a comment. KDL v2 has more newlines (VT, FF, NEL, LS, PS) and forbids some
    /// code points even in comments: on any of those the full parser decides.
    fn skip_comment_char(&mut self) -> Option<()> {
        match self.peek()? {
            b'\t' | b'\n' | b'\r' => self.at += 1,
            b if b < 0x20 || b == 0x7f => return None,
            0x80.. => {
                let c = self.text[self.at..].chars().next()?;
                if !allowed_literally(c) {
                    return None;
                }
                self.at += c.len_utf8();
            }
            _ => self.at += 1,
        }
        Some(())
    }

    fn skip_block_comment(&mut self) -> Option<()> {
        let mut level = 0usize;
        loop {
            match (self.peek()?, self.peek_at(1)) {
                (b'/', Some(b'*')) => {
                    level += 1;
                    self.at += 2;
                }
                (b'*', Some(b'/')) => {
                    level -= 1;
                    self.at += 2;
                    if level == 0 {
                        return Some(());
                    }
                }
                _ => self.skip_comment_char()?,
            }
        }
    }

    /// True when the current byte ends a node: newline, `;`, `}`, end, or a line comment.
    fn at_node_end(&self) -> bool {
        matches!(
            (self.peek(), self.peek_at(1)),
            (None, _) | (Some(b'\n' | b'\r' | b';' | b'}'), _) | (Some(b'/'), Some(b'/'))
        )
    }

    fn node(&mut self, depth: usize) -> Option<KdlNode> {
        let start = self.at;
        let name = match self.peek()? {
            b'"' => {
                let (value, end) = self.quoted()?;
                identifier(&value, start, end)
            }
            _ => {
                let (value, end) = self.bare_identifier()?;
                identifier(value, start, end)
            }
        };
        let mut node = KdlNode::new(name);
        loop {
            let spaced = self.skip_node_space()?;
            if self.at_node_end() {
                break;
            }
            if self.peek() == Some(b'{') {
                self.at += 1;
                let children = self.nodes(depth + 1)?;
                if self.peek() != Some(b'}') {
                    return None;
                }
                self.at += 1;
                let mut block = KdlDocument::new();
                *block.nodes_mut() = children;
                node.set_children(block);
                self.skip_node_space()?;
                if !self.at_node_end() {
                    return None;
                }
                break;
            }
            if !spaced {
                return None;
            }
            let entry = self.entry()?;
            node.entries_mut().push(entry);
        }
        node.set_span((start, self.at - start));
        // One `;` terminates the node; a second, or one after a newline, is an error for the full
        // parser to report.
        if self.peek() == Some(b';') {
            self.at += 1;
        }
        Some(node)
    }

    fn entry(&mut self) -> Option<KdlEntry> {
        let start = self.at;
        let first = self.peek()?;
        let mut entry = if first == b'"' {
            let (value, _) = self.quoted()?;
            if self.peek() == Some(b'=') {
                return None;
            }
            KdlEntry::new(KdlValue::String(value))
        } else if first.is_ascii_digit()
            || (matches!(first, b'-' | b'+') && self.peek_at(1).is_some_and(|b| b.is_ascii_digit()))
            || first == b'#'
        {
            KdlEntry::new(self.value()?)
        } else {
            let (name, key_end) = self.bare_identifier()?;
            if self.peek() == Some(b'=') {
                self.at += 1;
                let value = self.value()?;
                KdlEntry::new_prop(identifier(name, start, key_end), value)
            } else {
                KdlEntry::new(KdlValue::String(name.to_string()))
            }
        };
        if !self.entry_ends_here() {
            return None;
        }
        entry.set_span((start, self.at - start));
        Some(entry)
    }

    fn entry_ends_here(&self) -> bool {
        self.at_node_end()
            || matches!(
                (self.peek(), self.peek_at(1)),
                (Some(b' ' | b'\t' | b'{'), _) | (Some(b'/'), Some(b'*'))
            )
    }

    /// A value after `=` or as an argument.
    fn value(&mut self) -> Option<KdlValue> {
        match self.peek()? {
            b'"' => self.quoted().map(|(s, _)| KdlValue::String(s)),
            b'#' => {
                self.at += 1;
                let start = self.at;
                while self.peek().is_some_and(is_identifier_byte) {
                    self.at += 1;
                }
                match &self.text[start..self.at] {
                    "true" => Some(KdlValue::Bool(true)),
                    "false" => Some(KdlValue::Bool(false)),
                    "null" => Some(KdlValue::Null),
                    _ => None,
                }
            }
            b'0'..=b'9' | b'-' | b'+' if self.number_follows() => self.integer(),
            _ => {
                let (word, _) = self.bare_identifier()?;
                Some(KdlValue::String(word.to_string()))
            }
        }
    }

    fn number_follows(&self) -> bool {
        match self.peek() {
            Some(b'0'..=b'9') => true,
            Some(b'-' | b'+') => self.peek_at(1).is_some_and(|b| b.is_ascii_digit()),
            _ => false,
        }
    }

    /// A plain decimal integer; anything fancier (floats, `0x`, `_`) is left to the full parser.
    fn integer(&mut self) -> Option<KdlValue> {
        let start = self.at;
        if matches!(self.peek(), Some(b'-' | b'+')) {
            self.at += 1;
        }
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
        if self.peek().is_some_and(is_identifier_byte) || self.at - start > 30 {
            return None;
        }
        self.text[start..self.at]
            .parse::<i128>()
            .ok()
            .map(KdlValue::Integer)
    }

    /// A bare identifier (ASCII subset), not starting like a number and not a bare keyword.
    fn bare_identifier(&mut self) -> Option<(&'a str, usize)> {
        let start = self.at;
        while self.peek().is_some_and(is_identifier_byte) {
            self.at += 1;
        }
        let text: &'a str = self.text;
        let word = &text[start..self.at];
        let bytes = word.as_bytes();
        let starts_like_number = matches!(
            bytes,
            [] | [b'0'..=b'9', ..]
                | [b'-' | b'+' | b'.', b'0'..=b'9', ..]
                | [b'-' | b'+', b'.', b'0'..=b'9', ..]
        );
        if starts_like_number || matches!(word, "true" | "false" | "null" | "inf" | "-inf" | "nan")
        {
            return None;
        }
        Some((word, self.at))
    }

    /// A single-line quoted string with simple escapes; returns the value and the end offset.
    fn quoted(&mut self) -> Option<(String, usize)> {
        if self.bytes.get(self.at..self.at + 3) == Some(b"\"\"\"") {
            return None;
        }
        self.at += 1;
        let mut value = String::new();
        let mut run_start = self.at;
        loop {
            match self.peek()? {
                b'"' => {
                    value.push_str(&self.text[run_start..self.at]);
                    self.at += 1;
                    return Some((value, self.at));
                }
                b'\n' | b'\r' => return None,
                b'\\' => {
                    value.push_str(&self.text[run_start..self.at]);
                    let escaped = match self.peek_at(1)? {
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'\\' => '\\',
                        b'"' => '"',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b's' => ' ',
                        _ => return None,
                    };
                    value.push(escaped);
                    self.at += 2;
                    run_start = self.at;
                }
                // Control characters other than tab are errors the full parser reports.
                b if b < 0x20 && b != b'\t' => return None,
                0x7f => return None,
                0x80.. => {
                    let c = self.text[self.at..].chars().next()?;
                    if !allowed_literally(c) {
                        return None;
                    }
                    self.at += c.len_utf8();
                }
                _ => self.at += 1,
            }
        }
    }
}

/// False for the non-ASCII code points the fast path leaves to the full parser, in strings and in
/// comments: C1 controls (NEL is a newline in KDL v2), the line and paragraph separators, the
/// bidirectional controls and U+FEFF (allowed only as the document's first character).
fn allowed_literally(c: char) -> bool {
    !(c.is_control()
        || matches!(
            c,
            '\u{2028}'
                | '\u{2029}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both parsers agree on values and on every span the compiler uses.
    fn assert_same(text: &str) {
        let fast = parse_fast(text).unwrap_or_else(|| panic!("fast path refused:\n{text}"));
        let full = KdlDocument::parse_v2(text).expect("valid KDL");
        assert_same_nodes(fast.nodes(), full.nodes(), text);
    }

    #[test]
    fn agrees_with_the_full_parser() {
        assert_same("oryx 1\nports from=19350 to=19999\n");
        assert_same(
            "worker \"live\" count=2 kind=srs {\n    chunk-size 4096 // c\n    hls #false\n}\n",
        );
        assert_same("a; b {c; d -5 +7 #null}\n/* x /* nested */ */ e \"q\\\"\\n\\t é\"\r\nf{}\n");
        assert_same("static \"s\" {\n    tls listen=\"0.0.0.0:443\" {\n        acme { domain a.example.com; }\n    }\n}");
        assert_same("");
        for example in [
            include_str!("../../examples/configs/single.kdl"),
            include_str!("../../examples/configs/cluster.kdl"),
            include_str!("../../examples/configs/https.kdl"),
            include_str!("../../examples/configs/external.kdl"),
            include_str!("../../examples/configs/environments.kdl"),
        ] {
            assert_same(example);
        }
    }

    #[test]
    fn leaves_the_rest_to_the_full_parser() {
        for text in [
            "(ty)node",
            "a /- b",
            "a 1.5",
            "a 0x10",
            "a 1_000",
            "a \"\"\"\nx\n\"\"\"",
            "a #\"raw\"#",
            "a \\\n b",
            "a true",
            "a key = 1",
            "a \"k\"=1",
            "a \"unterminated",
            "a {",
            "}",
            "a b=",
            "a\"b\"",
            "é",
            "a #inf",
            "a \"l\u{feff}ive\"",
            "a \"x\u{2028}y\"",
            "a \"x\u{85}y\"",
            "a \"x\u{202e}y\"",
            "a\n;",
            "a;;",
            ";",
            "a // x\u{b} b",
            "a /* \u{c} */",
            "a // \u{85} b",
        ] {
            assert!(parse_fast(text).is_none(), "{text}");
        }
    }

    /// Every topology in the repository, and damaged copies of the examples: whenever the fast path
    /// accepts a text, the full parser accepts it too and agrees.
    #[test]
    fn never_accepts_what_the_full_parser_rejects() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut texts = Vec::new();
        for dir in ["examples/configs", "tests/diagnostics"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "kdl") {
                    texts.push(std::fs::read_to_string(path).unwrap());
                }
            }
        }
        let base = include_str!("../../examples/configs/environments.kdl");
        let boundaries: Vec<usize> = (0..base.len())
            .filter(|i| base.is_char_boundary(*i))
            .collect();
        for window in boundaries.windows(2).step_by(13) {
            for replacement in ["", "{", "}", "\"", "=", "#", "(", "/", "1", " "] {
                texts.push(format!(
                    "{}{replacement}{}",
                    &base[..window[0]],
                    &base[window[1]..]
                ));
            }
        }
        for text in &texts {
            if parse_fast(text).is_some() {
                assert!(
                    KdlDocument::parse_v2(text).is_ok(),
                    "fast path accepted invalid KDL:\n{text}"
                );
                assert_same(text);
            }
        }
    }
}
