//! The fields Logs Insights discovers in a Lambda log event: `@timestamp`, `@message`,
//! `@logStream`, `@log`, and from the Lambda platform lines `@type`, `@requestId`,
//! `@duration`, `@billedDuration`, `@memorySize`, `@maxMemoryUsed` (bytes, as Insights
//! reports them), `@initDuration` and `@xrayTraceId`. Text-format `START`/`END`/`REPORT`
//! lines and JSON-format `platform.start`/`platform.report` records give the same `@`
//! fields (AWS documents the `@` fields for the text format; the sandbox maps the JSON
//! records too so one cold-start query serves both formats). JSON messages also yield their
//! members as dotted names (`record.metrics.initDurationMs`), as Insights discovers them.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::LogEvent;

/// A field value: Insights compares numbers numerically and everything else as text.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// A number.
    Num(f64),
    /// Text.
    Str(String),
}

impl FieldValue {
    /// The number, if the value is one or is text that reads as one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            FieldValue::Num(n) => Some(*n),
            FieldValue::Str(s) => s.trim().parse().ok(),
        }
    }

    /// The value as Insights prints it in results.
    pub fn render(&self) -> String {
        match self {
            FieldValue::Num(n) => format_number(*n),
            FieldValue::Str(s) => s.clone(),
        }
    }
}

/// Integers without a fraction, others with up to 10 decimals, no trailing zeros.
pub fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        let s = format!("{n:.10}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// One event with its discovered fields.
pub type Record = BTreeMap<String, FieldValue>;

/// `YYYY-MM-DD HH:MM:SS.mmm` (UTC), how Insights prints `@timestamp` and `bin()`.
pub fn format_timestamp(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        ms % 1000
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `2.75 ms` → 2.75; `128 MB` → 128.
fn leading_number(s: &str) -> Option<f64> {
    s.split_whitespace().next()?.parse().ok()
}

const MB: f64 = 1_000_000.0;

/// Discovers the fields of one event of `group`.
pub fn discover(group: &str, event: &LogEvent, account: &str) -> Record {
    let mut r = Record::new();
    r.insert(
        "@timestamp".into(),
        FieldValue::Str(format_timestamp(event.timestamp_ms)),
    );
    r.insert("@message".into(), FieldValue::Str(event.message.clone()));
    r.insert("@logStream".into(), FieldValue::Str(event.stream.clone()));
    r.insert("@log".into(), FieldValue::Str(format!("{account}:{group}")));
    r.insert(
        "@ingestionTime".into(),
        FieldValue::Str(format_timestamp(event.ingestion_ms)),
    );
    let msg = event.message.trim_start();
    if msg.starts_with('{') {
        if let Ok(v) = serde_json::from_str::<Value>(msg) {
            json_platform_fields(&v, &mut r);
            flatten("", &v, &mut r, 0);
        }
    } else {
        text_platform_fields(msg, &mut r);
    }
    r
}

fn text_platform_fields(msg: &str, r: &mut Record) {
    let kind = msg.split_whitespace().next().unwrap_or("");
    if !matches!(kind, "START" | "END" | "REPORT") {
        return;
    }
    r.insert("@type".into(), FieldValue::Str(kind.to_owned()));
    // `KEY: value` pairs separated by tabs or newlines; START puts `Version:` on the same
    // tab-free line, so split that one on its two keys.
    let body = &msg[kind.len()..];
    for part in body.split(['\t', '\n']) {
        let part = part.trim();
        if let Some(rest) = part.strip_prefix("RequestId:") {
            let id = rest.split_whitespace().next().unwrap_or("");
            r.insert("@requestId".into(), FieldValue::Str(id.to_owned()));
            continue;
        }
        if let Some(rest) = part.strip_prefix("XRAY TraceId:") {
            r.insert(
                "@xrayTraceId".into(),
                FieldValue::Str(rest.trim().to_owned()),
            );
            continue;
        }
        let Some((key, value)) = part.split_once(':') else {
            continue;
        };
        let (name, scale) = match key.trim() {
            "Duration" => ("@duration", 1.0),
            "Billed Duration" => ("@billedDuration", 1.0),
            "Memory Size" => ("@memorySize", MB),
            "Max Memory Used" => ("@maxMemoryUsed", MB),
            "Init Duration" => ("@initDuration", 1.0),
            "Restore Duration" => ("@restoreDuration", 1.0),
            _ => continue,
        };
        if let Some(n) = leading_number(value) {
            r.insert(name.into(), FieldValue::Num(n * scale));
        }
    }
}

fn json_platform_fields(v: &Value, r: &mut Record) {
    let kind = match v.get("type").and_then(Value::as_str) {
        Some("platform.report") => "REPORT",
        Some("platform.start") => "START",
        _ => return,
    };
    r.insert("@type".into(), FieldValue::Str(kind.to_owned()));
    if let Some(id) = v.pointer("/record/requestId").and_then(Value::as_str) {
        r.insert("@requestId".into(), FieldValue::Str(id.to_owned()));
    }
    let metric = |name: &str| {
        v.pointer(&format!("/record/metrics/{name}"))
            .and_then(Value::as_f64)
    };
    for (json_name, field, scale) in [
        ("durationMs", "@duration", 1.0),
        ("billedDurationMs", "@billedDuration", 1.0),
        ("memorySizeMB", "@memorySize", MB),
        ("maxMemoryUsedMB", "@maxMemoryUsed", MB),
        ("initDurationMs", "@initDuration", 1.0),
        ("restoreDurationMs", "@restoreDuration", 1.0),
    ] {
        if let Some(n) = metric(json_name) {
            r.insert(field.into(), FieldValue::Num(n * scale));
        }
    }
    if let Some(trace) = v.pointer("/record/tracing/value").and_then(Value::as_str) {
        let root = trace
            .split(';')
            .find_map(|kv| kv.trim().strip_prefix("Root="))
            .unwrap_or(trace);
        r.insert("@xrayTraceId".into(), FieldValue::Str(root.to_owned()));
    }
}

fn flatten(prefix: &str, v: &Value, r: &mut Record, depth: usize) {
    if depth > 16 {
        return;
    }
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&name, child, r, depth + 1);
            }
        }
        Value::Number(n) if !prefix.is_empty() => {
            if let Some(f) = n.as_f64() {
                r.insert(prefix.to_owned(), FieldValue::Num(f));
            }
        }
        Value::String(s) if !prefix.is_empty() => {
            r.insert(prefix.to_owned(), FieldValue::Str(s.clone()));
        }
        Value::Bool(b) if !prefix.is_empty() => {
            r.insert(prefix.to_owned(), FieldValue::Str(b.to_string()));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(msg: &str) -> LogEvent {
        LogEvent {
            timestamp_ms: 1_795_000_000_123,
            ingestion_ms: 1_795_000_000_200,
            stream: "s".into(),
            message: msg.into(),
        }
    }

    #[test]
    fn text_report_line() {
        let r = discover(
            "/aws/lambda/f",
            &ev(
                "REPORT RequestId: abc-1\tDuration: 2.75 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 56 MB\tInit Duration: 113.51 ms\t\nXRAY TraceId: 1-5f000000-000000000000000000000001\tSegmentId: 0000000000000001\tSampled: true\t",
            ),
            "123456789012",
        );
        assert_eq!(r["@type"], FieldValue::Str("REPORT".into()));
        assert_eq!(r["@requestId"], FieldValue::Str("abc-1".into()));
        assert_eq!(r["@duration"], FieldValue::Num(2.75));
        assert_eq!(r["@memorySize"], FieldValue::Num(128e6));
        assert_eq!(r["@initDuration"], FieldValue::Num(113.51));
        assert_eq!(
            r["@xrayTraceId"],
            FieldValue::Str("1-5f000000-000000000000000000000001".into())
        );
        let start = discover(
            "/aws/lambda/f",
            &ev("START RequestId: abc-1 Version: $LATEST"),
            "1",
        );
        assert_eq!(start["@requestId"], FieldValue::Str("abc-1".into()));
        assert!(!start.contains_key("@duration"));
    }

    #[test]
    fn json_platform_report() {
        let r = discover(
            "/aws/lambda/f",
            &ev(
                r#"{"time":"x","type":"platform.report","record":{"requestId":"r1","metrics":{"durationMs":5.5,"billedDurationMs":6,"memorySizeMB":512,"maxMemoryUsedMB":70,"initDurationMs":40.2},"tracing":{"type":"X-Amzn-Trace-Id","value":"Root=1-5f000000-000000000000000000000009;Parent=1;Sampled=1"}}}"#,
            ),
            "1",
        );
        assert_eq!(r["@type"], FieldValue::Str("REPORT".into()));
        assert_eq!(r["@initDuration"], FieldValue::Num(40.2));
        assert_eq!(r["record.metrics.durationMs"], FieldValue::Num(5.5));
        assert_eq!(
            r["@xrayTraceId"],
            FieldValue::Str("1-5f000000-000000000000000000000009".into())
        );
    }

    #[test]
    fn timestamps_print_like_insights() {
        assert_eq!(format_timestamp(0), "1970-01-01 00:00:00.000");
        assert_eq!(
            format_timestamp(1_709_251_199_999),
            "2024-02-29 23:59:59.999"
        );
        assert_eq!(format_number(3.0), "3");
        assert_eq!(format_number(113.51), "113.51");
    }
}
