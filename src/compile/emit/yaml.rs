//! A small, deterministic YAML writer for JSON values: block maps and lists, keys in the value's
//! (sorted) order, strings double-quoted the JSON way (a subset of YAML's double-quoted scalars)
//! except multi-line text, written as a literal block so a topology file reads as itself.

use serde_json::Value;
use std::fmt::Write as _;

/// `documents` as one YAML stream, `---` before each.
pub fn stream(documents: &[Value]) -> String {
    let mut out = String::new();
    for document in documents {
        out.push_str("---\n");
        block(document, 0, &mut out);
    }
    out
}

fn block(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, item) in map {
                let _ = write!(out, "{pad}{}:", key_text(key));
                nested(item, indent, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                let _ = write!(out, "{pad}-");
                match item {
                    Value::Object(map) if !map.is_empty() => {
                        // The first key on the dash's line, the rest under it.
                        let mut inner = String::new();
                        block(item, indent + 2, &mut inner);
                        out.push(' ');
                        out.push_str(&inner[indent + 2..]);
                    }
                    _ => nested(item, indent, out),
                }
            }
        }
        scalar_value => {
            let _ = writeln!(out, "{pad}{}", scalar(scalar_value, indent));
        }
    }
}

/// After `key:` or `-`: a scalar on the same line, a collection on the next lines.
fn nested(item: &Value, indent: usize, out: &mut String) {
    match item {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            block(item, indent + 2, out);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            block(item, indent + 2, out);
        }
        _ => {
            let _ = writeln!(out, " {}", scalar(item, indent));
        }
    }
}

fn scalar(value: &Value, indent: usize) -> String {
    match value {
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        Value::String(text) => string(text, indent),
        other => other.to_string(),
    }
}

/// Multi-line text as a literal block (`|`, `|-` or `|+` keeping its final newlines exactly), the
/// rest JSON-quoted.
fn string(text: &str, indent: usize) -> String {
    let literal = text.contains('\n')
        && !text.starts_with([' ', '\n'])
        && !text.contains(['\r', '\t'])
        && text.lines().all(|l| !l.ends_with(' '))
        && !text.chars().any(|c| c.is_control() && c != '\n');
    if !literal {
        return Value::String(text.to_string()).to_string();
    }
    let body = text.trim_end_matches('\n');
    let newlines = text.len() - body.len();
    let chomp = match newlines {
        0 => "-",
        1 => "",
        _ => "+",
    };
    let pad = " ".repeat(indent + 2);
    let mut out = format!("|{chomp}");
    let mut lines: Vec<&str> = body.split('\n').collect();
    lines.extend(std::iter::repeat_n("", newlines.saturating_sub(1)));
    for line in lines {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
    }
    out
}

fn key_text(key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '-' | '_'))
        && key.starts_with(|c: char| c.is_ascii_alphabetic());
    if plain {
        key.to_string()
    } else {
        Value::String(key.to_string()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_lists_and_scalars() {
        let doc = json!({"a": 1, "b": ["x", {"k": true, "l": []}], "c": {}, "d": "yes"});
        assert_eq!(
            stream(&[doc]),
            "---\na: 1\nb:\n  - \"x\"\n  - k: true\n    l: []\nc: {}\nd: \"yes\"\n"
        );
    }

    #[test]
    fn text_blocks_keep_their_final_newlines() {
        for text in ["one\ntwo\n", "one\ntwo", "one\n\ntwo\n\n", "x\n"] {
            let yaml = stream(&[json!({ "t": text })]);
            let back = literal_back(&yaml);
            assert_eq!(back, text, "{yaml}");
        }
    }

    /// Read back a `t: |…` block the way YAML does (enough for the test's shapes).
    fn literal_back(yaml: &str) -> String {
        let mut lines = yaml.lines().skip(1);
        let head = lines.next().unwrap();
        let chomp = head.trim_start_matches("t: |");
        let body: Vec<&str> = lines.map(|l| l.strip_prefix("  ").unwrap_or(l)).collect();
        let mut text = body.join("\n");
        match chomp {
            "-" => text = text.trim_end_matches('\n').to_string(),
            "" => {
                text = text.trim_end_matches('\n').to_string();
                text.push('\n')
            }
            _ => text.push('\n'),
        }
        text
    }
}
