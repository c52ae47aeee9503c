//! The X-Ray segment store and the CloudWatch Logs store at real-account scale: a 30-minute
//! test at 500 requests/s (900,000 requests), every request traced, filled the way the
//! stormwatch sandbox fills them (`crates/sandbox/src/xray_docs.rs`, `lambda_logs.rs`): per
//! request a REST stage segment with its `Lambda` invoke subsegment, the `AWS::Lambda`
//! service segment and the `AWS::Lambda::Function` segment (`Invocation` with one DynamoDB
//! call, `Overhead`, `Initialization` on the 1 % cold starts), and the START, END and REPORT
//! (with its `XRAY TraceId` line) log events in the environment's stream.
//!
//! Prints the growth of the process's resident set and the stores' own accounting per
//! request and in total, then the time of BatchGetTraces calls (5 ids, through the X-Ray
//! API layer) and of log scans (one minute of events; FilterLogEvents over the whole group).
//!
//! Run: `cargo bench -p stormwatch-aws-emulator --bench telemetry_stores [-- REQUESTS]`.

use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use stormwatch_aws_emulator::api::logs::LogsApi;
use stormwatch_aws_emulator::api::xray::XrayApi;
use stormwatch_aws_emulator::{LogEvent, LogStore, SegmentStore};

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "123456789012";
const RATE: u64 = 500;
const FUNCTIONS: [&str; 2] = ["orders-api", "catalog-api"];
const ENVIRONMENTS: u64 = 40;

/// Resident set size of this process (Linux `/proc/self/status`), bytes.
fn rss() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<i64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn epoch(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

fn ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

fn seg_id(rng: &mut fastrand::Rng) -> String {
    format!("{:016x}", rng.u64(..))
}

fn request_id(rng: &mut fastrand::Rng) -> String {
    let (a, b) = (rng.u64(..), rng.u64(..));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

struct Request {
    trace_id: String,
    docs: [String; 3],
    group: String,
    events: Vec<LogEvent>,
}

/// One request as the sandbox records it, arriving at `at`.
fn request(i: u64, at: SystemTime, rng: &mut fastrand::Rng) -> Request {
    let function = FUNCTIONS[(i % 2) as usize];
    let arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}");
    let secs = at.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let trace_id = format!(
        "1-{:08x}-{:08x}{:016x}",
        secs as u32,
        rng.u32(..),
        rng.u64(..)
    );
    let (stage, invoke, lambda, func) = (seg_id(rng), seg_id(rng), seg_id(rng), seg_id(rng));
    let cold = rng.f64() < 0.01;
    let us = |n: u64| Duration::from_micros(n);
    let inv_start = at + us(300 + rng.u64(..200));
    let init = if cold { us(150_000) } else { Duration::ZERO };
    let handler_start = inv_start + init;
    let call_start = handler_start + us(200 + rng.u64(..300));
    let call_end = call_start + us(3_000 + rng.u64(..4_000));
    let handler_end = call_end + us(500 + rng.u64(..1_000));
    let inv_end = handler_end + us(300 + rng.u64(..200));
    let invoke_end = inv_end + us(200);
    let end = invoke_end + us(400 + rng.u64(..200));
    let req_id = request_id(rng);
    let path = if i.is_multiple_of(2) {
        "/orders"
    } else {
        "/catalog"
    };
    let status = if rng.f64() < 0.005 { 502 } else { 200 };
    let mut stage_doc = json!({
        "id": stage, "trace_id": trace_id, "name": "shop/prod",
        "origin": "AWS::ApiGateway::Stage", "start_time": epoch(at), "end_time": epoch(end),
        "resource_arn": format!("arn:aws:apigateway:{REGION}::/restapis/shop/stages/prod"),
        "http": {"request": {"url": format!("https://shop.execute-api.{REGION}.amazonaws.com{path}"), "method": "GET"},
                 "response": {"status": status}},
        "aws": {"api_id": "shop", "stage": "prod", "resource_path": path, "account_id": ACCOUNT},
        "annotations": {}, "metadata": {},
        "subsegments": [{
            "id": invoke, "name": "Lambda", "namespace": "aws",
            "start_time": epoch(inv_start), "end_time": epoch(invoke_end),
            "http": {"response": {"status": 200}},
            "aws": {"function_name": function, "region": REGION, "operation": "Invoke",
                    "resource_names": [function]},
        }],
    });
    if status >= 500 {
        stage_doc["fault"] = json!(true);
    }
    let service = json!({
        "id": lambda, "trace_id": trace_id, "name": function, "origin": "AWS::Lambda",
        "start_time": epoch(inv_start), "end_time": epoch(inv_end), "resource_arn": arn,
        "http": {"response": {"status": 200}}, "aws": {"request_id": req_id},
        "parent_id": invoke,
    });
    let mut subs = Vec::new();
    if cold {
        subs.push(json!({"id": seg_id(rng), "name": "Initialization",
            "start_time": epoch(inv_start), "end_time": epoch(inv_start + init),
            "aws": {"function_arn": arn}}));
    }
    subs.push(json!({"id": seg_id(rng), "name": "Invocation",
        "start_time": epoch(handler_start), "end_time": epoch(handler_end),
        "aws": {"function_arn": arn},
        "subsegments": [{"id": seg_id(rng), "name": "DynamoDB", "namespace": "aws",
            "start_time": epoch(call_start), "end_time": epoch(call_end),
            "http": {"response": {"status": 200}},
            "aws": {"operation": "GetItem", "region": REGION, "resource_names": ["orders"],
                    "retries": 0, "table_name": "orders"}}]}));
    subs.push(json!({"id": seg_id(rng), "name": "Overhead",
        "start_time": epoch(handler_end), "end_time": epoch(inv_end),
        "aws": {"function_arn": arn}}));
    let function_doc = json!({
        "id": func, "trace_id": trace_id, "parent_id": lambda, "name": function,
        "origin": "AWS::Lambda::Function", "start_time": epoch(inv_start),
        "end_time": epoch(inv_end), "resource_arn": arn,
        "aws": {"function_arn": arn, "resource_names": [function], "account_id": ACCOUNT},
        "subsegments": subs,
    });
    // The environment's stream, as lambda_logs::stream_name shapes it.
    let env = rng.u64(..ENVIRONMENTS);
    let stream = format!(
        "2026/11/18/[$LATEST]{:016x}{:016x}",
        env * 7919,
        env * 104_729
    );
    let dur = handler_end.duration_since(handler_start).unwrap();
    let billed = (dur + init).as_nanos().div_ceil(1_000_000);
    let mut report = format!(
        "REPORT RequestId: {req_id}\tDuration: {:.2} ms\tBilled Duration: {billed} ms\tMemory Size: 512 MB\tMax Memory Used: {} MB\t",
        dur.as_secs_f64() * 1000.0,
        70 + rng.u32(..15)
    );
    if cold {
        report.push_str("Init Duration: 150.00 ms\t");
    }
    let _ = write!(
        report,
        "\nXRAY TraceId: {trace_id}\tSegmentId: {lambda}\tSampled: true\t"
    );
    let event = |t: SystemTime, message: String| LogEvent {
        timestamp_ms: ms(t),
        ingestion_ms: ms(inv_end),
        stream: stream.clone(),
        message,
    };
    let events = vec![
        event(
            inv_start,
            format!("START RequestId: {req_id} Version: $LATEST"),
        ),
        event(inv_end, format!("END RequestId: {req_id}")),
        event(inv_end, report),
    ];
    Request {
        trace_id,
        // The order the sandbox records them: the Lambda segments when the invocation ends,
        // the stage segment when the response is sent.
        docs: [
            service.to_string(),
            function_doc.to_string(),
            stage_doc.to_string(),
        ],
        group: format!("/aws/lambda/{function}"),
        events,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let n: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(900_000);
    let base = UNIX_EPOCH + Duration::from_secs(1_795_000_000);
    let mut rng = fastrand::Rng::with_seed(7);
    // Warm the allocator and the generator so the baseline excludes them.
    let _ = request(0, base, &mut rng);
    let segments = SegmentStore::new();
    let logs = LogStore::new();
    let mut ids = Vec::with_capacity(n as usize);
    let (mut doc_bytes, mut log_bytes) = (0usize, 0usize);
    let before = rss();
    let t0 = Instant::now();
    let mut ids_bytes = 0;
    for i in 0..n {
        let at = base + Duration::from_nanos(i * 1_000_000_000 / RATE + rng.u64(..1_000_000));
        let r = request(i, at, &mut rng);
        for d in &r.docs {
            doc_bytes += d.len();
            segments.put(d).expect("valid document");
        }
        for e in r.events {
            log_bytes += e.message.len() + e.stream.len();
            logs.put(&r.group, e);
        }
        if i % 97 == 0 {
            ids_bytes += r.trace_id.len() + 24;
            ids.push(r.trace_id);
        }
    }
    let fill = t0.elapsed();
    let grown = (rss() - before - ids_bytes as i64).max(0) as f64;
    let mb = |b: f64| b / 1e6;
    println!(
        "filled {n} requests ({} traces, {} segments, {} log events) in {:.1} s",
        segments.len(),
        3 * n,
        3 * n,
        fill.as_secs_f64()
    );
    println!(
        "input: {:.0} bytes of segment JSON and {:.0} bytes of log text per request",
        doc_bytes as f64 / n as f64,
        log_bytes as f64 / n as f64
    );
    println!(
        "resident set growth: {:.1} MB total, {:.0} bytes per request",
        mb(grown),
        grown / n as f64
    );
    let (sb, lb) = (segments.bytes() as f64, logs.bytes() as f64);
    println!(
        "stores' own accounting: segments {:.1} MB ({:.0} bytes/request), logs {:.1} MB ({:.0} bytes/request), {:.0} bytes/request together",
        mb(sb),
        sb / n as f64,
        mb(lb),
        lb / n as f64,
        (sb + lb) / n as f64
    );
    // BatchGetTraces of 5 ids, through the API layer (JSON in, JSON out).
    let xray = XrayApi::new(1e9);
    let mut times = Vec::new();
    let mut pick = fastrand::Rng::with_seed(11);
    for _ in 0..2_000 {
        let batch: Vec<&String> = (0..5).map(|_| &ids[pick.usize(..ids.len())]).collect();
        let body = json!({ "TraceIds": batch }).to_string();
        let t = Instant::now();
        let reply = xray.handle(&segments, "/Traces", body.as_bytes());
        times.push(t.elapsed());
        let v: Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(v["Traces"].as_array().map(Vec::len), Some(5), "{v}");
    }
    times.sort();
    println!(
        "BatchGetTraces (5 ids, 15 segments): median {:.0} µs, p99 {:.0} µs",
        percentile(&times, 0.5).as_secs_f64() * 1e6,
        percentile(&times, 0.99).as_secs_f64() * 1e6
    );
    // One minute of one group's events, and FilterLogEvents over the whole group.
    let group = format!("/aws/lambda/{}", FUNCTIONS[0]);
    let from = ms(base) + (n / RATE / 2) * 1000;
    let t = Instant::now();
    let minute = logs.events(&group, from, from + 60_000).unwrap_or_default();
    println!(
        "events() over one minute of one group: {} events in {:.1} ms",
        minute.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    let api = LogsApi::new(1e9, REGION);
    let body =
        json!({"logGroupName": group, "filterPattern": "\"Init Duration\"", "limit": 10_000})
            .to_string();
    let t = Instant::now();
    let reply = api.handle(&logs, "FilterLogEvents", body.as_bytes());
    let v: Value = serde_json::from_slice(&reply.body).unwrap();
    println!(
        "FilterLogEvents \"Init Duration\" over the whole group ({} events): {} matches in {:.0} ms",
        3 * n / 2,
        v["events"].as_array().map_or(0, Vec::len),
        t.elapsed().as_secs_f64() * 1e3
    );
}
