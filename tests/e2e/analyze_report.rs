//! `stormwatch analyze`, `report` and `demo`: a real run analyzed and rendered, bad input
//! exiting 2, and the demo pipeline against the built-in sandbox. Load only goes to servers
//! these tests start on 127.0.0.1.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use stormwatch_model::{AnalysisReport, RequestLog, RunDir};

use crate::util::{TWO_PHASES, scenario, server};

fn stormwatch() -> Command {
    Command::cargo_bin("stormwatch").unwrap()
}

/// A finished 2-phase run (20 requests) with a threshold that `threshold` decides.
fn short_run(tmp: &Path, threshold: &str) -> PathBuf {
    let (url, _count) = server();
    let sc = scenario(tmp, TWO_PHASES, threshold);
    let out = stormwatch()
        .args(["--quiet", "run"])
        .arg(&sc)
        .args(["--target", &url, "--out"])
        .arg(tmp.join("runs"))
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    PathBuf::from(stdout.lines().last().unwrap())
}

fn read_report(path: &Path) -> AnalysisReport {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn analyze_writes_analysis_json_matching_the_records() {
    let tmp = tempfile::tempdir().unwrap();
    let run = short_run(tmp.path(), "[[thresholds]]\ncheck = \"error_rate <= 0\"\n");
    let assert = stormwatch().arg("analyze").arg(&run).assert().success();
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(stdout.starts_with("PASS: "), "{stdout}");
    let dir = RunDir::new(&run);
    assert_eq!(
        stdout.lines().last().unwrap(),
        dir.analysis_path().display().to_string()
    );
    let report = read_report(&dir.analysis_path());
    let log = RequestLog::read(&dir.requests_dir()).unwrap();
    let names: Vec<_> = report.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["warm", "pause"]);
    assert_eq!(report.phases[0].requests, log.records.len() as u64);
    assert_eq!(report.phases[1].requests, 0);
    assert!(report.verdict.passed);
}

#[test]
fn analyze_exits_1_when_a_threshold_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let run = short_run(tmp.path(), "[[thresholds]]\ncheck = \"p50 < 0.0001\"\n");
    stormwatch()
        .arg("analyze")
        .arg(&run)
        .assert()
        .code(1)
        .stdout(predicate::str::starts_with("FAIL: "));
}

#[test]
fn report_writes_the_requested_formats_html_last() {
    let tmp = tempfile::tempdir().unwrap();
    let run = short_run(tmp.path(), "");
    let out = tmp.path().join("rendered");
    let assert = stormwatch()
        .arg("report")
        .arg(&run)
        .args(["--format", "html,md,junit", "--out"])
        .arg(&out)
        .assert()
        .success();
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    let paths: Vec<&str> = stdout.lines().filter(|l| l.starts_with('/')).collect();
    assert_eq!(paths.len(), 3, "{stdout}");
    assert!(paths[2].ends_with("report.html"), "{stdout}");
    for p in &paths {
        assert!(Path::new(p).starts_with(&out), "{p}");
        assert!(std::fs::metadata(p).unwrap().len() > 0, "{p}");
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("warm") && html.contains("pause"));
    // No png or json was asked for.
    assert!(!out.join("analysis.json").exists());
    // The report analyzed the run on the way.
    assert!(RunDir::new(&run).analysis_path().exists());
}

#[test]
fn bad_format_and_missing_run_exit_2_naming_them() {
    let tmp = tempfile::tempdir().unwrap();
    stormwatch()
        .arg("report")
        .arg(tmp.path())
        .args(["--format", "html,pdf"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--format").and(predicate::str::contains("pdf")));
    let missing = tmp.path().join("no-such-run");
    stormwatch()
        .arg("analyze")
        .arg(&missing)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no-such-run"));
}

/// The README's first command: the whole pipeline against the built-in sandbox.
#[test]
fn demo_runs_the_pipeline_and_prints_the_report_path_last() {
    let tmp = tempfile::tempdir().unwrap();
    let assert = stormwatch()
        .args(["--quiet", "demo", "--out"])
        .arg(tmp.path())
        .timeout(std::time::Duration::from_secs(240))
        .assert()
        .success();
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    let html = PathBuf::from(stdout.lines().last().unwrap());
    assert_eq!(html.file_name().unwrap(), "report.html", "{stdout}");
    let page = std::fs::read_to_string(&html).unwrap();
    let run = html.parent().unwrap().parent().unwrap();
    let dir = RunDir::new(run);
    let report = read_report(&dir.analysis_path());
    let names: Vec<_> = report.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["warm", "idle", "burst", "recovery", "write-heavy"]);
    for name in names {
        assert!(page.contains(name), "{name} missing from the page");
    }
    // Every request recorded is counted once across the phases.
    let log = RequestLog::read(&dir.requests_dir()).unwrap();
    let counted: u64 = report.phases.iter().map(|p| p.requests).sum();
    assert_eq!(counted, log.records.len() as u64);
    // The burst exceeds `products`' reserved concurrency: the sandbox answers 500s.
    let burst = &report.phases[2];
    assert!(burst.errors > 0, "no throttling in the burst: {burst:?}");
    // The sandbox's own record of what happened is kept beside the run.
    let truth: Vec<serde_json::Value> =
        std::fs::read_to_string(run.join("sandbox-ground-truth.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    assert_eq!(truth.len(), log.records.len());

    // The demo collected the sandbox's telemetry through the AWS SDK clients, and it agrees
    // with the sandbox's ground truth: every Lambda throttle is in the Throttles metric...
    let lambda_throttled = truth
        .iter()
        .filter(|t| t["throttled_by"] == "lambda")
        .count();
    assert!(lambda_throttled > 0, "the burst throttles nothing");
    let metrics = stormwatch_model::parquet::read_metrics(&dir.metrics_path()).unwrap();
    let throttles: f64 = metrics
        .iter()
        .filter(|p| p.metric == "Throttles" && p.stat == "Sum")
        .filter(|p| p.dimensions.get("FunctionName").map(String::as_str) == Some("products"))
        .map(|p| p.value)
        .sum();
    assert!(
        (throttles - lambda_throttled as f64).abs() < 0.5,
        "Throttles metric {throttles} vs ground truth {lambda_throttled}"
    );
    assert!(metrics.iter().all(|p| p.period_secs == 1));
    // ...and every cold start is counted: from X-Ray's init subsegment for a traced request,
    // from its REPORT line for one outside the trace budget.
    let cold = truth.iter().filter(|t| t["cold"] == true).count() as u64;
    assert!(cold > 0, "no cold start in the demo");
    let cold_starts = report.cold_starts.as_ref().expect("cold-start summary");
    assert_eq!(cold_starts.source, "logs");
    assert_eq!(cold_starts.count, cold);
    let collect: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.collect_path()).unwrap()).unwrap();
    assert_eq!(collect["metrics"]["stable"], true, "{collect}");
    assert!(
        collect["windows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["complete"] == true)
    );
}

#[test]
fn report_refuses_a_foreign_analysis_and_an_unwritable_out_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let run = short_run(tmp.path(), "");
    stormwatch().arg("analyze").arg(&run).assert().success();
    // An analysis.json from another version: newer is refused naming the file.
    let path = run.join("analysis.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["schema_version"] = serde_json::json!(999);
    std::fs::write(&path, value.to_string()).unwrap();
    assert!(RunDir::new(&run).read_analysis().is_err());
    // `report` analyzes again rather than misreading it.
    stormwatch()
        .args(["report", "--format", "json"])
        .arg(&run)
        .assert()
        .success();
    assert!(RunDir::new(&run).read_analysis().is_ok());
    // An output folder that cannot be created is the user's error, not a bug.
    let blocker = tmp.path().join("a-file");
    std::fs::write(&blocker, "x").unwrap();
    stormwatch()
        .args(["report", "--format", "md", "--out"])
        .arg(blocker.join("sub"))
        .arg(&run)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("a-file"))
        .stderr(predicate::str::contains("bug").not());
}
