//! CloudWatch's PutMetricData (any publisher writes into the sandbox's metric store: `Value`,
//! `Values` + `Counts`, `StatisticValues`, `StorageResolution` 1 or 60) and ListMetrics
//! (namespace, metric name and dimension filters, `RecentlyActive`, 500 per page with
//! `NextToken`). Input checks follow CloudWatch's documented limits and error codes; a
//! request is checked whole before anything is written.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{CwError, Fields, fingerprint};
use crate::api::cbor::Value;
use crate::metric_store::{MetricStore, Sample, SeriesKey, Unit};

/// Datums per PutMetricData call.
const MAX_DATUMS: usize = 1000;
/// Entries in one datum's `Values`.
const MAX_VALUES: usize = 150;
/// Dimensions per metric.
const MAX_DIMENSIONS: usize = 30;
/// ListMetrics page size.
const LIST_PAGE: usize = 500;
/// How far back a datum's timestamp may be (two weeks) and ahead (two hours).
const MAX_PAST: Duration = Duration::from_secs(14 * 24 * 3600);
const MAX_FUTURE: Duration = Duration::from_secs(2 * 3600);

/// One checked datum, ready to record.
struct Datum {
    key: SeriesKey,
    unit: Unit,
    resolution: u64,
    at: SystemTime,
    sample: OwnedSample,
}

enum OwnedSample {
    Value(f64),
    Values(Vec<f64>, Option<Vec<f64>>),
    Set(f64, f64, f64, f64),
}

fn check_value(v: f64, what: &str) -> Result<f64, CwError> {
    // CloudWatch rejects NaN, infinities and magnitudes outside 2^-260..2^360.
    let a = v.abs();
    if !v.is_finite() || a > 2f64.powi(360) || (a != 0.0 && a < 2f64.powi(-260)) {
        return Err(CwError::invalid_value(format!(
            "The value {v} for parameter {what} is invalid."
        )));
    }
    Ok(v)
}

fn dimensions(f: &Fields<'_>) -> Result<Vec<(String, String)>, CwError> {
    let list = f.list("Dimensions")?;
    if list.len() > MAX_DIMENSIONS {
        return Err(CwError::invalid_value(format!(
            "The collection {} must not have a size greater than {MAX_DIMENSIONS}.",
            f.path_of("Dimensions")
        )));
    }
    let mut out = Vec::with_capacity(list.len());
    for d in &list {
        let name = d.req_str("Name")?;
        let value = d.req_str("Value")?;
        if name.is_empty() || name.len() > 255 || value.is_empty() || value.len() > 1024 {
            return Err(CwError::invalid_value(format!(
                "The dimension {} must have a Name of 1-255 and a Value of 1-1024 characters.",
                d.path_of("Name")
            )));
        }
        out.push((name.to_owned(), value.to_owned()));
    }
    out.sort();
    Ok(out)
}

fn datum(namespace: &str, d: &Fields<'_>, now: SystemTime) -> Result<Datum, CwError> {
    let metric = d.req_str("MetricName")?;
    if metric.is_empty() || metric.len() > 255 {
        return Err(CwError::invalid_value(format!(
            "The parameter {} must be 1-255 characters.",
            d.path_of("MetricName")
        )));
    }
    let dimensions = dimensions(d)?;
    let at = match d.time("Timestamp")? {
        Some(secs) if secs >= 0.0 => UNIX_EPOCH + Duration::from_secs_f64(secs),
        Some(_) => UNIX_EPOCH,
        None => now,
    };
    if at + MAX_PAST < now || at > now + MAX_FUTURE {
        return Err(CwError::invalid_value(format!(
            "The parameter {} must specify a time no more than two weeks in the past and no more than two hours in the future.",
            d.path_of("Timestamp")
        )));
    }
    let unit = match d.str("Unit")? {
        None => Unit::None,
        Some(u) => Unit::parse(u).ok_or_else(|| {
            CwError::invalid_value(format!(
                "The value {u} for parameter {} is invalid.",
                d.path_of("Unit")
            ))
        })?,
    };
    let resolution = match d.i64("StorageResolution")? {
        None | Some(60) => 60,
        Some(1) => 1,
        Some(r) => {
            return Err(CwError::invalid_value(format!(
                "The value {r} for parameter {} is invalid: use 1 (high resolution) or 60.",
                d.path_of("StorageResolution")
            )));
        }
    };
    let value = d.f64("Value")?;
    let values = d.numbers("Values")?;
    let counts = d.numbers("Counts")?;
    let set = d.object("StatisticValues")?;
    let given = [value.is_some(), values.is_some(), set.is_some()];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(CwError::combination(format!(
            "The parameters {}, {} and {} are mutually exclusive and you have specified more than one.",
            d.path_of("Value"),
            d.path_of("Values"),
            d.path_of("StatisticValues")
        )));
    }
    if counts.is_some() && values.is_none() {
        return Err(CwError::combination(format!(
            "The parameter {} requires {}.",
            d.path_of("Counts"),
            d.path_of("Values")
        )));
    }
    let sample = if let Some(v) = value {
        OwnedSample::Value(check_value(v, &d.path_of("Value"))?)
    } else if let Some(values) = values {
        if values.is_empty() || values.len() > MAX_VALUES {
            return Err(CwError::invalid_value(format!(
                "The collection {} must have 1 to {MAX_VALUES} entries.",
                d.path_of("Values")
            )));
        }
        for v in &values {
            check_value(*v, &d.path_of("Values"))?;
        }
        if let Some(c) = &counts {
            if c.len() != values.len() {
                return Err(CwError::invalid_value(format!(
                    "The parameters {} and {} must be of the same size.",
                    d.path_of("Values"),
                    d.path_of("Counts")
                )));
            }
            if c.iter().any(|n| !n.is_finite() || *n < 0.0) {
                return Err(CwError::invalid_value(format!(
                    "The parameter {} must hold non-negative counts.",
                    d.path_of("Counts")
                )));
            }
        }
        OwnedSample::Values(values, counts)
    } else if let Some(s) = set {
        let get = |m: &str| -> Result<f64, CwError> {
            let v = s.f64(m)?.ok_or_else(|| CwError::missing(&s.path_of(m)))?;
            check_value(v, &s.path_of(m))
        };
        let (count, sum, min, max) = (
            get("SampleCount")?,
            get("Sum")?,
            get("Minimum")?,
            get("Maximum")?,
        );
        if count <= 0.0 || min > max {
            return Err(CwError::invalid_value(format!(
                "The parameter {} must have SampleCount > 0 and Minimum <= Maximum.",
                d.path_of("StatisticValues")
            )));
        }
        OwnedSample::Set(count, sum, min, max)
    } else {
        return Err(CwError::missing(&d.path_of("Value")));
    };
    Ok(Datum {
        key: SeriesKey {
            namespace: namespace.to_owned(),
            metric: metric.to_owned(),
            dimensions,
        },
        unit,
        resolution,
        at,
        sample,
    })
}

/// PutMetricData: checks every datum, then records them all.
pub fn put_metric_data(
    store: &MetricStore,
    input: &Value,
    now: SystemTime,
) -> Result<Value, CwError> {
    let f = Fields::root(input);
    let namespace = f.req_str("Namespace")?;
    if namespace.is_empty() || namespace.len() > 255 || namespace.starts_with("AWS/") {
        return Err(CwError::invalid_value(format!(
            "The value {namespace} for parameter Namespace is invalid."
        )));
    }
    let data = f.list("MetricData")?;
    if data.is_empty() {
        return Err(CwError::missing("MetricData"));
    }
    if data.len() > MAX_DATUMS {
        return Err(CwError::invalid_value(format!(
            "The collection MetricData must not have a size greater than {MAX_DATUMS}."
        )));
    }
    let checked = data
        .iter()
        .map(|d| datum(namespace, d, now))
        .collect::<Result<Vec<_>, _>>()?;
    for d in checked {
        let sample = match &d.sample {
            OwnedSample::Value(v) => Sample::Value(*v),
            OwnedSample::Values(v, c) => Sample::Values(v, c.as_deref()),
            OwnedSample::Set(count, sum, min, max) => Sample::Set {
                count: *count,
                sum: *sum,
                min: *min,
                max: *max,
            },
        };
        store.put(d.key, d.unit, d.resolution, d.at, sample);
    }
    Ok(Value::Map(Vec::new()))
}

/// A series key as a token-safe string (hex of its fields).
fn encode_key(k: &SeriesKey) -> String {
    let mut s = format!("{}\u{1}{}", k.namespace, k.metric);
    for (n, v) in &k.dimensions {
        s.push('\u{1}');
        s.push_str(n);
        s.push('\u{2}');
        s.push_str(v);
    }
    super::cbor::hex(s.as_bytes())
}

fn decode_key(hex: &str) -> Option<SeriesKey> {
    if !hex.len().is_multiple_of(2) || hex.len() > 16_384 {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    let s = String::from_utf8(bytes).ok()?;
    let mut parts = s.split('\u{1}');
    let namespace = parts.next()?.to_owned();
    let metric = parts.next()?.to_owned();
    let dimensions = parts
        .map(|p| {
            p.split_once('\u{2}')
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(SeriesKey {
        namespace,
        metric,
        dimensions,
    })
}

/// ListMetrics: series matching every filter, sorted, 500 per page.
pub fn list_metrics(store: &MetricStore, input: &Value, now: SystemTime) -> Result<Value, CwError> {
    let f = Fields::root(input);
    let namespace = f.str("Namespace")?;
    let metric = f.str("MetricName")?;
    let mut filters = Vec::new();
    for d in f.list("Dimensions")? {
        filters.push((d.req_str("Name")?, d.str("Value")?));
    }
    if filters.len() > 10 {
        return Err(CwError::invalid_value(
            "The collection Dimensions must not have a size greater than 10.",
        ));
    }
    let recent = match f.str("RecentlyActive")? {
        None => false,
        Some("PT3H") => true,
        Some(other) => {
            return Err(CwError::invalid_value(format!(
                "The value {other} for parameter RecentlyActive is invalid (only PT3H)."
            )));
        }
    };
    let mut fp_parts = vec![namespace.unwrap_or(""), metric.unwrap_or("")];
    for (n, v) in &filters {
        fp_parts.push(n);
        fp_parts.push(v.unwrap_or("\u{0}"));
    }
    let fp = format!("{:016x}", fingerprint(&fp_parts));
    let after = match f.str("NextToken")? {
        None => None,
        Some(t) => {
            let bad = || CwError::invalid_value("The value of NextToken is invalid.");
            let (tfp, hex) = t.split_once(':').ok_or_else(bad)?;
            if tfp != fp {
                return Err(bad());
            }
            Some(decode_key(hex).ok_or_else(bad)?)
        }
    };
    let cutoff = now.checked_sub(Duration::from_secs(3 * 3600));
    let matching = store.list().into_iter().filter(|s| {
        namespace.is_none_or(|n| s.key.namespace == n)
            && metric.is_none_or(|m| s.key.metric == m)
            && filters.iter().all(|(name, value)| {
                s.key
                    .dimensions
                    .iter()
                    .any(|(n, v)| n == name && value.is_none_or(|want| v == want))
            })
            && (!recent || matches!((s.last, cutoff), (Some(l), Some(c)) if l >= c))
            && after.as_ref().is_none_or(|a| s.key > *a)
    });
    let mut page: Vec<SeriesKey> = Vec::new();
    let mut more = false;
    for s in matching {
        if page.len() == LIST_PAGE {
            more = true;
            break;
        }
        page.push(s.key);
    }
    let next = if more {
        page.last()
            .map(|k| Value::text(format!("{fp}:{}", encode_key(k))))
    } else {
        None
    };
    let metrics = page
        .into_iter()
        .map(|k| {
            let dims = k
                .dimensions
                .into_iter()
                .map(|(n, v)| {
                    Value::map([
                        ("Name", Some(Value::Text(n))),
                        ("Value", Some(Value::Text(v))),
                    ])
                })
                .collect();
            Value::map([
                ("Namespace", Some(Value::Text(k.namespace))),
                ("MetricName", Some(Value::Text(k.metric))),
                ("Dimensions", Some(Value::Array(dims))),
            ])
        })
        .collect();
    Ok(Value::map([
        ("Metrics", Some(Value::Array(metrics))),
        ("NextToken", next),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric_store::key;

    fn json(j: &serde_json::Value) -> Value {
        crate::api::cbor::from_json(j)
    }

    #[test]
    fn put_then_list_with_filters_and_pages() {
        let store = MetricStore::new(Duration::from_secs(60));
        let now = SystemTime::now();
        let t = now.duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
        let data: Vec<_> = (0..1000)
            .map(|i| {
                serde_json::json!({"MetricName": "M", "Timestamp": t, "Value": 1.0,
                "Dimensions": [{"Name": "Shard", "Value": format!("{i:04}")}]})
            })
            .collect();
        for chunk in data.chunks(500).map(<[serde_json::Value]>::to_vec) {
            let input = json(&serde_json::json!({"Namespace": "App", "MetricData": chunk}));
            put_metric_data(&store, &input, now).unwrap();
        }
        store.record(
            key("AWS/Lambda", "Invocations", &[("FunctionName", "f")]),
            Unit::Count,
            now,
            1.0,
        );
        let mut token: Option<String> = None;
        let mut seen = 0;
        for _ in 0..10 {
            let mut q = serde_json::json!({"Namespace": "App", "Dimensions": [{"Name": "Shard"}]});
            if let Some(t) = &token {
                q["NextToken"] = t.clone().into();
            }
            let out = list_metrics(&store, &json(&q), now).unwrap();
            seen += out.get("Metrics").unwrap().as_array().unwrap().len();
            token = out
                .get("NextToken")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        assert_eq!(seen, 1000);
        let one = json(&serde_json::json!({"Dimensions": [{"Name": "Shard", "Value": "0007"}]}));
        let out = list_metrics(&store, &one, now).unwrap();
        assert_eq!(out.get("Metrics").unwrap().as_array().unwrap().len(), 1);
        let bad = json(&serde_json::json!({"NextToken": "nope"}));
        assert_eq!(
            list_metrics(&store, &bad, now).unwrap_err().code,
            "InvalidParameterValue"
        );
    }

    #[test]
    fn put_rejects_what_cloudwatch_rejects() {
        let store = MetricStore::new(Duration::from_secs(60));
        let now = SystemTime::now();
        let cases = [
            (
                serde_json::json!({"MetricData": [{"MetricName": "m", "Value": 1}]}),
                "MissingParameter",
            ),
            (
                serde_json::json!({"Namespace": "AWS/Lambda", "MetricData": [{"MetricName": "m", "Value": 1}]}),
                "InvalidParameterValue",
            ),
            (
                serde_json::json!({"Namespace": "A", "MetricData": [{"MetricName": "m", "Value": 1, "Values": [1]}]}),
                "InvalidParameterCombination",
            ),
            (
                serde_json::json!({"Namespace": "A", "MetricData": [{"MetricName": "m", "Values": [1, 2], "Counts": [1]}]}),
                "InvalidParameterValue",
            ),
            (
                serde_json::json!({"Namespace": "A", "MetricData": [{"MetricName": "m", "Value": 1, "StorageResolution": 5}]}),
                "InvalidParameterValue",
            ),
            (
                serde_json::json!({"Namespace": "A", "MetricData": [{"MetricName": "m", "Value": 1, "Unit": "Parsecs"}]}),
                "InvalidParameterValue",
            ),
            (
                serde_json::json!({"Namespace": "A", "MetricData": [{"MetricName": "m", "Value": 1, "Timestamp": 1000}]}),
                "InvalidParameterValue",
            ),
            (
                serde_json::json!({"Namespace": "A", "MetricData": [{"MetricName": "m"}]}),
                "MissingParameter",
            ),
            (
                serde_json::json!({"Namespace": "A", "MetricData": [{"MetricName": "m", "StatisticValues": {"SampleCount": 1, "Sum": 1, "Minimum": 2, "Maximum": 1}}]}),
                "InvalidParameterValue",
            ),
            (
                serde_json::json!({"Namespace": "A", "MetricData": [{"MetricName": "m", "Value": "x"}]}),
                "SerializationException",
            ),
        ];
        for (input, code) in cases {
            let err = put_metric_data(&store, &json(&input), now).unwrap_err();
            assert_eq!(err.code, code, "{input}: {err:?}");
        }
        assert!(store.list().is_empty(), "nothing written by rejected calls");
    }
}
