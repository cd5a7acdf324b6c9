//! `oryx check`: exit codes, output formats (JSON, GitHub, SARIF), several files, env overlays.

mod common;

use std::path::Path;

struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

fn oryx(dir: &Path, args: &[&str]) -> Run {
    let (status, stdout, stderr) = common::cli::oryx(dir, args);
    Run {
        status,
        stdout,
        stderr,
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

const GOOD: &str = "oryx 1\nworker \"live\"\nrtmp-lb listen=\"0.0.0.0:1935\"\n";
const BAD: &str =
    "oryx 1\nworker \"live\" chunksize=4096\nrtmp-lb listen=\"0.0.0.0:1935\" workers=\"edge\"\n";
const WARNING_ONLY: &str = "oryx 1\nworker \"x\" kind=\"srs\" binary=\"/nonexistent/srs\"\n";

#[test]
fn exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "good.kdl", GOOD);
    write(dir.path(), "bad.kdl", BAD);
    write(dir.path(), "warn.kdl", WARNING_ONLY);
    let good = oryx(dir.path(), &["check", "good.kdl"]);
    assert_eq!(good.status, 0, "{}", good.stdout);
    assert_eq!(good.stdout, "good.kdl: ok\n");
    assert_eq!(oryx(dir.path(), &["check", "bad.kdl"]).status, 1);
    assert_eq!(oryx(dir.path(), &["check", "warn.kdl"]).status, 0);
    assert_eq!(
        oryx(dir.path(), &["check", "--deny-warnings", "warn.kdl"]).status,
        1
    );
    let missing = oryx(dir.path(), &["check", "missing.kdl"]);
    assert_eq!(missing.status, 2);
    assert!(
        missing.stderr.contains("cannot read missing.kdl"),
        "{}",
        missing.stderr
    );
    assert_eq!(oryx(dir.path(), &["check"]).status, 2, "usage error");
    assert_eq!(
        oryx(dir.path(), &["check", "--format", "xml", "good.kdl"]).status,
        2
    );
}

#[test]
fn several_files_are_all_reported() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "good.kdl", GOOD);
    write(dir.path(), "bad.kdl", BAD);
    let run = oryx(dir.path(), &["check", "good.kdl", "bad.kdl"]);
    assert_eq!(run.status, 1);
    assert!(run.stdout.contains("good.kdl: ok"), "{}", run.stdout);
    assert!(
        run.stdout.contains("bad.kdl: 2 errors, 0 warnings"),
        "{}",
        run.stdout
    );
    let json = oryx(
        dir.path(),
        &["check", "--format", "json", "good.kdl", "bad.kdl"],
    );
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(report["error_count"], 2);
    assert!(report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["file"] == "bad.kdl"));
}

#[test]
fn json_document_shape() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "bad.kdl", BAD);
    let run = oryx(dir.path(), &["check", "--format", "json", "bad.kdl"]);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(report["error_count"], 2);
    assert_eq!(report["warning_count"], 0);
    let first = &report["diagnostics"][0];
    assert_eq!(first["severity"], "error");
    assert_eq!(first["code"], "oryx::unknown-property");
    assert_eq!(first["message"], "unknown property `chunksize` on `worker`");
    assert_eq!(first["help"], "did you mean `chunk-size`?");
    assert_eq!(first["file"], "bad.kdl");
    let label = &first["labels"][0];
    assert_eq!(label["line"], 2);
    assert_eq!(label["column"], 15);
    assert_eq!(label["offset"], 21);
    assert_eq!(label["length"], 9);
    assert_eq!(label["label"], "unknown property");
}

#[test]
fn github_annotations() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "bad.kdl", BAD);
    write(dir.path(), "warn.kdl", WARNING_ONLY);
    let run = oryx(
        dir.path(),
        &["check", "--format", "github", "bad.kdl", "warn.kdl"],
    );
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    assert!(
        lines[0].starts_with("::error file=bad.kdl,line=2,col=15,title=oryx%3A%3Aunknown-property::unknown property `chunksize`"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("::error file=bad.kdl,line=3,col="),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("::warning file=warn.kdl,line=2,"),
        "{}",
        lines[2]
    );
}

#[test]
fn sarif_2_1_0() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "bad.kdl", BAD);
    let run = oryx(dir.path(), &["check", "--format", "sarif", "bad.kdl"]);
    assert_eq!(run.status, 1);
    let sarif: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert!(sarif["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let run0 = &sarif["runs"][0];
    assert_eq!(run0["tool"]["driver"]["name"], "oryx");
    let rules = run0["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(rules
        .iter()
        .any(|r| r["id"] == "oryx::unknown-worker-group"));
    let results = run0["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    let result = &results[0];
    assert_eq!(result["ruleId"], "oryx::unknown-property");
    assert_eq!(result["level"], "error");
    assert!(result["message"]["text"]
        .as_str()
        .unwrap()
        .contains("chunksize"));
    let rule_index = result["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(rules[rule_index]["id"], result["ruleId"]);
    let location = &result["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"]["uri"], "bad.kdl");
    assert_eq!(location["region"]["startLine"], 2);
    assert_eq!(location["region"]["startColumn"], 15);
}

#[test]
fn every_env_overlay_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "envs.kdl",
        "oryx 1\nworker \"live\"\nrtmp-lb listen=\"0.0.0.0:1935\"\nenv \"prod\" {\n    rtmp-lb lisen=\"0.0.0.0:1936\"\n}\nenv \"dev\" {\n    http-lb listen=\"127.0.0.1:1935\"\n}\n",
    );
    let run = oryx(dir.path(), &["check", "--format", "json", "envs.kdl"]);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let codes: Vec<&str> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["oryx::unknown-property", "oryx::port-conflict"],
        "{}",
        run.stdout
    );
    // Only the chosen overlay with --env.
    let dev = oryx(
        dir.path(),
        &["check", "--env", "dev", "--format", "json", "envs.kdl"],
    );
    let report: serde_json::Value = serde_json::from_str(&dev.stdout).unwrap();
    assert_eq!(report["error_count"], 1);
    assert_eq!(report["diagnostics"][0]["code"], "oryx::port-conflict");
    let unknown = oryx(dir.path(), &["check", "--env", "staging", "envs.kdl"]);
    assert_eq!(unknown.status, 1);
    assert!(
        unknown
            .stdout
            .contains("no environment is named \"staging\""),
        "{}",
        unknown.stdout
    );
}

#[test]
fn garbage_input_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let inputs: &[&[u8]] = &[
        b"",
        b"\xff\xfe\x00garbage",
        b"{{{{}}}}",
        b"oryx 1\nworker \"a\" count=99999999999999999999999999999999999999\n",
        b"oryx 1\nports from=-1 to=1.5\n",
        b"oryx 1\nstatic \"s\" { tls { acme; cert; self-signed 1; }; proxy; }\n",
        b"oryx 1\nenv { env \"x\"; }\nenv \"a\" 1 2\nenv \"a\"\n",
        b"oryx 1\nworker \"\" { hooks { on-publish; timeout 5; }; hls 1 2; http-flv wait=1; }\n",
    ];
    for (i, input) in inputs.iter().enumerate() {
        let name = format!("g{i}.kdl");
        std::fs::write(dir.path().join(&name), input).unwrap();
        for format in ["human", "json", "github", "sarif"] {
            let run = oryx(dir.path(), &["check", "--format", format, &name]);
            assert!(
                run.status == 1 || run.status == 2,
                "input {i} {format}: status {} stderr {}",
                run.status,
                run.stderr
            );
            assert!(
                !run.stderr.contains("panicked"),
                "input {i}: {}",
                run.stderr
            );
        }
    }
}

#[test]
fn language_reference_example_is_valid() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/language.md"))
            .unwrap();
    let start = doc.find("```kdl\n").expect("a kdl example") + "```kdl\n".len();
    let end = start + doc[start..].find("```").unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "example.kdl", &doc[start..end]);
    std::fs::create_dir(dir.path().join("html")).unwrap();
    let run = oryx(dir.path(), &["check", "--format", "json", "example.kdl"]);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["error_count"], 0, "{}", run.stdout);
}

/// The issue's "bad input" list, in one file: every problem reported at once, each with its span
/// (an unknown placeholder's label on the placeholder itself).
const BAD_RULES: &str = r#"oryx 1
worker "live"
stream "rec/*" {
    record path="./recordings/{app}/{strem}/{start}.mkv" segment="10m"
}
stream "live/*" {
    forward "http://backup.example.com/live/{stream}"
    transcode
    exec "/usr/local/bin/thumbnailer {url} {when}"
}
stream "live/*" {
    transcode {
        rendition "hd" size="1280x720" video-bitrate="2500k"
        rendition "hd" size="1280-720" video-bitrate="2.5M"
    }
}
ingest "live/lobby" from="rtmp://10.0.0.9/live/cam"
ingest "live/lobby" from="smb://share/cam.mp4"
"#;

#[test]
fn stream_rule_and_ingest_errors_are_all_reported_with_spans() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "rules.kdl", BAD_RULES);
    let json = oryx(dir.path(), &["check", "--format", "json", "rules.kdl"]);
    assert_eq!(json.status, 1, "{}", json.stdout);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let found: Vec<(String, String)> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let label = &d["labels"][0];
            let (offset, length) = (
                label["offset"].as_u64().unwrap() as usize,
                label["length"].as_u64().unwrap() as usize,
            );
            (
                d["code"].as_str().unwrap().to_string(),
                BAD_RULES[offset..offset + length].to_string(),
            )
        })
        .collect();
    let expected = [
        ("oryx::bad-value", "{strem}"),
        (
            "oryx::bad-value",
            "path=\"./recordings/{app}/{strem}/{start}.mkv\"",
        ),
        (
            "oryx::bad-value",
            "\"http://backup.example.com/live/{stream}\"",
        ),
        ("oryx::missing-setting", "transcode"),
        ("oryx::bad-value", "{when}"),
        ("oryx::duplicate-name", "\"live/*\""),
        ("oryx::duplicate-name", "\"hd\""),
        ("oryx::bad-frame-size", "size=\"1280-720\""),
        ("oryx::duplicate-name", "\"live/lobby\""),
        ("oryx::bad-value", "from=\"smb://share/cam.mp4\""),
    ];
    let mut found_sorted = found.clone();
    found_sorted.sort();
    let mut expected_sorted: Vec<(String, String)> = expected
        .iter()
        .map(|(c, s)| (c.to_string(), s.to_string()))
        .collect();
    expected_sorted.sort();
    assert_eq!(found_sorted, expected_sorted, "{found:#?}");
    let human = oryx(dir.path(), &["check", "rules.kdl"]);
    insta::assert_snapshot!("check-stream-rules", human.stdout);
}
