//! `stormwatch import`: fixtures of other tools' results become run directories that
//! `analyze` and `report` read unchanged; bad input exits 2 naming the file, line and field.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use stormwatch_model::{RequestLog, RunDir};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(name)
}

fn stormwatch() -> Command {
    Command::cargo_bin("stormwatch").unwrap()
}

/// Imports `files` of `format` into `out`; returns the run directory (stdout's last line).
fn import(format: &str, files: &[PathBuf], out: &Path, extra: &[&str]) -> RunDir {
    let output = stormwatch()
        .arg("import")
        .arg(format)
        .args(files)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    RunDir::new(stdout.lines().last().unwrap().trim())
}

#[test]
fn a_jtl_imports_with_thread_group_phases_and_analyzes_and_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let jtl = fixture("jmeter.jtl");
    let dir = import(
        "jmeter",
        std::slice::from_ref(&jtl),
        tmp.path(),
        &["--function", "shop-products"],
    );
    let m = dir.read_manifest().unwrap();
    let source = m.source.as_ref().expect("source");
    assert_eq!(source.tool, "jmeter");
    assert_eq!(
        source.records, 60,
        "61 data rows, one a transaction-controller parent"
    );
    assert_eq!(source.trace_ids_from_headers, 60);
    assert!(!source.coordinated_omission_corrected);
    assert_eq!(source.files[0].sha256.len(), 64);
    assert_eq!(
        m.phases.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["Warm", "Burst"]
    );
    assert_eq!(m.aws.unwrap().functions, ["shop-products"]);
    let log = RequestLog::read(&dir.requests_dir()).unwrap();
    assert_eq!(log.records.len(), 60);
    assert!(
        log.records
            .iter()
            .all(|r| r.intended == r.sent && r.trace_id.is_some())
    );
    assert_eq!(log.records.iter().filter(|r| r.status == 502).count(), 2);
    assert!(dir.histograms_path().is_file());
    let series = std::fs::read_to_string(dir.root().join("series.csv")).unwrap();
    let completed: u64 = series
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(completed, 60);

    stormwatch()
        .arg("analyze")
        .arg(dir.root())
        .assert()
        .success();
    let analysis = dir.read_analysis().unwrap();
    assert_eq!(analysis.phases.len(), 2);
    assert_eq!(analysis.phases.iter().map(|p| p.requests).sum::<u64>(), 60);
    let notes = analysis.sources.notes.join("\n");
    assert!(
        notes.contains("coordinated omission could not be corrected"),
        "{notes}"
    );
    assert!(notes.contains("imported from jmeter"), "{notes}");
    stormwatch()
        .arg("report")
        .arg(dir.root())
        .args(["--format", "md,json"])
        .assert()
        .success();
    let md = std::fs::read_to_string(dir.report_dir().join("summary.md")).unwrap();
    assert!(
        md.contains("### Notes") && md.contains("coordinated omission could not be corrected"),
        "{md}"
    );
}

/// Real JTLs of JMeter 2.13 (Debian 12), counted by hand in their README: the version's
/// header-less 12-column default, and a header with a `trace_id` sample variable.
#[test]
fn jmeter_2_13_captures_import_with_their_counts() {
    let tmp = tempfile::tempdir().unwrap();
    for (file, warm, burst, ok, bad_gateway, traced) in [
        ("jmeter-2.13/default-no-header.jtl", 40, 124, 124, 40, 0),
        ("jmeter-2.13/header-trace-id.jtl", 42, 124, 126, 40, 166),
    ] {
        let dir = import("jmeter", &[fixture(file)], tmp.path(), &[]);
        let m = dir.read_manifest().unwrap();
        let names: Vec<&str> = m.phases.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["warm", "burst"], "{file}");
        let log = RequestLog::read(&dir.requests_dir()).unwrap();
        let count = |f: &dyn Fn(&stormwatch_model::RequestRecord) -> bool| {
            log.records.iter().filter(|r| f(r)).count()
        };
        assert_eq!(count(&|r| r.phase == 0), warm, "{file}");
        assert_eq!(count(&|r| r.phase == 1), burst, "{file}");
        assert_eq!(count(&|r| r.status == 200), ok, "{file}");
        assert_eq!(count(&|r| r.status == 502), bad_gateway, "{file}");
        assert_eq!(count(&|r| r.trace_id.is_some()), traced, "{file}");
        assert_eq!(count(&|r| r.endpoint == "checkout"), 0, "{file}");
    }
}

#[test]
fn every_fixture_imports_and_analyzes() {
    let tmp = tempfile::tempdir().unwrap();
    for (format, file, requests) in [
        ("jmeter", "jmeter.xml", 22),
        ("k6", "k6.ndjson", 50),
        ("k6", "k6.csv", 30),
        ("gatling", "simulation.log", 40),
        ("newman", "newman.json", 12),
        ("har", "chromium.har", 15),
        ("locust", "locust.ndjson", 40),
    ] {
        let dir = import(format, &[fixture(file)], tmp.path(), &[]);
        let log = RequestLog::read(&dir.requests_dir()).unwrap();
        assert_eq!(log.records.len(), requests, "{file}");
        stormwatch()
            .arg("analyze")
            .arg(dir.root())
            .assert()
            .success();
    }
}

#[test]
fn phase_flags_cut_the_run_and_count_what_falls_outside() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = import(
        "k6",
        &[fixture("k6.ndjson")],
        tmp.path(),
        &["--phase", "first=+0s..+5s", "--phase", "second=+5s..+8s"],
    );
    let m = dir.read_manifest().unwrap();
    assert_eq!(m.phases.len(), 2);
    let source = m.source.unwrap();
    let log = RequestLog::read(&dir.requests_dir()).unwrap();
    assert_eq!(log.records.len() as u64, source.records);
    assert_eq!(source.records + source.skipped, 50);
    assert!(
        source.skipped > 0,
        "requests after +8s are outside every phase"
    );
}

#[test]
fn an_aggregate_only_import_is_flagged_and_still_analyzes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = import(
        "locust",
        &[fixture("locust_stats_history.csv")],
        tmp.path(),
        &[],
    );
    let m = dir.read_manifest().unwrap();
    assert!(!m.source.as_ref().unwrap().per_request);
    assert_eq!(
        RequestLog::read(&dir.requests_dir()).unwrap().records.len(),
        0
    );
    let series = std::fs::read_to_string(dir.root().join("series.csv")).unwrap();
    assert_eq!(series.lines().count(), 31);
    stormwatch()
        .arg("analyze")
        .arg(dir.root())
        .assert()
        .success();
    let analysis = dir.read_analysis().unwrap();
    let notes = analysis.sources.notes.join("\n");
    assert!(notes.contains("aggregate-only import"), "{notes}");
    // The fixture's last Aggregated row: Total Request Count 461, Total Failure Count 0.
    assert_eq!(
        analysis.verdict.headline,
        "No problem found: 461 requests by locust's own count, none failed (an aggregate-only \
         import, no per-request records)"
    );
}

#[test]
fn bad_input_exits_2_naming_file_line_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.jtl");
    std::fs::write(&bad, "time,elapsed,label\n1,2,3\n").unwrap();
    let empty = tmp.path().join("empty.json");
    std::fs::write(&empty, "").unwrap();
    for (format, file, expect) in [
        ("jmeter", &bad, "bad.jtl:1: timeStamp: missing column"),
        (
            "k6",
            &fixture("jmeter.jtl"),
            "jmeter.jtl:1: metric_name: missing column",
        ),
        ("har", &empty, "empty.json: the file is empty"),
        ("gatling", &fixture("k6.csv"), "k6.csv:1: record type"),
    ] {
        let out = stormwatch()
            .args(["import", format])
            .arg(file)
            .arg("--out")
            .arg(tmp.path().join("runs"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{format} {}", file.display());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    assert!(
        !tmp.path().join("runs").exists(),
        "nothing is created for a failed import"
    );
}
