//! The run's own requests by outcome, and the whole-number split they weigh.
//!
//! A CloudWatch count whose period straddles phases is split between them by the client's
//! requests of the matching outcome (see `server.rs`); [`ClientEvents`] holds those send
//! times and [`apportion`] turns the shares into whole numbers that add up.

use stormwatch_model::ApiKind;

/// Send times (Unix ns, each list sorted) of the run's requests by outcome: the weights
/// that split a metric period between phases.
#[derive(Debug, Default, Clone)]
pub struct ClientEvents {
    /// Every request.
    pub all: Vec<i64>,
    /// Requests answered with the front's Lambda-throttle status (500 behind an API, 429
    /// from a function URL).
    pub throttled: Vec<i64>,
    /// Requests answered 5xx.
    pub server_errors: Vec<i64>,
    /// Requests answered 4xx.
    pub client_errors: Vec<i64>,
    /// Requests that reached Lambda: neither rejected by API Gateway (429) nor throttled.
    pub reached_lambda: Vec<i64>,
}

impl ClientEvents {
    /// Sorts requests `(send time, status)` into outcome classes for an API of `kind`.
    pub fn from_requests(
        requests: impl Iterator<Item = (i64, i32)>,
        kind: Option<ApiKind>,
    ) -> Self {
        let throttle_status = throttle_status(kind);
        let mut out = Self::default();
        for (sent, status) in requests {
            out.all.push(sent);
            if status == i32::from(throttle_status) {
                out.throttled.push(sent);
            }
            if (500..600).contains(&status) {
                out.server_errors.push(sent);
            }
            if (400..500).contains(&status) {
                out.client_errors.push(sent);
            }
            if status != 429 && status != i32::from(throttle_status) {
                out.reached_lambda.push(sent);
            }
        }
        for v in [
            &mut out.all,
            &mut out.throttled,
            &mut out.server_errors,
            &mut out.client_errors,
            &mut out.reached_lambda,
        ] {
            v.sort_unstable();
        }
        out
    }

    pub(crate) fn of(&self, class: Class) -> &[i64] {
        match class {
            Class::All => &self.all,
            Class::Throttled => &self.throttled,
            Class::ServerErrors => &self.server_errors,
            Class::ClientErrors => &self.client_errors,
            Class::ReachedLambda => &self.reached_lambda,
        }
    }
}

/// The status a client sees when Lambda throttles: 429 from a function URL, 500 behind a
/// REST or HTTP API (AWS-FACTS.md).
pub fn throttle_status(kind: Option<ApiKind>) -> u16 {
    if kind == Some(ApiKind::FunctionUrl) {
        429
    } else {
        500
    }
}

/// The status a client sees when the function fails: 500 behind an HTTP API, 502 behind a
/// REST API or a function URL.
pub fn function_error_status(kind: Option<ApiKind>) -> u16 {
    if kind == Some(ApiKind::Http) {
        500
    } else {
        502
    }
}

/// Which client outcome weighs a count metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    All,
    Throttled,
    ServerErrors,
    ClientErrors,
    ReachedLambda,
}

pub(crate) fn class_of(namespace: &str, metric: &str) -> Class {
    match (namespace, metric) {
        ("AWS/Lambda", "Throttles") => Class::Throttled,
        ("AWS/Lambda", "Errors" | "Url5xxCount") | ("AWS/ApiGateway", "5XXError" | "5xx") => {
            Class::ServerErrors
        }
        ("AWS/Lambda", "Url4xxCount") | ("AWS/ApiGateway", "4XXError" | "4xx") => {
            Class::ClientErrors
        }
        ("AWS/Lambda", "Invocations") => Class::ReachedLambda,
        _ => Class::All,
    }
}

/// Splits `value` into whole numbers in proportion to `shares` (which sum to at most 1;
/// the rest is one more bucket, dropped from the result): largest remainder, so the parts
/// and the dropped bucket add up to `value` exactly.
pub fn apportion(value: u64, shares: &[f64]) -> Vec<u64> {
    let rest = (1.0 - shares.iter().sum::<f64>()).max(0.0);
    let mut quotas: Vec<f64> = shares
        .iter()
        .chain([&rest])
        .map(|s| s * value as f64)
        .collect();
    let total: f64 = quotas.iter().sum();
    if total <= 0.0 {
        return vec![0; shares.len()];
    }
    // Normalise so the quotas add up to `value` despite rounding in the shares.
    for q in &mut quotas {
        *q *= value as f64 / total;
    }
    let mut parts: Vec<u64> = quotas.iter().map(|q| q.floor() as u64).collect();
    let mut left = value.saturating_sub(parts.iter().sum());
    let mut order: Vec<usize> = (0..quotas.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (quotas[a] - quotas[a].floor(), quotas[b] - quotas[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for i in order {
        if left == 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    parts.truncate(shares.len());
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportioning_keeps_whole_numbers_that_add_up() {
        assert_eq!(apportion(10, &[0.5, 0.5]), [5, 5]);
        assert_eq!(apportion(3, &[1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0]), [1, 1, 1]);
        // 7 split 0.45 / 0.45 / rest 0.1: 3.15, 3.15, 0.7 → the rest bucket takes the 1.
        assert_eq!(apportion(7, &[0.45, 0.45]), [3, 3]);
        assert_eq!(apportion(7, &[0.5, 0.45]), [4, 3]);
        assert_eq!(apportion(0, &[0.3, 0.7]), [0, 0]);
        assert_eq!(apportion(5, &[0.0, 0.0]), [0, 0]);
        for v in [1, 2, 17, 308, 1291] {
            let parts = apportion(v, &[0.2, 0.31, 0.49]);
            assert_eq!(parts.iter().sum::<u64>(), v, "{parts:?}");
        }
    }
}
