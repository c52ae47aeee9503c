//! A lean HTTP/1.1 client for `http://` targets: each request is written and its response
//! read by the worker's own task on a keep-alive connection it checks out of a pool, with
//! `httparse` for the head and Content-Length / chunked / until-close framing for the body.
//!
//! Measured on this machine against nginx (benches/load-vs-oha-wrk.sh, 64 connections,
//! one core): reqwest needed 24–27 µs of client CPU per request (URL re-parsing, proxy and
//! pool bookkeeping, large futures); hyper's connection API directly 12.6 µs (a connection
//! task per socket, so every request crossed two tasks and a channel); this path, with no
//! task or channel between the worker and its socket, 9.5 µs; with request heads written
//! straight into the wire buffer, a reused timeout timer, small futures (the head is parsed
//! outside them) and batched recording, a median of 7.9 µs over 8 rounds (wrk 7.6 µs in
//! the same rounds). Each request is one `sendto` and, for a small response, one
//! `recvfrom`.
//! `https://` targets use reqwest (rustls).

mod request;

use std::net::SocketAddr;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use stormwatch_model::ErrorKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub use request::{Outgoing, RequestBytes};

/// Most response headers parsed (more is a protocol error).
const MAX_HEADERS: usize = 64;
/// Largest response head accepted.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// One keep-alive connection and the bytes read from it but not yet consumed.
#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// Idle connections to one `host:port`.
#[derive(Debug)]
pub struct H1Pool {
    host: String,
    authority: String,
    /// The base URL, whose path prefixes every request's.
    base: reqwest::Url,
    idle: std::sync::Mutex<Vec<Conn>>,
    addr: tokio::sync::OnceCell<SocketAddr>,
}

/// Status, headers, kept body and bytes read.
pub type Response = (u16, HeaderMap, Vec<u8>, u64);

/// A parsed response head: status, headers kept, framing, keep-alive.
type Head = (u16, HeaderMap, Framing, bool);

/// How the response body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// What a failed exchange leaves: the error, and whether nothing of a response had arrived
/// (then a reused connection was closed by the server while idle and the request can go
/// again on a new one, as every HTTP client does).
struct Failure {
    kind: ErrorKind,
    before_response: bool,
}

impl Failure {
    fn new(kind: ErrorKind) -> Self {
        Self {
            kind,
            before_response: false,
        }
    }
}

fn io_kind(e: &std::io::Error) -> ErrorKind {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::TimedOut => ErrorKind::Timeout,
        K::InvalidData => ErrorKind::Protocol,
        _ => ErrorKind::ConnectionReset,
    }
}

impl Conn {
    /// Reads more bytes into the buffer; EOF is an error (the response is incomplete).
    async fn fill(&mut self) -> Result<(), Failure> {
        self.buf.reserve(4096);
        match self.stream.read_buf(&mut self.buf).await {
            Ok(0) => Err(Failure::new(ErrorKind::ConnectionReset)),
            Ok(_) => Ok(()),
            Err(e) => Err(Failure::new(io_kind(&e))),
        }
    }

    /// Reads and parses the response head (skipping `1xx` interim responses); returns the
    /// status, headers and framing, with the head's bytes consumed from the buffer.
    async fn read_head(&mut self, head_request: bool, keep_headers: bool) -> Result<Head, Failure> {
        loop {
            if let Some(head) = self.parse_head(head_request, keep_headers)? {
                return Ok(head);
            }
            if self.buf.len() > MAX_HEAD_BYTES {
                return Err(Failure::new(ErrorKind::Protocol));
            }
            let empty = self.buf.is_empty();
            if let Err(mut f) = self.fill().await {
                f.before_response = empty;
                return Err(f);
            }
        }
    }

    /// Parses a complete head at the start of the buffer; `None` when more bytes are
    /// needed. Not async, so the 2 KiB of header slots are never part of a future (every
    /// future holding them was copied several times per request).
    fn parse_head(
        &mut self,
        head_request: bool,
        keep_headers: bool,
    ) -> Result<Option<Head>, Failure> {
        loop {
            let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut parsed = httparse::Response::new(&mut slots);
            let len = match parsed.parse(&self.buf) {
                Ok(httparse::Status::Complete(len)) => len,
                Ok(httparse::Status::Partial) => return Ok(None),
                Err(_) => return Err(Failure::new(ErrorKind::Protocol)),
            };
            let code = parsed.code.unwrap_or(0);
            if (100..200).contains(&code) && code != 101 {
                self.buf.drain(..len);
                continue;
            }
            let mut headers = HeaderMap::new();
            let mut framing = Framing::UntilClose;
            let mut keep_alive = parsed.version == Some(1);
            for h in parsed.headers.iter() {
                if h.name.eq_ignore_ascii_case("content-length") {
                    let n = std::str::from_utf8(h.value)
                        .ok()
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .ok_or_else(|| Failure::new(ErrorKind::Protocol))?;
                    if framing != Framing::Chunked {
                        framing = Framing::Length(n);
                    }
                } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                    let v = h.value.trim_ascii_end();
                    let tail = v.len().saturating_sub(7);
                    if v[tail..].eq_ignore_ascii_case(b"chunked") {
                        framing = Framing::Chunked;
                    }
                } else if h.name.eq_ignore_ascii_case("connection") {
                    // Every response carries it: compared in place, no allocation.
                    if contains_ignore_case(h.value, b"close") {
                        keep_alive = false;
                    } else if contains_ignore_case(h.value, b"keep-alive") {
                        keep_alive = true;
                    }
                }
                if keep_headers
                    && let (Ok(n), Ok(v)) = (
                        HeaderName::from_bytes(h.name.as_bytes()),
                        HeaderValue::from_bytes(h.value),
                    )
                {
                    headers.append(n, v);
                }
            }
            if head_request || code == 204 || code == 304 {
                framing = Framing::Empty;
            }
            if framing == Framing::UntilClose {
                keep_alive = false;
            }
            self.buf.drain(..len);
            return Ok(Some((code, headers, framing, keep_alive)));
        }
    }

    /// Takes up to `n` buffered bytes (reading when none are buffered) into `sink`.
    async fn take(&mut self, n: u64, sink: &mut BodySink) -> Result<u64, Failure> {
        if self.buf.is_empty() {
            self.fill().await?;
        }
        let k = self.buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
        sink.push(&self.buf[..k]);
        self.buf.drain(..k);
        Ok(k as u64)
    }

    /// Reads a CRLF-terminated line (without it) from the buffer.
    async fn line(&mut self) -> Result<Vec<u8>, Failure> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf[..i].to_vec();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            if self.buf.len() > MAX_HEAD_BYTES {
                return Err(Failure::new(ErrorKind::Protocol));
            }
            self.fill().await?;
        }
    }

    /// Reads the body; false when it was cut at the limit (the connection is then unusable).
    async fn read_body(&mut self, framing: Framing, sink: &mut BodySink) -> Result<bool, Failure> {
        match framing {
            Framing::Empty => Ok(true),
            Framing::Length(mut left) => {
                while left > 0 {
                    left -= self.take(left, sink).await?;
                    if sink.full() && left > 0 {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Framing::Chunked => loop {
                let size_line = self.line().await?;
                let hex = size_line
                    .split(|&b| b == b';')
                    .next()
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
                    .ok_or_else(|| Failure::new(ErrorKind::Protocol))?;
                if hex == 0 {
                    // Trailers, up to the empty line.
                    while !self.line().await?.is_empty() {}
                    return Ok(true);
                }
                let mut left = hex;
                while left > 0 {
                    left -= self.take(left, sink).await?;
                    if sink.full() {
                        return Ok(false);
                    }
                }
                if !self.line().await?.is_empty() {
                    return Err(Failure::new(ErrorKind::Protocol));
                }
            },
            Framing::UntilClose => loop {
                sink.push(&self.buf);
                self.buf.clear();
                if sink.full() {
                    return Ok(false);
                }
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) => return Ok(true),
                    Ok(_) => {}
                    Err(e) => return Err(Failure::new(io_kind(&e))),
                }
            },
        }
    }
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// The body as read: bytes counted, reading stopped after `limit`, the first `limit`
/// kept when `keep`.
struct BodySink {
    kept: Vec<u8>,
    keep: bool,
    bytes: u64,
    limit: usize,
}

impl BodySink {
    fn push(&mut self, data: &[u8]) {
        if self.keep {
            let room = self.limit.saturating_sub(self.kept.len());
            self.kept.extend_from_slice(&data[..data.len().min(room)]);
        }
        self.bytes += data.len() as u64;
    }

    fn full(&self) -> bool {
        self.bytes >= self.limit as u64
    }
}

impl H1Pool {
    /// A pool for the URL's host and port (nothing is connected yet).
    pub fn new(url: &reqwest::Url) -> Option<Self> {
        let host = url.host_str()?.to_string();
        let port = url.port_or_known_default()?;
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        HeaderValue::from_str(&authority).ok()?;
        Some(Self {
            host: format!("{host}:{port}"),
            authority,
            base: url.clone(),
            idle: std::sync::Mutex::new(Vec::new()),
            addr: tokio::sync::OnceCell::new(),
        })
    }

    async fn connect(&self) -> Result<Conn, ErrorKind> {
        let addr = *self
            .addr
            .get_or_try_init(|| async {
                tokio::net::lookup_host(&self.host)
                    .await
                    .ok()
                    .and_then(|mut it| it.next())
                    .ok_or(ErrorKind::Dns)
            })
            .await?;
        let stream = TcpStream::connect(addr).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::ConnectionRefused => ErrorKind::ConnectRefused,
            _ => ErrorKind::Connect,
        })?;
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    fn checkout(&self) -> Option<Conn> {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()
    }

    fn checkin(&self, conn: Conn) {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(conn);
    }

    /// Starts a request: the request line, with `path` (rendered, after the base URL's own
    /// path) and `query` as its target, and `host`. A path of URL-safe characters is
    /// written as is (the per-request hot path: parsing a URL for every request cost more
    /// client CPU than the rest of the request building); anything else is percent-encoded
    /// as the URL parser does it.
    pub fn request(
        &self,
        method: &reqwest::Method,
        path: &str,
        query: Option<&str>,
    ) -> RequestBytes {
        let mut bytes = Vec::with_capacity(256);
        bytes.extend_from_slice(method.as_str().as_bytes());
        bytes.push(b' ');
        let prefix = self.base.path().trim_end_matches('/');
        let safe = path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@%".contains(&b));
        if safe {
            bytes.extend_from_slice(prefix.as_bytes());
            bytes.extend_from_slice(path.as_bytes());
        } else {
            let mut url = self.base.clone();
            url.set_path(&format!("{prefix}{path}"));
            bytes.extend_from_slice(url.path().as_bytes());
        }
        if let Some(q) = query {
            bytes.push(b'?');
            bytes.extend_from_slice(q.as_bytes());
        }
        bytes.extend_from_slice(b" HTTP/1.1\r\nhost: ");
        bytes.extend_from_slice(self.authority.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        RequestBytes {
            bytes,
            method: method.clone(),
        }
    }

    /// One request on `conn`; the connection back when it can be reused.
    async fn exchange_on(
        mut conn: Conn,
        request: &Outgoing,
        keep_headers: bool,
        sink: &mut BodySink,
    ) -> Result<(u16, HeaderMap, Option<Conn>), Failure> {
        if let Err(e) = conn.stream.write_all(&request.bytes).await {
            return Err(Failure {
                kind: io_kind(&e),
                before_response: true,
            });
        }
        let (status, headers, framing, keep_alive) =
            conn.read_head(request.head, keep_headers).await?;
        let complete = conn.read_body(framing, sink).await?;
        let reusable = keep_alive && complete && conn.buf.is_empty();
        Ok((status, headers, reusable.then_some(conn)))
    }

    /// Sends one request; reads the body up to `limit` bytes, keeping it when `keep_body`
    /// and the response headers when `keep_headers` (an extraction or poll reads them).
    pub async fn exchange(
        &self,
        request: &Outgoing,
        keep_headers: bool,
        keep_body: bool,
        limit: usize,
    ) -> Result<Response, ErrorKind> {
        let mut sink = BodySink {
            kept: Vec::new(),
            keep: keep_body,
            bytes: 0,
            limit,
        };
        let result = if let Some(conn) = self.checkout() {
            match Self::exchange_on(conn, request, keep_headers, &mut sink).await {
                // The server closed the idle connection: once more on a new one.
                Err(f) if f.before_response => {
                    let conn = self.connect().await?;
                    Self::exchange_on(conn, request, keep_headers, &mut sink).await
                }
                other => other,
            }
        } else {
            let conn = self.connect().await?;
            Self::exchange_on(conn, request, keep_headers, &mut sink).await
        };
        let (status, headers, conn) = result.map_err(|f| f.kind)?;
        if let Some(conn) = conn {
            self.checkin(conn);
        }
        Ok((status, headers, sink.kept, sink.bytes))
    }
}

#[cfg(test)]
mod tests;
