//! Trace headers: an X-Ray `X-Amzn-Trace-Id` on every request, optionally a W3C
//! `traceparent` carrying the same id, so the collector can find each request in X-Ray.

/// The trace ids of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceIds {
    /// X-Ray root id, `1-<8 hex epoch seconds>-<24 hex random>`.
    pub root: String,
    /// Whether the request asks to be sampled.
    pub sampled: bool,
}

impl TraceIds {
    /// New ids; sampled with probability `sampling`.
    pub fn new(epoch_secs: u64, sampling: f64) -> Self {
        // Hex digits written directly: this runs for every request, and `format!` with
        // width and radix was a visible share of the client's CPU.
        let mut root = String::with_capacity(35);
        root.push_str("1-");
        push_hex(&mut root, u128::from(epoch_secs & 0xffff_ffff), 8);
        root.push('-');
        push_hex(&mut root, fastrand::u128(..), 24);
        Self {
            root,
            sampled: sampling >= 1.0 || (sampling > 0.0 && fastrand::f64() < sampling),
        }
    }

    /// The `X-Amzn-Trace-Id` header value.
    pub fn xray_header(&self) -> String {
        let mut h = Vec::with_capacity(50);
        self.write_xray_header(&mut h);
        String::from_utf8(h).expect("ASCII")
    }

    /// Appends the `X-Amzn-Trace-Id` header value to `out`.
    pub fn write_xray_header(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"Root=");
        out.extend_from_slice(self.root.as_bytes());
        out.extend_from_slice(if self.sampled {
            b";Sampled=1"
        } else {
            b";Sampled=0"
        });
    }

    /// The W3C `traceparent` value: the X-Ray id's 32 hex digits as trace id, as the
    /// AWS X-Ray/OpenTelemetry propagators map them.
    pub fn traceparent(&self) -> String {
        let trace: String = self.root[2..].chars().filter(|c| *c != '-').collect();
        format!(
            "00-{trace}-{:016x}-{:02x}",
            fastrand::u64(1..),
            u8::from(self.sampled)
        )
    }
}

/// Appends the low `digits` hex digits of `v`, lowercase, most significant first.
fn push_hex(out: &mut String, v: u128, digits: u32) {
    for i in (0..digits).rev() {
        let nibble = ((v >> (4 * i)) & 0xf) as u8;
        out.push(char::from(if nibble < 10 {
            b'0' + nibble
        } else {
            b'a' + nibble - 10
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_xray_shape() {
        let t = TraceIds::new(0x6740_1234, 1.0);
        let h = t.xray_header();
        assert!(h.starts_with("Root=1-67401234-"), "{h}");
        assert!(h.ends_with(";Sampled=1"));
        assert_eq!(t.root.len(), 35);
        assert!(t.root[11..].chars().all(|c| c.is_ascii_hexdigit()));
        assert!(!TraceIds::new(1, 0.0).sampled);
        let tp = t.traceparent();
        assert_eq!(tp.len(), 55, "{tp}");
        assert!(tp.starts_with("00-67401234"));
        assert!(!TraceIds::new(1, 0.0).xray_header().ends_with("=1"));
    }

    #[test]
    fn hex_digits_match_format() {
        for v in [
            0u128,
            0xf,
            0xdead_beef,
            u128::MAX,
            0x0123_4567_89ab_cdef_0011_2233,
        ] {
            let mut s = String::new();
            push_hex(&mut s, v, 24);
            assert_eq!(s, format!("{:024x}", v & ((1u128 << 96) - 1)));
        }
    }
}
