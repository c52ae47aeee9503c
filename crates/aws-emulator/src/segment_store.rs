//! The X-Ray segment store: every segment document the sandbox emitted or was sent
//! (PutTraceSegments), kept as AWS keeps them — raw JSON documents grouped by trace id.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

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

impl StoredSegment {
    /// Memory a segment holds in the store: its strings plus the structures around them.
    fn footprint(&self, trace_id: &str) -> usize {
        self.document.len() + self.id.len() + trace_id.len() + 96
    }
}

#[derive(Default)]
struct Inner {
    /// Segments by trace id.
    traces: HashMap<String, Vec<StoredSegment>>,
    /// Trace ids by the earliest segment start (epoch milliseconds), for time-range queries.
    by_start: BTreeSet<(u64, String)>,
    first_start: HashMap<String, u64>,
    /// Footprint of everything stored, bytes.
    bytes: usize,
}

impl Inner {
    /// Drops the earliest-starting trace; false when none is left.
    fn drop_oldest(&mut self) -> bool {
        let Some((_, oldest)) = self.by_start.pop_first() else {
            return false;
        };
        self.first_start.remove(&oldest);
        if let Some(segments) = self.traces.remove(&oldest) {
            let freed: usize = segments.iter().map(|s| s.footprint(&oldest)).sum();
            self.bytes -= freed + 2 * oldest.len();
        }
        true
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
            .ok_or_else(|| reject("missing trace_id"))?
            .to_owned();
        let seg_id = id.clone().ok_or_else(|| reject("missing id"))?;
        if value.get("name").and_then(|v| v.as_str()).is_none() {
            return Err(reject("missing name"));
        }
        let start_time = value
            .get("start_time")
            .and_then(serde_json::Value::as_f64)
            .ok_or_else(|| reject("missing start_time"))?;
        let end_time = value.get("end_time").and_then(serde_json::Value::as_f64);
        let start_ms = (start_time * 1000.0).max(0.0) as u64;
        let mut inner = self.inner.lock().expect("segment store poisoned");
        let previous = inner.first_start.get(&trace_id).copied();
        if previous.is_none_or(|p| start_ms < p) {
            match previous {
                Some(p) => {
                    inner.by_start.remove(&(p, trace_id.clone()));
                }
                // The id is held twice more: in `by_start` and `first_start`.
                None => inner.bytes += 2 * trace_id.len(),
            }
            inner.by_start.insert((start_ms, trace_id.clone()));
            inner.first_start.insert(trace_id.clone(), start_ms);
        }
        let segment = StoredSegment {
            id: seg_id,
            start_time,
            end_time,
            document: document.to_owned(),
        };
        let added = segment.footprint(&trace_id);
        let segments = inner.traces.entry(trace_id.clone()).or_default();
        // A segment sent again (in-progress, then complete) replaces the earlier copy.
        let mut freed = 0;
        segments.retain(|s| {
            let keep = s.id != segment.id;
            if !keep {
                freed += s.footprint(&trace_id);
            }
            keep
        });
        segments.push(segment);
        inner.bytes = inner.bytes + added - freed;
        while inner.bytes > self.max_bytes && inner.traces.len() > 1 && inner.drop_oldest() {}
        Ok(())
    }

    /// The segments of one trace, in the order they were stored; empty when unknown.
    pub fn trace(&self, trace_id: &str) -> Vec<StoredSegment> {
        let inner = self.inner.lock().expect("segment store poisoned");
        inner.traces.get(trace_id).cloned().unwrap_or_default()
    }

    /// Trace ids whose first segment started in `[from_ms, to_ms)` (epoch milliseconds),
    /// oldest first.
    pub fn trace_ids_between(&self, from_ms: u64, to_ms: u64) -> Vec<String> {
        let inner = self.inner.lock().expect("segment store poisoned");
        inner
            .by_start
            .range((from_ms, String::new())..(to_ms, String::new()))
            .map(|(_, id)| id.clone())
            .collect()
    }

    /// Every trace id with its first segment start (epoch milliseconds), oldest first
    /// (GetTraceSummaries with `TimeRangeType=TraceId` selects on the id's own epoch).
    pub fn trace_ids_by_start(&self) -> Vec<(u64, String)> {
        let inner = self.inner.lock().expect("segment store poisoned");
        inner.by_start.iter().cloned().collect()
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
        let d = doc("1-a-0", "0000000000000001", 0.0);
        let one = d.len() + 16 + 3 * 5 + 96;
        let s = SegmentStore::with_limit(10 * one);
        for i in 0..100 {
            s.put(&doc(&format!("1-a-{i}"), "0000000000000001", f64::from(i)))
                .unwrap();
        }
        assert!(s.len() <= 10, "{} traces kept", s.len());
        assert!(s.len() >= 8, "{} traces kept", s.len());
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
}
