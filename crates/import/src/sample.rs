//! The canonical imported request, what every parser produces, and the helpers the parsers
//! share: trace headers, error kinds from messages, skipped-line bookkeeping.

use std::collections::HashMap;
use std::path::Path;

use stormwatch_model::ErrorKind;

use crate::ImportError;
use crate::input::Stream;
use crate::store::Samples;

/// One request as another tool recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// When it was sent, ns since the Unix epoch (UTC).
    pub start_ns: i64,
    /// When the response ended (or the request failed), ns since the Unix epoch.
    pub end_ns: i64,
    /// Endpoint name for grouping (`GET /orders`, a JMeter label, a k6 `name` tag).
    pub endpoint: String,
    /// The tool's flow-like grouping (k6 `group`, JMeter thread group), for the `flow`
    /// column; empty when the tool has none.
    pub flow: String,
    /// The tool's phase-like grouping (JMeter thread group, k6 `scenario`, Locust user
    /// class), used for phases when no `--phase` is given.
    pub group: Option<String>,
    /// HTTP status; 0 when no response was received.
    pub status: u16,
    /// Why the tool counted it failed, if it did.
    pub error: Option<ErrorKind>,
    /// Response bytes.
    pub bytes: u64,
    /// Virtual user / thread, when the tool records one.
    pub actor: Option<u32>,
    /// The X-Ray trace id from the response's `X-Amzn-Trace-Id`, and whether it was sampled.
    pub trace: Option<(String, bool)>,
}

impl Sample {
    /// A successful request of `endpoint` from `start_ns` to `end_ns`, other fields empty.
    pub fn new(endpoint: impl Into<String>, start_ns: i64, end_ns: i64) -> Self {
        Self {
            start_ns,
            end_ns: end_ns.max(start_ns),
            endpoint: endpoint.into(),
            flow: String::new(),
            group: None,
            status: 200,
            error: None,
            bytes: 0,
            actor: None,
            trace: None,
        }
    }

    /// Sets status and error from the tool's success flag: a failure with no status is a
    /// transport error named from `message`, one with a status a failed expectation.
    pub fn outcome(&mut self, status: u16, success: bool, message: &str) {
        self.status = status;
        self.error = match (success, status) {
            (_, 0) => Some(transport_error(message)),
            (true, _) => None,
            (false, _) => Some(ErrorKind::UnexpectedStatus),
        };
    }
}

/// The transport error a tool's message describes (`Connection refused`, `timeout`...).
pub fn transport_error(message: &str) -> ErrorKind {
    let m = message.to_ascii_lowercase();
    if m.contains("refused") {
        ErrorKind::ConnectRefused
    } else if m.contains("timeout") || m.contains("timed out") {
        ErrorKind::Timeout
    } else if m.contains("reset") || m.contains("closed") || m.contains("eof") {
        ErrorKind::ConnectionReset
    } else if m.contains("resolve") || m.contains("dns") || m.contains("unknownhost") {
        ErrorKind::Dns
    } else if m.contains("ssl") || m.contains("tls") || m.contains("certificate") {
        ErrorKind::Tls
    } else if m.contains("connect") {
        ErrorKind::Connect
    } else {
        ErrorKind::Protocol
    }
}

/// Whether `name` is the X-Ray trace header (any case).
pub fn is_trace_header(name: &str) -> bool {
    name.trim().eq_ignore_ascii_case("x-amzn-trace-id")
}

/// The root trace id and sampling decision of an `X-Amzn-Trace-Id` value
/// (`Root=1-5759e988-bd862e3fe1be46a994272793;Parent=…;Sampled=1`, or a bare root id).
/// Sampled unless the header says `Sampled=0`.
pub fn trace_from_header(value: &str) -> Option<(String, bool)> {
    let value = value.trim();
    let mut root = None;
    let mut sampled = true;
    for part in value.split(';') {
        match part.split_once('=') {
            Some((k, v)) if k.trim().eq_ignore_ascii_case("root") => root = Some(v.trim()),
            Some((k, v)) if k.trim().eq_ignore_ascii_case("sampled") => sampled = v.trim() != "0",
            None if part.trim().starts_with("1-") => root = Some(part.trim()),
            _ => {}
        }
    }
    let root = root?;
    let mut parts = root.split('-');
    let ok = parts.next() == Some("1")
        && parts
            .next()
            .is_some_and(|t| t.len() == 8 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        && parts
            .next()
            .is_some_and(|t| t.len() == 24 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        && parts.next().is_none();
    ok.then(|| (root.to_string(), sampled))
}

/// The trace id in raw `Name: value` header lines (JMeter's `<responseHeader>`).
pub fn trace_from_header_block(block: &str) -> Option<(String, bool)> {
    block.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        is_trace_header(name)
            .then(|| trace_from_header(value))
            .flatten()
    })
}

/// What one file gave: its samples and what was skipped.
#[derive(Debug, Default)]
pub struct FileRead {
    /// Requests read.
    pub samples: Samples,
    /// Lines or entries not imported.
    pub skipped: u64,
    /// The first few skipped lines, `file:line: field: why`.
    pub skipped_examples: Vec<String>,
    /// Other things worth saying (rows excluded on purpose, approximations).
    pub notes: Vec<String>,
    /// What the time fields meant.
    pub time_basis: String,
    /// Format name (`jtl-csv`, `k6-json`...).
    pub format: &'static str,
    /// Per-request times were reconstructed, not read.
    pub approximate: bool,
    /// Aggregate rows (Locust `_stats_history.csv`), when the format has no requests.
    pub series: Vec<crate::SeriesRow>,
    /// The tool's own totals, when an aggregate-only file gives them.
    pub tool_totals: Option<stormwatch_model::ToolTotals>,
}

impl FileRead {
    /// An empty read of `format`.
    pub fn new(format: &'static str, time_basis: impl Into<String>) -> Self {
        Self {
            format,
            time_basis: time_basis.into(),
            ..Self::default()
        }
    }

    /// Counts a skipped line, keeping the first examples.
    /// One NDJSON line as `T`: `Ok(None)` for a blank line or one that does not parse
    /// (skipped and counted, a torn last line said so), an error naming `field` when the
    /// first line does not parse (`not_this`: what the file is not).
    pub fn ndjson_line<'a, T: serde::Deserialize<'a>>(
        &mut self,
        path: &Path,
        (n, line, torn): (u64, &'a str, bool),
        field: &str,
        not_this: &str,
    ) -> Result<Option<T>, ImportError> {
        if line.trim().is_empty() {
            return Ok(None);
        }
        match serde_json::from_str(line) {
            Ok(v) => Ok(Some(v)),
            Err(e) if n == 1 => Err(ImportError::at(path, n, field, format!("{not_this} ({e})"))),
            Err(e) => {
                let why = if torn {
                    format!("torn last line: {e}")
                } else {
                    e.to_string()
                };
                self.skip(path, n, "line", &why);
                Ok(None)
            }
        }
    }

    /// Counts line `line` as skipped, keeping the first few reasons.
    pub fn skip(&mut self, path: &Path, line: u64, field: &str, why: &str) {
        self.skipped += 1;
        if self.skipped_examples.len() < 5 {
            self.skipped_examples
                .push(format!("{}:{line}: {field}: {why}", path.display()));
        }
    }

    /// An error when nothing could be read: the first skipped line's reason, else `empty`.
    pub fn require_some(self, path: &Path, what: &str) -> Result<Self, ImportError> {
        if !self.samples.is_empty() || !self.series.is_empty() {
            return Ok(self);
        }
        if let Some(first) = self.skipped_examples.first() {
            return Err(ImportError::file(
                path,
                format!("no {what} could be read; the first bad line was {first}"),
            ));
        }
        Err(ImportError::file(path, format!("holds no {what}")))
    }
}

/// Nanoseconds of a millisecond value (float), rounded.
pub fn ms_to_ns(ms: f64) -> i64 {
    (ms * 1e6).round() as i64
}

/// A CSV file's header, its columns by name, its reader (positioned after the header) and
/// whether the file ends with a newline.
pub type CsvTable<R> = (Vec<String>, HashMap<String, usize>, csv::Reader<R>, bool);

/// Opens a CSV file by header name, checking the `required` columns.
pub fn csv_table<R: std::io::Read>(
    path: &Path,
    input: Stream<R>,
    required: &[&str],
    what: &str,
) -> Result<CsvTable<R>, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(input.reader);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| ImportError::at(path, 1, "header", e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    let col: HashMap<String, usize> = header
        .iter()
        .enumerate()
        .map(|(i, h)| (h.clone(), i))
        .collect();
    if let Some(missing) = required.iter().find(|r| !col.contains_key(**r)) {
        return Err(ImportError::at(
            path,
            1,
            *missing,
            format!("missing column: is this a {what} file?"),
        ));
    }
    Ok((header, col, reader, input.ends_with_newline))
}

/// Calls `each` with the complete rows of `reader` and their line numbers, one at a time;
/// unreadable or short rows (a torn last line among them) are skipped into `out`.
pub fn csv_rows<R: std::io::Read>(
    path: &Path,
    (header, reader, ends_with_newline): (&[String], csv::Reader<R>, bool),
    out: &mut FileRead,
    mut each: impl FnMut(&mut FileRead, u64, &csv::StringRecord) -> Result<(), ImportError>,
) -> Result<(), ImportError> {
    let mut records = reader.into_records();
    let mut next = records.next();
    while let Some(row) = next {
        next = records.next();
        let torn = next.is_none() && !ends_with_newline;
        match row {
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                out.skip(path, line, "line", &e.to_string());
            }
            Ok(r) if r.len() < header.len() => {
                let why = if torn {
                    "torn last line (fewer columns than the header)"
                } else {
                    "fewer columns than the header"
                };
                let line = r.position().map_or(0, csv::Position::line);
                out.skip(
                    path,
                    line,
                    header.get(r.len()).map_or("line", String::as_str),
                    why,
                );
            }
            Ok(r) => each(out, r.position().map_or(0, csv::Position::line), &r)?,
        }
    }
    Ok(())
}
