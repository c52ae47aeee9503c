//! HAR 1.2 (`log.entries[]`): `startedDateTime` (ISO 8601 with offset) and `time` (ms, the
//! sum of `timings`), `response.status` (0 when the request failed) and response headers.

use std::path::Path;

use chrono::DateTime;
use serde::Deserialize;

use crate::ImportError;
use crate::file_read::FileRead;
use crate::sample::{Sample, is_trace_header, ms_to_ns, trace_from_header};

#[derive(Deserialize)]
struct Har {
    log: Option<Log>,
}

#[derive(Deserialize)]
struct Log {
    entries: Option<Vec<Entry>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    started_date_time: Option<String>,
    time: Option<f64>,
    request: Option<Request>,
    response: Option<Response>,
    timings: Option<Timings>,
}

#[derive(Deserialize)]
struct Request {
    method: Option<String>,
    url: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    status: Option<u16>,
    #[serde(default)]
    headers: Vec<Header>,
    body_size: Option<i64>,
    #[serde(rename = "_error")]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Header {
    name: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize)]
struct Timings {
    blocked: Option<f64>,
    dns: Option<f64>,
    connect: Option<f64>,
    send: Option<f64>,
    wait: Option<f64>,
    receive: Option<f64>,
}

/// The path of a URL (`https://h/p?q` → `/p`).
fn url_path(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.find('/').map_or("/", |i| &rest[i..]);
    path.split(['?', '#']).next().unwrap_or(path)
}

/// Reads a HAR file.
pub fn read(path: &Path, text: &str) -> Result<FileRead, ImportError> {
    let har: Har = serde_json::from_str(text).map_err(|e| {
        ImportError::at(
            path,
            e.line() as u64,
            "json",
            format!("not a HAR file: {e}"),
        )
    })?;
    let entries = har
        .log
        .and_then(|l| l.entries)
        .ok_or_else(|| ImportError::at(path, 1, "log.entries", "missing: is this a HAR file?"))?;
    let mut out = FileRead::new(
        "har",
        "HAR: startedDateTime = request start (ISO 8601, ms); end = start + time",
    );
    for (i, e) in entries.into_iter().enumerate() {
        let n = i as u64 + 1;
        let Some(start) = e
            .started_date_time
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .and_then(|t| t.timestamp_nanos_opt())
        else {
            out.skip(
                path,
                n,
                "startedDateTime",
                "missing or not ISO 8601 (entry number)",
            );
            continue;
        };
        let time = e.time.filter(|t| *t >= 0.0).or_else(|| {
            let t = e.timings.as_ref()?;
            Some(
                [t.blocked, t.dns, t.connect, t.send, t.wait, t.receive]
                    .iter()
                    .flatten()
                    .filter(|v| **v > 0.0)
                    .sum(),
            )
        });
        let Some(time) = time else {
            out.skip(path, n, "time", "missing, and no timings (entry number)");
            continue;
        };
        let request = e.request.unwrap_or(Request {
            method: None,
            url: None,
        });
        let method = request.method.unwrap_or_default();
        let url = request.url.unwrap_or_default();
        let mut s = Sample::new(
            format!("{method} {}", url_path(&url)),
            start,
            start + ms_to_ns(time),
        );
        if let Some(r) = e.response {
            let status = r.status.unwrap_or(0);
            s.outcome(
                status,
                (1..400).contains(&status),
                r.error.as_deref().unwrap_or(""),
            );
            s.bytes = u64::try_from(r.body_size.unwrap_or(0)).unwrap_or(0);
            s.trace = r.headers.iter().find_map(|h| {
                is_trace_header(h.name.as_deref()?)
                    .then(|| trace_from_header(h.value.as_deref()?))
                    .flatten()
            });
            s.request_id = crate::sample::first_request_id(
                r.headers
                    .iter()
                    .filter_map(|h| Some((h.name.as_deref()?, h.value.as_deref()?))),
            );
        } else {
            s.outcome(0, false, "");
        }
        out.samples.push(&s);
    }
    out.require_some(path, "entries")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_with_timings_and_headers() {
        let text = r#"{"log":{"version":"1.2","creator":{"name":"WebInspector","version":"537.36"},"entries":[
          {"startedDateTime":"2026-11-22T10:00:00.123Z","time":45.5,"request":{"method":"GET","url":"https://api.example.com/prod/orders?x=1","headers":[]},
           "response":{"status":200,"headers":[{"name":"x-amzn-trace-id","value":"Root=1-5759e988-bd862e3fe1be46a994272793"},{"name":"x-amzn-requestid","value":"c8ba2a7e-4f0b"}],"bodySize":12},
           "timings":{"blocked":1,"dns":-1,"connect":-1,"send":0.5,"wait":40,"receive":4}},
          {"startedDateTime":"2026-11-22T11:00:00.500+01:00","time":-1,"request":{"method":"POST","url":"https://api.example.com/prod/pay"},
           "response":{"status":0,"headers":[],"_error":"net::ERR_CONNECTION_REFUSED"},"timings":{"send":1,"wait":2,"receive":-1}},
          {"time":3}
        ]}}"#;
        let r = read(Path::new("a.har"), text).unwrap();
        assert_eq!(r.samples.len(), 2);
        assert_eq!(r.samples.get(0).endpoint, "GET /prod/orders");
        assert!(r.samples.get(0).trace.is_some());
        assert_eq!(
            r.samples.get(0).request_id,
            Some((
                "c8ba2a7e-4f0b".into(),
                stormwatch_model::request_ids::RequestIdKind::Amzn
            ))
        );
        assert_eq!(r.samples.get(1).request_id, None);
        assert_eq!(
            r.samples.get(1).end_ns - r.samples.get(1).start_ns,
            3_000_000
        );
        assert_eq!(
            r.samples.get(1).error,
            Some(stormwatch_model::ErrorKind::ConnectRefused)
        );
        assert_eq!(r.skipped, 1);
        assert!(r.skipped_examples[0].contains("a.har:3: startedDateTime"));
        let e = read(Path::new("a.har"), r#"{"run":{}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("a.har:1: log.entries: missing"), "{e}");
    }
}
