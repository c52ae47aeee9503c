//! Clock skew between this machine and AWS.
//!
//! Two sources. (1) Response `Date` headers: the server's clock, truncated to the second,
//! read at some instant between our send and our receive, so each sample bounds the skew
//! to `[date − received, date + 1 s − sent]`; intersecting the bounds of many samples
//! narrows it well below a second. (2) X-Ray: the API Gateway segment of a trace we started
//! cannot begin before we sent the request, so `segment start − our send time` is an upper
//! bound on (skew + network latency); its minimum over many traces approaches the skew.
//! Skew here is *AWS clock − local clock*: add it to a local timestamp to get AWS time.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One request/response with the server's `Date`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SkewSample {
    /// Local time the request was handed to the connection.
    pub sent: DateTime<Utc>,
    /// Local time the response was read.
    pub received: DateTime<Utc>,
    /// The server's `Date` (second resolution).
    pub server: DateTime<Utc>,
}

impl SkewSample {
    /// A sample from an HTTP `Date` header (RFC 7231 IMF-fixdate), or `None` if unparsable.
    pub fn from_http_date(sent: SystemTime, received: SystemTime, date: &str) -> Option<Self> {
        let server = DateTime::parse_from_rfc2822(date.trim())
            .ok()?
            .with_timezone(&Utc);
        Some(Self {
            sent: sent.into(),
            received: received.into(),
            server,
        })
    }

    /// Bounds on the skew (ms) this sample allows.
    fn bounds_ms(&self) -> (f64, f64) {
        let ms = |d: chrono::Duration| d.num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0;
        (
            ms(self.server - self.received),
            ms(self.server - self.sent) + 1000.0,
        )
    }
}

/// The estimate recorded in `collect.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SkewEstimate {
    /// AWS clock − local clock, in ms (best estimate), when any source had data.
    pub skew_ms: Option<f64>,
    /// Lower and upper bounds (ms) from the `Date` headers.
    pub date_header_bounds_ms: Option<(f64, f64)>,
    /// `Date` headers used.
    pub date_header_samples: usize,
    /// min(API Gateway segment start − our send time) over traced requests, in ms: an
    /// upper bound on skew + one-way latency.
    pub trace_start_minus_send_min_ms: Option<f64>,
    /// Traced requests compared.
    pub trace_samples: usize,
    /// How the estimate was made.
    pub method: String,
}

/// Combines the `Date`-header samples and the trace-start offsets (ms).
pub fn estimate(samples: &[SkewSample], trace_offsets_ms: &[f64]) -> SkewEstimate {
    let mut out = SkewEstimate {
        date_header_samples: samples.len(),
        trace_samples: trace_offsets_ms.len(),
        ..SkewEstimate::default()
    };
    out.trace_start_minus_send_min_ms = trace_offsets_ms
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .reduce(f64::min);
    if !samples.is_empty() {
        let (lo, hi) = samples
            .iter()
            .map(SkewSample::bounds_ms)
            .fold((f64::MIN, f64::MAX), |(lo, hi), (l, h)| {
                (lo.max(l), hi.min(h))
            });
        if lo <= hi {
            out.date_header_bounds_ms = Some((lo, hi));
            out.skew_ms = Some(f64::midpoint(lo, hi));
            out.method = "intersection of Date-header bounds".into();
        } else {
            // Inconsistent bounds (a server clock stepping, a slow response): fall back to
            // the median of each sample's midpoint.
            let mut mids: Vec<f64> = samples
                .iter()
                .map(|s| {
                    let (l, h) = s.bounds_ms();
                    f64::midpoint(l, h)
                })
                .collect();
            mids.sort_by(f64::total_cmp);
            out.skew_ms = mids.get(mids.len() / 2).copied();
            out.method = "median of Date-header midpoints (bounds disagreed)".into();
        }
    }
    if out.skew_ms.is_none()
        && let Some(v) = out.trace_start_minus_send_min_ms
    {
        out.skew_ms = Some(v);
        out.method = "min(trace start − send time), includes one-way latency".into();
    }
    if out.skew_ms.is_none() {
        out.method = "no data".into();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_780_000_000_000 + ms)
    }

    #[test]
    fn date_headers_bound_the_skew() {
        // True skew +2300 ms: server time = local + 2.3 s; Date truncates to the second.
        let sample = |sent_ms: u64, rtt: u64| {
            let server_ms = sent_ms + rtt / 2 + 2300;
            let server = DateTime::<Utc>::from(at(server_ms));
            let truncated = server.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
            SkewSample::from_http_date(at(sent_ms), at(sent_ms + rtt), &truncated).unwrap()
        };
        let samples: Vec<SkewSample> = (0..40).map(|i| sample(i * 137, 20)).collect();
        let e = estimate(&samples, &[]);
        let (lo, hi) = e.date_header_bounds_ms.unwrap();
        assert!(lo <= 2300.0 && 2300.0 <= hi, "{lo}..{hi}");
        assert!(hi - lo < 200.0, "{lo}..{hi}");
        assert!((e.skew_ms.unwrap() - 2300.0).abs() < 100.0);
        assert_eq!(e.date_header_samples, 40);
    }

    #[test]
    fn no_data_and_trace_fallback() {
        assert_eq!(estimate(&[], &[]).skew_ms, None);
        let e = estimate(&[], &[35.0, 12.5, 80.0]);
        assert_eq!(e.skew_ms, Some(12.5));
        assert_eq!(e.trace_samples, 3);
        assert!(SkewSample::from_http_date(at(0), at(1), "yesterday").is_none());
    }
}
