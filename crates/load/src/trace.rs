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
        let random = fastrand::u128(..) & ((1u128 << 96) - 1);
        Self {
            root: format!("1-{:08x}-{random:024x}", epoch_secs & 0xffff_ffff),
            sampled: sampling >= 1.0 || (sampling > 0.0 && fastrand::f64() < sampling),
        }
    }

    /// The `X-Amzn-Trace-Id` header value.
    pub fn xray_header(&self) -> String {
        format!("Root={};Sampled={}", self.root, u8::from(self.sampled))
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
    }
}
