//! `requests/`: one record per HTTP request sent, in crash-tolerant CSV segments.
//!
//! The load engine appends records to `requests/part-NNNNNN.csv` and flushes about once a
//! second; a new segment starts every [`RequestLogWriter::SEGMENT_RECORDS`] records. Each
//! segment has a header line. A run killed with SIGKILL leaves at worst a torn last line,
//! which [`RequestLog::read`] drops and counts, so nothing before it is lost. CSV keeps the
//! files readable by people, spreadsheets and polars alike.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::hash::Hash;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::percentile::percentile_of_sorted;
use crate::{ModelError, UnixNanos};

/// Columns of a request segment, in order.
pub const REQUEST_COLUMNS: [&str; 13] = [
    "sequence",
    "flow",
    "endpoint",
    "phase",
    "vu",
    "intended_ns",
    "sent_ns",
    "end_ns",
    "status",
    "error",
    "bytes",
    "trace_id",
    "sampled",
];

/// Whether `name` is a segment file name the writer makes: `part-NNNNNN.csv`.
pub fn is_segment_name(name: &str) -> bool {
    name.strip_prefix("part-")
        .and_then(|n| n.strip_suffix(".csv"))
        .is_some_and(|n| n.len() >= 6 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// One HTTP request as the client saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Run-wide sequence number, in order of intended send time within a worker.
    pub sequence: u64,
    /// Name of the scenario flow the request belongs to.
    pub flow: String,
    /// Endpoint name used for grouping, e.g. `GET /products/:id`.
    pub endpoint: String,
    /// Index of the phase (in the manifest) the request was scheduled in.
    pub phase: u32,
    /// Virtual user (closed model) or arrival slot (open model) that sent it.
    pub vu: u32,
    /// When the scheduler meant to send it (UTC).
    #[serde(rename = "intended_ns")]
    pub intended: UnixNanos,
    /// When it was actually handed to the connection (UTC).
    #[serde(rename = "sent_ns")]
    pub sent: UnixNanos,
    /// When the response was fully read, or the request failed (UTC).
    #[serde(rename = "end_ns")]
    pub end: UnixNanos,
    /// HTTP status; 0 for a transport error.
    pub status: u16,
    /// Why the request counts as failed, if it does.
    pub error: Option<ErrorKind>,
    /// Response body bytes read.
    pub bytes: u64,
    /// X-Ray root trace id sent with the request (`1-xxxxxxxx-yyyyyyyyyyyyyyyyyyyyyyyy`).
    pub trace_id: Option<String>,
    /// Whether the trace header said `Sampled=1`.
    pub sampled: bool,
}

impl RequestRecord {
    /// Latency from the intended send time: includes time spent waiting to be sent, so a
    /// stalled server cannot hide requests it delayed (no coordinated omission).
    pub fn corrected_latency(&self) -> Duration {
        self.end.since(self.intended).unwrap_or_default()
    }

    /// Latency from the actual send time, as most load tools report it.
    pub fn raw_latency(&self) -> Duration {
        self.end.since(self.sent).unwrap_or_default()
    }
}

/// Which answered requests are "failed or slow": answered 4xx/5xx, or slower than the
/// nearest-rank p99 of their group's (phase × endpoint's) answered requests. `collect`
/// fetches their traces first and the analyzer weighs them apart, so both use this one rule.
#[derive(Debug, Default)]
pub struct FailedOrSlow<K>(HashMap<K, f64>);

impl<K: Hash + Eq> FailedOrSlow<K> {
    /// The p99 of every group, from `(group, status, raw latency ms)` of every request
    /// (status 0, a transport error, is not an answer and is left out).
    pub fn new(requests: impl IntoIterator<Item = (K, u16, f64)>) -> Self {
        let mut by: HashMap<K, Vec<f64>> = HashMap::new();
        for (k, status, ms) in requests {
            if status != 0 {
                by.entry(k).or_default().push(ms);
            }
        }
        Self(
            by.into_iter()
                .filter_map(|(k, mut v)| {
                    v.sort_by(f64::total_cmp);
                    percentile_of_sorted(&v, 99.0).map(|p| (k, p))
                })
                .collect(),
        )
    }

    /// Whether an answered request of `group` with `status` and `raw_ms` is failed or slow.
    pub fn test(&self, group: &K, status: u16, raw_ms: f64) -> bool {
        status >= 400 || self.0.get(group).is_some_and(|p99| raw_ms > *p99)
    }
}

/// Why a request counts as failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The connection was refused.
    ConnectRefused,
    /// Connecting failed for another reason (unreachable, connect timeout).
    Connect,
    /// The connection was reset or closed mid-request.
    ConnectionReset,
    /// The per-request timeout elapsed.
    Timeout,
    /// The host name did not resolve.
    Dns,
    /// The TLS handshake failed.
    Tls,
    /// The response was not valid HTTP.
    Protocol,
    /// The status was not one the step expects.
    UnexpectedStatus,
    /// An extraction rule found nothing in the response.
    Extraction,
    /// A poll step did not reach its expected state in time.
    PollTimeout,
}

impl ErrorKind {
    /// The snake_case name used in files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConnectRefused => "connect_refused",
            Self::Connect => "connect",
            Self::ConnectionReset => "connection_reset",
            Self::Timeout => "timeout",
            Self::Dns => "dns",
            Self::Tls => "tls",
            Self::Protocol => "protocol",
            Self::UnexpectedStatus => "unexpected_status",
            Self::Extraction => "extraction",
            Self::PollTimeout => "poll_timeout",
        }
    }

    /// Whether no HTTP response was received at all.
    pub fn is_transport(self) -> bool {
        matches!(
            self,
            Self::ConnectRefused
                | Self::Connect
                | Self::ConnectionReset
                | Self::Timeout
                | Self::Dns
                | Self::Tls
                | Self::Protocol
        )
    }
}

/// Appends request records to CSV segments under a `requests/` folder.
///
/// Records are encoded into memory by [`append`](Self::append) and reach the file on
/// [`flush`](Self::flush); the caller flushes on a timer (about every second), which bounds
/// what a SIGKILL can lose.
pub struct RequestLogWriter {
    dir: PathBuf,
    segment: u32,
    records_in_segment: u64,
    file: File,
    /// Encoded records not yet written.
    pending: Vec<u8>,
}

impl RequestLogWriter {
    /// Records per segment before a new file starts.
    pub const SEGMENT_RECORDS: u64 = 1_000_000;

    /// Creates `dir` (if needed) and the first segment in it.
    pub fn create(dir: impl Into<PathBuf>) -> Result<Self, ModelError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| ModelError::io(&dir, e))?;
        let file = Self::open_segment(&dir, 1)?;
        Ok(Self {
            dir,
            segment: 1,
            records_in_segment: 0,
            file,
            pending: Vec::with_capacity(64 * 1024),
        })
    }

    fn segment_path(dir: &Path, n: u32) -> PathBuf {
        dir.join(format!("part-{n:06}.csv"))
    }

    fn open_segment(dir: &Path, n: u32) -> Result<File, ModelError> {
        let path = Self::segment_path(dir, n);
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| ModelError::io(&path, e))?;
        let mut header = REQUEST_COLUMNS.join(",");
        header.push('\n');
        file.write_all(header.as_bytes())
            .map_err(|e| ModelError::io(&path, e))?;
        Ok(file)
    }

    /// Encodes one record into the pending buffer (no I/O unless a segment is full).
    pub fn append(&mut self, record: &RequestRecord) -> Result<(), ModelError> {
        if self.records_in_segment >= Self::SEGMENT_RECORDS {
            self.flush()?;
            self.segment += 1;
            self.file = Self::open_segment(&self.dir, self.segment)?;
            self.records_in_segment = 0;
        }
        encode_record(&mut self.pending, record);
        self.records_in_segment += 1;
        Ok(())
    }

    /// Writes every pending record to the current segment.
    pub fn flush(&mut self) -> Result<(), ModelError> {
        if !self.pending.is_empty() {
            self.file
                .write_all(&self.pending)
                .map_err(|e| ModelError::io(Self::segment_path(&self.dir, self.segment), e))?;
            self.pending.clear();
        }
        Ok(())
    }

    /// Flushes and makes the data durable on disk.
    pub fn finish(mut self) -> Result<(), ModelError> {
        self.flush()?;
        self.file.sync_all().map_err(|e| self.io_error(e))
    }

    fn io_error(&self, e: std::io::Error) -> ModelError {
        ModelError::io(Self::segment_path(&self.dir, self.segment), e)
    }
}

/// Appends `r` as one CSV line in [`REQUEST_COLUMNS`] order, as the `csv` crate writes it
/// (a field is quoted only when it holds a comma, quote, CR or LF). Written by hand: the
/// serde encoder was the recorder's largest cost at 100,000 records per second.
fn encode_record(out: &mut Vec<u8>, r: &RequestRecord) {
    let mut n = itoa::Buffer::new();
    push_int(out, &mut n, r.sequence);
    push_field(out, &r.flow);
    out.push(b',');
    push_field(out, &r.endpoint);
    out.push(b',');
    push_int(out, &mut n, r.phase);
    push_int(out, &mut n, r.vu);
    push_int(out, &mut n, r.intended.0);
    push_int(out, &mut n, r.sent.0);
    push_int(out, &mut n, r.end.0);
    push_int(out, &mut n, r.status);
    if let Some(e) = r.error {
        out.extend_from_slice(e.as_str().as_bytes());
    }
    out.push(b',');
    push_int(out, &mut n, r.bytes);
    if let Some(t) = &r.trace_id {
        push_field(out, t);
    }
    out.push(b',');
    out.extend_from_slice(if r.sampled { b"true\n" } else { b"false\n" });
}

/// An integer field and its comma.
fn push_int(out: &mut Vec<u8>, buf: &mut itoa::Buffer, v: impl itoa::Integer) {
    out.extend_from_slice(buf.format(v).as_bytes());
    out.push(b',');
}

/// One text field, quoted (with quotes doubled) when it needs to be.
fn push_field(out: &mut Vec<u8>, s: &str) {
    if !s.bytes().any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n')) {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    out.push(b'"');
    for b in s.bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// Every request record of a run, read back from its segments.
#[derive(Debug, Default)]
pub struct RequestLog {
    /// Records in segment order.
    pub records: Vec<RequestRecord>,
    /// Segment files read.
    pub segments: usize,
    /// Torn trailing lines dropped (a run killed mid-write leaves at most one per segment).
    pub torn_lines: usize,
}

impl RequestLog {
    /// The segment files of `dir`, in order: only names the writer makes (`part-` and six or more digits, `.csv`): a stray
    /// `part-abc.csv` or a copy (`part-000001 (1).csv`) must not count every request twice.
    pub fn segment_paths(dir: &Path) -> Result<Vec<PathBuf>, ModelError> {
        let mut paths: Vec<PathBuf> = fs::read_dir(dir)
            .map_err(|e| ModelError::io(dir, e))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(is_segment_name)
            })
            .collect();
        paths.sort();
        Ok(paths)
    }

    /// Reads every segment under `dir`, dropping a torn last line of a segment.
    ///
    /// A malformed complete line is an error naming the file, line and column.
    pub fn read(dir: &Path) -> Result<Self, ModelError> {
        let mut log = Self::default();
        for path in Self::segment_paths(dir)? {
            let (records, torn) = Self::read_segment(&path)?;
            log.torn_lines += usize::from(torn);
            log.segments += 1;
            log.records.extend(records);
        }
        Ok(log)
    }

    /// Reads one segment file: its records, and whether its last line was torn (dropped).
    ///
    /// A malformed complete line is an error naming the file, line and column.
    pub fn read_segment(path: &Path) -> Result<(Vec<RequestRecord>, bool), ModelError> {
        let bytes = fs::read(path).map_err(|e| ModelError::io(path, e))?;
        let complete = match bytes.iter().rposition(|&b| b == b'\n') {
            Some(i) => &bytes[..=i],
            None => &bytes[..0],
        };
        let torn = complete.len() < bytes.len();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(complete);
        let mut records = Vec::new();
        for (i, row) in reader.deserialize::<RequestRecord>().enumerate() {
            records.push(row.map_err(|e| record_error(path, i + 2, &e))?);
        }
        Ok((records, torn))
    }
}

fn record_error(path: &Path, line: usize, e: &csv::Error) -> ModelError {
    let field = match e.kind() {
        csv::ErrorKind::Deserialize { err, .. } => err
            .field()
            .and_then(|i| REQUEST_COLUMNS.get(i as usize))
            .map_or_else(String::new, |s| (*s).to_string()),
        _ => String::new(),
    };
    ModelError::Record {
        path: path.to_path_buf(),
        line,
        field,
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn failed_or_slow_is_4xx_5xx_or_above_the_groups_p99() {
        // Group "a": 1..=100 ms answered (p99 = 99 ms), plus a transport error of 10 s that
        // is no answer and does not move the p99.
        let mut requests: Vec<(&str, u16, f64)> =
            (1..=100).map(|ms| ("a", 200, f64::from(ms))).collect();
        requests.push(("a", 0, 10_000.0));
        let rule = FailedOrSlow::new(requests);
        assert!(!rule.test(&"a", 200, 99.0));
        assert!(rule.test(&"a", 200, 100.0));
        assert!(rule.test(&"a", 502, 1.0));
        assert!(rule.test(&"a", 429, 1.0));
        assert!(!rule.test(&"a", 304, 1.0));
        // A group with no answered request: only the status decides.
        assert!(!rule.test(&"b", 200, 1e9));
    }

    #[test]
    fn only_the_writers_segment_names_are_read() {
        assert!(is_segment_name("part-000001.csv"));
        assert!(is_segment_name("part-1234567.csv"));
        for bad in [
            "part-abc.csv",
            "part-000001 (1).csv",
            "part-00001.csv",
            "part-000001.csv.bak",
            "x-000001.csv",
        ] {
            assert!(!is_segment_name(bad), "{bad}");
        }
    }

    use super::*;

    fn rec(seq: u64) -> RequestRecord {
        RequestRecord {
            sequence: seq,
            flow: "browse, then buy".into(),
            endpoint: "GET /products/:id".into(),
            phase: 1,
            vu: 7,
            intended: UnixNanos(1_700_000_000_000_000_000),
            sent: UnixNanos(1_700_000_000_000_500_000),
            end: UnixNanos(1_700_000_000_020_000_000),
            status: if seq.is_multiple_of(2) { 200 } else { 0 },
            error: (!seq.is_multiple_of(2)).then_some(ErrorKind::ConnectionReset),
            bytes: 512,
            trace_id: (seq.is_multiple_of(3)).then(|| "1-5759e988-bd862e3fe1be46a994272793".into()),
            sampled: seq.is_multiple_of(3),
        }
    }

    #[test]
    fn records_round_trip_including_commas_and_empty_fields() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = RequestLogWriter::create(dir.path().join("requests")).unwrap();
        let recs: Vec<_> = (0..10).map(rec).collect();
        for r in &recs {
            w.append(r).unwrap();
        }
        w.finish().unwrap();
        let log = RequestLog::read(&dir.path().join("requests")).unwrap();
        assert_eq!(log.records, recs);
        assert_eq!(log.torn_lines, 0);
        assert_eq!(
            log.records[0].corrected_latency(),
            Duration::from_millis(20)
        );
        assert_eq!(log.records[0].raw_latency(), Duration::from_micros(19_500));
    }

    #[test]
    fn lines_are_what_the_csv_crate_writes_for_awkward_names() {
        let names = [
            "plain",
            "",
            "a,b",
            "say \"hi\"",
            "two\nlines",
            "cr\rhere",
            " padded ",
            "<img src=x onerror=alert(1)>",
            "ünïcode · ok",
        ];
        let mut ours = Vec::new();
        let mut theirs = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::new());
        for (i, name) in names.iter().enumerate() {
            let mut r = rec(i as u64);
            r.flow = (*name).to_string();
            r.endpoint = format!("GET /{name}");
            r.phase = u32::MAX;
            r.intended = UnixNanos(-5);
            r.trace_id = (i % 2 == 0).then(|| (*name).to_string());
            encode_record(&mut ours, &r);
            theirs.serialize(&r).unwrap();
        }
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            String::from_utf8(theirs.into_inner().unwrap()).unwrap()
        );
    }

    #[test]
    fn a_torn_last_line_is_dropped_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let req = dir.path().join("requests");
        let mut w = RequestLogWriter::create(&req).unwrap();
        for i in 0..3 {
            w.append(&rec(i)).unwrap();
        }
        w.finish().unwrap();
        let seg = req.join("part-000001.csv");
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(b"3,flow,GET /x,0,1,17000").unwrap();
        let log = RequestLog::read(&req).unwrap();
        assert_eq!(log.records.len(), 3);
        assert_eq!(log.torn_lines, 1);
    }

    #[test]
    fn a_malformed_line_names_file_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let req = dir.path().join("requests");
        fs::create_dir_all(&req).unwrap();
        let mut text = REQUEST_COLUMNS.join(",");
        text.push_str(
            "\n1,f,GET /,0,0,1,2,3,200,,10,,false\n2,f,GET /,0,0,1,2,x3,200,,10,,false\n",
        );
        fs::write(req.join("part-000001.csv"), text).unwrap();
        let err = RequestLog::read(&req).unwrap_err().to_string();
        assert!(err.contains("part-000001.csv:3"), "{err}");
        assert!(err.contains("end_ns"), "{err}");
    }

    #[test]
    fn unflushed_records_are_not_on_disk_and_flushed_ones_are() {
        let dir = tempfile::tempdir().unwrap();
        let req = dir.path().join("requests");
        let mut w = RequestLogWriter::create(&req).unwrap();
        w.append(&rec(0)).unwrap();
        w.flush().unwrap();
        w.append(&rec(1)).unwrap();
        // Simulate SIGKILL: drop without flushing.
        std::mem::forget(w);
        let log = RequestLog::read(&req).unwrap();
        assert_eq!(log.records.len(), 1);
    }
}
