//! Diagnostic output formats: human (miette), JSON, GitHub workflow commands and SARIF 2.1.0.

use super::diagnostic::{Diagnostic, Severity, ALL_CODES};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};
use serde_json::{json, Value};
use std::fmt;

/// One checked file with its diagnostics.
pub struct FileReport<'a> {
    pub file: &'a str,
    pub text: &'a str,
    pub diagnostics: &'a [Diagnostic],
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// A diagnostic as miette sees it.
struct MietteView<'a> {
    diagnostic: &'a Diagnostic,
    source: &'a NamedSource<String>,
}

impl fmt::Debug for MietteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.diagnostic.summary())
    }
}

impl fmt::Display for MietteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message())
    }
}

impl std::error::Error for MietteView<'_> {}

impl miette::Diagnostic for MietteView<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diagnostic.code()))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity() {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diagnostic
            .help()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        if self.diagnostic.labels.is_empty() {
            None
        } else {
            Some(self.source)
        }
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.diagnostic.labels.is_empty() {
            return None;
        }
        Some(Box::new(self.diagnostic.labels.iter().enumerate().map(
            |(i, label)| {
                let span = (label.span.offset, label.span.length);
                if i == 0 {
                    LabeledSpan::new_primary_with_span(Some(label.text.clone()), span)
                } else {
                    LabeledSpan::new_with_span(Some(label.text.clone()), span)
                }
            },
        )))
    }
}

/// Whether human output should be colored: never with `NO_COLOR`, otherwise when `is_terminal`.
pub fn use_color(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// miette's graphical rendering of every diagnostic, in order.
pub fn render_human(file: &str, text: &str, diagnostics: &[Diagnostic], color: bool) -> String {
    let source = NamedSource::new(file, text.to_string());
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let mut out = String::new();
    for diagnostic in diagnostics {
        let view = MietteView {
            diagnostic,
            source: &source,
        };
        if handler.render_report(&mut out, &view).is_err() {
            out.push_str(&diagnostic.summary());
            out.push('\n');
        }
    }
    out
}

fn json_diagnostic(file: &str, text: &str, diagnostic: &Diagnostic) -> Value {
    let labels: Vec<Value> = diagnostic
        .labels
        .iter()
        .map(|label| {
            let (line, column) = line_column(text, label.span.offset);
            json!({
                "label": label.text,
                "line": line,
                "column": column,
                "offset": label.span.offset,
                "length": label.span.length,
            })
        })
        .collect();
    json!({
        "severity": diagnostic.severity().as_str(),
        "code": diagnostic.code(),
        "message": diagnostic.message(),
        "help": diagnostic.help(),
        "file": file,
        "labels": labels,
    })
}

fn counts(reports: &[FileReport<'_>]) -> (usize, usize) {
    let all = reports.iter().flat_map(|r| r.diagnostics.iter());
    let errors = all
        .clone()
        .filter(|d| d.severity() == Severity::Error)
        .count();
    (errors, all.count() - errors)
}

/// `{"valid","error_count","warning_count","diagnostics":[…]}` over every file.
pub fn render_json(reports: &[FileReport<'_>], deny_warnings: bool) -> String {
    let (errors, warnings) = counts(reports);
    let diagnostics: Vec<Value> = reports
        .iter()
        .flat_map(|r| {
            r.diagnostics
                .iter()
                .map(|d| json_diagnostic(r.file, r.text, d))
        })
        .collect();
    let document = json!({
        "valid": errors == 0 && !(deny_warnings && warnings > 0),
        "error_count": errors,
        "warning_count": warnings,
        "diagnostics": diagnostics,
    });
    let mut out = serde_json::to_string_pretty(&document).unwrap_or_default();
    out.push('\n');
    out
}

/// GitHub workflow commands escape `%`, CR and LF in data, and also `:` and `,` in properties.
fn github_escape(text: &str, property: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            ':' if property => out.push_str("%3A"),
            ',' if property => out.push_str("%2C"),
            c => out.push(c),
        }
    }
    out
}

/// One `::error file=…,line=…,col=…,title=…::message` line per diagnostic.
pub fn render_github(reports: &[FileReport<'_>]) -> String {
    let mut out = String::new();
    for report in reports {
        for d in report.diagnostics {
            let command = match d.severity() {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            let mut properties = vec![format!("file={}", github_escape(report.file, true))];
            if let Some(label) = d.labels.first() {
                let (line, column) = line_column(report.text, label.span.offset);
                properties.push(format!("line={line}"));
                properties.push(format!("col={column}"));
            }
            properties.push(format!("title={}", github_escape(d.code(), true)));
            let mut message = d.message();
            if let Some(help) = d.help() {
                message.push_str(&format!(" (help: {help})"));
            }
            out.push_str(&format!(
                "::{command} {}::{}\n",
                properties.join(","),
                github_escape(&message, false)
            ));
        }
    }
    out
}

/// SARIF 2.1.0, as GitHub code scanning accepts it.
pub fn render_sarif(reports: &[FileReport<'_>]) -> String {
    let rules: Vec<Value> = ALL_CODES
        .iter()
        .map(|code| {
            json!({
                "id": code,
                "name": code.trim_start_matches("oryx::"),
                "shortDescription": {"text": format!("oryx topology diagnostic {code}")},
            })
        })
        .collect();
    let mut results = Vec::new();
    for report in reports {
        for d in report.diagnostics {
            let mut text = d.message();
            if let Some(help) = d.help() {
                text.push_str(&format!("\nhelp: {help}"));
            }
            let span = d.labels.first().map(|l| l.span);
            let (line, column) = span.map_or((1, 1), |s| line_column(report.text, s.offset));
            let mut region = json!({"startLine": line, "startColumn": column});
            if let Some(span) = span {
                let (end_line, end_column) = line_column(report.text, span.offset + span.length);
                region["endLine"] = json!(end_line);
                region["endColumn"] = json!(end_column);
            }
            let rule_index = ALL_CODES.iter().position(|c| *c == d.code()).unwrap_or(0);
            results.push(json!({
                "ruleId": d.code(),
                "ruleIndex": rule_index,
                "level": d.severity().as_str(),
                "message": {"text": text},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": report.file.trim_start_matches("./")},
                        "region": region,
                    }
                }],
            }));
        }
    }
    let document = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "oryx",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    });
    let mut out = serde_json::to_string_pretty(&document).unwrap_or_default();
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_chars() {
        let text = "ab\ncdé f\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 3), (2, 1));
        assert_eq!(line_column(text, 8), (2, 5));
        assert_eq!(line_column(text, 999), (3, 1));
    }

    #[test]
    fn github_escapes_properties_and_data() {
        assert_eq!(github_escape("a:b,c%\n", true), "a%3Ab%2Cc%25%0A");
        assert_eq!(github_escape("a:b,c", false), "a:b,c");
    }
}
