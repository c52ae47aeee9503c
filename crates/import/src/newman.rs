//! Newman's JSON reporter (`-r json`): `run.executions[]` in order. Newman logs absolute
//! times only for the run (`run.timings.started`/`completed`), so each request's start is
//! reconstructed: the requests are laid end to end from the run's start, the time not spent
//! in responses shared evenly between them. The manifest flags the times as approximate.

use std::path::Path;

use serde::Deserialize;

use crate::ImportError;
use crate::file_read::FileRead;
use crate::sample::{Sample, is_trace_header, ms_to_ns, trace_from_header, transport_error};

#[derive(Deserialize)]
struct Report {
    run: Option<Run>,
}

#[derive(Deserialize)]
struct Run {
    timings: Option<Timings>,
    executions: Option<Vec<Execution>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Timings {
    started: Option<i64>,
    completed: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Execution {
    item: Option<Item>,
    request: Option<Request>,
    response: Option<Response>,
    request_error: Option<serde_json::Value>,
    #[serde(default)]
    assertions: Vec<Assertion>,
}

#[derive(Deserialize)]
struct Item {
    name: Option<String>,
}

#[derive(Deserialize)]
struct Request {
    method: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(clippy::struct_field_names)] // Newman's names.
struct Response {
    code: Option<u16>,
    response_time: Option<f64>,
    response_size: Option<u64>,
    #[serde(default)]
    header: Vec<Header>,
}

#[derive(Deserialize)]
struct Header {
    key: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize)]
struct Assertion {
    error: Option<serde_json::Value>,
}

/// Reads a Newman JSON report.
pub fn read(path: &Path, text: &str) -> Result<FileRead, ImportError> {
    let report: Report = serde_json::from_str(text).map_err(|e| {
        ImportError::at(
            path,
            e.line() as u64,
            "json",
            format!("not a Newman JSON report: {e}"),
        )
    })?;
    let wrong = |field: &str| {
        ImportError::at(
            path,
            1,
            field,
            "missing: is this a Newman JSON report (newman run -r json)?",
        )
    };
    let run = report.run.ok_or_else(|| wrong("run"))?;
    let executions = run.executions.ok_or_else(|| wrong("run.executions"))?;
    let timings = run.timings.ok_or_else(|| wrong("run.timings"))?;
    let started = timings
        .started
        .ok_or_else(|| wrong("run.timings.started"))?;
    let completed = timings.completed.unwrap_or(started);
    let mut out = FileRead::new(
        "newman-json",
        "Newman JSON: only the run's start and end are logged (epoch ms); request starts spread across the run in order",
    );
    out.approximate = true;
    let total: f64 = executions
        .iter()
        .filter_map(|e| e.response.as_ref()?.response_time)
        .sum();
    let gap = if executions.is_empty() {
        0.0
    } else {
        (((completed - started) as f64 - total) / executions.len() as f64).max(0.0)
    };
    let mut at = 0.0f64;
    for (i, e) in executions.into_iter().enumerate() {
        let name = e.item.and_then(|i| i.name).unwrap_or_default();
        let method = e.request.and_then(|r| r.method).unwrap_or_default();
        let endpoint = if method.is_empty() {
            name
        } else {
            format!("{method} {name}")
        };
        let rt = e
            .response
            .as_ref()
            .and_then(|r| r.response_time)
            .unwrap_or(0.0);
        let start = started * 1_000_000 + ms_to_ns(at);
        let mut s = Sample::new(endpoint, start, start + ms_to_ns(rt));
        at += rt + gap;
        match (&e.response, &e.request_error) {
            (Some(r), None) => {
                let failed = e.assertions.iter().any(|a| a.error.is_some());
                s.outcome(r.code.unwrap_or(0), !failed, "");
                s.bytes = r.response_size.unwrap_or(0);
                s.trace = r.header.iter().find_map(|h| {
                    is_trace_header(h.key.as_deref()?)
                        .then(|| trace_from_header(h.value.as_deref()?))
                        .flatten()
                });
                s.request_id = crate::sample::first_request_id(
                    r.header
                        .iter()
                        .filter_map(|h| Some((h.key.as_deref()?, h.value.as_deref()?))),
                );
            }
            (_, Some(err)) => {
                s.status = 0;
                s.error = Some(transport_error(&err.to_string()));
            }
            (None, None) => {
                out.skip(
                    path,
                    i as u64 + 1,
                    "response",
                    "execution without response or requestError",
                );
                continue;
            }
        }
        out.samples.push(&s);
    }
    out.require_some(path, "executions")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executions_are_spread_across_the_run() {
        let text = r#"{"collection":{},"run":{"stats":{},"timings":{"started":1700000000000,"completed":1700000000400},
        "executions":[
          {"item":{"name":"List orders"},"request":{"method":"GET"},"response":{"code":200,"responseTime":100,"responseSize":5,
            "header":[{"key":"x-amzn-RequestId","value":"abc"},{"key":"X-Amzn-Trace-Id","value":"Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0"}],
            "stream":{"type":"Buffer","data":[1,2,3]}},"assertions":[{"assertion":"ok"}]},
          {"item":{"name":"Pay"},"request":{"method":"POST"},"response":{"code":500,"responseTime":100,"header":[]},"assertions":[{"assertion":"ok","error":{"message":"x"}}]},
          {"item":{"name":"Down"},"request":{"method":"GET"},"requestError":{"code":"ECONNREFUSED"}}
        ]}}"#;
        let r = read(Path::new("n.json"), text).unwrap();
        assert!(r.approximate);
        assert_eq!(r.samples.len(), 3);
        // 400 ms run, 200 ms in responses: 66.7 ms between requests.
        assert_eq!(r.samples.get(0).start_ns, 1_700_000_000_000_000_000);
        assert_eq!(r.samples.get(1).start_ns, 1_700_000_000_166_666_667);
        assert_eq!(
            r.samples.get(0).trace,
            Some(("1-5759e988-bd862e3fe1be46a994272793".into(), false))
        );
        assert_eq!(
            r.samples.get(0).request_id,
            Some((
                "abc".into(),
                stormwatch_model::request_ids::RequestIdKind::Amzn
            ))
        );
        assert_eq!(r.samples.get(1).request_id, None);
        assert!(r.samples.get(1).error.is_some());
        assert_eq!(r.samples.get(2).status, 0);
    }

    #[test]
    fn foreign_and_broken_reports() {
        let e = read(Path::new("n.json"), r#"{"log":{"entries":[]}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("n.json:1: run: missing"), "{e}");
        let e = read(Path::new("n.json"), "{\"run\":\n{\"timings\":")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("n.json:2: json: not a Newman JSON report"),
            "{e}"
        );
    }
}
