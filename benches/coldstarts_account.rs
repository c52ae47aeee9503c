//! Account-wide cold starts at scale (issue 16's benchmark): a sandbox holding 200 functions
//! (four runtimes, five memory sizes) with 7 days of REPORT lines each — one invocation
//! every `EVERY_SECS` seconds (default 300: 2,016 per function, 403,200 in all), every 10th
//! a cold start — then `coldstarts` over the 7 days, account-wide, against the sandbox at
//! AWS's API quotas. Prints the seconds, the Logs Insights queries and the bytes they
//! scanned, and checks every function's counts against what was written.
//!
//! Run: `cargo bench --bench coldstarts_account` (release). Targets: ≤ 60 s, ≤ 10 queries.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use chrono::{DateTime, Utc};
use stormwatch_model::PhaseWindow;
use stormwatch_sandbox::{Config, LogEvent, Options, Sandbox};
use stormwatch_telemetry::coldstarts::{self, ColdStartOptions};
use stormwatch_telemetry::lambda::Selection;

const FUNCTIONS: usize = 200;
const DAYS: i64 = 7;
const RUNTIMES: [&str; 4] = ["nodejs20.x", "python3.12", "java21", "provided.al2023"];
const MEMORY: [u32; 5] = [128, 256, 512, 1024, 2048];

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench());
}

fn config() -> String {
    let mut s = String::from("[api]\nkind = \"rest\"\nname = \"fleet\"\nstage = \"prod\"\n");
    for i in 0..FUNCTIONS {
        let _ = write!(
            s,
            "\n[functions.fn{i:03}]\nruntime = \"{}\"\nmemory_mb = {}\n\n[[routes]]\nroute = \"GET /prod/fn{i:03}\"\nfunction = \"fn{i:03}\"\n",
            RUNTIMES[i % RUNTIMES.len()],
            MEMORY[i % MEMORY.len()]
        );
    }
    s
}

async fn bench() {
    let every: i64 = std::env::var("EVERY_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let config = Config::parse(Path::new("bench.toml"), &config()).expect("config");
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
    // 7 days ending on the last whole hour.
    let now = Utc::now().timestamp();
    let end = now - now % 3600;
    let start = end - DAYS * 86_400;
    let filled = Instant::now();
    let (mut lines, mut truth) = (0u64, vec![(0u64, 0u64); FUNCTIONS]);
    for (f, t) in truth.iter_mut().enumerate() {
        let memory = MEMORY[f % MEMORY.len()];
        let group = format!("/aws/lambda/fn{f:03}");
        let mut k = 0u64;
        // Staggered so the functions do not all log in the same second.
        let mut at = start + (f as i64 * 7) % every;
        while at < end {
            let init = if k.is_multiple_of(10) {
                format!("\tInit Duration: {}.25 ms", 100 + f % 400)
            } else {
                String::new()
            };
            let ms = u64::try_from(at).expect("time") * 1000 + 250;
            sb.logs().put(
                &group,
                LogEvent {
                    timestamp_ms: ms,
                    ingestion_ms: ms + 500,
                    stream: format!("2026/11/23/[$LATEST]{:032x}", k / 10),
                    message: format!(
                        "REPORT RequestId: {f:08x}-0000-4000-8000-{k:012x}\tDuration: 12.50 ms\tBilled Duration: 13 ms\tMemory Size: {memory} MB\tMax Memory Used: 60 MB{init}\t"
                    ),
                },
            );
            t.0 += 1;
            t.1 += u64::from(k.is_multiple_of(10));
            k += 1;
            lines += 1;
            at += every;
        }
    }
    println!(
        "filled: {FUNCTIONS} functions, {lines} REPORT lines over {DAYS} days in {:.1} s",
        filled.elapsed().as_secs_f64()
    );

    let mut opts = ColdStartOptions {
        xray: false,
        ..ColdStartOptions::default()
    };
    opts.aws.use_local_endpoint(&sb.api_url);
    let range = PhaseWindow {
        start: DateTime::<Utc>::from_timestamp(start, 0).expect("start"),
        end: DateTime::<Utc>::from_timestamp(end, 0).expect("end"),
    };
    let began = Instant::now();
    let fetched = coldstarts::fetch(&Selection::default(), range, &opts)
        .await
        .expect("coldstarts");
    let report = stormwatch_analysis::coldstarts_summary::summarize(&fetched.data);
    let took = began.elapsed().as_secs_f64();
    let logs = fetched.sources.logs.as_ref().expect("logs read");
    let exact = report.functions.iter().all(|f| {
        let i: usize = f.function[2..].parse().expect("fnNNN");
        (f.invocations, f.cold_starts) == truth[i]
    });
    println!(
        "coldstarts: {took:.1} s (target <= 60 s) for {} functions; {} Logs Insights queries (target <= 10), {} split, {:.3} GB scanned; counts per function {}; {} recommendations; fleet {} runtimes",
        report.functions.len(),
        logs.queries,
        logs.splits,
        logs.bytes_scanned as f64 / 1e9,
        if exact { "exact" } else { "DIFFERENT" },
        report
            .functions
            .iter()
            .map(|f| f.recommendations.len())
            .sum::<usize>(),
        report.fleet.as_ref().map_or(0, |f| f.by_runtime.len())
    );
    sb.stop().await.expect("stop");
}
