//! `stormwatch diagnose`: run → collect → analyze → report in one command, against an
//! in-process sandbox reached through the standard `AWS_ENDPOINT_URL` override. Checked
//! against the sandbox's ground truth; a threshold failure exits 1; a collector that AWS
//! refuses exits 3 after the client-side report is written.

use std::path::{Path, PathBuf};
use std::time::Duration;

use stormwatch_model::{AnalysisReport, RunDir};

use crate::util::{access_denied_server, start_sandbox, stormwatch};

/// warm (environments start), idle past the 2 s idle timeout (they are reaped), burst
/// (they cold-start again).
const PHASES: &str = "\
[[phases]]\nname = \"warm\"\nmodel = \"open\"\nrate = 20\nduration = \"2s\"\n\
[[phases]]\nname = \"idle\"\nmodel = \"idle\"\nduration = \"3s\"\n\
[[phases]]\nname = \"burst\"\nmodel = \"open\"\nrate = 40\nduration = \"1s\"\n";

fn scenario(dir: &Path, thresholds: &str) -> PathBuf {
    let path = dir.join("items.toml");
    let text = format!(
        "[target]\nurl = \"http://127.0.0.1:9\"\n\n\
         [aws]\nregion = \"us-east-1\"\nfunctions = [\"items\"]\n\
         api = {{ kind = \"rest\", name = \"fast-test\", stage = \"prod\" }}\n\n\
         [[flows]]\nname = \"browse\"\n[[flows.steps]]\nendpoint = \"GET /items/:id\"\n\
         path = \"/prod/items/${{random_int(1,9)}}\"\n\n{PHASES}\n{thresholds}"
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn html_and_run(stdout: &[u8]) -> (PathBuf, RunDir) {
    let stdout = String::from_utf8(stdout.to_vec()).unwrap();
    let html = PathBuf::from(stdout.lines().last().unwrap());
    assert_eq!(html.file_name().unwrap(), "report.html", "{stdout}");
    let run = RunDir::new(html.parent().unwrap().parent().unwrap());
    (html, run)
}

#[test]
fn diagnose_runs_collects_analyzes_and_reports_what_the_sandbox_did() {
    let tmp = tempfile::tempdir().unwrap();
    let truth_path = tmp.path().join("truth.jsonl");
    let s = start_sandbox(&truth_path);
    let url = s.sandbox.api_url.clone();
    let out = stormwatch(&url, tmp.path())
        .args(["diagnose"])
        .arg(scenario(tmp.path(), ""))
        .args(["--target", &url, "--period", "1", "--wait", "2s", "--out"])
        .arg(tmp.path().join("runs"))
        .timeout(Duration::from_secs(180))
        .assert()
        .success()
        .get_output()
        .clone();
    s.runtime.block_on(s.sandbox.stop()).unwrap();
    let (html, run) = html_and_run(&out.stdout);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("PASS: "), "{stdout}");
    assert!(html.is_file());
    for file in ["summary.md", "analysis.json", "junit.xml"] {
        assert!(
            html.with_file_name(file).is_file(),
            "{file} missing: {stdout}"
        );
    }
    assert!(run.metrics_path().is_file() && run.spans_path().is_file());

    let truth: Vec<serde_json::Value> = std::fs::read_to_string(&truth_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let cold = truth.iter().filter(|t| t["cold"] == true).count() as u64;
    assert!(cold >= 2, "warm-up and burst both cold-start: {cold}");
    let report: AnalysisReport =
        serde_json::from_str(&std::fs::read_to_string(run.analysis_path()).unwrap()).unwrap();
    let cold_starts = report.cold_starts.as_ref().expect("cold starts");
    assert_eq!(cold_starts.source, "xray");
    assert_eq!(cold_starts.count, cold);
    let burst = cold_starts
        .by_phase
        .iter()
        .find(|p| p.phase == "burst")
        .expect("burst phase");
    assert!(
        burst.count > 0,
        "environments reaped in the idle phase: {burst:?}"
    );
    // Nothing is sent in the idle phase, so none of Lambda's throttles belong to it, even
    // where a one-second period straddles its start.
    let idle = report.phases.iter().find(|p| p.name == "idle").unwrap();
    let idle_throttles = idle
        .server
        .as_ref()
        .and_then(|s| {
            s.total(stormwatch_model::analysis::ResourceKind::Function, |f| {
                f.throttles
            })
        })
        .unwrap_or(0);
    assert_eq!(idle_throttles, 0, "throttles in idle");
    // The burst's throttles are Lambda's (reserved concurrency 2); the app has no table.
    let kinds: Vec<_> = report.findings.iter().map(|f| f.kind).collect();
    assert!(
        !kinds.contains(&stormwatch_model::FindingKind::DownstreamThrottling),
        "{kinds:?}"
    );
    // Invocations from CloudWatch, one per request that reached Lambda.
    let reached = truth
        .iter()
        .filter(|t| t["throttled_by"].is_null() || t["throttled_by"] == "table")
        .count() as f64;
    let metrics = stormwatch_model::parquet::read_metrics(&run.metrics_path()).unwrap();
    let invocations: f64 = metrics
        .iter()
        .filter(|p| p.namespace == "AWS/Lambda" && p.metric == "Invocations")
        .map(|p| p.value)
        .sum();
    assert!(
        (invocations - reached).abs() < 0.5,
        "Invocations {invocations} vs ground truth {reached}"
    );
}

#[test]
fn a_failed_threshold_exits_1_with_the_report_written() {
    let tmp = tempfile::tempdir().unwrap();
    let s = start_sandbox(&tmp.path().join("truth.jsonl"));
    let url = s.sandbox.api_url.clone();
    let out = stormwatch(&url, tmp.path())
        .args(["diagnose"])
        .arg(scenario(
            tmp.path(),
            "[[thresholds]]\ncheck = \"p50 < 0.0001\"\n",
        ))
        .args([
            "--target",
            &url,
            "--no-collect",
            "--format",
            "md,html",
            "--out",
        ])
        .arg(tmp.path().join("runs"))
        .timeout(Duration::from_secs(120))
        .assert()
        .code(1)
        .get_output()
        .clone();
    s.runtime.block_on(s.sandbox.stop()).unwrap();
    let (html, run) = html_and_run(&out.stdout);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("FAIL: "), "{stdout}");
    assert!(html.with_file_name("summary.md").is_file());
    assert!(
        !html.with_file_name("junit.xml").exists(),
        "only md and html asked for"
    );
    assert!(!run.metrics_path().exists(), "--no-collect");
}

#[test]
fn a_refused_collect_exits_3_after_writing_the_client_side_report() {
    let tmp = tempfile::tempdir().unwrap();
    let s = start_sandbox(&tmp.path().join("truth.jsonl"));
    let url = s.sandbox.api_url.clone();
    let refusing = access_denied_server();
    let out = stormwatch(&refusing, tmp.path())
        .args(["diagnose"])
        .arg(scenario(tmp.path(), ""))
        .args(["--target", &url, "--no-metrics", "--no-logs", "--out"])
        .arg(tmp.path().join("runs"))
        .timeout(Duration::from_secs(120))
        .assert()
        .code(3)
        .get_output()
        .clone();
    s.runtime.block_on(s.sandbox.stop()).unwrap();
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    assert!(stderr.contains("xray:GetTraceSummaries"), "{stderr}");
    let (html, _) = html_and_run(&out.stdout);
    assert!(html.is_file());
}

#[test]
fn bad_flags_exit_2_before_any_request() {
    let tmp = tempfile::tempdir().unwrap();
    for (flag, value, expect) in [
        ("--format", "html,pdf", "`pdf`"),
        ("--period", "45", "--period 45"),
        ("--wait", "soon", "--wait"),
    ] {
        let out = stormwatch("http://127.0.0.1:9", tmp.path())
            .args(["diagnose"])
            .arg(scenario(tmp.path(), ""))
            .args([flag, value, "--out"])
            .arg(tmp.path().join("runs"))
            .assert()
            .code(2)
            .get_output()
            .clone();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains(expect), "{flag}: {stderr}");
        assert!(
            !tmp.path().join("runs").exists(),
            "{flag}: a run was started"
        );
    }
}
