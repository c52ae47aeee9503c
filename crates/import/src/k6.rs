//! k6 results: `--out json` NDJSON (`http_req_duration` Points; `data.time` is the
//! response's end) and `--out csv` (timestamps in seconds, milliseconds, microseconds or
//! nanoseconds, or RFC 3339, by `timeFormat`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use chrono::DateTime;
use serde::Deserialize;
use stormwatch_model::request_ids::{RequestIdKind, valid_request_id};

use crate::ImportError;
use crate::file_read::{FileRead, TimeBase};
use crate::input::{Stream, csv_rows, csv_table};
use crate::sample::{Sample, ms_to_ns, trace_from_header};

/// What a line that is not an `http_req_duration` point is read for: its type, the rest
/// skipped unparsed (most lines are other metrics' points).
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
}

/// An `http_req_duration` line, its strings borrowed from the line where they have no
/// escapes.
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    metric: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    data: Option<Data<'a>>,
}

#[derive(Deserialize)]
struct Data<'a> {
    #[serde(default, borrow)]
    time: Option<Cow<'a, str>>,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default, borrow)]
    tags: Option<Pairs<'a>>,
    #[serde(default, borrow)]
    metadata: Option<Pairs<'a>>,
}

/// A JSON object's entries in order: a dozen tags are searched faster than they are hashed.
#[derive(Default)]
struct Pairs<'a>(Vec<(Text<'a>, Text<'a>)>);

impl<'a> Pairs<'a> {
    fn get(&self, key: &str) -> Option<&Text<'a>> {
        self.0
            .iter()
            .find(|(k, _)| k.0.as_deref() == Some(key))
            .map(|(_, v)| v)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Pairs<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Entries<'a> {
            type Value = Pairs<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(a.size_hint().unwrap_or(12));
                while let Some(entry) = a.next_entry::<Text<'a>, Text<'a>>()? {
                    out.push(entry);
                }
                Ok(Pairs(out))
            }
        }
        d.deserialize_map(Entries(std::marker::PhantomData))
    }
}

/// A tag or metadata key or value, borrowed from the line when it has no escapes: k6 writes
/// strings, but any scalar is read as its text; null (and a nested array or object, which k6
/// does not write) is none.
struct Text<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Scalar<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Scalar<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a tag value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v))))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Self::Value, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Self::Value, A::Error> {
                while a
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Text(None))
            }
        }
        d.deserialize_any(Scalar(std::marker::PhantomData))
    }
}

const TRACE_KEYS: [&str; 3] = ["trace_id", "x_amzn_trace_id", "X-Amzn-Trace-Id"];

/// Two keys only: each is a hash lookup in the tags and the metadata of every point.
const REQUEST_ID_KEYS: [(&str, RequestIdKind); 2] = [
    ("request_id", RequestIdKind::Amzn),
    ("apigw_requestid", RequestIdKind::HttpApi),
];
/// A request from its tags (and metadata), ending at `end_ns` after `duration_ms`.
fn sample<'a>(
    tags: &dyn Fn(&str) -> Option<Cow<'a, str>>,
    end_ns: i64,
    duration_ms: f64,
) -> Sample {
    let method = tags("method").unwrap_or_default();
    let name = tags("name").or_else(|| tags("url")).unwrap_or_default();
    let endpoint = if method.is_empty() {
        name.into_owned()
    } else {
        format!("{method} {name}")
    };
    let mut s = Sample::new(endpoint, end_ns - ms_to_ns(duration_ms), end_ns);
    let status = tags("status").and_then(|v| v.parse().ok()).unwrap_or(0);
    let success = match tags("expected_response").as_deref() {
        Some("true") => true,
        Some("false") => false,
        _ => (200..400).contains(&status),
    };
    let message = tags("error")
        .or_else(|| tags("error_code"))
        .unwrap_or_default();
    s.outcome(status, success, &message);
    s.group = tags("scenario")
        .filter(|v| !v.is_empty())
        .map(Cow::into_owned);
    s.flow = tags("group")
        .map(|g| g.trim_start_matches("::").to_string())
        .unwrap_or_default();
    s.actor = tags("vu").and_then(|v| v.parse().ok());
    s.trace = TRACE_KEYS
        .iter()
        .find_map(|k| tags(k))
        .and_then(|v| trace_from_header(&v));
    // A tag or metadata the script set from the response (`res.headers['X-Amzn-Requestid']`).
    s.request_id = REQUEST_ID_KEYS.iter().find_map(|(k, kind)| {
        let id = tags(k)?;
        let id = id.trim();
        valid_request_id(id).then(|| (id.to_string(), *kind))
    });
    s
}

/// Reads k6 `--out json` NDJSON.
pub fn read_json(path: &Path, input: Stream<impl BufRead>) -> Result<FileRead, ImportError> {
    let mut out = FileRead::new(
        "k6-json",
        "k6 JSON: data.time = response end (RFC 3339, ns); start = time - http_req_duration",
    );
    let mut points = 0u64;
    input.lines(path, &mut out, |out, numbered| {
        let n = numbered.0;
        let not_k6 = "not a k6 JSON output line: is this a `k6 run --out json` file?";
        // Only an http_req_duration line needs all its fields.
        if !numbered.1.contains("http_req_duration") {
            if let Some(head) = out.ndjson_line::<Head>(path, numbered, "type", not_k6)?
                && head.kind != "Point"
                && head.kind != "Metric"
            {
                out.skip(
                    path,
                    n,
                    "type",
                    &format!("unknown line type {:?}", head.kind),
                );
            }
            return Ok(());
        }
        let Some(parsed) = out.ndjson_line::<Line>(path, numbered, "type", not_k6)? else {
            return Ok(());
        };
        if parsed.kind != "Point" || parsed.metric.as_deref() != Some("http_req_duration") {
            if parsed.kind != "Point" && parsed.kind != "Metric" {
                out.skip(
                    path,
                    n,
                    "type",
                    &format!("unknown line type {:?}", parsed.kind),
                );
            }
            return Ok(());
        }
        points += 1;
        let Some(data) = parsed.data else {
            out.skip(path, n, "data", "missing");
            return Ok(());
        };
        let Some(time) = data
            .time
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        else {
            out.skip(path, n, "data.time", "missing or not RFC 3339");
            return Ok(());
        };
        let Some(value) = data.value.filter(|v| v.is_finite() && *v >= 0.0) else {
            out.skip(path, n, "data.value", "missing or not a duration in ms");
            return Ok(());
        };
        let Some(end_ns) = time.timestamp_nanos_opt() else {
            out.skip(path, n, "data.time", "out of range");
            return Ok(());
        };
        let tags = data.tags.unwrap_or_default();
        let meta = data.metadata.unwrap_or_default();
        let get = |k: &str| {
            tags.get(k)
                .or_else(|| meta.get(k))
                .and_then(|t| t.0.clone())
        };
        out.samples.push(&sample(&get, end_ns, value));
        Ok(())
    })?;
    if points == 0 && out.skipped == 0 {
        return Err(ImportError::file(
            path,
            "no http_req_duration points: a k6 JSON file of a test without HTTP requests?",
        ));
    }
    out.require_some(path, "http_req_duration points")
}

/// The unit of an integer k6 CSV timestamp, by magnitude.
fn unit_of(v: i64) -> (&'static str, i64) {
    match v.unsigned_abs() {
        0..100_000_000_000 => ("unix seconds", 1_000_000_000),
        100_000_000_000..100_000_000_000_000 => ("unix milliseconds", 1_000_000),
        100_000_000_000_000..100_000_000_000_000_000 => ("unix microseconds", 1_000),
        _ => ("unix nanoseconds", 1),
    }
}

/// Reads k6 `--out csv`.
pub fn read_csv(path: &Path, input: Stream<impl BufRead>) -> Result<FileRead, ImportError> {
    let (header, col, reader, ends_with_newline) = csv_table(
        path,
        input,
        &["metric_name", "timestamp", "metric_value"],
        "`k6 run --out csv`",
    )?;
    let mut out = FileRead::new("k6-csv", String::new());
    let mut base = TimeBase::default();
    let table = (header.as_slice(), reader, ends_with_newline);
    csv_rows(path, table, &mut out, |out, line, row| {
        let field = |n: &str| col.get(n).and_then(|i| row.get(*i)).unwrap_or("");
        if field("metric_name") != "http_req_duration" {
            return Ok(());
        }
        let ts = field("timestamp").trim();
        let (this_base, end_ns) = if let Ok(v) = ts.parse::<i64>() {
            let (unit, scale) = unit_of(v);
            (unit, v.saturating_mul(scale))
        } else if let Some(ns) = DateTime::parse_from_rfc3339(ts)
            .ok()
            .and_then(|t| t.timestamp_nanos_opt())
        {
            ("RFC 3339", ns)
        } else {
            out.skip(path, line, "timestamp", "not a unix time or RFC 3339");
            return Ok(());
        };
        base.check(this_base, path, line, "timestamp")?;
        let Some(value) = field("metric_value")
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
        else {
            out.skip(path, line, "metric_value", "not a duration in ms");
            return Ok(());
        };
        let mut extra: HashMap<String, String> = HashMap::new();
        for k in ["extra_tags", "metadata"] {
            for pair in field(k).split('&') {
                if let Some((a, b)) = pair.split_once('=') {
                    extra.insert(a.to_string(), b.to_string());
                }
            }
        }
        let get = |k: &str| {
            col.get(k)
                .and_then(|i| row.get(*i))
                .filter(|v| !v.is_empty())
                .or_else(|| extra.get(k).map(String::as_str))
                .map(Cow::Borrowed)
        };
        out.samples.push(&sample(&get, end_ns, value));
        Ok(())
    })?;
    let base = base.get().unwrap_or("unix seconds");
    out.time_basis = format!(
        "k6 CSV: timestamp = response end in {base}; start = timestamp - http_req_duration"
    );
    if base == "unix seconds" {
        out.notes.push(
            "k6 CSV timestamps are whole seconds (k6's default timeFormat): request times are \
             only known to 1 s; run k6 with --out csv=FILE,timeFormat=unix_milli"
                .into(),
        );
    }
    out.require_some(path, "http_req_duration rows")
}

#[cfg(test)]
mod tests {
    use super::*;

    const POINT: &str = r#"{"type":"Point","data":{"time":"2026-11-22T10:00:01.250000000+01:00","value":250,"tags":{"expected_response":"true","group":"","method":"GET","name":"http://127.0.0.1:8080/orders","proto":"HTTP/1.1","scenario":"warm","status":"200","url":"http://127.0.0.1:8080/orders"},"metadata":{"trace_id":"Root=1-5759e988-bd862e3fe1be46a994272793","request_id":"c8ba2a7e-4f0b"}},"metric":"http_req_duration"}"#;

    #[test]
    fn json_points_end_at_their_time() {
        let text = format!(
            "{{\"type\":\"Metric\",\"data\":{{\"type\":\"trend\",\"contains\":\"time\"}},\"metric\":\"http_req_duration\"}}\n{POINT}\n{}\n",
            POINT.replace("http_req_duration", "http_req_waiting")
        );
        let r = read_json(Path::new("k.json"), Stream::text(&text)).unwrap();
        assert_eq!(r.samples.len(), 1);
        let s = r.samples.get(0);
        assert_eq!(s.endpoint, "GET http://127.0.0.1:8080/orders");
        assert_eq!(s.end_ns - s.start_ns, 250_000_000);
        assert_eq!(s.end_ns, 1_795_338_001_250_000_000);
        assert_eq!(s.group.as_deref(), Some("warm"));
        assert!(s.trace.is_some());
        assert_eq!(
            s.request_id,
            Some(("c8ba2a7e-4f0b".into(), RequestIdKind::Amzn))
        );
    }

    #[test]
    fn json_tag_values_of_any_scalar_and_escaped_strings() {
        let point = POINT
            .replace(
                "\"scenario\":\"warm\"",
                "\"scenario\":\"w\\u0061rm\",\"error\":null,\"vu\":7",
            )
            .replace("\"status\":\"200\"", "\"status\":503");
        let r = read_json(Path::new("k.json"), Stream::text(&format!("{point}\n"))).unwrap();
        let s = r.samples.get(0);
        assert_eq!(s.group.as_deref(), Some("warm"));
        assert_eq!((s.status, s.actor), (503, Some(7)));
    }

    #[test]
    fn json_bad_inputs() {
        let e = read_json(Path::new("k.json"), Stream::text("timeStamp,elapsed\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("k.json:1: type: not a k6 JSON output line"),
            "{e}"
        );
        let torn = format!("{POINT}\n{}", &POINT[..40]);
        let r = read_json(Path::new("k.json"), Stream::text(&torn)).unwrap();
        assert_eq!((r.samples.len(), r.skipped), (1, 1));
        assert!(r.skipped_examples[0].contains("k.json:2: line: torn last line"));
        let bad = POINT.replace("\"value\":250", "\"value\":\"x\"");
        let e = read_json(
            Path::new("k.json"),
            Stream::text(&format!("{POINT}\n{bad}\n")),
        )
        .unwrap();
        assert_eq!(e.skipped, 1);
    }

    const CSV_HEADER: &str = "metric_name,timestamp,metric_value,check,error,error_code,expected_response,group,method,name,proto,scenario,service,status,subproto,tls_version,url,extra_tags,metadata\n";

    #[test]
    fn csv_rows_in_milliseconds_and_nanoseconds() {
        for (ts, scale) in [("1795338001250", 1_000_000i64), ("1795338001250000000", 1)] {
            let text = format!(
                "{CSV_HEADER}http_reqs,{ts},1,,,,true,,GET,http://h/a,HTTP/1.1,default,,200,,,http://h/a,,\n\
                 http_req_duration,{ts},12.5,,,,true,,GET,http://h/a,HTTP/1.1,default,,200,,,http://h/a,trace_id=1-5759e988-bd862e3fe1be46a994272793&apigw_requestid=Jx1=,vu=3\n"
            );
            let r = read_csv(Path::new("k.csv"), Stream::text(&text)).unwrap();
            assert_eq!(r.samples.len(), 1);
            assert_eq!(r.samples.get(0).end_ns, ts.parse::<i64>().unwrap() * scale);
            assert_eq!(r.samples.get(0).actor, Some(3));
            assert!(r.samples.get(0).trace.is_some());
            assert_eq!(
                r.samples.get(0).request_id,
                Some(("Jx1=".into(), RequestIdKind::HttpApi))
            );
        }
    }

    #[test]
    fn csv_bad_inputs() {
        let e = read_csv(
            Path::new("k.csv"),
            Stream::text("metric_name,metric_value\nx,1\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("k.csv:1: timestamp: missing column"), "{e}");
        let mixed = format!(
            "{CSV_HEADER}http_req_duration,1795338001250,1,,,,true,,GET,a,,default,,200,,,a,,\n\
             http_req_duration,1795338001,1,,,,true,,GET,a,,default,,200,,,a,,\n"
        );
        let e = read_csv(Path::new("k.csv"), Stream::text(&mixed))
            .unwrap_err()
            .to_string();
        assert!(e.contains("k.csv:3: timestamp: mixed time bases"), "{e}");
    }
}
