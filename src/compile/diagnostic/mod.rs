//! The catalogue of compile diagnostics: one [`DiagnosticKind`] per `oryx::` code, rendered in one place.
//!
//! Each variant carries just the data its message needs. Positions are byte spans into the topology
//! source; [`super::report`] turns them into miette, JSON, GitHub and SARIF output. `kind.rs` is
//! the catalogue (codes, severities), `text.rs` its words (messages, help lines).

mod kind;
mod text;

pub use super::suggest::suggest;
pub use kind::{DiagnosticKind, ALL_CODES};
use std::fmt::Write as _;

/// A byte range in the topology source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub offset: usize,
    pub length: usize,
}

impl Span {
    pub fn new(offset: usize, length: usize) -> Self {
        Span { offset, length }
    }
}

impl From<miette::SourceSpan> for Span {
    fn from(span: miette::SourceSpan) -> Self {
        Span::new(span.offset(), span.len())
    }
}

/// A labelled place in the source a diagnostic points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One reported problem: what it is and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub kind: DiagnosticKind,
    /// The first label is the primary location; more labels mark the other side of a collision.
    pub labels: Vec<Label>,
}

impl Diagnostic {
    pub fn new(kind: DiagnosticKind) -> Self {
        Diagnostic {
            kind,
            labels: Vec::new(),
        }
    }

    /// `oryx::duplicate-name`: a `what` (worker, static site, environment) named `name` twice, with
    /// labels on the second name and the first.
    pub fn duplicate_name(what: &'static str, name: &str, again: Span, first: Span) -> Self {
        Diagnostic::new(DiagnosticKind::DuplicateName {
            what,
            name: name.to_string(),
        })
        .label(again, "named again here")
        .label(first, "first named here")
    }

    pub fn label(mut self, span: Span, text: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            text: text.into(),
        });
        self
    }

    pub fn severity(&self) -> Severity {
        self.kind.severity()
    }

    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    pub fn message(&self) -> String {
        self.kind.message()
    }

    pub fn help(&self) -> Option<String> {
        self.kind.help()
    }

    /// A one-line summary for logs: `error[oryx::code]: message`.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "{}[{}]: {}",
            self.severity().as_str(),
            self.code(),
            self.message()
        );
        out
    }
}
