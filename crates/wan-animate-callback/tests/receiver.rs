//! The receiver over real loopback HTTP: authentication, bounds, parsing, deduplication,
//! shutdown. Every test starts its own server on `127.0.0.1:0` and stops it; every wait is
//! bounded.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wan_animate_callback::*;
use wan_animate_types::TaskStatus;

const TOKEN: &str = "tok-5f0c1d2e3a4b59687786a5b4c3d2e1f0";
const BOUND: Duration = Duration::from_secs(20);

fn fixture() -> String {
    let path = format!(
        "{}/../wan-animate-types/tests/fixtures/events/eventbridge_async_task_finish.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn event_json(id: &str, task_id: &str, status: &str) -> String {
    let mut v: Value = serde_json::from_str(&fixture()).unwrap();
    v["id"] = json!(id);
    v["data"]["task_id"] = json!(task_id);
    v["data"]["task_status"] = json!(status);
    v.to_string()
}

async fn start(builder: CallbackServerBuilder) -> (CallbackServer, Events) {
    builder.bind("127.0.0.1:0").await.expect("bind loopback")
}

fn token() -> CallbackToken {
    CallbackToken::new(TOKEN).unwrap()
}

/// One HTTP/1.1 request on a fresh connection; returns the status and the body.
async fn raw(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    tokio::time::timeout(BOUND, async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        // The server may answer (413) before reading everything; a refused write is fine.
        let _ = stream.write_all(body).await;
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response).await;
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {text:?}"));
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    })
    .await
    .expect("the request finished in time")
}

async fn post(
    addr: SocketAddr,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut head = format!(
        "POST {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json;charset=utf-8\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    raw(addr, &head, body.as_bytes()).await
}

async fn post_event(addr: SocketAddr, body: &str) -> (u16, String) {
    post(
        addr,
        "/",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        body,
    )
    .await
}

async fn stop(server: CallbackServer, mut events: Events) -> Vec<TaskCompletionEvent> {
    tokio::time::timeout(BOUND, server.shutdown())
        .await
        .expect("shutdown in time");
    let mut rest = Vec::new();
    while let Some(e) = tokio::time::timeout(BOUND, events.recv())
        .await
        .expect("events end after shutdown")
    {
        rest.push(e);
    }
    rest
}

/// Captures every log line of this thread (the tests run on a current-thread runtime).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let logs = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || logs.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn missing_or_wrong_token_gets_401_without_detail_delivers_nothing_and_is_never_logged() {
    let logs = Logs::default();
    let _guard = logs.install();
    let (server, mut events) = start(CallbackServer::builder(token())).await;
    let addr = server.local_addr();
    let body = event_json("e-1", "t-1", "SUCCEEDED");
    let wrong = "wrong-7c1b2a3d4e5f60718293a4b5c6d7e8f9";
    let right_elsewhere = [("X-Callback-Token", TOKEN)];
    let bearer_wrong = format!("Bearer {wrong}");
    let bearer_prefix = format!("Bearer {}", &TOKEN[..TOKEN.len() - 1]);
    let bearer_longer = format!("Bearer {TOKEN}x");
    let basic = format!("Basic {TOKEN}");
    let raw_token = TOKEN.to_string();
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![("Authorization", &bearer_wrong)],
        vec![("Authorization", &bearer_prefix)],
        vec![("Authorization", &bearer_longer)],
        vec![("Authorization", &basic)],
        vec![("Authorization", &raw_token)],
        right_elsewhere.to_vec(),
    ];
    for headers in &cases {
        let (status, reply) = post(addr, "/", headers, &body).await;
        assert_eq!(status, 401, "{headers:?}");
        assert_eq!(reply, "", "a 401 says nothing: {headers:?}");
    }
    let query = format!("/?token={TOKEN}");
    assert_eq!(
        post(addr, &query, &[], &body).await.0,
        401,
        "query not configured"
    );
    assert!(events.try_recv().is_none(), "nothing delivered");
    assert_eq!(server.stats().unauthorized, cases.len() as u64 + 1);
    assert_eq!(server.stats().delivered, 0);

    // The right token is accepted, so the logs below are not empty by accident.
    assert_eq!(post_event(addr, &body).await.0, 200);
    assert_eq!(events.recv().await.unwrap().data.task_id, "t-1");
    stop(server, events).await;
    let text = logs.text();
    assert!(text.contains("rejected a request"), "{text}");
    assert!(text.contains("completion event delivered"), "{text}");
    assert!(
        !text.contains(TOKEN),
        "the token leaked into the logs:\n{text}"
    );
    assert!(
        !text.contains(wrong),
        "a presented secret leaked into the logs:\n{text}"
    );
    assert!(!format!("{:?}", token()).contains(TOKEN));
}

#[tokio::test]
async fn a_custom_header_or_query_parameter_carries_the_token_instead() {
    let header = TokenLocation::header("X-Callback-Token").unwrap();
    let (server, mut events) = start(CallbackServer::builder(token()).token_location(header)).await;
    let addr = server.local_addr();
    let body = event_json("e-h", "t-h", "SUCCEEDED");
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(
        post(addr, "/", &[("Authorization", &bearer)], &body)
            .await
            .0,
        401
    );
    assert_eq!(
        post(addr, "/", &[("x-callback-token", TOKEN)], &body)
            .await
            .0,
        200
    );
    assert_eq!(events.recv().await.unwrap().id, "e-h");
    stop(server, events).await;

    let query = TokenLocation::query("token").unwrap();
    let (server, mut events) = start(CallbackServer::builder(token()).token_location(query)).await;
    let addr = server.local_addr();
    assert_eq!(post(addr, "/hook?token=nope", &[], &body).await.0, 401);
    assert_eq!(
        post(addr, "/hook", &[("Authorization", &bearer)], &body)
            .await
            .0,
        401
    );
    let target = format!("/hook?a=1&token={TOKEN}");
    assert_eq!(post(addr, &target, &[], &body).await.0, 200);
    assert_eq!(events.recv().await.unwrap().id, "e-h");
    stop(server, events).await;
}

#[tokio::test]
async fn bodies_beyond_the_cap_get_413_and_the_cap_itself_is_accepted() {
    let (server, mut events) = start(CallbackServer::builder(token())).await;
    let addr = server.local_addr();
    let auth = format!("Authorization: Bearer {TOKEN}\r\n");

    // Declared too large: refused from the header, before any body byte is read.
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}Content-Length: {}\r\n\r\n",
        DEFAULT_MAX_BODY_BYTES + 1
    );
    let (status, reply) = raw(addr, &head, b"").await;
    assert_eq!(status, 413);
    assert!(reply.contains("larger than 262144 bytes"), "{reply}");

    // Exactly at the cap (an event padded with whitespace): accepted.
    let mut body = event_json("e-cap", "t-cap", "SUCCEEDED");
    body.push_str(&" ".repeat(DEFAULT_MAX_BODY_BYTES - body.len()));
    assert_eq!(post_event(addr, &body).await.0, 200);
    assert_eq!(events.recv().await.unwrap().id, "e-cap");
    assert_eq!(server.stats().too_large, 1);
    stop(server, events).await;

    // Undeclared (chunked) and too large: cut off while reading.
    let (server, mut events) = start(CallbackServer::builder(token()).max_body_bytes(1000)).await;
    let addr = server.local_addr();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}Transfer-Encoding: chunked\r\n\r\n"
    );
    let chunk = " ".repeat(600);
    let body = format!("258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n");
    assert_eq!(raw(addr, &head, body.as_bytes()).await.0, 413);
    assert!(events.try_recv().is_none());
    assert_eq!(server.stats().too_large, 1);
    stop(server, events).await;
}

#[tokio::test]
async fn malformed_bodies_get_400_and_deliver_nothing() {
    let (server, mut events) = start(CallbackServer::builder(token())).await;
    let addr = server.local_addr();
    let missing_task = {
        let mut v: Value = serde_json::from_str(&fixture()).unwrap();
        v["data"].as_object_mut().unwrap().remove("task_id");
        v.to_string()
    };
    let bad_time = {
        let mut v: Value = serde_json::from_str(&fixture()).unwrap();
        v["data"]["end_time"] = json!([1]);
        v.to_string()
    };
    let bodies = [
        "",
        "{",
        "not json",
        "\u{0}\u{1}\u{2}",
        "[]",
        "null",
        "{}",
        r#"{"id":"e","data":{}}"#,
        &missing_task,
        &bad_time,
        &fixture()[..fixture().len() / 2],
    ];
    for body in bodies {
        let (status, reply) = post_event(addr, body).await;
        assert_eq!(status, 400, "{body:?}");
        assert!(reply.contains("error"), "{reply}");
    }
    let (_, reply) = post_event(addr, "{").await;
    assert!(reply.contains("not JSON"), "{reply}");
    let (_, reply) = post_event(addr, &missing_task).await;
    assert!(reply.contains("task_id"), "{reply}");
    assert!(events.try_recv().is_none());
    assert_eq!(server.stats().malformed, bodies.len() as u64 + 2);
    assert_eq!(server.stats().delivered, 0);
    stop(server, events).await;
}

#[tokio::test]
async fn duplicates_and_reordered_redeliveries_are_delivered_once() {
    let (server, events) = start(CallbackServer::builder(token())).await;
    let addr = server.local_addr();
    let a = event_json("e-a", "t-a", "SUCCEEDED");
    let b = event_json("e-b", "t-b", "FAILED");
    let b_again_new_id = event_json("e-b-2", "t-b", "FAILED");
    let c = event_json("e-c", "t-c", "CANCELED");
    // At-least-once delivery, out of order: b before a's retry, a retried twice, b announced
    // again under another id, then a new event.
    for body in [&b, &a, &b, &a, &b_again_new_id, &a, &c, &b] {
        let (status, reply) = post_event(addr, body).await;
        assert_eq!(status, 200, "{reply}");
    }
    let delivered: Vec<(String, TaskStatus)> = stop(server, events)
        .await
        .into_iter()
        .map(|e| (e.data.task_id, e.data.task_status))
        .collect();
    assert_eq!(
        delivered,
        [
            ("t-b".into(), TaskStatus::Failed),
            ("t-a".into(), TaskStatus::Succeeded),
            ("t-c".into(), TaskStatus::Canceled),
        ]
    );
}

#[tokio::test]
async fn duplicate_replies_say_so_and_stats_count_them() {
    let (server, events) = start(CallbackServer::builder(token())).await;
    let addr = server.local_addr();
    let a = event_json("e-a", "t-a", "SUCCEEDED");
    assert!(post_event(addr, &a).await.1.contains("accepted"));
    assert!(post_event(addr, &a).await.1.contains("duplicate"));
    let stats = server.stats();
    assert_eq!((stats.delivered, stats.duplicates), (1, 1));
    stop(server, events).await;
}

#[tokio::test]
async fn events_of_other_sources_or_types_are_acknowledged_and_ignored() {
    let (server, events) = start(CallbackServer::builder(token())).await;
    let addr = server.local_addr();
    let mut other: Value = serde_json::from_str(&fixture()).unwrap();
    other["type"] = json!("dashscope:System:SomethingElse");
    let (status, reply) = post_event(addr, &other.to_string()).await;
    assert_eq!(status, 200);
    assert!(reply.contains("ignored"), "{reply}");
    let foreign = json!({"source": "acs.oss", "type": "oss:ObjectCreated:PutObject", "data": {}});
    assert_eq!(post_event(addr, &foreign.to_string()).await.0, 200);
    assert_eq!(server.stats().ignored, 2);
    assert!(stop(server, events).await.is_empty());
}

#[tokio::test]
async fn other_methods_get_405_after_authentication() {
    let (server, events) = start(CallbackServer::builder(token())).await;
    let addr = server.local_addr();
    let head = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    );
    assert_eq!(raw(addr, &head, b"").await.0, 405);
    let head = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_eq!(raw(addr, head, b"").await.0, 401);
    stop(server, events).await;
}

#[tokio::test]
async fn hostile_requests_never_stop_the_server() {
    let (server, mut events) = start(CallbackServer::builder(token())).await;
    let addr = server.local_addr();
    let garbage: [&[u8]; 5] = [
        b"\x00\x01\x02\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        b"POST / HTTP/1.1\r\nAuthorization: Bearer \xff\xfe\r\nContent-Length: 0\r\n\r\n",
        b"POST /%ff%00?token=%zz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    ];
    for request in garbage {
        tokio::time::timeout(BOUND, async {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let _ = s.write_all(request).await;
            let _ = s.shutdown().await;
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink).await;
        })
        .await
        .expect("the server answered or closed in time");
    }
    // Still serving.
    assert_eq!(
        post_event(addr, &event_json("e-ok", "t-ok", "SUCCEEDED"))
            .await
            .0,
        200
    );
    assert_eq!(events.recv().await.unwrap().id, "e-ok");
    stop(server, events).await;
}

#[tokio::test]
async fn shutdown_ends_the_event_stream_and_closes_the_port() {
    let (server, mut events) = start(CallbackServer::builder(token())).await;
    let addr = server.local_addr();
    assert_eq!(
        post_event(addr, &event_json("e-1", "t-1", "SUCCEEDED"))
            .await
            .0,
        200
    );
    tokio::time::timeout(BOUND, server.shutdown())
        .await
        .unwrap();
    assert_eq!(
        events.recv().await.unwrap().id,
        "e-1",
        "queued events survive"
    );
    assert!(events.recv().await.is_none());
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

#[tokio::test]
async fn when_no_one_receives_events_the_sender_is_told_to_retry() {
    let (server, events) = start(CallbackServer::builder(token())).await;
    let addr = server.local_addr();
    drop(events);
    let body = event_json("e-1", "t-1", "SUCCEEDED");
    assert_eq!(post_event(addr, &body).await.0, 503);
    // Not remembered as delivered: a retry is not taken for a duplicate.
    assert_eq!(post_event(addr, &body).await.0, 503);
    assert_eq!(server.stats().duplicates, 0);
    tokio::time::timeout(BOUND, server.shutdown())
        .await
        .unwrap();
}

/// Reads one response (headers and a Content-Length body) from a kept-alive connection.
async fn read_response(stream: &mut TcpStream) -> u16 {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(
            stream.read(&mut byte).await.unwrap(),
            1,
            "connection closed early"
        );
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let length: usize = head
        .split("content-length:")
        .nth(1)
        .and_then(|r| r.split("\r\n").next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.unwrap();
    head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap()
}

#[tokio::test]
async fn shutdown_returns_and_events_end_even_with_a_stalled_request() {
    let builder = CallbackServer::builder(token()).shutdown_grace(Duration::from_millis(200));
    let (server, mut events) = start(builder).await;
    let addr = server.local_addr();
    // A kept-alive connection: one complete event, then half a request and nothing more.
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    let body = event_json("e-1", "t-1", "SUCCEEDED");
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    stalled.write_all(body.as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut stalled).await, 200);
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 500\r\n\r\n{{"
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    // Let the server start on the stalled request (not an assertion: only ordering).
    tokio::time::sleep(Duration::from_millis(50)).await;
    tokio::time::timeout(BOUND, server.shutdown())
        .await
        .expect("shutdown is bounded by its grace");
    assert_eq!(events.recv().await.unwrap().id, "e-1");
    let end = tokio::time::timeout(BOUND, events.recv()).await;
    assert!(matches!(end, Ok(None)), "events end after shutdown");
    drop(stalled);
}
