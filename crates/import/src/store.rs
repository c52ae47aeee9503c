//! Imported requests held compactly: a 64-byte row per request with its names (endpoint,
//! flow, group) interned and its X-Ray trace id as 16 bytes, so millions of requests fit in a
//! few hundred megabytes (a `Sample` with its strings takes three times that).

use std::collections::HashMap;

use stormwatch_model::ErrorKind;
use stormwatch_model::request_ids::RequestIdKind;

use crate::sample::Sample;

/// No group / no actor.
const NONE: u32 = u32::MAX;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// One request, compact. Names are ids into its [`Samples`]' table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    /// Sent, ns since the Unix epoch.
    pub start_ns: i64,
    /// Response end, ns since the Unix epoch.
    pub end_ns: i64,
    /// Response bytes.
    pub bytes: u64,
    endpoint: u32,
    flow: u32,
    group: u32,
    actor: u32,
    /// HTTP status; 0 when no response was received.
    pub status: u16,
    /// Why the tool counted it failed.
    pub error: Option<ErrorKind>,
    /// 0: no trace id; 1: sampled; 2: not sampled.
    trace_flag: u8,
    trace: [u8; 16],
    /// Index into [`Samples`]' request-id table, [`NONE`] when the tool recorded none.
    request_id: u32,
}

impl Row {
    /// The virtual user / thread, when the tool recorded one.
    pub fn actor(&self) -> Option<u32> {
        (self.actor != NONE).then_some(self.actor)
    }

    /// Whether the request's X-Ray trace id is known.
    pub fn has_trace(&self) -> bool {
        self.trace_flag != 0
    }

    /// The X-Ray trace id (`1-xxxxxxxx-yyyyyyyyyyyyyyyyyyyyyyyy`) and whether it was sampled.
    pub fn trace(&self) -> Option<(String, bool)> {
        if self.trace_flag == 0 {
            return None;
        }
        let mut id = String::with_capacity(35);
        id.push_str("1-");
        for (i, b) in self.trace.iter().enumerate() {
            if i == 4 {
                id.push('-');
            }
            id.push(char::from(HEX[usize::from(b >> 4)]));
            id.push(char::from(HEX[usize::from(b & 15)]));
        }
        Some((id, self.trace_flag == 1))
    }
}

/// The 16 bytes of a root trace id `1-` + 8 + `-` + 24 hex digits (checked by
/// [`crate::trace_from_header`]); `None` for anything else.
fn trace_bytes(root: &str) -> Option<[u8; 16]> {
    let hex: Vec<u8> = root
        .strip_prefix("1-")?
        .bytes()
        .filter(|b| *b != b'-')
        .collect();
    if hex.len() != 32 {
        return None;
    }
    let nibble = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

/// Request ids packed end to end in one string, with their ends and kinds: a few bytes
/// beyond the id's own per request, where a `String` each would cost 40 more.
#[derive(Debug, Default)]
struct RequestIds {
    text: String,
    /// End of each id in `text` (4 bytes: `text` stays under 4 GiB, ~100 M ids).
    ends: Vec<u32>,
    kinds: Vec<RequestIdKind>,
}

impl RequestIds {
    fn len(&self) -> u32 {
        u32::try_from(self.ends.len()).expect("fewer than 4 G request ids")
    }

    /// Adds one; returns its index.
    fn push(&mut self, id: &str, kind: RequestIdKind) -> u32 {
        let i = self.len();
        self.text.push_str(id);
        self.ends
            .push(u32::try_from(self.text.len()).expect("request ids under 4 GiB in all"));
        self.kinds.push(kind);
        i
    }

    fn get(&self, i: usize) -> (&str, RequestIdKind) {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        (&self.text[start..self.ends[i] as usize], self.kinds[i])
    }

    /// Adds all of `other`'s; returns the index its first now has.
    fn append(&mut self, other: &Self) -> u32 {
        let first = self.len();
        let base = u32::try_from(self.text.len()).expect("request ids under 4 GiB in all");
        self.text.push_str(&other.text);
        self.ends.extend(other.ends.iter().map(|e| e + base));
        self.kinds.extend_from_slice(&other.kinds);
        first
    }
}

/// Requests as rows, with the table of names their ids point into.
#[derive(Debug, Default)]
pub struct Samples {
    rows: Vec<Row>,
    names: Vec<Box<str>>,
    index: HashMap<Box<str>, u32>,
    /// Request ids (`x-amzn-RequestId` / `apigw-requestid`), in the order pushed; rows
    /// point into it. Only requests with one cost anything (the id's bytes and 9 more).
    request_ids: RequestIds,
    /// The last id each of endpoint, flow and group interned (consecutive requests mostly
    /// repeat them, which spares the hash lookup).
    last: [u32; 3],
}

impl Samples {
    /// Requests held.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// No requests.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows, in the order pushed (by start time after [`Samples::sort`]).
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    fn intern(&mut self, name: &str, slot: usize) -> u32 {
        if let Some(known) = self.names.get(self.last[slot] as usize)
            && **known == *name
        {
            return self.last[slot];
        }
        let id = if let Some(id) = self.index.get(name) {
            *id
        } else {
            let id = u32::try_from(self.names.len()).expect("fewer than 4 G distinct names");
            self.names.push(name.into());
            self.index.insert(name.into(), id);
            id
        };
        self.last[slot] = id;
        id
    }

    /// Adds one request.
    pub fn push(&mut self, s: &Sample) {
        let endpoint = self.intern(&s.endpoint, 0);
        let flow = self.intern(&s.flow, 1);
        let group = s.group.as_deref().map_or(NONE, |g| self.intern(g, 2));
        let (trace_flag, trace) = s
            .trace
            .as_ref()
            .and_then(|(id, sampled)| Some((if *sampled { 1 } else { 2 }, trace_bytes(id)?)))
            .unwrap_or((0, [0; 16]));
        let request_id = s
            .request_id
            .as_ref()
            .map_or(NONE, |(id, kind)| self.request_ids.push(id, *kind));
        self.rows.push(Row {
            start_ns: s.start_ns,
            end_ns: s.end_ns,
            bytes: s.bytes,
            endpoint,
            flow,
            group,
            actor: s.actor.unwrap_or(NONE),
            status: s.status,
            error: s.error,
            trace_flag,
            trace,
            request_id,
        });
    }

    /// A row's endpoint name.
    pub fn endpoint(&self, r: &Row) -> &str {
        &self.names[r.endpoint as usize]
    }

    /// A row's flow name (empty when the tool has none).
    pub fn flow(&self, r: &Row) -> &str {
        &self.names[r.flow as usize]
    }

    /// A row's phase-like group (thread group, scenario, user class).
    pub fn group(&self, r: &Row) -> Option<&str> {
        (r.group != NONE).then(|| &*self.names[r.group as usize])
    }

    /// A row's request id and the header it came from.
    pub fn request_id(&self, r: &Row) -> Option<(&str, RequestIdKind)> {
        (r.request_id != NONE).then(|| self.request_ids.get(r.request_id as usize))
    }

    /// Request `i` as a [`Sample`].
    ///
    /// # Panics
    /// When `i` is out of range.
    pub fn get(&self, i: usize) -> Sample {
        let r = &self.rows[i];
        Sample {
            start_ns: r.start_ns,
            end_ns: r.end_ns,
            endpoint: self.endpoint(r).to_string(),
            flow: self.flow(r).to_string(),
            group: self.group(r).map(str::to_string),
            status: r.status,
            error: r.error,
            bytes: r.bytes,
            actor: r.actor(),
            trace: r.trace(),
            request_id: self.request_id(r).map(|(id, kind)| (id.to_string(), kind)),
        }
    }

    /// Moves `other`'s requests to the end of these, their names re-interned.
    pub fn append(&mut self, other: Self) {
        // Into an empty store (a single input file, the common case) the rows move as
        // they are: copying them would hold every request twice at the peak.
        if self.rows.is_empty() && self.names.is_empty() && self.request_ids.ends.is_empty() {
            *self = other;
            return;
        }
        let map: Vec<u32> = other.names.iter().map(|n| self.intern(n, 0)).collect();
        let remap = |id: u32| if id == NONE { NONE } else { map[id as usize] };
        let offset = self.request_ids.append(&other.request_ids);
        self.rows.reserve(other.rows.len());
        for mut r in other.rows {
            r.endpoint = remap(r.endpoint);
            r.flow = remap(r.flow);
            r.group = remap(r.group);
            if r.request_id != NONE {
                r.request_id += offset;
            }
            self.rows.push(r);
        }
    }

    /// Sorts by start, then end (the order of requests with both equal is unspecified but
    /// the same for the same input).
    pub fn sort(&mut self) {
        self.rows.sort_unstable_by_key(|r| (r.start_ns, r.end_ns));
    }

    /// Keeps the rows with a phase, in order, and returns their phases.
    pub fn retain_phased(&mut self, phase_of: &[Option<u32>]) -> Vec<u32> {
        let kept: Vec<u32> = phase_of.iter().filter_map(|p| *p).collect();
        let mut i = 0;
        self.rows.retain(|_| {
            i += 1;
            phase_of[i - 1].is_some()
        });
        self.rows.shrink_to_fit();
        kept
    }
}

impl Extend<Sample> for Samples {
    fn extend<I: IntoIterator<Item = Sample>>(&mut self, samples: I) {
        for s in samples {
            self.push(&s);
        }
    }
}

impl From<Vec<Sample>> for Samples {
    fn from(samples: Vec<Sample>) -> Self {
        let mut out = Self::default();
        out.extend(samples);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_give_back_what_was_pushed() {
        let mut a = Sample::new("GET /a", 10, 20);
        a.group = Some("warm".into());
        a.flow = "checkout".into();
        a.actor = Some(7);
        a.status = 503;
        a.error = Some(ErrorKind::UnexpectedStatus);
        a.bytes = 99;
        a.trace = Some(("1-5759e988-bd862e3fe1be46a994272793".into(), false));
        a.request_id = Some(("c8ba2a7e-4f0b".into(), RequestIdKind::Amzn));
        let mut b = Sample::new("GET /b", 5, 6);
        b.trace = Some(("1-5759E988-BD862E3FE1BE46A994272794".into(), true));
        let samples = Samples::from(vec![a.clone(), b.clone(), a.clone()]);
        assert_eq!(std::mem::size_of::<Row>(), 64);
        assert_eq!(samples.get(0), a);
        assert_eq!(samples.get(2), a);
        assert_eq!(samples.get(1).group, None);
        assert_eq!(samples.get(1).actor, None);
        assert_eq!(samples.get(1).request_id, None);
        assert_eq!(
            samples.get(1).trace,
            Some(("1-5759e988-bd862e3fe1be46a994272794".into(), true))
        );
    }

    #[test]
    fn append_reinterns_and_retain_keeps_phased_rows() {
        let with_id = |name: &str, start, end, id: &str| {
            let mut s = Sample::new(name, start, end);
            s.request_id = Some((id.into(), RequestIdKind::HttpApi));
            s
        };
        let mut x = Samples::from(vec![with_id("A", 1, 2, "a"), Sample::new("B", 3, 4)]);
        let y = Samples::from(vec![with_id("B", 0, 1, "b"), with_id("C", 5, 6, "c")]);
        x.append(y);
        x.sort();
        let names: Vec<String> = (0..x.len()).map(|i| x.get(i).endpoint).collect();
        assert_eq!(names, ["B", "A", "B", "C"]);
        let ids: Vec<Option<String>> = (0..x.len())
            .map(|i| x.get(i).request_id.map(|r| r.0))
            .collect();
        assert_eq!(
            ids,
            [Some("b".into()), Some("a".into()), None, Some("c".into())]
        );
        let mut empty = Samples::default();
        empty.append(Samples::from(vec![with_id("D", 7, 8, "d")]));
        assert_eq!(empty.get(0).request_id.map(|r| r.0).as_deref(), Some("d"));
        assert_eq!(empty.get(0).endpoint, "D");
        let phases = x.retain_phased(&[Some(1), None, Some(0), None]);
        assert_eq!(phases, [1, 0]);
        assert_eq!(x.get(1).endpoint, "B");
        assert_eq!(x.get(1).start_ns, 3);
    }
}
