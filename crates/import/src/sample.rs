//! The canonical imported request, what every parser produces, and the helpers the parsers
//! share: trace headers, error kinds from messages, skipped-line bookkeeping.

use stormwatch_model::ErrorKind;
use stormwatch_model::request_ids::{RequestIdKind, valid_request_id};

/// One request as another tool recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// When it was sent, ns since the Unix epoch (UTC).
    pub start_ns: i64,
    /// When the response ended (or the request failed), ns since the Unix epoch.
    pub end_ns: i64,
    /// Endpoint name for grouping (`GET /orders`, a JMeter label, a k6 `name` tag).
    pub endpoint: String,
    /// The tool's flow-like grouping (k6 `group`, JMeter thread group), for the `flow`
    /// column; empty when the tool has none.
    pub flow: String,
    /// The tool's phase-like grouping (JMeter thread group, k6 `scenario`, Locust user
    /// class), used for phases when no `--phase` is given.
    pub group: Option<String>,
    /// HTTP status; 0 when no response was received.
    pub status: u16,
    /// Why the tool counted it failed, if it did.
    pub error: Option<ErrorKind>,
    /// Response bytes.
    pub bytes: u64,
    /// Virtual user / thread, when the tool records one.
    pub actor: Option<u32>,
    /// The X-Ray trace id from the response's `X-Amzn-Trace-Id`, and whether it was sampled.
    pub trace: Option<(String, bool)>,
    /// The API Gateway / Lambda request id from the response's `x-amzn-RequestId` or
    /// `apigw-requestid`, and which of the two.
    pub request_id: Option<(String, RequestIdKind)>,
}

impl Sample {
    /// A successful request of `endpoint` from `start_ns` to `end_ns`, other fields empty.
    pub fn new(endpoint: impl Into<String>, start_ns: i64, end_ns: i64) -> Self {
        Self {
            start_ns,
            end_ns: end_ns.max(start_ns),
            endpoint: endpoint.into(),
            flow: String::new(),
            group: None,
            status: 200,
            error: None,
            bytes: 0,
            actor: None,
            trace: None,
            request_id: None,
        }
    }

    /// Sets status and error from the tool's success flag: a failure with no status is a
    /// transport error named from `message`, one with a status a failed expectation.
    pub fn outcome(&mut self, status: u16, success: bool, message: &str) {
        self.status = status;
        self.error = match (success, status) {
            (_, 0) => Some(transport_error(message)),
            (true, _) => None,
            (false, _) => Some(ErrorKind::UnexpectedStatus),
        };
    }
}

/// The transport error a tool's message describes (`Connection refused`, `timeout`...).
pub fn transport_error(message: &str) -> ErrorKind {
    let m = message.to_ascii_lowercase();
    if m.contains("refused") {
        ErrorKind::ConnectRefused
    } else if m.contains("timeout") || m.contains("timed out") {
        ErrorKind::Timeout
    } else if m.contains("reset") || m.contains("closed") || m.contains("eof") {
        ErrorKind::ConnectionReset
    } else if m.contains("resolve") || m.contains("dns") || m.contains("unknownhost") {
        ErrorKind::Dns
    } else if m.contains("ssl") || m.contains("tls") || m.contains("certificate") {
        ErrorKind::Tls
    } else if m.contains("connect") {
        ErrorKind::Connect
    } else {
        ErrorKind::Protocol
    }
}

/// Whether `name` is the X-Ray trace header (any case).
pub fn is_trace_header(name: &str) -> bool {
    name.trim().eq_ignore_ascii_case("x-amzn-trace-id")
}

/// The root trace id and sampling decision of an `X-Amzn-Trace-Id` value
/// (`Root=1-5759e988-bd862e3fe1be46a994272793;Parent=…;Sampled=1`, or a bare root id).
/// Sampled unless the header says `Sampled=0`.
pub fn trace_from_header(value: &str) -> Option<(String, bool)> {
    let value = value.trim();
    let mut root = None;
    let mut sampled = true;
    for part in value.split(';') {
        match part.split_once('=') {
            Some((k, v)) if k.trim().eq_ignore_ascii_case("root") => root = Some(v.trim()),
            Some((k, v)) if k.trim().eq_ignore_ascii_case("sampled") => sampled = v.trim() != "0",
            None if part.trim().starts_with("1-") => root = Some(part.trim()),
            _ => {}
        }
    }
    let root = root?;
    let mut parts = root.split('-');
    let ok = parts.next() == Some("1")
        && parts
            .next()
            .is_some_and(|t| t.len() == 8 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        && parts
            .next()
            .is_some_and(|t| t.len() == 24 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        && parts.next().is_none();
    ok.then(|| (root.to_string(), sampled))
}

/// The trace id in raw `Name: value` header lines (JMeter's `<responseHeader>`).
pub fn trace_from_header_block(block: &str) -> Option<(String, bool)> {
    block.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        is_trace_header(name)
            .then(|| trace_from_header(value))
            .flatten()
    })
}

/// The request id of a response header `name: value` when `name` is `x-amzn-RequestId`
/// or `apigw-requestid` (any case) and the value looks like one.
pub fn request_id_from_header(name: &str, value: &str) -> Option<(String, RequestIdKind)> {
    let kind = RequestIdKind::of_header(name)?;
    let value = value.trim();
    valid_request_id(value).then(|| (value.to_string(), kind))
}

/// The request id in raw `Name: value` header lines (JMeter's `<responseHeader>`); an
/// `x-amzn-RequestId` wins over an `apigw-requestid`.
pub fn request_id_from_header_block(block: &str) -> Option<(String, RequestIdKind)> {
    first_request_id(block.lines().filter_map(|line| line.split_once(':')))
}

/// The request id among `(name, value)` response headers; `x-amzn-RequestId` first.
pub fn first_request_id<'a>(
    headers: impl Iterator<Item = (&'a str, &'a str)>,
) -> Option<(String, RequestIdKind)> {
    let mut found = None;
    for (name, value) in headers {
        if let Some(id) = request_id_from_header(name, value) {
            if id.1 == RequestIdKind::Amzn {
                return Some(id);
            }
            found.get_or_insert(id);
        }
    }
    found
}

/// Nanoseconds of a millisecond value (float), rounded.
pub fn ms_to_ns(ms: f64) -> i64 {
    (ms * 1e6).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_from_headers() {
        assert_eq!(
            request_id_from_header(" X-Amzn-RequestId", " c8ba2a7e-4f0b "),
            Some(("c8ba2a7e-4f0b".into(), RequestIdKind::Amzn))
        );
        assert_eq!(
            request_id_from_header("apigw-requestid", "Jx1yzhXYIAMEVcQ="),
            Some(("Jx1yzhXYIAMEVcQ=".into(), RequestIdKind::HttpApi))
        );
        assert_eq!(request_id_from_header("x-amzn-requestid", ""), None);
        assert_eq!(request_id_from_header("x-request-id", "abc"), None);
        assert_eq!(request_id_from_header("x-amzn-requestid", "a,b"), None);
        let block = "HTTP/1.1 200 OK\napigw-requestid: Jx1\nx-amzn-RequestId: r-9\n";
        assert_eq!(
            request_id_from_header_block(block),
            Some(("r-9".into(), RequestIdKind::Amzn))
        );
        assert_eq!(
            request_id_from_header_block("apigw-requestid: Jx1\n"),
            Some(("Jx1".into(), RequestIdKind::HttpApi))
        );
    }
}
