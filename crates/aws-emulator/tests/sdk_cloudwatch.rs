//! Conformance of the emulator's CloudWatch API with the real, unmodified aws-sdk-cloudwatch
//! client (Smithy RPC v2 CBOR), configured through aws-config with an endpoint override to an
//! in-process emulator on 127.0.0.1: PutMetricData (Value, Values + Counts, StatisticValues,
//! high resolution) read back with GetMetricData (statistics, exact percentiles, period
//! alignment, EndTime exclusive, ScanBy, Label, ReturnData, Unit, metric math, MaxDatapoints
//! and > 100,800-datapoint pagination). Protocol-level behaviour is in
//! `sdk_cloudwatch_protocol.rs`.

mod util;

use std::time::{Duration, UNIX_EPOCH};

use aws_config::retry::RetryConfig;
use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataError;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricDataQuery, MetricDatum, MetricStat, ScanBy, StandardUnit,
    StatisticSet, StatusCode,
};
use stormwatch_aws_emulator::metric_store::{Sample, Unit, key};
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
