//! The configured functions as Lambda's control plane describes them, served on the
//! application's port, and SnapStart cold starts: a restore written as AWS writes it
//! (REPORT `Restore Duration`, an X-Ray `Restore` subsegment) and still a cold start in the
//! ground truth. Raw HTTP/1.1 on 127.0.0.1 (the SDK conformance test of the same API is
//! `crates/aws-emulator/tests/sdk_lambda.rs`).

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use stormwatch_sandbox::{Config, Options, Sandbox};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CONFIG: &str = r#"
[api]
kind = "http"

[telemetry]
resolution = "1s"

[functions.orders]
runtime = "java21"
snapstart = true
architecture = "arm64"
init = "fixed 40ms"
timeout = "10s"
tags = { team = "payments", "cost-center" = "cc-42" }

[functions.checkout]
provisioned_concurrency = 2
package_type = "Image"
code_size = 104857600
log_format = "json"

[[routes]]
route = "GET /prod/orders/{id}"
function = "orders"

[[routes]]
route = "GET /prod/checkout"
function = "checkout"
"#;

/// One HTTP/1.1 GET on a fresh connection with extra header lines; returns status, the
/// response head and the body. Bounded by 10 s.
async fn get(base: &str, path: &str, headers: &str) -> (u16, String, String) {
    let addr = base.trim_start_matches("http://");
    let fut = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut buf = String::new();
        s.read_to_string(&mut buf).await.unwrap();
        let status: u16 = buf[9..12].parse().unwrap();
        let (head, body) = buf.split_once("\r\n\r\n").unwrap_or((&buf, ""));
        (status, head.to_ascii_lowercase(), body.to_owned())
    };
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("request finished within 10 s")
}

async fn get_json(base: &str, path: &str, headers: &str) -> (u16, String, Value) {
    let (status, head, body) = get(base, path, headers).await;
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
    (status, head, json)
}

/// The `Authorization` header of a call signed for `region`.
fn signed_for(region: &str) -> String {
    format!(
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIDSANDBOX/20261123/{region}/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=0\r\n"
    )
}

async fn start(gt: &Path) -> Sandbox {
    Sandbox::start(
        Config::parse(Path::new("functions.toml"), CONFIG).unwrap(),
        Options {
            seed: 7,
            listen: "127.0.0.1:0".parse().unwrap(),
            ground_truth: Some(gt.to_path_buf()),
        },
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_plane_describes_the_configured_functions() {
    let dir = tempfile::tempdir().unwrap();
    let sb = start(&dir.path().join("gt.jsonl")).await;
    let url = sb.api_url.clone();
    assert!(sb.urls_json().contains("\"lambda\":"));
    assert_eq!(sb.lambda().len(), 2);
    let us = signed_for("us-east-1");

    let (status, _, out) = get_json(&url, "/2015-03-31/functions/", &us).await;
    assert_eq!(status, 200);
    let functions = out["Functions"].as_array().unwrap();
    let names: Vec<&str> = functions
        .iter()
        .map(|f| f["FunctionName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["checkout", "orders"]);

    let (status, _, orders) =
        get_json(&url, "/2015-03-31/functions/orders/configuration", &us).await;
    assert_eq!(status, 200);
    assert_eq!(
        orders["FunctionArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:orders"
    );
    assert_eq!(orders["Runtime"], "java21");
    assert_eq!(orders["Architectures"], serde_json::json!(["arm64"]));
    assert_eq!(orders["SnapStart"]["ApplyOn"], "PublishedVersions");
    assert_eq!(orders["SnapStart"]["OptimizationStatus"], "On");
    assert_eq!(orders["Timeout"], 10);
    assert_eq!(orders["MemorySize"], 512);
    assert_eq!(orders["CodeSize"], 1_048_576);
    assert_eq!(orders["LoggingConfig"]["LogFormat"], "Text");
    let (_, _, checkout) =
        get_json(&url, "/2015-03-31/functions/checkout/configuration", &us).await;
    assert_eq!(checkout["PackageType"], "Image");
    assert_eq!(checkout["CodeSize"], 104_857_600);
    assert_eq!(checkout["LoggingConfig"]["LogFormat"], "JSON");
    assert!(checkout.get("Runtime").is_none());

    let (_, _, pc) = get_json(
        &url,
        "/2019-09-30/functions/checkout/provisioned-concurrency?List=ALL",
        &us,
    )
    .await;
    let configs = pc["ProvisionedConcurrencyConfigs"].as_array().unwrap();
    assert_eq!(configs.len(), 1);
    assert_eq!(configs[0]["AllocatedProvisionedConcurrentExecutions"], 2);
    assert_eq!(configs[0]["Status"], "READY");
    let (_, _, tags) = get_json(
        &url,
        "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aorders",
        &us,
    )
    .await;
    assert_eq!(
        tags,
        serde_json::json!({"Tags": {"team": "payments", "cost-center": "cc-42"}})
    );

    // Signed for another region: nothing there.
    let eu = signed_for("eu-west-1");
    let (status, _, out) = get_json(&url, "/2015-03-31/functions/", &eu).await;
    assert_eq!(
        (status, out["Functions"].as_array().unwrap().len()),
        (200, 0)
    );
    let (status, head, out) =
        get_json(&url, "/2015-03-31/functions/orders/configuration", &eu).await;
    assert_eq!(status, 404);
    assert!(
        head.contains("x-amzn-errortype: resourcenotfoundexception"),
        "{head}"
    );
    assert_eq!(
        out["Message"],
        "Function not found: arn:aws:lambda:eu-west-1:123456789012:function:orders"
    );
    // An application route is still the application's.
    let (status, _, _) = get(&url, "/prod/checkout", "").await;
    assert_eq!(status, 200);
    sb.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapstart_cold_start_is_a_restore() {
    let dir = tempfile::tempdir().unwrap();
    let gt = dir.path().join("gt.jsonl");
    let sb = start(&gt).await;
    let epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let trace = |n: u64| format!("X-Amzn-Trace-Id: Root=1-{epoch:08x}-{n:024x};Sampled=1\r\n");
    // Sequential: the first starts (restores) the environment, the second reuses it.
    for n in 1..=2 {
        let (status, _, _) = get(&sb.api_url, &format!("/prod/orders/{n}"), &trace(n)).await;
        assert_eq!(status, 200);
    }
    sb.flush().unwrap();

    let truth: Vec<Value> = std::fs::read_to_string(&gt)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(truth.len(), 2);
    assert_eq!(truth[0]["cold"], true, "a restore is a cold start");
    assert_eq!(truth[0]["init_ms"], 40.0);
    assert_eq!(truth[1]["cold"], false);

    let events = sb.logs().events("/aws/lambda/orders", 0, u64::MAX).unwrap();
    let reports: Vec<&str> = events
        .iter()
        .map(|e| e.message.as_str())
        .filter(|m| m.starts_with("REPORT"))
        .collect();
    assert_eq!(reports.len(), 2);
    assert!(
        reports[0].contains("\tRestore Duration: 40.00 ms\tBilled Restore Duration: 40 ms\t"),
        "{}",
        reports[0]
    );
    assert!(!reports[0].contains("Init Duration"), "{}", reports[0]);
    assert!(!reports[1].contains("Restore Duration"), "{}", reports[1]);

    let subsegments = |n: u64| -> Vec<String> {
        let id = format!("1-{epoch:08x}-{n:024x}");
        let segments = sb.segments().trace(&id);
        let function: Value = segments
            .iter()
            .map(|s| serde_json::from_str::<Value>(&s.document).unwrap())
            .find(|d| d["origin"] == "AWS::Lambda::Function")
            .expect("a function segment");
        function["subsegments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(subsegments(1), ["Restore", "Invocation", "Overhead"]);
    assert_eq!(subsegments(2), ["Invocation", "Overhead"]);
    sb.stop().await.unwrap();
}
