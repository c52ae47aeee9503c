//! A tiny HTTP/1.1 server on 127.0.0.1:0 for the engine tests: it records what it saw
//! (time, method, path, headers) and answers through a closure, optionally after a delay;
//! and a helper running a scenario against it.

// Shared by several test binaries, each using part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stormwatch_load::{Plan, RunOptions, RunOutcome, run};
use stormwatch_model::{RequestLog, RequestRecord, RunDir};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub at: Instant,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The answer.
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn ok(body: &str) -> Self {
        Self {
            status: 200,
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }
    pub fn status(status: u16, body: &str) -> Self {
        Self {
            status,
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }
}

type Handler = Arc<dyn Fn(&Seen, usize) -> Reply + Send + Sync>;

pub struct TestServer {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl TestServer {
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Starts a server; `handler` gets each request and its 0-based arrival number.
pub async fn start(handler: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let handler: Handler = Arc::new(handler);
    let count = Arc::new(AtomicUsize::new(0));
    let s2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (seen, handler, count) = (s2.clone(), handler.clone(), count.clone());
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut r = BufReader::new(r);
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let at = Instant::now();
                    let mut parts = line.split_whitespace();
                    let method = parts.next().unwrap_or("").to_string();
                    let path = parts.next().unwrap_or("").to_string();
                    let mut headers = Vec::new();
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':') {
                            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                        }
                    }
                    let len: usize = headers
                        .iter()
                        .find(|(k, _)| k == "content-length")
                        .and_then(|(_, v)| v.parse().ok())
                        .unwrap_or(0);
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let req = Seen {
                        at,
                        method,
                        path,
                        headers,
                    };
                    let n = count.fetch_add(1, Ordering::SeqCst);
                    let reply = handler(&req, n);
                    seen.lock().unwrap().push(req);
                    if !reply.delay.is_zero() {
                        tokio::time::sleep(reply.delay).await;
                    }
                    let text = format!(
                        "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{}",
                        reply.status,
                        reply.body.len(),
                        reply.body
                    );
                    if w.write_all(text.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    TestServer { url, seen }
}

/// Runs `text` (a scenario) against `url`; the outcome, the records read back, and the
/// temporary directory holding the run.
pub async fn run_scenario(
    text: &str,
    url: &str,
) -> (RunOutcome, Vec<RequestRecord>, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let plan = Plan::parse(Path::new("test.toml"), text, &[], Some(url), &|_| None).unwrap();
    let dir = RunDir::new(tmp.path().join("run"));
    let outcome = run(
        Arc::new(plan),
        RunOptions {
            dir: dir.clone(),
            run_id: "run".into(),
            labels: BTreeMap::new(),
            quiet: true,
            handle_signals: false,
            shard: stormwatch_load::Shard::WHOLE,
            start_at: None,
        },
    )
    .await
    .unwrap();
    let log = RequestLog::read(&dir.requests_dir()).unwrap();
    assert_eq!(log.torn_lines, 0);
    (outcome, log.records, tmp)
}
