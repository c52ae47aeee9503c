//! Trace headers: an X-Ray `X-Amzn-Trace-Id` on every request, optionally a W3C
//! `traceparent` carrying the same id, so the collector can find each request in X-Ray;
//! and which requests ask to be traced (`Sampled=1`).
//!
//! X-Ray bills every trace recorded and retrieved, and a trace is only needed for
//! decomposition and evidence (counts come from metrics, REPORT lines and the client's own
//! records). So by default a scenario with `[aws]` traces on a budget: at most
//! [`DEFAULT_BUDGET_PER_SEC`] requests a second (a token bucket holding one second's worth,
//! so a slow phase is traced whole) plus [`BUDGET_FLOOR`] of the rest, so every phase and
//! endpoint keeps a uniform sample however fast it runs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Traced requests per second a budget allows by default.
pub const DEFAULT_BUDGET_PER_SEC: f64 = 20.0;
/// The share of requests beyond the budget that are traced all the same.
pub const BUDGET_FLOOR: f64 = 0.01;

/// Which requests ask to be traced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampling {
    /// Each request with this probability (`[trace] sampling`).
    Fixed(f64),
    /// At most `per_sec` requests a second, plus `floor` of the rest.
    Budget {
        /// Traced requests per second within the budget.
        per_sec: f64,
        /// The share of the requests beyond the budget traced too.
        floor: f64,
    },
}

impl Sampling {
    /// Traced requests per second expected at `rate` requests per second.
    pub fn traced_rate(&self, rate: f64) -> f64 {
        match *self {
            Self::Fixed(p) => rate * p,
            Self::Budget { per_sec, floor } => {
                rate.min(per_sec) + floor * (rate - per_sec).max(0.0)
            }
        }
    }

    /// The rule in words, for the plan and the manifest.
    pub fn describe(&self) -> String {
        match *self {
            Self::Fixed(p) if p <= 0.0 => "none".into(),
            Self::Fixed(p) => format!("{p} of requests"),
            Self::Budget { per_sec, floor } => {
                format!("at most {per_sec}/s plus {} % of the rest", floor * 100.0)
            }
        }
    }
}

/// Decides per request, shared by every worker: one atomic compare-and-swap per request on
/// the budget's token bucket (GCRA: a theoretical arrival time that each traced request
/// pushes one interval on, allowed while it is at most one second ahead).
#[derive(Debug)]
pub struct TraceSampler {
    sampling: Sampling,
    origin: Instant,
    interval_ns: u64,
    burst_ns: u64,
    /// Theoretical arrival time of the next traced request, ns after `origin`.
    tat_ns: AtomicU64,
}

impl TraceSampler {
    /// A sampler whose clock starts at `origin`.
    pub fn new(sampling: Sampling, origin: Instant) -> Self {
        let interval_ns = match sampling {
            Sampling::Budget { per_sec, .. } if per_sec > 0.0 => (1e9 / per_sec) as u64,
            _ => u64::MAX,
        };
        Self {
            sampling,
            origin,
            interval_ns,
            burst_ns: 1_000_000_000,
            tat_ns: AtomicU64::new(0),
        }
    }

    /// Whether a request sent at `at` asks to be traced.
    pub fn sample(&self, at: Instant) -> bool {
        let floor = match self.sampling {
            Sampling::Fixed(p) => return p >= 1.0 || (p > 0.0 && fastrand::f64() < p),
            Sampling::Budget { floor, .. } => floor,
        };
        let now =
            u64::try_from(at.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX);
        let mut tat = self.tat_ns.load(Ordering::Relaxed);
        while self.interval_ns != u64::MAX && tat < now.saturating_add(self.burst_ns) {
            let next = tat.max(now).saturating_add(self.interval_ns);
            match self
                .tat_ns
                .compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(seen) => tat = seen,
            }
        }
        floor > 0.0 && fastrand::f64() < floor
    }
}

/// The trace ids of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceIds {
    /// X-Ray root id, `1-<8 hex epoch seconds>-<24 hex random>`.
    pub root: String,
    /// Whether the request asks to be sampled.
    pub sampled: bool,
}

impl TraceIds {
    /// New ids, asking to be traced when `sampled`.
    pub fn new(epoch_secs: u64, sampled: bool) -> Self {
        // Hex digits written directly: this runs for every request, and `format!` with
        // width and radix was a visible share of the client's CPU.
        let mut root = String::with_capacity(35);
        root.push_str("1-");
        push_hex(&mut root, u128::from(epoch_secs & 0xffff_ffff), 8);
        root.push('-');
        push_hex(&mut root, fastrand::u128(..), 24);
        Self { root, sampled }
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
        let t = TraceIds::new(0x6740_1234, true);
        let h = t.xray_header();
        assert!(h.starts_with("Root=1-67401234-"), "{h}");
        assert!(h.ends_with(";Sampled=1"));
        assert_eq!(t.root.len(), 35);
        assert!(t.root[11..].chars().all(|c| c.is_ascii_hexdigit()));
        assert!(!TraceIds::new(1, false).sampled);
        let tp = t.traceparent();
        assert_eq!(tp.len(), 55, "{tp}");
        assert!(tp.starts_with("00-67401234"));
        assert!(!TraceIds::new(1, false).xray_header().ends_with("=1"));
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

    /// `n` requests evenly spread over `secs` seconds: how many the sampler traces.
    fn traced(sampling: Sampling, n: u64, secs: u64) -> u64 {
        let origin = Instant::now();
        let s = TraceSampler::new(sampling, origin);
        let step = std::time::Duration::from_secs(secs) / u32::try_from(n).unwrap();
        (0..n)
            .filter(|&i| s.sample(origin + step * u32::try_from(i).unwrap()))
            .count() as u64
    }

    #[test]
    fn a_budget_traces_a_slow_phase_whole_and_caps_a_fast_one() {
        let budget = Sampling::Budget {
            per_sec: 20.0,
            floor: 0.0,
        };
        // 10/s for 10 s: under the budget, every request.
        assert_eq!(traced(budget, 100, 10), 100);
        // 1,000/s for 10 s: one second's burst, then 20 a second.
        let n = traced(budget, 10_000, 10);
        assert!((219..=221).contains(&n), "{n}");
        // The floor adds its share of the rest (1 % of ~9,780, binomial: well inside ±60).
        let with_floor = traced(
            Sampling::Budget {
                per_sec: 20.0,
                floor: 0.01,
            },
            10_000,
            10,
        );
        assert!((220 + 38..=220 + 158).contains(&with_floor), "{with_floor}");
        assert_eq!(traced(Sampling::Fixed(1.0), 50, 1), 50);
        assert_eq!(traced(Sampling::Fixed(0.0), 50, 1), 0);
    }

    #[test]
    fn expected_traced_rates() {
        let budget = Sampling::Budget {
            per_sec: 20.0,
            floor: 0.01,
        };
        assert!((budget.traced_rate(10.0) - 10.0).abs() < 1e-9);
        assert!((budget.traced_rate(1020.0) - 30.0).abs() < 1e-9);
        assert!((Sampling::Fixed(0.5).traced_rate(100.0) - 50.0).abs() < 1e-9);
    }
}
