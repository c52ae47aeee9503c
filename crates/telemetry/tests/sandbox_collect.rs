//! The collector end to end over the real AWS SDK clients against an in-process sandbox on
//! 127.0.0.1 (endpoint override, fixed test credentials): traces in both cold-start
//! formats, the Logs path with X-Ray off, throttling absorbed at 2 calls per second, and
//! CloudWatch metrics equal to what the sandbox recorded (per period, with pagination).
//!
//! The sandbox's stores are filled directly (segments, log events, metric values) so each
//! test knows the ground truth exactly.

#![allow(
    clippy::float_cmp,
    clippy::format_push_string,
    reason = "exact values the sandbox was given are compared exactly; test text built inline"
)]

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use stormwatch_model::SpanKind;
use stormwatch_sandbox::Sandbox;
use stormwatch_telemetry::{CollectTarget, TelemetryError, collect, prepare};

mod util;

use util::{log, options, put_request, recent_start, run_dir, sandbox, secs, trace_id};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_in_both_cold_start_formats_become_spans() {
    let sb = sandbox("").await;
    let start = recent_start();
    let epoch = start.timestamp() as u64;
    let mut traces = Vec::new();
    for n in 0..12u64 {
        let id = trace_id(epoch, n);
        let at = start + chrono::Duration::seconds(n as i64 * 10);
        let init = match n % 3 {
            0 => Some("Initialization"),
            1 => Some("Init"),
            _ => None,
        };
        put_request(&sb, &id, n, secs(at) + 0.005, init);
        traces.push((id, at));
    }
    // A trace we did not start, inside the window.
    put_request(
        &sb,
        &trace_id(epoch, 999),
        999,
        secs(start) + 30.0,
        Some("Init"),
    );
    // An id we sent that X-Ray never got.
    traces.push((trace_id(epoch, 5000), start + chrono::Duration::seconds(5)));

    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(tmp.path(), start, Duration::from_secs(120), &traces);
    let mut opts = options(&sb);
    opts.metrics = false;
    opts.logs = false;
    let prepared = prepare(CollectTarget::from_run(dir.root()).unwrap(), &opts).unwrap();
    let summary = collect(prepared, &opts).await.unwrap();

    let x = summary.xray.as_ref().unwrap();
    assert_eq!(x.requested, 13);
    assert_eq!(x.found, 12);
    assert_eq!(x.not_found, 1);
    assert_eq!(x.not_found_examples, [trace_id(epoch, 5000)]);
    assert_eq!(x.other_traces, 1, "{x:?}");
    assert_eq!(x.parse.cold_starts, 9, "8 of ours + 1 other");
    assert_eq!(x.parse.malformed, 0);
    // 13 ids → 3 calls of ≤ 5, plus the unknown id retried as unprocessed, plus the other.
    assert!(x.batch_requests >= 3 && x.batch_requests <= 8, "{x:?}");

    let spans = stormwatch_model::parquet::read_spans(&dir.spans_path()).unwrap();
    let inits: Vec<_> = spans.iter().filter(|s| s.kind == SpanKind::Init).collect();
    assert_eq!(inits.len(), 9);
    assert!(
        inits
            .iter()
            .all(|s| s.cold && s.duration() == Duration::from_millis(100))
    );
    let names: std::collections::BTreeSet<&str> = inits.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["Init", "Initialization"].into_iter().collect());
    let gateways = spans
        .iter()
        .filter(|s| s.kind == SpanKind::ApiGateway)
        .count();
    assert_eq!(gateways, 13);
    // Trace start vs our send time: 5 ms after, so skew + latency ≈ 5 ms.
    let skew = &summary.clock_skew;
    assert_eq!(skew.trace_samples, 12);
    let min = skew.trace_start_minus_send_min_ms.unwrap();
    assert!((min - 5.0).abs() < 1.0, "{min}");
    assert!(skew.date_header_samples > 0, "Date headers sampled");

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.collect_path()).unwrap()).unwrap();
    assert_eq!(json["xray"]["found"], 12);
    let calls = |op: &str| json["api"][op]["calls"].as_u64().unwrap_or(0);
    assert!(calls("BatchGetTraces") >= 3, "{}", json["api"]);
    assert!(calls("GetTraceSummaries") >= 1, "{}", json["api"]);
    sb.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_give_cold_starts_when_xray_is_off() {
    let sb = sandbox("").await;
    let start = recent_start();
    let mut cold = 0;
    for n in 0..40i64 {
        let at = start + chrono::Duration::milliseconds(n * 2500);
        log(&sb, at, format!("START RequestId: r{n} Version: $LATEST"));
        let init = if n % 7 == 0 {
            cold += 1;
            "\tInit Duration: 120.50 ms"
        } else {
            ""
        };
        let message = if n % 2 == 0 {
            format!(
                "REPORT RequestId: r{n}\tDuration: 12.00 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 50 MB{init}\t"
            )
        } else {
            let init = if init.is_empty() {
                String::new()
            } else {
                ",\"initDurationMs\":120.5".into()
            };
            format!(
                r#"{{"time":"{}","type":"platform.report","record":{{"requestId":"r{n}","metrics":{{"durationMs":12.0,"billedDurationMs":13,"memorySizeMB":128,"maxMemoryUsedMB":50{init}}},"status":"success"}}}}"#,
                at.to_rfc3339()
            )
        };
        log(&sb, at + chrono::Duration::milliseconds(12), message);
    }
    // Outside the padded window: must not be read.
    log(
        &sb,
        start - chrono::Duration::minutes(5),
        "REPORT RequestId: old\tDuration: 1.00 ms\tInit Duration: 50.00 ms\t".into(),
    );

    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(tmp.path(), start, Duration::from_secs(120), &[]);
    let mut opts = options(&sb);
    opts.metrics = false;
    opts.xray = false;
    let prepared = prepare(CollectTarget::from_run(dir.root()).unwrap(), &opts).unwrap();
    let summary = collect(prepared, &opts).await.unwrap();
    let logs = summary.logs.as_ref().unwrap();
    let g = &logs.groups[0];
    assert_eq!(g.log_group, "/aws/lambda/f");
    assert_eq!(g.reports, 40, "{g:?}");
    assert_eq!(g.cold_starts, cold);
    assert_eq!(g.unparsed, 0);
    assert!(summary.xray.is_none());

    let spans = stormwatch_model::parquet::read_spans(&dir.spans_path()).unwrap();
    let functions = spans
        .iter()
        .filter(|s| s.kind == SpanKind::LambdaFunction)
        .count();
    assert_eq!(functions, 40);
    let inits: Vec<_> = spans.iter().filter(|s| s.kind == SpanKind::Init).collect();
    assert_eq!(inits.len(), cold);
    assert!(
        inits
            .iter()
            .all(|s| s.duration() == Duration::from_micros(120_500))
    );
    sb.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_throttled_at_one_call_per_second_deliver_every_report_line() {
    // Every Logs call (StartQuery, GetQueryResults, FilterLogEvents) goes through the same
    // paced call as metrics and X-Ray: throttling that outlives the SDK's retries backs off
    // and tries again instead of failing the collection.
    let sb = sandbox("\n[telemetry]\napi_rate_limit = 1.0\n").await;
    let start = recent_start();
    for n in 0..30i64 {
        let at = start + chrono::Duration::milliseconds(n * 2000);
        let init = if n % 5 == 0 {
            "\tInit Duration: 80.00 ms"
        } else {
            ""
        };
        log(
            &sb,
            at,
            format!(
                "REPORT RequestId: r{n}\tDuration: 9.00 ms\tBilled Duration: 9 ms\tMemory Size: 128 MB\tMax Memory Used: 50 MB{init}\t"
            ),
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(tmp.path(), start, Duration::from_secs(90), &[]);
    let mut opts = options(&sb);
    opts.metrics = false;
    opts.xray = false;
    // Ask far faster than the limit, with the SDK's retries nearly gone.
    opts.logs_tps = 50.0;
    opts.aws.max_attempts = 1;
    let prepared = prepare(CollectTarget::from_run(dir.root()).unwrap(), &opts).unwrap();
    let summary = collect(prepared, &opts).await.unwrap();
    let g = &summary.logs.as_ref().unwrap().groups[0];
    assert_eq!(g.reports, 30, "{g:?}");
    assert_eq!(g.cold_starts, 6);
    assert!(
        summary.throttles > 0,
        "the sandbox throttled: {:?}",
        summary.api
    );
    sb.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_at_two_calls_per_second_loses_nothing() {
    let sb = sandbox("\n[telemetry]\napi_rate_limit = 2.0\n").await;
    let start = recent_start();
    let epoch = start.timestamp() as u64;
    let mut traces = Vec::new();
    for n in 0..30u64 {
        let id = trace_id(epoch, n);
        let at = start + chrono::Duration::seconds(n as i64);
        put_request(
            &sb,
            &id,
            n,
            secs(at) + 0.002,
            (n % 2 == 0).then_some("Init"),
        );
        traces.push((id, at));
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(tmp.path(), start, Duration::from_secs(60), &traces);
    let mut opts = options(&sb);
    opts.metrics = false;
    opts.logs = false;
    // Ask far faster than the limit, many at once: the SDK retries and our pacer absorb it.
    opts.xray_tps = 100.0;
    opts.xray_concurrency = 6;
    let prepared = prepare(CollectTarget::from_run(dir.root()).unwrap(), &opts).unwrap();
    let summary = collect(prepared, &opts).await.unwrap();
    let x = summary.xray.as_ref().unwrap();
    assert_eq!(x.found, 30, "{x:?}");
    assert_eq!(x.not_found, 0);
    assert_eq!(x.parse.cold_starts, 15);
    assert!(
        summary.throttles > 0,
        "throttles counted: {:?}",
        summary.api
    );
    assert!(summary.retries > 0);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.collect_path()).unwrap()).unwrap();
    assert!(json["throttles"].as_u64().unwrap() > 0);
    assert!(json["api"]["BatchGetTraces"]["throttles"].as_u64().unwrap() > 0);
    sb.stop().await.unwrap();
}

#[test]
fn a_run_without_aws_resources_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(tmp.path(), recent_start(), Duration::from_secs(60), &[]);
    let mut m = dir.read_manifest().unwrap();
    m.aws = None;
    dir.write_manifest(&m).unwrap();
    let e = CollectTarget::from_run(dir.root()).unwrap_err();
    assert!(matches!(e, TelemetryError::NoResources { .. }));
    assert!(!e.is_remote());
    let text = e.to_string();
    assert!(
        text.contains("manifest.json") && text.contains("[aws]"),
        "{text}"
    );
}

// ---- CloudWatch (needs the sandbox's GetMetricData) ----

fn record(
    sb: &Sandbox,
    metric: &'static str,
    unit: stormwatch_sandbox::Unit,
    at: DateTime<Utc>,
    v: f64,
) {
    sb.metrics().record(
        stormwatch_sandbox::key("AWS/Lambda", metric, &[("FunctionName", "f")]),
        unit,
        SystemTime::from(at),
        v,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_per_period_equal_the_recorded_truth() {
    let sb = sandbox("").await;
    let start = recent_start();
    // Truth: invocations per minute 0..5 → [10, 0, 25, 3, 0]; Throttles only in minute 2.
    let per_minute = [10u32, 0, 25, 3, 0];
    let mut truth_duration: HashMap<i64, (f64, f64)> = HashMap::new();
    for (m, &n) in per_minute.iter().enumerate() {
        for i in 0..n {
            let at = start + chrono::Duration::seconds(m as i64 * 60 + i64::from(i));
            record(&sb, "Invocations", stormwatch_sandbox::Unit::Count, at, 1.0);
            let d = 10.0 + f64::from(i);
            record(
                &sb,
                "Duration",
                stormwatch_sandbox::Unit::Milliseconds,
                at,
                d,
            );
            let e = truth_duration.entry(m as i64).or_insert((0.0, f64::MIN));
            e.0 += d;
            e.1 = e.1.max(d);
        }
    }
    for i in 0..7 {
        record(
            &sb,
            "Throttles",
            stormwatch_sandbox::Unit::Count,
            start + chrono::Duration::seconds(120 + i),
            1.0,
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(tmp.path(), start, Duration::from_secs(300), &[]);
    let mut opts = options(&sb);
    opts.xray = false;
    opts.logs = false;
    let prepared = prepare(CollectTarget::from_run(dir.root()).unwrap(), &opts).unwrap();
    let summary = collect(prepared, &opts).await.unwrap();
    assert_eq!(
        summary.metrics.requests_total, 1,
        "one GetMetricData call for every series"
    );

    let points = stormwatch_model::parquet::read_metrics(&dir.metrics_path()).unwrap();
    let series = |metric: &str, stat: &str| -> BTreeMap<i64, (f64, bool)> {
        points
            .iter()
            .filter(|p| {
                p.metric == metric
                    && p.stat == stat
                    && p.dimensions.get("FunctionName").map(String::as_str) == Some("f")
            })
            .map(|p| {
                (
                    (p.timestamp - start).num_seconds() / 60,
                    (p.value, p.filled_zero),
                )
            })
            .collect()
    };
    let inv = series("Invocations", "Sum");
    for (m, &n) in per_minute.iter().enumerate() {
        let (v, filled) = inv[&(m as i64)];
        assert_eq!(v, f64::from(n), "minute {m}");
        assert_eq!(filled, n == 0, "minute {m}: zero is filled, not measured");
    }
    // Padding: one period before and after, filled zeros.
    assert_eq!(inv[&-1], (0.0, true));
    let thr = series("Throttles", "Sum");
    assert_eq!(thr[&2], (7.0, false));
    assert_eq!(thr[&0], (0.0, true));
    let max = series("Duration", "Maximum");
    for (m, (_, truth_max)) in &truth_duration {
        assert_eq!(max[m].0, *truth_max, "minute {m}");
    }
    // Duration is a gap metric: no zero is invented for the idle minutes.
    assert!(!max.contains_key(&1) && !max.contains_key(&4));
    let avg = series("Duration", "Average");
    let (sum, _) = truth_duration[&2];
    assert!((avg[&2].0 - sum / 25.0).abs() < 1e-9);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.collect_path()).unwrap()).unwrap();
    assert!(
        json["metrics"]["queries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["missing"].as_u64().unwrap() > 0 && q["missing_reason"].is_string())
    );
    sb.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_100800_datapoints_page_with_next_token() {
    // One-second store and high-resolution queries: 12 series × 9000 s = 108,000 points.
    let sb = sandbox("\n[telemetry]\nresolution = \"1s\"\n").await;
    let now = Utc::now().timestamp();
    let start = DateTime::from_timestamp(now - now % 60 - 9000 - 120, 0).unwrap();
    let names: [&'static str; 12] = [
        "m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9", "m10", "m11",
    ];
    for name in names {
        for s in 0..9000 {
            sb.metrics().record(
                stormwatch_sandbox::key("Custom/Load", name, &[("FunctionName", "f")]),
                stormwatch_sandbox::Unit::Count,
                SystemTime::from(start + chrono::Duration::seconds(s)),
                1.0,
            );
        }
    }
    let qdir = tempfile::tempdir().unwrap();
    let mut toml = String::from("namespace = \"Custom/Load\"\n");
    for name in names {
        toml.push_str(&format!(
            "[[metric]]\nname = \"{name}\"\nstats = [\"Sum\"]\nresolution = \"high\"\ndimensions = {{ FunctionName = \"{{function}}\" }}\n"
        ));
    }
    std::fs::write(qdir.path().join("custom.toml"), toml).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(tmp.path(), start, Duration::from_secs(9000), &[]);
    let mut opts = options(&sb);
    opts.xray = false;
    opts.logs = false;
    opts.pad = Duration::ZERO;
    opts.extra_queries = Some(qdir.path().to_path_buf());
    let prepared = prepare(CollectTarget::from_run(dir.root()).unwrap(), &opts).unwrap();
    let hi = prepared
        .calls
        .iter()
        .find(|c| c.queries[0].period == 1)
        .unwrap();
    assert_eq!(hi.max_datapoints, 108_000);
    let summary = collect(prepared, &opts).await.unwrap();
    let custom: Vec<_> = summary
        .metrics
        .queries
        .iter()
        .filter(|q| q.series.starts_with("Custom/Load"))
        .collect();
    assert_eq!(custom.len(), 12);
    assert!(
        custom
            .iter()
            .all(|q| q.datapoints == 9000 && q.period_secs == 1),
        "{custom:?}"
    );
    // The standard series share one call; the high-resolution one needs two pages.
    assert!(
        summary.metrics.requests_total >= 3,
        "{}",
        summary.metrics.requests_total
    );
    let _ = UNIX_EPOCH;
    sb.stop().await.unwrap();
}
