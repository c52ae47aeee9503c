//! `stormwatch coldstarts`: GETs sent to an in-process sandbox with idle gaps past its 2 s
//! idle timeout (so environments are reaped and cold-start again), then the command reads
//! the sandbox's REPORT lines and X-Ray documents through the standard `AWS_ENDPOINT_URL`
//! override and its counts are checked against the sandbox's ground truth. Bad times and a
//! reversed range exit 2 naming the flag. Nothing leaves 127.0.0.1.

use std::thread;
use std::time::Duration;

use chrono::{DateTime, Utc};
use predicates::prelude::*;

use crate::util::http_get;
use crate::util::start_sandbox;
use crate::util::stormwatch;

/// Whole seconds, so the range is exact whichever way the tool rounds.
fn second(t: DateTime<Utc>, offset: i64) -> String {
    DateTime::from_timestamp(t.timestamp() + offset, 0)
        .unwrap()
        .to_rfc3339()
}

#[test]
fn counts_cold_starts_as_the_sandbox_saw_them() {
    let tmp = tempfile::tempdir().unwrap();
    let truth_path = tmp.path().join("truth.jsonl");
    let s = start_sandbox(&truth_path);
    let url = s.sandbox.api_url.clone();
    let addr = url.trim_start_matches("http://").to_string();
    let before = Utc::now();
    // Each round after an idle gap cold-starts; the concurrent pair needs two environments.
    for (round, concurrent) in [(0, 1), (1, 2), (2, 1)] {
        if round > 0 {
            thread::sleep(Duration::from_millis(2600));
        }
        let first: Vec<_> = (0..concurrent)
            .map(|i| {
                let addr = addr.clone();
                thread::spawn(move || http_get(&addr, &format!("/prod/items/{i}")))
            })
            .collect();
        for h in first {
            assert!(h.join().unwrap().starts_with("HTTP/1.1 200"));
        }
        for i in 0..3 {
            assert!(http_get(&addr, &format!("/prod/items/{i}")).starts_with("HTTP/1.1 200"));
        }
    }
    let after = Utc::now();
    let (from, to) = (second(before, -1), second(after, 2));
    let out = stormwatch(&url, tmp.path())
        .args([
            "coldstarts",
            "--function",
            "items",
            "--from",
            &from,
            "--to",
            &to,
        ])
        .args(["--json", "--out"])
        .arg(tmp.path().join("out"))
        .timeout(Duration::from_secs(120))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let sampled = stormwatch(&url, tmp.path())
        .args([
            "coldstarts",
            "--function",
            "items",
            "--from",
            &from,
            "--to",
            &to,
        ])
        .args(["--no-logs"])
        .timeout(Duration::from_secs(120))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    s.runtime.block_on(s.sandbox.stop()).unwrap();

    let truth: Vec<serde_json::Value> = std::fs::read_to_string(&truth_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|t: &serde_json::Value| t["function"] == "items")
        .collect();
    let invoked = truth
        .iter()
        .filter(|t| t["throttled_by"].is_null() || t["throttled_by"] == "table")
        .count() as u64;
    let cold = truth.iter().filter(|t| t["cold"] == true).count() as u64;
    let max_init = truth
        .iter()
        .filter_map(|t| t["init_ms"].as_f64())
        .fold(0.0, f64::max);
    assert!(cold >= 4, "three rounds, one with two environments: {cold}");

    let report: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let written: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("out/coldstarts.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report, written, "--out writes what --json prints");
    assert_eq!(report["counts_from"], "logs");
    let f = &report["functions"][0];
    assert_eq!(f["function"], "items");
    assert_eq!(f["cold_starts"], cold, "{f:#}");
    assert_eq!(f["invocations"], invoked, "{f:#}");
    let got_max = f["init"]["max"].as_f64().unwrap();
    assert!(
        (got_max - max_init).abs() <= 1.0,
        "init max {got_max} vs ground truth {max_init}"
    );
    assert_eq!(f["by_config"][0]["version"], "$LATEST");
    assert_eq!(f["by_config"][0]["memory_mb"], 256);
    let hours: u64 = f["by_hour"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["cold_starts"].as_u64().unwrap())
        .sum();
    assert_eq!(hours, cold);
    let traced = &f["cost"]["traced"];
    assert!(traced["cold"].as_u64().unwrap() >= 1, "{traced:#}");
    assert!(
        f["headline"].as_str().unwrap().starts_with(&format!(
            "items: {cold} cold starts in {invoked} invocations"
        )),
        "{f:#}"
    );

    let text = String::from_utf8(sampled).unwrap();
    assert!(text.contains("sampled X-Ray traces"), "{text}");
    assert!(text.contains("(sampled traces)"), "{text}");
}

#[test]
fn bad_times_exit_2_naming_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let nowhere = "http://127.0.0.1:9";
    stormwatch(nowhere, tmp.path())
        .args(["coldstarts", "--function", "items"])
        .args([
            "--from",
            "2026-11-23T12:00:00Z",
            "--to",
            "2026-11-23T10:00:00Z",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--to (2026-11-23T10:00:00+00:00) must be after --from",
        ));
    stormwatch(nowhere, tmp.path())
        .args(["coldstarts", "--function", "items"])
        .args(["--from", "yesterday", "--to", "2026-11-23T10:00:00Z"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--from \"yesterday\": not an RFC 3339 time",
        ));
    // A range is required: --from, --since or --last.
    stormwatch(nowhere, tmp.path())
        .args(["coldstarts", "--function", "items"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--since"));
    stormwatch(nowhere, tmp.path())
        .args([
            "coldstarts",
            "--since",
            "1h",
            "--from",
            "2026-11-23T10:00:00Z",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--from"));
}
