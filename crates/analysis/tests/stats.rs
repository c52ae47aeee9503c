//! The analyzer's statistics on a synthetic run whose answers are known by construction.
// Nearest-rank percentiles of integer latencies are exact values, compared exactly.
#![allow(clippy::float_cmp)]

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use stormwatch_model::{
    Arrivals, Comparison, ErrorKind, MANIFEST_SCHEMA_VERSION, Phase, PhaseModel, PhaseWindow,
    RequestLogWriter, RequestRecord, RunDir, RunManifest, RunStatus, ScenarioCopy, ThresholdMetric,
    ThresholdSpec, UnixNanos,
};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T14:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn manifest() -> RunManifest {
    let w1 = PhaseWindow::starting_at(t0(), Duration::from_secs(10));
    let w2 = PhaseWindow::starting_at(w1.end, Duration::from_secs(5));
    RunManifest {
        schema_version: MANIFEST_SCHEMA_VERSION,
        run_id: "r1".into(),
        tool_version: "0.1.0".into(),
        scenario: ScenarioCopy {
            path: "dir/synthetic.toml".into(),
            sha256: String::new(),
            content: String::new(),
        },
        target: "http://127.0.0.1:1".into(),
        aws: None,
        status: RunStatus::Completed,
        trace_sampling: 1.0,
        trace_budget_per_sec: None,
        started_at: t0(),
        ended_at: Some(w2.end),
        phases: vec![
            Phase {
                index: 0,
                name: "steady".into(),
                model: PhaseModel::Open {
                    start_rate_per_sec: 10.0,
                    end_rate_per_sec: 10.0,
                    arrivals: Arrivals::Uniform,
                    max_in_flight: None,
                },
                planned: w1,
                actual: Some(w1),
                dropped: 0,
            },
            Phase {
                index: 1,
                name: "errors".into(),
                model: PhaseModel::Closed {
                    start_users: 1,
                    end_users: 1,
                },
                planned: w2,
                actual: Some(w2),
                dropped: 0,
            },
        ],
        thresholds: Vec::new(),
        labels: BTreeMap::new(),
        distribution: None,
        source: None,
    }
}

/// Phase 0: 100 requests, one every 100 ms, corrected latency i ms (i = 1..=100) of which
/// the first 10 ms were queueing (raw = corrected − 10 ms).
/// Phase 1: 5 requests: 2 × 200, 1 × 429, 1 × 502, 1 transport timeout.
fn write_run(dir: &std::path::Path) {
    let run = RunDir::new(dir);
    run.write_manifest(&manifest()).unwrap();
    let mut w = RequestLogWriter::create(run.requests_dir()).unwrap();
    let base = UnixNanos::from_datetime(t0());
    for i in 1..=100u64 {
        let intended = base.plus(Duration::from_millis((i - 1) * 100));
        w.append(&RequestRecord {
            sequence: i,
            flow: "f".into(),
            endpoint: "GET /items/:id".into(),
            phase: 0,
            vu: 0,
            intended,
            sent: intended.plus(Duration::from_millis(10)),
            end: intended.plus(Duration::from_millis(i)),
            status: 200,
            error: None,
            bytes: 2,
            trace_id: None,
            sampled: false,
        })
        .unwrap();
    }
    let p1 = base.plus(Duration::from_secs(10));
    for (i, (status, error)) in [
        (200, None),
        (200, None),
        (429, Some(ErrorKind::UnexpectedStatus)),
        (502, Some(ErrorKind::UnexpectedStatus)),
        (0, Some(ErrorKind::Timeout)),
    ]
    .into_iter()
    .enumerate()
    {
        let intended = p1.plus(Duration::from_millis(i as u64 * 1000));
        w.append(&RequestRecord {
            sequence: 200 + i as u64,
            flow: "f".into(),
            endpoint: "POST /orders".into(),
            phase: 1,
            vu: 0,
            intended,
            sent: intended,
            end: intended.plus(Duration::from_millis(20)),
            status,
            error,
            bytes: 0,
            trace_id: None,
            sampled: false,
        })
        .unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn per_phase_and_endpoint_statistics_match_the_construction() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path());
    let report = stormwatch_analysis::analyze(&RunDir::new(dir.path())).unwrap();
    assert_eq!(report.run.scenario, "synthetic.toml");
    assert_eq!(report.phases.len(), 2);

    let steady = &report.phases[0];
    assert_eq!(steady.model, "open 10/s");
    assert_eq!(steady.requests, 100);
    assert_eq!(steady.errors, 0);
    assert!((steady.achieved_rate_per_sec - 10.0).abs() < 1e-9);
    let e = &steady.endpoints[0];
    assert_eq!(e.endpoint, "GET /items/:id");
    assert_eq!(e.corrected.p50.0, 50.0);
    assert_eq!(e.corrected.p99.0, 99.0);
    assert_eq!(e.corrected.max.0, 100.0);
    assert_eq!(e.raw.max.0, 90.0);
    assert_eq!(e.outcomes.get("2xx"), Some(&100));

    let errors = &report.phases[1];
    assert_eq!(errors.model, "closed 1 VUs");
    assert_eq!(errors.requests, 5);
    assert_eq!(errors.errors, 3);
    let o = &errors.endpoints[0].outcomes;
    assert_eq!(o.get("2xx"), Some(&2));
    assert_eq!(o.get("429"), Some(&1));
    assert_eq!(o.get("502"), Some(&1));
    assert_eq!(o.get("timeout"), Some(&1));
    assert!((errors.endpoints[0].error_rate - 0.6).abs() < 1e-9);
}

#[test]
fn timeline_has_one_point_per_second_with_offered_completed_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path());
    let report = stormwatch_analysis::analyze(&RunDir::new(dir.path())).unwrap();
    assert_eq!(report.timeline.len(), 15);
    // Each second of the steady phase offers 10 requests.
    assert!(
        report.timeline[..10].iter().all(|p| p.offered == 10),
        "{:?}",
        report.timeline[0]
    );
    assert_eq!(report.timeline[0].phase, Some(0));
    assert_eq!(report.timeline[10].phase, Some(1));
    let p1: Vec<_> = report.timeline[10..].iter().collect();
    assert_eq!(p1.iter().map(|p| p.errors_4xx).sum::<u64>(), 1);
    assert_eq!(p1.iter().map(|p| p.errors_5xx).sum::<u64>(), 1);
    assert_eq!(p1.iter().map(|p| p.errors_transport).sum::<u64>(), 1);
    let total: u64 = report.timeline.iter().map(|p| p.completed).sum();
    assert_eq!(total, 105);
}

#[test]
fn a_torn_last_line_is_dropped_and_noted() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path());
    let seg = RunDir::new(dir.path())
        .requests_dir()
        .join("part-000001.csv");
    let mut text = std::fs::read_to_string(&seg).unwrap();
    text.push_str("999,f,GET /items/:id,0,0,17");
    std::fs::write(&seg, text).unwrap();
    let report = stormwatch_analysis::analyze(&RunDir::new(dir.path())).unwrap();
    assert_eq!(report.phases[0].requests, 100);
    assert!(report.sources.notes.iter().any(|n| n.contains("torn")));
}

#[test]
fn thresholds_are_judged_on_the_records_and_decide_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path());
    let run = RunDir::new(dir.path());
    let mut m = run.read_manifest().unwrap();
    let t = |phase: Option<&str>, metric, comparison, limit| ThresholdSpec {
        phase: phase.map(str::to_string),
        endpoint: None,
        metric,
        comparison,
        limit,
    };
    m.thresholds = vec![
        t(
            Some("steady"),
            ThresholdMetric::P99,
            Comparison::Less,
            100.0,
        ),
        t(Some("steady"), ThresholdMetric::P99, Comparison::Less, 99.0),
        t(
            Some("errors"),
            ThresholdMetric::ErrorRate,
            Comparison::Less,
            0.5,
        ),
        t(
            Some("steady"),
            ThresholdMetric::AchievedRate,
            Comparison::GreaterOrEqual,
            9.5,
        ),
        t(None, ThresholdMetric::ColdStartShare, Comparison::Less, 0.1),
        t(
            Some("no-such-phase"),
            ThresholdMetric::Max,
            Comparison::Less,
            1.0,
        ),
    ];
    run.write_manifest(&m).unwrap();
    let r = stormwatch_analysis::analyze(&run).unwrap();
    let got: Vec<(bool, Option<&str>)> = r
        .thresholds
        .iter()
        .map(|t| (t.passed, t.observed.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (true, Some("99 ms")),
            (false, Some("99 ms")),
            (false, Some("60 %")),
            (true, Some("10/s")),
            // Cold-start share without a phase: judged on each phase with traffic (both),
            // and without telemetry there is nothing to judge it on.
            (false, None),
            (false, None),
            (false, None),
        ]
    );
    assert_eq!(r.thresholds[0].name, "steady p99 < 100 ms");
    assert_eq!(r.thresholds[4].name, "steady cold_start_share < 10 %");
    assert_eq!(r.thresholds[5].name, "errors cold_start_share < 10 %");
    assert!(!r.verdict.passed);
    assert!(
        r.verdict.details[0].starts_with("5 of 7 thresholds failed"),
        "{:?}",
        r.verdict.details
    );
}

#[test]
fn corrupt_segments_are_read_around_and_every_skip_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path());
    let req = RunDir::new(dir.path()).requests_dir();
    let seg = req.join("part-000001.csv");
    let text = std::fs::read_to_string(&seg).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let duplicate = lines[5].to_string();
    // Garbage in the middle (line 4 of the file), a duplicated record, a record of a phase
    // the manifest does not have.
    lines.insert(3, "this is not a record");
    lines.push(&duplicate);
    let unknown_phase = lines[2].replacen("GET /items/:id,0,", "GET /items/:id,7,", 1);
    let unknown_phase = format!("9999{}", &unknown_phase[unknown_phase.find(',').unwrap()..]);
    lines.push(&unknown_phase);
    std::fs::write(&seg, lines.join("\n") + "\n").unwrap();
    // A stray copy under a name the writer never makes is not read at all.
    std::fs::write(req.join("part-abc.csv"), &text).unwrap();
    // A segment without its header: its first line is a record, not eaten.
    let record = text.lines().nth(1).unwrap();
    let headerless = format!("5000{}\n", &record[record.find(',').unwrap()..]);
    std::fs::write(req.join("part-000009.csv"), headerless).unwrap();

    let report = stormwatch_analysis::analyze(&RunDir::new(dir.path())).unwrap();
    // 100 + the header-less record; nothing doubled, the garbage and the duplicate out.
    assert_eq!(report.phases[0].requests, 101);
    assert_eq!(report.phases[1].requests, 5);
    let notes = report.sources.notes.join("\n");
    assert!(
        notes.contains("part-000001.csv: 1 malformed line(s) skipped (line 4)"),
        "{notes}"
    );
    assert!(
        notes.contains("part-000001.csv: 1 record(s) repeat"),
        "{notes}"
    );
    assert!(
        notes.contains("part-000009.csv has no header line"),
        "{notes}"
    );
    assert!(
        notes.contains("1 request record(s) name a phase index"),
        "{notes}"
    );
}

#[test]
fn a_manifest_spanning_decades_is_refused_not_allocated() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path());
    let run = RunDir::new(dir.path());
    let mut m = run.read_manifest().unwrap();
    let epoch = chrono::DateTime::UNIX_EPOCH;
    m.phases[0].actual =
        Some(stormwatch_model::PhaseWindow::new(epoch, m.phases[0].actual.unwrap().end).unwrap());
    run.write_manifest(&m).unwrap();
    let err = stormwatch_analysis::analyze(&run).unwrap_err().to_string();
    assert!(
        err.contains("manifest.json") && err.contains("days"),
        "{err}"
    );
}
