//! Analyzer accuracy against the sandbox's ground truth: in each of four fault scenarios
//! (reserved-concurrency cap, table throttle, API stage rate limit, handler timeouts) the
//! injected cause is the top finding and its window overlaps the fault's; a healthy scenario
//! yields nothing above `info`. Cold starts: the metrics-only estimate is within 15 %; with
//! X-Ray off, the counts from Lambda REPORT lines equal the truth in total and per minute;
//! with X-Ray on, per-request cold starts have precision and recall ≥ 0.99.
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
use stormwatch_model::{
    AnalysisReport, FindingKind, MetricPoint, PhaseWindow, RunDir, Severity, SpanKind,
};

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

pub(crate) fn utc(t: SystemTime) -> DateTime<Utc> {
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

/// Starts the sandbox with `config` (ground truth to `dir/truth.jsonl`) and runs `scenario`
/// against it into `run`; returns the running sandbox and when it started.
async fn start_and_load(
    dir: &Path,
    config: &str,
    scenario: &str,
    run: &RunDir,
) -> (stormwatch_sandbox::Sandbox, SystemTime) {
    let config = stormwatch_sandbox::Config::parse(&dir.join("sandbox.toml"), config).unwrap();
    std::fs::create_dir_all(run.root()).unwrap();
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
            shard: stormwatch_load::Shard::WHOLE,
            start_at: None,
        },
    )
    .await
    .unwrap();
    (sandbox, started)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

pub(crate) fn run_scenario(
    dir: &Path,
    config: &str,
    scenario: &str,
) -> (AnalysisReport, PhaseWindow) {
    let run = RunDir::new(dir.join("run"));
    let (started, metrics) = runtime().block_on(async {
        let (sandbox, started) = start_and_load(dir, config, scenario, &run).await;
        let metrics = recorded_metrics(&sandbox);
        sandbox.stop().await.unwrap();
        (started, metrics)
    });
    write_metrics(&metrics, &run.metrics_path()).unwrap();
    let report = stormwatch_analysis::analyze(&run).unwrap();
    let fault = PhaseWindow::starting_at(utc(started + FAULT_AT), FAULT_FOR);
    (report, fault)
}

/// Runs `scenario` against the sandbox, collects from it with the real collector (1 s
/// periods, X-Ray or the Lambda logs' REPORT lines) before stopping it, and analyzes.
pub(crate) fn run_and_collect(
    dir: &Path,
    config: &str,
    scenario: &str,
    xray: bool,
) -> (AnalysisReport, RunDir) {
    run_and_collect_with(dir, config, scenario, |o| {
        o.xray = xray;
        o.logs = !xray;
    })
}

/// The same with the collector's options (1 s periods, 5 s of padding) adjusted by `adjust`.
pub(crate) fn run_and_collect_with(
    dir: &Path,
    config: &str,
    scenario: &str,
    adjust: impl FnOnce(&mut stormwatch_telemetry::CollectOptions),
) -> (AnalysisReport, RunDir) {
    let run = RunDir::new(dir.join("run"));
    runtime().block_on(async {
        let (sandbox, _) = start_and_load(dir, config, scenario, &run).await;
        let mut opts = stormwatch_telemetry::CollectOptions {
            period: Some(1),
            pad: Duration::from_secs(5),
            ..stormwatch_telemetry::CollectOptions::default()
        };
        adjust(&mut opts);
        opts.aws.use_local_endpoint(&sandbox.api_url);
        let target = stormwatch_telemetry::CollectTarget::from_run(run.root()).unwrap();
        let prepared = stormwatch_telemetry::prepare(target, &opts).unwrap();
        stormwatch_telemetry::collect(prepared, &opts)
            .await
            .unwrap();
        sandbox.stop().await.unwrap();
    });
    let report = stormwatch_analysis::analyze(&run).unwrap();
    (report, run)
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

/// The ground truth's lines.
pub(crate) fn truth_lines(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("truth.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The cold-start scenario: `warm` starts a few environments, `idle` outlasts their 2 s idle
/// lifetime, `burst` needs many at once. `sampling` is the load engine's trace sampling.
pub(crate) fn cold_start_case(tracing: &str, sampling: f64) -> (String, String) {
    let config = sandbox_config(
        "",
        &format!("idle_timeout = \"2s\"\ntracing = \"{tracing}\""),
        "",
    )
    .replace("idle_timeout = \"60s\"\n", "")
    .replace("handler = \"fixed 40ms\"", "handler = \"fixed 150ms\"")
    .replace("init = \"fixed 50ms\"", "init = \"uniform 40ms..300ms\"");
    let scenario = SCENARIO
        .replace(
            "[[phases]]\nname = \"steady\"\nmodel = \"open\"\nrate = 40\nduration = \"11s\"\n",
            "[[phases]]\nname = \"idle\"\nmodel = \"idle\"\nduration = \"4s\"\n\n\
             [[phases]]\nname = \"burst\"\nmodel = \"open\"\nrate = 100\nduration = \"3s\"\n",
        )
        .replace(
            "[[flows]]",
            &format!("[trace]\nsampling = {sampling:?}\n\n[[flows]]"),
        );
    (config, scenario)
}

#[test]
fn without_xray_report_lines_count_cold_starts_exactly_per_minute() {
    let tmp = tempfile::tempdir().unwrap();
    // Nothing sampled, and Lambda only traces what arrives with `Sampled=1`: X-Ray is off.
    let (config, scenario) = cold_start_case("pass_through", 0.0);
    let (report, run) = run_and_collect(tmp.path(), &config, &scenario, false);
    let spans = stormwatch_model::parquet::read_spans(&run.spans_path()).unwrap();
    assert!(
        !spans.is_empty(),
        "the collector wrote no REPORT-line spans"
    );
    assert!(
        spans.iter().all(|s| s.id.starts_with("report:")),
        "only REPORT-line spans expected without X-Ray"
    );
    let truth = truth_lines(tmp.path());
    assert!(
        truth.iter().all(|l| l["status"] == 200),
        "the case should be healthy"
    );
    let true_total = truth.iter().filter(|l| l["cold"] == true).count() as u64;
    let c = report.cold_starts.as_ref().expect("a cold-start summary");
    assert_eq!(c.source, "logs", "{c:#?}");
    let counted: BTreeMap<DateTime<Utc>, u64> = c
        .by_minute
        .iter()
        .filter(|m| m.count > 0)
        .map(|m| (m.minute, m.count))
        .collect();
    eprintln!(
        "cold starts from logs: {} ({counted:?}), ground truth {true_total}; \
         share {:.3}, init p50 {} max {}",
        c.count, c.share, c.init.p50, c.init.max
    );
    assert!(
        true_total > 0,
        "the scenario should cold-start environments"
    );
    // Per invocation (REPORT lines name the Lambda request id the ground truth records): the
    // same invocations are cold, and the start of the Init span lands on the arrival.
    let init_start: BTreeMap<&str, i64> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Init)
        .filter_map(|s| Some((s.parent_id.as_deref()?.strip_prefix("report:")?, s.start.0)))
        .collect();
    let mut offsets_ms = Vec::new();
    for l in truth.iter().filter(|l| l["cold"] == true) {
        let id = l["request_id"].as_str().unwrap();
        let start = *init_start
            .get(id)
            .unwrap_or_else(|| panic!("no Init span for the cold invocation {id}"));
        let arrival = i64::try_from(l["arrival_unix_ns"].as_u64().unwrap()).unwrap();
        let finish = i64::try_from(l["finish_unix_ns"].as_u64().unwrap()).unwrap();
        // Time the request spent beyond its drawn init and handler (scheduling on a busy
        // machine): the REPORT line, and so the Init start derived from it, can be late
        // by at most that much.
        let busy_ms = l["init_ms"].as_f64().unwrap() + l["handler_ms"].as_f64().unwrap();
        let slack_ms = ((finish - arrival) as f64 / 1e6 - busy_ms).max(0.0);
        offsets_ms.push(((start - arrival) as f64 / 1e6, slack_ms));
    }
    assert_eq!(
        init_start.len() as u64,
        true_total,
        "cold invocations differ"
    );
    eprintln!(
        "Init span start − arrival: min {:.3} ms, max {:.3} ms",
        offsets_ms.iter().map(|o| o.0).fold(f64::INFINITY, f64::min),
        offsets_ms
            .iter()
            .map(|o| o.0)
            .fold(f64::NEG_INFINITY, f64::max)
    );
    // Log timestamps are whole milliseconds: 2 ms of rounding either way.
    assert!(
        offsets_ms
            .iter()
            .all(|(o, slack)| *o > -2.0 && *o < slack + 2.0),
        "Init span starts should match arrivals (offset, slack): {offsets_ms:?}"
    );
    // Ground truth per UTC minute of arrival. REPORT lines date an invocation between its
    // arrival and its response (checked above), so one whose response came in the next
    // minute may be counted there: only those are placed by their Init span instead.
    let minute_ns: i64 = 60_000_000_000;
    let mut true_by_minute: BTreeMap<DateTime<Utc>, u64> = BTreeMap::new();
    for l in truth.iter().filter(|l| l["cold"] == true) {
        let arrival = i64::try_from(l["arrival_unix_ns"].as_u64().unwrap()).unwrap();
        let finish = i64::try_from(l["finish_unix_ns"].as_u64().unwrap()).unwrap();
        let near_the_end =
            arrival.div_euclid(minute_ns) != (finish + 2_000_000).div_euclid(minute_ns);
        let at = if near_the_end {
            init_start[l["request_id"].as_str().unwrap()]
        } else {
            arrival
        };
        let minute = DateTime::from_timestamp_nanos(at.div_euclid(minute_ns) * minute_ns);
        *true_by_minute.entry(minute).or_default() += 1;
    }
    assert_eq!(c.count, true_total);
    assert_eq!(counted, true_by_minute);
    assert_eq!(c.by_minute.iter().map(|m| m.count).sum::<u64>(), c.count);
    let by_phase: u64 = c.by_phase.iter().map(|p| p.count).sum();
    assert_eq!(by_phase, c.count);
    let burst = c.by_phase.iter().find(|p| p.phase == "burst").unwrap();
    assert!(burst.count > 0, "{:#?}", c.by_phase);
    // Every request reached the function once: the share's denominator is every invocation.
    let expected_share = true_total as f64 / truth.len() as f64;
    assert!(
        (c.share - expected_share).abs() < 1e-9,
        "{} vs {expected_share}",
        c.share
    );
    assert!(
        c.init.p50.0 >= 40.0 && c.init.max.0 <= 300.5,
        "{:?}",
        c.init
    );
    assert_eq!(report.sources.traces, 0);
    assert_eq!(report.sources.log_reports, truth.len() as u64);
}

#[test]
fn xray_cold_starts_match_ground_truth_per_request() {
    let tmp = tempfile::tempdir().unwrap();
    let (config, scenario) = cold_start_case("active", 1.0);
    let (report, run) = run_and_collect(tmp.path(), &config, &scenario, true);
    let spans = stormwatch_model::parquet::read_spans(&run.spans_path()).unwrap();
    let mut cold_by_trace: BTreeMap<&str, bool> = BTreeMap::new();
    for s in &spans {
        let cold = matches!(s.kind, SpanKind::Init | SpanKind::Restore)
            || (s.kind == SpanKind::LambdaFunction && s.cold);
        *cold_by_trace.entry(s.trace_id.as_str()).or_default() |= cold;
    }
    let truth = truth_lines(tmp.path());
    let truly_cold: std::collections::BTreeSet<&str> = truth
        .iter()
        .filter(|l| l["cold"] == true)
        .map(|l| l["trace_id"].as_str().unwrap())
        .collect();
    let found_cold: std::collections::BTreeSet<&str> = cold_by_trace
        .iter()
        .filter(|(_, cold)| **cold)
        .map(|(t, _)| *t)
        .collect();
    let hits = truly_cold.intersection(&found_cold).count() as f64;
    let precision = hits / found_cold.len().max(1) as f64;
    let recall = hits / truly_cold.len().max(1) as f64;
    eprintln!(
        "X-Ray cold starts: {} found, {} true, {hits} both; precision {precision:.3}, recall \
         {recall:.3}; {} of {} requests traced",
        found_cold.len(),
        truly_cold.len(),
        cold_by_trace.len(),
        truth.len()
    );
    assert!(
        !truly_cold.is_empty(),
        "the scenario should cold-start environments"
    );
    assert!(precision >= 0.99, "precision {precision}");
    assert!(recall >= 0.99, "recall {recall}");
    let c = report.cold_starts.as_ref().expect("a cold-start summary");
    assert_eq!(c.source, "xray");
}
