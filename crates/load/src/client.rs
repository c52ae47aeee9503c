//! Sends one step's request with reqwest and classifies what came back.
//!
//! The body is read up to the plan's limit (for extraction and byte counts); the whole
//! exchange runs under the per-request timeout. Transport failures become an
//! [`ErrorKind`] and never stop the run.

use std::error::Error as _;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Instant, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use stormwatch_model::ErrorKind;
use tokio::time::Sleep;

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
    H1(Box<crate::h1::H1Pool>),
    /// reqwest (TLS, HTTP/2 by ALPN).
    Reqwest(reqwest::Client),
}

/// Builds the shared HTTP client.
pub fn build_client(plan: &Plan) -> Result<Transport, crate::LoadError> {
    if plan.base_url.scheme() == "http"
        && let Some(pool) = crate::h1::H1Pool::new(&plan.base_url)
    {
        return Ok(Transport::H1(Box::new(pool)));
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
        .map_err(crate::LoadError::Client)
}

/// Sends `step` once. `timer` is the caller's reusable timeout timer: resetting one
/// registered timer to a later deadline costs nothing, where a new timer per request was
/// registered in and removed from the runtime's timer wheel every time.
pub async fn send(
    client: &Transport,
    plan: &Plan,
    step: &Step,
    ctx: &RenderContext<'_>,
    trace: &TraceIds,
    timer: Pin<&mut Sleep>,
) -> Exchange {
    let path = step.path.render(ctx);
    let step_query = (!step.query.is_empty()).then(|| {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &step.query {
            q.append_pair(k, &v.render(ctx));
        }
        let q = q.finish();
        // Signed: a space as `%20`, never `+`, which a verifier may read as a literal plus
        // (the serializer writes a real `+` as `%2B`, so every `+` here is a space).
        if plan.sigv4.is_some() && q.contains('+') {
            q.replace('+', "%20")
        } else {
            q
        }
    });
    let query = join_query(plan.base_url.query(), step_query);
    let body = step
        .body
        .as_ref()
        .map(|b| serde_json::to_vec(&b.render(ctx)).unwrap_or_default());
    let (sent, result) = match client {
        Transport::H1(pool) => {
            let mut request = pool.request(&step.method, &path, query.as_deref());
            let mut value = String::new();
            for (name, template) in &step.headers {
                value.clear();
                template.render_into(ctx, &mut value);
                request.header(name, value.as_bytes());
            }
            request.header_with("x-amzn-trace-id", |out| trace.write_xray_header(out));
            if plan.traceparent {
                request.header("traceparent", trace.traceparent().as_bytes());
            }
            if let Some(signer) = &plan.sigv4 {
                sign_h1(signer, &step.method, &mut request, body.as_deref());
            }
            let request = request.finish(body.as_deref());
            let sent = Instant::now();
            let call = std::pin::pin!(pool.exchange(
                &request,
                step.reads_headers(),
                step.reads_body(),
                plan.body_limit,
            ));
            (sent, within(timer, sent + plan.timeout, call).await)
        }
        Transport::Reqwest(c) => {
            let mut headers = HeaderMap::new();
            for (k, v) in &step.headers {
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
            let mut url = plan.base_url.clone();
            let prefix = url.path().trim_end_matches('/');
            url.set_path(&format!("{prefix}{path}"));
            url.set_query(query.as_deref());
            if let Some(signer) = &plan.sigv4 {
                let body = body.as_deref().unwrap_or_default();
                let (p, q) = (url.path(), url.query());
                signer.sign(
                    step.method.as_str(),
                    p,
                    q,
                    body,
                    SystemTime::now(),
                    |n, v| {
                        if let Ok(v) = HeaderValue::from_bytes(v) {
                            headers.insert(n, v);
                        }
                    },
                );
            }
            let mut req = c.request(step.method.clone(), url).headers(headers);
            if let Some(body) = body {
                req = req.body(body);
            }
            let sent = Instant::now();
            // Boxed: reqwest's future is large, and this one is part of every request's
            // future whichever transport runs (copied as it is built and awaited).
            let call = Box::pin(async {
                exchange(req, plan.body_limit)
                    .await
                    .map_err(|e| classify(&e))
            });
            (sent, within(timer, sent + plan.timeout, call).await)
        }
    };
    let end = Instant::now();
    match result {
        Some(Ok((status, headers, body, bytes))) => Exchange {
            sent,
            end,
            status,
            error: None,
            bytes,
            body,
            headers,
        },
        Some(Err(kind)) => Exchange {
            sent,
            end,
            status: 0,
            error: Some(kind),
            bytes: 0,
            body: Vec::new(),
            headers: HeaderMap::new(),
        },
        None => Exchange {
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

/// Signs an encoded HTTP/1.1 request: the path and query exactly as its request line has
/// them (templated, encoded), the body as sent. Outside the request future (the target's
/// copy lives on this function's stack only).
fn sign_h1(
    signer: &crate::SigV4,
    method: &reqwest::Method,
    request: &mut crate::h1::RequestBytes,
    body: Option<&[u8]>,
) {
    let mut buf = [0u8; 1024];
    let t = request.target();
    let owned: Vec<u8>;
    let target: &[u8] = if t.len() <= buf.len() {
        buf[..t.len()].copy_from_slice(t);
        &buf[..t.len()]
    } else {
        owned = t.to_vec();
        &owned
    };
    let target = std::str::from_utf8(target).unwrap_or("/");
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    signer.sign(
        method.as_str(),
        path,
        query,
        body.unwrap_or_default(),
        SystemTime::now(),
        |n, v| request.header(n, v),
    );
}

/// Runs `fut` until `deadline`; `None` when the deadline came first. Callers pass a
/// pinned pointer (`Pin<&mut _>`, `Pin<Box<_>>`), so the request future itself is not
/// moved again: request futures are large enough for each copy to show in the client's CPU.
async fn within<F: Future + Unpin>(
    mut timer: Pin<&mut Sleep>,
    deadline: Instant,
    mut fut: F,
) -> Option<F::Output> {
    timer.as_mut().reset(deadline.into());
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = Pin::new(&mut fut).poll(cx) {
            return Poll::Ready(Some(out));
        }
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await
}

/// The base URL's own query (e.g. `?api-version=2`) followed by the step's pairs.
fn join_query(base: Option<&str>, step: Option<String>) -> Option<String> {
    match (base.filter(|b| !b.is_empty()), step) {
        (Some(b), Some(s)) => Some(format!("{b}&{s}")),
        (Some(b), None) => Some(b.to_owned()),
        (None, s) => s,
    }
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
