//! Detectors on synthetic runs with server-side metrics: the injected cause must be the top
//! finding, its window must overlap the injected one, and a healthy run has nothing above
//! `info`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use stormwatch_model::parquet::write_metrics;
use stormwatch_model::{
    ApiKind, ApiResource, Arrivals, AwsResources, FindingKind, MANIFEST_SCHEMA_VERSION,
    MetricPoint, Phase, PhaseModel, PhaseWindow, RequestLogWriter, RequestRecord, RunDir,
    RunManifest, RunStatus, ScenarioCopy, Severity, UnixNanos,
};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T14:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn open(rate: f64) -> PhaseModel {
    PhaseModel::Open {
        start_rate_per_sec: rate,
        end_rate_per_sec: rate,
        arrivals: Arrivals::Uniform,
        max_in_flight: None,
    }
}

/// A REST API run: `baseline` 10 s at 10/s, then `burst` 10 s at 50/s. `burst_status` gives
/// the status of request i of the burst; latency is 20 ms, or `burst_ms` in the burst.
fn write_run(
    dir: &Path,
    burst_status: impl Fn(u64) -> u16,
    burst_ms: u64,
    metrics: &[MetricPoint],
) {
    let w1 = PhaseWindow::starting_at(t0(), Duration::from_secs(10));
    let w2 = PhaseWindow::starting_at(w1.end, Duration::from_secs(10));
    let run = RunDir::new(dir);
    run.write_manifest(&RunManifest {
        schema_version: MANIFEST_SCHEMA_VERSION,
        run_id: "r".into(),
        tool_version: "0.1.0".into(),
        scenario: ScenarioCopy {
            path: "s.toml".into(),
            sha256: String::new(),
            content: String::new(),
        },
        target: "http://127.0.0.1:1".into(),
        aws: Some(AwsResources {
            functions: vec!["f".into()],
            api: Some(ApiResource {
                kind: ApiKind::Rest,
                name: Some("api".into()),
                id: None,
                stage: Some("prod".into()),
            }),
            ..AwsResources::default()
        }),
        status: RunStatus::Completed,
        trace_sampling: 0.0,
        trace_budget_per_sec: None,
        started_at: t0(),
        ended_at: Some(w2.end),
        phases: vec![
            Phase {
                index: 0,
                name: "baseline".into(),
                model: open(10.0),
                planned: w1,
                actual: Some(w1),
                dropped: 0,
            },
            Phase {
                index: 1,
                name: "burst".into(),
                model: open(50.0),
                planned: w2,
                actual: Some(w2),
                dropped: 0,
            },
        ],
        thresholds: Vec::new(),
        labels: BTreeMap::new(),
        distribution: None,
        source: None,
    })
    .unwrap();
    let mut w = RequestLogWriter::create(run.requests_dir()).unwrap();
    let base = UnixNanos::from_datetime(t0());
    let mut seq = 0;
    let mut push = |phase: u32, at: Duration, ms: u64, status: u16| {
        seq += 1;
        let intended = base.plus(at);
        w.append(&RequestRecord {
            sequence: seq,
            flow: "f".into(),
            endpoint: "GET /x".into(),
            phase,
            vu: 0,
            intended,
            sent: intended,
            end: intended.plus(Duration::from_millis(ms)),
            status,
            // As the engine records it: a status the step did not expect is an error.
            error: (status >= 400).then_some(stormwatch_model::ErrorKind::UnexpectedStatus),
            bytes: 0,
            trace_id: None,
            sampled: false,
        })
        .unwrap();
    };
    for i in 0..100 {
        push(0, Duration::from_millis(i * 100), 20, 200);
    }
    for i in 0..500 {
        let status = burst_status(i);
        push(
            1,
            Duration::from_millis(10_000 + i * 20),
            if status == 200 { burst_ms } else { 5 },
            status,
        );
    }
    w.finish().unwrap();
    if !metrics.is_empty() {
        std::fs::create_dir_all(run.telemetry_dir()).unwrap();
        write_metrics(metrics, &run.metrics_path()).unwrap();
    }
}

/// One-second Lambda datapoints: `f(second)` → value.
fn lambda_series(metric: &str, stat: &str, f: impl Fn(i64) -> f64) -> Vec<MetricPoint> {
    (0..20)
        .map(|s| MetricPoint {
            timestamp: t0() + chrono::Duration::seconds(s),
            namespace: "AWS/Lambda".into(),
            metric: metric.into(),
            dimensions: BTreeMap::from([("FunctionName".into(), "f".into())]),
            stat: stat.into(),
            period_secs: 1,
            value: f(s),
            filled_zero: false,
        })
        .filter(|p| p.value != 0.0 || stat != "Sum")
        .collect()
}

fn analyze(dir: &Path) -> stormwatch_model::AnalysisReport {
    stormwatch_analysis::analyze(&RunDir::new(dir)).unwrap()
}

#[test]
fn lambda_concurrency_cap_is_the_top_finding() {
    let dir = tempfile::tempdir().unwrap();
    let mut metrics = lambda_series("ConcurrentExecutions", "Maximum", |s| {
        if s < 10 { 1.0 } else { 10.0 }
    });
    metrics.extend(lambda_series("Throttles", "Sum", |s| {
        if s < 10 { 0.0 } else { 10.0 }
    }));
    metrics.extend(lambda_series("Invocations", "Sum", |s| {
        if s < 10 { 10.0 } else { 40.0 }
    }));
    // One in five burst requests is throttled: REST answers 500.
    write_run(
        dir.path(),
        |i| if i % 5 == 0 { 500 } else { 200 },
        300,
        &metrics,
    );
    let r = analyze(dir.path());
    let top = &r.findings[0];
    assert_eq!(top.kind, FindingKind::LambdaThrottling, "{:#?}", r.findings);
    assert_eq!(top.severity, Severity::Critical);
    assert_eq!(top.phase.as_deref(), Some("burst"));
    let burst = r.phases[1].window;
    assert!(top.window.unwrap().overlap(&burst) > Duration::ZERO);
    assert!(
        top.title
            .starts_with("`f` (Lambda) throttled 100 requests at a peak concurrency of 10"),
        "{}",
        top.title
    );
    assert!(
        r.verdict
            .headline
            .contains("because `f` (Lambda) throttled 100 requests"),
        "{}",
        r.verdict.headline
    );
    assert!(
        r.verdict.headline.contains("p99 rose from 20 ms"),
        "{}",
        r.verdict.headline
    );
    // The metrics reached the timeline and the per-phase server stats.
    let f = r.phases[1]
        .server
        .as_ref()
        .unwrap()
        .resource(stormwatch_model::analysis::ResourceKind::Function, "f")
        .unwrap();
    assert_eq!((f.peak_concurrency, f.throttles), (Some(10), Some(100)));
    assert_eq!(r.timeline[12].concurrency, Some(10.0));
    // No API throttling claimed: the 500s are explained by Lambda.
    assert!(
        r.findings
            .iter()
            .all(|f| f.kind != FindingKind::ApiThrottling)
    );
}

#[test]
fn api_stage_limit_is_the_top_finding_when_lambda_is_not_throttled() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = lambda_series("ConcurrentExecutions", "Maximum", |_| 2.0);
    write_run(
        dir.path(),
        |i| if i % 3 == 0 { 429 } else { 200 },
        20,
        &metrics,
    );
    let r = analyze(dir.path());
    let top = &r.findings[0];
    assert_eq!(top.kind, FindingKind::ApiThrottling, "{:#?}", r.findings);
    assert!(top.title.contains("167"), "{}", top.title);
    assert!(
        r.findings
            .iter()
            .all(|f| f.kind != FindingKind::LambdaThrottling)
    );
}

#[test]
fn a_healthy_run_has_nothing_above_info() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = lambda_series("ConcurrentExecutions", "Maximum", |_| 2.0);
    write_run(dir.path(), |_| 200, 20, &metrics);
    let r = analyze(dir.path());
    assert!(
        r.findings.iter().all(|f| f.severity == Severity::Info),
        "{:#?}",
        r.findings
    );
    assert!(
        r.verdict.headline.starts_with("No problem found"),
        "{}",
        r.verdict.headline
    );
}

#[test]
fn concurrency_growth_estimates_cold_starts_without_traces() {
    let dir = tempfile::tempdir().unwrap();
    let mut metrics = lambda_series("ConcurrentExecutions", "Maximum", |s| {
        if s < 10 { 2.0 } else { 12.0 }
    });
    metrics.extend(lambda_series("Invocations", "Sum", |s| {
        if s < 10 { 10.0 } else { 50.0 }
    }));
    write_run(dir.path(), |_| 200, 20, &metrics);
    let r = analyze(dir.path());
    let c = r.cold_starts.expect("an estimate");
    assert_eq!(c.source, "estimate");
    assert_eq!(
        c.count, 12,
        "2 environments at the start, 10 more for the burst"
    );
    assert_eq!(c.by_phase[1].count, 10);
}

#[test]
fn without_metrics_rest_500s_are_named_likely_lambda_throttling_at_warning() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), |i| if i % 5 == 0 { 500 } else { 200 }, 20, &[]);
    let r = analyze(dir.path());
    let top = &r.findings[0];
    assert_eq!(top.kind, FindingKind::LambdaThrottling, "{:#?}", r.findings);
    assert_eq!(top.severity, Severity::Warning, "not confirmed by metrics");
    assert_eq!(top.phase.as_deref(), Some("burst"));
    assert!(
        top.title.starts_with("100 requests in burst got 500"),
        "{}",
        top.title
    );
    assert!(top.recommendation.contains("stormwatch collect"));
}
