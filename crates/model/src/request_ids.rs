//! Request ids of imported requests and the trace ids `collect` resolved them to:
//! `request_ids.csv` (written by `import`) and `telemetry/trace_joins.csv` (written by
//! `collect`), small CSV files beside the request log, which they do not change.
//!
//! A request id comes from a response header: `x-amzn-RequestId` (a REST API's request id,
//! which its X-Ray stage segment carries as `aws.api_gateway.request_id`, or, from a Lambda
//! function URL, the Lambda request id of the function's `REPORT` line) or `apigw-requestid`
//! (an HTTP API's, which no X-Ray trace carries: X-Ray traces REST APIs only).

use std::fmt::Write as _;
use std::fs;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

use crate::ModelError;

/// Which response header a request id came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RequestIdKind {
    /// `x-amzn-RequestId`: a REST API's request id, or a function URL's Lambda request id.
    Amzn,
    /// `apigw-requestid`: an HTTP API's request id (never in an X-Ray trace).
    HttpApi,
}

impl RequestIdKind {
    /// The header name, as `request_ids.csv` writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Amzn => "x-amzn-requestid",
            Self::HttpApi => "apigw-requestid",
        }
    }

    /// The kind of a response header `name` (any case), if it carries a request id.
    pub fn of_header(name: &str) -> Option<Self> {
        let name = name.trim();
        if name.eq_ignore_ascii_case("x-amzn-requestid") {
            Some(Self::Amzn)
        } else if name.eq_ignore_ascii_case("apigw-requestid") {
            Some(Self::HttpApi)
        } else {
            None
        }
    }
}

/// Whether `id` can be a request id: 1 to 128 printable ASCII characters without
/// commas, quotes or spaces (UUIDs, and HTTP API ids like `Jx1yzhXYIAMEVcQ=`).
pub fn valid_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b',' && b != b'"')
}

/// One line of `request_ids.csv`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestIdRecord {
    /// The request's `sequence` in the request log.
    pub sequence: u64,
    /// The id as the response header carried it.
    pub request_id: String,
    /// The header it came from.
    pub kind: RequestIdKind,
}

/// How `collect` found a request id's trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JoinVia {
    /// An API Gateway stage segment's `aws.api_gateway.request_id`.
    ApigwSegment,
    /// A `REPORT RequestId: …` line's `XRAY TraceId`.
    ReportLine,
}

impl JoinVia {
    /// The name `trace_joins.csv` writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApigwSegment => "apigw-segment",
            Self::ReportLine => "report-line",
        }
    }
}

/// One line of `telemetry/trace_joins.csv`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceJoin {
    /// The request's `sequence` in the request log.
    pub sequence: u64,
    /// Its request id.
    pub request_id: String,
    /// The X-Ray trace id it resolved to.
    pub trace_id: String,
    /// Where the pair came from.
    pub via: JoinVia,
}

const REQUEST_IDS_HEADER: &str = "sequence,request_id,kind";
const JOINS_HEADER: &str = "sequence,request_id,trace_id,via";

fn write_text(path: &Path, text: &str) -> Result<(), ModelError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| ModelError::io(parent, e))?;
    }
    let tmp = path.with_extension("csv.tmp");
    fs::write(&tmp, text).map_err(|e| ModelError::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| ModelError::io(path, e))
}

/// Writes `request_ids.csv` a line at a time (millions of imported requests need not be
/// held twice), into a temporary file renamed by [`RequestIdWriter::finish`].
pub struct RequestIdWriter {
    path: PathBuf,
    tmp: PathBuf,
    out: BufWriter<fs::File>,
}

impl RequestIdWriter {
    /// Creates the temporary file and writes the header.
    pub fn create(path: &Path) -> Result<Self, ModelError> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| ModelError::io(parent, e))?;
        }
        let tmp = path.with_extension("csv.tmp");
        let file = fs::File::create(&tmp).map_err(|e| ModelError::io(&tmp, e))?;
        let mut out = BufWriter::new(file);
        writeln!(out, "{REQUEST_IDS_HEADER}").map_err(|e| ModelError::io(&tmp, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            tmp,
            out,
        })
    }

    /// Adds one line (`request_id` must pass [`valid_request_id`]).
    pub fn append(
        &mut self,
        sequence: u64,
        request_id: &str,
        kind: RequestIdKind,
    ) -> Result<(), ModelError> {
        writeln!(self.out, "{sequence},{request_id},{}", kind.as_str())
            .map_err(|e| ModelError::io(&self.tmp, e))
    }

    /// Flushes and renames the file into place.
    pub fn finish(mut self) -> Result<(), ModelError> {
        self.out.flush().map_err(|e| ModelError::io(&self.tmp, e))?;
        fs::rename(&self.tmp, &self.path).map_err(|e| ModelError::io(&self.path, e))
    }
}

/// Writes `request_ids.csv`.
pub fn write_request_ids(path: &Path, records: &[RequestIdRecord]) -> Result<(), ModelError> {
    let mut w = RequestIdWriter::create(path)?;
    for r in records {
        w.append(r.sequence, &r.request_id, r.kind)?;
    }
    w.finish()
}

/// Writes `telemetry/trace_joins.csv`.
pub fn write_trace_joins(path: &Path, joins: &[TraceJoin]) -> Result<(), ModelError> {
    let mut text = String::with_capacity(96 * (joins.len() + 1));
    text.push_str(JOINS_HEADER);
    text.push('\n');
    for j in joins {
        let _ = writeln!(
            text,
            "{},{},{},{}",
            j.sequence,
            j.request_id,
            j.trace_id,
            j.via.as_str()
        );
    }
    write_text(path, &text)
}

fn bad(path: &Path, line: usize, field: &str, message: impl Into<String>) -> ModelError {
    ModelError::Record {
        path: path.to_path_buf(),
        line,
        field: field.into(),
        message: message.into(),
    }
}

/// A checked data line: line number, sequence, the fields after the sequence.
type Line = (usize, u64, Vec<String>);

/// The data lines of a CSV file with exactly `header`, split into `fields.len()` fields and
/// checked: a sequence number first, a request id second. `None` when the file is absent.
fn read_lines(path: &Path, header: &str, fields: &[&str]) -> Result<Option<Vec<Line>>, ModelError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ModelError::io(path, e)),
    };
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some(header) {
        return Err(bad(path, 1, "header", format!("expected `{header}`")));
    }
    let mut out = Vec::new();
    for (i, line) in lines.enumerate() {
        let n = i + 2;
        if line.trim().is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.split(',').map(str::trim).collect();
        if parts.len() != fields.len() {
            return Err(bad(
                path,
                n,
                fields.get(parts.len()).unwrap_or(&"line"),
                format!("expected {} fields, found {}", fields.len(), parts.len()),
            ));
        }
        let sequence = parts[0]
            .parse::<u64>()
            .map_err(|_| bad(path, n, fields[0], "not a sequence number"))?;
        if !valid_request_id(parts[1]) {
            return Err(bad(path, n, fields[1], "empty or not a request id"));
        }
        out.push((
            n,
            sequence,
            parts[1..].iter().map(|s| (*s).to_string()).collect(),
        ));
    }
    Ok(Some(out))
}

/// Reads `request_ids.csv`; `None` when the run has none.
pub fn read_request_ids(path: &Path) -> Result<Option<Vec<RequestIdRecord>>, ModelError> {
    let fields = ["sequence", "request_id", "kind"];
    let Some(lines) = read_lines(path, REQUEST_IDS_HEADER, &fields)? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(lines.len());
    for (n, sequence, mut rest) in lines {
        let kind = RequestIdKind::of_header(&rest[1]).ok_or_else(|| {
            bad(
                path,
                n,
                "kind",
                "expected x-amzn-requestid or apigw-requestid",
            )
        })?;
        out.push(RequestIdRecord {
            sequence,
            request_id: std::mem::take(&mut rest[0]),
            kind,
        });
    }
    Ok(Some(out))
}

/// Reads `telemetry/trace_joins.csv`; `None` when collect wrote none.
pub fn read_trace_joins(path: &Path) -> Result<Option<Vec<TraceJoin>>, ModelError> {
    let fields = ["sequence", "request_id", "trace_id", "via"];
    let Some(lines) = read_lines(path, JOINS_HEADER, &fields)? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(lines.len());
    for (n, sequence, mut rest) in lines {
        let via = match rest[2].as_str() {
            "apigw-segment" => JoinVia::ApigwSegment,
            "report-line" => JoinVia::ReportLine,
            _ => return Err(bad(path, n, "via", "expected apigw-segment or report-line")),
        };
        if !rest[1].starts_with("1-") {
            return Err(bad(path, n, "trace_id", "not an X-Ray trace id"));
        }
        out.push(TraceJoin {
            sequence,
            request_id: std::mem::take(&mut rest[0]),
            trace_id: std::mem::take(&mut rest[1]),
            via,
        });
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_and_joins_round_trip_and_bad_lines_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("request_ids.csv");
        assert_eq!(read_request_ids(&path).unwrap(), None);
        let ids = vec![
            RequestIdRecord {
                sequence: 1,
                request_id: "c8ba2a7e-4f0b-4c3e-9d57-0f3b1b2b9a11".into(),
                kind: RequestIdKind::Amzn,
            },
            RequestIdRecord {
                sequence: 3,
                request_id: "Jx1yzhXYIAMEVcQ=".into(),
                kind: RequestIdKind::HttpApi,
            },
        ];
        write_request_ids(&path, &ids).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "sequence,request_id,kind\n1,c8ba2a7e-4f0b-4c3e-9d57-0f3b1b2b9a11,x-amzn-requestid\n3,Jx1yzhXYIAMEVcQ=,apigw-requestid\n"
        );
        assert_eq!(read_request_ids(&path).unwrap(), Some(ids));
        let joins_path = tmp.path().join("telemetry/trace_joins.csv");
        let joins = vec![TraceJoin {
            sequence: 1,
            request_id: "r-1".into(),
            trace_id: "1-5759e988-bd862e3fe1be46a994272793".into(),
            via: JoinVia::ReportLine,
        }];
        write_trace_joins(&joins_path, &joins).unwrap();
        assert_eq!(read_trace_joins(&joins_path).unwrap(), Some(joins));

        fs::write(
            &path,
            "sequence,request_id,kind\n1,abc,x-amzn-requestid\nx,abc,apigw-requestid\n",
        )
        .unwrap();
        let e = read_request_ids(&path).unwrap_err().to_string();
        assert!(
            e.ends_with("request_ids.csv:3: field `sequence`: not a sequence number"),
            "{e}"
        );
        fs::write(&path, "sequence,request_id,kind\n1,abc,x-request-id\n").unwrap();
        let e = read_request_ids(&path).unwrap_err().to_string();
        assert!(e.contains(":2: field `kind`"), "{e}");
        fs::write(&path, "seq,id\n").unwrap();
        let e = read_request_ids(&path).unwrap_err().to_string();
        assert!(e.contains(":1: field `header`"), "{e}");
        assert!(!valid_request_id("a,b") && !valid_request_id("") && !valid_request_id("a b"));
    }
}
