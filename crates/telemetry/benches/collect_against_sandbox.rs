//! The collector against an in-process sandbox over the real AWS SDK clients, printing API
//! calls and seconds (issue targets: 3 hours of 1-minute data for 50 series in ≤ 2
//! GetMetricData calls; 10,000 sampled traces with ≤ 2,000 BatchGetTraces calls, in bounded
//! concurrency). The collector's default pacing applies (40 GetMetricData and 25 X-Ray calls
//! per second, 8 BatchGetTraces in flight), so the X-Ray figure is mostly that pacing.
//! Run: `cargo bench -p stormwatch-telemetry --bench collect_against_sandbox`.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use stormwatch_model::AwsResources;
use stormwatch_sandbox::{Config, Options, Sample, Sandbox, Unit, key};
use stormwatch_telemetry::{CollectOptions, CollectSummary, CollectTarget, collect, prepare};

const SERIES: usize = 50;
const TRACES: u64 = 10_000;
const CONFIG: &str = "[api]\nkind = \"rest\"\n\n[functions.f]\n\n[[routes]]\nroute = \"GET /prod/items/{id}\"\nfunction = \"f\"\n";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench());
}

fn options(sb: &Sandbox) -> CollectOptions {
    let mut o = CollectOptions::default();
    o.aws.use_local_endpoint(&sb.api_url);
    o
}

fn calls(summary: &CollectSummary, op: &str) -> u64 {
    summary.api.get(op).map_or(0, |o| o.calls)
}

async fn bench() {
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
    // Three hours ending ten minutes ago, whole minutes.
    let now = Utc::now().timestamp();
    let end = now - now % 60 - 600;
    let start = end - 3 * 3600;
    let from = DateTime::from_timestamp(start, 0).expect("time");
    let to = DateTime::from_timestamp(end, 0).expect("time");
    let resources = AwsResources {
        region: Some("us-east-1".into()),
        functions: vec!["f".into()],
        ..AwsResources::default()
    };

    // --- metrics: 50 custom series at 1-minute resolution ---
    let queries = tmp.path().join("queries");
    std::fs::create_dir_all(&queries).expect("mkdir");
    let mut toml = String::from("namespace = \"Bench/Load\"\n");
    for s in 0..SERIES {
        let k = key("Bench/Load", &format!("m{s:02}"), &[("FunctionName", "f")]);
        for minute in 0..180 {
            let at = UNIX_EPOCH + Duration::from_secs((start + minute * 60 + 30).cast_unsigned());
            sb.metrics()
                .put(k.clone(), Unit::Count, 60, at, Sample::Value(minute as f64));
        }
        let _ = write!(
            toml,
            "[[metric]]\nname = \"m{s:02}\"\nstats = [\"Sum\"]\ndimensions = {{ FunctionName = \"{{function}}\" }}\n"
        );
    }
    std::fs::write(queries.join("bench.toml"), toml).expect("write");
    let mut opts = options(&sb);
    opts.extra_queries = Some(queries);
    opts.xray = false;
    opts.logs = false;
    let target = CollectTarget::from_range(from, to, resources.clone(), tmp.path().join("m"))
        .expect("target");
    let clock = Instant::now();
    let summary = collect(prepare(target, &opts).expect("plan"), &opts)
        .await
        .expect("collect metrics");
    println!(
        "metrics: {} series ({SERIES} custom + built-in Lambda) over 3 h at 60 s, {} datapoints, {} GetMetricData calls, {:.2} s",
        summary.metrics.queries.len(),
        summary.metrics.datapoints,
        calls(&summary, "GetMetricData"),
        clock.elapsed().as_secs_f64()
    );

    // --- X-Ray: 10,000 traces in the window ---
    for n in 0..TRACES {
        let t = start as f64 + (n as f64) * (3.0 * 3600.0 / TRACES as f64);
        let trace = format!("1-{:08x}-{n:024x}", t as i64);
        let doc = format!(
            r#"{{"trace_id":"{trace}","id":"{:016x}","name":"f","origin":"AWS::Lambda::Function","start_time":{t},"end_time":{}}}"#,
            n + 1,
            t + 0.05
        );
        sb.segments().put(&doc).expect("segment");
    }
    let mut opts = options(&sb);
    opts.metrics = false;
    opts.logs = false;
    let target =
        CollectTarget::from_range(from, to, resources, tmp.path().join("x")).expect("target");
    let clock = Instant::now();
    let summary = collect(prepare(target, &opts).expect("plan"), &opts)
        .await
        .expect("collect traces");
    let x = summary.xray.as_ref().expect("xray report");
    println!(
        "xray: {} traces found in the window, {} GetTraceSummaries calls, {} BatchGetTraces calls ({} in flight), {} throttled attempts, {:.2} s",
        x.other_traces,
        calls(&summary, "GetTraceSummaries"),
        calls(&summary, "BatchGetTraces"),
        opts.xray_concurrency,
        summary.throttles,
        clock.elapsed().as_secs_f64()
    );
    assert_eq!(x.other_traces as u64, TRACES, "every trace found");
    sb.stop().await.expect("stop");
}
