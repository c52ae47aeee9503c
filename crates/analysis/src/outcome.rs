//! How a request's status and error kind are named in reports.
//!
//! Success is summarised by class (`2xx`, `3xx`); failures keep their exact status because
//! the exact code is the diagnosis behind API Gateway (429 = API throttle, 500 = Lambda
//! throttle on a REST API, 502 = function error, 504 = integration timeout); transport
//! errors are named by kind.

/// The outcome label of one request.
pub fn label(status: i32, error: Option<&str>) -> String {
    match (status, error) {
        (0 | 200..=299, Some(kind)) => kind.to_string(),
        (0, None) => "transport".into(),
        (200..=299, None) => "2xx".into(),
        (300..=399, None) => "3xx".into(),
        (s, _) => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_keep_their_exact_status_and_successes_their_class() {
        assert_eq!(label(200, None), "2xx");
        assert_eq!(label(204, None), "2xx");
        assert_eq!(label(429, None), "429");
        assert_eq!(label(502, Some("unexpected_status")), "502");
        assert_eq!(label(0, Some("timeout")), "timeout");
        assert_eq!(label(200, Some("extraction")), "extraction");
    }
}
