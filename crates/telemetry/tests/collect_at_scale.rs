//! Collection at scale against an in-process sandbox: the cold starts' REPORT lines read
//! ahead of the rest claim their share of the trace budget, and a sandbox with a data
//! directory serves the traces and log events its memory could not hold.

#![allow(
    clippy::float_cmp,
    reason = "byte counts the sandbox reported are compared exactly"
)]

mod util;

use std::path::Path;
use std::time::Duration;

use stormwatch_model::SpanKind;
use stormwatch_sandbox::{Config, Options, Sandbox};
use stormwatch_telemetry::{CollectTarget, collect, prepare};
use util::{CONFIG, log, options, put_request, recent_start, run_dir, sandbox, secs, trace_id};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_starts_read_ahead_claim_their_share_of_the_trace_budget() {
    // 40 traced requests, none failed or slow (same latency), every 8th cold; REPORT lines
    // carry the trace id, in the text and the JSON format. A budget of 10 traces: the 5
    // cold ones first, found by the cold-start read that runs before every REPORT line.
    let sb = sandbox("").await;
    let start = recent_start();
    let epoch = start.timestamp() as u64;
    let mut traces = Vec::new();
    let mut cold = Vec::new();
    for n in 0..40u64 {
        let id = trace_id(epoch, n);
        let at = start + chrono::Duration::seconds(n as i64 * 2);
        let is_cold = n % 8 == 0;
        put_request(&sb, &id, n, secs(at) + 0.005, is_cold.then_some("Init"));
        let message = if n % 2 == 0 {
            format!(
                "REPORT RequestId: r{n}\tDuration: 12.00 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 50 MB\t{}\nXRAY TraceId: {id}\tSegmentId: {:016x}\tSampled: true\t",
                if is_cold {
                    "Init Duration: 100.00 ms\t"
                } else {
                    ""
                },
                n * 2 + 2
            )
        } else {
            format!(
                r#"{{"time":"{}","type":"platform.report","record":{{"requestId":"r{n}","metrics":{{"durationMs":12.0,"billedDurationMs":13,"memorySizeMB":128,"maxMemoryUsedMB":50{}}},"tracing":{{"type":"X-Amzn-Trace-Id","value":"Root={id};Parent={:016x};Sampled=1"}},"status":"success"}}}}"#,
                at.to_rfc3339(),
                if is_cold {
                    r#","initDurationMs":100.0"#
                } else {
                    ""
                },
                n * 2 + 2
            )
        };
        log(&sb, at + chrono::Duration::milliseconds(250), message);
        if is_cold {
            cold.push(id.clone());
        }
        traces.push((id, at));
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(tmp.path(), start, Duration::from_secs(120), &traces);
    let mut opts = options(&sb);
    opts.metrics = false;
    opts.max_traces = 10;
    let prepared = prepare(CollectTarget::from_run(dir.root()).unwrap(), &opts).unwrap();
    let summary = collect(prepared, &opts).await.unwrap();

    let logs = summary.logs.as_ref().unwrap();
    let lookup = logs.cold_lookup.as_ref().expect("a cold-start read ahead");
    assert!(lookup.answered, "{lookup:?}");
    assert_eq!(lookup.cold_starts, cold.len());
    assert!(
        lookup.queries >= 1 && lookup.bytes_scanned > 0,
        "{lookup:?}"
    );
    assert_eq!(logs.groups[0].reports, 40);
    assert_eq!(logs.groups[0].cold_starts, cold.len());
    let sel = &summary.xray.as_ref().unwrap().selection;
    assert_eq!(sel.failed_or_slow, 0, "{sel:?}");
    assert_eq!(sel.cold, cold.len(), "{sel:?}");
    assert_eq!(sel.sample, 10 - cold.len(), "{sel:?}");
    // Every cold trace was fetched: its Init subsegment is among the spans.
    let spans = stormwatch_model::parquet::read_spans(&dir.spans_path()).unwrap();
    let traced_inits: std::collections::BTreeSet<&str> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Init)
        .map(|s| s.trace_id.as_str())
        .collect();
    let want: std::collections::BTreeSet<&str> = cold.iter().map(String::as_str).collect();
    assert_eq!(traced_inits, want);
    // Both reads are billed.
    let scanned: u64 = logs.groups.iter().map(|g| g.bytes_scanned).sum();
    assert_eq!(
        summary.cost.usage.logs_bytes_scanned,
        (scanned + lookup.bytes_scanned) as f64
    );
    sb.stop().await.unwrap();
}

/// `len` letters that no store compresses (no digits or hex runs, a different text each `n`).
fn noise(n: u64, len: usize) -> String {
    let mut x = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            char::from(b'g' + ((x >> 33) % 20) as u8)
        })
        .collect()
}

/// With a data directory, traces and log events beyond the sandbox's memory budgets spill to
/// disk and the APIs still answer for them: the collector gets every trace and every
/// REPORT line, and nothing is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_with_a_data_dir_serves_what_its_memory_could_not_hold() {
    let tmp = tempfile::tempdir().unwrap();
    let config = Config::parse(
        Path::new("test.toml"),
        &format!(
            "{CONFIG}[telemetry]\ntrace_memory_mb = 1\nlog_memory_mb = 1\napi_rate_limit = 1000\n"
        ),
    )
    .unwrap();
    let sb = Sandbox::start_with_data_dir(
        config,
        Options {
            seed: 7,
            listen: "127.0.0.1:0".parse().unwrap(),
            ground_truth: None,
        },
        Some(&tmp.path().join("data")),
    )
    .await
    .unwrap();
    let start = recent_start();
    let epoch = start.timestamp() as u64;
    let n_requests = 3_000u64;
    let mut traces = Vec::new();
    for n in 0..n_requests {
        let id = trace_id(epoch, n);
        let at = start + chrono::Duration::milliseconds(n as i64 * 30);
        put_request(
            &sb,
            &id,
            n,
            secs(at) + 0.005,
            (n % 100 == 0).then_some("Init"),
        );
        log(
            &sb,
            at + chrono::Duration::milliseconds(100),
            format!("handler: served item {n} {}", noise(n, 600)),
        );
        log(
            &sb,
            at + chrono::Duration::milliseconds(250),
            format!(
                "REPORT RequestId: r{n}\tDuration: 12.00 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 50 MB\t\nXRAY TraceId: {id}\tSegmentId: {:016x}\tSampled: true\t",
                n * 2 + 2
            ),
        );
        traces.push((id, at));
    }
    let (spilled_traces, _) = sb.segments().spilled();
    assert!(spilled_traces > 100, "{spilled_traces} traces spilled");
    assert!(sb.logs().spilled_bytes() > 0);
    assert_eq!(sb.segments().dropped_traces(), 0);
    assert_eq!(sb.logs().dropped_events(), 0);

    let dir = run_dir(tmp.path(), start, Duration::from_secs(120), &traces);
    let mut opts = options(&sb);
    opts.metrics = false;
    opts.xray_tps = 500.0;
    opts.logs_tps = 200.0;
    let prepared = prepare(CollectTarget::from_run(dir.root()).unwrap(), &opts).unwrap();
    let summary = collect(prepared, &opts).await.unwrap();
    let x = summary.xray.as_ref().unwrap();
    assert_eq!(x.requested, n_requests as usize);
    assert_eq!(x.found, n_requests as usize, "{x:?}");
    assert_eq!(x.not_found, 0);
    let g = &summary.logs.as_ref().unwrap().groups[0];
    assert_eq!(g.reports, n_requests as usize, "{g:?}");
    sb.stop().await.unwrap();
}
