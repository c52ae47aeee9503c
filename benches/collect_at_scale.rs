//! Collection at real-account scale (issue 13's benchmark): a 30-minute run at 500
//! requests/s (900,000 requests, `REQUESTS` to change) traced on the load engine's default
//! budget (20 traced requests a second plus 1 % of the rest), collected with the default
//! `--max-traces` from an in-process sandbox enforcing AWS's API quotas, then analyzed.
//! Prints the collection's seconds, calls, throttles and retries, the cold-start count
//! against the truth, and the trace-derived waterfall against the waterfall of every request.
//!
//! The sandbox's stores are filled directly with what the platform would have recorded (an
//! API Gateway and a function segment per traced request, an `Init` subsegment when cold;
//! START/END/REPORT lines for every invocation), and the run directory is written as `run`
//! writes it, so the numbers are the collector's and the analyzer's alone.
//!
//! Run: `cargo bench --bench collect_at_scale` (release; ~3 GB of memory at 900,000).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use stormwatch_model::{
    ApiKind, ApiResource, Arrivals, AwsResources, MANIFEST_SCHEMA_VERSION, Phase, PhaseModel,
    PhaseWindow, RequestLogWriter, RequestRecord, RunDir, RunManifest, RunStatus, ScenarioCopy,
    UnixNanos,
};
use stormwatch_sandbox::{Config, LogEvent, Options, Sandbox};
use stormwatch_telemetry::{CollectOptions, CollectTarget, collect, prepare};

const CONFIG: &str = "[api]\nkind = \"rest\"\nname = \"shop\"\nstage = \"prod\"\n\n[functions.f]\n\n[[routes]]\nroute = \"GET /prod/items/{id}\"\nfunction = \"f\"\n";
const RATE: u64 = 500;
/// Every 500th request cold-starts (one a second), every 2,000th (offset 1) fails with 502.
const COLD_EVERY: u64 = 500;
const FAIL_EVERY: u64 = 2_000;
/// Milliseconds: network (client − API Gateway), API Gateway overhead, handler (least), init.
const NETWORK_MS: f64 = 8.0;
const GATEWAY_MS: f64 = 5.0;
const HANDLER_MS: f64 = 20.0;
const INIT_MS: f64 = 200.0;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench());
}

/// The load engine's default budget, replayed: the first 20 requests of each second (a
/// token bucket that starts each second full at this steady rate) plus 1 % of the rest.
fn traced(i: u64) -> bool {
    i % RATE < 20 || i % 100 == 50
}

fn cold(i: u64) -> bool {
    i.is_multiple_of(COLD_EVERY)
}

fn failed(i: u64) -> bool {
    i % FAIL_EVERY == 1
}

/// The handler's time varies from request to request (20–30 ms).
fn handler_ms(i: u64) -> f64 {
    HANDLER_MS + (i * 7 % 11) as f64
}

fn latency_ms(i: u64) -> f64 {
    NETWORK_MS + GATEWAY_MS + handler_ms(i) + if cold(i) { INIT_MS } else { 0.0 }
}

fn secs(t: UnixNanos) -> f64 {
    t.0 as f64 / 1e9
}

/// What the platform records for request `i`: segments when traced, log lines always.
fn record_in_sandbox(sb: &Sandbox, i: u64, trace: &str, sent: UnixNanos) {
    let start = secs(sent) + NETWORK_MS / 2e3;
    let init = if cold(i) { INIT_MS / 1e3 } else { 0.0 };
    let func_start = start + GATEWAY_MS / 2e3;
    let func_end = func_start + init + handler_ms(i) / 1e3;
    let end = func_end + GATEWAY_MS / 2e3;
    let status = if failed(i) { 502 } else { 200 };
    if traced(i) {
        let gw = format!("{:016x}", i * 2 + 1);
        let func = format!("{:016x}", i * 2 + 2);
        let subsegments = if cold(i) {
            format!(
                r#","subsegments":[{{"id":"{:016x}","name":"Init","start_time":{func_start},"end_time":{}}},{{"id":"{:016x}","name":"Invocation","start_time":{},"end_time":{func_end}}}]"#,
                i * 4 + 3,
                func_start + init,
                i * 4 + 5,
                func_start + init
            )
        } else {
            format!(
                r#","subsegments":[{{"id":"{:016x}","name":"Invocation","start_time":{func_start},"end_time":{func_end}}}]"#,
                i * 4 + 5
            )
        };
        sb.segments()
            .put(&format!(
                r#"{{"trace_id":"{trace}","id":"{gw}","name":"shop/prod","origin":"AWS::ApiGateway::Stage","start_time":{start},"end_time":{end},"http":{{"response":{{"status":{status}}}}}{}}}"#,
                if failed(i) { r#","fault":true"# } else { "" }
            ))
            .expect("segment");
        sb.segments()
            .put(&format!(
                r#"{{"trace_id":"{trace}","id":"{func}","parent_id":"{gw}","name":"f","origin":"AWS::Lambda::Function","start_time":{func_start},"end_time":{func_end}{subsegments}}}"#
            ))
            .expect("segment");
    }
    let request_id = format!("{:08x}-0000-4000-8000-{:012x}", i >> 16, i);
    let at = |t: f64| (t * 1000.0) as u64;
    let mut report = format!(
        "REPORT RequestId: {request_id}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: 128 MB\tMax Memory Used: 60 MB\t",
        HANDLER_MS, HANDLER_MS as u64
    );
    if cold(i) {
        let _ = write!(report, "Init Duration: {INIT_MS:.2} ms\t");
    }
    if traced(i) {
        let _ = write!(
            report,
            "\nXRAY TraceId: {trace}\tSegmentId: {:016x}\tSampled: true\t",
            i * 2 + 2
        );
    }
    for (t, message) in [
        (
            func_start,
            format!("START RequestId: {request_id} Version: $LATEST"),
        ),
        (func_end, format!("END RequestId: {request_id}")),
        (func_end, report),
    ] {
        sb.logs().put(
            "/aws/lambda/f",
            LogEvent {
                timestamp_ms: at(t),
                ingestion_ms: at(t) + 500,
                stream: "2026/12/02/[$LATEST]0123456789abcdef".into(),
                message,
            },
        );
    }
}

fn manifest(start: DateTime<Utc>, phases: &[(String, PhaseWindow)]) -> RunManifest {
    RunManifest {
        schema_version: MANIFEST_SCHEMA_VERSION,
        run_id: "scale".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        scenario: ScenarioCopy {
            path: "scale.toml".into(),
            sha256: "ab".repeat(32),
            content: String::new(),
        },
        target: "http://127.0.0.1:1".into(),
        aws: Some(AwsResources {
            region: Some("us-east-1".into()),
            functions: vec!["f".into()],
            api: Some(ApiResource {
                kind: ApiKind::Rest,
                name: Some("shop".into()),
                id: None,
                stage: Some("prod".into()),
            }),
            tables: vec![],
            streams: vec![],
            queues: vec![],
        }),
        status: RunStatus::Completed,
        trace_sampling: 0.01,
        trace_budget_per_sec: Some(20.0),
        started_at: start,
        ended_at: phases.last().map(|(_, w)| w.end),
        phases: phases
            .iter()
            .enumerate()
            .map(|(i, (name, w))| Phase {
                index: u32::try_from(i).expect("few phases"),
                name: name.clone(),
                model: PhaseModel::Open {
                    start_rate_per_sec: RATE as f64,
                    end_rate_per_sec: RATE as f64,
                    arrivals: Arrivals::Uniform,
                    max_in_flight: None,
                },
                planned: *w,
                actual: Some(*w),
                dropped: 0,
            })
            .collect(),
        thresholds: vec![],
        labels: BTreeMap::new(),
        distribution: None,
        source: None,
    }
}

async fn bench() {
    let n: u64 = std::env::var("REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(900_000);
    let config = Config::parse(Path::new("bench.toml"), CONFIG).expect("config");
    let sb = Sandbox::start(
        config,
        Options {
            seed: 1,
            listen: "127.0.0.1:0".parse().expect("addr"),
            ground_truth: None,
        },
    )
    .await
    .expect("sandbox");
    let tmp = tempfile::tempdir().expect("tempdir");
    let run = RunDir::new(tmp.path().join("run"));
    std::fs::create_dir_all(run.root()).expect("run dir");

    // The run ends five minutes ago, on a whole second; three equal phases.
    let now = Utc::now().timestamp();
    let length = Duration::from_secs(n.div_ceil(RATE));
    let start = DateTime::from_timestamp(
        now - 300 - i64::try_from(length.as_secs()).expect("secs"),
        0,
    )
    .expect("time");
    let third = length / 3;
    let phases: Vec<(String, PhaseWindow)> = ["ramp", "steady", "peak"]
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let from = start
                + chrono::Duration::from_std(third * u32::try_from(k).expect("k")).expect("d");
            let len = if k == 2 {
                length.saturating_sub(third * 2)
            } else {
                third
            };
            ((*name).to_string(), PhaseWindow::starting_at(from, len))
        })
        .collect();

    let filled = Instant::now();
    let t0 = UnixNanos::from_datetime(start);
    let mut writer = RequestLogWriter::create(run.requests_dir()).expect("requests");
    let (mut truth_cold, mut full) = (0u64, [0.0f64; 3]);
    for i in 0..n {
        let sent = t0.plus(Duration::from_nanos(i * 1_000_000_000 / RATE));
        let phase = phases
            .iter()
            .position(|(_, w)| w.contains_nanos(sent))
            .unwrap_or(phases.len() - 1);
        let trace = format!("1-{:08x}-{:024x}", sent.0 / 1_000_000_000, i);
        record_in_sandbox(&sb, i, &trace, sent);
        truth_cold += u64::from(cold(i));
        full[0] += latency_ms(i);
        full[1] += if cold(i) { INIT_MS } else { 0.0 };
        full[2] += handler_ms(i);
        writer
            .append(&RequestRecord {
                sequence: i,
                flow: "browse".into(),
                endpoint: if i % 2 == 0 {
                    "GET /prod/items/:id"
                } else {
                    "GET /prod/items"
                }
                .into(),
                phase: u32::try_from(phase).expect("phase"),
                vu: 0,
                intended: sent,
                sent,
                end: sent.plus(Duration::from_secs_f64(latency_ms(i) / 1e3)),
                status: if failed(i) { 502 } else { 200 },
                error: None,
                bytes: 10,
                trace_id: Some(trace),
                sampled: traced(i),
            })
            .expect("record");
    }
    writer.finish().expect("requests");
    run.write_manifest(&manifest(start, &phases))
        .expect("manifest");
    let traced_n = (0..n).filter(|&i| traced(i)).count();
    println!(
        "filled: {n} requests over {} s, {traced_n} traced, {truth_cold} cold, in {:.1} s",
        length.as_secs(),
        filled.elapsed().as_secs_f64()
    );

    let mut opts = CollectOptions::default();
    opts.aws.use_local_endpoint(&sb.api_url);
    let target = CollectTarget::from_run(run.root()).expect("target");
    let prepared = prepare(target, &opts).expect("prepare");
    println!("{}", prepared.cost_line(&opts));
    let began = Instant::now();
    let summary = collect(prepared, &opts).await.expect("collect");
    let took = began.elapsed().as_secs_f64();
    let x = summary.xray.as_ref().expect("xray");
    println!(
        "collect: {took:.1} s (target <= 120 s); {} traces requested of {} traced ({} failed or slow, {} flagged, {} cold, {} sampled), {} found; {} BatchGetTraces + {} GetTraceSummaries calls; {} Insights queries; {} throttled attempts, {} retries; {}",
        x.requested,
        x.selection.traced_requests,
        x.selection.failed_or_slow,
        x.selection.server_flagged,
        x.selection.cold,
        x.selection.sample,
        x.found,
        x.batch_requests,
        x.summary_requests,
        summary
            .logs
            .as_ref()
            .map_or(0, |l| l.groups.iter().map(|g| g.queries).sum::<usize>()),
        summary.throttles,
        summary.retries,
        summary
            .describe()
            .lines()
            .find(|l| l.starts_with("cost:"))
            .unwrap_or_default()
    );

    if let Some(c) = summary.logs.as_ref().and_then(|l| l.cold_lookup.as_ref()) {
        println!(
            "cold starts read ahead: {} lines in {} Insights queries (answered: {})",
            c.cold_starts, c.queries, c.answered
        );
    }
    let began = Instant::now();
    let report = stormwatch_analysis::analyze(&run).expect("analyze");
    let c = report.cold_starts.as_ref().expect("cold starts");
    println!(
        "analyze: {:.1} s; cold starts {} ({}), truth {truth_cold}: {}",
        began.elapsed().as_secs_f64(),
        c.count,
        c.source,
        if c.count == truth_cold {
            "exact"
        } else {
            "DIFFERENT"
        }
    );
    // The waterfall of the whole run from its phases, weighted by their requests, against the
    // mean over every request.
    let (mut total, mut init, mut invocation, mut weight) = (0.0, 0.0, 0.0, 0.0);
    for p in &report.phases {
        if let Some(w) = &p.waterfall {
            let k = w.of_requests as f64;
            total += k
                * (w.network.0
                    + w.api_gateway.0
                    + w.lambda_placement.0
                    + w.init.0
                    + w.invocation.0
                    + w.downstream.0
                    + w.overhead.0);
            init += k * w.init.0;
            invocation += k * (w.invocation.0 + w.downstream.0);
            weight += k;
        }
    }
    let nf = n as f64;
    let off = |est: f64, truth: f64| (est / weight - truth / nf) / (truth / nf) * 100.0;
    println!(
        "waterfall from traces vs every request: total {:.2} vs {:.2} ms ({:+.1} %), init {:.3} vs {:.3} ms ({:+.1} %), handler {:.2} vs {:.2} ms ({:+.1} %)",
        total / weight,
        full[0] / nf,
        off(total, full[0]),
        init / weight,
        full[1] / nf,
        off(init, full[1]),
        invocation / weight,
        full[2] / nf,
        off(invocation, full[2])
    );
    sb.stop().await.expect("stop");
}
