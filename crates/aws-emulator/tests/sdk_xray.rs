//! Conformance of the emulator's X-Ray API with the real, unmodified aws-sdk-xray client
//! (restJson1), configured through aws-config with an endpoint override to an in-process
//! emulator on 127.0.0.1: PutTraceSegments, BatchGetTraces (id limits, unprocessed ids,
//! segment pagination), GetTraceSummaries (time range types, filter expressions,
//! pagination, errors), ThrottledException with and without SDK retries, and the traces
//! the platform itself records for requests sent to the imitated API.

mod util;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::retry::RetryConfig;
use aws_sdk_xray::Client;
use aws_sdk_xray::primitives::DateTime;
use aws_sdk_xray::types::TimeRangeType;
use util::{DEFAULT_RATE, emulator};

async fn client(url: &str, retry: RetryConfig) -> Client {
    Client::new(&util::sdk_config(url, retry).await)
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

/// An API Gateway segment (root) and a Lambda function segment for one request.
fn request_docs(trace: &str, n: u64, start: f64, status: u16, cold: bool) -> Vec<String> {
    let gw_id = format!("{:016x}", n * 2 + 1);
    let fn_id = format!("{:016x}", n * 2 + 2);
    let (fault, error, throttle) = (status >= 500, (400..500).contains(&status), status == 429);
    let init = if cold {
        format!(
            r#","subsegments":[{{"id":"{:016x}","name":"Init","start_time":{start},"end_time":{}}}]"#,
            n * 2 + 1_000_000,
            start + 0.1
        )
    } else {
        String::new()
    };
    vec![
        format!(
            r#"{{"trace_id":"{trace}","id":"{gw_id}","name":"shop/prod","origin":"AWS::ApiGateway::Stage","start_time":{start},"end_time":{},"fault":{fault},"error":{error},"throttle":{throttle},"http":{{"request":{{"method":"GET","url":"https://api.example/prod/items/{n}"}},"response":{{"status":{status}}}}},"annotations":{{"tenant":"{}"}}}}"#,
            start + 0.3,
            if n.is_multiple_of(2) {
                "acme"
            } else {
                "globex"
            }
        ),
        format!(
            r#"{{"trace_id":"{trace}","id":"{fn_id}","parent_id":"{gw_id}","name":"checkout","origin":"AWS::Lambda::Function","start_time":{},"end_time":{}{init}}}"#,
            start + 0.01,
            start + 0.25
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_then_batch_get_round_trips_documents() {
    let sb = emulator(DEFAULT_RATE).await;
    let xray = client(&sb.api_url, RetryConfig::disabled()).await;
    let t = now_secs();
    let trace = trace_id(t, 1);
    let mut docs = request_docs(&trace, 1, t as f64, 200, true);
    docs.push("{not json".to_owned());
    docs.push(format!(
        r#"{{"trace_id":"bad-id","id":"00000000000000ff","name":"x","start_time":{t}}}"#
    ));
    let put = xray
        .put_trace_segments()
        .set_trace_segment_documents(Some(docs.clone()))
        .send()
        .await
        .expect("PutTraceSegments succeeds");
    let unprocessed = put.unprocessed_trace_segments();
    assert_eq!(unprocessed.len(), 2, "{unprocessed:?}");
    assert_eq!(unprocessed[1].id(), Some("00000000000000ff"));
    assert!(unprocessed[1].message().unwrap().contains("trace id"));

    let unknown = trace_id(t, 999);
    let got = xray
        .batch_get_traces()
        .trace_ids(&trace)
        .trace_ids(&unknown)
        .send()
        .await
        .expect("BatchGetTraces succeeds");
    assert_eq!(got.unprocessed_trace_ids(), [unknown.as_str()]);
    let traces = got.traces();
    assert_eq!(traces.len(), 1);
    assert_eq!(traces[0].id(), Some(trace.as_str()));
    assert!((traces[0].duration().unwrap() - 0.3).abs() < 1e-6);
    let mut returned: Vec<&str> = traces[0]
        .segments()
        .iter()
        .map(|s| s.document().unwrap())
        .collect();
    returned.sort_unstable();
    let mut sent: Vec<&str> = docs[..2].iter().map(String::as_str).collect();
    sent.sort_unstable();
    assert_eq!(returned, sent, "documents come back byte for byte");
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_get_limits_ids_and_pages_segments() {
    let sb = emulator(DEFAULT_RATE).await;
    let xray = client(&sb.api_url, RetryConfig::disabled()).await;
    let t = now_secs();
    let big = trace_id(t, 42);
    // 250 segments in one trace: three pages of at most 100.
    let docs: Vec<String> = (0..250u64)
        .map(|i| {
            format!(
                r#"{{"trace_id":"{big}","id":"{i:016x}","name":"s{i}","start_time":{},"end_time":{}}}"#,
                t as f64 + i as f64 / 1000.0,
                t as f64 + 1.0
            )
        })
        .collect();
    for chunk in docs.chunks(50) {
        let put = xray
            .put_trace_segments()
            .set_trace_segment_documents(Some(chunk.to_vec()))
            .send()
            .await
            .unwrap();
        assert!(put.unprocessed_trace_segments().is_empty());
    }
    // The SDK's paginator follows NextToken until the segments are exhausted.
    let pages: Vec<_> = xray
        .batch_get_traces()
        .trace_ids(&big)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("all pages");
    assert_eq!(pages.len(), 3);
    let mut ids: Vec<String> = pages
        .iter()
        .flat_map(aws_sdk_xray::operation::batch_get_traces::BatchGetTracesOutput::traces)
        .flat_map(aws_sdk_xray::types::Trace::segments)
        .map(|s| s.id().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 250, "every segment exactly once");

    for n in [0usize, 6] {
        let ids: Vec<String> = (0..n as u64).map(|i| trace_id(t, i)).collect();
        let err = xray
            .batch_get_traces()
            .set_trace_ids(Some(ids))
            .send()
            .await
            .expect_err("0 or 6 ids are rejected");
        let service = err.into_service_error();
        assert!(service.is_invalid_request_exception(), "{service:?}");
    }
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summaries_filter_paginate_and_reject_unsupported_expressions() {
    let sb = emulator(1000.0).await;
    let xray = client(&sb.api_url, RetryConfig::disabled()).await;
    let t = now_secs() - 600;
    let mut docs = Vec::new();
    // 230 requests, one every 0.5 s: every 10th a 502, every 25th a 429, the first 5 cold.
    for n in 0..230u64 {
        let status = if n % 10 == 9 {
            502
        } else if n % 25 == 24 {
            429
        } else {
            200
        };
        let start = t as f64 + n as f64 * 0.5;
        docs.extend(request_docs(
            &trace_id(start as u64, n),
            n,
            start,
            status,
            n < 5,
        ));
    }
    for chunk in docs.chunks(100) {
        xray.put_trace_segments()
            .set_trace_segment_documents(Some(chunk.to_vec()))
            .send()
            .await
            .unwrap();
    }
    let range = |from: u64, to: u64| {
        xray.get_trace_summaries()
            .start_time(DateTime::from_secs(from as i64))
            .end_time(DateTime::from_secs(to as i64))
    };
    let pages: Vec<_> = range(t, t + 3600)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("all pages");
    assert_eq!(pages.len(), 3, "230 summaries in pages of 100");
    let all: Vec<_> = pages
        .iter()
        .flat_map(
            aws_sdk_xray::operation::get_trace_summaries::GetTraceSummariesOutput::trace_summaries,
        )
        .collect();
    assert_eq!(all.len(), 230);
    let first = all[0];
    assert_eq!(first.http().unwrap().http_status(), Some(200));
    assert_eq!(first.http().unwrap().http_method(), Some("GET"));
    assert!((first.response_time().unwrap() - 0.3).abs() < 1e-6);
    assert_eq!(first.start_time().unwrap().secs(), t as i64);
    let names: Vec<_> = first
        .service_ids()
        .iter()
        .filter_map(|s| s.name())
        .collect();
    assert_eq!(names, ["shop/prod", "checkout"]);
    assert_eq!(
        first.entry_point().unwrap().r#type(),
        Some("AWS::ApiGateway::Stage")
    );

    let count = |expr: &'static str| {
        let q = range(t, t + 3600).filter_expression(expr);
        async move {
            let pages: Vec<_> = q
                .into_paginator()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .unwrap();
            pages
                .iter()
                .map(|p| p.trace_summaries().len())
                .sum::<usize>()
        }
    };
    assert_eq!(count("fault").await, 23);
    assert_eq!(count("http.status = 502").await, 23);
    assert_eq!(count("throttle").await, 5, "n % 25 == 24 and not a fault");
    assert_eq!(count("error").await, 5, "429 is a 4xx");
    assert_eq!(count("fault OR throttle").await, 28);
    assert_eq!(
        count(r#"service("checkout") AND (fault OR throttle)"#).await,
        28
    );
    assert_eq!(count(r#"service("nope")"#).await, 0);
    assert_eq!(count("responsetime > 0.29 AND duration >= 0.3").await, 230);
    assert_eq!(count("responsetime > 1").await, 0);
    assert_eq!(count(r#"annotation.tenant = "acme" AND !fault"#).await, 115);

    // TraceId vs Event time ranges: the first minute holds 120 requests.
    let by_id = range(t, t + 60).send().await.unwrap();
    assert_eq!(by_id.trace_summaries().len(), 100);
    assert!(by_id.next_token().is_some());
    let by_event = range(t, t + 10)
        .time_range_type(TimeRangeType::Event)
        .send()
        .await
        .unwrap();
    assert_eq!(by_event.trace_summaries().len(), 20);
    assert_eq!(by_event.traces_processed_count(), Some(20));

    let err = range(t, t + 60)
        .filter_expression(r#"edge("a", "b")"#)
        .send()
        .await
        .expect_err("unsupported filter");
    let service = err.into_service_error();
    assert!(service.is_invalid_request_exception());
    assert!(service.to_string().contains("edge"), "{service}");
    let err = range(t + 60, t).send().await.expect_err("end before start");
    assert!(err.into_service_error().is_invalid_request_exception());
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_exception_is_seen_without_retries_and_absorbed_with_them() {
    let sb = emulator(4.0).await;
    let trace = trace_id(now_secs(), 1);
    let no_retry = client(&sb.api_url, RetryConfig::disabled()).await;
    let mut throttled = 0;
    let burst = std::time::Instant::now();
    for _ in 0..12 {
        if let Err(e) = no_retry.batch_get_traces().trace_ids(&trace).send().await {
            let service = e.into_service_error();
            assert!(service.is_throttled_exception(), "{service:?}");
            throttled += 1;
        }
    }
    // The bucket holds 4 and refills 4 a second: whatever the machine's speed, no more
    // calls got through than that allows.
    let allowed = 4 + (4.0 * burst.elapsed().as_secs_f64()).ceil() as usize;
    assert!(
        12 - throttled <= allowed,
        "a burst of 12 at 4/s: {throttled} throttled, {allowed} allowed"
    );

    tokio::time::sleep(Duration::from_secs(1)).await;
    let retrying = client(
        &sb.api_url,
        RetryConfig::standard()
            .with_max_attempts(8)
            .with_initial_backoff(Duration::from_millis(100))
            .with_max_backoff(Duration::from_secs(1)),
    )
    .await;
    for _ in 0..8 {
        retrying
            .batch_get_traces()
            .trace_ids(&trace)
            .send()
            .await
            .expect("the SDK's standard retry absorbs ThrottledException");
    }
    sb.stop().await;
}
