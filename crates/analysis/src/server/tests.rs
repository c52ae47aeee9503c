//! Tests of `server`.

use super::*;
use std::collections::BTreeMap;
use stormwatch_model::ApiKind;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn ns(s: &str) -> i64 {
    UnixNanos::from_datetime(t(s)).0
}

fn point(metric: &str, stat: &str, ts: &str, value: f64, dims: &[(&str, &str)]) -> MetricPoint {
    MetricPoint {
        timestamp: t(ts),
        namespace: "AWS/Lambda".into(),
        metric: metric.into(),
        dimensions: dims
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect::<BTreeMap<_, _>>(),
        stat: stat.into(),
        period_secs: 60,
        value,
        filled_zero: false,
    }
}

fn function<'a>(s: &'a ServerStats, name: &str) -> &'a ResourceStats {
    s.resource(ResourceKind::Function, name)
        .unwrap_or_else(|| panic!("no function {name} in {s:#?}"))
}

#[test]
fn counts_are_per_function_and_gauges_never_summed() {
    let a = [("FunctionName", "a")];
    let b = [("FunctionName", "b")];
    let s = ServerSeries::new(vec![
        point("Throttles", "Sum", "2026-11-22T14:00:00Z", 60.0, &a),
        point("Throttles", "Sum", "2026-11-22T14:01:00Z", 120.0, &a),
        // A per-version duplicate must not be counted again.
        point(
            "Throttles",
            "Sum",
            "2026-11-22T14:01:00Z",
            120.0,
            &[("FunctionName", "a"), ("Resource", "a:1")],
        ),
        point(
            "ConcurrentExecutions",
            "Maximum",
            "2026-11-22T14:00:00Z",
            5.0,
            &a,
        ),
        point(
            "ConcurrentExecutions",
            "Maximum",
            "2026-11-22T14:00:00Z",
            10.0,
            &b,
        ),
        // The account-level series (no dimension) is not a resource.
        point(
            "ConcurrentExecutions",
            "Maximum",
            "2026-11-22T14:00:00Z",
            15.0,
            &[],
        ),
    ]);
    // No client traffic: by time. 14:00:30 – 14:01:30 covers half of each period.
    let w = PhaseWindow::new(t("2026-11-22T14:00:30Z"), t("2026-11-22T14:01:30Z")).unwrap();
    let stats = s.phase_stats(&[w]).remove(0).unwrap();
    assert_eq!(function(&stats, "a").throttles, Some(90));
    assert_eq!(function(&stats, "a").peak_concurrency, Some(5));
    assert_eq!(function(&stats, "b").peak_concurrency, Some(10));
    assert_eq!(function(&stats, "b").throttles, None);
    assert_eq!(stats.resources.len(), 2);
}

#[test]
fn a_straddling_period_follows_the_clients_throttle_statuses() {
    let f = [("FunctionName", "f")];
    // One 60 s period holds 308 throttles; the burst (14:00:00–14:00:20) saw 300 of the
    // client's 500s, the quiet phase after it none, though it sent requests.
    let s = ServerSeries::new(vec![point(
        "Throttles",
        "Sum",
        "2026-11-22T14:00:00Z",
        308.0,
        &f,
    )]);
    let mut requests = Vec::new();
    for i in 0..1000 {
        let at = ns("2026-11-22T14:00:00Z") + i * 20_000_000; // 50/s over 20 s
        requests.push((at, if i % 10 < 3 { 500 } else { 200 }));
    }
    for i in 0..400 {
        requests.push((ns("2026-11-22T14:00:20Z") + i * 100_000_000, 200));
    }
    let s = s.with_client(ClientEvents::from_requests(
        requests.into_iter(),
        Some(ApiKind::Rest),
    ));
    let burst = PhaseWindow::new(t("2026-11-22T14:00:00Z"), t("2026-11-22T14:00:20Z")).unwrap();
    let quiet = PhaseWindow::new(t("2026-11-22T14:00:20Z"), t("2026-11-22T14:01:00Z")).unwrap();
    let stats = s.phase_stats(&[burst, quiet]);
    let throttles = |i: usize| function(stats[i].as_ref().unwrap(), "f").throttles;
    assert_eq!(throttles(0), Some(308));
    assert_eq!(throttles(1), Some(0));
}

#[test]
fn without_matching_outcomes_counts_follow_traffic_then_time() {
    let f = [("FunctionName", "f")];
    let mut p = point("Throttles", "Sum", "2026-11-22T14:00:00Z", 6.0, &f);
    p.period_secs = 1;
    // The burst ends 300 ms into the second and sends every request before that (all
    // answered 200: the throttles were someone else's).
    let sends = [
        "2026-11-22T14:00:00.050Z",
        "2026-11-22T14:00:00.150Z",
        "2026-11-22T14:00:00.250Z",
    ]
    .map(|s| (ns(s), 200));
    let burst = PhaseWindow::new(t("2026-11-22T13:59:50Z"), t("2026-11-22T14:00:00.300Z")).unwrap();
    let idle = PhaseWindow::new(t("2026-11-22T14:00:00.300Z"), t("2026-11-22T14:00:10Z")).unwrap();
    let by_time = ServerSeries::new(vec![p.clone()]).phase_stats(&[burst, idle]);
    let got = |s: &[Option<ServerStats>], i: usize| {
        function(s[i].as_ref().unwrap(), "f").throttles.unwrap()
    };
    // 30 % and 70 % of 6: 1.8 and 4.2 → 2 and 4.
    assert_eq!((got(&by_time, 0), got(&by_time, 1)), (2, 4));
    let by_traffic = ServerSeries::new(vec![p.clone()])
        .with_client(ClientEvents::from_requests(sends.into_iter(), None))
        .phase_stats(&[burst, idle]);
    assert_eq!((got(&by_traffic, 0), got(&by_traffic, 1)), (6, 0));
    // A period in which the run sent nothing falls back to time coverage.
    let mut later = p;
    later.timestamp = t("2026-11-22T14:00:05Z");
    let quiet = ServerSeries::new(vec![later])
        .with_client(ClientEvents::from_requests(sends.into_iter(), None))
        .phase_stats(&[burst, idle]);
    assert_eq!((got(&quiet, 0), got(&quiet, 1)), (0, 6));
}

#[test]
fn tables_count_throttled_requests_once_and_streams_their_own_metric() {
    let mut table_points = Vec::new();
    for (metric, dims, v) in [
        (
            "ThrottledRequests",
            vec![("TableName", "orders"), ("Operation", "PutItem")],
            4.0,
        ),
        (
            "ThrottledRequests",
            vec![("TableName", "orders"), ("Operation", "GetItem")],
            1.0,
        ),
        ("WriteThrottleEvents", vec![("TableName", "orders")], 9.0),
        ("WriteThrottleEvents", vec![("TableName", "carts")], 3.0),
        ("ReadThrottleEvents", vec![("TableName", "carts")], 2.0),
    ] {
        let mut p = point(metric, "Sum", "2026-11-22T14:00:00Z", v, &dims);
        p.namespace = "AWS/DynamoDB".into();
        table_points.push(p);
    }
    let mut k = point(
        "WriteProvisionedThroughputExceeded",
        "Sum",
        "2026-11-22T14:00:00Z",
        7.0,
        &[("StreamName", "votes")],
    );
    k.namespace = "AWS/Kinesis".into();
    table_points.push(k);
    let w = PhaseWindow::starting_at(t("2026-11-22T14:00:00Z"), Duration::from_secs(60));
    let s = ServerSeries::new(table_points)
        .phase_stats(&[w])
        .remove(0)
        .unwrap();
    let throttles = |k, n| s.resource(k, n).and_then(|r| r.throttles);
    assert_eq!(throttles(ResourceKind::Table, "orders"), Some(5));
    assert_eq!(throttles(ResourceKind::Table, "carts"), Some(5));
    assert_eq!(throttles(ResourceKind::Stream, "votes"), Some(7));
}

#[test]
fn per_second_counts_are_whole_and_land_where_the_client_saw_them() {
    let f = [("FunctionName", "f")];
    let mut points = Vec::new();
    for (i, v) in [3.0, 0.0, 6.0].iter().enumerate() {
        let mut p = point("Throttles", "Sum", "2026-11-22T14:00:00Z", *v, &f);
        p.timestamp += chrono::Duration::seconds(i64::try_from(i).unwrap() * 60);
        points.push(p);
    }
    // A one-second period inside the second minute.
    let mut fine = point("Throttles", "Sum", "2026-11-22T14:01:30Z", 5.0, &f);
    fine.period_secs = 1;
    points.push(fine);
    // The client saw its throttle statuses at 14:00:10 (two) and 14:00:40 (one); nothing
    // in the third minute, so its 6 spread by time.
    let client = ClientEvents::from_requests(
        [
            (ns("2026-11-22T14:00:10.1Z"), 500),
            (ns("2026-11-22T14:00:10.2Z"), 500),
            (ns("2026-11-22T14:00:40.5Z"), 500),
            (ns("2026-11-22T14:00:41Z"), 200),
        ]
        .into_iter(),
        Some(ApiKind::Rest),
    );
    let s = ServerSeries::new(points).with_client(client);
    let at = |i: i64| t("2026-11-22T13:59:59Z") + chrono::Duration::seconds(i);
    let seconds: Vec<_> = (0..183).map(at).collect();
    let got = s.per_second_all("AWS/Lambda", "Throttles", "Sum", &seconds);
    assert_eq!(got[0], None, "before the first period");
    assert_eq!(got[11], Some(2.0), "14:00:10");
    assert_eq!(got[41], Some(1.0), "14:00:40");
    assert_eq!(got[12], Some(0.0));
    assert_eq!(got[61], Some(0.0));
    assert_eq!(
        got[91],
        Some(5.0),
        "14:01:30: the fine period on a zero minute"
    );
    assert_eq!(got[181], None, "after the last period");
    assert!(got.iter().flatten().all(|v| v.fract() == 0.0));
    let third: f64 = got[121..181].iter().flatten().sum();
    assert_eq!(third as u64, 6);
    let total: f64 = got.iter().flatten().sum();
    assert_eq!(total as u64, 14);
    // Gauges are held over their period.
    let g = ServerSeries::new(vec![point(
        "ConcurrentExecutions",
        "Maximum",
        "2026-11-22T14:00:00Z",
        7.0,
        &f,
    )]);
    let held = g.per_second_all("AWS/Lambda", "ConcurrentExecutions", "Maximum", &seconds);
    assert_eq!(
        (held[0], held[1], held[60], held[61]),
        (None, Some(7.0), Some(7.0), None)
    );
}
