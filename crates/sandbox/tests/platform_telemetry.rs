//! The telemetry the platform itself records for requests sent to the imitated API, read
//! back through the real AWS SDKs from the APIs served on the application's own port:
//! Lambda's START/END/REPORT lines (text and JSON formats) through CloudWatch Logs and
//! Logs Insights, and the traces of sampled requests through X-Ray.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_cloudwatchlogs::config::{Credentials, Region};
use aws_sdk_cloudwatchlogs::operation::get_query_results::GetQueryResultsOutput;
use aws_sdk_cloudwatchlogs::types::QueryStatus;
use aws_sdk_xray::primitives::DateTime;
use stormwatch_sandbox::{Config, Options, Sandbox};

/// The SDK config the collector builds: aws-config with an endpoint override, static
/// credentials, a region and a plain-HTTP connector (no TLS on loopback); no retries.
async fn sdk_config(url: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "AKIDSANDBOX",
            "secret",
            None,
            None,
            "test",
        ))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(RetryConfig::disabled())
        .load()
        .await
}

async fn logs_client(url: &str) -> aws_sdk_cloudwatchlogs::Client {
    aws_sdk_cloudwatchlogs::Client::new(&sdk_config(url).await)
}

async fn xray_client(url: &str) -> aws_sdk_xray::Client {
    aws_sdk_xray::Client::new(&sdk_config(url).await)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn trace_id(epoch: u64, n: u64) -> String {
    format!("1-{epoch:08x}-{n:024x}")
}

/// Polls GetQueryResults (at most 100 times, 20 ms apart) until the query is finished;
/// returns every status seen and the final output.
async fn wait(
    logs: &aws_sdk_cloudwatchlogs::Client,
    id: &str,
) -> (Vec<QueryStatus>, GetQueryResultsOutput) {
    let mut seen = Vec::new();
    for _ in 0..100 {
        let out = logs.get_query_results().query_id(id).send().await.unwrap();
        let status = out.status().cloned().unwrap();
        seen.push(status.clone());
        if !matches!(status, QueryStatus::Scheduled | QueryStatus::Running) {
            return (seen, out);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("query still running after 100 polls: {seen:?}");
}

fn rows(out: &GetQueryResultsOutput) -> Vec<Vec<(String, String)>> {
    out.results()
        .iter()
        .map(|row| {
            row.iter()
                .map(|f| (f.field().unwrap().to_owned(), f.value().unwrap().to_owned()))
                .collect()
        })
        .collect()
}

async fn run(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    base: u64,
    query: &str,
) -> Vec<Vec<(String, String)>> {
    let id = logs
        .start_query()
        .log_group_name(group)
        .start_time((base / 1000) as i64)
        .end_time((base / 1000 + 600) as i64)
        .query_string(query)
        .send()
        .await
        .expect("StartQuery succeeds")
        .query_id()
        .unwrap()
        .to_owned();
    let (seen, out) = wait(logs, &id).await;
    assert_eq!(seen.last(), Some(&QueryStatus::Complete), "{seen:?}");
    rows(&out)
}

/// One GET on a fresh connection with an `X-Amzn-Trace-Id`; returns the status. Bounded.
async fn get(base: &str, path: &str, trace_header: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://").to_owned();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nX-Amzn-Trace-Id: {trace_header}\r\nConnection: close\r\n\r\n"
    );
    let fut = async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(req.as_bytes()).await.unwrap();
        let mut buf = String::new();
        s.read_to_string(&mut buf).await.unwrap();
        buf.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0)
    };
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("request answered within 10 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_and_the_apis_share_one_port() {
    let config = Config::parse(
        Path::new("test.toml"),
        "[api]\nkind = \"rest\"\n\n[functions.f]\n\n[[routes]]\nroute = \"GET /prod/items/{id}\"\nfunction = \"f\"\n",
    )
    .expect("test config is valid");
    let sb = Sandbox::start(
        config,
        Options {
            seed: 7,
            listen: "127.0.0.1:0".parse().unwrap(),
            ground_truth: None,
        },
    )
    .await
    .unwrap();
    let logs = logs_client(&sb.api_url).await;
    logs.describe_log_groups().send().await.unwrap();
    // The imitated application still answers its own routes on the same port.
    let header = format!("Root={};Sampled=0", trace_id(now_secs(), 1));
    assert_eq!(get(&sb.api_url, "/prod/items/1", &header).await, 200);
    assert!(sb.urls_json().contains("\"cloudwatch\":"));
    sb.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_log_lines_of_app_requests_are_queryable() {
    let config = Config::parse(
        Path::new("test.toml"),
        // The test polls the Logs API freely: lift AWS's 5 calls/s quota (collect's tests
        // keep it).
        "[api]\nkind = \"rest\"\n\n[telemetry]\napi_rate_limit = 1000\n\n[functions.text]\ninit = \"fixed 30ms\"\n\n[functions.json]\ninit = \"fixed 40ms\"\nlog_format = \"json\"\n\n[[routes]]\nroute = \"GET /prod/text/{id}\"\nfunction = \"text\"\nhandler = \"fixed 2ms\"\n\n[[routes]]\nroute = \"GET /prod/json/{id}\"\nfunction = \"json\"\nhandler = \"fixed 2ms\"\n",
    )
    .expect("test config is valid");
    let sb = Sandbox::start(
        config,
        Options {
            seed: 13,
            listen: "127.0.0.1:0".parse().unwrap(),
            ground_truth: None,
        },
    )
    .await
    .unwrap();
    let logs = logs_client(&sb.api_url).await;
    let t0 = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let first_trace = format!("1-{t0:08x}-{:024x}", 0xfeed_u64);
    // Sequential: one environment per function, so only each first request is cold.
    for n in 0..5u64 {
        for kind in ["text", "json"] {
            let trace = if n == 0 && kind == "text" {
                first_trace.clone()
            } else {
                format!(
                    "1-{t0:08x}-{:024x}",
                    0x1000 + n * 2 + u64::from(kind == "json")
                )
            };
            let header = format!("Root={trace};Parent={:016x};Sampled=1", n + 1);
            assert_eq!(
                get(&sb.api_url, &format!("/prod/{kind}/{n}"), &header).await,
                200
            );
        }
    }
    // REPORT is written as each invocation ends; wait (bounded) until all five are there.
    let mut reports = 0;
    for _ in 0..50 {
        reports = logs
            .filter_log_events()
            .log_group_name("/aws/lambda/text")
            .filter_pattern("REPORT")
            .send()
            .await
            .unwrap()
            .events()
            .len();
        if reports == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(reports, 5);
    let cold = logs
        .filter_log_events()
        .log_group_name("/aws/lambda/text")
        .filter_pattern("\"Init Duration\"")
        .send()
        .await
        .unwrap();
    assert_eq!(cold.events().len(), 1);
    assert!(cold.events()[0].message().unwrap().contains(&first_trace));

    let base = t0 * 1000 - 60_000;
    for group in ["/aws/lambda/text", "/aws/lambda/json"] {
        let got = run(
            &logs,
            group,
            base,
            r#"filter @type = "REPORT" and ispresent(@initDuration) | stats count(*) as cold, min(@initDuration) as init"#,
        )
        .await;
        assert_eq!(got.len(), 1, "{group}: {got:?}");
        assert_eq!(got[0][0], ("cold".into(), "1".into()), "{group}");
        let init: f64 = got[0][1].1.parse().unwrap();
        assert!((30.0..100.0).contains(&init), "{group}: init {init}");
    }
    let got = run(
        &logs,
        "/aws/lambda/text",
        base,
        "filter ispresent(@initDuration) | fields @xrayTraceId",
    )
    .await;
    assert_eq!(got[0][0], ("@xrayTraceId".into(), first_trace));
    sb.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_to_the_app_are_traced_and_read_back() {
    let config = Config::parse(
        Path::new("test.toml"),
        "[api]\nkind = \"rest\"\nname = \"shop\"\n\n[functions.checkout]\ninit = \"fixed 30ms\"\n\n[[routes]]\nroute = \"GET /prod/items/{id}\"\nfunction = \"checkout\"\nhandler = \"fixed 2ms\"\n",
    )
    .expect("test config is valid");
    let sb = Sandbox::start(
        config,
        Options {
            seed: 11,
            listen: "127.0.0.1:0".parse().unwrap(),
            ground_truth: None,
        },
    )
    .await
    .unwrap();
    let xray = xray_client(&sb.api_url).await;
    let t = now_secs();
    // Sequential requests: one environment, so only the first is a cold start.
    let ids: Vec<String> = (0..6).map(|n| trace_id(t, 0xabc_0000 + n)).collect();
    for (n, id) in ids.iter().enumerate() {
        let header = format!("Root={id};Parent={:016x};Sampled=1", n + 1);
        assert_eq!(
            get(&sb.api_url, &format!("/prod/items/{n}"), &header).await,
            200
        );
    }
    // Documents are recorded as the invocation ends; wait (bounded) until all are there.
    let mut traces = Vec::new();
    for _ in 0..50 {
        let mut got = Vec::new();
        for chunk in ids.chunks(5) {
            let out = xray
                .batch_get_traces()
                .set_trace_ids(Some(chunk.to_vec()))
                .send()
                .await
                .unwrap();
            got.extend(out.traces().iter().cloned());
        }
        if got.len() == ids.len() && got.iter().all(|t| t.segments().len() >= 3) {
            traces = got;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(traces.len(), ids.len(), "every sampled request has a trace");
    let mut cold = Vec::new();
    for trace in &traces {
        let docs: Vec<serde_json::Value> = trace
            .segments()
            .iter()
            .map(|s| serde_json::from_str(s.document().unwrap()).unwrap())
            .collect();
        let origins: Vec<&str> = docs.iter().filter_map(|d| d["origin"].as_str()).collect();
        for origin in [
            "AWS::ApiGateway::Stage",
            "AWS::Lambda",
            "AWS::Lambda::Function",
        ] {
            assert!(origins.contains(&origin), "{origins:?}");
        }
        let function = docs
            .iter()
            .find(|d| d["origin"] == "AWS::Lambda::Function")
            .unwrap();
        let subsegments: Vec<&str> = function["subsegments"]
            .as_array()
            .map(|a| a.iter().filter_map(|s| s["name"].as_str()).collect())
            .unwrap_or_default();
        if subsegments.contains(&"Initialization") {
            cold.push(trace.id().unwrap().to_owned());
        }
    }
    assert_eq!(cold, [ids[0].clone()], "only the first request was cold");

    let summaries = xray
        .get_trace_summaries()
        .start_time(DateTime::from_secs(t as i64))
        .end_time(DateTime::from_secs(t as i64 + 60))
        .filter_expression(r#"service("checkout") AND http.status = 200"#)
        .send()
        .await
        .unwrap();
    let mut found: Vec<&str> = summaries
        .trace_summaries()
        .iter()
        .filter_map(|s| s.id())
        .collect();
    found.sort_unstable();
    let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(found, want);
    let entry = summaries.trace_summaries()[0].entry_point().unwrap();
    assert_eq!(entry.name(), Some("shop/prod"));
    sb.stop().await.unwrap();
}
