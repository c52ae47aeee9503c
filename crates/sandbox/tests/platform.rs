//! Drives a sandbox in-process over real HTTP on 127.0.0.1 and checks its behaviour against
//! the ground truth and metrics it records: cold starts, throttles per API kind, idle reaping,
//! provisioned concurrency, stage throttling, unknown routes, metrics, seed determinism.

#![allow(clippy::float_cmp)] // Summed counts are small integers, exact in f64.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use stormwatch_sandbox::{Config, Options, Sandbox, key};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config(src: &str) -> Config {
    Config::parse(Path::new("test.toml"), src).expect("test config is valid")
}

fn base(kind: &str, function: &str, route: &str) -> String {
    format!(
        "[api]\nkind = \"{kind}\"\n\n[telemetry]\nresolution = \"1s\"\n\n[functions.f]\n{function}\n\n[[routes]]\nroute = \"GET /prod/items/{{id}}\"\nfunction = \"f\"\n{route}\n"
    )
}

async fn start(src: &str, seed: u64, dir: &Path) -> (Sandbox, PathBuf) {
    let gt = dir.join(format!("gt-{seed}-{}.jsonl", rand_suffix()));
    let sb = Sandbox::start(
        config(src),
        Options {
            seed,
            listen: "127.0.0.1:0".parse().unwrap(),
            ground_truth: Some(gt.clone()),
        },
    )
    .await
    .unwrap();
    (sb, gt)
}

fn rand_suffix() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// One HTTP/1.1 request on a fresh connection; returns status and body. Bounded by 10 s.
async fn get(base: &str, path: &str, trace: Option<&str>) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let fut = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let trace = trace.map_or(String::new(), |t| format!("X-Amzn-Trace-Id: {t}\r\n"));
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{trace}Connection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut buf = String::new();
        s.read_to_string(&mut buf).await.unwrap();
        let status: u16 = buf[9..12].parse().unwrap();
        let body = buf.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        (status, body)
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

async fn burst(base: &str, n: usize) -> Vec<u16> {
    let reqs: Vec<_> = (0..n)
        .map(|i| {
            let base = base.to_string();
            tokio::spawn(async move { get(&base, &format!("/prod/items/{i}"), None).await.0 })
        })
        .collect();
    let mut out = Vec::new();
    for r in reqs {
        out.push(r.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_gives_r_cold_starts_and_n_minus_r_throttles_per_api_kind() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, throttle_status) in [("rest", 500), ("http", 500), ("function_url", 429)] {
        let src = base(
            kind,
            "init = \"fixed 150ms\"\nreserved_concurrency = 3",
            // Long enough that all 8 arrive while the first 3 still run, however slowly
            // the machine spawns them.
            "handler = \"fixed 1s\"",
        );
        let (sb, gt) = start(&src, 1, dir.path()).await;
        let statuses = burst(&sb.api_url, 8).await;
        sb.stop().await.unwrap();
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            3,
            "{kind}: {statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == throttle_status).count(),
            5,
            "{kind}: {statuses:?}"
        );
        let t = truth(&gt);
        assert_eq!(t.len(), 8);
        assert_eq!(t.iter().filter(|r| r["cold"] == true).count(), 3, "{kind}");
        assert_eq!(
            t.iter().filter(|r| r["throttled_by"] == "lambda").count(),
            5,
            "{kind}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_gap_longer_than_idle_timeout_makes_next_request_cold() {
    let dir = tempfile::tempdir().unwrap();
    let src = base("rest", "init = \"fixed 50ms\"\nidle_timeout = \"2s\"", "");
    let (sb, gt) = start(&src, 1, dir.path()).await;
    get(&sb.api_url, "/prod/items/1", None).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    get(&sb.api_url, "/prod/items/2", None).await;
    tokio::time::sleep(Duration::from_millis(2300)).await;
    get(&sb.api_url, "/prod/items/3", None).await;
    sb.stop().await.unwrap();
    let cold: Vec<bool> = truth(&gt).iter().map(|r| r["cold"] == true).collect();
    assert_eq!(cold, [true, false, true]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioned_environments_never_cold_and_spill_over() {
    let dir = tempfile::tempdir().unwrap();
    let src = base(
        "rest",
        "init = \"fixed 100ms\"\nprovisioned_concurrency = 2",
        // Long enough that each burst's requests overlap however slowly they are spawned.
        "handler = \"fixed 1s\"",
    );
    let (sb, gt) = start(&src, 1, dir.path()).await;
    assert_eq!(burst(&sb.api_url, 2).await, [200, 200]);
    assert_eq!(burst(&sb.api_url, 3).await, [200, 200, 200]);
    let now = SystemTime::now();
    let spill = sb.metrics().datapoints(
        &key(
            "AWS/Lambda",
            "ProvisionedConcurrencySpilloverInvocations",
            &[("FunctionName", "f")],
        ),
        now - Duration::from_secs(60),
        now + Duration::from_secs(60),
    );
    sb.stop().await.unwrap();
    let t = truth(&gt);
    let provisioned = t
        .iter()
        .filter(|r| r["env_id"].as_str().unwrap().contains("-pc-"))
        .collect::<Vec<_>>();
    assert_eq!(provisioned.len(), 4);
    assert!(provisioned.iter().all(|r| r["cold"] == false));
    assert_eq!(t.iter().filter(|r| r["cold"] == true).count(), 1);
    assert_eq!(spill.iter().map(|d| d.aggregate.count).sum::<u64>(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage_token_bucket_throttles_with_429() {
    let dir = tempfile::tempdir().unwrap();
    let src = base("rest", "init = \"fixed 0ms\"", "").replace(
        "kind = \"rest\"",
        "kind = \"rest\"\nrate_limit = 0.5\nburst = 2",
    );
    let (sb, gt) = start(&src, 1, dir.path()).await;
    let mut statuses = Vec::new();
    for i in 0..5 {
        statuses.push(get(&sb.api_url, &format!("/prod/items/{i}"), None).await.0);
    }
    sb.stop().await.unwrap();
    assert_eq!(statuses, [200, 200, 429, 429, 429]);
    assert_eq!(
        truth(&gt)
            .iter()
            .filter(|r| r["throttled_by"] == "api")
            .count(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_route_answers_like_api_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let (sb, _) = start(&base("rest", "", ""), 1, dir.path()).await;
    let (s, b) = get(&sb.api_url, "/nope", None).await;
    sb.stop().await.unwrap();
    assert_eq!(
        (s, b.as_str()),
        (403, r#"{"message":"Missing Authentication Token"}"#)
    );
    let (sb, _) = start(&base("http", "", ""), 2, dir.path()).await;
    let (s, b) = get(&sb.api_url, "/nope", None).await;
    sb.stop().await.unwrap();
    assert_eq!((s, b.as_str()), (404, r#"{"message":"Not Found"}"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_period_metrics_equal_ground_truth_counts() {
    let dir = tempfile::tempdir().unwrap();
    let src = base(
        "rest",
        "init = \"fixed 100ms\"\nreserved_concurrency = 2\nerror_rate = 0.3",
        "handler = \"uniform 10ms..60ms\"",
    );
    let (sb, gt) = start(&src, 9, dir.path()).await;
    burst(&sb.api_url, 6).await;
    for i in 0..10 {
        get(&sb.api_url, &format!("/prod/items/{i}"), None).await;
    }
    get(&sb.api_url, "/missing", None).await;
    let now = SystemTime::now();
    let sum = |ns: &'static str, m: &'static str, dims: &[(&'static str, &str)]| -> (f64, u64) {
        sb.metrics()
            .datapoints(
                &key(ns, m, dims),
                now - Duration::from_secs(60),
                now + Duration::from_secs(60),
            )
            .iter()
            .fold((0.0, 0), |(s, c), d| {
                (s + d.aggregate.sum, c + d.aggregate.count)
            })
    };
    let f = [("FunctionName", "f")];
    let api = [("ApiName", "sandbox"), ("Stage", "prod")];
    let invocations = sum("AWS/Lambda", "Invocations", &f).0;
    let throttles = sum("AWS/Lambda", "Throttles", &f).0;
    let errors = sum("AWS/Lambda", "Errors", &f).0;
    let durations = sum("AWS/Lambda", "Duration", &f).1;
    let count = sum("AWS/ApiGateway", "Count", &api).0;
    let e4 = sum("AWS/ApiGateway", "4XXError", &api).0;
    let e5 = sum("AWS/ApiGateway", "5XXError", &api).0;
    sb.stop().await.unwrap();
    let t = truth(&gt);
    let n = |p: &dyn Fn(&serde_json::Value) -> bool| t.iter().filter(|r| p(r)).count() as f64;
    assert_eq!(count, 17.0);
    assert_eq!(invocations, n(&|r| !r["env_id"].is_null()));
    assert_eq!(durations as f64, invocations);
    assert_eq!(throttles, n(&|r| r["throttled_by"] == "lambda"));
    assert!(throttles >= 4.0, "burst of 6 vs reserved 2: {throttles}");
    assert_eq!(errors, n(&|r| r["status"] == 502));
    assert_eq!(e4, n(&|r| r["status"].as_u64().unwrap() / 100 == 4));
    assert_eq!(e5, n(&|r| r["status"].as_u64().unwrap() >= 500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_seed_repeats_every_draw_and_incoming_root_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let src = base(
        "rest",
        "init = \"lognormal median=20ms p99=80ms\"\nerror_rate = 0.5",
        "handler = \"lognormal median=5ms p99=40ms\"",
    );
    let mut runs = Vec::new();
    for _ in 0..2 {
        let (sb, gt) = start(&src, 42, dir.path()).await;
        for i in 0..6 {
            get(&sb.api_url, &format!("/prod/items/{i}"), None).await;
        }
        let root = "1-5759e988-bd862e3fe1be46a994272793";
        get(
            &sb.api_url,
            "/prod/items/x",
            Some(&format!("root={root};Sampled=1;X=y")),
        )
        .await;
        sb.stop().await.unwrap();
        let t = truth(&gt);
        assert_eq!(t[6]["trace_id"], root);
        runs.push(
            t.iter()
                .map(|r| {
                    (
                        // The id's second field is the arrival's epoch seconds (X-Ray format),
                        // which may differ between runs; the random part must not.
                        r["trace_id"].as_str().unwrap()[11..].to_string(),
                        r["handler_ms"].clone(),
                        r["init_ms"].clone(),
                        r["status"].clone(),
                    )
                })
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(runs[0], runs[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampling_decisions_do_not_shift_the_other_draws() {
    // One sandbox traces everything from its reservoir (no random draw), the other draws for
    // every request: init, handler and errors must still repeat with the seed.
    let dir = tempfile::tempdir().unwrap();
    let mut runs = Vec::new();
    for telemetry in [
        "sampling_reservoir = 1000",
        "sampling_reservoir = 0\nsampling_rate = 0.5",
    ] {
        let src = base(
            "rest",
            "init = \"lognormal median=20ms p99=80ms\"\nerror_rate = 0.5\nidle_timeout = \"1s\"",
            "handler = \"lognormal median=5ms p99=40ms\"",
        )
        .replace(
            "resolution = \"1s\"",
            &format!("resolution = \"1s\"\n{telemetry}"),
        );
        let (sb, gt) = start(&src, 7, dir.path()).await;
        for i in 0..6 {
            get(&sb.api_url, &format!("/prod/items/{i}"), None).await;
        }
        sb.stop().await.unwrap();
        runs.push(
            truth(&gt)
                .iter()
                .map(|r| {
                    (
                        r["handler_ms"].clone(),
                        r["init_ms"].clone(),
                        r["status"].clone(),
                    )
                })
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(runs[0], runs[1]);
}

/// A client hanging up mid-invocation (a killed load run, `curl -m 0.05`) keeps no
/// environment: as on Lambda, the invocation runs to its end and releases it, so later
/// requests are served, and its ground-truth line says `client_gone`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_hanging_up_mid_invocation_keep_no_environment() {
    let dir = tempfile::tempdir().unwrap();
    let src = base(
        "rest",
        "init = \"fixed 0ms\"\nreserved_concurrency = 2",
        "handler = \"fixed 500ms\"",
    );
    let (sb, gt) = start(&src, 1, dir.path()).await;
    let addr = sb.api_url.trim_start_matches("http://").to_string();
    let mut clients = Vec::new();
    for i in 0..2 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let req = format!("GET /prod/items/gone{i} HTTP/1.1\r\nHost: x\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        clients.push(s);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(clients);
    // The two invocations end 500 ms after they started; allow 10 s on a loaded machine.
    let mut status = 0;
    for _ in 0..50 {
        status = get(&sb.api_url, "/prod/items/after", None).await.0;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sb.stop().await.unwrap();
    assert_eq!(status, 200, "an environment came free within 10 s");
    let t = truth(&gt);
    let gone: Vec<_> = t.iter().filter(|r| r["client_gone"] == true).collect();
    assert_eq!(gone.len(), 2, "{t:?}");
    for r in gone {
        // The invocation ran to its end; the answer it would have sent is recorded.
        assert_eq!(r["status"], 200, "{r}");
        assert_eq!(r["handler_ms"], 500.0, "{r}");
    }
    let last = t.last().unwrap();
    assert_eq!(
        (last["status"].clone(), last["client_gone"].clone()),
        (200.into(), false.into())
    );
}

/// A slowdown that slips past the config checks (set in code) saturates instead of panicking
/// the request's task: infinite and huge ones time out at the function timeout, NaN and
/// negative ones count as no time at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extreme_slowdowns_saturate_instead_of_panicking() {
    let src = base(
        "rest",
        "init = \"fixed 0ms\"\ntimeout = \"1s\"",
        "handler = \"fixed 10ms\"",
    ) + "\n[[faults]]\nat = \"0s\"\nduration = \"10m\"\nslowdown = 2\n";
    for (slowdown, want) in [
        (f64::INFINITY, 502),
        (1e308, 502),
        (f64::NAN, 200),
        (-1.0, 200),
    ] {
        let mut cfg = config(&src);
        cfg.faults[0].slowdown = Some(slowdown);
        let sb = Sandbox::start(
            cfg,
            Options {
                seed: 1,
                listen: "127.0.0.1:0".parse().unwrap(),
                ground_truth: None,
            },
        )
        .await
        .unwrap();
        let (status, _) = get(&sb.api_url, "/prod/items/1", None).await;
        sb.stop().await.unwrap();
        assert_eq!(status, want, "slowdown {slowdown}");
    }
}

/// Every file under `dir`, recursively.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// A function name that would reach outside `--data-dir` (set in code, past the config's
/// naming rule) is written inside it all the same, sanitised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_names_never_write_outside_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("a/b/c/data");
    let mut cfg = config(&base("rest", "init = \"fixed 0ms\"", ""));
    let f = cfg.functions.remove("f").unwrap();
    cfg.functions.insert("../../../ESCAPED".into(), f);
    cfg.routes[0].function = "../../../ESCAPED".into();
    let sb = Sandbox::start_with_data_dir(
        cfg,
        Options {
            seed: 1,
            listen: "127.0.0.1:0".parse().unwrap(),
            ground_truth: None,
        },
        Some(&data),
    )
    .await
    .unwrap();
    assert_eq!(get(&sb.api_url, "/prod/items/1", None).await.0, 200);
    sb.stop().await.unwrap();
    let mut all = Vec::new();
    files(dir.path(), &mut all);
    let logs = data.join("logs");
    assert!(all.iter().all(|p| p.starts_with(&data)), "{all:?}");
    let written = std::fs::read_to_string(logs.join(".._.._.._ESCAPED.jsonl")).unwrap();
    assert!(written.contains("REPORT RequestId"), "{written}");
}
