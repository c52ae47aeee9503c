//! The engine against a tiny in-test server on 127.0.0.1: phase windows, idle phases,
//! ramps, coordinated omission, extraction / on_start / poll flows, thresholds, trace ids.

mod server;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use server::{Reply, run_scenario, start};
use stormwatch_load::evaluate_thresholds;
use stormwatch_model::{HistogramFile, RequestRecord, RunDir, RunStatus};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_fall_in_phase_windows_idle_sends_nothing_and_trace_ids_match() {
    let srv = start(|_, _| Reply::ok("{}")).await;
    let text = r#"
[target]
url = "http://unused"
[aws]
functions = ["store-products"]
[[flows]]
name = "browse"
[[flows.steps]]
path = "/prod/products/${random_int(1,50)}"
[[phases]]
name = "a"
model = "open"
rate = 50
duration = "1s"
[[phases]]
name = "gap"
model = "idle"
duration = "1s"
[[phases]]
name = "b"
model = "open"
rate = 50
duration = "1s"
[[thresholds]]
check = "p99 < 10000"
[[thresholds]]
phase = "a"
check = "p50 < 0.001"
[[thresholds]]
phase = "b"
check = "achieved_rate >= 45"
"#;
    let (out, records, tmp) = run_scenario(text, &srv.url).await;
    let m = &out.manifest;
    assert_eq!(m.status, RunStatus::Completed);
    // The manifest on disk is the final one.
    let disk = RunDir::new(tmp.path().join("run")).read_manifest().unwrap();
    assert_eq!(&disk, m);
    // AWS resources named, no `[trace]`: traced on the default budget, 20/s + 1 %.
    assert_eq!(m.trace_budget_per_sec, Some(20.0));
    assert!((m.trace_sampling - 0.01).abs() < f64::EPSILON);
    let windows = m.phase_windows();
    let per_phase = |p: u32| records.iter().filter(|r| r.phase == p).count();
    assert!((49..=51).contains(&per_phase(0)), "{}", per_phase(0));
    assert_eq!(per_phase(1), 0);
    assert!((49..=51).contains(&per_phase(2)), "{}", per_phase(2));
    for r in &records {
        assert!(
            windows[r.phase as usize].contains_nanos(r.intended),
            "record {} of phase {} intended outside its window",
            r.sequence,
            r.phase
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.endpoint, "GET /prod/products/:random_int");
    }
    // 50 requests a second against a budget of 20/s holding one second's worth: ~20 + 20
    // traced per phase (the idle second refills the bucket), plus 1 % of the rest.
    for phase in [0, 2] {
        let traced = records
            .iter()
            .filter(|r| r.phase == phase && r.sampled)
            .count();
        assert!(
            (36..=46).contains(&traced),
            "phase {phase}: {traced} traced"
        );
    }
    // The server saw nothing while the idle phase ran (allowing 50 ms for stragglers).
    let seen = srv.seen();
    assert_eq!(seen.len(), records.len());
    // Trace ids and sampling decisions sent are the ones recorded.
    let sent: HashSet<(String, bool)> = seen
        .iter()
        .map(|s| {
            let h = s
                .header("x-amzn-trace-id")
                .expect("trace header on every request");
            let (root, sampled) = h.split_once(';').unwrap();
            (
                root.trim_start_matches("Root=").to_string(),
                sampled == "Sampled=1",
            )
        })
        .collect();
    let recorded: HashSet<(String, bool)> = records
        .iter()
        .map(|r| (r.trace_id.clone().unwrap(), r.sampled))
        .collect();
    assert_eq!(sent, recorded);
    assert_eq!(sent.len(), records.len(), "ids are unique");
    // Idle: compare server arrival instants with the idle window via the run's clock.
    let gap = windows[1];
    let gap_ms = gap.duration().as_millis();
    assert!((990..=1100).contains(&gap_ms), "{gap_ms}");
    let first_b = seen
        .iter()
        .filter(|s| s.path.starts_with("/prod"))
        .nth(per_phase(0))
        .unwrap()
        .at;
    let last_a = seen[per_phase(0) - 1].at;
    assert!(
        first_b - last_a >= Duration::from_millis(950),
        "{:?}",
        first_b - last_a
    );
    // Histograms were written per phase × endpoint.
    let h: HistogramFile = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("run/histograms.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(h.entries.len(), 2);
    assert_eq!(
        h.entries[0].corrected.decode().unwrap().len(),
        per_phase(0) as u64
    );
    assert!(tmp.path().join("run/series.csv").exists());
    // Thresholds: one passes on both phases, one fails, one passes.
    let verdicts = evaluate_thresholds(m, &out.stats);
    let passed: Vec<(String, bool)> = verdicts
        .iter()
        .map(|v| (v.phase.clone().unwrap_or_default(), v.passed))
        .collect();
    assert_eq!(
        passed,
        vec![
            ("a".into(), true),
            ("b".into(), true),
            ("a".into(), false),
            ("b".into(), true)
        ],
        "{verdicts:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrected_latency_shows_a_stall_that_raw_latency_hides() {
    // The 100th request (about 1 s in at 100/s) stalls for 1 s; with one connection the
    // requests scheduled during the stall wait to be sent.
    let srv = start(|_, n| {
        let mut r = Reply::ok("ok");
        if n == 100 {
            r.delay = Duration::from_secs(1);
        }
        r
    })
    .await;
    let text = r#"
[target]
url = "http://unused"
connections = 1
[[flows]]
name = "f"
steps = [{ path = "/x" }]
[[phases]]
name = "steady"
model = "open"
rate = 100
duration = "3s"
"#;
    let (_out, records, _tmp) = run_scenario(text, &srv.url).await;
    assert!((295..=301).contains(&records.len()), "{}", records.len());
    let slow = |f: fn(&RequestRecord) -> Duration, ms: u64| {
        records
            .iter()
            .filter(|r| f(r) > Duration::from_millis(ms))
            .count()
    };
    let corrected_slow = slow(RequestRecord::corrected_latency, 300);
    // Above 600 ms raw: only the 1 s stall, with room for a slow machine.
    let raw_slow = slow(RequestRecord::raw_latency, 600);
    // ~70 requests were scheduled in the first 700 ms of the stall.
    assert!(
        corrected_slow >= 50,
        "corrected shows the stall: {corrected_slow}"
    );
    assert_eq!(raw_slow, 1, "raw only sees the stalled request itself");
    let max_corrected = records
        .iter()
        .map(RequestRecord::corrected_latency)
        .max()
        .unwrap();
    assert!(
        max_corrected >= Duration::from_millis(900),
        "{max_corrected:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_start_token_extraction_and_poll_flows_work() {
    let polls = Arc::new(AtomicUsize::new(0));
    let p2 = polls.clone();
    let srv = start(
        move |req, _| match (req.method.as_str(), req.path.as_str()) {
            ("POST", "/auth/token") => Reply::ok(r#"{"token":"tok-123"}"#),
            ("GET", "/me") => {
                if req.header("authorization") == Some("Bearer tok-123") {
                    Reply::ok(r#"{"id":"u1"}"#)
                } else {
                    Reply::status(401, "{}")
                }
            }
            ("POST", "/jobs") => Reply::status(202, r#"{"jobId":"j-7"}"#),
            ("GET", "/jobs/j-7") => {
                // Every third poll completes.
                if p2.fetch_add(1, Ordering::SeqCst) % 3 == 2 {
                    Reply::ok(r#"{"status":"completed"}"#)
                } else {
                    Reply::ok(r#"{"status":"running"}"#)
                }
            }
            _ => Reply::status(404, "{}"),
        },
    )
    .await;
    let text = r#"
[target]
url = "http://unused"
[[flows]]
name = "report"
[[flows.on_start]]
method = "POST"
path = "/auth/token"
body = { user = "u", n = "${random_int(1,9)}" }
extract = [{ var = "token", json = "/token" }]
[[flows.steps]]
path = "/me"
headers = { Authorization = "Bearer ${token}" }
[[flows.steps]]
method = "POST"
path = "/jobs"
expect = [202]
extract = [{ var = "job", json = "/jobId" }]
[[flows.steps]]
path = "/jobs/${job}"
endpoint = "GET /jobs/:id"
poll = { every = "20ms", timeout = "2s", field = "/status", until = ["completed", "failed"] }
[[phases]]
name = "users"
model = "closed"
users = 2
duration = "1500ms"
"#;
    let (out, records, _tmp) = run_scenario(text, &srv.url).await;
    let by = |e: &str| {
        records
            .iter()
            .filter(|r| r.endpoint == e)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        by("POST /auth/token").len(),
        2,
        "token fetched once per virtual user"
    );
    let me = by("GET /me");
    assert!(me.len() >= 4, "{}", me.len());
    assert!(me.iter().all(|r| r.status == 200), "token reused");
    assert!(records.iter().all(|r| r.error.is_none()), "{records:#?}");
    let polls = by("GET /jobs/:id");
    assert!(polls.len() >= 3 * by("POST /jobs").len() - 2);
    let wf = out
        .stats
        .get(&(0, "workflow GET /jobs/:id".to_string()))
        .expect("workflow metric");
    assert!(wf.count >= 2 && wf.errors == 0);
    // Submit to completion spans polls 20 ms apart (the two users share the poll counter,
    // so some jobs complete at once, but not all).
    assert!(wf.corrected.max() >= 40_000, "{} µs", wf.corrected.max());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_errors_are_counted_by_kind_and_never_stop_the_run() {
    // A port nothing listens on: bind, note it, close.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let text = r#"
[target]
url = "http://unused"
timeout = "200ms"
[[flows]]
name = "f"
steps = [{ path = "/x" }]
[[phases]]
name = "p"
model = "open"
rate = 20
duration = "500ms"
"#;
    let (out, records, _tmp) = run_scenario(text, &closed).await;
    assert_eq!(out.manifest.status, RunStatus::Completed);
    assert_eq!(records.len(), 10);
    assert!(
        records
            .iter()
            .all(|r| r.status == 0 && r.error == Some(stormwatch_model::ErrorKind::ConnectRefused))
    );

    let slow = start(|_, _| {
        let mut r = Reply::ok("late");
        r.delay = Duration::from_secs(2);
        r
    })
    .await;
    let (out, records, _tmp) = run_scenario(text, &slow.url).await;
    assert_eq!(out.manifest.status, RunStatus::Completed);
    assert_eq!(records.len(), 10);
    for r in &records {
        assert_eq!(r.error, Some(stormwatch_model::ErrorKind::Timeout));
        let raw = r.raw_latency();
        assert!(
            raw >= Duration::from_millis(200) && raw < Duration::from_secs(1),
            "{raw:?}"
        );
    }
}
