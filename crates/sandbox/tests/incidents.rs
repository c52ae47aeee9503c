//! Incidents driven in-process over real HTTP on 127.0.0.1: a table out of capacity
//! (throttles, SDK retries lengthening invocations, then failure) and a scheduled fault window
//! that changes behaviour only inside it.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use stormwatch_sandbox::{Config, Options, Sandbox, key};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn start(src: &str, gt: &Path) -> Sandbox {
    let config = Config::parse(Path::new("test.toml"), src).expect("test config is valid");
    Sandbox::start(
        config,
        Options {
            seed: 5,
            listen: "127.0.0.1:0".parse().unwrap(),
            ground_truth: Some(gt.to_path_buf()),
        },
    )
    .await
    .unwrap()
}

async fn get(base: &str, path: &str) -> u16 {
    let addr = base.trim_start_matches("http://").to_string();
    let path = path.to_string();
    let fut = async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut buf = String::new();
        s.read_to_string(&mut buf).await.unwrap();
        buf[9..12].parse().unwrap()
    };
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("request finished within 10 s")
}

fn truth(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const TABLE: &str = r#"
[api]
kind = "rest"

[telemetry]
resolution = "1s"

[functions.vote]
init = "fixed 0ms"

[tables.votes]
read_capacity = 100
write_capacity = 2
max_retries = 2
base_backoff = "50ms"

[[routes]]
route = "GET /prod/vote/{id}"
function = "vote"
handler = "fixed 10ms"
table = "votes"
writes = 1
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_throttles_at_capacity_and_retries_lengthen_invocations() {
    let dir = tempfile::tempdir().unwrap();
    let gt = dir.path().join("gt.jsonl");
    let sb = start(TABLE, &gt).await;
    // The bucket holds one second of capacity: two writes pass.
    assert_eq!(get(&sb.api_url, "/prod/vote/1").await, 200);
    assert_eq!(get(&sb.api_url, "/prod/vote/2").await, 200);
    let burst: Vec<_> = (0..4)
        .map(|i| {
            let base = sb.api_url.clone();
            tokio::spawn(async move { get(&base, &format!("/prod/vote/{i}")).await })
        })
        .collect();
    for b in burst {
        assert_eq!(b.await.unwrap(), 502);
    }
    let now = SystemTime::now();
    let sum = |m: &'static str| -> f64 {
        sb.metrics()
            .datapoints(
                &key("AWS/DynamoDB", m, &[("TableName", "votes")]),
                now - Duration::from_secs(60),
                now + Duration::from_secs(60),
            )
            .iter()
            .map(|d| d.aggregate.sum)
            .sum()
    };
    let (consumed, throttled, events) = (
        sum("ConsumedWriteCapacityUnits"),
        sum("ThrottledRequests"),
        sum("WriteThrottleEvents"),
    );
    sb.stop().await.unwrap();
    assert!((consumed - 2.0).abs() < 1e-9, "consumed {consumed}");
    // Four calls, each tried three times (first try + 2 retries).
    assert!((throttled - 12.0).abs() < 1e-9, "throttled {throttled}");
    assert!((events - 12.0).abs() < 1e-9, "events {events}");
    let t = truth(&gt);
    for r in &t[..2] {
        assert!(r["handler_ms"].as_f64().unwrap() < 20.0, "{r}");
    }
    for r in &t[2..] {
        assert_eq!(r["throttled_by"], "table", "{r}");
        // 10 ms handler + at least 25 ms + 50 ms of backoff.
        let h = r["handler_ms"].as_f64().unwrap();
        assert!(h >= 85.0, "retries lengthen the invocation: {h} ms");
        let wall = (r["finish_unix_ns"].as_u64().unwrap() - r["arrival_unix_ns"].as_u64().unwrap())
            as f64
            / 1e6;
        assert!(wall >= 85.0, "client-visible latency {wall} ms");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_window_changes_behaviour_only_inside_it() {
    let dir = tempfile::tempdir().unwrap();
    let gt = dir.path().join("gt.jsonl");
    let src = r#"
[api]
kind = "http"

[functions.f]
init = "fixed 0ms"

[[routes]]
route = "GET /items"
function = "f"
handler = "fixed 5ms"

[[faults]]
at = "1s"
duration = "1s"
error_rate = 1.0
"#;
    let sb = start(src, &gt).await;
    // The fault's clock started inside `start`, a little earlier: 500 ms of margin on
    // either side of the window.
    let started = Instant::now();
    let mut statuses = Vec::new();
    for at in [0u64, 1500, 3000] {
        let wait = Duration::from_millis(at).saturating_sub(started.elapsed());
        tokio::time::sleep(wait).await;
        statuses.push(get(&sb.api_url, "/items").await);
    }
    sb.stop().await.unwrap();
    assert_eq!(statuses, [200, 500, 200]);
    let active: Vec<bool> = truth(&gt)
        .iter()
        .map(|r| r["fault_active"] == true)
        .collect();
    assert_eq!(active, [false, true, false]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_fault_marks_only_requests_that_use_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let gt = dir.path().join("gt.jsonl");
    let src = format!(
        "{TABLE}
[[routes]]
route = \"GET /prod/health\"
function = \"vote\"
handler = \"fixed 1ms\"

[[faults]]
at = \"0s\"
duration = \"60m\"
table = \"votes\"
table_capacity_factor = 0.5
"
    );
    let sb = start(&src, &gt).await;
    assert_eq!(get(&sb.api_url, "/prod/health").await, 200);
    assert_eq!(get(&sb.api_url, "/prod/vote/1").await, 200);
    sb.stop().await.unwrap();
    let active: Vec<(String, bool)> = truth(&gt)
        .iter()
        .map(|r| {
            (
                r["route"].as_str().unwrap().to_string(),
                r["fault_active"] == true,
            )
        })
        .collect();
    assert_eq!(
        active,
        [
            ("GET /prod/health".to_string(), false),
            ("GET /prod/vote/{id}".to_string(), true)
        ]
    );
}
