//! CloudWatch helpers: a client, query builders and a GetMetricData call.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_config::retry::RetryConfig;
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};

/// A CloudWatch client against the emulator at `url`.
pub async fn client(url: &str, retry: RetryConfig) -> Client {
    Client::new(&super::sdk_config(url, retry).await)
}

/// The start of the minute `minutes_ago` minutes before now, in epoch seconds.
pub fn minute_ago(minutes_ago: u64) -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    (now - now % 60 - minutes_ago * 60) as i64
}

pub fn stat_query(
    id: &str,
    ns: &str,
    name: &str,
    dims: &[(&str, &str)],
    stat: &str,
    period: i32,
) -> MetricDataQuery {
    let mut metric = Metric::builder().namespace(ns).metric_name(name);
    for (n, v) in dims {
        metric = metric.dimensions(Dimension::builder().name(*n).value(*v).build());
    }
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(
            MetricStat::builder()
                .metric(metric.build())
                .period(period)
                .stat(stat)
                .build(),
        )
        .build()
}

pub fn expr_query(id: &str, expression: &str) -> MetricDataQuery {
    MetricDataQuery::builder()
        .id(id)
        .expression(expression)
        .build()
}

/// `(epoch seconds, value)` of one result, by id.
pub fn series(out: &GetMetricDataOutput, id: &str) -> Vec<(i64, f64)> {
    let r = out
        .metric_data_results()
        .iter()
        .find(|r| r.id() == Some(id))
        .unwrap_or_else(|| panic!("no result {id}"));
    r.timestamps()
        .iter()
        .zip(r.values())
        .map(|(t, v)| (t.secs(), *v))
        .collect()
}

pub async fn get(
    cw: &Client,
    queries: Vec<MetricDataQuery>,
    start: i64,
    end: i64,
) -> GetMetricDataOutput {
    cw.get_metric_data()
        .set_metric_data_queries(Some(queries))
        .start_time(DateTime::from_secs(start))
        .end_time(DateTime::from_secs(end))
        .scan_by(ScanBy::TimestampAscending)
        .send()
        .await
        .expect("GetMetricData succeeds")
}
