//! The CloudWatch Logs store: log events per log group (`/aws/lambda/<function>`), as the
//! Lambda service writes them (REPORT lines and, in JSON log format, `platform.report`).
//!
//! Events are kept compactly: per group, in one byte buffer per second of event time, each
//! event as its time within the second, its ingestion delay, its stream (an index into a
//! store-wide table) and its message split into a *skeleton* (the text with its numbers and
//! hex runs taken out, also an index into a table: a REPORT line has a handful of distinct
//! skeletons) and the values taken out (numbers as varints, hex runs as bytes). Reading
//! puts the message back exactly. Beyond a group's memory budget its oldest second is
//! dropped, or, with a spill file ([`LogStore::with_spill`]), moved there and still read.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::segment_store::{Interner, Reader, put_varint, write_hex};
use crate::spill::{Piece, Spill};

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

/// Per-chunk memory besides its bytes: the map entry and the allocation header.
const CHUNK_OVERHEAD: usize = 64;
/// Memory per spilled second of a group: its index entry, bytes.
const SPILLED_OVERHEAD: usize = 48;
/// Placeholder in a skeleton: `MARK` then `DIGITS` or `HEX`.
const MARK: char = '\0';
const DIGITS: char = 'D';
const HEX: char = 'H';
/// Most digits one number token holds (so `value * 20 + length` fits a u64).
const MAX_DIGITS: usize = 17;
/// Shortest hex run (with at least one letter) taken out of a message.
const MIN_HEX: usize = 4;

/// One second of a group's events, in arrival order.
#[derive(Default)]
struct Chunk {
    data: Vec<u8>,
    events: u64,
}

/// A group's events by second of event time, and their footprint in bytes.
#[derive(Default)]
struct Group {
    chunks: BTreeMap<u64, Chunk>,
    /// Seconds moved to the spill file: their chunks' places, earliest first (a second
    /// spilled twice had events arrive after it was first spilled).
    spilled: BTreeMap<u64, Vec<Piece>>,
    bytes: usize,
}

struct State {
    groups: HashMap<String, Group>,
    streams: Interner,
    skeletons: Interner,
    dropped: u64,
    spill: Option<Spill>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            groups: HashMap::new(),
            streams: Interner::default(),
            // JSON-format platform records have skeletons of 250–400 bytes.
            skeletons: Interner::with_max_len(512),
            dropped: 0,
            spill: None,
        }
    }
}

/// Splits a message into its skeleton and values; `None` when it holds a NUL.
fn split_message(message: &str, values: &mut Vec<u8>) -> Option<String> {
    if message.contains(MARK) {
        return None;
    }
    let b = message.as_bytes();
    let mut skeleton = String::with_capacity(message.len());
    let mut i = 0;
    while i < b.len() {
        let is_hex = |c: u8| c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
        if !is_hex(b[i]) {
            // Copy up to the next hex character (char boundaries: hex is ASCII).
            let j = b[i..]
                .iter()
                .position(|&c| is_hex(c))
                .map_or(b.len(), |p| i + p);
            skeleton.push_str(&message[i..j]);
            i = j;
            continue;
        }
        let j = b[i..]
            .iter()
            .position(|&c| !is_hex(c))
            .map_or(b.len(), |p| i + p);
        let run = &message[i..j];
        if run.bytes().all(|c| c.is_ascii_digit()) {
            for chunk in run.as_bytes().chunks(MAX_DIGITS) {
                let digits = std::str::from_utf8(chunk).ok()?;
                let v: u64 = digits.parse().ok()?;
                put_varint(values, v * 20 + chunk.len() as u64);
                skeleton.push(MARK);
                skeleton.push(DIGITS);
            }
        } else if run.len() >= MIN_HEX {
            for chunk in run.as_bytes().chunks(254) {
                values.push(chunk.len() as u8);
                let nib = |c: u8| {
                    if c.is_ascii_digit() {
                        c - b'0'
                    } else {
                        c - b'a' + 10
                    }
                };
                for pair in chunk.chunks(2) {
                    let lo = pair.get(1).map_or(0, |&c| nib(c));
                    values.push(nib(pair[0]) << 4 | lo);
                }
                skeleton.push(MARK);
                skeleton.push(HEX);
            }
        } else {
            skeleton.push_str(run);
        }
        i = j;
    }
    Some(skeleton)
}

/// Puts a message back from its skeleton and values.
fn join_message(skeleton: &str, r: &mut Reader<'_>, out: &mut String) -> Option<()> {
    let mut parts = skeleton.split(MARK);
    out.push_str(parts.next()?);
    for part in parts {
        let mut chars = part.chars();
        match chars.next()? {
            DIGITS => {
                let v = r.varint()?;
                let (value, len) = (v / 20, (v % 20) as usize);
                let text = value.to_string();
                for _ in text.len()..len {
                    out.push('0');
                }
                out.push_str(&text);
            }
            HEX => {
                let n = r.byte()? as usize;
                let packed = r.bytes(n.div_ceil(2))?;
                let mut s = String::with_capacity(n + 1);
                write_hex(packed, &mut s);
                out.push_str(&s[..n]);
            }
            _ => return None,
        }
        out.push_str(chars.as_str());
    }
    Some(())
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

impl State {
    /// The event's record: `[ms within the second][ingestion delay][stream][message]`.
    fn encode(&mut self, e: &LogEvent) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + e.message.len() / 3);
        put_varint(&mut out, e.timestamp_ms % 1000);
        put_varint(
            &mut out,
            zigzag(e.ingestion_ms.wrapping_sub(e.timestamp_ms) as i64),
        );
        if let Some(i) = self.streams.intern(&e.stream) {
            put_varint(&mut out, u64::from(i) + 1);
        } else {
            put_varint(&mut out, 0);
            put_varint(&mut out, e.stream.len() as u64);
            out.extend_from_slice(e.stream.as_bytes());
        }
        let mut values = Vec::new();
        let skeleton =
            split_message(&e.message, &mut values).and_then(|s| self.skeletons.intern(&s));
        if let Some(i) = skeleton {
            put_varint(&mut out, u64::from(i) + 1);
            out.extend_from_slice(&values);
        } else {
            put_varint(&mut out, 0);
            put_varint(&mut out, e.message.len() as u64);
            out.extend_from_slice(e.message.as_bytes());
        }
        out
    }

    /// Decodes one record of the chunk of `second`.
    fn decode(&self, second: u64, r: &mut Reader<'_>) -> Option<LogEvent> {
        let timestamp_ms = second * 1000 + r.varint()?;
        let ingestion_ms = timestamp_ms.wrapping_add(unzigzag(r.varint()?) as u64);
        let stream = match r.varint()? {
            0 => r.str()?.to_owned(),
            i => self.streams.get(u32::try_from(i - 1).ok()?)?.to_owned(),
        };
        let message = match r.varint()? {
            0 => r.str()?.to_owned(),
            i => {
                let skeleton = self.skeletons.get(u32::try_from(i - 1).ok()?)?;
                let mut m = String::with_capacity(skeleton.len() + 48);
                join_message(skeleton, r, &mut m)?;
                m
            }
        };
        Some(LogEvent {
            timestamp_ms,
            ingestion_ms,
            stream,
            message,
        })
    }
}

/// Thread-safe store of log events, ordered by time within each group. Each group holds at
/// most `max_bytes_per_group` bytes of events (the oldest second of events is dropped
/// beyond it, or moved to a spill file when there is one), so a long load test runs in
/// flat memory.
pub struct LogStore {
    state: Mutex<State>,
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
    /// least the newest second of events is always kept).
    pub fn with_limit(max_bytes_per_group: usize) -> Self {
        Self {
            state: Mutex::default(),
            max_bytes_per_group,
        }
    }

    /// An empty store keeping at most `max_bytes_per_group` bytes of events per group in
    /// memory and the earlier seconds in `spill`, still read (each spilled second costs
    /// ~50 bytes of index).
    pub fn with_spill(max_bytes_per_group: usize, spill: Spill) -> Self {
        Self {
            state: Mutex::new(State {
                spill: Some(spill),
                ..State::default()
            }),
            max_bytes_per_group,
        }
    }

    /// Appends an event to a group (created on first use).
    #[allow(
        clippy::needless_pass_by_value,
        reason = "the event is stored (encoded); callers hand it over"
    )]
    pub fn put(&self, group: &str, event: LogEvent) {
        let mut state = self.state.lock().expect("log store poisoned");
        let record = state.encode(&event);
        if !state.groups.contains_key(group) {
            state.groups.insert(group.to_owned(), Group::default());
        }
        let State {
            groups,
            dropped,
            spill,
            ..
        } = &mut *state;
        let Some(g) = groups.get_mut(group) else {
            return;
        };
        let second = event.timestamp_ms / 1000;
        let latest = g.chunks.last_key_value().map(|(k, _)| *k);
        if latest.is_some_and(|l| l < second)
            && let Some((_, prev)) = g.chunks.last_key_value()
        {
            // The previous newest second is (mostly) complete: give back its spare room.
            let before = prev.data.capacity();
            if let Some(mut prev) = g.chunks.last_entry() {
                prev.get_mut().data.shrink_to_fit();
                g.bytes = g.bytes + prev.get().data.capacity() - before;
            }
        }
        let chunk = g.chunks.entry(second).or_insert_with(|| {
            g.bytes += CHUNK_OVERHEAD;
            Chunk::default()
        });
        let before = chunk.data.capacity();
        if latest.is_some_and(|l| second < l) {
            chunk.data.reserve_exact(record.len());
        }
        chunk.data.extend_from_slice(&record);
        chunk.events += 1;
        g.bytes = g.bytes + chunk.data.capacity() - before;
        while g.bytes > self.max_bytes_per_group && g.chunks.len() > 1 {
            if let Some((second, oldest)) = g.chunks.pop_first() {
                g.bytes -= oldest.data.capacity() + CHUNK_OVERHEAD;
                match spill.as_mut().and_then(|s| s.write(&oldest.data)) {
                    Some(piece) => {
                        let pieces = g.spilled.entry(second).or_default();
                        if pieces.is_empty() {
                            g.bytes += SPILLED_OVERHEAD;
                        }
                        pieces.push(piece);
                    }
                    None => *dropped += oldest.events,
                }
            }
        }
    }

    /// Group names, sorted.
    pub fn groups(&self) -> Vec<String> {
        let state = self.state.lock().expect("log store poisoned");
        let mut names: Vec<_> = state.groups.keys().cloned().collect();
        names.sort();
        names
    }

    /// Events of a group with timestamp in `[from_ms, to_ms)`, oldest first (in arrival
    /// order at equal times); `None` when the group does not exist (AWS answers
    /// ResourceNotFoundException).
    pub fn events(&self, group: &str, from_ms: u64, to_ms: u64) -> Option<Vec<LogEvent>> {
        let mut guard = self.state.lock().expect("log store poisoned");
        let state = &mut *guard;
        let g = state.groups.get(group)?;
        let mut out = Vec::new();
        if from_ms >= to_ms {
            return Some(out);
        }
        let seconds = from_ms / 1000..=(to_ms - 1) / 1000;
        let mut spilled = g.spilled.range(seconds.clone()).peekable();
        let mut chunks = g.chunks.range(seconds).peekable();
        loop {
            // The next second held in either place; spilled events arrived first.
            let second = match (spilled.peek().map(|p| *p.0), chunks.peek().map(|c| *c.0)) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => break,
            };
            let mut blobs: Vec<std::borrow::Cow<'_, [u8]>> = Vec::new();
            if let Some((_, pieces)) = spilled.next_if(|p| *p.0 == second) {
                for &piece in pieces {
                    // An unreadable spill file (its error is kept) loses those events.
                    if let Some(b) = state.spill.as_mut().and_then(|s| s.read(piece)) {
                        blobs.push(b.into());
                    }
                }
            }
            if let Some((_, chunk)) = chunks.next_if(|c| *c.0 == second) {
                blobs.push(chunk.data.as_slice().into());
            }
            let start = out.len();
            for blob in &blobs {
                let mut r = Reader::new(blob);
                while !r.at_end() {
                    let Some(e) = state.decode(second, &mut r) else {
                        break;
                    };
                    if (from_ms..to_ms).contains(&e.timestamp_ms) {
                        out.push(e);
                    }
                }
            }
            // Stable: arrival order among equal times.
            out[start..].sort_by_key(|e| e.timestamp_ms);
        }
        Some(out)
    }

    /// Memory the store holds, bytes (its own estimate: event records, per-second chunks
    /// and the stream and skeleton tables), what the budgets are checked against (per group,
    /// the tables apart).
    pub fn bytes(&self) -> usize {
        let state = self.state.lock().expect("log store poisoned");
        state.groups.values().map(|g| g.bytes).sum::<usize>()
            + state.streams.bytes()
            + state.skeletons.bytes()
    }

    /// Events dropped so far to stay within the budgets.
    pub fn dropped_events(&self) -> u64 {
        self.state.lock().expect("log store poisoned").dropped
    }

    /// Bytes in the spill file.
    pub fn spilled_bytes(&self) -> u64 {
        let state = self.state.lock().expect("log store poisoned");
        state.spill.as_ref().map_or(0, Spill::len)
    }

    /// The spill file's first I/O error (events are then dropped, or lost on reading),
    /// naming the file.
    pub fn spill_error(&self) -> Option<String> {
        let state = self.state.lock().expect("log store poisoned");
        state
            .spill
            .as_ref()
            .and_then(|s| s.error().map(str::to_owned))
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
        // One event per second, so each is its own chunk.
        let probe = LogStore::new();
        probe.put("/aws/lambda/f", ev(0, "x"));
        let first = probe.bytes();
        probe.put("/aws/lambda/f", ev(1_000, "x"));
        let one = probe.bytes() - first;
        let s = LogStore::with_limit(10 * one + one / 2);
        for t in 0..1_000 {
            s.put("/aws/lambda/f", ev(t * 1_000, "x"));
        }
        let kept = s.events("/aws/lambda/f", 0, 2_000_000).unwrap();
        let times: Vec<_> = kept.iter().map(|e| e.timestamp_ms / 1_000).collect();
        assert_eq!(times, (990..1_000).collect::<Vec<_>>());
        assert_eq!(s.dropped_events(), 990);
        // An event larger than the budget is still kept (alone).
        s.put("/aws/lambda/f", ev(5_000_000, &"y".repeat(20 * one + 600)));
        assert_eq!(s.events("/aws/lambda/f", 0, 10_000_000).unwrap().len(), 1);
        assert_eq!(s.dropped_events(), 1_000);
    }

    #[test]
    fn with_a_spill_file_every_event_stays_readable() {
        let probe = LogStore::new();
        probe.put("/aws/lambda/f", ev(0, "REPORT 1"));
        let first = probe.bytes();
        probe.put("/aws/lambda/f", ev(1_000, "REPORT 2"));
        let one = probe.bytes() - first;
        let dir = tempfile::tempdir().unwrap();
        let spill = Spill::create(&dir.path().join("logs.bin")).unwrap();
        let s = LogStore::with_spill(10 * one + 1_000 * SPILLED_OVERHEAD, spill);
        for t in 0..1_000 {
            s.put("/aws/lambda/f", ev(t * 1_000, &format!("REPORT {t}")));
            s.put("/aws/lambda/g", ev(t * 1_000 + 1, &format!("other {t}")));
        }
        // A late event for a second already spilled, and one for a second in memory.
        s.put("/aws/lambda/f", ev(3_500, "late 3"));
        s.put("/aws/lambda/f", ev(999_000, "late 999"));
        assert_eq!(s.dropped_events(), 0);
        assert!(s.spilled_bytes() > 0);
        let got: Vec<String> = s
            .events("/aws/lambda/f", 0, 2_000_000)
            .unwrap()
            .into_iter()
            .map(|e| e.message)
            .collect();
        let mut want: Vec<String> = (0..1_000).map(|t| format!("REPORT {t}")).collect();
        want.insert(4, "late 3".into());
        want.push("late 999".into());
        assert_eq!(got, want);
        // A range inside the spilled seconds, half open.
        let mid: Vec<String> = s
            .events("/aws/lambda/g", 10_000, 12_001)
            .unwrap()
            .into_iter()
            .map(|e| e.message)
            .collect();
        assert_eq!(mid, ["other 10", "other 11"]);
        assert!(s.spill_error().is_none());
    }

    /// Messages come back exactly (numbers with leading zeros, hex runs of odd length,
    /// uppercase, long digit runs, non-ASCII, NUL), in time order, arrival order at equal
    /// times, whichever second they arrive in.
    #[test]
    fn events_read_back_exactly() {
        let report = "REPORT RequestId: 9f1c2b3a-1d2e-4f00-8abc-0123456789ab\tDuration: 2.05 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 56 MB\t\nXRAY TraceId: 1-6a000000-000000000000000000000001\tSegmentId: 0000000000000002\tSampled: true\t";
        let messages = [
            report,
            "START RequestId: 9f1c2b3a-1d2e-4f00-8abc-0123456789ab Version: $LATEST",
            r#"{"time":"2026-11-18T10:00:00.007Z","type":"platform.report","record":{"metrics":{"durationMs":2.7500000000000004}}}"#,
            "abcde 0x1F 00000000000000000000000000000000000000042 été \0 fin",
            "nul \u{0} inside",
            "",
            "deadbeef1",
        ];
        let s = LogStore::new();
        let mut at = 5_000;
        for m in messages {
            s.put("/aws/lambda/f", ev(at, &m.replace("\\u{0}", "\u{0}")));
            at -= 700;
        }
        let got = s.events("/aws/lambda/f", 0, 10_000).unwrap();
        let mut want: Vec<_> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| (5_000 - 700 * i as u64, m.replace("\\u{0}", "\u{0}")))
            .collect();
        want.reverse();
        let got: Vec<_> = got
            .into_iter()
            .map(|e| (e.timestamp_ms, e.message))
            .collect();
        assert_eq!(got, want);
        assert_eq!(s.events("/aws/lambda/f", 800, 801).unwrap().len(), 1);
        assert!(s.events("/aws/lambda/f", 801, 801).unwrap().is_empty());
        let e = &s.events("/aws/lambda/f", 5_000, 5_001).unwrap()[0];
        assert_eq!((e.ingestion_ms, e.stream.as_str()), (5_005, "s"));
    }
}
