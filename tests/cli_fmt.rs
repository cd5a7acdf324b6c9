//! `oryx fmt`: rewrites in place, `--check` reports without writing, comments survive.

mod common;

use common::cli::oryx;

const MESSY: &str = "// the edge\noryx 1\n\n\n\nworker   \"live\"  count = 2 {\n  // tuned for OBS\n        chunk-size 4096   // bytes\n}\n";
const TIDY: &str = "// the edge\noryx 1\n\nworker \"live\" count=2 {\n    // tuned for OBS\n    chunk-size 4096 // bytes\n}\n";

#[test]
fn check_reports_and_fmt_rewrites() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.kdl");
    std::fs::write(&file, MESSY).unwrap();
    let (status, _, stderr) = oryx(dir.path(), &["fmt", "--check", "t.kdl"]);
    assert_eq!(status, 1);
    assert!(stderr.contains("t.kdl: not formatted"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        MESSY,
        "--check never writes"
    );
    assert_eq!(oryx(dir.path(), &["fmt", "t.kdl"]).0, 0);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), TIDY);
    assert_eq!(oryx(dir.path(), &["fmt", "--check", "t.kdl"]).0, 0);
}

#[test]
fn syntax_errors_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.kdl"), "worker \"live {\n").unwrap();
    let (status, _, stderr) = oryx(dir.path(), &["fmt", "bad.kdl"]);
    assert_eq!(status, 1);
    assert!(stderr.contains("oryx::syntax"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("bad.kdl")).unwrap(),
        "worker \"live {\n"
    );
    assert_eq!(oryx(dir.path(), &["fmt", "nope.kdl"]).0, 2);
}
