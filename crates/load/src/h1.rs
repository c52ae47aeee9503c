//! A lean HTTP/1.1 client for `http://` targets: hyper's connection API directly, with a
//! pool of idle keep-alive connections, as oha does.
//!
//! Measured on this machine against nginx (benches/load-vs-oha-wrk.sh, 64 connections,
//! one core): with reqwest the engine needed 24–27 µs of client CPU per request (wrk
//! 9–10 µs, oha 11–13 µs) — URL re-parsing, proxy and pool bookkeeping, large futures;
//! with this path 12.6 µs. Each request goes out on a connection the worker owns for the
//! duration of the exchange. `https://` targets still use reqwest (rustls).

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use reqwest::header::{HOST, HeaderMap, HeaderValue};
use stormwatch_model::ErrorKind;
use tokio::sync::Mutex;

/// Idle connections to one `host:port`.
#[derive(Debug)]
pub struct H1Pool {
    host: String,
    authority: HeaderValue,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
    addr: Mutex<Option<SocketAddr>>,
}

/// Status, headers, kept body and bytes read.
pub type Response = (u16, HeaderMap, Vec<u8>, u64);

impl H1Pool {
    /// A pool for the URL's host and port (nothing is connected yet).
    pub fn new(url: &reqwest::Url) -> Option<Self> {
        let host = url.host_str()?.to_string();
        let port = url.port_or_known_default()?;
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        Some(Self {
            host: format!("{host}:{port}"),
            authority: HeaderValue::from_str(&authority).ok()?,
            idle: Mutex::new(Vec::new()),
            addr: Mutex::new(None),
        })
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, ErrorKind> {
        let addr = {
            let mut cached = self.addr.lock().await;
            if let Some(a) = *cached {
                a
            } else {
                let a = tokio::net::lookup_host(&self.host)
                    .await
                    .ok()
                    .and_then(|mut it| it.next())
                    .ok_or(ErrorKind::Dns)?;
                *cached = Some(a);
                a
            }
        };
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::ConnectionRefused => ErrorKind::ConnectRefused,
                _ => ErrorKind::Connect,
            })?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|_| ErrorKind::Connect)?;
        tokio::spawn(async move {
            // Ends when the server closes or the sender is dropped.
            let _ = conn.await;
        });
        Ok(sender)
    }

    async fn checkout(&self) -> Result<SendRequest<Full<Bytes>>, ErrorKind> {
        loop {
            let Some(mut s) = self.idle.lock().await.pop() else {
                break;
            };
            if !s.is_closed() && s.ready().await.is_ok() {
                return Ok(s);
            }
        }
        let mut s = self.connect().await?;
        s.ready().await.map_err(|_| ErrorKind::ConnectionReset)?;
        Ok(s)
    }

    /// Sends one request; reads the body up to `limit` bytes.
    pub async fn exchange(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        mut headers: HeaderMap,
        body: Option<Vec<u8>>,
        limit: usize,
    ) -> Result<Response, ErrorKind> {
        let mut sender = self.checkout().await?;
        headers.insert(HOST, self.authority.clone());
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path_and_query)
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|_| ErrorKind::Protocol)?;
        *req.headers_mut() = headers;
        let resp = sender.send_request(req).await.map_err(|e| hyper_kind(&e))?;
        let status = resp.status().as_u16();
        let (parts, mut incoming) = resp.into_parts();
        let mut kept = Vec::new();
        let mut bytes = 0u64;
        let mut complete = true;
        while let Some(frame) = incoming.frame().await {
            let frame = frame.map_err(|e| hyper_kind(&e))?;
            if let Ok(data) = frame.into_data() {
                bytes += data.len() as u64;
                let room = limit.saturating_sub(kept.len());
                kept.extend_from_slice(&data[..data.len().min(room)]);
                if kept.len() >= limit {
                    // Past the limit: stop reading; the connection is not reused.
                    complete = false;
                    break;
                }
            }
        }
        if complete {
            self.idle.lock().await.push(sender);
        }
        Ok((status, parts.headers, kept, bytes))
    }
}

fn hyper_kind(e: &hyper::Error) -> ErrorKind {
    if e.is_parse() || e.is_parse_status() {
        ErrorKind::Protocol
    } else if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        // Closed, canceled, incomplete message, io: the connection went away mid-request.
        ErrorKind::ConnectionReset
    }
}
