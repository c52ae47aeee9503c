//! The CBOR (RFC 8949) data items of the Smithy RPC v2 CBOR protocol as a [`Value`] tree,
//! read and written with minicbor (what the SDK's own aws-smithy-cbor uses), plus the
//! conversion to and from JSON that lets the CloudWatch API serve awsJson1_0 with the same
//! code.
//!
//! Decoding accepts what Smithy clients send: definite and indefinite-length maps, arrays
//! and strings, integers, half/single/double floats, booleans, null, and tag 1 (epoch-seconds
//! timestamps). It never panics on bad input: nesting depth, declared lengths (checked
//! against the bytes left before anything is allocated) and trailing bytes are checked and
//! reported as [`CborError`]. Encoding writes definite lengths, doubles always as float64
//! (the SDK rejects integers for double members) and timestamps as tag 1 + float64.

use std::convert::Infallible;
use std::fmt;

use minicbor::data::{Int, MAX_INT, MIN_INT, Tag, Type};
use minicbor::{Decoder, Encoder};

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
    let mut d = Decoder::new(bytes);
    let v = item(&mut d, 0)?;
    if d.position() != bytes.len() {
        return Err(error_at(&d, "trailing bytes after the data item"));
    }
    Ok(v)
}

fn error_at(d: &Decoder<'_>, reason: &'static str) -> CborError {
    CborError {
        offset: d.position(),
        reason,
    }
}

/// A minicbor error in this codec's terms.
fn malformed(d: &Decoder<'_>, e: &minicbor::decode::Error) -> CborError {
    CborError {
        offset: e.position().unwrap_or_else(|| d.position()),
        reason: if e.is_end_of_input() {
            "unexpected end of input"
        } else if e.is_type_mismatch() {
            "unexpected data item"
        } else {
            "malformed data item"
        },
    }
}

/// A definite length that cannot exceed what is left (each element takes >= `min` bytes), so
/// no declared length allocates more than the input could fill.
fn len(d: &Decoder<'_>, n: u64, min: usize) -> Result<usize, CborError> {
    let left = d.input().len() - d.position();
    usize::try_from(n)
        .ok()
        .filter(|n| n.saturating_mul(min) <= left)
        .ok_or_else(|| error_at(d, "declared length exceeds the input"))
}

/// Consumes the break ending an indefinite-length item, if it is next.
fn at_break(d: &mut Decoder<'_>) -> Result<bool, CborError> {
    match d.datatype() {
        Ok(Type::Break) => {
            d.skip().map_err(|e| malformed(d, &e))?;
            Ok(true)
        }
        Ok(_) => Ok(false),
        Err(_) => Err(error_at(d, "unterminated indefinite-length item")),
    }
}

fn item(d: &mut Decoder<'_>, depth: usize) -> Result<Value, CborError> {
    if depth > MAX_DEPTH {
        return Err(error_at(d, "nesting too deep"));
    }
    let kind = d.datatype().map_err(|e| malformed(d, &e))?;
    let v = match kind {
        Type::U8
        | Type::U16
        | Type::U32
        | Type::U64
        | Type::I8
        | Type::I16
        | Type::I32
        | Type::I64
        | Type::Int => d.int().map(|i| Value::Int(i128::from(i))),
        Type::F16 | Type::F32 => d.f32().map(|f| Value::Float(f64::from(f))),
        Type::F64 => d.f64().map(Value::Float),
        Type::Bool => d.bool().map(Value::Bool),
        Type::Null => d.null().map(|()| Value::Null),
        Type::Undefined => d.undefined().map(|()| Value::Null),
        Type::Bytes | Type::BytesIndef => d
            .bytes_iter()
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map(|chunks| Value::Bytes(chunks.concat())),
        Type::String | Type::StringIndef => d
            .str_iter()
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map(|chunks| Value::Text(chunks.concat())),
        Type::Array | Type::ArrayIndef => return array(d, depth),
        Type::Map | Type::MapIndef => return map(d, depth),
        Type::Tag => return tagged(d, depth),
        Type::Break => return Err(error_at(d, "unexpected break")),
        Type::Simple | Type::Unknown(_) => return Err(error_at(d, "unsupported data item")),
    };
    v.map_err(|e| malformed(d, &e))
}

fn array(d: &mut Decoder<'_>, depth: usize) -> Result<Value, CborError> {
    let items = if let Some(n) = d.array().map_err(|e| malformed(d, &e))? {
        let n = len(d, n, 1)?;
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(item(d, depth + 1)?);
        }
        items
    } else {
        let mut items = Vec::new();
        while !at_break(d)? {
            items.push(item(d, depth + 1)?);
        }
        items
    };
    Ok(Value::Array(items))
}

fn map(d: &mut Decoder<'_>, depth: usize) -> Result<Value, CborError> {
    let pairs = if let Some(n) = d.map().map_err(|e| malformed(d, &e))? {
        let n = len(d, n, 2)?;
        let mut pairs = Vec::with_capacity(n);
        for _ in 0..n {
            pairs.push(pair(d, depth)?);
        }
        pairs
    } else {
        let mut pairs = Vec::new();
        while !at_break(d)? {
            pairs.push(pair(d, depth)?);
        }
        pairs
    };
    Ok(Value::Map(pairs))
}

fn pair(d: &mut Decoder<'_>, depth: usize) -> Result<(String, Value), CborError> {
    let Value::Text(key) = item(d, depth + 1)? else {
        return Err(error_at(d, "map key is not a text string"));
    };
    Ok((key, item(d, depth + 1)?))
}

fn tagged(d: &mut Decoder<'_>, depth: usize) -> Result<Value, CborError> {
    let tag = d.tag().map_err(|e| malformed(d, &e))?;
    match (tag.as_u64(), item(d, depth + 1)?) {
        (1, v @ (Value::Int(_) | Value::Float(_))) => {
            Ok(Value::Timestamp(v.as_f64().unwrap_or_default()))
        }
        (1, _) => Err(error_at(d, "tag 1 must wrap a number")),
        // Other tags (bignums, decimals) are not used by CloudWatch: keep the content, drop
        // the tag.
        (_, v) => Ok(v),
    }
}

/// Encodes one data item.
pub fn encode(v: &Value) -> Vec<u8> {
    let mut e = Encoder::new(Vec::with_capacity(256));
    // Writing into a Vec cannot fail.
    let _ = encode_into(v, &mut e);
    e.into_writer()
}

fn encode_into(
    v: &Value,
    e: &mut Encoder<Vec<u8>>,
) -> Result<(), minicbor::encode::Error<Infallible>> {
    match v {
        Value::Null => e.null()?,
        Value::Bool(b) => e.bool(*b)?,
        // Beyond CBOR's integer range: the nearest end of it.
        Value::Int(i) => {
            e.int(Int::try_from(*i).unwrap_or(if *i < 0 { MIN_INT } else { MAX_INT }))?
        }
        Value::Float(f) => e.f64(*f)?,
        Value::Timestamp(secs) => e.tag(Tag::new(1))?.f64(*secs)?,
        Value::Text(s) => e.str(s)?,
        Value::Bytes(b) => e.bytes(b)?,
        Value::Array(items) => {
            e.array(items.len() as u64)?;
            for i in items {
                encode_into(i, e)?;
            }
            e
        }
        Value::Map(pairs) => {
            e.map(pairs.len() as u64)?;
            for (k, v) in pairs {
                e.str(k)?;
                encode_into(v, e)?;
            }
            e
        }
    };
    Ok(())
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
    fn hostile_input_is_refused_without_panic_or_huge_allocation() {
        // Nesting 10,000 deep: definite and indefinite arrays, maps, tags.
        for unit in [
            &[0x81u8][..],
            &[0x9f],
            &[0xbf, 0x61, b'k'],
            &[0xa1, 0x61, b'k'],
            &[0xc6],
        ] {
            let deep = unit.repeat(10_000);
            assert_eq!(
                decode(&deep).unwrap_err().reason,
                "nesting too deep",
                "{unit:02x?}"
            );
        }
        // Declared lengths of 2^64 - 1: containers are refused before anything is allocated,
        // strings before anything is copied.
        for major in [0x9b, 0xbb, 0x5b, 0x7b] {
            let mut bytes = vec![major];
            bytes.extend([0xff; 8]);
            bytes.extend([0x00; 16]);
            let e = decode(&bytes).unwrap_err();
            if major == 0x9b || major == 0xbb {
                assert_eq!(e.reason, "declared length exceeds the input");
            }
        }
        // A million-element array declared in a 5-byte head, one element present.
        let mut bytes = vec![0x9a, 0x00, 0x0f, 0x42, 0x40, 0x01];
        assert!(decode(&bytes).is_err());
        // Truncation: no proper prefix of a body is a body.
        bytes = encode(&Value::Map(vec![
            (
                "a".into(),
                Value::Array(vec![Value::Int(1 << 40), Value::Float(0.5)]),
            ),
            ("t".into(), Value::Timestamp(1.5)),
            ("s".into(), Value::Text("héllo".into())),
        ]));
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_err(), "prefix of {n} bytes");
        }
        assert!(decode(&bytes).is_ok());
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
