//! `stormwatch collect`: `--help`, `--dry-run` without network, a run directory without
//! `[aws]` (exit 2), AccessDenied from a loopback stand-in for X-Ray (exit 3, message names
//! the IAM action), and a full collect against an in-process sandbox through the standard
//! `AWS_ENDPOINT_URL` override. Nothing leaves 127.0.0.1: the AWS config files are pointed
//! at nothing and instance metadata is disabled.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use crate::util::{
    Running, access_denied_server, start_sandbox_with, stormwatch, stormwatch_process,
};
use assert_cmd::Command;
use chrono::{DateTime, Utc};
use predicates::prelude::*;
use stormwatch_model::{
    ApiKind, ApiResource, Arrivals, AwsResources, MANIFEST_SCHEMA_VERSION, Phase, PhaseModel,
    PhaseWindow, RequestLogWriter, RequestRecord, RunDir, RunManifest, RunStatus, ScenarioCopy,
    UnixNanos,
};

fn start() -> DateTime<Utc> {
    let now = Utc::now().timestamp();
    DateTime::from_timestamp(now - now % 60 - 600, 0).unwrap()
}

fn write_run(root: &Path, aws: Option<AwsResources>, traces: &[(String, DateTime<Utc>)]) -> RunDir {
    let dir = RunDir::new(root);
    let window = PhaseWindow::starting_at(start(), Duration::from_secs(120));
    dir.write_manifest(&RunManifest {
        schema_version: MANIFEST_SCHEMA_VERSION,
        run_id: "e2e-collect".into(),
        tool_version: "0.1.0".into(),
        scenario: ScenarioCopy {
            path: "s.toml".into(),
            sha256: "ab".repeat(32),
            content: String::new(),
        },
        target: "http://127.0.0.1:1".into(),
        aws,
        status: RunStatus::Completed,
        trace_sampling: 1.0,
        trace_budget_per_sec: None,
        started_at: window.start,
        ended_at: Some(window.end),
        phases: vec![Phase {
            index: 0,
            name: "steady".into(),
            model: PhaseModel::Open {
                start_rate_per_sec: 1.0,
                end_rate_per_sec: 1.0,
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
    })
    .unwrap();
    let mut w = RequestLogWriter::create(dir.requests_dir()).unwrap();
    for (i, (id, at)) in traces.iter().enumerate() {
        let sent = UnixNanos::from_datetime(*at);
        w.append(&RequestRecord {
            sequence: i as u64,
            flow: "f".into(),
            endpoint: "GET /prod/items/:id".into(),
            phase: 0,
            vu: 0,
            intended: sent,
            sent,
            end: sent.plus(Duration::from_millis(50)),
            status: 200,
            error: None,
            bytes: 1,
            trace_id: Some(id.clone()),
            sampled: true,
        })
        .unwrap();
    }
    w.finish().unwrap();
    dir
}

fn resources() -> AwsResources {
    AwsResources {
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
    }
}

#[test]
fn help_lists_every_flag() {
    let out = Command::cargo_bin("stormwatch")
        .unwrap()
        .args(["collect", "--help"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    for flag in [
        "--wait",
        "--profile",
        "--region",
        "--queries",
        "--dry-run",
        "--from",
        "--to",
        "--function",
        "--api",
        "--stage",
        "--api-id",
        "--table",
        "--out",
    ] {
        assert!(text.contains(flag), "{flag} missing from:\n{text}");
    }
}

#[test]
fn dry_run_prints_queries_and_calls_without_network() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_run(
        &tmp.path().join("run"),
        Some(resources()),
        &[("1-a-b".into(), start())],
    );
    // An endpoint nobody listens on: a dry run must not call it.
    stormwatch("http://127.0.0.1:9", tmp.path())
        .arg("collect")
        .arg(dir.root())
        .arg("--dry-run")
        .assert()
        .success()
        .stdout(
            predicate::str::contains("AWS/Lambda/Throttles{FunctionName=f}:Sum")
                .and(predicate::str::contains(
                    "AWS/ApiGateway/5XXError{ApiName=shop,Stage=prod}:Sum",
                ))
                .and(predicate::str::contains("GetMetricData #1"))
                .and(predicate::str::contains(
                    "BatchGetTraces: 1 of the run's 1 traced requests",
                ))
                .and(predicate::str::contains("/aws/lambda/f")),
        );
    assert!(!dir.telemetry_dir().exists());
}

#[test]
fn a_run_killed_in_its_first_second_is_still_collectable() {
    let tmp = tempfile::tempdir().unwrap();
    let s = start();
    let dir = write_run(
        &tmp.path().join("run"),
        Some(resources()),
        &[("1-a-b".into(), s + chrono::Duration::milliseconds(400))],
    );
    // As SIGKILL leaves it before the first progress update: the phase ends where it began.
    let mut m = dir.read_manifest().unwrap();
    m.status = RunStatus::Incomplete;
    m.phases[0].actual = Some(PhaseWindow { start: s, end: s });
    dir.write_manifest(&m).unwrap();
    stormwatch("http://127.0.0.1:9", tmp.path())
        .arg("collect")
        .arg(dir.root())
        .arg("--dry-run")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "BatchGetTraces: 1 of the run's 1 traced requests",
        ));
}

#[test]
fn a_run_without_aws_resources_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_run(&tmp.path().join("run"), None, &[]);
    stormwatch("http://127.0.0.1:9", tmp.path())
        .arg("collect")
        .arg(dir.root())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("manifest.json").and(predicate::str::contains("[aws]")));
}

#[test]
fn bad_query_file_exits_2_naming_file_line_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_run(&tmp.path().join("run"), Some(resources()), &[]);
    let q = tmp.path().join("q");
    std::fs::create_dir_all(&q).unwrap();
    std::fs::write(
        q.join("mine.toml"),
        "namespace = \"X\"\n[[metric]]\nname = \"M\"\nstats = [\"Median\"]\n",
    )
    .unwrap();
    stormwatch("http://127.0.0.1:9", tmp.path())
        .arg("collect")
        .arg(dir.root())
        .arg("--queries")
        .arg(&q)
        .arg("--dry-run")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "mine.toml:4: field `metric[0].stats`",
        ));
}

#[test]
fn range_form_needs_its_flags() {
    let tmp = tempfile::tempdir().unwrap();
    stormwatch("http://127.0.0.1:9", tmp.path())
        .args([
            "collect",
            "--from",
            "2026-11-22T10:00:00Z",
            "--to",
            "2026-11-22T09:00:00Z",
            "--function",
            "f",
            "--out",
        ])
        .arg(tmp.path().join("o"))
        .arg("--dry-run")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--to"));
    stormwatch("http://127.0.0.1:9", tmp.path())
        .args([
            "collect",
            "--from",
            "2026-11-22T10:00:00Z",
            "--to",
            "2026-11-22T12:00:00Z",
            "--function",
            "f",
            "--api-id",
            "abc123",
            "--out",
        ])
        .arg(tmp.path().join("o"))
        .arg("--dry-run")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "AWS/ApiGateway/5xx{ApiId=abc123,Stage=$default}:Sum",
        ));
}

#[test]
fn access_denied_names_the_iam_action_and_exits_3() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_run(
        &tmp.path().join("run"),
        Some(resources()),
        &[("1-5759e988-bd862e3fe1be46a994272793".into(), start())],
    );
    let endpoint = access_denied_server();
    stormwatch(&endpoint, tmp.path())
        .arg("collect")
        .arg(dir.root())
        .args(["--no-metrics", "--no-logs"])
        .timeout(Duration::from_secs(60))
        .assert()
        .code(3)
        .stderr(
            predicate::str::contains("`xray:GetTraceSummaries`")
                .and(predicate::str::contains("IAM policy"))
                .and(predicate::str::contains("AKIDTEST").not())
                .and(predicate::str::contains("not-a-secret").not()),
        );
}

/// An in-process sandbox with function `f` behind a REST API, and the runtime it runs on.
fn start_sandbox() -> Running {
    start_sandbox_with(
        "[api]\nkind = \"rest\"\n\n[functions.f]\n\n[[routes]]\nroute = \"GET /prod/items/{id}\"\nfunction = \"f\"\n",
        1,
        None,
    )
}

#[test]
fn collects_traces_and_logs_from_the_sandbox() {
    let tmp = tempfile::tempdir().unwrap();
    let s = start();
    let epoch = s.timestamp();
    let trace = format!("1-{epoch:08x}-{:024x}", 7);
    let dir = write_run(
        &tmp.path().join("run"),
        Some(resources()),
        &[(trace.clone(), s)],
    );
    let Running { runtime, sandbox } = start_sandbox();
    let t0 = s.timestamp_millis() as f64 / 1000.0 + 0.01;
    sandbox
        .segments()
        .put(&format!(
            r#"{{"trace_id":"{trace}","id":"00000000000000a1","name":"f","origin":"AWS::Lambda::Function","start_time":{t0},"end_time":{},"subsegments":[{{"id":"00000000000000b1","name":"Initialization","start_time":{t0},"end_time":{}}}]}}"#,
            t0 + 0.3,
            t0 + 0.2
        ))
        .unwrap();
    let ms = s.timestamp_millis() as u64 + 400;
    sandbox.logs().put(
        "/aws/lambda/f",
        stormwatch_sandbox::LogEvent {
            timestamp_ms: ms,
            ingestion_ms: ms,
            stream: "s".into(),
            message: "REPORT RequestId: other\tDuration: 5.00 ms\tBilled Duration: 5 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\tInit Duration: 90.00 ms\t".into(),
        },
    );
    let out = stormwatch(&sandbox.api_url, tmp.path())
        .arg("collect")
        .arg(dir.root())
        .arg("--no-metrics")
        .timeout(Duration::from_secs(120))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("traces: 1 of 1 requested found"), "{text}");
    assert!(
        text.contains("logs: 1 REPORT lines, 1 cold starts"),
        "{text}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.collect_path()).unwrap()).unwrap();
    assert_eq!(summary["xray"]["parse"]["cold_starts"], 1);
    assert_eq!(
        summary["spans"], 4,
        "function + init from X-Ray, function + init from logs"
    );
    let raw = std::fs::read_to_string(dir.collect_path()).unwrap();
    assert!(!raw.contains("AKIDTEST") && !raw.contains("not-a-secret"));
    assert!(dir.spans_path().exists());
    runtime.block_on(sandbox.stop()).unwrap();
}

#[test]
fn an_unknown_function_names_its_log_group_and_exits_3() {
    let tmp = tempfile::tempdir().unwrap();
    let s = crate::util::start_sandbox(&tmp.path().join("truth.jsonl"));
    let from = start();
    let to = from + chrono::Duration::seconds(120);
    let out = stormwatch(&s.sandbox.api_url, tmp.path())
        .args([
            "collect",
            "--no-metrics",
            "--no-xray",
            "--function",
            "no-such-function",
        ])
        .args([
            "--from",
            &from.to_rfc3339(),
            "--to",
            &to.to_rfc3339(),
            "--out",
        ])
        .arg(tmp.path().join("out"))
        .timeout(Duration::from_secs(60))
        .assert()
        .code(3)
        .get_output()
        .clone();
    s.runtime.block_on(s.sandbox.stop()).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("/aws/lambda/no-such-function") && stderr.contains("function's name"),
        "{stderr}"
    );
}

/// How the stand-in AWS endpoint misbehaves.
#[derive(Clone, Copy)]
enum Fault {
    /// Accepts the connection, reads the request, never answers.
    Stall,
    /// Closes the connection as soon as the request arrived.
    Reset,
    /// Answers with this status and a binary body (and `Retry-After: 1` when set).
    Status(u16, bool),
    /// Answers 200 with bytes that are no protocol at all.
    Garbage,
    /// Answers one byte per second.
    Slow,
}

/// A loopback server that misbehaves as `fault` on every connection, for a bounded time.
fn faulty_server(fault: Fault) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(64) {
            let Ok(mut s) = stream else { return };
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = vec![0u8; 65536];
                let _ = s.read(&mut buf);
                let binary = b"\x00\x01\x02\xff\xfe\x1b[31mPANIC\x07 not json";
                match fault {
                    Fault::Stall => std::thread::sleep(Duration::from_secs(120)),
                    Fault::Reset => {}
                    Fault::Status(code, retry_after) => {
                        let _ = write!(
                            s,
                            "HTTP/1.1 {code} Oops\r\nx-amzn-RequestId: req-{code}\r\n{}Content-Length: {}\r\nConnection: close\r\n\r\n",
                            if retry_after {
                                "Retry-After: 1\r\n"
                            } else {
                                ""
                            },
                            binary.len()
                        );
                        let _ = s.write_all(binary);
                    }
                    Fault::Garbage => {
                        let _ = s.write_all(b"\x16\x03\x01 this is not HTTP \x00\xff\r\n\r\n");
                    }
                    Fault::Slow => {
                        for b in b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" {
                            if s.write_all(&[*b]).is_err() {
                                return;
                            }
                            std::thread::sleep(Duration::from_secs(1));
                        }
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

#[test]
fn a_misbehaving_endpoint_ends_in_bounded_time_with_a_clear_error_and_exit_3() {
    for (fault, want) in [
        (Fault::Stall, "no answer in time"),
        (Fault::Slow, "no answer in time"),
        (Fault::Reset, "GetMetricData failed"),
        (Fault::Status(500, false), "HTTP 500, request id req-500"),
        (Fault::Status(503, true), "HTTP 503, request id req-503"),
        (Fault::Garbage, "GetMetricData failed"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = write_run(&tmp.path().join("run"), Some(resources()), &[]);
        let endpoint = faulty_server(fault);
        let started = std::time::Instant::now();
        let out = stormwatch(&endpoint, tmp.path())
            .arg("collect")
            .arg(dir.root())
            .args(["--no-xray", "--no-logs", "--period", "60"])
            .args(["--connect-timeout", "2s", "--attempt-timeout", "2s"])
            .args(["--operation-timeout", "6s"])
            .timeout(Duration::from_secs(120))
            .assert()
            .code(3);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(stderr.contains(want), "{want}: {stderr}");
        assert!(
            stderr.contains(&format!("[endpoint {endpoint}]")),
            "{stderr}"
        );
        // Nothing unprintable reaches the terminal.
        assert!(
            !stderr.chars().any(|c| c.is_control() && c != '\n'),
            "{stderr:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(100),
            "took {:?}",
            started.elapsed()
        );
        // The run directory is untouched: no telemetry written.
        assert!(
            !dir.metrics_path().exists(),
            "metrics written after a failure"
        );
    }
}

#[test]
fn a_collect_killed_at_any_instant_leaves_the_previous_telemetry_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let s = start();
    let traces: Vec<(String, DateTime<Utc>)> = (0..40)
        .map(|i| (format!("1-{:08x}-{i:024x}", s.timestamp()), s))
        .collect();
    let dir = write_run(&tmp.path().join("run"), Some(resources()), &traces);
    let Running { runtime, sandbox } = start_sandbox();
    let t0 = s.timestamp_millis() as f64 / 1000.0 + 0.01;
    for (trace, _) in &traces {
        sandbox
            .segments()
            .put(&format!(
                r#"{{"trace_id":"{trace}","id":"00000000000000a1","name":"f","origin":"AWS::Lambda::Function","start_time":{t0},"end_time":{}}}"#,
                t0 + 0.3
            ))
            .unwrap();
    }
    // A complete collection first: the telemetry a killed one must not damage.
    let began = std::time::Instant::now();
    let status = stormwatch_process(&sandbox.api_url, tmp.path())
        .arg("collect")
        .arg(dir.root())
        .args(["--no-logs", "--period", "60"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let took = began.elapsed();
    let mut killed_mid_collection = 0;
    for k in 0..8u32 {
        // Instants spread over the time a whole collection took (process start included).
        let after = took * k / 8;
        let mut child = stormwatch_process(&sandbox.api_url, tmp.path())
            .arg("collect")
            .arg(dir.root())
            .args(["--no-logs", "--period", "60"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(after);
        if child.try_wait().unwrap().is_none() {
            killed_mid_collection += 1;
        }
        let _ = child.kill(); // SIGKILL; the collect may already have finished
        child.wait().unwrap();
        // Whatever the instant: every file under its final name is whole.
        let spans = stormwatch_model::parquet::read_spans(&dir.spans_path())
            .unwrap_or_else(|e| panic!("spans.parquet after a kill at {after:?}: {e}"));
        assert_eq!(spans.len(), 40, "after a kill at {after:?}");
        if dir.metrics_path().exists() {
            stormwatch_model::parquet::read_metrics(&dir.metrics_path())
                .unwrap_or_else(|e| panic!("metrics.parquet after a kill at {after:?}: {e}"));
        }
        let summary = std::fs::read_to_string(dir.collect_path()).unwrap();
        serde_json::from_str::<serde_json::Value>(&summary)
            .unwrap_or_else(|e| panic!("collect.json after a kill at {after:?}: {e}"));
    }
    eprintln!(
        "{killed_mid_collection} of 8 kills landed mid-collection (a whole one took {took:?})"
    );
    // The test means something only if kills landed while collecting.
    assert!(
        killed_mid_collection >= 2,
        "only {killed_mid_collection} of 8 kills mid-collection"
    );
    // And the run still analyzes.
    Command::cargo_bin("stormwatch")
        .unwrap()
        .arg("analyze")
        .arg(dir.root())
        .assert()
        .success();
    runtime.block_on(sandbox.stop()).unwrap();
}
