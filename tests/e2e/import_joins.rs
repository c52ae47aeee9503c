//! Exact trace joins by request id for imported runs: the test sends requests itself to a
//! loopback sandbox, keeps each response's `x-amzn-RequestId` (or `apigw-requestid`) but
//! not its trace id, writes them as the stormwatch Locust listener does, then imports,
//! collects and analyzes. The sandbox's ground truth (which trace each request id got) is
//! the independent answer every join is checked against.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use assert_cmd::Command;
use stormwatch_model::RunDir;
use stormwatch_model::request_ids::{JoinVia, read_request_ids, read_trace_joins};

use crate::util::{Running, start_sandbox_with, stormwatch};

/// Requests each case sends.
const N: usize = 24;

/// A sandbox front of `kind` tracing every request, function `f` behind `GET /items/{id}`.
fn config(kind: &str) -> String {
    format!(
        "[api]\nkind = \"{kind}\"\nname = \"joins\"\nstage = \"prod\"\n\n\
         [telemetry]\nresolution = \"1s\"\nsampling_reservoir = 1000\nsampling_rate = 1.0\n\n\
         [functions.f]\ninit = \"fixed 30ms\"\n\n\
         [[routes]]\nroute = \"GET /items/{{id}}\"\nfunction = \"f\"\nhandler = \"uniform 2ms..6ms\"\n"
    )
}

/// One request as a load tool saw it.
struct Sent {
    start: f64,
    ms: f64,
    status: u16,
    /// Response headers, names lower-cased.
    headers: HashMap<String, String>,
}

/// `GET path` on a fresh connection; status and headers of the answer.
fn get(addr: &str, path: &str) -> (u16, HashMap<String, String>) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let head = text.split("\r\n\r\n").next().unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers)
}

/// `N` requests, one after another (a bounded loop).
fn send(api_url: &str) -> Vec<Sent> {
    let addr = api_url.trim_start_matches("http://");
    (0..N)
        .map(|i| {
            let t0 = SystemTime::now();
            let (status, headers) = get(addr, &format!("/items/{i}"));
            let ms = t0.elapsed().unwrap().as_secs_f64() * 1000.0;
            let start = t0.duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
            Sent {
                start,
                ms,
                status,
                headers,
            }
        })
        .collect()
}

/// The Locust listener's NDJSON with only the request-id headers kept (no trace id).
fn locust_ndjson(sent: &[Sent]) -> String {
    let mut out = String::from("{\"stormwatch_locust\":1,\"locust_version\":\"2.32.0\"}\n");
    for s in sent {
        let headers: serde_json::Map<String, serde_json::Value> = s
            .headers
            .iter()
            .filter(|(k, _)| *k == "x-amzn-requestid" || *k == "apigw-requestid")
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        let line = serde_json::json!({
            "start_time": s.start,
            "response_time": s.ms,
            "name": "/items/[id]",
            "method": "GET",
            "status": s.status,
            "exception": null,
            "user_class": "Reader",
            "response_length": 0,
            "headers": headers,
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

/// Request id the front answered → trace id, from the ground truth.
fn truth_traces(path: &Path) -> HashMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| {
            (
                v["response_request_id"].as_str().unwrap().to_string(),
                v["trace_id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Sends `N` requests to a sandbox of `kind`, imports them, collects and analyzes.
/// Returns the run, the ground truth by request id and the sent requests.
fn run_case(
    tmp: &Path,
    kind: &str,
    collect_flags: &[&str],
) -> (RunDir, HashMap<String, String>, Vec<Sent>) {
    let truth = tmp.join("truth.jsonl");
    let Running { runtime, sandbox } = start_sandbox_with(&config(kind), 5, Some(&truth));
    let sent = send(&sandbox.api_url);
    let file = tmp.join("requests.ndjson");
    std::fs::write(&file, locust_ndjson(&sent)).unwrap();
    let out = Command::cargo_bin("stormwatch")
        .unwrap()
        .args(["import", "locust"])
        .arg(&file)
        .arg("--out")
        .arg(tmp.join("runs"))
        .args(["--function", "f"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = RunDir::new(stdout.lines().last().unwrap().trim());
    let collected = stormwatch(&sandbox.api_url, tmp)
        .arg("collect")
        .arg(dir.root())
        .arg("--no-metrics")
        .args(collect_flags)
        .timeout(Duration::from_secs(120))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let collected = String::from_utf8(collected).unwrap();
    assert!(
        collected.contains(&format!(
            "request ids: {N} imported requests known by request id only:"
        )),
        "{collected}"
    );
    stormwatch(&sandbox.api_url, tmp)
        .arg("analyze")
        .arg(dir.root())
        .timeout(Duration::from_secs(120))
        .assert()
        .success();
    sandbox.flush().unwrap();
    runtime.block_on(sandbox.stop()).unwrap();
    (dir, truth_traces(&truth), sent)
}

fn collect_json(dir: &RunDir) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.collect_path()).unwrap()).unwrap()
}

fn collect_joins(dir: &RunDir) -> serde_json::Value {
    collect_json(dir)["trace_joins"].clone()
}

/// Each join is the trace the ground truth gave the request's id; `N` of them, all
/// through `via`, no two the same.
fn joins_match_the_truth(dir: &RunDir, truth: &HashMap<String, String>, via: JoinVia) {
    let ids = read_request_ids(&dir.request_ids_path()).unwrap().unwrap();
    let joins = read_trace_joins(&dir.trace_joins_path()).unwrap().unwrap();
    assert_eq!(joins.len(), N, "{:?}", collect_joins(dir));
    let by_sequence: HashMap<u64, &str> = ids
        .iter()
        .map(|r| (r.sequence, r.request_id.as_str()))
        .collect();
    let mut traces = std::collections::HashSet::new();
    for j in &joins {
        let id = by_sequence[&j.sequence];
        assert_eq!(j.request_id, id);
        assert_eq!(j.trace_id, truth[id], "request {id} joined another trace");
        assert_eq!(j.via, via);
        traces.insert(j.trace_id.clone());
    }
    assert_eq!(traces.len(), N, "no two requests share a trace");
}

/// Every request joined exactly the trace the ground truth gave its request id, through
/// `via`; the analysis uses them (its waterfall counts every request as traced) and says so.
fn every_request_gets_its_own_trace(kind: &str, via: JoinVia) {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, truth, sent) = run_case(tmp.path(), kind, &[]);
    assert!(sent.iter().all(|s| s.status == 200));
    let ids = read_request_ids(&dir.request_ids_path()).unwrap().unwrap();
    assert_eq!(ids.len(), N);
    // The ids the import kept are the ones the responses carried, in order.
    let answered: Vec<&str> = sent
        .iter()
        .map(|s| s.headers["x-amzn-requestid"].as_str())
        .collect();
    let imported: Vec<&str> = ids.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(imported, answered);
    joins_match_the_truth(&dir, &truth, via);
    let counts = collect_joins(&dir);
    assert_eq!(counts["requests"], N);
    assert_eq!(counts["unresolved"], 0);
    let analysis = dir.read_analysis().unwrap();
    let waterfall = analysis.phases[0].waterfall.as_ref().expect("waterfall");
    assert_eq!(waterfall.traced_requests, N as u64);
    let notes = analysis.sources.notes.join("\n");
    assert!(
        notes.contains(&format!(
            "{N} imported request(s) had a request id but no trace id: {N} joined their X-Ray \
             trace by request id"
        )),
        "{notes}"
    );
}

#[test]
fn rest_api_request_ids_join_their_traces_through_stage_segments() {
    every_request_gets_its_own_trace("rest", JoinVia::ApigwSegment);
}

#[test]
fn function_url_request_ids_join_their_traces_through_report_lines() {
    every_request_gets_its_own_trace("function_url", JoinVia::ReportLine);
}

/// Requests joined through REPORT lines are the run's own traced requests: they share
/// `--max-traces` (and are not fetched again as traces the run did not start).
#[test]
fn report_line_joins_compete_within_max_traces() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, truth, _) = run_case(tmp.path(), "function_url", &["--max-traces", "5"]);
    joins_match_the_truth(&dir, &truth, JoinVia::ReportLine);
    let xray = &collect_json(&dir)["xray"];
    assert_eq!(xray["selection"]["traced_requests"], N);
    assert_eq!(xray["requested"], 5);
    assert_eq!(xray["found"], 5);
    assert_eq!(xray["other_traces"], 0);
}

#[test]
fn http_api_request_ids_join_nothing_and_the_note_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, truth, sent) = run_case(tmp.path(), "http", &[]);
    assert!(
        sent.iter()
            .all(|s| !s.headers.contains_key("x-amzn-requestid"))
    );
    assert!(
        sent.iter()
            .all(|s| truth.contains_key(&s.headers["apigw-requestid"]))
    );
    let ids = read_request_ids(&dir.request_ids_path()).unwrap().unwrap();
    assert_eq!(ids.len(), N);
    assert_eq!(
        read_trace_joins(&dir.trace_joins_path()).unwrap(),
        Some(vec![])
    );
    let counts = collect_joins(&dir);
    assert_eq!(
        (counts["http_api"].as_u64(), counts["unresolved"].as_u64()),
        (Some(N as u64), Some(0))
    );
    let notes = dir.read_analysis().unwrap().sources.notes.join("\n");
    assert!(
        notes.contains(&format!(
            "{N} imported request(s) had a request id but no trace id: 0 joined"
        )) && notes.contains(&format!(
            "{N} are HTTP API ids (apigw-requestid), which no trace carries: X-Ray traces REST APIs only"
        )),
        "{notes}"
    );
}
