//! Tests of GetMetricData: query checks, period alignment and availability, math and paging.

use super::*;
use crate::metric_store::{Sample, key};
use std::time::Duration;

const T0: u64 = 1_800_000_000; // a whole minute

fn store_with_seconds(n: u64) -> MetricStore {
    let s = MetricStore::new(Duration::from_secs(60));
    for i in 0..n {
        let at = UNIX_EPOCH + Duration::from_secs(T0 + i);
        s.put(
            key("App", "Hi", &[]),
            Unit::Count,
            1,
            at,
            Sample::Value(i as f64),
        );
    }
    s
}

fn input(queries: &serde_json::Value, extra: &serde_json::Value) -> Value {
    let mut j =
        serde_json::json!({"MetricDataQueries": queries, "StartTime": T0, "EndTime": T0 + 600});
    if let (Some(o), Some(e)) = (j.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    crate::api::cbor::from_json(&j)
}

fn stat(id: &str, stat: &str, period: u64) -> serde_json::Value {
    serde_json::json!({"Id": id, "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "Hi"}, "Period": period, "Stat": stat}})
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0 + 3600)
}

fn points(v: &Value, i: usize) -> Vec<(f64, f64)> {
    let r = &v.get("MetricDataResults").unwrap().as_array().unwrap()[i];
    let ts = r.get("Timestamps").unwrap().as_array().unwrap();
    let vs = r.get("Values").unwrap().as_array().unwrap();
    ts.iter()
        .zip(vs)
        .map(|(t, v)| (t.as_f64().unwrap(), v.as_f64().unwrap()))
        .collect()
}

#[test]
fn alignment_follows_cloudwatch() {
    let now = 1000 * DAY;
    let t = now - HOUR + 37; // hh:mm:37
    assert_eq!(align_start(t, 60, now), t - 37 - (t - 37) % 60);
    assert_eq!(align_start(t, 300, now) % 60, 0);
    assert_eq!(align_start(t, 10, now) % 10, 0);
    assert_eq!(align_start(t, 7, now), t);
    let old = now - 20 * DAY + 123;
    assert_eq!(align_start(old, 300, now) % 300, 0);
    assert!(period_available(t, 1, 1, now));
    assert!(!period_available(now - 4 * HOUR, 1, 1, now));
    assert!(!period_available(t, 30, 60, now));
    assert!(period_available(now - 16 * DAY, 300, 60, now));
    assert!(!period_available(now - 16 * DAY, 60, 60, now));
}

#[test]
fn stats_time_bounds_and_scan_order() {
    let s = store_with_seconds(180);
    let q = serde_json::json!([stat("a", "Sum", 60), stat("b", "Maximum", 60)]);
    let extra = serde_json::json!({"StartTime": T0 + 30, "EndTime": T0 + 150, "ScanBy": "TimestampAscending"});
    let out = get_metric_data(&s, &input(&q, &extra), now()).unwrap();
    // Start rounds down to T0; data stops before T0 + 150.
    let sum_0: f64 = (0..60).map(f64::from).sum();
    let sum_2: f64 = (120..150).map(f64::from).sum();
    assert_eq!(points(&out, 0)[0], (T0 as f64, sum_0));
    assert_eq!(points(&out, 0)[2], ((T0 + 120) as f64, sum_2));
    assert_eq!(points(&out, 1)[2].1, 149.0);
    let out = get_metric_data(&s, &input(&q, &serde_json::json!({})), now()).unwrap();
    assert_eq!(
        points(&out, 0)[0].0,
        (T0 + 120) as f64,
        "descending by default"
    );
}

#[test]
fn pages_by_max_datapoints() {
    let s = store_with_seconds(250);
    let q = serde_json::json!([stat("a", "Sum", 1), stat("b", "SampleCount", 1)]);
    let mut token: Option<String> = None;
    let mut got: HashMap<String, usize> = HashMap::new();
    let mut pages = 0;
    for _ in 0..20 {
        let mut extra = serde_json::json!({"MaxDatapoints": 100});
        if let Some(t) = &token {
            extra["NextToken"] = t.clone().into();
        }
        let out = get_metric_data(&s, &input(&q, &extra), now()).unwrap();
        pages += 1;
        for r in out.get("MetricDataResults").unwrap().as_array().unwrap() {
            let id = r.get("Id").unwrap().as_str().unwrap().to_owned();
            *got.entry(id).or_default() += r.get("Values").unwrap().as_array().unwrap().len();
        }
        token = out
            .get("NextToken")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, 5);
    assert_eq!((got["a"], got["b"]), (250, 250));
    let bad = serde_json::json!({"NextToken": "gmd1:00:0:0"});
    let err = get_metric_data(&s, &input(&q, &bad), now()).unwrap_err();
    assert_eq!(err.code, "InvalidNextToken");
}

#[test]
fn limits_and_silent_empties() {
    let s = store_with_seconds(60);
    let many: Vec<_> = (0..501)
        .map(|i| stat(&format!("q{i}"), "Sum", 60))
        .collect();
    let err = get_metric_data(
        &s,
        &input(&serde_json::json!(many), &serde_json::json!({})),
        now(),
    )
    .unwrap_err();
    assert_eq!(err.code, "ValidationError");
    // A standard-resolution series asked at 30 s: no datapoints, no error.
    s.record(
        key("App", "Std", &[]),
        Unit::Count,
        UNIX_EPOCH + Duration::from_secs(T0),
        1.0,
    );
    let q = serde_json::json!([{"Id": "a", "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "Std"}, "Period": 30, "Stat": "Sum"}}]);
    let out = get_metric_data(&s, &input(&q, &serde_json::json!({})), now()).unwrap();
    assert!(points(&out, 0).is_empty());
    let q = serde_json::json!([{"Id": "a", "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "Hi"}, "Period": 60, "Stat": "Sum", "Unit": "Bytes"}}]);
    let out = get_metric_data(&s, &input(&q, &serde_json::json!({})), now()).unwrap();
    assert!(points(&out, 0).is_empty(), "unit filter");
    for bad in [
        serde_json::json!([stat("A", "Sum", 60)]),
        serde_json::json!([stat("a", "Sum", 60), stat("a", "Sum", 60)]),
        serde_json::json!([stat("a", "tm99", 60)]),
        serde_json::json!([{"Id": "e", "Expression": "a +"}]),
        serde_json::json!([{"Id": "e", "Expression": "f"}, {"Id": "f", "Expression": "e"}]),
    ] {
        let err = get_metric_data(&s, &input(&bad, &serde_json::json!({})), now()).unwrap_err();
        assert_eq!(err.code, "ValidationError", "{bad}");
    }
}

#[test]
fn math_and_labels() {
    let s = store_with_seconds(120);
    let mut a = stat("a", "Sum", 60);
    a["ReturnData"] = false.into();
    let q = serde_json::json!([a, stat("b", "SampleCount", 60),
            {"Id": "e", "Expression": "a / b", "Label": "avg"},
            {"Id": "f", "Expression": "FILL(b, 0) * 2"}]);
    let extra = serde_json::json!({"ScanBy": "TimestampAscending", "EndTime": T0 + 240});
    let out = get_metric_data(&s, &input(&q, &extra), now()).unwrap();
    let results = out.get("MetricDataResults").unwrap().as_array().unwrap();
    assert_eq!(results.len(), 3, "a is not returned");
    assert_eq!(results[0].get("Label").unwrap().as_str(), Some("Hi"));
    assert_eq!(results[1].get("Label").unwrap().as_str(), Some("avg"));
    assert_eq!(
        points(&out, 1),
        [(T0 as f64, 29.5), ((T0 + 60) as f64, 89.5)]
    );
    let f = points(&out, 2);
    assert_eq!(f.len(), 4);
    assert_eq!(f[3], ((T0 + 180) as f64, 0.0));
}
