//! What serves all three APIs: the per-API request-rate limit ([`RateLimiter`]) and the JSON
//! reply of the JSON protocols ([`JsonReply`], X-Ray's restJson1 and Logs' awsJson1_1), and
//! the char scanner and token cursor under the three expression parsers (`scan`).

pub(crate) mod scan;

use serde_json::{Value, json};

/// A token bucket shared by the calls of one API: `rate` calls per second, bursts of one
/// second's worth. Each API holds one.
pub struct RateLimiter {
    rate: f64,
    state: std::sync::Mutex<(f64, std::time::Instant)>,
}

impl RateLimiter {
    /// A bucket refilling at `rate_per_sec` (at least 1), starting full.
    pub fn new(rate_per_sec: f64) -> Self {
        let rate = if rate_per_sec.is_finite() {
            rate_per_sec.max(1.0)
        } else {
            1.0
        };
        Self {
            rate,
            state: std::sync::Mutex::new((rate, std::time::Instant::now())),
        }
    }

    /// Takes a token if one is there.
    pub fn try_acquire(&self) -> bool {
        let mut st = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = std::time::Instant::now();
        let refill = now.duration_since(st.1).as_secs_f64() * self.rate;
        st.0 = (st.0 + refill).min(self.rate);
        st.1 = now;
        if st.0 >= 1.0 {
            st.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A response ready for the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonReply {
    /// HTTP status.
    pub status: u16,
    /// The `x-amzn-errortype` header of an error.
    pub error_type: Option<&'static str>,
    /// JSON body.
    pub body: Vec<u8>,
}

impl JsonReply {
    /// A 200 with `v` as the body.
    pub(crate) fn ok(v: &Value) -> Self {
        Self {
            status: 200,
            error_type: None,
            body: v.to_string().into_bytes(),
        }
    }

    /// An error with `x-amzn-errortype: kind` and `{"__type", "Message"}` (restJson1).
    pub(crate) fn error(status: u16, kind: &'static str, message: &str) -> Self {
        Self {
            status,
            error_type: Some(kind),
            body: json!({ "__type": kind, "Message": message })
                .to_string()
                .into_bytes(),
        }
    }
}
