//! Conformance of the emulator's CloudWatch API at the protocol level, with the real
//! aws-sdk-cloudwatch client (Smithy RPC v2 CBOR) and raw awsJson1_0 calls (what boto3
//! sends): ListMetrics (filters, pagination), gzip PutMetricData bodies, AWS-shaped errors
//! and Throttling with and without the SDK's standard retry.

#![allow(clippy::format_push_string, reason = "raw HTTP requests built inline")]

mod util;

use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::operation::put_metric_data::PutMetricDataError;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, DimensionFilter, MetricDatum};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use util::cloudwatch::{client, minute_ago, stat_query};
use util::emulator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_metrics_filters_and_pages_and_gzip_puts() {
    let sb = emulator(1000.0).await;
    let cw = client(&sb.api_url, RetryConfig::disabled()).await;
    let t = DateTime::from_secs(minute_ago(1));
    // 600 metrics in two calls of 300 datums: bodies well above 10 kB, so the SDK gzips them.
    for batch in 0..2 {
        let datums: Vec<_> = (0..300)
            .map(|i| {
                let n = batch * 300 + i;
                MetricDatum::builder()
                    .metric_name(if n % 2 == 0 { "Even" } else { "Odd" })
                    .dimensions(
                        Dimension::builder()
                            .name("Shard")
                            .value(format!("{n:04}"))
                            .build(),
                    )
                    .dimensions(Dimension::builder().name("Env").value("test").build())
                    .timestamp(t)
                    .value(1.0)
                    .build()
            })
            .collect();
        cw.put_metric_data()
            .namespace("Shards")
            .set_metric_data(Some(datums))
            .send()
            .await
            .unwrap();
    }
    let pages: Vec<_> = cw
        .list_metrics()
        .namespace("Shards")
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    assert_eq!(pages.len(), 2, "500 per page");
    let all: usize = pages
        .iter()
        .map(|p| p.as_ref().unwrap().metrics().len())
        .sum();
    assert_eq!(all, 600);
    let odd = cw
        .list_metrics()
        .namespace("Shards")
        .metric_name("Odd")
        .send()
        .await
        .unwrap();
    assert_eq!(odd.metrics().len(), 300);
    assert!(odd.next_token().is_none());
    let one = cw
        .list_metrics()
        .dimensions(
            DimensionFilter::builder()
                .name("Shard")
                .value("0007")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(one.metrics().len(), 1);
    let m = &one.metrics()[0];
    assert_eq!(
        (m.namespace(), m.metric_name()),
        (Some("Shards"), Some("Odd"))
    );
    assert_eq!(m.dimensions().len(), 2);
    let by_name = cw
        .list_metrics()
        .dimensions(DimensionFilter::builder().name("Env").build())
        .recently_active(aws_sdk_cloudwatch::types::RecentlyActive::Pt3H)
        .send()
        .await
        .unwrap();
    assert_eq!(by_name.metrics().len(), 500);
    assert!(by_name.next_token().is_some());
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_have_aws_codes_over_cbor() {
    let sb = emulator(1000.0).await;
    let cw = client(&sb.api_url, RetryConfig::disabled()).await;
    let t0 = minute_ago(3);
    let many: Vec<_> = (0..501)
        .map(|i| stat_query(&format!("q{i}"), "A", "B", &[], "Sum", 60))
        .collect();
    let err = cw
        .get_metric_data()
        .set_metric_data_queries(Some(many))
        .start_time(DateTime::from_secs(t0))
        .end_time(DateTime::from_secs(t0 + 60))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationError"), "{err:?}");
    let err = cw
        .put_metric_data()
        .namespace("AWS/Lambda")
        .metric_data(MetricDatum::builder().metric_name("x").value(1.0).build())
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.as_service_error(),
            Some(PutMetricDataError::InvalidParameterValueException(_))
        ),
        "{err:?}"
    );
    let err = cw
        .put_metric_data()
        .namespace("App")
        .metric_data(
            MetricDatum::builder()
                .metric_name("x")
                .value(1.0)
                .values(2.0)
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.as_service_error(),
            Some(PutMetricDataError::InvalidParameterCombinationException(_))
        ),
        "{err:?}"
    );
    let err = cw
        .put_metric_data()
        .namespace("App")
        .metric_data(MetricDatum::builder().metric_name("x").build())
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.as_service_error(),
            Some(PutMetricDataError::MissingRequiredParameterException(_))
        ),
        "{err:?}"
    );

    // Malformed CBOR, over raw HTTP: 400, SerializationException in header and body.
    let (status, headers, body) = raw_post(
        &sb.api_url,
        "/service/GraniteServiceVersion20100801/operation/GetMetricData",
        None,
        "application/cbor",
        &[0xbf, 0x61, 0x41],
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        headers.contains("x-amzn-query-error: SerializationException;Sender"),
        "{headers}"
    );
    assert!(
        headers.contains("smithy-protocol: rpc-v2-cbor"),
        "{headers}"
    );
    assert!(String::from_utf8_lossy(&body).contains("SerializationException"));
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_json_1_0_as_boto3_sends_it() {
    let sb = emulator(1000.0).await;
    let t0 = minute_ago(4);
    let target = |op: &str| format!("GraniteServiceVersion20100801.{op}");
    let put = serde_json::json!({"Namespace": "Py", "MetricData": [
        {"MetricName": "m", "Timestamp": t0 + 1, "Values": [1.0, 2.0, 3.0], "Counts": [1.0, 1.0, 2.0], "Unit": "Count"},
        {"MetricName": "m", "Timestamp": t0 as f64 + 61.5, "StatisticValues": {"SampleCount": 2, "Sum": 10, "Minimum": 4, "Maximum": 6}, "Unit": "Count"}]});
    let (status, _, body) = raw_post(
        &sb.api_url,
        "/",
        Some(&target("PutMetricData")),
        "application/x-amz-json-1.0",
        put.to_string().as_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let get = serde_json::json!({"StartTime": t0, "EndTime": t0 + 120, "ScanBy": "TimestampAscending",
        "MetricDataQueries": [
            {"Id": "s", "MetricStat": {"Metric": {"Namespace": "Py", "MetricName": "m"}, "Period": 60, "Stat": "Sum"}},
            {"Id": "p", "MetricStat": {"Metric": {"Namespace": "Py", "MetricName": "m"}, "Period": 60, "Stat": "p50"}}]});
    let (status, headers, body) = raw_post(
        &sb.api_url,
        "/",
        Some(&target("GetMetricData")),
        "application/x-amz-json-1.0",
        get.to_string().as_bytes(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(headers.contains("application/x-amz-json-1.0"), "{headers}");
    let out: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let results = out["MetricDataResults"].as_array().unwrap();
    assert_eq!(
        results[0]["Timestamps"],
        serde_json::json!([t0 as f64, (t0 + 60) as f64])
    );
    assert_eq!(results[0]["Values"], serde_json::json!([9.0, 10.0]));
    assert_eq!(
        results[1]["Values"],
        serde_json::json!([2.0]),
        "no percentile for a spread statistic set"
    );
    let (status, headers, body) = raw_post(
        &sb.api_url,
        "/",
        Some(&target("GetMetricData")),
        "application/x-amz-json-1.0",
        b"{\"MetricDataQueries\": []}",
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        headers.contains("x-amzn-query-error: MissingParameter;Sender"),
        "{headers}"
    );
    let err: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        err["__type"]
            .as_str()
            .unwrap()
            .ends_with("MissingRequiredParameterException")
    );
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("MetricDataQueries")
    );
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_by_the_sdk_and_surfaces_as_throttling() {
    let sb = emulator(2.0).await;
    let once = client(&sb.api_url, RetryConfig::disabled()).await;
    // Two tokens, then Throttling (the bucket refills at 2 per second).
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(
            once.list_metrics()
                .send()
                .await
                .err()
                .and_then(|e| e.code().map(str::to_owned)),
        );
    }
    assert!(
        codes
            .iter()
            .filter(|c| c.as_deref() == Some("Throttling"))
            .count()
            >= 2,
        "{codes:?}"
    );
    // Standard retry with a fixed 600 ms first backoff: the first attempt is throttled, the
    // retry finds a refilled token.
    let patient = client(
        &sb.api_url,
        RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(600))
            .with_use_static_exponential_base(true),
    )
    .await;
    for _ in 0..3 {
        let _ = once.list_metrics().send().await;
    }
    let started = Instant::now();
    patient
        .list_metrics()
        .send()
        .await
        .expect("a retry succeeds");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "it was retried: {:?}",
        started.elapsed()
    );
    // Retries too quick to refill: the error the caller sees is Throttling.
    let hasty = client(
        &sb.api_url,
        RetryConfig::standard()
            .with_max_attempts(2)
            .with_initial_backoff(Duration::from_millis(1))
            .with_use_static_exponential_base(true),
    )
    .await;
    let mut last = None;
    for _ in 0..6 {
        if let Err(e) = hasty.list_metrics().send().await {
            last = e.code().map(str::to_owned);
        }
    }
    assert_eq!(last.as_deref(), Some("Throttling"));
    sb.stop().await;
}

async fn raw_post(
    url: &str,
    path: &str,
    target: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    raw_request(url, "POST", path, target, content_type, body).await
}

/// One HTTP/1.1 request over a fresh loopback connection (`Connection: close`).
async fn raw_request(
    url: &str,
    method: &str,
    path: &str,
    target: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let addr = url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !content_type.is_empty() {
        req += &format!("Content-Type: {content_type}\r\n");
    }
    if let Some(t) = target {
        req += &format!("X-Amz-Target: {t}\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a full response");
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let status = head[9..12].parse().unwrap();
    (status, head, buf[split + 4..].to_vec())
}
