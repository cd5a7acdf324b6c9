//! From clap arguments to the plain option structs the runtime and the bench take, so that nothing
//! below `cli/` depends on the command-line definition.

use super::args::{BenchPlayArgs, LogFormat, RoleArgs, RoleKind, UpArgs};
use crate::bench::play::PlayOptions;
use crate::runtime::logging;
use crate::runtime::role::{self, RoleOptions};
use crate::runtime::shell::UpOptions;

impl From<LogFormat> for logging::LogFormat {
    fn from(format: LogFormat) -> Self {
        match format {
            LogFormat::Human => logging::LogFormat::Human,
            LogFormat::Json => logging::LogFormat::Json,
        }
    }
}

impl From<RoleKind> for role::RoleKind {
    fn from(kind: RoleKind) -> Self {
        match kind {
            RoleKind::Worker => role::RoleKind::Worker,
            RoleKind::RtmpLb => role::RoleKind::RtmpLb,
            RoleKind::HttpLb => role::RoleKind::HttpLb,
            RoleKind::ApiLb => role::RoleKind::ApiLb,
            RoleKind::SrtLb => role::RoleKind::SrtLb,
            RoleKind::Static => role::RoleKind::Static,
            RoleKind::Ingest => role::RoleKind::Ingest,
        }
    }
}

impl From<&UpArgs> for UpOptions {
    fn from(args: &UpArgs) -> Self {
        UpOptions {
            file: args.file.clone(),
            env: args.env.clone(),
            log_format: args.log_format.into(),
            run_dir: args.run_dir.clone(),
            host: args.host.clone(),
        }
    }
}

impl From<&RoleArgs> for RoleOptions {
    fn from(args: &RoleArgs) -> Self {
        RoleOptions {
            kind: args.kind.into(),
            name: args.name.clone(),
            plan: args.plan.clone(),
            log_format: args.log_format.into(),
        }
    }
}

impl From<&BenchPlayArgs> for PlayOptions {
    fn from(args: &BenchPlayArgs) -> Self {
        PlayOptions {
            url: args.url.clone(),
            players: args.players,
            seconds: args.seconds,
            warmup: args.warmup,
            json: args.json,
            ca: args.ca.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    /// The shell starts roles as `oryx role KIND …` with `kind_name`: it must spell each kind as the
    /// CLI parses it.
    #[test]
    fn kind_names_match_the_cli() {
        for kind in RoleKind::value_variants() {
            let name = kind.to_possible_value().map(|v| v.get_name().to_string());
            let shell_name = crate::runtime::shell::kind_name((*kind).into());
            assert_eq!(name.as_deref(), Some(shell_name));
        }
    }

    /// The shell passes `--log-format human|json` to its roles.
    #[test]
    fn log_formats_match_the_cli() {
        for format in LogFormat::value_variants() {
            let name = format.to_possible_value().map(|v| v.get_name().to_string());
            let expected = match logging::LogFormat::from(*format) {
                logging::LogFormat::Human => "human",
                logging::LogFormat::Json => "json",
            };
            assert_eq!(name.as_deref(), Some(expected));
        }
    }
}
