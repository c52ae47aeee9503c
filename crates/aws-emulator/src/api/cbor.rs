//! A small CBOR (RFC 8949) codec for the Smithy RPC v2 CBOR protocol, plus the conversion
//! to and from JSON that lets the CloudWatch API serve awsJson1_0 with the same code.
//!
//! Decoding accepts what Smithy clients send: definite and indefinite-length maps, arrays
//! and strings, integers, half/single/double floats, booleans, null, and tag 1 (epoch-seconds
//! timestamps). It never panics on bad input: depth, declared lengths and trailing bytes are
//! checked and reported as [`CborError`]. Encoding writes definite lengths, doubles always as
//! float64 (the SDK rejects integers for double members) and timestamps as tag 1 + float64.

use std::fmt;

/// A decoded CBOR data item (the subset Smithy uses). Maps keep text keys in wire order.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `null` or `undefined`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// Major types 0 and 1.
    Int(i128),
    /// Major type 7 floats (any width on input; float64 on output).
    Float(f64),
    /// Major type 3.
    Text(String),
    /// Major type 2.
    Bytes(Vec<u8>),
    /// Major type 4.
    Array(Vec<Value>),
    /// Major type 5 with text keys.
    Map(Vec<(String, Value)>),
    /// Tag 1: seconds since the Unix epoch.
    Timestamp(f64),
}

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CborError {
    /// Byte offset of the problem.
    pub offset: usize,
    /// What was wrong.
    pub reason: &'static str,
}

impl fmt::Display for CborError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed CBOR at byte {}: {}", self.offset, self.reason)
    }
}

/// Deepest nesting accepted (CloudWatch inputs nest about six levels).
const MAX_DEPTH: usize = 64;

impl Value {
    /// The member `name` of a map.
    pub fn get(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Map(m) => m.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Text content.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// A number of any encoding (ints, floats; a timestamp's seconds).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) | Value::Timestamp(f) => Some(*f),
            _ => None,
        }
    }

    /// A whole number (an integral float is accepted too).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => i64::try_from(*i).ok(),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
            _ => None,
        }
    }

    /// Array items.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Builds a map from `(key, value)` pairs, skipping `None`s.
    pub fn map<I, K>(pairs: I) -> Value
    where
        I: IntoIterator<Item = (K, Option<Value>)>,
        K: Into<String>,
    {
        Value::Map(
            pairs
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k.into(), v)))
                .collect(),
        )
    }

    /// A text value.
    pub fn text(s: impl Into<String>) -> Value {
        Value::Text(s.into())
    }
}

/// Decodes exactly one data item; trailing bytes are an error.
pub fn decode(bytes: &[u8]) -> Result<Value, CborError> {
    let mut d = Decoder { bytes, pos: 0 };
    let v = d.item(0)?;
    if d.pos != bytes.len() {
        return Err(d.err("trailing bytes after the data item"));
    }
    Ok(v)
}

struct Decoder<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// What an initial byte announces.
#[derive(Clone, Copy)]
enum Head {
    /// A definite argument (length, integer value, tag number or simple value).
    Arg(u64),
    /// Additional information 31.
    Indefinite,
    /// A float, already decoded.
    Float(f64),
}

impl Decoder<'_> {
    fn err(&self, reason: &'static str) -> CborError {
        CborError {
            offset: self.pos,
            reason,
        }
    }

    fn byte(&mut self) -> Result<u8, CborError> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or_else(|| self.err("unexpected end of input"))?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&[u8], CborError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.bytes.len())
            .ok_or_else(|| self.err("length runs past the end of input"))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn uint(&mut self, n: usize) -> Result<u64, CborError> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    fn head(&mut self, major: u8, info: u8) -> Result<Head, CborError> {
        match (major, info) {
            (_, 0..=23) => Ok(Head::Arg(u64::from(info))),
            (7, 25) => Ok(Head::Float(half_to_f64(self.uint(2)? as u16))),
            (7, 26) => Ok(Head::Float(f64::from(f32::from_bits(self.uint(4)? as u32)))),
            (7, 27) => Ok(Head::Float(f64::from_bits(self.uint(8)?))),
            (_, 24) => self.uint(1).map(Head::Arg),
            (_, 25) => self.uint(2).map(Head::Arg),
            (_, 26) => self.uint(4).map(Head::Arg),
            (_, 27) => self.uint(8).map(Head::Arg),
            (2..=5 | 7, 31) => Ok(Head::Indefinite),
            _ => Err(self.err("reserved additional information")),
        }
    }

    /// A definite length that cannot exceed what is left (each element takes >= `min` bytes).
    fn len(&self, n: u64, min: usize) -> Result<usize, CborError> {
        usize::try_from(n)
            .ok()
            .filter(|n| n.saturating_mul(min) <= self.bytes.len() - self.pos)
            .ok_or_else(|| self.err("declared length exceeds the input"))
    }

    fn peek_break(&mut self) -> Result<bool, CborError> {
        match self.bytes.get(self.pos) {
            Some(0xff) => {
                self.pos += 1;
                Ok(true)
            }
            Some(_) => Ok(false),
            None => Err(self.err("unterminated indefinite-length item")),
        }
    }

    fn string(&mut self, major: u8, head: Head) -> Result<Vec<u8>, CborError> {
        match head {
            Head::Arg(n) => {
                let n = self.len(n, 1)?;
                Ok(self.take(n)?.to_vec())
            }
            Head::Indefinite => {
                let mut out = Vec::new();
                while !self.peek_break()? {
                    let b = self.byte()?;
                    if b >> 5 != major || b & 0x1f == 31 {
                        return Err(self.err("bad chunk in indefinite-length string"));
                    }
                    let h = self.head(major, b & 0x1f)?;
                    out.extend(self.string(major, h)?);
                }
                Ok(out)
            }
            Head::Float(_) => Err(self.err("unexpected float")),
        }
    }

    fn item(&mut self, depth: usize) -> Result<Value, CborError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        let b = self.byte()?;
        let (major, info) = (b >> 5, b & 0x1f);
        let head = self.head(major, info)?;
        match (major, head) {
            (0, Head::Arg(n)) => Ok(Value::Int(i128::from(n))),
            (1, Head::Arg(n)) => Ok(Value::Int(-1 - i128::from(n))),
            (2, h) => Ok(Value::Bytes(self.string(2, h)?)),
            (3, h) => {
                let raw = self.string(3, h)?;
                String::from_utf8(raw)
                    .map(Value::Text)
                    .map_err(|_| self.err("text string is not UTF-8"))
            }
            (4, Head::Arg(n)) => {
                let n = self.len(n, 1)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.item(depth + 1)?);
                }
                Ok(Value::Array(items))
            }
            (4, Head::Indefinite) => {
                let mut items = Vec::new();
                while !self.peek_break()? {
                    items.push(self.item(depth + 1)?);
                }
                Ok(Value::Array(items))
            }
            (5, Head::Arg(n)) => {
                let n = self.len(n, 2)?;
                let mut pairs = Vec::with_capacity(n);
                for _ in 0..n {
                    pairs.push(self.pair(depth)?);
                }
                Ok(Value::Map(pairs))
            }
            (5, Head::Indefinite) => {
                let mut pairs = Vec::new();
                while !self.peek_break()? {
                    pairs.push(self.pair(depth)?);
                }
                Ok(Value::Map(pairs))
            }
            (6, Head::Arg(tag)) => {
                let inner = self.item(depth + 1)?;
                match (tag, inner) {
                    (1, v @ (Value::Int(_) | Value::Float(_))) => {
                        Ok(Value::Timestamp(v.as_f64().unwrap_or_default()))
                    }
                    (1, _) => Err(self.err("tag 1 must wrap a number")),
                    // Other tags (bignums, decimals) are not used by CloudWatch: keep the
                    // content, drop the tag.
                    (_, v) => Ok(v),
                }
            }
            (7, Head::Float(f)) => Ok(Value::Float(f)),
            (7, Head::Arg(20)) => Ok(Value::Bool(false)),
            (7, Head::Arg(21)) => Ok(Value::Bool(true)),
            (7, Head::Arg(22 | 23)) => Ok(Value::Null),
            (7, Head::Indefinite) => Err(self.err("unexpected break")),
            _ => Err(self.err("unsupported data item")),
        }
    }

    fn pair(&mut self, depth: usize) -> Result<(String, Value), CborError> {
        let Value::Text(key) = self.item(depth + 1)? else {
            return Err(self.err("map key is not a text string"));
        };
        Ok((key, self.item(depth + 1)?))
    }
}

/// IEEE 754 half precision to double.
fn half_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 == 0 { 1.0 } else { -1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let mant = f64::from(h & 0x3ff);
    sign * match exp {
        0 => mant * 2f64.powi(-24),
        31 if mant == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + mant / 1024.0) * 2f64.powi(e - 15),
    }
}

/// Encodes one data item.
pub fn encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    encode_into(v, &mut out);
    out
}

fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xff => out.extend([m | 0x18, n as u8]),
        0x100..=0xffff => {
            out.push(m | 0x19);
            out.extend((n as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 0x1a);
            out.extend((n as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 0x1b);
            out.extend(n.to_be_bytes());
        }
    }
}

fn encode_into(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(0xf6),
        Value::Bool(false) => out.push(0xf4),
        Value::Bool(true) => out.push(0xf5),
        Value::Int(i) if *i >= 0 => head(out, 0, u64::try_from(*i).unwrap_or(u64::MAX)),
        Value::Int(i) => head(out, 1, u64::try_from(-1 - *i).unwrap_or(u64::MAX)),
        Value::Float(f) => {
            out.push(0xfb);
            out.extend(f.to_bits().to_be_bytes());
        }
        Value::Timestamp(secs) => {
            out.push(0xc1);
            out.push(0xfb);
            out.extend(secs.to_bits().to_be_bytes());
        }
        Value::Text(s) => {
            head(out, 3, s.len() as u64);
            out.extend(s.as_bytes());
        }
        Value::Bytes(b) => {
            head(out, 2, b.len() as u64);
            out.extend(b);
        }
        Value::Array(items) => {
            head(out, 4, items.len() as u64);
            for i in items {
                encode_into(i, out);
            }
        }
        Value::Map(pairs) => {
            head(out, 5, pairs.len() as u64);
            for (k, v) in pairs {
                head(out, 3, k.len() as u64);
                out.extend(k.as_bytes());
                encode_into(v, out);
            }
        }
    }
}

/// A JSON document as a [`Value`] (awsJson1_0 requests: timestamps arrive as numbers, which
/// [`Value::as_f64`] reads the same way as tag 1).
pub fn from_json(j: &serde_json::Value) -> Value {
    match j {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(|i| Value::Int(i128::from(i)))
            .or_else(|| n.as_u64().map(|u| Value::Int(i128::from(u))))
            .unwrap_or_else(|| Value::Float(n.as_f64().unwrap_or_default())),
        serde_json::Value::String(s) => Value::Text(s.clone()),
        serde_json::Value::Array(a) => Value::Array(a.iter().map(from_json).collect()),
        serde_json::Value::Object(o) => {
            Value::Map(o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect())
        }
    }
}

/// A [`Value`] as awsJson1_0 output: timestamps as epoch seconds, non-finite floats as null.
pub fn to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => i64::try_from(*i).map_or(J::Null, J::from),
        Value::Float(f) | Value::Timestamp(f) => {
            serde_json::Number::from_f64(*f).map_or(J::Null, J::Number)
        }
        Value::Text(s) => J::String(s.clone()),
        Value::Bytes(b) => J::String(hex(b)),
        Value::Array(a) => J::Array(a.iter().map(to_json).collect()),
        Value::Map(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
    }
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_kind() {
        let v = Value::Map(vec![
            ("a".into(), Value::Int(0)),
            ("b".into(), Value::Int(-1)),
            ("c".into(), Value::Int(1 << 40)),
            ("d".into(), Value::Float(1.5)),
            ("e".into(), Value::Text("héllo".into())),
            ("f".into(), Value::Bytes(vec![1, 2, 3])),
            (
                "g".into(),
                Value::Array(vec![Value::Bool(true), Value::Null, Value::Bool(false)]),
            ),
            ("h".into(), Value::Timestamp(1_700_000_000.25)),
            ("i".into(), Value::Int(-(1 << 33))),
        ]);
        assert_eq!(decode(&encode(&v)).unwrap(), v);
    }

    #[test]
    fn doubles_are_float64_and_timestamps_tag_1() {
        assert_eq!(
            encode(&Value::Float(1.0)),
            [0xfb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(encode(&Value::Timestamp(0.0))[..2], [0xc1, 0xfb]);
        assert_eq!(encode(&Value::Int(500)), [0x19, 0x01, 0xf4]);
    }

    #[test]
    fn decodes_indefinite_containers_and_small_floats() {
        // {_ "a": [_ 1, 2.5 (half), 1.5 (single)], "b": (_ "x", "yz") , "t": 1(1700000000)}
        let bytes = [
            0xbf, 0x61, b'a', 0x9f, 0x01, 0xf9, 0x41, 0x00, 0xfa, 0x3f, 0xc0, 0, 0, 0xff, 0x61,
            b'b', 0x7f, 0x61, b'x', 0x62, b'y', b'z', 0xff, 0x61, b't', 0xc1, 0x1a, 0x65, 0x53,
            0xf1, 0x00, 0xff,
        ];
        let v = decode(&bytes).unwrap();
        assert_eq!(
            v.get("a").unwrap().as_array().unwrap(),
            [Value::Int(1), Value::Float(2.5), Value::Float(1.5)]
        );
        assert_eq!(v.get("b").unwrap().as_str(), Some("xyz"));
        assert_eq!(v.get("t").unwrap(), &Value::Timestamp(1_700_000_000.0));
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let cases: [&[u8]; 9] = [
            &[],
            &[0xbf, 0x61],
            &[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            &[0x62, 0xff, 0xfe],
            &[0xa1, 0x01, 0x02],
            &[0x1c],
            &[0x01, 0x02],
            &[0xff],
            &[0x7f, 0x01, 0xff],
        ];
        for c in cases {
            assert!(decode(c).is_err(), "{c:02x?}");
        }
        let deep = vec![0x81u8; 10_000];
        assert_eq!(decode(&deep).unwrap_err().reason, "nesting too deep");
    }

    #[test]
    fn json_conversion_keeps_numbers_and_structure() {
        let j = serde_json::json!({"n": 3, "f": 2.5, "s": "x", "a": [true, null]});
        let v = from_json(&j);
        assert_eq!(v.get("n"), Some(&Value::Int(3)));
        assert_eq!(to_json(&v), j);
        assert_eq!(to_json(&Value::Timestamp(60.0)), serde_json::json!(60.0));
    }
}
