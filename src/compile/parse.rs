//! Parse: KDL v2 text → spanned document, or every syntax error the parser recovered from.
//!
//! Common files take [`super::fast_parse`]; everything else, including every error, the `kdl` crate.

use super::diagnostic::{Diagnostic, DiagnosticKind, Span};
use kdl::KdlDocument;

/// Parse `text` as KDL v2. On failure, one diagnostic per parser error.
pub fn parse(text: &str) -> Result<KdlDocument, Vec<Diagnostic>> {
    if let Some(document) = super::fast_parse::parse_fast(text) {
        return Ok(document);
    }
    KdlDocument::parse_v2(text).map_err(|error| {
        let mut diagnostics: Vec<Diagnostic> = error
            .diagnostics
            .iter()
            .map(|d| {
                let message = d
                    .message
                    .clone()
                    .unwrap_or_else(|| "the parser could not read this".into());
                let span = clamp(Span::from(d.span), text.len());
                Diagnostic::new(DiagnosticKind::Syntax {
                    message,
                    help: d.help.clone(),
                })
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
    fn parses_valid_documents() {
        let doc = parse("oryx 1\nworker \"live\" count=2\n").unwrap();
        assert_eq!(doc.nodes().len(), 2);
    }
}
