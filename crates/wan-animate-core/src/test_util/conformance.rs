//! A conformance suite for [`HttpClient`] backends over real loopback sockets: any backend
//! (the reqwest adapter, yours) runs [`run_all`] in a test and must pass every check.
//!
//! The suite starts its own minimal HTTP/1.1 server on 127.0.0.1 and checks: method, path,
//! headers and body arrive intact; a streamed request body of unknown length is sent whole
//! without being buffered first; a large response body streams in chunks; a refused connection
//! is `is_connect()` with `was_request_sent() == Some(false)`; redirects are not followed.

use std::net::SocketAddr;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::http::{BoxError, HttpClient, RequestBody, SharedHttpClient};

/// The size of the streamed request and response bodies.
pub const STREAM_BYTES: usize = 8 * 1024 * 1024;

/// Runs every check against the backend, panicking with a message on the first failure.
pub async fn run_all(client: impl HttpClient) {
    let client = SharedHttpClient::new(client);
    let addr = serve().await;
    round_trip(&client, addr).await;
    streamed_request(&client, addr).await;
    streamed_response(&client, addr).await;
    redirect_not_followed(&client, addr).await;
    connect_refused(&client).await;
}

async fn read_request(s: &mut tokio::net::TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut data = Vec::new();
    let split = loop {
        let n = s.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(p) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&data[..split]).to_string();
    let lower = head.to_ascii_lowercase();
    let mut body = data[split..].to_vec();
    if let Some(len) = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        while body.len() < len {
            let n = s.read(&mut buf).await.ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buf[..n]);
        }
    } else if lower.contains("transfer-encoding: chunked") {
        // Decode chunked bodies (streams of unknown length).
        let mut raw = body;
        let mut out = Vec::new();
        loop {
            if let Some(p) = raw.windows(2).position(|w| w == b"\r\n") {
                let size =
                    usize::from_str_radix(String::from_utf8_lossy(&raw[..p]).trim(), 16).ok()?;
                if raw.len() >= p + 2 + size + 2 {
                    if size == 0 {
                        break;
                    }
                    out.extend_from_slice(&raw[p + 2..p + 2 + size]);
                    raw.drain(..p + 2 + size + 2);
                    continue;
                }
            }
            let n = s.read(&mut buf).await.ok()?;
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
        }
        body = out;
    }
    Some((head, body))
}

async fn serve() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let Some((head, body)) = read_request(&mut s).await else {
                    return;
                };
                let first = head.lines().next().unwrap_or_default().to_owned();
                let reply: Vec<u8> = if first.starts_with("GET /stream ") {
                    let _ = s
                        .write_all(
                            format!("HTTP/1.1 200 OK\r\ncontent-length: {STREAM_BYTES}\r\n\r\n")
                                .as_bytes(),
                        )
                        .await;
                    let chunk = vec![9u8; 64 * 1024];
                    for _ in 0..STREAM_BYTES / chunk.len() {
                        if s.write_all(&chunk).await.is_err() {
                            return;
                        }
                    }
                    return;
                } else if first.starts_with("GET /redirect ") {
                    b"HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:9/elsewhere\r\ncontent-length: 0\r\n\r\n".to_vec()
                } else {
                    // Echo: the request line, headers and body length, then the body.
                    let summary = format!(
                        "{}\n{}\nbody-bytes: {}\n",
                        first,
                        head.to_ascii_lowercase(),
                        body.len()
                    );
                    let mut out = format!(
                        "HTTP/1.1 200 OK\r\nx-echo-len: {}\r\ncontent-length: {}\r\n\r\n",
                        body.len(),
                        summary.len() + body.len().min(1024)
                    )
                    .into_bytes();
                    out.extend_from_slice(summary.as_bytes());
                    out.extend_from_slice(&body[..body.len().min(1024)]);
                    out
                };
                let _ = s.write_all(&reply).await;
            });
        }
    });
    addr
}

async fn round_trip(client: &SharedHttpClient, addr: SocketAddr) {
    let req = http::Request::post(format!("http://{addr}/echo/path?q=1"))
        .header("x-conformance", "yes")
        .header("content-type", "application/json")
        .body(RequestBody::from(r#"{"hello":"world"}"#))
        .expect("request");
    let resp = client.send(req).await.expect("round trip");
    assert_eq!(resp.status(), 200, "status");
    let body = resp.into_body().collect(1 << 20).await.expect("body");
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.starts_with("POST /echo/path?q=1 HTTP/1.1"),
        "method and path arrive intact: {text}"
    );
    assert!(
        text.contains("x-conformance: yes"),
        "headers arrive intact: {text}"
    );
    assert!(
        text.ends_with(r#"{"hello":"world"}"#),
        "the body arrives intact: {text}"
    );
}

async fn streamed_request(client: &SharedHttpClient, addr: SocketAddr) {
    // Generated lazily, length unknown to the backend: it must stream, not require a length.
    let chunks = futures_util::stream::iter(
        (0..STREAM_BYTES / (64 * 1024))
            .map(|_| Ok::<_, BoxError>(Bytes::from(vec![1u8; 64 * 1024]))),
    );
    let req = http::Request::post(format!("http://{addr}/upload"))
        .body(RequestBody::from_stream(chunks, None))
        .expect("request");
    let resp = client.send(req).await.expect("streamed upload");
    let got: usize = resp
        .headers()
        .get("x-echo-len")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert_eq!(got, STREAM_BYTES, "the whole streamed body arrives");
}

async fn streamed_response(client: &SharedHttpClient, addr: SocketAddr) {
    let req = http::Request::get(format!("http://{addr}/stream"))
        .body(RequestBody::empty())
        .expect("request");
    let mut body = client.send(req).await.expect("download").into_body();
    let (mut total, mut chunks) = (0usize, 0usize);
    while let Some(chunk) = body.chunk().await {
        total += chunk.expect("chunk").len();
        chunks += 1;
    }
    assert_eq!(total, STREAM_BYTES, "the whole response arrives");
    assert!(
        chunks > 1,
        "the response is streamed in chunks, not buffered whole ({chunks} chunk)"
    );
}

async fn redirect_not_followed(client: &SharedHttpClient, addr: SocketAddr) {
    let req = http::Request::get(format!("http://{addr}/redirect"))
        .body(RequestBody::empty())
        .expect("request");
    let resp = client.send(req).await.expect("redirect answer");
    assert_eq!(
        resp.status(),
        302,
        "redirects are returned, never followed (the key must not travel)"
    );
}

async fn connect_refused(client: &SharedHttpClient) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    let req = http::Request::get(format!("http://{addr}/"))
        .body(RequestBody::empty())
        .expect("request");
    let e = client.send(req).await.expect_err("nothing listens there");
    assert!(e.is_connect(), "a refused connection is is_connect(): {e}");
    assert_eq!(
        e.was_request_sent(),
        Some(false),
        "a refused connection provably sent nothing"
    );
}
