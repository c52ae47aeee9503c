//! Conformance of the emulator's CloudWatch Logs API with the real, unmodified
//! aws-sdk-cloudwatchlogs client (awsJson1_1), through aws-config with an endpoint override
//! to an in-process emulator on 127.0.0.1: DescribeLogGroups, FilterLogEvents (time range,
//! patterns, pagination, errors), the Logs Insights StartQuery / GetQueryResults /
//! StopQuery lifecycle with the cold-start queries the collector runs, MalformedQuery
//! errors, and ThrottlingException with and without SDK retries.

mod util;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::retry::RetryConfig;
use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::operation::get_query_results::GetQueryResultsOutput;
use aws_sdk_cloudwatchlogs::types::QueryStatus;
use stormwatch_aws_emulator::LogEvent;
use stormwatch_aws_emulator::http::Emulator;
use util::emulator;

const GROUP: &str = "/aws/lambda/checkout";
const JSON_GROUP: &str = "/aws/lambda/checkout-json";

async fn client(url: &str, retry: RetryConfig) -> Client {
    Client::new(&util::sdk_config(url, retry).await)
}

/// Start of the fixture: a whole minute an hour ago, epoch ms.
fn base_ms() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    (now - 3_600_000) / 60_000 * 60_000
}

fn put(sb: &Emulator, group: &str, at: u64, message: String) {
    sb.logs().put(
        group,
        LogEvent {
            timestamp_ms: at,
            ingestion_ms: at + 40,
            stream: "2026/11/23/[$LATEST]0123456789abcdef".into(),
            message,
        },
    );
}

/// 30 invocations, one every 4 s (two minutes): START, END and REPORT lines, text format;
/// invocations 0, 1 and 20 are cold with init 100, 200 and 300 ms; duration = 10 + i ms.
/// The same REPORTs in JSON format (`platform.report`) go to a second group.
fn fixture(sb: &Emulator, base: u64) {
    for i in 0..30u64 {
        let at = base + i * 4000;
        let id = format!("req-{i:02}");
        let init = match i {
            0 => "\tInit Duration: 100.00 ms",
            1 => "\tInit Duration: 200.00 ms",
            20 => "\tInit Duration: 300.00 ms",
            _ => "",
        };
        put(
            sb,
            GROUP,
            at,
            format!("START RequestId: {id} Version: $LATEST"),
        );
        put(sb, GROUP, at + 1, format!("END RequestId: {id}"));
        put(
            sb,
            GROUP,
            at + 2,
            format!(
                "REPORT RequestId: {id}\tDuration: {}.00 ms\tBilled Duration: {} ms\tMemory Size: 128 MB\tMax Memory Used: 60 MB{init}\t\nXRAY TraceId: 1-5f000000-{i:024x}\tSegmentId: {i:016x}\tSampled: true\t",
                10 + i,
                10 + i
            ),
        );
        let json_init = match i {
            0 => r#","initDurationMs":100.0"#,
            1 => r#","initDurationMs":200.0"#,
            20 => r#","initDurationMs":300.0"#,
            _ => "",
        };
        put(
            sb,
            JSON_GROUP,
            at + 2,
            format!(
                r#"{{"time":"t","type":"platform.report","record":{{"requestId":"{id}","metrics":{{"durationMs":{},"billedDurationMs":{},"memorySizeMB":128,"maxMemoryUsedMB":60{json_init}}},"status":"success"}}}}"#,
                10 + i,
                10 + i
            ),
        );
    }
    put(sb, "/aws/lambda/other", base, "hello".into());
}

/// Polls GetQueryResults (at most 100 times, 20 ms apart) until the query is finished;
/// returns every status seen and the final output.
async fn wait(logs: &Client, id: &str) -> (Vec<QueryStatus>, GetQueryResultsOutput) {
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

async fn run(logs: &Client, group: &str, base: u64, query: &str) -> Vec<Vec<(String, String)>> {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_and_filter_log_events() {
    let sb = emulator(1000.0).await;
    let base = base_ms();
    fixture(&sb, base);
    let logs = client(&sb.api_url, RetryConfig::disabled()).await;

    let groups: Vec<String> = logs
        .describe_log_groups()
        .log_group_name_prefix("/aws/lambda/checkout")
        .limit(1)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.log_group_name().unwrap().to_owned())
        .collect();
    assert_eq!(groups, [GROUP, JSON_GROUP]);

    let pages: Vec<_> = logs
        .filter_log_events()
        .log_group_name(GROUP)
        .limit(7)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(pages.len(), 13, "90 events in pages of 7");
    let all: Vec<_> = pages
        .iter()
        .flat_map(
            aws_sdk_cloudwatchlogs::operation::filter_log_events::FilterLogEventsOutput::events,
        )
        .collect();
    assert_eq!(all.len(), 90, "every event once across pages of 7");
    assert!(all.windows(2).all(|w| w[0].timestamp() <= w[1].timestamp()));
    assert_eq!(all[0].ingestion_time(), Some(base as i64 + 40));

    let count = |pattern: &'static str, from: u64, to: u64| {
        let req = logs
            .filter_log_events()
            .log_group_name(GROUP)
            .filter_pattern(pattern)
            .start_time(from as i64)
            .end_time(to as i64);
        async move {
            let pages: Vec<_> = req
                .into_paginator()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .unwrap();
            pages.iter().map(|p| p.events().len()).sum::<usize>()
        }
    };
    let end = base + 200_000;
    assert_eq!(count("REPORT", base, end).await, 30);
    assert_eq!(count("\"Init Duration\"", base, end).await, 3);
    assert_eq!(count("REPORT -Init", base, end).await, 27);
    assert_eq!(count("?START ?END", base, end).await, 60);
    // endTime is inclusive: the REPORT of invocation 1 sits at base + 4002.
    assert_eq!(count("REPORT", base, base + 4002).await, 2);
    assert_eq!(count("REPORT", base + 4003, end).await, 28);

    let err = logs
        .filter_log_events()
        .log_group_name("/aws/lambda/missing")
        .send()
        .await
        .expect_err("unknown group");
    assert!(err.into_service_error().is_resource_not_found_exception());
    let err = logs
        .filter_log_events()
        .log_group_name(GROUP)
        .filter_pattern("{ $.level = \"ERROR\" }")
        .send()
        .await
        .expect_err("JSON patterns are not in the subset");
    let service = err.into_service_error();
    assert!(service.is_invalid_parameter_exception(), "{service:?}");
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insights_cold_start_queries_run_asynchronously() {
    let sb = emulator(1000.0).await;
    let base = base_ms();
    fixture(&sb, base);
    let logs = client(&sb.api_url, RetryConfig::disabled()).await;
    let minute = |m: u64| {
        let s = base / 1000 + m * 60;
        let (h, mi, se) = ((s / 3600) % 24, (s / 60) % 60, s % 60);
        format!("{h:02}:{mi:02}:{se:02}.000")
    };

    // The collector's cold-start query, on both log formats.
    for group in [GROUP, JSON_GROUP] {
        let got = run(
            &logs,
            group,
            base,
            r#"filter @type = "REPORT" and ispresent(@initDuration) | stats count(*), avg(@initDuration), max(@initDuration) by bin(1m)"#,
        )
        .await;
        assert_eq!(got.len(), 2, "{group}: {got:?}");
        assert_eq!(got[0][0].0, "bin(1m)");
        assert!(got[0][0].1.ends_with(&minute(0)), "{got:?}");
        assert_eq!(got[0][1], ("count(*)".into(), "2".into()));
        assert_eq!(got[0][2], ("avg(@initDuration)".into(), "150".into()));
        assert!(got[1][0].1.ends_with(&minute(1)), "{got:?}");
        assert_eq!(got[1][1].1, "1");
        assert_eq!(got[1][3], ("max(@initDuration)".into(), "300".into()));
    }

    let got = run(
        &logs,
        GROUP,
        base,
        "fields @requestId, @initDuration, @memorySize, @xrayTraceId | filter ispresent(@initDuration) | sort @initDuration desc | limit 2",
    )
    .await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0][0], ("@requestId".into(), "req-20".into()));
    assert_eq!(got[0][2], ("@memorySize".into(), "128000000".into()));
    assert_eq!(
        got[0][3],
        ("@xrayTraceId".into(), format!("1-5f000000-{:024x}", 20))
    );
    assert_eq!(got[0][4].0, "@ptr");
    assert_eq!(got[1][0].1, "req-01");

    let got = run(
        &logs,
        GROUP,
        base,
        r#"parse @message "Duration: * ms" as d | filter @type = "REPORT" and (@message like /Init/ or d >= 38) | stats pct(@duration, 50) as p50, min(@duration), count(*) as n by @type"#,
    )
    .await;
    // Init lines: 10, 11, 30; d >= 38: 38, 39 → sorted 10, 11, 30, 38, 39.
    assert_eq!(
        got,
        vec![vec![
            ("@type".into(), "REPORT".into()),
            ("p50".into(), "30".into()),
            ("min(@duration)".into(), "10".into()),
            ("n".into(), "5".into()),
        ]]
    );
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_lifecycle_errors_and_stop() {
    let sb = emulator(1000.0).await;
    let base = base_ms();
    fixture(&sb, base);
    let logs = client(&sb.api_url, RetryConfig::disabled()).await;
    let start = |q: &str| {
        logs.start_query()
            .log_group_names(GROUP)
            .start_time((base / 1000) as i64)
            .end_time((base / 1000 + 600) as i64)
            .query_string(q)
    };

    // The first poll always finds the query unfinished, as with AWS.
    let id = start("stats count(*)")
        .send()
        .await
        .unwrap()
        .query_id()
        .unwrap()
        .to_owned();
    let (seen, out) = wait(&logs, &id).await;
    assert!(seen.len() >= 2, "{seen:?}");
    assert!(matches!(
        seen[0],
        QueryStatus::Scheduled | QueryStatus::Running
    ));
    assert_eq!(seen.last(), Some(&QueryStatus::Complete));
    let stats = out.statistics().unwrap();
    // Counts travel as doubles; these are small integers, exact in f64.
    assert!((stats.records_scanned() - 90.0).abs() < f64::EPSILON);
    assert!((stats.records_matched() - 90.0).abs() < f64::EPSILON);

    let err = start("fields @message | dedup @requestId")
        .send()
        .await
        .expect_err("dedup is not in the subset");
    let service = err.into_service_error();
    let aws_sdk_cloudwatchlogs::operation::start_query::StartQueryError::MalformedQueryException(m) =
        &service
    else {
        panic!("expected MalformedQueryException, got {service:?}");
    };
    let compile = m.query_compile_error().unwrap();
    assert!(compile.message().unwrap().contains("dedup"));
    assert_eq!(compile.location().unwrap().start_char_offset(), Some(18));

    let err = logs
        .start_query()
        .log_group_name("/aws/lambda/missing")
        .start_time(0)
        .end_time(10)
        .query_string("stats count(*)")
        .send()
        .await
        .expect_err("unknown group");
    assert!(err.into_service_error().is_resource_not_found_exception());

    let id = start("fields @message")
        .send()
        .await
        .unwrap()
        .query_id()
        .unwrap()
        .to_owned();
    let stopped = logs.stop_query().query_id(&id).send().await.unwrap();
    assert!(stopped.success());
    let (_, out) = wait(&logs, &id).await;
    assert_eq!(out.status(), Some(&QueryStatus::Cancelled));
    assert!(out.results().is_empty());
    let again = logs.stop_query().query_id(&id).send().await.unwrap();
    assert!(!again.success(), "a cancelled query cannot stop again");
    let err = logs
        .get_query_results()
        .query_id("no-such-query")
        .send()
        .await
        .expect_err("unknown query");
    assert!(err.into_service_error().is_resource_not_found_exception());
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_seen_without_retries_and_absorbed_with_them() {
    let sb = emulator(4.0).await;
    fixture(&sb, base_ms());
    let no_retry = client(&sb.api_url, RetryConfig::disabled()).await;
    let mut throttled = 0;
    let burst = std::time::Instant::now();
    for _ in 0..12 {
        if let Err(e) = no_retry.describe_log_groups().send().await {
            let meta = e.into_service_error();
            assert_eq!(
                aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata::code(&meta),
                Some("ThrottlingException")
            );
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
            .filter_log_events()
            .log_group_name(GROUP)
            .limit(1)
            .send()
            .await
            .expect("the SDK's standard retry absorbs ThrottlingException");
    }
    sb.stop().await;
}
