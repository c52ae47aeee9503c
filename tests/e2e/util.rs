//! Helpers shared by the end-to-end tests: the binary with an AWS environment that reaches
//! only a given loopback endpoint, an in-process sandbox, a loopback HTTP server that counts
//! requests, a scenario file, a stand-in for an AWS API that refuses every call, and a raw
//! HTTP GET.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use assert_cmd::Command;

/// `stormwatch` with an AWS environment that can only reach `endpoint`.
pub(crate) fn stormwatch(endpoint: &str, home: &Path) -> Command {
    Command::from_std(stormwatch_process(endpoint, home))
}

/// The same as a plain process, for tests that spawn and kill it.
pub(crate) fn stormwatch_process(endpoint: &str, home: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("stormwatch"));
    c.env_clear()
        .env("HOME", home)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "not-a-secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "2");
    c
}

/// Answers every request the way X-Ray refuses an unauthorized caller.
pub(crate) fn access_denied_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(50) {
            let Ok(mut s) = stream else { continue };
            s.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut buf = vec![0u8; 65536];
            let mut got = Vec::new();
            // Read the head and the body (Content-Length), then answer.
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).to_string();
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let len = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if got.len() >= head_end + 4 + len {
                        break;
                    }
                }
            }
            let body = r#"{"Message":"User: arn:aws:iam::123456789012:user/ci is not authorized to perform: xray:GetTraceSummaries"}"#;
            let _ = write!(
                s,
                "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nx-amzn-ErrorType: AccessDeniedException\r\nx-amzn-RequestId: 1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}")
}

pub(crate) const SANDBOX: &str = include_str!("../../examples/sandbox/fast-test.toml");

/// An in-process sandbox and the runtime it runs on.
pub(crate) struct Running {
    pub(crate) runtime: tokio::runtime::Runtime,
    pub(crate) sandbox: stormwatch_sandbox::Sandbox,
}

/// Starts the fast-test sandbox, writing its ground truth to `truth`.
pub(crate) fn start_sandbox(truth: &Path) -> Running {
    start_sandbox_with(SANDBOX, 3, Some(truth))
}

/// Starts an in-process sandbox of configuration `toml` on 127.0.0.1.
pub(crate) fn start_sandbox_with(toml: &str, seed: u64, truth: Option<&Path>) -> Running {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = stormwatch_sandbox::Config::parse(Path::new("sandbox.toml"), toml).unwrap();
    let sandbox = runtime
        .block_on(stormwatch_sandbox::Sandbox::start(
            config,
            stormwatch_sandbox::Options {
                seed,
                listen: "127.0.0.1:0".parse().unwrap(),
                ground_truth: truth.map(Path::to_path_buf),
            },
        ))
        .unwrap();
    Running { runtime, sandbox }
}

/// A keep-alive HTTP/1.1 server answering `200 ok` to everything; counts requests.
pub(crate) fn server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let c = c.clone();
            std::thread::spawn(move || {
                let mut w = stream.try_clone().unwrap();
                let mut r = BufReader::new(stream);
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut len = 0usize;
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        if h.trim().is_empty() {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    if std::io::Read::read_exact(&mut r, &mut body).is_err() {
                        return;
                    }
                    c.fetch_add(1, Ordering::SeqCst);
                    if w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (url, count)
}

pub(crate) fn scenario(dir: &Path, phases: &str, extra: &str) -> PathBuf {
    let path = dir.join("shop.toml");
    let text = format!(
        "[target]\nurl = \"http://127.0.0.1:9\"\n\n[[flows]]\nname = \"browse\"\n\
         [[flows.steps]]\npath = \"/products/${{random_int(1,9)}}\"\n\n{phases}\n{extra}"
    );
    std::fs::write(&path, text).unwrap();
    path
}

pub(crate) const TWO_PHASES: &str = "[[phases]]\nname = \"warm\"\nmodel = \"open\"\nrate = 20\nduration = \"1s\"\n\
                          [[phases]]\nname = \"pause\"\nmodel = \"idle\"\nduration = \"500ms\"\n";

pub(crate) fn http_get(addr: &str, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Every file under `dir`, recursively.
pub(crate) fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}
