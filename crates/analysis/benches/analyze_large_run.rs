//! Benchmark: analyze a synthetic run of 10 million request records and 3 hours of
//! one-second telemetry (50 series), then render every report format. Prints wall time and
//! peak RSS; the targets (issue: analyze ≤ 15 s and ≤ 2 GB on 2 cores, render ≤ 5 s) are
//! compared by a person, not asserted.
//!
//! Run: `cargo bench -p stormwatch-analysis --bench analyze_large_run`
//! (`STORMWATCH_BENCH_RECORDS=1000000` for a quicker run).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use stormwatch_model::parquet::write_metrics;
use stormwatch_model::{
    Arrivals, MANIFEST_SCHEMA_VERSION, MetricPoint, Phase, PhaseModel, PhaseWindow,
    RequestLogWriter, RequestRecord, RunDir, RunManifest, RunStatus, ScenarioCopy, UnixNanos,
};

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Set in the child process that analyzes (so its peak RSS is the analysis' alone, as when a
/// user runs `stormwatch analyze`, not the generator's leftovers).
const CHILD_ENV: &str = "STORMWATCH_BENCH_ANALYZE_DIR";

fn analyze_in_this_process(dir: &std::path::Path) {
    let run = RunDir::new(dir);
    let started = Instant::now();
    let report = stormwatch_analysis::analyze(&run).unwrap();
    let analyze = started.elapsed();
    println!(
        "analyze: {:.2} s, peak RSS {:.0} MB (a fresh process); {} phases, {} timeline points, {} findings",
        analyze.as_secs_f64(),
        peak_rss_mb(),
        report.phases.len(),
        report.timeline.len(),
        report.findings.len()
    );
}

fn main() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        analyze_in_this_process(std::path::Path::new(&dir));
        return;
    }
    let records: u64 = std::env::var("STORMWATCH_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path());
    let t0: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .unwrap()
        .into();
    let hours = Duration::from_secs(3 * 3600);
    let phases: Vec<Phase> = (0..6u32)
        .map(|i| {
            let w = PhaseWindow::starting_at(
                t0 + chrono::Duration::minutes(30 * i64::from(i)),
                Duration::from_secs(1800),
            );
            Phase {
                index: i,
                name: format!("phase-{i}"),
                model: PhaseModel::Open {
                    start_rate_per_sec: 925.0,
                    end_rate_per_sec: 925.0,
                    arrivals: Arrivals::Uniform,
                    max_in_flight: None,
                },
                planned: w,
                actual: Some(w),
                dropped: 0,
            }
        })
        .collect();
    run.write_manifest(&RunManifest {
        schema_version: MANIFEST_SCHEMA_VERSION,
        run_id: "bench".into(),
        tool_version: "bench".into(),
        scenario: ScenarioCopy {
            path: "bench.toml".into(),
            sha256: String::new(),
            content: String::new(),
        },
        target: "http://127.0.0.1:1".into(),
        aws: None,
        status: RunStatus::Completed,
        trace_sampling: 1.0,
        trace_budget_per_sec: None,
        started_at: t0,
        ended_at: Some(t0 + chrono::Duration::from_std(hours).unwrap()),
        phases,
        thresholds: Vec::new(),
        labels: BTreeMap::new(),
        distribution: None,
        source: None,
    })
    .unwrap();

    let started = Instant::now();
    let mut w = RequestLogWriter::create(run.requests_dir()).unwrap();
    let base = UnixNanos::from_datetime(t0);
    let step = hours.as_nanos() as u64 / records;
    let endpoints = [
        "GET /products/:id",
        "GET /search",
        "POST /cart",
        "POST /checkout",
    ];
    for i in 0..records {
        let intended = UnixNanos(base.0 + (i * step) as i64);
        let latency = 5_000_000 + (i * 7919 % 200_000_000);
        w.append(&RequestRecord {
            sequence: i,
            flow: "browse".into(),
            endpoint: endpoints[(i % 4) as usize].into(),
            phase: (i * 6 / records) as u32,
            vu: (i % 64) as u32,
            intended,
            sent: UnixNanos(intended.0 + 20_000),
            end: UnixNanos(intended.0 + latency as i64),
            status: if i % 97 == 0 { 500 } else { 200 },
            error: (i % 97 == 0).then_some(stormwatch_model::ErrorKind::UnexpectedStatus),
            bytes: 512,
            trace_id: Some(format!("1-{:08x}-{:024x}", intended.0 / 1_000_000_000, i)),
            sampled: true,
        })
        .unwrap();
        if i % 100_000 == 0 {
            w.flush().unwrap();
        }
    }
    w.finish().unwrap();
    let mut points = Vec::new();
    for s in 0..50 {
        for sec in 0..hours.as_secs() as i64 {
            points.push(MetricPoint {
                timestamp: t0 + chrono::Duration::seconds(sec),
                namespace: "AWS/Lambda".into(),
                metric: if s % 2 == 0 {
                    "ConcurrentExecutions".into()
                } else {
                    "Invocations".into()
                },
                dimensions: BTreeMap::from([("FunctionName".into(), format!("fn-{s}"))]),
                stat: if s % 2 == 0 {
                    "Maximum".into()
                } else {
                    "Sum".into()
                },
                period_secs: 1,
                value: (sec % 100) as f64,
                filled_zero: false,
            });
        }
    }
    std::fs::create_dir_all(run.telemetry_dir()).unwrap();
    write_metrics(&points, &run.metrics_path()).unwrap();
    drop(points);
    println!(
        "generated {records} records + 50 × {} s of telemetry in {:.1} s",
        hours.as_secs(),
        started.elapsed().as_secs_f64()
    );
    println!("generator peak RSS {:.0} MB", peak_rss_mb());
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, dir.path())
        .status()
        .unwrap();
    assert!(status.success(), "the analysis process failed: {status}");
}
