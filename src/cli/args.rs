//! The command-line interface definition (clap); man pages and completions are generated from it.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// oryx — a live-streaming gateway compiled from a declarative KDL topology.
#[derive(Debug, Parser)]
#[command(name = "oryx", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate topology files and report every problem.
    #[command(
        after_help = "Examples:\n  oryx check topology.kdl\n  oryx check topology.kdl --env prod --deny-warnings\n  oryx check configs/*.kdl --format github     # annotations in a GitHub Actions log"
    )]
    Check(CheckArgs),
    /// Compile a topology and show the plan (text, JSON, diff or route).
    #[command(
        after_help = "Examples:\n  oryx plan topology.kdl\n  oryx plan topology.kdl --json | jq .workers\n  oryx plan new.kdl --diff old.kdl               # what a reload would restart\n  oryx plan topology.kdl --env prod --diff old.kdl --old-env=\n  oryx plan topology.kdl --route live/cam        # which worker serves live/cam"
    )]
    Plan(PlanArgs),
    /// Format a topology file in place (or check that it is formatted).
    #[command(
        after_help = "Examples:\n  oryx fmt topology.kdl\n  oryx fmt topology.kdl --check                  # in CI: exit 1 when not formatted"
    )]
    Fmt(FmtArgs),
    /// Run a topology: start and supervise every role.
    #[command(
        after_help = "Examples:\n  oryx up                                        # the built-in default topology\n  oryx up topology.kdl --env prod --run-dir /var/run/oryx\n  RUST_LOG=debug oryx up topology.kdl            # more detail in the log\n\nSignals: HUP reloads the topology file (like `oryx reload`); TERM and INT stop every role in\norder (each drains for up to 3 s)."
    )]
    Up(UpArgs),
    /// Ask a running `oryx up` to re-read its topology file.
    #[command(
        after_help = "Examples:\n  oryx reload                                    # the `oryx up` whose run directory is ./.oryx\n  oryx reload --run-dir /var/run/oryx"
    )]
    Reload(ReloadArgs),
    /// Run one role of a plan (started by `oryx up`; usable standalone).
    #[command(
        after_help = "Examples:\n  oryx plan topology.kdl --json > plan.json\n  oryx role worker live --plan plan.json\n  oryx role rtmp-lb rtmp-lb --plan plan.json\n  oryx role ingest live-lobby --plan plan.json"
    )]
    Role(RoleArgs),
    /// Load generators: many players in one process.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  oryx bench play rtmp://127.0.0.1:1935/live/cam --players 500 --seconds 30"
    )]
    Bench(BenchCommand),
    /// Print shell completions.
    #[command(
        after_help = "Examples:\n  oryx completions bash > /etc/bash_completion.d/oryx\n  oryx completions zsh > \"${fpath[1]}/_oryx\""
    )]
    Completions(CompletionsArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Human,
    Json,
    Github,
    Sarif,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Topology files to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Apply the `env "NAME"` overlay before validating.
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: CheckFormat,
    /// Treat warnings as errors (exit 1).
    #[arg(long)]
    pub deny_warnings: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Topology file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Apply the `env "NAME"` overlay.
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// Print the canonical JSON plan with its digest.
    #[arg(long)]
    pub json: bool,
    /// Compare against an older topology file and classify each change. OLD is compiled with the
    /// same `--env` overlay unless `--old-env` says otherwise.
    #[arg(long, value_name = "OLD")]
    pub diff: Option<PathBuf>,
    /// With `--diff`: the overlay applied to OLD (default: the same as `--env`); an empty value
    /// (`--old-env=`) compiles OLD without any overlay.
    #[arg(long, value_name = "NAME", requires = "diff")]
    pub old_env: Option<String>,
    /// Show the worker rendezvous hashing picks for VHOST/APP/STREAM (or APP/STREAM) and the fallback
    /// order (running LBs prefer a worker that already publishes the stream).
    #[arg(long, value_name = "VHOST/APP/STREAM")]
    pub route: Option<String>,
    /// Print the plan for an orchestrator instead: `kubernetes` manifests (YAML), or `systemd`
    /// units (one `oryx-HOST.service` per host).
    #[arg(long, value_enum, value_name = "TARGET")]
    pub emit: Option<EmitTarget>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EmitTarget {
    /// ConfigMap, StatefulSets and headless Services for worker groups, Deployments and Services
    /// for the LBs and sites (docs/kubernetes.md).
    Kubernetes,
    /// One unit per host running `oryx up /etc/oryx/topology.kdl --host HOST`, each after a
    /// `# file: oryx-HOST.service` line (docs/systemd.md).
    Systemd,
}

#[derive(Debug, Args)]
pub struct FmtArgs {
    /// Topology file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Do not write; exit 1 if the file is not formatted.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Topology file; without it, the built-in default topology (one embedded worker and all LBs).
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Apply the `env "NAME"` overlay.
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// Log format of the shell and its children.
    #[arg(long, value_enum, default_value = "human")]
    pub log_format: LogFormat,
    /// Directory for run state: plan slices, compiled external configs, the shell's address.
    #[arg(long, value_name = "DIR", default_value = ".oryx")]
    pub run_dir: PathBuf,
    /// Run only the roles placed on this `host` of the topology (every host runs the same file).
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReloadArgs {
    /// The run directory of the `oryx up` to reload.
    #[arg(long, value_name = "DIR", default_value = ".oryx")]
    pub run_dir: PathBuf,
    /// Print what a reload would change (the `oryx plan --diff` classes) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleKind {
    Worker,
    RtmpLb,
    HttpLb,
    ApiLb,
    SrtLb,
    Static,
    Ingest,
}

#[derive(Debug, Args)]
pub struct RoleArgs {
    /// Which kind of role to run.
    #[arg(value_enum)]
    pub kind: RoleKind,
    /// The role's name in the plan (worker instance name, static site name, ingest name; LBs: the LB
    /// kind).
    pub name: String,
    /// The plan as JSON (`oryx plan --json` output); `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    pub plan: PathBuf,
    /// Log format.
    #[arg(long, value_enum, default_value = "human")]
    pub log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Hold many players of one stream (rtmp://, rtmps:// or http://….flv) and report what they received.
    Play(BenchPlayArgs),
}

#[derive(Debug, Args)]
pub struct BenchPlayArgs {
    /// Stream URL: rtmp://HOST:PORT/APP/STREAM, rtmps://… or http://HOST:PORT/APP/STREAM.flv
    pub url: String,
    /// Number of concurrent players.
    #[arg(long, default_value_t = 100)]
    pub players: u32,
    /// How long to play.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Play this many seconds before the measured window starts (bytes received then are not counted).
    #[arg(long, default_value_t = 0)]
    pub warmup: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// PEM file of a CA to trust for rtmps:// besides the Web PKI roots (a private or test CA).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<String>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}
