//! `stormwatch runs list` over a folder with a completed, an aborted and a corrupt run.

use std::fs;
use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::json;

fn manifest(id: &str, status: &str, start: &str, end: Option<&str>) -> serde_json::Value {
    let mut m = json!({
        "schema_version": 1,
        "run_id": id,
        "tool_version": "0.1.0",
        "scenario": {"path": "examples/store.toml", "sha256": "00", "content": ""},
        "target": "http://127.0.0.1:9",
        "status": status,
        "trace_sampling": 1.0,
        "started_at": start,
        "phases": [
            {"index": 0, "name": "warm", "model": {"kind": "idle"},
             "planned": {"start": start, "end": start}},
            {"index": 1, "name": "burst", "model": {"kind": "closed", "start_users": 5, "end_users": 5},
             "planned": {"start": start, "end": start}}
        ]
    });
    if let Some(end) = end {
        m["ended_at"] = json!(end);
    }
    m
}

fn write_run(root: &Path, id: &str, text: &str) {
    let dir = root.join(id);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("manifest.json"), text).unwrap();
}

#[test]
fn lists_good_and_aborted_runs_and_skips_a_corrupt_one() {
    let root = tempfile::tempdir().unwrap();
    let good = manifest(
        "run-good",
        "completed",
        "2026-11-22T14:00:00Z",
        Some("2026-11-22T14:02:30Z"),
    );
    let aborted = manifest(
        "run-aborted",
        "aborted",
        "2026-11-22T13:00:00Z",
        Some("2026-11-22T13:00:12.5Z"),
    );
    write_run(root.path(), "run-good", &good.to_string());
    write_run(root.path(), "run-aborted", &aborted.to_string());
    write_run(
        root.path(),
        "run-corrupt",
        "{\"schema_version\": 1, \"run_id\": ",
    );
    fs::create_dir_all(root.path().join("not-a-run")).unwrap();

    let out = Command::cargo_bin("stormwatch")
        .unwrap()
        .args(["runs", "list"])
        .arg(root.path())
        .assert()
        .success()
        .stderr(
            predicate::str::contains("run-corrupt").and(predicate::str::contains("manifest.json")),
        )
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("RUN"), "{text}");
    // Sorted by start time: the aborted run started an hour earlier.
    assert!(
        lines[1].contains("run-aborted") && lines[1].contains("aborted"),
        "{text}"
    );
    assert!(lines[1].contains("12.5s"), "{text}");
    assert!(
        lines[2].contains("run-good") && lines[2].contains("completed"),
        "{text}"
    );
    assert!(
        lines[2].contains("2m30s") && lines[2].contains("warm,burst"),
        "{text}"
    );
    assert!(
        lines[2].contains("store.toml") && lines[2].contains("2026-11-22T14:00:00Z"),
        "{text}"
    );
    assert!(!text.contains("run-corrupt"), "{text}");
}

#[test]
fn json_output_has_one_object_per_run() {
    let root = tempfile::tempdir().unwrap();
    let good = manifest("run-good", "completed", "2026-11-22T14:00:00Z", None);
    write_run(root.path(), "run-good", &good.to_string());
    let out = Command::cargo_bin("stormwatch")
        .unwrap()
        .args(["runs", "list", "--json"])
        .arg(root.path())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["run_id"], "run-good");
    assert_eq!(v["phases"], json!(["warm", "burst"]));
    assert_eq!(v["duration"], "-");
}

#[test]
fn a_missing_folder_is_an_input_error_naming_it() {
    Command::cargo_bin("stormwatch")
        .unwrap()
        .args(["runs", "list", "/nonexistent/stormwatch-runs"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/nonexistent/stormwatch-runs"));
}

#[test]
fn a_newer_schema_version_is_reported_not_misread() {
    let root = tempfile::tempdir().unwrap();
    let mut m = manifest("run-future", "completed", "2026-11-22T14:00:00Z", None);
    m["schema_version"] = json!(99);
    write_run(root.path(), "run-future", &m.to_string());
    Command::cargo_bin("stormwatch")
        .unwrap()
        .args(["runs", "list"])
        .arg(root.path())
        .assert()
        .success()
        .stderr(predicate::str::contains("schema version 99"))
        .stdout(predicate::str::contains("(no runs)"));
}

#[test]
fn usage_errors_exit_2_and_version_works() {
    Command::cargo_bin("stormwatch")
        .unwrap()
        .arg("--no-such-flag")
        .assert()
        .code(2);
    Command::cargo_bin("stormwatch")
        .unwrap()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("stormwatch "));
}
