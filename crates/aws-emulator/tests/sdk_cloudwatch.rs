//! Conformance of the emulator's CloudWatch API with the real, unmodified aws-sdk-cloudwatch
//! client (Smithy RPC v2 CBOR), configured through aws-config with an endpoint override to an
//! in-process emulator on 127.0.0.1, plus raw awsJson1_0 calls (what boto3 sends):
//! PutMetricData (Value, Values + Counts, StatisticValues, high resolution, gzip bodies),
//! GetMetricData (statistics, exact percentiles, period alignment, EndTime exclusive, ScanBy,
//! Label, ReturnData, Unit, metric math, MaxDatapoints and > 100,800-datapoint pagination),
//! ListMetrics (filters, pagination), AWS-shaped errors and Throttling with and without the
//! SDK's standard retry.

#![allow(clippy::format_push_string, reason = "raw HTTP requests built inline")]

mod util;

use std::time::{Duration, Instant, UNIX_EPOCH};

use aws_config::retry::RetryConfig;
use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataError;
use aws_sdk_cloudwatch::operation::put_metric_data::PutMetricDataError;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    Dimension, DimensionFilter, Metric, MetricDataQuery, MetricDatum, MetricStat, ScanBy,
    StandardUnit, StatisticSet, StatusCode,
};
use stormwatch_aws_emulator::metric_store::{Sample, Unit, key};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use util::cloudwatch::{client, expr_query, get, minute_ago, series, stat_query};
use util::emulator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_metric_data_then_statistics_and_exact_percentiles() {
    let sb = emulator(1000.0).await;
    let cw = client(&sb.api_url, RetryConfig::disabled()).await;
    let t0 = minute_ago(10);
    let dim = Dimension::builder()
        .name("Service")
        .value("checkout")
        .build();
    // Minute 0: values 1..=100 (Values + Counts, each twice) -> 200 samples.
    let values: Vec<f64> = (1..=100).map(f64::from).collect();
    let datum = MetricDatum::builder()
        .metric_name("Latency")
        .dimensions(dim.clone())
        .timestamp(DateTime::from_secs(t0 + 5))
        .set_values(Some(values))
        .set_counts(Some(vec![2.0; 100]))
        .unit(StandardUnit::Milliseconds)
        .build();
    // Minute 1: one Value and one statistic set of equal values (percentiles stay known).
    let single = MetricDatum::builder()
        .metric_name("Latency")
        .dimensions(dim.clone())
        .timestamp(DateTime::from_secs(t0 + 60))
        .value(7.0)
        .unit(StandardUnit::Milliseconds)
        .build();
    let set = MetricDatum::builder()
        .metric_name("Latency")
        .dimensions(dim.clone())
        .timestamp(DateTime::from_secs(t0 + 119))
        .statistic_values(
            StatisticSet::builder()
                .sample_count(3.0)
                .sum(9.0)
                .minimum(3.0)
                .maximum(3.0)
                .build(),
        )
        .unit(StandardUnit::Milliseconds)
        .build();
    cw.put_metric_data()
        .namespace("Shop")
        .metric_data(datum)
        .metric_data(single)
        .metric_data(set)
        .send()
        .await
        .expect("PutMetricData succeeds");

    let d = [("Service", "checkout")];
    let stats = [
        "Sum",
        "Average",
        "Minimum",
        "Maximum",
        "SampleCount",
        "p50",
        "p90",
        "p99.9",
    ];
    let queries = stats
        .iter()
        .enumerate()
        .map(|(i, s)| stat_query(&format!("q{i}"), "Shop", "Latency", &d, s, 60))
        .collect();
    let out = get(&cw, queries, t0, t0 + 180).await;
    let first = |i: usize| series(&out, &format!("q{i}"));
    assert_eq!(first(0), [(t0, 10_100.0), (t0 + 60, 16.0)]);
    assert_eq!(first(1), [(t0, 50.5), (t0 + 60, 4.0)]);
    assert_eq!(first(2), [(t0, 1.0), (t0 + 60, 3.0)]);
    assert_eq!(first(3), [(t0, 100.0), (t0 + 60, 7.0)]);
    assert_eq!(first(4), [(t0, 200.0), (t0 + 60, 4.0)]);
    // Nearest rank over 200 samples (each of 1..=100 twice): p50 -> rank 100 -> 50.
    assert_eq!(first(5), [(t0, 50.0), (t0 + 60, 3.0)]);
    assert_eq!(first(6), [(t0, 90.0), (t0 + 60, 7.0)]);
    assert_eq!(first(7), [(t0, 100.0), (t0 + 60, 7.0)]);
    for r in out.metric_data_results() {
        assert_eq!(r.status_code(), Some(&StatusCode::Complete));
        assert_eq!(
            r.label(),
            Some("Latency"),
            "default label is the metric name"
        );
    }

    // EndTime is exclusive, StartTime is rounded down to the minute, default scan is newest first.
    let out = cw
        .get_metric_data()
        .metric_data_queries(stat_query("s", "Shop", "Latency", &d, "Sum", 60))
        .start_time(DateTime::from_secs(t0 + 59))
        .end_time(DateTime::from_secs(t0 + 60))
        .send()
        .await
        .unwrap();
    assert_eq!(series(&out, "s"), [(t0, 10_100.0)]);
    let out = cw
        .get_metric_data()
        .metric_data_queries(stat_query("s", "Shop", "Latency", &d, "Sum", 60))
        .start_time(DateTime::from_secs(t0))
        .end_time(DateTime::from_secs(t0 + 180))
        .send()
        .await
        .unwrap();
    assert_eq!(series(&out, "s"), [(t0 + 60, 16.0), (t0, 10_100.0)]);
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_lambda_durations_resolution_unit_and_labels() {
    let sb = emulator(1000.0).await;
    let cw = client(&sb.api_url, RetryConfig::disabled()).await;
    let t0 = minute_ago(5);
    // What the platform records: 1..=1000 ms in one minute (standard resolution).
    let k = key("AWS/Lambda", "Duration", &[("FunctionName", "f")]);
    for v in 1..=1000 {
        let at = UNIX_EPOCH + Duration::from_secs(t0 as u64 + 30);
        sb.metrics()
            .record(k.clone(), Unit::Milliseconds, at, f64::from(v));
    }
    let d = [("FunctionName", "f")];
    let q = |id: &str, stat: &str, period: i32| {
        stat_query(id, "AWS/Lambda", "Duration", &d, stat, period)
    };
    let with_unit = MetricDataQuery::builder()
        .id("bytes")
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace("AWS/Lambda")
                        .metric_name("Duration")
                        .dimensions(Dimension::builder().name("FunctionName").value("f").build())
                        .build(),
                )
                .period(60)
                .stat("Sum")
                .unit(StandardUnit::Bytes)
                .build(),
        )
        .build();
    let labelled = MetricDataQuery::builder()
        .id("hidden")
        .label("not returned")
        .return_data(false)
        .metric_stat(q("x", "Sum", 60).metric_stat().unwrap().clone())
        .build();
    let queries = vec![
        q("p50", "p50", 60),
        q("p99", "p99", 60),
        q("p999", "p99.9", 60),
        q("half", "Sum", 30),
        with_unit,
        labelled,
        MetricDataQuery::builder()
            .id("share")
            .expression("100 * p99 / hidden")
            .label("p99 share")
            .build(),
    ];
    let out = get(&cw, queries, t0, t0 + 60).await;
    assert_eq!(series(&out, "p50"), [(t0, 500.0)]);
    assert_eq!(series(&out, "p99"), [(t0, 990.0)]);
    assert_eq!(series(&out, "p999"), [(t0, 999.0)]);
    assert!(
        series(&out, "half").is_empty(),
        "30 s on a standard-resolution metric"
    );
    assert!(series(&out, "bytes").is_empty(), "unit filter");
    assert!(
        out.metric_data_results()
            .iter()
            .all(|r| r.id() != Some("hidden"))
    );
    let share = out
        .metric_data_results()
        .iter()
        .find(|r| r.id() == Some("share"))
        .unwrap();
    assert_eq!(share.label(), Some("p99 share"));
    let expected = 100.0 * 990.0 / 500_500.0;
    assert!((share.values()[0] - expected).abs() < 1e-12);
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metric_math_over_query_ids() {
    let sb = emulator(1000.0).await;
    let cw = client(&sb.api_url, RetryConfig::disabled()).await;
    let t0 = minute_ago(20);
    let mut datums = Vec::new();
    for minute in 0..4i64 {
        datums.push(
            MetricDatum::builder()
                .metric_name("Errors")
                .timestamp(DateTime::from_secs(t0 + minute * 60))
                .value(minute as f64 + 1.0)
                .build(),
        );
        if minute % 2 == 0 {
            datums.push(
                MetricDatum::builder()
                    .metric_name("Throttles")
                    .timestamp(DateTime::from_secs(t0 + minute * 60))
                    .value(10.0)
                    .build(),
            );
        }
    }
    cw.put_metric_data()
        .namespace("Fn")
        .set_metric_data(Some(datums))
        .send()
        .await
        .unwrap();
    let queries = vec![
        stat_query("errors", "Fn", "Errors", &[], "Sum", 60),
        stat_query("throttles", "Fn", "Throttles", &[], "Sum", 60),
        expr_query("both", "errors + throttles"),
        expr_query("total", "SUM([errors, throttles])"),
        expr_query("filled", "FILL(throttles, 0)"),
        expr_query("ratio", "100 * throttles / (errors + FILL(throttles, 0))"),
        expr_query("peak", "MAX(METRICS())"),
        expr_query("mean", "AVG(errors)"),
        expr_query("low", "MIN([errors, throttles]) - 1"),
    ];
    let out = get(&cw, queries, t0, t0 + 240).await;
    let ts = |m: i64| t0 + m * 60;
    assert_eq!(series(&out, "both"), [(ts(0), 11.0), (ts(2), 13.0)]);
    assert_eq!(
        series(&out, "total"),
        [(ts(0), 11.0), (ts(1), 2.0), (ts(2), 13.0), (ts(3), 4.0)]
    );
    assert_eq!(
        series(&out, "filled"),
        [(ts(0), 10.0), (ts(1), 0.0), (ts(2), 10.0), (ts(3), 0.0)]
    );
    assert_eq!(
        series(&out, "ratio"),
        [(ts(0), 100.0 * 10.0 / 11.0), (ts(2), 100.0 * 10.0 / 13.0)]
    );
    assert_eq!(
        series(&out, "peak"),
        [(ts(0), 10.0), (ts(1), 2.0), (ts(2), 10.0), (ts(3), 4.0)]
    );
    assert_eq!(
        series(&out, "mean").first(),
        Some(&(ts(0), 2.5)),
        "scalar drawn over the periods"
    );
    assert_eq!(
        series(&out, "low"),
        [(ts(0), 0.0), (ts(1), 1.0), (ts(2), 2.0), (ts(3), 3.0)]
    );
    let err = cw
        .get_metric_data()
        .metric_data_queries(expr_query("bad", "RATE(errors)"))
        .start_time(DateTime::from_secs(t0))
        .end_time(DateTime::from_secs(t0 + 60))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationError"));
    assert!(
        err.message().unwrap_or_default().contains("RATE"),
        "{err:?}"
    );
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_metric_data_pages_beyond_100800_datapoints() {
    let sb = emulator(1000.0).await;
    let cw = client(&sb.api_url, RetryConfig::disabled()).await;
    // 12 high-resolution series x 9,000 one-second datapoints = 108,000 (> 100,800), within
    // the last 3 hours so period 1 is available.
    let start = minute_ago(152);
    for s in 0..12 {
        let k = key("Hi", "Rate", &[("Series", &format!("s{s:02}"))]);
        for i in 0..9_000u64 {
            let at = UNIX_EPOCH + Duration::from_secs(start as u64 + i);
            sb.metrics()
                .put(k.clone(), Unit::Count, 1, at, Sample::Value(i as f64));
        }
    }
    let queries: Vec<_> = (0..12)
        .map(|s| {
            stat_query(
                &format!("s{s:02}"),
                "Hi",
                "Rate",
                &[("Series", &format!("s{s:02}"))],
                "Sum",
                1,
            )
        })
        .collect();
    let first = get(&cw, queries.clone(), start, start + 9_000).await;
    let on_first: usize = first
        .metric_data_results()
        .iter()
        .map(|r| r.values().len())
        .sum();
    assert_eq!(on_first, 100_800);
    assert!(first.next_token().is_some());
    let cut = first.metric_data_results().last().unwrap();
    assert_eq!(cut.status_code(), Some(&StatusCode::PartialData));

    let pages: Vec<_> = cw
        .get_metric_data()
        .set_metric_data_queries(Some(queries.clone()))
        .start_time(DateTime::from_secs(start))
        .end_time(DateTime::from_secs(start + 9_000))
        .scan_by(ScanBy::TimestampAscending)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    assert_eq!(pages.len(), 2);
    let mut per_id = std::collections::BTreeMap::<String, Vec<(i64, f64)>>::new();
    for p in pages {
        let p = p.unwrap();
        for r in p.metric_data_results() {
            per_id
                .entry(r.id().unwrap().to_owned())
                .or_default()
                .extend(
                    r.timestamps()
                        .iter()
                        .zip(r.values())
                        .map(|(t, v)| (t.secs(), *v)),
                );
        }
    }
    assert_eq!(per_id.len(), 12);
    for (id, points) in &per_id {
        assert_eq!(points.len(), 9_000, "{id}");
        assert_eq!(points[0], (start, 0.0));
        assert_eq!(points[8_999], (start + 8_999, 8_999.0));
    }

    // Small pages: MaxDatapoints 1000 over two series of 9,000 -> 18 pages.
    let pages: Vec<_> = cw
        .get_metric_data()
        .set_metric_data_queries(Some(queries[..2].to_vec()))
        .start_time(DateTime::from_secs(start))
        .end_time(DateTime::from_secs(start + 9_000))
        .max_datapoints(1_000)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    assert_eq!(pages.len(), 18);
    let total: usize = pages
        .iter()
        .map(|p| {
            p.as_ref()
                .unwrap()
                .metric_data_results()
                .iter()
                .map(|r| r.values().len())
                .sum::<usize>()
        })
        .sum();
    assert_eq!(total, 18_000);

    let err = cw
        .get_metric_data()
        .set_metric_data_queries(Some(queries))
        .start_time(DateTime::from_secs(start))
        .end_time(DateTime::from_secs(start + 9_000))
        .next_token("gmd1:0000000000000000:0:5")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.as_service_error(),
            Some(GetMetricDataError::InvalidNextToken(_))
        ),
        "{err:?}"
    );
    sb.stop().await;
}

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
