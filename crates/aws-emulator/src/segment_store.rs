//! The X-Ray segment store: every segment document the sandbox emitted or was sent
//! (PutTraceSegments), grouped by trace id. Documents are kept in a compact binary encoding
//! (see `codec`: interned keys and repeated strings, ids as bytes, numbers as varints or
//! floats) and rendered back to exactly the JSON text that was stored when read; a document
//! that would not render back byte-identical (one not written by `serde_json`) is kept as
//! text. Beyond its memory budget the store drops the earliest-starting traces, or, with a
//! spill file ([`SegmentStore::with_spill`]), moves them there and keeps answering for them.

mod codec;

pub(crate) use codec::{Interner, Reader, put_varint, write_hex};

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use codec::Head;

use crate::spill::{Piece, Spill};

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

/// Memory per spilled trace: its index entries (id, first start, place in the file), bytes.
const SPILLED_OVERHEAD: usize = 96;

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
    /// Where traces go beyond the budget instead of being dropped, when set.
    spill: Option<Spill>,
    /// Spilled traces: the earliest segment start and the record blob's place in the file.
    spilled: HashMap<TraceKey, (u64, Piece)>,
    /// Spilled trace ids by the earliest segment start.
    spilled_by_start: BTreeSet<(u64, TraceKey)>,
}

impl Inner {
    /// Moves the earliest-starting trace in memory to the spill file, or drops it (no
    /// spill file, or it failed); once only spilled traces are left, drops the earliest
    /// of those. False when nothing is left.
    fn drop_oldest(&mut self) -> bool {
        if self.traces.len() <= 1 {
            let Some((_, oldest)) = self.spilled_by_start.pop_first() else {
                return false;
            };
            self.spilled.remove(&oldest);
            self.bytes -= SPILLED_OVERHEAD + 2 * oldest.heap();
            self.dropped += 1;
            return true;
        }
        let Some((start, oldest)) = self.by_start.pop_first() else {
            return false;
        };
        if let Some(t) = self.traces.remove(&oldest) {
            self.bytes -= t.segments.len() + TRACE_OVERHEAD + 2 * oldest.heap();
            match self.spill.as_mut().and_then(|s| s.write(&t.segments)) {
                Some(piece) => {
                    self.bytes += SPILLED_OVERHEAD + 2 * oldest.heap();
                    self.spilled_by_start.insert((start, oldest.clone()));
                    self.spilled.insert(oldest, (start, piece));
                }
                None => self.dropped += 1,
            }
        }
        true
    }

    /// A spilled trace's record blob, taken out of the spill index (it is being stored
    /// again, in memory).
    fn unspill(&mut self, key: &TraceKey) -> Option<(u64, Vec<u8>)> {
        let (start, piece) = self.spilled.remove(key)?;
        self.spilled_by_start.remove(&(start, key.clone()));
        self.bytes -= SPILLED_OVERHEAD + 2 * key.heap();
        let blob = self.spill.as_mut()?.read(piece);
        if blob.is_none() {
            self.dropped += 1;
        }
        Some((start, blob?))
    }

    fn render(&mut self, key: &TraceKey, trace_id: &str) -> Vec<StoredSegment> {
        let spilled;
        let blob: &[u8] = if let Some(t) = self.traces.get(key) {
            &t.segments
        } else if let Some(&(_, piece)) = self.spilled.get(key) {
            match self.spill.as_mut().and_then(|s| s.read(piece)) {
                Some(b) => {
                    spilled = b;
                    &spilled
                }
                None => return Vec::new(),
            }
        } else {
            return Vec::new();
        };
        records(blob)
            .into_iter()
            .filter_map(|(kind, payload, _)| self.segment(kind, payload, trace_id))
            .collect()
    }

    /// Every trace id by its first segment start, in memory and spilled, oldest first.
    fn ids_in(&self, range: std::ops::Range<(u64, TraceKey)>) -> Vec<(u64, String)> {
        let mut out: Vec<(u64, String)> = self
            .by_start
            .range(range.clone())
            .chain(self.spilled_by_start.range(range))
            .map(|(ms, id)| (*ms, id.text()))
            .collect();
        out.sort();
        out
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
/// (the earliest-starting are dropped beyond it, or moved to a spill file when there is
/// one), so a long load test runs in flat memory.
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

    /// An empty store keeping at most `max_bytes` bytes of traces in memory and the
    /// earlier ones in `spill`, still answered for (each spilled trace costs ~100 bytes of
    /// index in the budget; only when those fill it are traces dropped).
    pub fn with_spill(max_bytes: usize, spill: Spill) -> Self {
        Self {
            inner: Mutex::new(Inner {
                spill: Some(spill),
                ..Inner::default()
            }),
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
        // A late segment of a spilled trace: the trace comes back into memory whole.
        if let Some((start, blob)) = inner.unspill(&key) {
            inner.bytes += blob.len() + TRACE_OVERHEAD + 2 * key.heap();
            inner.by_start.insert((start, key.clone()));
            inner.traces.insert(
                key.clone(),
                Trace {
                    first_start_ms: start,
                    segments: blob.into_boxed_slice(),
                },
            );
        }
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
            && inner.traces.len() + inner.spilled.len() > 1
            && inner.drop_oldest()
        {}
        Ok(())
    }

    /// The segments of one trace, in the order they were stored; empty when unknown (never
    /// stored, or dropped to stay within the budget).
    pub fn trace(&self, trace_id: &str) -> Vec<StoredSegment> {
        let mut inner = self.inner.lock().expect("segment store poisoned");
        inner.render(&TraceKey::new(trace_id), trace_id)
    }

    /// Trace ids whose first segment started in `[from_ms, to_ms)` (epoch milliseconds),
    /// oldest first.
    pub fn trace_ids_between(&self, from_ms: u64, to_ms: u64) -> Vec<String> {
        let inner = self.inner.lock().expect("segment store poisoned");
        let low = TraceKey::Text("".into());
        inner
            .ids_in((from_ms, low.clone())..(to_ms, low))
            .into_iter()
            .map(|(_, id)| id)
            .collect()
    }

    /// Every trace id with its first segment start (epoch milliseconds), oldest first
    /// (GetTraceSummaries with `TimeRangeType=TraceId` selects on the id's own epoch).
    pub fn trace_ids_by_start(&self) -> Vec<(u64, String)> {
        let inner = self.inner.lock().expect("segment store poisoned");
        let low = TraceKey::Text("".into());
        inner.ids_in((0, low.clone())..(u64::MAX, low))
    }

    /// Number of traces stored (in memory and spilled).
    pub fn len(&self) -> usize {
        let inner = self.inner.lock().expect("segment store poisoned");
        inner.traces.len() + inner.spilled.len()
    }

    /// Traces in the spill file, and its size in bytes.
    pub fn spilled(&self) -> (usize, u64) {
        let inner = self.inner.lock().expect("segment store poisoned");
        (
            inner.spilled.len(),
            inner.spill.as_ref().map_or(0, Spill::len),
        )
    }

    /// The spill file's first I/O error (its traces are then dropped), naming the file.
    pub fn spill_error(&self) -> Option<String> {
        let inner = self.inner.lock().expect("segment store poisoned");
        inner
            .spill
            .as_ref()
            .and_then(|s| s.error().map(str::to_owned))
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

    #[test]
    fn with_a_spill_file_every_trace_stays_answered() {
        let tid = |i: i32| format!("1-5f000000-{i:024x}");
        let probe = SegmentStore::new();
        probe
            .put(&doc(&tid(1000), "0000000000000001", 0.0))
            .unwrap();
        let first = probe.bytes();
        probe
            .put(&doc(&tid(1001), "0000000000000001", 1.0))
            .unwrap();
        let one = probe.bytes() - first;
        let dir = tempfile::tempdir().unwrap();
        let spill = Spill::create(&dir.path().join("segments.bin")).unwrap();
        // Room for a few traces in memory and the index of every spilled one.
        let s = SegmentStore::with_spill(first - one + 10 * one + 100 * SPILLED_OVERHEAD, spill);
        for i in 0..100 {
            let id = tid(i);
            s.put(&doc(&id, "0000000000000001", f64::from(i))).unwrap();
            s.put(&doc(&id, "0000000000000002", f64::from(i) + 0.1))
                .unwrap();
        }
        let (spilled, file_bytes) = s.spilled();
        assert!(spilled >= 80, "{spilled} spilled");
        assert!(file_bytes > 0);
        assert_eq!(s.dropped_traces(), 0);
        assert_eq!(s.len(), 100);
        // Every trace reads back whole, spilled or not, and time queries see them all.
        for i in 0..100 {
            let id = tid(i);
            let got = s.trace(&id);
            assert_eq!(got.len(), 2, "{id}");
            assert_eq!(got[0].document, doc(&id, "0000000000000001", f64::from(i)));
        }
        let ids = s.trace_ids_between(0, 1_000_000);
        assert_eq!(ids.len(), 100);
        assert_eq!(ids[0], tid(0));
        assert_eq!(s.trace_ids_between(5_000, 7_000), [tid(5), tid(6)]);
        assert_eq!(s.trace_ids_by_start().len(), 100);
        // A late segment of a spilled trace joins it (and the resent one replaces its copy).
        s.put(&doc(&tid(0), "0000000000000003", 0.5)).unwrap();
        s.put(&doc(&tid(0), "0000000000000002", 0.1)).unwrap();
        assert_eq!(s.trace(&tid(0)).len(), 3);
        assert_eq!(s.len(), 100);
        assert_eq!(s.trace_ids_between(0, 1_000).len(), 1);
        assert!(s.spill_error().is_none());
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
