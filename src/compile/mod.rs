//! The topology compiler: KDL text → spanned document → typed config → validated, expanded [`plan::Plan`].
//!
//! [`compile`] reads like the pipeline in DESIGN.md §1: parse, apply the `--env` overlay, decode
//! against the schema, then validate and expand into a plan. Every stage adds to one list of
//! diagnostics, so a run reports every problem at once. This module never opens sockets or spawns
//! processes; it only looks at the filesystem to warn about missing binaries and static roots.

pub mod decode;
pub mod diagnostic;
pub mod diff;
pub mod emit;
pub mod expand;
pub mod fast_parse;
pub mod fields;
pub mod format;
pub mod kinds;
pub mod load;
pub mod native;
pub mod overlay;
pub mod parse;
pub mod pattern;
pub mod placeholders;
pub mod placement;
pub mod plan;
pub mod render;
pub mod report;
pub mod suggest;
pub mod units;

use diagnostic::{Diagnostic, Severity};
use std::path::{Path, PathBuf};

/// The built-in default topology `oryx up` runs without a file.
pub const DEFAULT_TOPOLOGY: &str = include_str!("../../examples/configs/single.kdl");
/// The name diagnostics use for the built-in default topology.
pub const DEFAULT_TOPOLOGY_NAME: &str = "<built-in single.kdl>";

/// A compilation that failed: the rendered diagnostics, ready to print.
#[derive(Debug)]
pub struct CompileFailure {
    pub rendered: String,
    pub error_count: usize,
}

impl std::fmt::Display for CompileFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} error(s) in topology\n{}",
            self.error_count, self.rendered
        )
    }
}

impl std::error::Error for CompileFailure {}

/// How to compile.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `env "NAME"` overlay to apply.
    pub env: Option<String>,
    /// Directory relative paths (static root, ACME cache, cert files) start from.
    pub base_dir: PathBuf,
    /// Warn about missing external binaries and static roots.
    pub check_files: bool,
}

impl Options {
    /// Options for a topology named `name`: paths relative to its directory, files checked.
    pub fn for_file(name: &str, env: Option<&str>) -> Self {
        let base_dir = if name.starts_with('<') {
            PathBuf::new()
        } else {
            Path::new(name)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default()
        };
        Options {
            env: env.map(str::to_string),
            base_dir,
            check_files: true,
        }
    }
}

/// The outcome of compiling one source: every diagnostic, and the plan when there was no error.
#[derive(Debug)]
pub struct Compilation {
    pub name: String,
    pub text: String,
    pub diagnostics: Vec<Diagnostic>,
    pub plan: Option<plan::Plan>,
    /// The `env` blocks the file declares (empty when it did not parse).
    pub env_names: Vec<String>,
}

impl Compilation {
    pub fn error_count(&self) -> usize {
        self.count(Severity::Error)
    }

    pub fn warning_count(&self) -> usize {
        self.count(Severity::Warning)
    }

    fn count(&self, severity: Severity) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity() == severity)
            .count()
    }

    /// The diagnostics as miette text, without color (for logs and `CompileFailure`).
    pub fn render_plain(&self) -> String {
        report::render_human(&self.name, &self.text, &self.diagnostics, false)
    }
}

/// Compile `text` (called `name` in diagnostics): parse → overlay → decode → validate and expand.
pub fn compile(name: &str, text: &str, options: &Options) -> Compilation {
    let mut ctx = fields::Ctx {
        source: text.to_string(),
        ..fields::Ctx::default()
    };
    let mut env_names = Vec::new();
    let plan = match parse::parse(text) {
        Err(syntax_errors) => {
            ctx.diagnostics = syntax_errors;
            None
        }
        Ok(document) => {
            env_names = overlay::env_names(&document);
            overlay::check_env_nodes(&document, &mut ctx);
            let document = overlay::apply(&document, options.env.as_deref(), &mut ctx);
            let topology = decode::decode(&document, &mut ctx);
            kinds::warn_ignored_settings(&topology, &mut ctx);
            let environment = expand::Environment {
                base_dir: &options.base_dir,
                check_files: options.check_files,
            };
            expand::expand(&topology, options.env.as_deref(), &environment, &mut ctx)
        }
    };
    let mut diagnostics = ctx.diagnostics;
    // Present problems in file order; the sort is stable, so ties keep their discovery order.
    diagnostics.sort_by_key(|d| d.labels.first().map_or(0, |l| l.span.offset));
    Compilation {
        name: name.to_string(),
        text: text.to_string(),
        plan: if diagnostics.iter().any(|d| d.severity() == Severity::Error) {
            None
        } else {
            plan
        },
        diagnostics,
        env_names,
    }
}

/// Compile for `oryx check`: the base document, and when no `env` is chosen, every `env` overlay too,
/// so problems inside any environment are found. Diagnostics are deduplicated.
pub fn check_all(name: &str, text: &str, options: &Options) -> Compilation {
    let mut base = compile(name, text, options);
    if options.env.is_some() {
        return base;
    }
    for env in base.env_names.clone() {
        let with_env = Options {
            env: Some(env),
            ..options.clone()
        };
        for diagnostic in compile(name, text, &with_env).diagnostics {
            if !base.diagnostics.contains(&diagnostic) {
                base.diagnostics.push(diagnostic);
            }
        }
    }
    base.diagnostics
        .sort_by_key(|d| d.labels.first().map_or(0, |l| l.span.offset));
    base
}

/// Compile source text (named `name` in diagnostics) into a plan, with an optional env overlay.
/// Warnings do not fail compilation. Relative paths start from `name`'s directory.
pub fn compile_source(
    name: &str,
    text: &str,
    env: Option<&str>,
) -> Result<plan::Plan, CompileFailure> {
    let compilation = compile(name, text, &Options::for_file(name, env));
    match compilation.plan {
        Some(plan) => Ok(plan),
        None => Err(CompileFailure {
            rendered: compilation.render_plain(),
            error_count: compilation.error_count(),
        }),
    }
}

/// The largest topology file read (a 10 000-node topology is about 300 KiB).
pub const MAX_TOPOLOGY_BYTES: u64 = 64 << 20;

/// Read a topology file as UTF-8, refusing files over [`MAX_TOPOLOGY_BYTES`].
pub fn read_topology(path: &Path) -> std::io::Result<String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)?;
    let mut text = String::new();
    file.take(MAX_TOPOLOGY_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_TOPOLOGY_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {} MiB",
            MAX_TOPOLOGY_BYTES >> 20
        )));
    }
    Ok(text)
}

/// Read and compile a file.
pub fn compile_path(path: &Path, env: Option<&str>) -> Result<plan::Plan, CompileFailure> {
    let text = read_topology(path).map_err(|err| CompileFailure {
        rendered: format!("cannot read {}: {err}", path.display()),
        error_count: 1,
    })?;
    compile_source(&path.display().to_string(), &text, env)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile_text(text: &str) -> Compilation {
        compile(
            "test.kdl",
            text,
            &Options {
                env: None,
                base_dir: PathBuf::new(),
                check_files: false,
            },
        )
    }

    fn codes(c: &Compilation) -> Vec<&'static str> {
        c.diagnostics.iter().map(|d| d.code()).collect()
    }

    #[test]
    fn default_topology_compiles() {
        let plan = compile_source(DEFAULT_TOPOLOGY_NAME, DEFAULT_TOPOLOGY, None).unwrap();
        assert_eq!(plan.workers.len(), 1);
        assert_eq!(plan.workers[0].name, "live");
        assert_eq!(plan.workers[0].rtmp.to_string(), "127.0.0.1:19350");
        assert_eq!(plan.workers[0].http.to_string(), "127.0.0.1:19351");
        assert_eq!(plan.workers[0].control.to_string(), "127.0.0.1:19352");
        assert!(plan.workers[0].proxy_protocol);
        assert_eq!(
            plan.rtmp_lb.as_ref().unwrap().listen.to_string(),
            "0.0.0.0:1935"
        );
        assert_eq!(
            plan.rtmp_lb.as_ref().unwrap().control.to_string(),
            "127.0.0.1:19998"
        );
        // Fixed roles count down from the top of the pool, so workers never shift them.
        assert_eq!(plan.shell_control.to_string(), "127.0.0.1:19999");
        assert_eq!(plan.workers[0].stream, expand::default_stream());
    }

    #[test]
    fn count_expands_and_groups_select() {
        let c = compile_text(
            "oryx 1\nworker \"a\" count=2\nworker \"b\"\nrtmp-lb listen=\"0.0.0.0:1935\" workers=\"a\"\n",
        );
        let plan = c.plan.expect("valid");
        let names: Vec<_> = plan.workers.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["a-0", "a-1", "b"]);
        assert_eq!(plan.rtmp_lb.unwrap().workers, ["a-0", "a-1"]);
        assert!(plan.workers[0].proxy_protocol);
        assert!(!plan.workers[2].proxy_protocol);
    }

    #[test]
    fn defaults_and_worker_settings_merge() {
        let c = compile_text(
            "oryx 1\ndefaults { gop-cache #false; hls fragment=\"4s\"; }\nworker \"a\" chunk-size=4096 { hls window=3; http-flv #false; }\n",
        );
        let plan = c.plan.expect("valid");
        let s = &plan.workers[0].stream;
        assert!(!s.gop_cache);
        assert_eq!(s.chunk_size, 4096);
        // Settings merge one by one: the worker's `hls` block keeps the defaults' fragment.
        assert_eq!(s.hls.fragment_ms, 4000);
        assert_eq!(s.hls.window, 3);
        assert!(!s.http_flv.enabled);
    }

    #[test]
    fn hls_formats_and_low_latency_decode_and_old_plans_stay_the_same() {
        let c = compile_text(
            "oryx 1\ndefaults { hls fragment=\"1s\" low-latency=#true part=\"250ms\"; }\nworker \"a\"\nworker \"b\" { hls segment-format=\"fmp4\" low-latency=#false; }\n",
        );
        let plan = c.plan.expect("valid");
        let (a, b) = (&plan.workers[0].stream.hls, &plan.workers[1].stream.hls);
        assert!(a.low_latency);
        assert_eq!(a.part_ms, Some(250));
        assert_eq!(a.segment_format, plan::HlsSegmentFormat::Auto);
        assert_eq!(b.segment_format, plan::HlsSegmentFormat::Fmp4);
        assert!(!b.low_latency);
        // Unset, the new fields are absent from the plan's JSON (old digests unchanged).
        let old = compile_text("oryx 1\nworker \"a\"\n").plan.expect("valid");
        let json = serde_json::to_string(&old).unwrap();
        assert!(!json.contains("segment_format") && !json.contains("low_latency"));
        assert!(!json.contains("part_ms"));
        for bad in [
            "oryx 1\nworker \"a\" { hls segment-format=\"mp4\"; }\n",
            "oryx 1\nworker \"a\" { hls segment-format=\"ts\" low-latency=#true; }\n",
        ] {
            assert!(compile_text(bad).plan.is_none(), "{bad}");
        }
    }

    #[test]
    fn merge_read_is_a_stream_setting_like_merge_write() {
        let text = "oryx 1\ndefaults merge-read=\"250ms\"\nworker \"a\"\nworker \"b\" { merge-read \"0\"; }\nworker \"c\"\nenv \"dev\" { worker \"c\" merge-read=\"1s\"; }\n";
        let plan = compile_text(text).plan.expect("valid");
        let windows: Vec<_> = plan
            .workers
            .iter()
            .map(|w| w.stream.merge_read_ms)
            .collect();
        assert_eq!(windows, [250, 0, 250]);
        let dev = compile_source("test.kdl", text, Some("dev")).unwrap();
        assert_eq!(dev.workers[2].stream.merge_read_ms, 1000);
        let untouched = compile_text("oryx 1\nworker \"a\"\n").plan.expect("valid");
        assert_eq!(untouched.workers[0].stream.merge_read_ms, 100);

        let c = compile_text("oryx 1\nworker \"a\" merge-read=\"100\"\n");
        assert_eq!(codes(&c), ["oryx::bad-duration"]);
    }

    #[test]
    fn play_wait_is_a_stream_setting_with_a_default() {
        let text = "oryx 1\ndefaults play-wait=\"10s\"\nworker \"a\"\nworker \"b\" { play-wait \"0\"; }\nenv \"dev\" { worker \"a\" play-wait=\"1m\"; }\n";
        let plan = compile_text(text).plan.expect("valid");
        let waits: Vec<_> = plan.workers.iter().map(|w| w.stream.play_wait_ms).collect();
        assert_eq!(waits, [10_000, 0]);
        let dev = compile_source("test.kdl", text, Some("dev")).unwrap();
        assert_eq!(dev.workers[0].stream.play_wait_ms, 60_000);
        let untouched = compile_text("oryx 1\nworker \"a\"\n").plan.expect("valid");
        assert_eq!(untouched.workers[0].stream.play_wait_ms, 30_000);

        let c = compile_text("oryx 1\nworker \"a\" play-wait=\"soon\"\n");
        assert_eq!(codes(&c), ["oryx::bad-duration"]);
        let c = compile_text("oryx 1\nworker \"a\" play-wiat=\"5s\"\n");
        assert_eq!(codes(&c), ["oryx::unknown-property"]);
        assert!(format!("{:?}", c.diagnostics).contains("play-wait"));
    }

    #[test]
    fn reports_every_problem_at_once() {
        let c = compile_text(
            "oryx 1\nworker \"a\" chunksize=1\nrtmp-lb listen=\"0.0.0.0:0\" workers=\"b\"\nbogus\n",
        );
        assert!(c.plan.is_none());
        assert_eq!(
            codes(&c),
            [
                "oryx::unknown-property",
                "oryx::out-of-range",
                "oryx::unknown-worker-group",
                "oryx::unknown-node"
            ]
        );
    }

    #[test]
    fn listeners_on_any_address_collide() {
        let c = compile_text(
            "oryx 1\nworker \"a\"\nrtmp-lb listen=\"0.0.0.0:1935\"\nhttp-lb listen=\"127.0.0.1:1935\"\n",
        );
        assert_eq!(codes(&c), ["oryx::port-conflict"]);
        assert_eq!(c.diagnostics[0].labels.len(), 2);
    }

    #[test]
    fn pool_skips_listener_ports_with_a_warning() {
        let c = compile_text(
            "oryx 1\nports from=2000 to=2010\nworker \"a\"\nrtmp-lb listen=\"0.0.0.0:2001\"\n",
        );
        assert_eq!(codes(&c), ["oryx::pool-overlaps-listener"]);
        let plan = c.plan.expect("warnings do not fail");
        assert_eq!(plan.workers[0].http.port(), 2002);
    }

    #[test]
    fn a_misspelt_worker_is_one_error_not_one_per_lb() {
        let c = compile_text(
            "oryx 1\nwroker \"a\"\nrtmp-lb listen=\"0.0.0.0:1935\"\nhttp-lb listen=\"0.0.0.0:8080\"\n",
        );
        assert_eq!(codes(&c), ["oryx::unknown-node"]);
        // With nothing that looks like a worker, each LB still says it routes to nothing.
        let c = compile_text("oryx 1\nrtmp-lb listen=\"0.0.0.0:1935\"\n");
        assert_eq!(codes(&c), ["oryx::no-workers"]);
    }

    #[test]
    fn proxy_to_role_resolves_to_loopback() {
        let c = compile_text(
            "oryx 1\nworker \"a\"\napi-lb listen=\"0.0.0.0:1985\"\nstatic \"s\" { root \".\"; listen \"127.0.0.1:8081\"; proxy \"/api/\" to=\"api-lb\"; }\n",
        );
        let plan = c.plan.expect("valid");
        assert_eq!(plan.statics[0].proxies[0].to, "http://127.0.0.1:1985");
    }

    #[test]
    fn api_auth_cors_and_proxy_writes_reach_the_plan() {
        use plan::{ApiAuthScheme, LbPlan};
        let c = compile_text(
            "oryx 1\nworker \"a\"\napi-lb listen=\"0.0.0.0:1985\" {\n  auth user=\"ops\" password-env=\"PW\" reads=#true\n  cors-origins \"https://a.example\" \"https://b.example\"\n}\nstatic \"s\" { root \".\"; listen \"127.0.0.1:8081\"; proxy \"/api/\" to=\"api-lb\"; proxy \"/w/\" to=\"api-lb\" writes=#true; proxy \"/x/\" to=\"http://127.0.0.1:9\"; }\n",
        );
        let plan = c.plan.expect("valid");
        let LbPlan {
            auth, cors_origins, ..
        } = plan.api_lb.unwrap();
        let auth = auth.unwrap();
        assert!(auth.reads);
        assert_eq!(
            auth.scheme,
            ApiAuthScheme::Basic {
                user: "ops".into(),
                password_env: "PW".into()
            }
        );
        assert_eq!(
            cors_origins.unwrap(),
            ["https://a.example", "https://b.example"]
        );
        let writes: Vec<bool> = plan.statics[0].proxies.iter().map(|p| p.writes).collect();
        // Longest prefix first is the runtime's business; the plan keeps file order.
        assert_eq!(writes, [false, true, true]);

        // Half a credential is an error that says what to give.
        let c = compile_text(
            "oryx 1\nworker \"a\"\napi-lb listen=\"0.0.0.0:1985\" { auth user=\"ops\"; }\n",
        );
        assert_eq!(codes(&c), ["oryx::missing-setting"]);
        // `auth` belongs to the api-lb only.
        let c = compile_text(
            "oryx 1\nworker \"a\"\nhttp-lb listen=\"0.0.0.0:8080\" { auth token-env=\"T\"; }\n",
        );
        assert!(codes(&c).contains(&"oryx::unknown-node"), "{:?}", codes(&c));
    }

    #[test]
    fn mutated_examples_never_panic() {
        let examples = [
            DEFAULT_TOPOLOGY,
            include_str!("../../examples/configs/environments.kdl"),
            include_str!("../../examples/configs/processing.kdl"),
        ];
        for text in examples {
            let boundaries: Vec<usize> = (0..text.len())
                .filter(|i| text.is_char_boundary(*i))
                .collect();
            for window in boundaries.windows(2).step_by(23) {
                let (at, next) = (window[0], window[1]);
                for replacement in ["", "{", "\"", "é"] {
                    let mutated = format!("{}{replacement}{}", &text[..at], &text[next..]);
                    let c = compile_text(&mutated);
                    let _ = c.render_plain();
                    let _ = report::render_json(
                        &[report::FileReport {
                            file: "t.kdl",
                            text: &c.text,
                            diagnostics: &c.diagnostics,
                        }],
                        false,
                    );
                }
            }
        }
    }
}
