//! Request bodies over the telemetry APIs' 16 MiB limit are refused over HTTP in the protocol
//! of the request: CloudWatch RPC v2 CBOR, CloudWatch awsJson1_0, X-Ray restJson1 and
//! CloudWatch Logs awsJson1_1, each with its content type and error header.

mod util;

use std::time::Duration;

use stormwatch_aws_emulator::api::cbor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use util::{DEFAULT_RATE, emulator};

const LIMIT: usize = 16 * 1024 * 1024;

struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// POSTs `head_lines` and then `body` (written from a task of its own, so a server that
/// answers before reading everything cannot stall the client); reads the answer, bounded.
async fn post(url: &str, path: &str, head_lines: &str, body: Vec<u8>) -> Answer {
    let addr = url.trim_start_matches("http://");
    let s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    let head =
        format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{head_lines}\r\n");
    wr.write_all(head.as_bytes()).await.unwrap();
    let writer = tokio::spawn(async move {
        // The server may stop reading and close: errors here are expected.
        let _ = wr.write_all(&body).await;
        wr
    });
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), rd.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "answered within 20 s");
    writer.abort();
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("a full response, got {:?}", String::from_utf8_lossy(&buf)));
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    Answer {
        status: head[9..12].parse().unwrap(),
        head,
        body: buf[split + 4..].to_vec(),
    }
}

/// (path, protocol headers, content type answered, error header, expected error value)
const PROTOCOLS: [(&str, &str, &str, &str, &str); 4] = [
    (
        "/service/GraniteServiceVersion20100801/operation/PutMetricData",
        "Content-Type: application/cbor\r\nsmithy-protocol: rpc-v2-cbor\r\n",
        "application/cbor",
        "x-amzn-query-error",
        "RequestEntityTooLarge;Sender",
    ),
    (
        "/",
        "Content-Type: application/x-amz-json-1.0\r\nX-Amz-Target: GraniteServiceVersion20100801.PutMetricData\r\n",
        "application/x-amz-json-1.0",
        "x-amzn-query-error",
        "RequestEntityTooLarge;Sender",
    ),
    (
        "/TraceSegments",
        "Content-Type: application/json\r\n",
        "application/json",
        "x-amzn-errortype",
        "RequestEntityTooLarge",
    ),
    (
        "/",
        "Content-Type: application/x-amz-json-1.1\r\nX-Amz-Target: Logs_20140328.FilterLogEvents\r\n",
        "application/x-amz-json-1.1",
        "x-amzn-errortype",
        "RequestEntityTooLarge",
    ),
];

fn check(a: &Answer, content_type: &str, error_header: &str, error: &str) {
    assert_eq!(a.status, 413, "{}", a.head);
    assert_eq!(a.header("content-type"), Some(content_type), "{}", a.head);
    assert_eq!(a.header(error_header), Some(error), "{}", a.head);
    let type_name = if content_type == "application/cbor" {
        let v = cbor::decode(&a.body).expect("a CBOR error body");
        v.get("__type")
            .and_then(cbor::Value::as_str)
            .map(str::to_owned)
    } else {
        let v: serde_json::Value = serde_json::from_slice(&a.body).expect("a JSON error body");
        v["__type"].as_str().map(str::to_owned)
    };
    assert!(
        type_name.is_some_and(|t| t.contains("RequestEntityTooLarge")),
        "{}",
        a.head
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_length_over_16_mib_is_refused_in_the_request_protocol() {
    let sb = emulator(DEFAULT_RATE).await;
    for (path, headers, content_type, error_header, error) in PROTOCOLS {
        let head = format!("{headers}Content-Length: {}\r\n", LIMIT + 1);
        // Nothing of the body is sent: the declared length alone is refused.
        let a = post(&sb.api_url, path, &head, Vec::new()).await;
        check(&a, content_type, error_header, error);
    }
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_over_16_mib_is_refused_in_the_request_protocol() {
    let sb = emulator(DEFAULT_RATE).await;
    for (path, headers, content_type, error_header, error) in PROTOCOLS {
        let head = format!("{headers}Transfer-Encoding: chunked\r\n");
        // One chunk one byte over the limit, then the end.
        let size = LIMIT + 1;
        let mut body = format!("{size:x}\r\n").into_bytes();
        body.resize(body.len() + size, b' ');
        body.extend_from_slice(b"\r\n0\r\n\r\n");
        let a = post(&sb.api_url, path, &head, body).await;
        check(&a, content_type, error_header, error);
    }
    sb.stop().await;
}
