//! Rust source read just enough for imports: tokens without comments and literals, `mod`
//! declarations, and every `use` tree and `crate::`/`super::`/`self::` path outside `#[cfg(test)]`.

use std::collections::BTreeSet;

/// A path met in a file: its segments, the inline modules it sits in, and whether a `use` holds it.
pub struct Reference {
    pub segments: Vec<String>,
    pub inline: Vec<String>,
    pub in_use: bool,
}

pub struct Scan {
    /// `mod NAME;` declarations (children in their own files).
    pub declared: BTreeSet<String>,
    pub paths: Vec<Reference>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    Path, // `::`
    Punct(char),
}

/// Identifiers and punctuation, without comments, string/char literals and lifetimes.
pub fn tokens(text: &str) -> Vec<Tok> {
    let c: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        if ch == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && next == Some('*') {
            i = past_block_comment(&c, i);
        } else if ch == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if ch == '\'' {
            // A char literal ('x', '\n', '\u{..}'), else a lifetime or label.
            if next == Some('\\') {
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
            }
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            // Raw and byte strings: r"…", r#"…"#, b"…", br"…", b'…'.
            let raw =
                matches!(word.as_str(), "r" | "br") && matches!(c.get(i), Some('"') | Some('#'));
            let raw_ident = word == "r"
                && c.get(i) == Some(&'#')
                && c.get(i + 1).is_some_and(|n| n.is_alphabetic());
            if raw_ident {
                // `r#type`: the identifier `type`, read as the next word.
                i += 1;
            } else if raw {
                i = past_raw_string(&c, i);
            } else if word == "b" && matches!(c.get(i), Some('"') | Some('\'')) {
                // The literal itself is skipped on the next turn.
            } else {
                out.push(Tok::Ident(word));
            }
        } else if ch == ':' && next == Some(':') {
            out.push(Tok::Path);
            i += 2;
        } else {
            if !ch.is_whitespace() {
                out.push(Tok::Punct(ch));
            }
            i += 1;
        }
    }
    out
}

/// Past the block comment starting at `i` (they nest).
fn past_block_comment(c: &[char], mut i: usize) -> usize {
    let mut depth = 0;
    while i < c.len() {
        if c[i] == '/' && c.get(i + 1) == Some(&'*') {
            depth += 1;
            i += 2;
        } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                break;
            }
        } else {
            i += 1;
        }
    }
    i
}

/// Past a raw string whose `#`s or opening quote start at `i` (its `r`/`br` already read).
fn past_raw_string(c: &[char], mut i: usize) -> usize {
    let mut hashes = 0;
    while c.get(i) == Some(&'#') {
        hashes += 1;
        i += 1;
    }
    i += 1;
    while i < c.len() && !(c[i] == '"' && (1..=hashes).all(|k| c.get(i + k) == Some(&'#'))) {
        i += 1;
    }
    i + 1 + hashes
}

// One pass that keeps the brace depth and the inline modules open; its arms are the token kinds
// that matter, so it stays one function.
pub fn scan(toks: &[Tok]) -> Scan {
    let mut scan = Scan {
        declared: BTreeSet::new(),
        paths: Vec::new(),
    };
    // Inline modules open: (name, brace depth inside it).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    let ident = |i: usize| match toks.get(i) {
        Some(Tok::Ident(s)) => Some(s.as_str()),
        _ => None,
    };
    while i < toks.len() {
        if is_cfg_test(toks, i) {
            i = skip_item(toks, skip_attributes(toks, i));
            continue;
        }
        match &toks[i] {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Tok::Ident(w) if w == "mod" => {
                if let Some(name) = ident(i + 1) {
                    match toks.get(i + 2) {
                        Some(Tok::Punct(';')) if inline.is_empty() => {
                            scan.declared.insert(name.to_string());
                        }
                        Some(Tok::Punct('{')) => {
                            inline.push((name.to_string(), depth + 1));
                        }
                        _ => {}
                    }
                }
            }
            Tok::Ident(w) if w == "use" => {
                let end = (i..toks.len())
                    .find(|&j| toks[j] == Tok::Punct(';'))
                    .unwrap_or(toks.len());
                let names: Vec<String> = inline.iter().map(|(n, _)| n.clone()).collect();
                for segments in use_tree(&toks[i + 1..end], &[]) {
                    scan.paths.push(Reference {
                        segments,
                        inline: names.clone(),
                        in_use: true,
                    });
                }
                i = end;
                continue;
            }
            Tok::Ident(w)
                if matches!(w.as_str(), "crate" | "super" | "self")
                    && toks.get(i + 1) == Some(&Tok::Path) =>
            {
                let previous_is_path = i > 0 && toks[i - 1] == Tok::Path;
                let mut segments = vec![w.clone()];
                let mut j = i + 1;
                while toks.get(j) == Some(&Tok::Path) {
                    match ident(j + 1) {
                        Some(seg) => segments.push(seg.to_string()),
                        None => break,
                    }
                    j += 2;
                }
                if !previous_is_path {
                    let names = inline.iter().map(|(n, _)| n.clone()).collect();
                    scan.paths.push(Reference {
                        segments,
                        inline: names,
                        in_use: false,
                    });
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    scan
}

fn is_cfg_test(toks: &[Tok], i: usize) -> bool {
    let want = [
        Tok::Punct('#'),
        Tok::Punct('['),
        Tok::Ident("cfg".into()),
        Tok::Punct('('),
        Tok::Ident("test".into()),
        Tok::Punct(')'),
        Tok::Punct(']'),
    ];
    toks.len() >= i + want.len() && toks[i..i + want.len()] == want
}

/// Past the attributes starting at `i` (`#[…]`, brackets balanced).
fn skip_attributes(toks: &[Tok], mut i: usize) -> usize {
    while toks.get(i) == Some(&Tok::Punct('#')) && toks.get(i + 1) == Some(&Tok::Punct('[')) {
        let mut depth = 0;
        i += 1;
        while i < toks.len() {
            match toks[i] {
                Tok::Punct('[') => depth += 1,
                Tok::Punct(']') => {
                    depth -= 1;
                    if depth == 0 {
                        i += 1;
                        break;
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }
    i
}

/// Past the item starting at `i`: its `;` or its braced body.
fn skip_item(toks: &[Tok], mut i: usize) -> usize {
    let mut depth = 0;
    while i < toks.len() {
        match toks[i] {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            Tok::Punct(';') if depth == 0 => return i + 1,
            _ => {}
        }
        i += 1;
    }
    i
}

/// The paths a `use` tree names: `a::b::{c, d::{e, f as g}, self}` gives a::b::c, a::b::d::e, …
fn use_tree(toks: &[Tok], prefix: &[String]) -> Vec<Vec<String>> {
    let mut path = prefix.to_vec();
    let mut i = 0;
    let toks = match toks.first() {
        Some(Tok::Path) => &toks[1..],
        _ => toks,
    };
    while i < toks.len() {
        match &toks[i] {
            Tok::Ident(w) if w == "as" => break,
            Tok::Ident(w) => path.push(w.clone()),
            Tok::Path => {}
            Tok::Punct('{') => {
                let mut out = Vec::new();
                let (mut depth, mut start) = (0, i + 1);
                for j in i..toks.len() {
                    match toks[j] {
                        Tok::Punct('{') => depth += 1,
                        Tok::Punct('}') | Tok::Punct(',') if depth == 1 => {
                            if j > start {
                                out.extend(use_tree(&toks[start..j], &path));
                            }
                            start = j + 1;
                            if toks[j] == Tok::Punct('}') {
                                break;
                            }
                        }
                        Tok::Punct('}') => depth -= 1,
                        _ => {}
                    }
                }
                return out;
            }
            _ => break,
        }
        i += 1;
    }
    vec![path]
}
