//! Tests of `h1`.

use super::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// A server that answers each connection's requests with `responses` in turn (one per
/// request head read), then closes.
async fn server(
    responses: Vec<&'static [u8]>,
) -> (reqwest::Url, tokio::task::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = reqwest::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let handle = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut seen = Vec::new();
        for r in responses {
            let mut buf = Vec::new();
            loop {
                let mut chunk = [0u8; 1024];
                let n = s.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
                if n == 0 || buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            seen.push(String::from_utf8_lossy(&buf).into_owned());
            s.write_all(r).await.unwrap();
        }
        seen
    });
    (url, handle)
}

async fn get(pool: &H1Pool, limit: usize) -> Result<Response, ErrorKind> {
    let request = pool
        .request(&reqwest::Method::GET, "/x", Some("a=1"))
        .finish(None);
    pool.exchange(&request, true, true, limit).await
}

fn wire(pool: &H1Pool, method: &reqwest::Method, path: &str, query: Option<&str>) -> String {
    let mut request = pool.request(method, path, query);
    request.header("x-a", b"1");
    request.header("x-bad", b"no\r\nx-injected: 1");
    request.header_with("x-b", |out| out.extend_from_slice(b"2"));
    let body = (*method == reqwest::Method::POST).then_some(&b"{}"[..]);
    String::from_utf8(request.finish(body).bytes).unwrap()
}

#[test]
fn requests_keep_the_base_path_encode_what_needs_it_and_skip_bad_values() {
    let pool = H1Pool::new(&reqwest::Url::parse("http://127.0.0.1:9/prod/").unwrap()).unwrap();
    assert_eq!(
        wire(&pool, &reqwest::Method::GET, "/items/42", None),
        "GET /prod/items/42 HTTP/1.1\r\nhost: 127.0.0.1:9\r\nx-a: 1\r\nx-b: 2\r\n\r\n"
    );
    assert_eq!(
        wire(
            &pool,
            &reqwest::Method::POST,
            "/search/red shoes",
            Some("q=a+b&x=%26")
        ),
        "POST /prod/search/red%20shoes?q=a+b&x=%26 HTTP/1.1\r\nhost: 127.0.0.1:9\r\n\
         x-a: 1\r\nx-b: 2\r\ncontent-length: 2\r\n\r\n{}"
    );
    let root = H1Pool::new(&reqwest::Url::parse("http://localhost").unwrap()).unwrap();
    assert_eq!(
        wire(&root, &reqwest::Method::PUT, "/", None),
        "PUT / HTTP/1.1\r\nhost: localhost\r\nx-a: 1\r\nx-b: 2\r\ncontent-length: 0\r\n\r\n"
    );
}

#[tokio::test]
async fn a_body_not_kept_is_still_counted_and_the_connection_reused() {
    let (url, server) = server(vec![
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    ])
    .await;
    let pool = H1Pool::new(&url).unwrap();
    let request = pool.request(&reqwest::Method::GET, "/", None).finish(None);
    let (status, headers, body, bytes) = pool.exchange(&request, false, false, 1024).await.unwrap();
    assert_eq!((status, body.len(), bytes, headers.len()), (200, 0, 5, 0));
    let (_, _, _, bytes) = pool.exchange(&request, false, false, 1024).await.unwrap();
    assert_eq!(bytes, 2);
    assert_eq!(server.await.unwrap().len(), 2, "one connection");
}

#[tokio::test]
async fn content_length_then_chunked_on_one_connection() {
    let (url, server) = server(vec![
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Id: 7\r\n\r\nok",
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n",
    ])
    .await;
    let pool = H1Pool::new(&url).unwrap();
    let (status, headers, body, bytes) = get(&pool, 1024).await.unwrap();
    assert_eq!((status, body.as_slice(), bytes), (200, &b"ok"[..], 2));
    assert_eq!(headers.get("x-id").unwrap(), "7");
    let (status, _, body, bytes) = get(&pool, 1024).await.unwrap();
    assert_eq!((status, body.as_slice(), bytes), (201, &b"abcde"[..], 5));
    let seen = server.await.unwrap();
    assert_eq!(seen.len(), 2, "both requests went on the one connection");
    assert!(
        seen[0].starts_with("GET /x?a=1 HTTP/1.1\r\nhost: 127.0.0.1:"),
        "{}",
        seen[0]
    );
}

#[tokio::test]
async fn body_is_kept_up_to_the_limit_and_until_close_is_read_to_the_end() {
    let mut big = b"HTTP/1.1 200 OK\r\nContent-Length: 500000\r\n\r\n".to_vec();
    big.resize(big.len() + 500_000, b'x');
    let (url, _server) = server(vec![
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789",
        Box::leak(big.into_boxed_slice()),
    ])
    .await;
    let pool = H1Pool::new(&url).unwrap();
    let (_, _, body, bytes) = get(&pool, 4).await.unwrap();
    assert_eq!((body.as_slice(), bytes), (&b"0123"[..], 10));
    let (_, _, body, bytes) = get(&pool, 4).await.unwrap();
    assert_eq!(body, b"xxxx", "the second request reused the connection");
    assert!(
        bytes < 500_000,
        "reading stopped at the limit ({bytes} bytes read)"
    );
    assert!(
        pool.checkout().is_none(),
        "a cut body leaves the connection unusable"
    );

    let (url, _server) = server(vec![b"HTTP/1.0 200 OK\r\n\r\nuntil close"]).await;
    let pool = H1Pool::new(&url).unwrap();
    let (status, _, body, _) = get(&pool, 1024).await.unwrap();
    assert_eq!((status, body.as_slice()), (200, &b"until close"[..]));
}

#[tokio::test]
async fn connection_close_and_chunked_are_read_whatever_their_case() {
    let (url, _server) = server(vec![
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked \r\nConnection: Close\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    ])
    .await;
    let pool = H1Pool::new(&url).unwrap();
    let (status, _, body, _) = get(&pool, 16).await.unwrap();
    assert_eq!((status, body.as_slice()), (200, &b"ok"[..]));
    assert!(
        pool.checkout().is_none(),
        "`Connection: Close` is not kept alive"
    );
}

#[tokio::test]
async fn errors_are_classified() {
    let (url, _server) = server(vec![b"garbage\r\n\r\n"]).await;
    let pool = H1Pool::new(&url).unwrap();
    assert_eq!(get(&pool, 16).await.unwrap_err(), ErrorKind::Protocol);

    let (url, _server) = server(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"]).await;
    let pool = H1Pool::new(&url).unwrap();
    assert_eq!(
        get(&pool, 16).await.unwrap_err(),
        ErrorKind::ConnectionReset
    );

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = reqwest::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    drop(listener);
    let pool = H1Pool::new(&url).unwrap();
    assert_eq!(get(&pool, 16).await.unwrap_err(), ErrorKind::ConnectRefused);
}

#[tokio::test]
async fn a_connection_closed_while_idle_is_replaced() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = reqwest::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move {
        // Each connection answers one request, then closes without saying so.
        for _ in 0..2 {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na")
                .await
                .unwrap();
        }
    });
    let pool = H1Pool::new(&url).unwrap();
    assert_eq!(get(&pool, 16).await.unwrap().0, 200);
    // Whether the close arrives before or after the second request is written, the
    // request fails before any response byte and goes again on a new connection.
    assert_eq!(
        get(&pool, 16).await.unwrap().0,
        200,
        "retried on a new connection"
    );
}
