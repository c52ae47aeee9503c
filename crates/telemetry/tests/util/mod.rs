//! What the collector's sandbox tests share: a sandbox with one REST API and function `f`,
//! collect options against it, a run directory, and the platform's segments and log lines
//! of a request written straight into the sandbox's stores.

#![allow(dead_code, reason = "each test file uses its own part")]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use stormwatch_model::{
    ApiKind, ApiResource, Arrivals, AwsResources, MANIFEST_SCHEMA_VERSION, Phase, PhaseModel,
    PhaseWindow, RequestLogWriter, RequestRecord, RunDir, RunManifest, RunStatus, ScenarioCopy,
    UnixNanos,
};
use stormwatch_sandbox::{Config, LogEvent, Options, Sandbox};
use stormwatch_telemetry::CollectOptions;

pub const CONFIG: &str = "[api]\nkind = \"rest\"\n\n[functions.f]\n\n[[routes]]\nroute = \"GET /prod/items/{id}\"\nfunction = \"f\"\n";

pub async fn sandbox(telemetry: &str) -> Sandbox {
    let config = Config::parse(Path::new("test.toml"), &format!("{CONFIG}{telemetry}"))
        .expect("test config is valid");
    Sandbox::start(
        config,
        Options {
            seed: 7,
            listen: "127.0.0.1:0".parse().unwrap(),
            ground_truth: None,
        },
    )
    .await
    .unwrap()
}

pub fn options(sb: &Sandbox) -> CollectOptions {
    let mut o = CollectOptions::default();
    o.aws.use_local_endpoint(&sb.api_url);
    o.aws.initial_backoff = Duration::from_millis(100);
    o.pad = Duration::from_secs(60);
    o
}

pub fn trace_id(epoch: u64, n: u64) -> String {
    format!("1-{epoch:08x}-{n:024x}")
}

pub fn secs(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// A run directory: one phase `[start, start + len)`, REST API `shop/prod`, function `f`,
/// and one sampled request per trace id.
pub fn run_dir(
    root: &Path,
    start: DateTime<Utc>,
    len: Duration,
    traces: &[(String, DateTime<Utc>)],
) -> RunDir {
    let dir = RunDir::new(root);
    let window = PhaseWindow::starting_at(start, len);
    let manifest = RunManifest {
        schema_version: MANIFEST_SCHEMA_VERSION,
        run_id: "test-run".into(),
        tool_version: "0.1.0".into(),
        scenario: ScenarioCopy {
            path: "s.toml".into(),
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
        trace_sampling: 1.0,
        trace_budget_per_sec: None,
        started_at: start,
        ended_at: Some(window.end),
        phases: vec![Phase {
            index: 0,
            name: "steady".into(),
            model: PhaseModel::Open {
                start_rate_per_sec: 10.0,
                end_rate_per_sec: 10.0,
                arrivals: Arrivals::Uniform,
                max_in_flight: None,
            },
            planned: window,
            actual: Some(window),
            dropped: 0,
        }],
        thresholds: vec![],
        labels: BTreeMap::new(),
        distribution: None,
        source: None,
    };
    dir.write_manifest(&manifest).unwrap();
    let mut w = RequestLogWriter::create(dir.requests_dir()).unwrap();
    for (i, (id, at)) in traces.iter().enumerate() {
        let sent = UnixNanos::from_datetime(*at);
        w.append(&RequestRecord {
            sequence: i as u64,
            flow: "browse".into(),
            endpoint: "GET /prod/items/:id".into(),
            phase: 0,
            vu: 0,
            intended: sent,
            sent,
            end: sent.plus(Duration::from_millis(300)),
            status: 200,
            error: None,
            bytes: 10,
            trace_id: Some(id.clone()),
            sampled: true,
        })
        .unwrap();
    }
    w.finish().unwrap();
    dir
}

/// API Gateway + function segments of one request; cold ones carry an init subsegment
/// named `init_name` (`Initialization` or `Init`).
pub fn put_request(sb: &Sandbox, trace: &str, n: u64, start: f64, init_name: Option<&str>) {
    let gw = format!("{:016x}", n * 2 + 1);
    let func = format!("{:016x}", n * 2 + 2);
    let init = init_name.map_or(String::new(), |name| {
        format!(
            r#","subsegments":[{{"id":"{:016x}","name":"{name}","start_time":{},"end_time":{}}},{{"id":"{:016x}","name":"Invocation","start_time":{},"end_time":{}}}]"#,
            n * 2 + 1_000_001,
            start + 0.01,
            start + 0.11,
            n * 2 + 2_000_001,
            start + 0.11,
            start + 0.2
        )
    });
    sb.segments()
        .put(&format!(
            r#"{{"trace_id":"{trace}","id":"{gw}","name":"shop/prod","origin":"AWS::ApiGateway::Stage","start_time":{start},"end_time":{},"http":{{"response":{{"status":200}}}}}}"#,
            start + 0.3
        ))
        .unwrap();
    sb.segments()
        .put(&format!(
            r#"{{"trace_id":"{trace}","id":"{func}","parent_id":"{gw}","name":"f","origin":"AWS::Lambda::Function","start_time":{},"end_time":{}{init}}}"#,
            start + 0.01,
            start + 0.25
        ))
        .unwrap();
}

pub fn recent_start() -> DateTime<Utc> {
    // Whole minutes, ten minutes ago: X-Ray and Logs keep it, metrics are settled.
    let now = Utc::now().timestamp();
    DateTime::from_timestamp(now - now % 60 - 600, 0).unwrap()
}

pub fn log(sb: &Sandbox, at: DateTime<Utc>, message: String) {
    let ms = at.timestamp_millis() as u64;
    sb.logs().put(
        "/aws/lambda/f",
        LogEvent {
            timestamp_ms: ms,
            ingestion_ms: ms + 500,
            stream: "2026/11/23/[$LATEST]abc".into(),
            message,
        },
    );
}
