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

impl LogEvent {
    /// Memory an event holds in the store: its strings plus the map entry around them.
    fn footprint(&self) -> usize {
        self.stream.len() + self.message.len() + 112
    }
}

/// A group's events keyed by (timestamp, arrival sequence), and their footprint in bytes.
#[derive(Default)]
struct Group {
    events: BTreeMap<(u64, u64), LogEvent>,
    bytes: usize,
}

/// Thread-safe store of log events, ordered by time within each group. Each group holds at
/// most `max_bytes_per_group` bytes of events (the oldest are dropped beyond it), so a long
/// load test runs in flat memory; the sandbox's data directory keeps every line.
pub struct LogStore {
    groups: Mutex<HashMap<String, Group>>,
    seq: std::sync::atomic::AtomicU64,
    max_bytes_per_group: usize,
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

    /// An empty store keeping at most `max_bytes_per_group` bytes of events per group (at
    /// least the newest event is always kept).
    pub fn with_limit(max_bytes_per_group: usize) -> Self {
        Self {
            groups: Mutex::default(),
            seq: std::sync::atomic::AtomicU64::new(0),
            max_bytes_per_group,
        }
    }

    /// Appends an event to a group (created on first use).
    pub fn put(&self, group: &str, event: LogEvent) {
        let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut groups = self.groups.lock().expect("log store poisoned");
        if !groups.contains_key(group) {
            groups.insert(group.to_owned(), Group::default());
        }
        let Some(g) = groups.get_mut(group) else {
            return;
        };
        g.bytes += event.footprint();
        g.events.insert((event.timestamp_ms, seq), event);
        while g.bytes > self.max_bytes_per_group && g.events.len() > 1 {
            if let Some((_, oldest)) = g.events.pop_first() {
                g.bytes -= oldest.footprint();
            }
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
        groups.get(group).map(|g| {
            g.events
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

    #[test]
    fn a_group_keeps_its_newest_events_within_its_byte_budget() {
        let one = ev(0, "x").footprint();
        let s = LogStore::with_limit(10 * one);
        for t in 0..1_000 {
            s.put("/aws/lambda/f", ev(t, "x"));
        }
        let kept = s.events("/aws/lambda/f", 0, 2_000).unwrap();
        let times: Vec<_> = kept.iter().map(|e| e.timestamp_ms).collect();
        assert_eq!(times, (990..1_000).collect::<Vec<_>>());
        // An event larger than the budget is still kept (alone).
        s.put("/aws/lambda/f", ev(5_000, &"y".repeat(20 * one)));
        assert_eq!(s.events("/aws/lambda/f", 0, 10_000).unwrap().len(), 1);
    }
}
