//! Benchmark: render every format for a 3-hour run (10,800 one-second timeline points,
//! 6 phases × 4 endpoints). Prints the time per format; the target is ≤ 5 s for all.
//!
//! Run: `cargo bench -p stormwatch-report --bench render_all`

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use stormwatch_model::analysis::{
    DataSources, EndpointStats, LatencyDistribution, LatencySummary, PercentilePoint, PhaseStats,
    RunSummary, TimelinePoint, Verdict, Waterfall,
};
use stormwatch_model::{ANALYSIS_SCHEMA_VERSION, AnalysisReport, Millis, PhaseWindow, RunStatus};
use stormwatch_report::{Format, render};

fn main() {
    let t0: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .unwrap()
        .into();
    let lat = |x: f64| LatencySummary {
        p50: Millis(x),
        p95: Millis(x * 2.0),
        p99: Millis(x * 4.0),
        p999: Millis(x * 8.0),
        max: Millis(x * 10.0),
    };
    let phases: Vec<PhaseStats> = (0..6u32)
        .map(|i| PhaseStats {
            index: i,
            name: format!("phase-{i}"),
            window: PhaseWindow::starting_at(
                t0 + chrono::Duration::minutes(30 * i64::from(i)),
                Duration::from_secs(1800),
            ),
            model: "open 925/s".into(),
            offered_rate_per_sec: Some(925.0),
            achieved_rate_per_sec: 920.0,
            requests: 1_666_666,
            errors: 17_000,
            dropped: 0,
            corrected: lat(22.0),
            raw: lat(18.0),
            endpoints: (0..4)
                .map(|e| EndpointStats {
                    endpoint: format!("GET /endpoint-{e}"),
                    count: 416_666,
                    rate_per_sec: 230.0,
                    corrected: lat(20.0 + f64::from(e)),
                    raw: lat(18.0),
                    outcomes: BTreeMap::from([("2xx".into(), 412_000), ("500".into(), 4_666)]),
                    error_rate: 0.011,
                })
                .collect(),
            server: None,
            waterfall: Some(Waterfall {
                traced_requests: 1000,
                of_requests: 1000,
                network: Millis(2.0),
                api_gateway: Millis(4.0),
                lambda_placement: Millis(1.0),
                init: Millis(3.0),
                invocation: Millis(12.0),
                downstream: Millis(5.0),
                overhead: Millis(0.5),
            }),
        })
        .collect();
    let timeline: Vec<TimelinePoint> = (0..10_800)
        .map(|s| TimelinePoint {
            t: t0 + chrono::Duration::seconds(s),
            phase: Some((s / 1800) as u32),
            offered: 925,
            completed: 920,
            p50: Some(Millis(20.0 + (s % 13) as f64)),
            p99: Some(Millis(80.0 + (s % 170) as f64)),
            errors_4xx: (s % 7) as u64,
            errors_5xx: (s % 11) as u64,
            errors_transport: 0,
            cold_starts: u64::from(s % 300 == 0),
            concurrency: Some(40.0 + (s % 30) as f64),
            lambda_throttles: Some((s % 5) as f64),
            downstream_throttles: None,
        })
        .collect();
    let report = AnalysisReport {
        schema_version: ANALYSIS_SCHEMA_VERSION,
        run: RunSummary {
            run_id: "bench".into(),
            scenario: "bench.toml".into(),
            target: "http://127.0.0.1:1".into(),
            status: RunStatus::Completed,
            window: Some(PhaseWindow::starting_at(t0, Duration::from_secs(10_800))),
            api_kind: None,
            functions: vec![],
            shards: Vec::new(),
            missing_shards: Vec::new(),
        },
        verdict: Verdict {
            passed: true,
            headline: "bench".into(),
            details: vec![],
        },
        findings: vec![],
        distributions: phases
            .iter()
            .map(|p| LatencyDistribution {
                phase: p.name.clone(),
                points: [50.0, 90.0, 99.0, 99.9, 99.99, 100.0]
                    .iter()
                    .map(|q| PercentilePoint {
                        percentile: *q,
                        latency: Millis(*q),
                    })
                    .collect(),
            })
            .collect(),
        phases,
        thresholds: vec![],
        cold_starts: None,
        timeline,
        sources: DataSources::default(),
    };
    let all = Instant::now();
    for format in Format::ALL {
        let started = Instant::now();
        let files = render(&report, format).unwrap();
        let bytes: usize = files.iter().map(|f| f.bytes.len()).sum();
        println!(
            "{format:?}: {:.3} s, {} file(s), {:.1} MB",
            started.elapsed().as_secs_f64(),
            files.len(),
            bytes as f64 / 1e6
        );
    }
    println!("all formats: {:.3} s", all.elapsed().as_secs_f64());
}
