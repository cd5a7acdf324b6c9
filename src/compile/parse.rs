//! Parse: KDL v2 text → spanned document, or every syntax error the parser recovered from.
//!
//! Common files take [`super::fast_parse`] (unless `ORYX_FAST_PARSE=0`); everything else, including
//! every error, the `kdl` crate.

use super::diagnostic::{Diagnostic, DiagnosticKind, Span};
use kdl::KdlDocument;

/// Parse `text` as KDL v2. On failure, one diagnostic per parser error.
pub fn parse(text: &str) -> Result<KdlDocument, Vec<Diagnostic>> {
    if super::fast_parse::enabled() {
        if let Some(document) = super::fast_parse::parse_fast(text) {
            return Ok(document);
        }
    }
    KdlDocument::parse_v2(text).map_err(|error| {
        // An unclosed string swallows the rest of its line, braces included, so the parser also
        // reports every block after it as unclosed: those are echoes of the one real mistake.
        let unclosed_string = error
            .diagnostics
            .iter()
            .any(|d| d.message.as_deref().is_some_and(is_unclosed_string));
        let mut diagnostics: Vec<Diagnostic> = error
            .diagnostics
            .iter()
            .filter(|d| !unclosed_string || d.message.as_deref().is_some_and(is_unclosed_string))
            .map(|d| {
                let span = clamp(Span::from(d.span), text.len());
                let message = d
                    .message
                    .clone()
                    .unwrap_or_else(|| "the parser could not read this".into());
                if is_unclosed_string(&message) {
                    // Point at the opening quote, where the fix goes, not at the whole line.
                    return Diagnostic::new(DiagnosticKind::Syntax {
                        message: "unclosed string: it has no closing `\"` on its line".into(),
                        help: Some(
                            "close it with `\"` on the same line; for a string over several lines \
                             use `\"\"\"` with a newline right after the opening quotes"
                                .into(),
                        ),
                    })
                    .label(Span::new(span.offset, 1), "this string is never closed");
                }
                let help = v1_keyword(text, span)
                    .map(|word| {
                        format!("KDL v2 writes booleans and null as `#{word}` (`{word}` is KDL v1)")
                    })
                    .or_else(|| d.help.clone());
                Diagnostic::new(DiagnosticKind::Syntax { message, help })
                    .label(span, d.label.clone().unwrap_or_else(|| "here".into()))
            })
            .collect();
        if diagnostics.is_empty() {
            diagnostics.push(
                Diagnostic::new(DiagnosticKind::Syntax {
                    message: "the document could not be parsed".into(),
                    help: None,
                })
                .label(Span::new(0, 0), "here"),
            );
        }
        diagnostics
    })
}

fn is_unclosed_string(message: &str) -> bool {
    message.contains("newline in single-line quoted string")
        || message.contains("Unclosed string")
        || message.contains("unclosed string")
}

/// The KDL v1 keyword (`true`, `false`, `null`) at `span`, which KDL v2 reads as a bare identifier
/// that may not stand as a value: the commonest mistake of a file written for KDL v1.
fn v1_keyword(text: &str, span: Span) -> Option<&'static str> {
    let at = text.get(span.offset..)?;
    let word: String = at
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    ["true", "false", "null"]
        .into_iter()
        .find(|keyword| *keyword == word)
}

/// Keep a span inside the source, so rendering never indexes past the end.
fn clamp(span: Span, len: usize) -> Span {
    let offset = span.offset.min(len);
    Span::new(offset, span.length.min(len - offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_syntax_errors_with_spans() {
        let errors = parse("oryx 1\nworker \"live\" {\n").unwrap_err();
        assert!(!errors.is_empty());
        assert_eq!(errors[0].code(), "oryx::syntax");
        assert!(errors[0].labels[0].span.offset <= 24);
    }

    #[test]
    fn v1_booleans_get_a_help_line() {
        let errors = parse("oryx 1\ndefaults {\n    gop-cache true\n}\n").unwrap_err();
        let help = errors[0].kind.help().unwrap_or_default();
        assert!(help.contains("`#true`"), "{help}");
        let errors = parse("oryx 1\ndefaults { gop-cache false; }\n").unwrap_err();
        assert!(errors[0]
            .kind
            .help()
            .unwrap_or_default()
            .contains("`#false`"));
    }

    #[test]
    fn an_unclosed_string_is_one_error_at_its_opening_quote() {
        let text = "oryx 1\nworker \"a\" {\n    hooks { on-publish \"http://x/auth }\n}\nrtmp-lb listen=\"0.0.0.0:1935\"\n";
        let errors = parse(text).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        let label = &errors[0].labels[0];
        assert_eq!(&text[label.span.offset..label.span.offset + 1], "\"");
        assert_eq!(label.span.offset, text.find("\"http://x").unwrap());
        assert!(errors[0].kind.message().contains("unclosed string"));
    }

    #[test]
    fn parses_valid_documents() {
        let doc = parse("oryx 1\nworker \"live\" count=2\n").unwrap();
        assert_eq!(doc.nodes().len(), 2);
    }
}
