//! Locust: the per-request NDJSON the stormwatch listener writes
//! (`integrations/locust/stormwatch_locust.py`), and `_stats_history.csv` as an
//! aggregate-only import (Locust's own per-second series, no requests).

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use serde::Deserialize;

use crate::file_read::FileRead;
use crate::input::{Stream, csv_rows, csv_table};
use crate::sample::{Sample, ms_to_ns, trace_from_header};
use crate::{ImportError, SeriesRow};
use stormwatch_model::ToolTotals;

/// One line of the listener's output.
#[derive(Deserialize)]
struct Line {
    start_time: Option<f64>,
    response_time: Option<f64>,
    name: Option<String>,
    method: Option<String>,
    status: Option<u16>,
    exception: Option<String>,
    user_class: Option<String>,
    response_length: Option<u64>,
    #[serde(default)]
    headers: HashMap<String, Option<String>>,
    /// The listener's first line (`{"stormwatch_locust": 1, ...}`).
    stormwatch_locust: Option<u32>,
}

/// Reads the listener's NDJSON.
pub fn read_ndjson(path: &Path, input: Stream<impl BufRead>) -> Result<FileRead, ImportError> {
    let mut out = FileRead::new(
        "locust-ndjson",
        "Locust listener: start_time = request start (epoch s, float); end = start + response_time",
    );
    input.lines(path, &mut out, |out, numbered| {
        let n = numbered.0;
        let Some(l) = out.ndjson_line::<Line>(
            path,
            numbered,
            "line",
            "not the stormwatch Locust listener's output",
        )?
        else {
            return Ok(());
        };
        if l.stormwatch_locust.is_some() {
            return Ok(());
        }
        let Some(start) = l.start_time.filter(|t| t.is_finite() && *t > 0.0) else {
            if n == 1 {
                return Err(ImportError::at(
                    path,
                    1,
                    "start_time",
                    "missing: not the stormwatch Locust listener's output",
                ));
            }
            out.skip(path, n, "start_time", "missing or not epoch seconds");
            return Ok(());
        };
        let Some(rt) = l.response_time.filter(|t| t.is_finite() && *t >= 0.0) else {
            out.skip(path, n, "response_time", "missing or not ms");
            return Ok(());
        };
        // Whole seconds and microseconds apart: an f64 of epoch ns loses the last digits.
        let start_ns =
            start.trunc() as i64 * 1_000_000_000 + (start.fract() * 1e6).round() as i64 * 1_000;
        let method = l.method.unwrap_or_default();
        let name = l.name.unwrap_or_default();
        let endpoint = if method.is_empty() {
            name
        } else {
            format!("{method} {name}")
        };
        let mut s = Sample::new(endpoint, start_ns, start_ns + ms_to_ns(rt));
        let exception = l.exception.unwrap_or_default();
        s.outcome(l.status.unwrap_or(0), exception.is_empty(), &exception);
        s.group = l.user_class.filter(|c| !c.is_empty());
        s.flow = s.group.clone().unwrap_or_default();
        s.bytes = l.response_length.unwrap_or(0);
        s.trace = l
            .headers
            .iter()
            .find(|(k, _)| crate::sample::is_trace_header(k))
            .and_then(|(_, v)| trace_from_header(v.as_deref()?));
        s.request_id = crate::sample::first_request_id(
            l.headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str(), v.as_deref()?))),
        );
        out.samples.push(&s);
        Ok(())
    })?;
    out.require_some(path, "requests")
}

/// Reads `PREFIX_stats_history.csv`: the `Aggregated` rows, one per second.
pub fn read_stats_history(
    path: &Path,
    input: Stream<impl BufRead>,
) -> Result<FileRead, ImportError> {
    let (header, col, reader, ends_with_newline) = csv_table(
        path,
        input,
        &[
            "Timestamp",
            "User Count",
            "Name",
            "Requests/s",
            "Failures/s",
            "50%",
            "99%",
        ],
        "Locust _stats_history.csv",
    )?;
    let mut out = FileRead::new(
        "locust-stats-history",
        "Locust _stats_history.csv: Timestamp = epoch seconds; rates and percentiles as Locust computed them",
    );
    let table = (header.as_slice(), reader, ends_with_newline);
    csv_rows(path, table, &mut out, |out, line, row| {
        let get = |n: &str| col.get(n).and_then(|i| row.get(*i)).unwrap_or("").trim();
        if get("Name") != "Aggregated" {
            return Ok(());
        }
        let num = |n: &str| -> Option<f64> {
            match get(n) {
                "N/A" | "" => Some(0.0),
                v => v.parse().ok(),
            }
        };
        let Ok(second) = get("Timestamp").parse::<i64>() else {
            out.skip(path, line, "Timestamp", "not epoch seconds");
            return Ok(());
        };
        let fields = ["Requests/s", "Failures/s", "50%", "99%", "User Count"];
        let values: Vec<Option<f64>> = fields.iter().map(|f| num(f)).collect();
        if let Some(i) = values.iter().position(Option::is_none) {
            out.skip(path, line, fields[i], "not a number");
            return Ok(());
        }
        let v: Vec<f64> = values.into_iter().flatten().collect();
        // Cumulative counts: the latest row holds the run's totals.
        let total = |n: &str| get(n).parse::<u64>().ok();
        if let (Some(requests), Some(failures)) =
            (total("Total Request Count"), total("Total Failure Count"))
            && out.series.last().is_none_or(|r| r.second <= second)
        {
            out.tool_totals = Some(ToolTotals { requests, failures });
        }
        out.series.push(SeriesRow {
            second,
            requests_per_sec: v[0],
            failures_per_sec: v[1],
            p50_ms: v[2],
            p99_ms: v[3],
            users: v[4] as u64,
        });
        Ok(())
    })?;
    out.notes.push(
        "Locust's percentiles are cumulative since the start unless it ran with \
         --csv-full-history (then a ~10 s window); requests per second are its current rate"
            .into(),
    );
    out.require_some(path, "Aggregated rows")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_lines() {
        let text = "{\"stormwatch_locust\":1,\"locust_version\":\"2.32.0\"}\n\
            {\"start_time\":1700000000.25,\"response_time\":12.5,\"name\":\"/orders\",\"method\":\"GET\",\"status\":200,\"exception\":null,\"user_class\":\"Buyer\",\"response_length\":10,\"headers\":{\"X-Amzn-Trace-Id\":\"Root=1-5759e988-bd862e3fe1be46a994272793\",\"x-amzn-RequestId\":null}}\n\
            {\"start_time\":1700000000.5,\"response_time\":1,\"name\":\"/orders\",\"method\":\"GET\",\"status\":0,\"exception\":\"ConnectionRefusedError(111)\",\"user_class\":\"Buyer\",\"headers\":{\"apigw-requestid\":\"Jx1=\",\"X-Amzn-RequestId\":\"7f3c9a2e-1b2c-4d5e-8f90-a1b2c3d4e5f6\"}}\n\
            {\"start_time\":17000";
        let r = read_ndjson(Path::new("l.ndjson"), Stream::text(text)).unwrap();
        assert_eq!(r.samples.len(), 2);
        assert_eq!(r.samples.get(0).start_ns, 1_700_000_000_250_000_000);
        assert!(r.samples.get(0).trace.is_some());
        assert_eq!(r.samples.get(0).request_id, None, "a null header is no id");
        assert_eq!(
            r.samples.get(1).request_id,
            Some((
                "7f3c9a2e-1b2c-4d5e-8f90-a1b2c3d4e5f6".into(),
                stormwatch_model::request_ids::RequestIdKind::Amzn
            ))
        );
        assert_eq!(
            r.samples.get(1).error,
            Some(stormwatch_model::ErrorKind::ConnectRefused)
        );
        assert_eq!(r.skipped, 1);
        assert!(r.skipped_examples[0].contains("l.ndjson:4: line: torn last line"));
        let e = read_ndjson(
            Path::new("l.ndjson"),
            Stream::text("{\"type\":\"Point\"}\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("l.ndjson:1: start_time: missing"), "{e}");
    }

    #[test]
    fn stats_history_aggregated_rows() {
        let text = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,Total Min Response Time,Total Max Response Time,Total Average Content Size\n\
            1700000000,0,,Aggregated,0.000000,0.000000,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,0,0,0,0.0,0,0,0\n\
            1700000001,5,,Aggregated,9.5,0.5,12,13,14,15,20,25,30,41,50,50,50,10,1,12,13.2,3,50,11.0\n";
        let r = read_stats_history(Path::new("s.csv"), Stream::text(text)).unwrap();
        assert_eq!(r.series.len(), 2);
        assert!((r.series[1].p99_ms - 41.0).abs() < 1e-9);
        assert_eq!(
            r.tool_totals,
            Some(ToolTotals {
                requests: 10,
                failures: 1
            })
        );
        let e = read_stats_history(Path::new("s.csv"), Stream::text("Type,Name\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("s.csv:1: Timestamp: missing column"), "{e}");
    }
}
