//! The emulator's CloudWatch store and GetMetricData under a large query, through the real
//! aws-sdk-cloudwatch client over HTTP on 127.0.0.1:
//! - memory: growth of the process's resident set per stored one-second datapoint, for 50
//!   series × 10,800 datapoints (3 hours at 1 s);
//! - speed: one GetMetricData call with 50 queries at Period 1 over those 3 hours (a call
//!   returns at most 100,800 datapoints, so the whole range takes 6 pages), best and median
//!   of 5 rounds, per call and for all pages.
//!
//! Target (issue): a call answers in < 200 ms. Run: `cargo bench -p
//! stormwatch-aws-emulator --bench get_metric_data`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::BehaviorVersion;
use aws_sdk_cloudwatch::config::{Credentials, Region};
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
use stormwatch_aws_emulator::http::Emulator;
use stormwatch_aws_emulator::metric_store::{Sample, Unit, key};

/// Resident set size of this process (Linux `/proc/self/status`), bytes.
fn rss() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<i64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

const SERIES: usize = 50;
const POINTS: u64 = 10_800;

fn query(s: usize) -> MetricDataQuery {
    MetricDataQuery::builder()
        .id(format!("s{s:02}"))
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace("Bench")
                        .metric_name("Rate")
                        .dimensions(
                            Dimension::builder()
                                .name("Series")
                                .value(format!("s{s:02}"))
                                .build(),
                        )
                        .build(),
                )
                .period(1)
                .stat("Sum")
                .build(),
        )
        .build()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench());
}

async fn bench() {
    // The sandbox's default API rate limit and metric resolution.
    let sb = Emulator::start(
        "127.0.0.1:0".parse().expect("addr"),
        50.0,
        Duration::from_secs(60),
    )
    .await
    .expect("emulator");
    // Three hours starting a minute less than three hours ago: young enough for Period 1
    // (CloudWatch keeps 1-second data for 3 hours).
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let start = now - POINTS + 60;
    let keys: Vec<_> = (0..SERIES)
        .map(|s| key("Bench", "Rate", &[("Series", &format!("s{s:02}"))]))
        .collect();
    let before = rss();
    let fill = Instant::now();
    for k in &keys {
        for i in 0..POINTS {
            let at = UNIX_EPOCH + Duration::from_secs(start + i);
            sb.metrics().put(
                k.clone(),
                Unit::Count,
                1,
                at,
                Sample::Value((i % 97) as f64),
            );
        }
    }
    let fill = fill.elapsed();
    let bytes = rss() - before;
    let datapoints = SERIES as u64 * POINTS;
    println!(
        "store: {datapoints} one-second datapoints in {SERIES} series stored in {:.0} ms; resident memory grew {:.1} MB, {:.1} bytes per datapoint",
        fill.as_secs_f64() * 1e3,
        bytes as f64 / 1e6,
        bytes as f64 / datapoints as f64
    );

    let conf = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(&sb.api_url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDBENCH", "bench", None, None, "bench"))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .load()
        .await;
    let cw = aws_sdk_cloudwatch::Client::new(&conf);
    let queries: Vec<_> = (0..SERIES).map(query).collect();
    let mut first_call = Vec::new();
    let mut all_pages = Vec::new();
    let mut pages = 0;
    let mut returned = 0;
    for _ in 0..5 {
        let clock = Instant::now();
        let mut token: Option<String> = None;
        pages = 0;
        returned = 0;
        loop {
            let call = Instant::now();
            let out = cw
                .get_metric_data()
                .set_metric_data_queries(Some(queries.clone()))
                .start_time(DateTime::from_secs(start.cast_signed()))
                .end_time(DateTime::from_secs((start + POINTS).cast_signed()))
                .scan_by(ScanBy::TimestampAscending)
                .set_next_token(token.clone())
                .send()
                .await
                .expect("GetMetricData");
            if pages == 0 {
                first_call.push(call.elapsed());
            }
            pages += 1;
            returned += out
                .metric_data_results()
                .iter()
                .map(|r| r.values().len())
                .sum::<usize>();
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        all_pages.push(clock.elapsed());
    }
    first_call.sort();
    all_pages.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "GetMetricData, {SERIES} queries x {POINTS} s at Period 1: one call (100,800 datapoints) best {:.0} ms, median {:.0} ms; all {pages} pages ({returned} datapoints) best {:.0} ms, median {:.0} ms",
        ms(first_call[0]),
        ms(first_call[2]),
        ms(all_pages[0]),
        ms(all_pages[2])
    );
    assert_eq!(returned as u64, datapoints, "every datapoint comes back");
    sb.stop().await;
}
