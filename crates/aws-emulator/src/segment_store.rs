//! The X-Ray segment store: every segment document the sandbox emitted or was sent
//! (PutTraceSegments), grouped by trace id. Documents are kept in a compact binary encoding
//! (see `codec`: interned keys and repeated strings, ids as bytes, numbers as varints or
//! floats) and rendered back to exactly the JSON text that was stored when read; a document
//! that would not render back byte-identical (one not written by `serde_json`) is kept as
//! text.

mod codec;

pub(crate) use codec::{Interner, Reader, put_varint, write_hex};

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use codec::Head;

/// One stored segment document.
#[derive(Clone, Debug)]
pub struct StoredSegment {
    /// The segment's `id` (16 hex digits).
    pub id: String,
    /// Epoch seconds of the segment's `start_time`.
    pub start_time: f64,
    /// Epoch seconds of the segment's `end_time`, absent while in progress.
    pub end_time: Option<f64>,
    /// The document exactly as emitted or received.
    pub document: String,
}

/// A trace id: X-Ray's `1-{8 hex}-{24 hex}` (lowercase) packed in 16 bytes, else its text.
/// Ordered as its text is.
#[derive(Clone, PartialEq, Eq, Hash)]
enum TraceKey {
    Packed([u8; 16]),
    Text(Box<str>),
}

impl TraceKey {
    fn new(id: &str) -> Self {
        let b = id.as_bytes();
        if b.len() == 35 && id.starts_with("1-") && b[10] == b'-' {
            let hex: String = [&id[2..10], &id[11..]].concat();
            let mut out = Vec::with_capacity(16);
            if hex
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
                && pack_lower_hex(&hex, &mut out)
                && let Ok(packed) = out.try_into()
            {
                return Self::Packed(packed);
            }
        }
        Self::Text(id.into())
    }

    fn text(&self) -> String {
        match self {
            Self::Packed(b) => {
                let mut s = String::with_capacity(35);
                s.push_str("1-");
                write_hex(&b[..4], &mut s);
                s.push('-');
                write_hex(&b[4..], &mut s);
                s
            }
            Self::Text(t) => t.to_string(),
        }
    }

    /// Memory beyond the key itself, bytes.
    fn heap(&self) -> usize {
        match self {
            Self::Packed(_) => 0,
            Self::Text(t) => t.len() + 16,
        }
    }
}

fn pack_lower_hex(hex: &str, out: &mut Vec<u8>) -> bool {
    let b = hex.as_bytes();
    if !b.len().is_multiple_of(2) {
        return false;
    }
    let val = |c: u8| {
        if c.is_ascii_digit() {
            c - b'0'
        } else {
            c - b'a' + 10
        }
    };
    out.extend(b.chunks(2).map(|p| val(p[0]) << 4 | val(p[1])));
    true
}

impl Ord for TraceKey {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::Packed(a), Self::Packed(b)) => a.cmp(b),
            (Self::Text(a), Self::Text(b)) => a.cmp(b),
            _ => self.text().cmp(&other.text()),
        }
    }
}

impl PartialOrd for TraceKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Per-trace memory besides its encoded segments: the map slot, the start index entry and
/// the allocation header, bytes (estimate; `benches/telemetry_stores.rs` checks it
/// against the resident set).
const TRACE_OVERHEAD: usize = 128;

/// How a segment is kept: encoded, or as its text.
const ENCODED: u8 = 0;
const TEXT: u8 = 1;

/// One trace: the earliest segment start and its segments, each `[varint length][kind]
/// [payload]`, in the order stored.
struct Trace {
    first_start_ms: u64,
    segments: Box<[u8]>,
}

/// The records of a trace: (kind, payload, byte range of the whole record).
fn records(blob: &[u8]) -> Vec<(u8, &[u8], std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let mut r = Reader::new(blob);
    while !r.at_end() {
        let start = r.pos();
        let Some(rec) = r.varint().and_then(|len| r.bytes(len as usize)) else {
            break;
        };
        if let Some((&kind, payload)) = rec.split_first() {
            out.push((kind, payload, start..r.pos()));
        }
    }
    out
}

#[derive(Default)]
struct Inner {
    /// Segments by trace id.
    traces: HashMap<TraceKey, Trace>,
    /// Trace ids by the earliest segment start (epoch milliseconds), for time-range queries.
    by_start: BTreeSet<(u64, TraceKey)>,
    /// Keys and repeated strings of the encoded documents.
    interner: Interner,
    /// Footprint of the traces stored, bytes.
    bytes: usize,
    /// Traces dropped to stay within the budget.
    dropped: u64,
}

impl Inner {
    /// Drops the earliest-starting trace; false when none is left.
    fn drop_oldest(&mut self) -> bool {
        let Some((_, oldest)) = self.by_start.pop_first() else {
            return false;
        };
        if let Some(t) = self.traces.remove(&oldest) {
            self.bytes -= t.segments.len() + TRACE_OVERHEAD + 2 * oldest.heap();
            self.dropped += 1;
        }
        true
    }

    fn render(&self, key: &TraceKey, trace_id: &str) -> Vec<StoredSegment> {
        let Some(t) = self.traces.get(key) else {
            return Vec::new();
        };
        records(&t.segments)
            .into_iter()
            .filter_map(|(kind, payload, _)| self.segment(kind, payload, trace_id))
            .collect()
    }

    fn segment(&self, kind: u8, payload: &[u8], trace_id: &str) -> Option<StoredSegment> {
        let (document, head) = if kind == ENCODED {
            let mut doc = String::with_capacity(payload.len() * 3);
            let mut head = Head::default();
            codec::render_document(payload, trace_id, &self.interner, &mut doc, &mut head)?;
            (doc, head)
        } else {
            let doc = std::str::from_utf8(payload).ok()?.to_owned();
            let v: serde_json::Value = serde_json::from_str(&doc).ok()?;
            let head = Head {
                id: v.get("id").and_then(|v| v.as_str()).map(str::to_owned),
                start_time: v.get("start_time").and_then(serde_json::Value::as_f64),
                end_time: v.get("end_time").and_then(serde_json::Value::as_f64),
            };
            (doc, head)
        };
        Some(StoredSegment {
            id: head.id?,
            start_time: head.start_time?,
            end_time: head.end_time,
            document,
        })
    }
}

/// Thread-safe store of segment documents. At most `max_bytes` bytes of traces are kept
/// (the earliest-starting are dropped beyond it), so a long load test runs in flat memory;
/// the sandbox's data directory keeps every document.
pub struct SegmentStore {
    inner: Mutex<Inner>,
    max_bytes: usize,
}

impl Default for SegmentStore {
    fn default() -> Self {
        Self::with_limit(usize::MAX)
    }
}

/// Why a document was rejected (PutTraceSegments reports these as `UnprocessedTraceSegments`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The segment id when it could be read.
    pub id: Option<String>,
    /// What was wrong.
    pub message: String,
}

impl SegmentStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store keeping at most `max_bytes` bytes of traces (at least the newest trace
    /// is always kept).
    pub fn with_limit(max_bytes: usize) -> Self {
        Self {
            inner: Mutex::default(),
            max_bytes,
        }
    }

    /// Parses and stores one segment document; it needs `trace_id`, `id`, `name` and
    /// `start_time`, as X-Ray requires.
    pub fn put(&self, document: &str) -> Result<(), Rejected> {
        let value: serde_json::Value = serde_json::from_str(document).map_err(|e| Rejected {
            id: None,
            message: format!("invalid JSON: {e}"),
        })?;
        let id = value.get("id").and_then(|v| v.as_str()).map(str::to_owned);
        let reject = |message: &str| Rejected {
            id: id.clone(),
            message: message.to_owned(),
        };
        let trace_id = value
            .get("trace_id")
            .and_then(|v| v.as_str())
            .ok_or_else(|| reject("missing trace_id"))?;
        let seg_id = id.clone().ok_or_else(|| reject("missing id"))?;
        if value.get("name").and_then(|v| v.as_str()).is_none() {
            return Err(reject("missing name"));
        }
        let start_time = value
            .get("start_time")
            .and_then(serde_json::Value::as_f64)
            .ok_or_else(|| reject("missing start_time"))?;
        let start_ms = (start_time * 1000.0).max(0.0) as u64;
        let key = TraceKey::new(trace_id);
        let mut inner = self.inner.lock().expect("segment store poisoned");
        let encoded = codec::encode_document(&value, document, trace_id, &mut inner.interner);
        let mut record = Vec::with_capacity(encoded.as_ref().map_or(document.len(), Vec::len) + 4);
        let body_len = 1 + encoded.as_ref().map_or(document.len(), Vec::len);
        put_varint(&mut record, body_len as u64);
        if let Some(e) = &encoded {
            record.push(ENCODED);
            record.extend_from_slice(e);
        } else {
            record.push(TEXT);
            record.extend_from_slice(document.as_bytes());
        }
        let previous = inner.traces.get(&key).map(|t| t.first_start_ms);
        // A segment sent again (in-progress, then complete) replaces the earlier copy.
        let old: Vec<u8> = if let Some(t) = inner.traces.get(&key) {
            let mut kept = Vec::with_capacity(t.segments.len() + record.len());
            for (kind, payload, range) in records(&t.segments) {
                let same = inner
                    .segment(kind, payload, trace_id)
                    .is_some_and(|s| s.id == seg_id);
                if !same {
                    kept.extend_from_slice(&t.segments[range]);
                }
            }
            kept
        } else {
            inner.bytes += TRACE_OVERHEAD + 2 * key.heap();
            Vec::new()
        };
        let old_len = inner.traces.get(&key).map_or(0, |t| t.segments.len());
        let mut segments = old;
        segments.extend_from_slice(&record);
        inner.bytes = inner.bytes + segments.len() - old_len;
        let first_start_ms = match previous {
            Some(p) if p <= start_ms => p,
            Some(p) => {
                inner.by_start.remove(&(p, key.clone()));
                inner.by_start.insert((start_ms, key.clone()));
                start_ms
            }
            None => {
                inner.by_start.insert((start_ms, key.clone()));
                start_ms
            }
        };
        inner.traces.insert(
            key,
            Trace {
                first_start_ms,
                segments: segments.into_boxed_slice(),
            },
        );
        while inner.bytes + inner.interner.bytes() > self.max_bytes
            && inner.traces.len() > 1
            && inner.drop_oldest()
        {}
        Ok(())
    }

    /// The segments of one trace, in the order they were stored; empty when unknown (never
    /// stored, or dropped to stay within the budget).
    pub fn trace(&self, trace_id: &str) -> Vec<StoredSegment> {
        let inner = self.inner.lock().expect("segment store poisoned");
        inner.render(&TraceKey::new(trace_id), trace_id)
    }

    /// Trace ids whose first segment started in `[from_ms, to_ms)` (epoch milliseconds),
    /// oldest first.
    pub fn trace_ids_between(&self, from_ms: u64, to_ms: u64) -> Vec<String> {
        let inner = self.inner.lock().expect("segment store poisoned");
        let low = TraceKey::Text("".into());
        inner
            .by_start
            .range((from_ms, low.clone())..(to_ms, low))
            .map(|(_, id)| id.text())
            .collect()
    }

    /// Every trace id with its first segment start (epoch milliseconds), oldest first
    /// (GetTraceSummaries with `TimeRangeType=TraceId` selects on the id's own epoch).
    pub fn trace_ids_by_start(&self) -> Vec<(u64, String)> {
        let inner = self.inner.lock().expect("segment store poisoned");
        inner
            .by_start
            .iter()
            .map(|(ms, id)| (*ms, id.text()))
            .collect()
    }

    /// Number of traces stored.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .expect("segment store poisoned")
            .traces
            .len()
    }

    /// True when no trace is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Memory the store holds, bytes (its own estimate: encoded segments, per-trace
    /// indexes and the table of repeated strings), what the budget is checked against.
    pub fn bytes(&self) -> usize {
        let inner = self.inner.lock().expect("segment store poisoned");
        inner.bytes + inner.interner.bytes()
    }

    /// Traces dropped so far to stay within the budget (BatchGetTraces then answers for
    /// them as for any unknown id).
    pub fn dropped_traces(&self) -> u64 {
        self.inner.lock().expect("segment store poisoned").dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(trace: &str, id: &str, start: f64) -> String {
        format!(
            r#"{{"trace_id":"{trace}","id":"{id}","name":"f","start_time":{start},"end_time":{}}}"#,
            start + 0.5
        )
    }

    #[test]
    fn groups_by_trace_and_orders_by_first_start() {
        let s = SegmentStore::new();
        s.put(&doc("1-a-1", "0000000000000001", 20.0)).unwrap();
        s.put(&doc("1-a-2", "0000000000000002", 10.0)).unwrap();
        s.put(&doc("1-a-1", "0000000000000003", 5.0)).unwrap();
        assert_eq!(s.trace("1-a-1").len(), 2);
        assert_eq!(s.trace_ids_between(0, 30_000), vec!["1-a-1", "1-a-2"]);
        assert_eq!(s.trace_ids_between(6_000, 30_000), vec!["1-a-2"]);
    }

    #[test]
    fn rejects_documents_without_required_fields() {
        let s = SegmentStore::new();
        let err = s.put(r#"{"id":"0000000000000001","name":"f","start_time":1}"#);
        assert_eq!(err.unwrap_err().message, "missing trace_id");
        assert!(s.put("not json").is_err());
        assert!(s.is_empty());
    }

    #[test]
    fn resent_segment_replaces_the_earlier_copy() {
        let s = SegmentStore::new();
        s.put(&doc("1-a-1", "0000000000000001", 1.0)).unwrap();
        s.put(&doc("1-a-1", "0000000000000001", 1.0)).unwrap();
        assert_eq!(s.trace("1-a-1").len(), 1);
    }

    #[test]
    fn keeps_the_latest_traces_within_its_byte_budget() {
        let probe = SegmentStore::new();
        probe.put(&doc("1-a-0", "0000000000000001", 0.0)).unwrap();
        let first = probe.bytes();
        probe.put(&doc("1-a-1", "0000000000000001", 1.0)).unwrap();
        // Keys and names are interned once; a further trace costs this much.
        let one = probe.bytes() - first;
        let shared = first - one;
        let s = SegmentStore::with_limit(shared + 10 * one);
        for i in 0..100 {
            s.put(&doc(&format!("1-a-{i}"), "0000000000000001", f64::from(i)))
                .unwrap();
        }
        assert!(s.len() <= 10, "{} traces kept", s.len());
        assert!(s.len() >= 8, "{} traces kept", s.len());
        assert_eq!(s.dropped_traces(), 100 - s.len() as u64);
        let ids = s.trace_ids_between(0, 1_000_000);
        assert_eq!(ids.last().map(String::as_str), Some("1-a-99"));
        assert!(
            s.trace("1-a-0").is_empty(),
            "the earliest trace was dropped"
        );
        // Resending a segment does not grow the footprint.
        for _ in 0..50 {
            s.put(&doc("1-a-99", "0000000000000001", 99.0)).unwrap();
        }
        assert!(s.len() >= 8, "{} traces kept after resends", s.len());
    }

    /// A sandbox-shaped document (as `serde_json` writes it) is stored encoded and comes
    /// back byte-identical; so does one written otherwise (kept as text).
    #[test]
    fn documents_read_back_byte_identical() {
        let t = "1-6a1b2c3d-0123456789abcdef01234567";
        let sandbox = serde_json::json!({
            "id": "a1b2c3d4e5f60718", "trace_id": t, "name": "orders-api",
            "origin": "AWS::Lambda::Function", "parent_id": "0011223344556677",
            "start_time": 1_795_000_000.123_456_7_f64, "end_time": 1_795_000_000.131_f64,
            "resource_arn": "arn:aws:lambda:us-east-1:123456789012:function:orders-api",
            "aws": {"request_id": "9f1c2b3a-1d2e-4f00-8abc-0123456789ab", "retries": 0},
            "subsegments": [{"id": "00000000000000ff", "name": "Invocation",
                "start_time": 1_795_000_000.124_f64, "end_time": 1_795_000_000.13_f64,
                "fault": true, "cause": {"exceptions": [{"message": "a \"quoted\"\nline"}]}}],
        })
        .to_string();
        let spaced = format!(
            r#"{{ "trace_id": "{t}", "name": "x", "id": "00000000000000fe", "start_time": 1.795e9 }}"#
        );
        let s = SegmentStore::new();
        s.put(&sandbox).unwrap();
        s.put(&spaced).unwrap();
        let got = s.trace(t);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].document, sandbox);
        assert_eq!(got[0].id, "a1b2c3d4e5f60718");
        assert_eq!(
            got[0].start_time.to_bits(),
            1_795_000_000.123_456_7_f64.to_bits()
        );
        assert_eq!(
            got[0].end_time.map(f64::to_bits),
            Some(1_795_000_000.131_f64.to_bits())
        );
        assert_eq!(got[1].document, spaced);
        assert_eq!(got[1].start_time.to_bits(), 1.795e9_f64.to_bits());
        assert_eq!(got[1].end_time, None);
        // A second trace of the same shape costs well under half its text.
        let before = s.bytes();
        let t2 = "1-6a1b2c3d-0123456789abcdef01234568";
        s.put(&sandbox.replace(t, t2)).unwrap();
        assert!(
            s.bytes() - before < sandbox.len() / 2,
            "{}",
            s.bytes() - before
        );
        assert_eq!(s.trace(t2)[0].document, sandbox.replace(t, t2));
        assert_eq!(s.trace_ids_between(0, u64::MAX), vec![t, t2]);
    }
}
