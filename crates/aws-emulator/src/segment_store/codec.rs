//! Compact binary encoding of JSON documents, shared by the segment and log stores.
//!
//! A segment document is stored as a tree of tagged values: object keys and repeated
//! strings (names, origins, ARNs, URLs) as indexes into a store-wide [`Interner`], ids as
//! bytes (16 hex digits → 8 bytes, a UUID → 16 bytes, the trace's own id → 1 byte), numbers
//! as varints or 8-byte floats. Rendering writes the JSON text back the way `serde_json`
//! writes a `Value` (sorted keys, shortest round-trip floats), so a document written by
//! `serde_json` comes back byte-identical; [`encode_document`] checks that and declines any
//! other document (whitespace, key order, number spelling), which the store then keeps as
//! text.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use serde_json::{Map, Number, Value};

/// Most strings an [`Interner`] holds; later new strings are stored inline.
pub(crate) const MAX_INTERNED: usize = 1 << 16;
/// Longest string interned by default.
pub(crate) const MAX_INTERNED_LEN: usize = 256;

/// A store-wide table of repeated strings, never shrunk (bounded by [`MAX_INTERNED`]).
pub(crate) struct Interner {
    ids: HashMap<Arc<str>, u32>,
    strings: Vec<Arc<str>>,
    bytes: usize,
    max_len: usize,
}

impl Default for Interner {
    fn default() -> Self {
        Self::with_max_len(MAX_INTERNED_LEN)
    }
}

impl Interner {
    /// A table interning strings of at most `max_len` bytes.
    pub(crate) fn with_max_len(max_len: usize) -> Self {
        Self {
            ids: HashMap::new(),
            strings: Vec::new(),
            bytes: 0,
            max_len,
        }
    }

    /// The index of `s`, adding it while there is room.
    pub(crate) fn intern(&mut self, s: &str) -> Option<u32> {
        if let Some(&i) = self.ids.get(s) {
            return Some(i);
        }
        if s.len() > self.max_len || self.strings.len() >= MAX_INTERNED {
            return None;
        }
        let i = self.strings.len() as u32;
        let a: Arc<str> = Arc::from(s);
        self.ids.insert(a.clone(), i);
        self.strings.push(a);
        // The text (with the Arc's counts), a map entry and a list entry.
        self.bytes += s.len() + 16 + 48 + 16;
        Some(i)
    }

    /// The string at index `i`.
    pub(crate) fn get(&self, i: u32) -> Option<&str> {
        self.strings.get(i as usize).map(|s| &**s)
    }

    /// Memory the table holds, bytes (estimate).
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A cursor over encoded bytes; every read is checked (`None` on truncated input).
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.buf.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    pub(crate) fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    pub(crate) fn str(&mut self) -> Option<&'a str> {
        let n = self.varint()? as usize;
        std::str::from_utf8(self.bytes(n)?).ok()
    }
}

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const UINT: u8 = 3;
const NEGINT: u8 = 4;
const FLOAT: u8 = 5;
const INTERNED: u8 = 6;
const TEXT: u8 = 7;
const HEX: u8 = 8;
const OWN_TRACE: u8 = 9;
const UUID: u8 = 10;
const ARRAY: u8 = 11;
const OBJECT: u8 = 12;

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Packs lowercase hex text (even length) into bytes.
fn pack_hex(s: &str, out: &mut Vec<u8>) -> bool {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) || !b.iter().all(|&c| hex_val(c).is_some()) {
        return false;
    }
    for pair in b.chunks(2) {
        let (Some(hi), Some(lo)) = (hex_val(pair[0]), hex_val(pair[1])) else {
            return false;
        };
        out.push(hi << 4 | lo);
    }
    true
}

pub(crate) fn write_hex(bytes: &[u8], out: &mut String) {
    for b in bytes {
        out.push(HEX_DIGITS[(b >> 4) as usize] as char);
        out.push(HEX_DIGITS[(b & 15) as usize] as char);
    }
}

/// `8-4-4-4-12` lowercase hex (a Lambda request id).
fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => hex_val(c).is_some(),
        })
}

fn encode_str(s: &str, trace_id: &str, interner: &mut Interner, out: &mut Vec<u8>) {
    if s == trace_id {
        out.push(OWN_TRACE);
        return;
    }
    if (8..=64).contains(&s.len()) && s.len().is_multiple_of(2) {
        let mark = out.len();
        out.push(HEX);
        out.push((s.len() / 2) as u8);
        if pack_hex(s, out) {
            return;
        }
        out.truncate(mark);
    }
    if is_uuid(s) {
        out.push(UUID);
        let joined: String = s.split('-').collect();
        pack_hex(&joined, out);
        return;
    }
    if let Some(i) = interner.intern(s) {
        out.push(INTERNED);
        put_varint(out, u64::from(i));
    } else {
        out.push(TEXT);
        put_varint(out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
}

fn encode_value(v: &Value, trace_id: &str, interner: &mut Interner, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(NULL),
        Value::Bool(false) => out.push(FALSE),
        Value::Bool(true) => out.push(TRUE),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                out.push(UINT);
                put_varint(out, u);
            } else if let Some(i) = n.as_i64() {
                out.push(NEGINT);
                put_varint(out, !(i as u64));
            } else {
                out.push(FLOAT);
                out.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_le_bytes());
            }
        }
        Value::String(s) => encode_str(s, trace_id, interner, out),
        Value::Array(a) => {
            out.push(ARRAY);
            put_varint(out, a.len() as u64);
            for item in a {
                encode_value(item, trace_id, interner, out);
            }
        }
        Value::Object(m) => encode_object(m, trace_id, interner, out),
    }
}

fn encode_object(
    m: &Map<String, Value>,
    trace_id: &str,
    interner: &mut Interner,
    out: &mut Vec<u8>,
) {
    out.push(OBJECT);
    put_varint(out, m.len() as u64);
    for (k, v) in m {
        // Key: interned index + 1, or 0 and the text.
        if let Some(i) = interner.intern(k) {
            put_varint(out, u64::from(i) + 1);
        } else {
            put_varint(out, 0);
            put_varint(out, k.len() as u64);
            out.extend_from_slice(k.as_bytes());
        }
        encode_value(v, trace_id, interner, out);
    }
}

/// Writes `s` as a JSON string, escaped as `serde_json` escapes.
fn write_json_str(s: &str, out: &mut String) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&Value::from(s).to_string());
    }
}

/// What rendering a segment picks up on the way: its `id`, `start_time` and `end_time`.
#[derive(Default)]
pub(crate) struct Head {
    pub(crate) id: Option<String>,
    pub(crate) start_time: Option<f64>,
    pub(crate) end_time: Option<f64>,
}

struct Renderer<'a> {
    trace_id: &'a str,
    interner: &'a Interner,
}

impl Renderer<'_> {
    fn string(&self, tag: u8, r: &mut Reader<'_>, out: &mut String) -> Option<()> {
        match tag {
            OWN_TRACE => write_json_str(self.trace_id, out),
            HEX => {
                let n = r.byte()? as usize;
                out.push('"');
                write_hex(r.bytes(n)?, out);
                out.push('"');
            }
            UUID => {
                let b = r.bytes(16)?;
                out.push('"');
                for (i, part) in [&b[0..4], &b[4..6], &b[6..8], &b[8..10], &b[10..16]]
                    .into_iter()
                    .enumerate()
                {
                    if i > 0 {
                        out.push('-');
                    }
                    write_hex(part, out);
                }
                out.push('"');
            }
            INTERNED => write_json_str(self.interner.get(r.varint()? as u32)?, out),
            TEXT => write_json_str(r.str()?, out),
            _ => return None,
        }
        Some(())
    }

    /// Renders one value; `head` collects the top-level fields when given.
    fn value(
        &self,
        r: &mut Reader<'_>,
        out: &mut String,
        mut head: Option<&mut Head>,
    ) -> Option<()> {
        let tag = r.byte()?;
        match tag {
            NULL => out.push_str("null"),
            FALSE => out.push_str("false"),
            TRUE => out.push_str("true"),
            UINT => {
                let _ = write!(out, "{}", r.varint()?);
            }
            NEGINT => {
                let _ = write!(out, "{}", !r.varint()? as i64);
            }
            FLOAT => {
                let f = f64::from_le_bytes(r.bytes(8)?.try_into().ok()?);
                let _ = write!(out, "{}", Number::from_f64(f)?);
            }
            ARRAY => {
                let n = r.varint()?;
                out.push('[');
                for i in 0..n {
                    if i > 0 {
                        out.push(',');
                    }
                    self.value(r, out, None)?;
                }
                out.push(']');
            }
            OBJECT => {
                let n = r.varint()?;
                out.push('{');
                for i in 0..n {
                    if i > 0 {
                        out.push(',');
                    }
                    let key = match r.varint()? {
                        0 => r.str()?,
                        k => self.interner.get(u32::try_from(k - 1).ok()?)?,
                    };
                    write_json_str(key, out);
                    out.push(':');
                    let at = out.len();
                    self.value(r, out, None)?;
                    if let Some(h) = head.as_deref_mut() {
                        let text = &out[at..];
                        match key {
                            "id" => {
                                h.id = text.strip_prefix('"')?.strip_suffix('"').map(str::to_owned);
                            }
                            "start_time" => h.start_time = text.parse().ok(),
                            "end_time" => h.end_time = text.parse().ok(),
                            _ => {}
                        }
                    }
                }
                out.push('}');
            }
            _ => self.string(tag, r, out)?,
        }
        Some(())
    }
}

/// Encodes a parsed document of trace `trace_id` when rendering it gives back `text`
/// exactly; `None` otherwise (keep the text).
pub(crate) fn encode_document(
    value: &Value,
    text: &str,
    trace_id: &str,
    interner: &mut Interner,
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 3);
    encode_value(value, trace_id, interner, &mut out);
    let mut back = String::with_capacity(text.len());
    let mut head = Head::default();
    render_document(&out, trace_id, interner, &mut back, &mut head)?;
    (back == text).then_some(out)
}

/// Renders an encoded document into `out`, collecting its head fields.
pub(crate) fn render_document(
    encoded: &[u8],
    trace_id: &str,
    interner: &Interner,
    out: &mut String,
    head: &mut Head,
) -> Option<()> {
    let mut r = Reader::new(encoded);
    Renderer { trace_id, interner }.value(&mut r, out, Some(head))?;
    r.at_end().then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_json_documents_round_trip_byte_identical() {
        let t = "1-6a000000-0123456789abcdef01234567";
        let docs = [
            serde_json::json!({"id": "00ff00ff00ff00ff", "trace_id": t, "name": "f/prod",
                "start_time": 1_795_000_000.123_456_7_f64, "end_time": 1.0e21, "n": -3, "u": 200,
                "aws": {"request_id": "9f1c2b3a-1d2e-4f00-8abc-0123456789ab", "x": null,
                        "quote": "a\"b\\c\nd\u{1}é", "arr": [true, false, 0.5, [], {}]}}),
            serde_json::json!({"id": "ABC", "trace_id": "other", "name": "", "start_time": 0.0}),
        ];
        let mut interner = Interner::default();
        for d in docs {
            let text = d.to_string();
            let enc = encode_document(&d, &text, t, &mut interner).expect("round-trips");
            let mut back = String::new();
            let mut head = Head::default();
            render_document(&enc, t, &interner, &mut back, &mut head).unwrap();
            assert_eq!(back, text);
            assert_eq!(head.id.as_deref(), d["id"].as_str());
            assert_eq!(
                head.start_time.map(f64::to_bits),
                d["start_time"].as_f64().map(f64::to_bits)
            );
        }
    }

    #[test]
    fn documents_not_written_by_serde_json_are_declined() {
        let mut interner = Interner::default();
        for text in [
            r#"{"name":"a","id":"1"}"#,
            r#"{"id": "1"}"#,
            r#"{"start_time":1.6e9}"#,
        ] {
            let v: Value = serde_json::from_str(text).unwrap();
            assert!(
                encode_document(&v, text, "t", &mut interner).is_none(),
                "{text}"
            );
        }
    }
}
