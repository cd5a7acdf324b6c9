//! The one rule for settings: a node's properties and one-argument children, gathered and typed.
//!
//! `gather` walks a node against a [`Spec`] (its allowed settings and child blocks), reports unknown
//! names with a suggestion, settings given twice and stray arguments, and hands back [`Fields`] whose
//! typed getters report wrong types and bad values. Decoding a node is then a few getter calls.

use super::diagnostic::{suggest, Diagnostic, DiagnosticKind, Span};
use super::units::{self, AddressError};
use kdl::{KdlEntry, KdlNode, KdlValue};
use std::net::SocketAddr;

/// Diagnostics collected while compiling.
#[derive(Debug, Default)]
pub struct Ctx {
    pub diagnostics: Vec<Diagnostic>,
    /// The topology text, where a check needs to point inside a value (a placeholder in a path).
    pub source: String,
}

impl Ctx {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    pub fn error_at(&mut self, kind: DiagnosticKind, span: Span, label: impl Into<String>) {
        self.push(Diagnostic::new(kind).label(span, label));
    }
}

/// How many times a setting may be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Exactly one value, once: as `name=value` or `name value`.
    One,
    /// Any number of values, collected from the property and every child of that name.
    List,
}

/// What a node accepts.
pub struct Spec {
    /// How the node is called in messages.
    pub node: &'static str,
    /// Positional arguments the node takes (its name, a flag).
    pub max_args: usize,
    /// Groups of settings, in the order messages list them: a group several nodes share (the
    /// stream settings) is written once and named by each.
    pub settings: &'static [&'static [(&'static str, Shape)]],
    /// Child nodes with their own structure, decoded by the caller.
    pub blocks: &'static [&'static str],
}

impl Spec {
    /// Every setting, group after group.
    pub fn settings(&self) -> impl Iterator<Item = (&'static str, Shape)> + Clone + '_ {
        self.settings.iter().flat_map(|group| group.iter().copied())
    }

    /// Every setting's name, for suggestions and "expected" lists.
    pub fn setting_names(&self) -> impl Iterator<Item = &'static str> + Clone + '_ {
        self.settings().map(|(name, _)| name)
    }
}

/// One value with the span it came from.
#[derive(Debug, Clone, Copy)]
pub struct Value<'a> {
    pub value: &'a KdlValue,
    pub span: Span,
}

/// A value with its source span, kept where later checks need to point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

struct Setting<'a> {
    name: &'static str,
    values: Vec<Value<'a>>,
    /// Where the setting was first given (for duplicate labels).
    span: Span,
}

/// The gathered settings of one node.
pub struct Fields<'a> {
    pub args: Vec<Value<'a>>,
    pub blocks: Vec<&'a KdlNode>,
    settings: Vec<Setting<'a>>,
    /// An unknown property or stray argument was reported: a required setting that looks absent was
    /// probably attempted there, so "missing" would only repeat the problem.
    stray: bool,
}

fn type_name(value: &KdlValue) -> &'static str {
    match value {
        KdlValue::String(_) => "a string",
        KdlValue::Integer(_) => "an integer",
        KdlValue::Float(_) => "a number with a fraction",
        KdlValue::Bool(_) => "a boolean",
        KdlValue::Null => "#null",
    }
}

fn entry_value(entry: &KdlEntry) -> Value<'_> {
    Value {
        value: entry.value(),
        span: entry.span().into(),
    }
}

/// The span of a node's name: short, one line, and what a reader looks for.
pub fn name_span(node: &KdlNode) -> Span {
    node.name().span().into()
}

/// Gather `node`'s arguments, properties and children according to `spec`.
pub fn gather<'a>(node: &'a KdlNode, spec: &Spec, ctx: &mut Ctx) -> Fields<'a> {
    let mut fields = Fields {
        args: Vec::new(),
        blocks: Vec::new(),
        settings: Vec::new(),
        stray: false,
    };
    let setting_names = || spec.setting_names();
    for entry in node.entries() {
        match entry.name() {
            None => {
                if fields.args.len() >= spec.max_args {
                    fields.stray = true;
                    ctx.error_at(
                        DiagnosticKind::UnexpectedArgument {
                            node: spec.node.into(),
                            takes: spec.max_args,
                        },
                        entry.span().into(),
                        "unexpected argument",
                    );
                } else {
                    fields.args.push(entry_value(entry));
                }
            }
            Some(key) => {
                let key_name = key.value();
                match spec.settings().find(|(n, _)| *n == key_name) {
                    Some((name, shape)) => fields.add(
                        name,
                        shape,
                        vec![entry_value(entry)],
                        entry.span().into(),
                        ctx,
                    ),
                    None => {
                        fields.stray = true;
                        ctx.error_at(
                            DiagnosticKind::UnknownProperty {
                                name: key_name.into(),
                                node: spec.node.into(),
                                suggestion: suggest(key_name, setting_names()),
                                expected: setting_names().collect(),
                            },
                            key.span().into(),
                            "unknown property",
                        )
                    }
                }
            }
        }
    }
    for child in node.iter_children() {
        let child_name = child.name().value();
        // A name can be both: `hls=#false` is a setting, `hls fragment="4s"` a block.
        if spec.blocks.contains(&child_name) {
            fields.blocks.push(child);
        } else if let Some((name, shape)) = spec.settings().find(|(n, _)| *n == child_name) {
            let values = scalar_child_values(child, shape, ctx);
            if !values.is_empty() {
                fields.add(name, shape, values, name_span(child), ctx);
            }
        } else {
            fields.stray = true;
            let candidates = setting_names().chain(spec.blocks.iter().copied());
            ctx.error_at(
                DiagnosticKind::UnknownNode {
                    name: child_name.into(),
                    parent: format!("`{}`", spec.node),
                    suggestion: suggest(child_name, candidates.clone()),
                    expected: candidates.collect(),
                },
                name_span(child),
                "unknown node",
            );
        }
    }
    fields
}

/// The arguments of a child node used as a setting (`root "./html"`); it takes nothing else.
fn scalar_child_values<'a>(child: &'a KdlNode, shape: Shape, ctx: &mut Ctx) -> Vec<Value<'a>> {
    let name = child.name().value();
    let mut values = Vec::new();
    for entry in child.entries() {
        if let Some(key) = entry.name() {
            ctx.error_at(
                DiagnosticKind::UnknownProperty {
                    name: key.value().into(),
                    node: name.into(),
                    suggestion: None,
                    expected: Vec::new(),
                },
                key.span().into(),
                "unknown property",
            );
        } else if shape == Shape::One && !values.is_empty() {
            ctx.error_at(
                DiagnosticKind::UnexpectedArgument {
                    node: name.into(),
                    takes: 1,
                },
                entry.span().into(),
                "unexpected argument",
            );
        } else {
            values.push(entry_value(entry));
        }
    }
    for grandchild in child.iter_children() {
        ctx.error_at(
            DiagnosticKind::UnknownNode {
                name: grandchild.name().value().into(),
                parent: format!("`{name}`"),
                suggestion: None,
                expected: Vec::new(),
            },
            name_span(grandchild),
            "unknown node",
        );
    }
    if values.is_empty() {
        ctx.error_at(
            DiagnosticKind::MissingSetting {
                node: name.into(),
                setting: "a value".into(),
                example: format!("`{name} VALUE` or `{name}=VALUE` on the parent"),
            },
            name_span(child),
            "no value",
        );
    }
    values
}

impl<'a> Fields<'a> {
    fn add(
        &mut self,
        name: &'static str,
        shape: Shape,
        values: Vec<Value<'a>>,
        span: Span,
        ctx: &mut Ctx,
    ) {
        if let Some(existing) = self.settings.iter_mut().find(|s| s.name == name) {
            if shape == Shape::One {
                ctx.push(
                    Diagnostic::new(DiagnosticKind::DuplicateSetting {
                        setting: name.into(),
                    })
                    .label(span, "set again here")
                    .label(existing.span, "first set here"),
                );
            } else {
                existing.values.extend(values);
            }
            return;
        }
        self.settings.push(Setting { name, values, span });
    }

    /// True when required setting `name` is absent and nothing stray on the node could be a
    /// misspelling of it.
    pub fn missing(&self, name: &str) -> bool {
        !self.stray && self.settings.iter().all(|s| s.name != name)
    }

    /// The value of a [`Shape::One`] setting.
    pub fn one(&self, name: &str) -> Option<Value<'a>> {
        self.settings
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.values.first().copied())
    }

    /// Every value of a [`Shape::List`] setting.
    pub fn list(&self, name: &str) -> Option<Vec<Value<'a>>> {
        self.settings
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.values.clone())
    }

    /// The child blocks named `name`.
    pub fn blocks_named(&self, name: &str) -> impl Iterator<Item = &'a KdlNode> + '_ {
        let name = name.to_string();
        self.blocks
            .iter()
            .copied()
            .filter(move |b| b.name().value() == name)
    }

    /// The span where setting `name` was given, if it was.
    pub fn setting_span(&self, name: &str) -> Option<Span> {
        self.settings
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.span)
    }

    /// The only child block named `name`; a second one is a duplicate error.
    pub fn single_block(&self, name: &str, ctx: &mut Ctx) -> Option<&'a KdlNode> {
        let mut found = self.blocks_named(name);
        let first = found.next()?;
        for again in found {
            ctx.push(
                Diagnostic::new(DiagnosticKind::DuplicateSetting {
                    setting: name.into(),
                })
                .label(name_span(again), "given again here")
                .label(name_span(first), "first given here"),
            );
        }
        Some(first)
    }

    pub fn string(&self, name: &str, ctx: &mut Ctx) -> Option<Spanned<String>> {
        self.one(name).and_then(|v| v.string(name, ctx))
    }

    pub fn bool(&self, name: &str, ctx: &mut Ctx) -> Option<bool> {
        self.one(name).and_then(|v| v.bool(name, ctx))
    }

    pub fn int(&self, name: &str, min: i128, max: i128, ctx: &mut Ctx) -> Option<i128> {
        self.one(name).and_then(|v| v.int(name, min, max, ctx))
    }

    pub fn duration_ms(&self, name: &str, ctx: &mut Ctx) -> Option<u64> {
        self.one(name).and_then(|v| v.duration_ms(name, ctx))
    }

    pub fn size_bytes(&self, name: &str, ctx: &mut Ctx) -> Option<u64> {
        self.one(name).and_then(|v| v.size_bytes(name, ctx))
    }

    pub fn address(&self, name: &str, ctx: &mut Ctx) -> Option<Spanned<SocketAddr>> {
        self.one(name).and_then(|v| v.address(name, ctx))
    }

    pub fn strings(&self, name: &str, ctx: &mut Ctx) -> Option<Vec<Spanned<String>>> {
        self.list(name)
            .map(|values| values.iter().filter_map(|v| v.string(name, ctx)).collect())
    }
}

impl Value<'_> {
    fn wrong_type(&self, setting: &str, expected: &'static str, ctx: &mut Ctx) {
        ctx.error_at(
            DiagnosticKind::WrongType {
                setting: setting.into(),
                expected,
                found: type_name(self.value),
            },
            self.span,
            format!("expected {expected}"),
        );
    }

    pub fn string(&self, setting: &str, ctx: &mut Ctx) -> Option<Spanned<String>> {
        match self.value {
            KdlValue::String(s) => Some(Spanned {
                value: s.clone(),
                span: self.span,
            }),
            _ => {
                self.wrong_type(setting, "a string", ctx);
                None
            }
        }
    }

    pub fn bool(&self, setting: &str, ctx: &mut Ctx) -> Option<bool> {
        match self.value {
            KdlValue::Bool(b) => Some(*b),
            _ => {
                self.wrong_type(setting, "a boolean", ctx);
                None
            }
        }
    }

    pub fn int(&self, setting: &str, min: i128, max: i128, ctx: &mut Ctx) -> Option<i128> {
        match self.value {
            KdlValue::Integer(i) if (min..=max).contains(i) => Some(*i),
            KdlValue::Integer(i) => {
                ctx.error_at(
                    DiagnosticKind::OutOfRange {
                        setting: setting.into(),
                        value: i.to_string(),
                        range: format!("{min}..={max}"),
                    },
                    self.span,
                    "out of range",
                );
                None
            }
            _ => {
                self.wrong_type(setting, "an integer", ctx);
                None
            }
        }
    }

    pub fn duration_ms(&self, setting: &str, ctx: &mut Ctx) -> Option<u64> {
        let text = self.string_for(setting, "a duration string like \"2s\"", ctx)?;
        let parsed = units::parse_duration_ms(text);
        if parsed.is_none() {
            ctx.error_at(
                DiagnosticKind::BadDuration {
                    setting: setting.into(),
                    value: text.into(),
                },
                self.span,
                "not a duration",
            );
        }
        parsed
    }

    pub fn size_bytes(&self, setting: &str, ctx: &mut Ctx) -> Option<u64> {
        if let KdlValue::Integer(i) = self.value {
            if let Ok(bytes) = u64::try_from(*i) {
                return Some(bytes);
            }
        }
        let text = self.string_for(setting, "a size string like \"4MiB\"", ctx)?;
        let parsed = units::parse_size_bytes(text);
        if parsed.is_none() {
            ctx.error_at(
                DiagnosticKind::BadSize {
                    setting: setting.into(),
                    value: text.into(),
                },
                self.span,
                "not a size",
            );
        }
        parsed
    }

    pub fn address(&self, setting: &str, ctx: &mut Ctx) -> Option<Spanned<SocketAddr>> {
        let text = self.string_for(setting, "an address string like \"0.0.0.0:1935\"", ctx)?;
        match units::parse_address(text) {
            Ok(addr) => Some(Spanned {
                value: addr,
                span: self.span,
            }),
            Err(AddressError::PortOutOfRange(port)) => {
                ctx.error_at(
                    DiagnosticKind::OutOfRange {
                        setting: format!("{setting} port"),
                        value: port,
                        range: "1..=65535".into(),
                    },
                    self.span,
                    "port out of range",
                );
                None
            }
            Err(AddressError::Malformed) => {
                ctx.error_at(
                    DiagnosticKind::BadAddress {
                        setting: setting.into(),
                        value: text.into(),
                    },
                    self.span,
                    "not host:port",
                );
                None
            }
        }
    }

    pub fn url(&self, setting: &str, ctx: &mut Ctx) -> Option<Spanned<String>> {
        let text = self.string_for(setting, "a URL string", ctx)?;
        match units::parse_http_url(text) {
            Ok(_) => Some(Spanned {
                value: text.into(),
                span: self.span,
            }),
            Err(why) => {
                ctx.error_at(
                    DiagnosticKind::BadUrl {
                        setting: setting.into(),
                        value: text.into(),
                    },
                    self.span,
                    why,
                );
                None
            }
        }
    }

    fn string_for(&self, setting: &str, expected: &'static str, ctx: &mut Ctx) -> Option<&str> {
        match self.value {
            KdlValue::String(s) => Some(s),
            _ => {
                self.wrong_type(setting, expected, ctx);
                None
            }
        }
    }
}
