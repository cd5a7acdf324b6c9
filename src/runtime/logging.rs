//! Logging setup for the shell and its roles: human lines prefixed with the role name, or JSON.
//!
//! Log lines carry what clients chose (stream names, URLs, hook answers). In human lines every
//! control character of a message or field is escaped (`\n`, `\x1b`), so a stream named
//! `a\n[shell] ERROR …` cannot start a forged line nor recolour a terminal; JSON escapes them itself.

use crate::net::log_text::{escape_controls, timestamp_now};
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// How the shell and its roles write log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One line per event, prefixed with the role name.
    Human,
    /// One JSON object a line, with a `role` field.
    Json,
}

/// Install the global subscriber. `role` (e.g. `worker/live-0`) prefixes every human line so the
/// shell's merged output says which child spoke; JSON lines carry it as a top-level `role` field.
/// The level comes from `RUST_LOG` (default `info`).
pub fn init(role: &str, format: LogFormat) {
    crate::net::log_text::set_json_lines(format == LogFormat::Json);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let result = match format {
        LogFormat::Human => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_target(false)
            // Colours only on a terminal: the shell forwards its children's lines into files and
            // collectors, where escape codes are noise.
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .fmt_fields(EscapedFields::default())
            .event_format(prefixed(role))
            .try_init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .event_format(JsonWithRole {
                role: role.to_string(),
            })
            .try_init(),
    };
    // A second init (tests running roles in one process) keeps the first subscriber.
    let _ = result;
}

fn prefixed(role: &str) -> RolePrefix {
    RolePrefix {
        role: role.to_string(),
        inner: tracing_subscriber::fmt::format()
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal()),
    }
}

/// The default `message key=value` rendering of fields, with [`escape_controls`] applied to it.
#[derive(Default)]
struct EscapedFields {
    inner: tracing_subscriber::fmt::format::DefaultFields,
}

impl<'writer> tracing_subscriber::fmt::FormatFields<'writer> for EscapedFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        mut writer: tracing_subscriber::fmt::format::Writer<'writer>,
        fields: R,
    ) -> std::fmt::Result {
        let mut text = String::new();
        self.inner.format_fields(
            tracing_subscriber::fmt::format::Writer::new(&mut text),
            fields,
        )?;
        writer.write_str(&escape_controls(&text))
    }
}

/// Formats events as `[role] <level> message`.
struct RolePrefix {
    role: String,
    inner: tracing_subscriber::fmt::format::Format,
}

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for RolePrefix
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        write!(writer, "[{}] ", self.role)?;
        self.inner.format_event(ctx, writer, event)
    }
}

/// Formats events as one JSON object per line: `timestamp`, `level`, `role`, `fields` (the message
/// and every field of the event), the same shape the shell writes for external programs' lines.
struct JsonWithRole {
    role: String,
}

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for JsonWithRole
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let mut fields = FieldMap::default();
        event.record(&mut fields);
        let record = serde_json::json!({
            "timestamp": timestamp_now(),
            "level": event.metadata().level().as_str(),
            "role": self.role,
            "fields": serde_json::Value::Object(fields.0),
        });
        writeln!(writer, "{record}")
    }
}

#[derive(Default)]
struct FieldMap(serde_json::Map<String, serde_json::Value>);

impl tracing::field::Visit for FieldMap {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}").into());
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_string(), value.into());
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.0.insert(field.name().to_string(), value.into());
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.0.insert(field.name().to_string(), value.into());
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.0.insert(field.name().to_string(), value.into());
    }
}
