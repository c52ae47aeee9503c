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

#[derive(Default)]
struct Inner {
    /// Segments by trace id.
    traces: HashMap<String, Vec<StoredSegment>>,
    /// Trace ids by the earliest segment start (epoch milliseconds), for time-range queries.
    by_start: BTreeSet<(u64, String)>,
    first_start: HashMap<String, u64>,
}

/// Thread-safe store of segment documents. At most `max_traces` traces are kept (the
/// earliest-starting are dropped beyond it), so a long load test runs in flat memory; the
/// sandbox's data directory keeps every document.
pub struct SegmentStore {
    inner: Mutex<Inner>,
    max_traces: usize,
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

    /// An empty store keeping at most `max_traces` traces.
    pub fn with_limit(max_traces: usize) -> Self {
        Self {
            inner: Mutex::default(),
            max_traces: max_traces.max(1),
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
            if let Some(p) = previous {
                inner.by_start.remove(&(p, trace_id.clone()));
            }
            inner.by_start.insert((start_ms, trace_id.clone()));
            inner.first_start.insert(trace_id.clone(), start_ms);
        }
        let segments = inner.traces.entry(trace_id).or_default();
        // A segment sent again (in-progress, then complete) replaces the earlier copy.
        segments.retain(|s| s.id != seg_id);
        segments.push(StoredSegment {
            id: seg_id,
            start_time,
            end_time,
            document: document.to_owned(),
        });
        if inner.traces.len() > self.max_traces
            && let Some((_, oldest)) = inner.by_start.pop_first()
        {
            inner.traces.remove(&oldest);
            inner.first_start.remove(&oldest);
        }
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
}
