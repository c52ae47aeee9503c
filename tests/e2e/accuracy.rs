//! Analyzer accuracy against the sandbox's ground truth: in each of four fault scenarios
//! (reserved-concurrency cap, table throttle, API stage rate limit, handler timeouts) the
//! injected cause is the top finding and its window overlaps the fault's; a healthy scenario
//! yields nothing above `info`.
//!
//! Each case starts the sandbox in-process on 127.0.0.1, runs a two-phase scenario against it
//! with the load engine, hands the analyzer the CloudWatch series the sandbox recorded (the
//! telemetry files `collect` writes), and scores the findings.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use stormwatch_model::parquet::write_metrics;
use stormwatch_model::{AnalysisReport, FindingKind, MetricPoint, PhaseWindow, RunDir, Severity};

/// The app: one REST route backed by a function and a table. `extra` adds faults or
/// overrides; `api` and `function` tables can take more keys through `api_extra` and
/// `function_extra`.
fn sandbox_config(api_extra: &str, function_extra: &str, faults: &str) -> String {
    format!(
        "[api]\nkind = \"rest\"\nname = \"acc\"\nstage = \"prod\"\n{api_extra}\n\
         [telemetry]\nresolution = \"1s\"\n\n\
         [functions.orders]\nruntime = \"nodejs20.x\"\nmemory_mb = 512\ninit = \"fixed 50ms\"\n\
         timeout = \"3s\"\nidle_timeout = \"60s\"\n{function_extra}\n\
         [tables.orders]\nread_capacity = 1000\nwrite_capacity = 200\nmax_retries = 2\n\
         base_backoff = \"20ms\"\n\n\
         [[routes]]\nroute = \"POST /prod/orders\"\nfunction = \"orders\"\n\
         handler = \"fixed 40ms\"\nresponse_bytes = 200\ntable = \"orders\"\nwrites = 1\n\n{faults}"
    )
}

const SCENARIO: &str = "[target]\nurl = \"http://127.0.0.1:9\"\ntimeout = \"5s\"\n\n\
    [aws]\nregion = \"us-east-1\"\nfunctions = [\"orders\"]\n\
    api = { kind = \"rest\", name = \"acc\", stage = \"prod\" }\ntables = [\"orders\"]\n\n\
    [[flows]]\nname = \"order\"\n[[flows.steps]]\nmethod = \"POST\"\npath = \"/prod/orders\"\n\
    endpoint = \"POST /prod/orders\"\nbody = { item = \"x\" }\n\n\
    [[phases]]\nname = \"warm\"\nmodel = \"open\"\nrate = 20\nduration = \"3s\"\n\n\
    [[phases]]\nname = \"steady\"\nmodel = \"open\"\nrate = 40\nduration = \"11s\"\n";

/// Fault windows start 7 s after the sandbox and last 4 s: inside `steady`.
const FAULT_AT: Duration = Duration::from_secs(7);
const FAULT_FOR: Duration = Duration::from_secs(4);

fn fault(keys: &str) -> String {
    format!("[[faults]]\nat = \"7s\"\nduration = \"4s\"\n{keys}\n")
}

fn utc(t: SystemTime) -> DateTime<Utc> {
    t.into()
}

/// The sandbox's recorded series as the collector's long-format points.
fn recorded_metrics(sandbox: &stormwatch_sandbox::Sandbox) -> Vec<MetricPoint> {
    let store = sandbox.metrics();
    let period = u32::try_from(store.resolution().as_secs()).unwrap();
    let mut out = Vec::new();
    for (key, unit) in store.series() {
        let dimensions: BTreeMap<String, String> = key
            .dimensions
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for dp in store.datapoints(&key, SystemTime::UNIX_EPOCH, SystemTime::now()) {
            let a = &dp.aggregate;
            let mut stats = vec![
                ("Sum", a.sum),
                ("SampleCount", a.count as f64),
                ("Minimum", a.min),
                ("Maximum", a.max),
                ("Average", a.average()),
            ];
            if unit == stormwatch_sandbox::Unit::Milliseconds {
                for (name, p) in [("p50", 50.0), ("p99", 99.0)] {
                    if let Some(v) = a.percentile(p) {
                        stats.push((name, v));
                    }
                }
            }
            for (stat, value) in stats {
                out.push(MetricPoint {
                    timestamp: utc(dp.timestamp),
                    namespace: key.namespace.clone(),
                    metric: key.metric.clone(),
                    dimensions: dimensions.clone(),
                    stat: stat.into(),
                    period_secs: period,
                    value,
                    filled_zero: false,
                });
            }
        }
    }
    out
}

/// Runs the scenario against a sandbox with `config`; returns the analysis and the fault's
/// wall-clock window.
fn run_case(dir: &Path, config: &str) -> (AnalysisReport, PhaseWindow) {
    run_scenario(dir, config, SCENARIO)
}

fn run_scenario(dir: &Path, config: &str, scenario: &str) -> (AnalysisReport, PhaseWindow) {
    let config_path = dir.join("sandbox.toml");
    let config = stormwatch_sandbox::Config::parse(&config_path, config).unwrap();
    let run = RunDir::new(dir.join("run"));
    std::fs::create_dir_all(run.root()).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (started, metrics) = runtime.block_on(async {
        let started = SystemTime::now();
        let sandbox = stormwatch_sandbox::Sandbox::start(
            config,
            stormwatch_sandbox::Options {
                seed: 7,
                listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
                ground_truth: Some(dir.join("truth.jsonl")),
            },
        )
        .await
        .unwrap();
        let plan = stormwatch_load::Plan::parse(
            &dir.join("scenario.toml"),
            scenario,
            &[],
            Some(&sandbox.api_url),
            &|_| None,
        )
        .unwrap();
        stormwatch_load::run(
            Arc::new(plan),
            stormwatch_load::RunOptions {
                dir: run.clone(),
                run_id: "accuracy".into(),
                labels: BTreeMap::new(),
                quiet: true,
                handle_signals: false,
            },
        )
        .await
        .unwrap();
        let metrics = recorded_metrics(&sandbox);
        sandbox.stop().await.unwrap();
        (started, metrics)
    });
    write_metrics(&metrics, &run.metrics_path()).unwrap();
    let report = stormwatch_analysis::analyze(&run).unwrap();
    let fault = PhaseWindow::starting_at(utc(started + FAULT_AT), FAULT_FOR);
    (report, fault)
}

fn assert_top_finding(report: &AnalysisReport, fault: &PhaseWindow, kind: FindingKind) {
    let top = report.findings.first().unwrap_or_else(|| {
        panic!(
            "no finding; expected {kind:?}; verdict: {}",
            report.verdict.headline
        )
    });
    assert_eq!(top.kind, kind, "findings: {:#?}", report.findings);
    assert!(top.severity >= Severity::Warning, "{top:#?}");
    let window = top.window.expect("the top finding has a window");
    assert!(
        window.overlap(fault) > Duration::ZERO,
        "finding window {window:?} misses the fault {fault:?}"
    );
}

#[test]
fn reserved_concurrency_cap_is_the_top_finding() {
    let tmp = tempfile::tempdir().unwrap();
    // 40 req/s × 40 ms needs ~2 environments; the fault allows 1.
    let config = sandbox_config(
        "",
        "",
        &fault("function = \"orders\"\nreserved_concurrency = 1"),
    );
    let (report, window) = run_case(tmp.path(), &config);
    assert_top_finding(&report, &window, FindingKind::LambdaThrottling);
}

#[test]
fn table_throttling_is_the_top_finding() {
    let tmp = tempfile::tempdir().unwrap();
    // 40 writes/s against 200 WCU, then 10 % of it.
    let config = sandbox_config(
        "",
        "",
        &fault("table = \"orders\"\ntable_capacity_factor = 0.05"),
    );
    let (report, window) = run_case(tmp.path(), &config);
    assert_top_finding(&report, &window, FindingKind::DownstreamThrottling);
}

#[test]
fn api_stage_rate_limit_is_the_top_finding() {
    let tmp = tempfile::tempdir().unwrap();
    let config = sandbox_config(
        "rate_limit = 1000.0\nburst = 1000",
        "",
        &fault("stage_rate_limit = 10.0"),
    );
    let (report, window) = run_case(tmp.path(), &config);
    assert_top_finding(&report, &window, FindingKind::ApiThrottling);
}

#[test]
fn handler_timeouts_are_the_top_finding() {
    let tmp = tempfile::tempdir().unwrap();
    // The handler slows from 40 ms to 2 s; API Gateway gives up after 1 s (504).
    let config = sandbox_config(
        "integration_timeout = \"1s\"",
        "",
        &fault("function = \"orders\"\nslowdown = 50.0"),
    );
    let (report, window) = run_case(tmp.path(), &config);
    assert_top_finding(&report, &window, FindingKind::Timeouts);
}

#[test]
fn a_healthy_scenario_has_nothing_above_info() {
    let tmp = tempfile::tempdir().unwrap();
    let (report, _) = run_case(tmp.path(), &sandbox_config("", "", ""));
    assert!(
        report.findings.iter().all(|f| f.severity == Severity::Info),
        "{:#?}",
        report.findings
    );
    assert!(report.phases.iter().all(|p| p.errors == 0));
}

/// Cold starts in the sandbox's ground truth.
fn true_cold_starts(dir: &Path) -> u64 {
    std::fs::read_to_string(dir.join("truth.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["cold"] == serde_json::json!(true)
        })
        .count() as u64
}

#[test]
fn metrics_only_cold_start_estimate_is_within_15_percent() {
    let tmp = tempfile::tempdir().unwrap();
    // Environments are reaped after 2 s idle; the burst after the gap needs ~30 of them.
    let config = sandbox_config("", "idle_timeout = \"2s\"", "")
        .replace("idle_timeout = \"60s\"\n", "")
        .replace("handler = \"fixed 40ms\"", "handler = \"fixed 150ms\"");
    let scenario = SCENARIO.replace(
        "[[phases]]\nname = \"steady\"\nmodel = \"open\"\nrate = 40\nduration = \"11s\"\n",
        "[[phases]]\nname = \"idle\"\nmodel = \"idle\"\nduration = \"4s\"\n\n\
         [[phases]]\nname = \"burst\"\nmodel = \"open\"\nrate = 200\nduration = \"4s\"\n",
    );
    let (report, _) = run_scenario(tmp.path(), &config, &scenario);
    let names: Vec<_> = report.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["warm", "idle", "burst"]);
    let truth = true_cold_starts(tmp.path());
    assert!(
        truth >= 20,
        "the burst should cold-start many environments: {truth}"
    );
    let estimate = report.cold_starts.as_ref().expect("a cold-start estimate");
    assert_eq!(estimate.source, "estimate");
    let error = (estimate.count as f64 - truth as f64).abs() / truth as f64;
    eprintln!(
        "cold starts: estimated {}, ground truth {truth}",
        estimate.count
    );
    assert!(
        error <= 0.15,
        "estimated {} cold starts, ground truth {truth}",
        estimate.count
    );
}
