//! Sends one step's request with reqwest and classifies what came back.
//!
//! The body is read up to the plan's limit (for extraction and byte counts); the whole
//! exchange runs under the per-request timeout. Transport failures become an
//! [`ErrorKind`] and never stop the run.

use std::error::Error as _;
use std::time::Instant;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use stormwatch_model::ErrorKind;

use crate::plan::Plan;
use crate::step::Step;
use crate::template::RenderContext;
use crate::trace::TraceIds;

/// What one request produced.
#[derive(Debug)]
pub struct Exchange {
    /// When it was handed to the client.
    pub sent: Instant,
    /// When the body was read or the request failed.
    pub end: Instant,
    /// HTTP status, 0 for a transport error.
    pub status: u16,
    /// Transport error, if any.
    pub error: Option<ErrorKind>,
    /// Body bytes read (up to the limit).
    pub bytes: u64,
    /// Body kept for extraction (up to the limit).
    pub body: Vec<u8>,
    /// Response headers.
    pub headers: HeaderMap,
}

/// The HTTP stack: stormwatch's own HTTP/1.1 client for `http://` (lean, see `h1.rs`),
/// reqwest with rustls for `https://`.
#[derive(Debug)]
pub enum Transport {
    /// Plain HTTP/1.1 with a pool of keep-alive connections.
    H1(crate::h1::H1Pool),
    /// reqwest (TLS, HTTP/2 by ALPN).
    Reqwest(reqwest::Client),
}

/// Builds the shared HTTP client.
pub fn build_client(plan: &Plan) -> Result<Transport, crate::LoadError> {
    if plan.base_url.scheme() == "http"
        && let Some(pool) = crate::h1::H1Pool::new(&plan.base_url)
    {
        return Ok(Transport::H1(pool));
    }
    reqwest::Client::builder()
        .pool_max_idle_per_host(usize::MAX)
        .tcp_nodelay(true)
        // Load goes where the scenario says; proxy lookup per request also cost CPU.
        .no_proxy()
        .connect_timeout(plan.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map(Transport::Reqwest)
        .map_err(|e| crate::LoadError::Client(e.to_string()))
}

/// Sends `step` once.
pub async fn send(
    client: &Transport,
    plan: &Plan,
    step: &Step,
    ctx: &RenderContext<'_>,
    trace: &TraceIds,
) -> Exchange {
    let path = step.path.render(ctx);
    let step_query = (!step.query.is_empty()).then(|| {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &step.query {
            q.append_pair(k, &v.render(ctx));
        }
        q.finish()
    });
    let query = join_query(plan.base_url.query(), step_query);
    let mut headers = HeaderMap::new();
    for (k, v) in plan.headers.iter().chain(&step.headers) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v.render(ctx)),
        ) {
            headers.insert(name, value);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&trace.xray_header()) {
        headers.insert("x-amzn-trace-id", v);
    }
    if plan.traceparent
        && let Ok(v) = HeaderValue::from_str(&trace.traceparent())
    {
        headers.insert("traceparent", v);
    }
    let body = step.body.as_ref().map(|b| {
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        serde_json::to_vec(&b.render(ctx)).unwrap_or_default()
    });
    let sent = Instant::now();
    // A deadline from the instant already read (`timeout` would read the clock again).
    let deadline = tokio::time::Instant::from_std(sent + plan.timeout);
    let result = match client {
        Transport::H1(pool) => {
            let target = request_target(&plan.base_url, &path, query.as_deref());
            let call = pool.exchange(
                &step.method,
                &target,
                &headers,
                body.as_deref(),
                step.reads_headers(),
                plan.body_limit,
            );
            tokio::time::timeout_at(deadline, call).await
        }
        Transport::Reqwest(c) => {
            let mut url = plan.base_url.clone();
            let prefix = url.path().trim_end_matches('/');
            url.set_path(&format!("{prefix}{path}"));
            url.set_query(query.as_deref());
            let mut req = c.request(step.method.clone(), url).headers(headers);
            if let Some(body) = body {
                req = req.body(body);
            }
            let call = async {
                exchange(req, plan.body_limit)
                    .await
                    .map_err(|e| classify(&e))
            };
            tokio::time::timeout_at(deadline, call).await
        }
    };
    let end = Instant::now();
    match result {
        Ok(Ok((status, headers, body, bytes))) => Exchange {
            sent,
            end,
            status,
            error: None,
            bytes,
            body,
            headers,
        },
        Ok(Err(kind)) => Exchange {
            sent,
            end,
            status: 0,
            error: Some(kind),
            bytes: 0,
            body: Vec::new(),
            headers: HeaderMap::new(),
        },
        Err(_) => Exchange {
            sent,
            end,
            status: 0,
            error: Some(ErrorKind::Timeout),
            bytes: 0,
            body: Vec::new(),
            headers: HeaderMap::new(),
        },
    }
}

/// The base URL's own query (e.g. `?api-version=2`) followed by the step's pairs.
fn join_query(base: Option<&str>, step: Option<String>) -> Option<String> {
    match (base.filter(|b| !b.is_empty()), step) {
        (Some(b), Some(s)) => Some(format!("{b}&{s}")),
        (Some(b), None) => Some(b.to_owned()),
        (None, s) => s,
    }
}

/// `path` (rendered, after the base URL's own path) and `query` as an HTTP/1.1 request
/// target. A path of URL-safe characters is used as is (the per-request hot path: parsing a
/// URL for every request cost more client CPU than the rest of the request building);
/// anything else is percent-encoded as the URL parser does it.
fn request_target(base: &reqwest::Url, path: &str, query: Option<&str>) -> String {
    let prefix = base.path().trim_end_matches('/');
    let safe = path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@%".contains(&b));
    let mut target = if safe {
        format!("{prefix}{path}")
    } else {
        let mut url = base.clone();
        url.set_path(&format!("{prefix}{path}"));
        url.path().to_owned()
    };
    if let Some(q) = query {
        target.push('?');
        target.push_str(q);
    }
    target
}

async fn exchange(
    req: reqwest::RequestBuilder,
    limit: usize,
) -> Result<(u16, HeaderMap, Vec<u8>, u64), reqwest::Error> {
    let mut resp = req.send().await?;
    let status = resp.status().as_u16();
    let headers = std::mem::take(resp.headers_mut());
    let mut body = Vec::new();
    let mut bytes = 0u64;
    while let Some(chunk) = resp.chunk().await? {
        bytes += chunk.len() as u64;
        let room = limit.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= limit {
            // Past the limit: stop reading; dropping the response closes the connection.
            break;
        }
    }
    Ok((status, headers, body, bytes))
}

/// Maps a reqwest error to the kind of failure it was.
pub fn classify(e: &reqwest::Error) -> ErrorKind {
    if e.is_timeout() {
        return ErrorKind::Timeout;
    }
    let mut cause: Option<&dyn std::error::Error> = e.source();
    let mut text = String::new();
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            match io.kind() {
                K::ConnectionRefused => return ErrorKind::ConnectRefused,
                K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                    return ErrorKind::ConnectionReset;
                }
                K::TimedOut => return ErrorKind::Timeout,
                _ => {}
            }
        }
        text.push_str(&c.to_string().to_ascii_lowercase());
        text.push(' ');
        cause = c.source();
    }
    if text.contains("dns error") || text.contains("failed to lookup") {
        ErrorKind::Dns
    } else if text.contains("tls") || text.contains("certificate") {
        ErrorKind::Tls
    } else if e.is_connect() {
        ErrorKind::Connect
    } else if text.contains("connection closed") || text.contains("reset") || e.is_body() {
        ErrorKind::ConnectionReset
    } else {
        ErrorKind::Protocol
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_targets_keep_the_base_path_and_encode_what_needs_it() {
        let base = reqwest::Url::parse("http://127.0.0.1:9/prod/").unwrap();
        assert_eq!(request_target(&base, "/items/42", None), "/prod/items/42");
        assert_eq!(
            request_target(&base, "/search/red shoes", Some("q=a+b&x=%26")),
            "/prod/search/red%20shoes?q=a+b&x=%26"
        );
        let root = reqwest::Url::parse("http://127.0.0.1:9").unwrap();
        assert_eq!(request_target(&root, "/", None), "/");
    }

    #[test]
    fn the_base_urls_query_comes_first() {
        assert_eq!(
            join_query(Some("v=2"), Some("q=a".into())).as_deref(),
            Some("v=2&q=a")
        );
        assert_eq!(join_query(Some("v=2"), None).as_deref(), Some("v=2"));
        assert_eq!(
            join_query(Some(""), Some("q=a".into())).as_deref(),
            Some("q=a")
        );
        assert_eq!(join_query(None, None), None);
    }
}
