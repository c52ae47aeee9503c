//! The CloudWatch Logs store: log events per log group (`/aws/lambda/<function>`), as the
//! Lambda service writes them (REPORT lines and, in JSON log format, `platform.report`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// One log event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEvent {
    /// Event time, epoch milliseconds.
    pub timestamp_ms: u64,
    /// Time the service ingested it, epoch milliseconds.
    pub ingestion_ms: u64,
    /// Log stream name, e.g. `2026/11/23/[$LATEST]<environment id>`.
    pub stream: String,
    /// The message text.
    pub message: String,
}

/// A group's events keyed by (timestamp, arrival sequence).
type GroupEvents = BTreeMap<(u64, u64), LogEvent>;

/// Thread-safe store of log events, ordered by time within each group. Each group keeps at
/// most `max_per_group` events (the oldest are dropped), so a long load test runs in flat
/// memory; the sandbox's data directory keeps every line.
pub struct LogStore {
    groups: Mutex<HashMap<String, GroupEvents>>,
    seq: std::sync::atomic::AtomicU64,
    max_per_group: usize,
}

impl Default for LogStore {
    fn default() -> Self {
        Self::with_limit(usize::MAX)
    }
}

impl LogStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store keeping at most `max_per_group` events per group.
    pub fn with_limit(max_per_group: usize) -> Self {
        Self {
            groups: Mutex::default(),
            seq: std::sync::atomic::AtomicU64::new(0),
            max_per_group: max_per_group.max(1),
        }
    }

    /// Appends an event to a group (created on first use).
    pub fn put(&self, group: &str, event: LogEvent) {
        let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut groups = self.groups.lock().expect("log store poisoned");
        if !groups.contains_key(group) {
            groups.insert(group.to_owned(), GroupEvents::new());
        }
        let Some(events) = groups.get_mut(group) else {
            return;
        };
        events.insert((event.timestamp_ms, seq), event);
        if events.len() > self.max_per_group {
            events.pop_first();
        }
    }

    /// Group names, sorted.
    pub fn groups(&self) -> Vec<String> {
        let groups = self.groups.lock().expect("log store poisoned");
        let mut names: Vec<_> = groups.keys().cloned().collect();
        names.sort();
        names
    }

    /// Events of a group with timestamp in `[from_ms, to_ms)`, oldest first; `None` when the
    /// group does not exist (AWS answers ResourceNotFoundException).
    pub fn events(&self, group: &str, from_ms: u64, to_ms: u64) -> Option<Vec<LogEvent>> {
        let groups = self.groups.lock().expect("log store poisoned");
        groups.get(group).map(|events| {
            events
                .range((from_ms, 0)..(to_ms, 0))
                .map(|(_, e)| e.clone())
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: u64, m: &str) -> LogEvent {
        LogEvent {
            timestamp_ms: t,
            ingestion_ms: t + 5,
            stream: "s".into(),
            message: m.into(),
        }
    }

    #[test]
    fn events_are_time_ordered_and_half_open() {
        let s = LogStore::new();
        s.put("/aws/lambda/f", ev(30, "c"));
        s.put("/aws/lambda/f", ev(10, "a"));
        s.put("/aws/lambda/f", ev(10, "b"));
        let got: Vec<_> = s
            .events("/aws/lambda/f", 10, 30)
            .unwrap()
            .into_iter()
            .map(|e| e.message)
            .collect();
        assert_eq!(got, vec!["a", "b"]);
        assert!(s.events("/aws/lambda/g", 0, 100).is_none());
        assert_eq!(s.groups(), vec!["/aws/lambda/f"]);
    }
}
