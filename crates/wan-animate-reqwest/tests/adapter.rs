//! The reqwest adapter against wiremock and raw loopback sockets: exact method, path (with a
//! proxy prefix), headers and body of every operation; transport error predicates; streamed
//! bodies in both directions.

use std::time::Duration;

use futures_util::StreamExt;
use wan_animate_reqwest::http::{HttpClient, RequestBody};
use wan_animate_reqwest::types::{CreateTaskRequest, ListTasksQuery, Mode, Model, TaskStatus};
use wan_animate_reqwest::{ClientConfig, ReqwestClient, RetryPolicy};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "sk-test-SECRET123";

fn client(server: &MockServer) -> wan_animate_reqwest::Client {
    let config = ClientConfig::new(KEY)
        .with_base_url(format!("{}/qwen/api/v1", server.uri()))
        .unwrap()
        .with_workspace("ws-1")
        .with_retry(RetryPolicy::none());
    wan_animate_reqwest::client(config).unwrap()
}

#[tokio::test]
async fn submit_sends_the_documented_request_through_a_proxy_prefix() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/qwen/api/v1/services/aigc/image2video/video-synthesis"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .and(header("x-dashscope-async", "enable"))
        .and(header("x-dashscope-workspace", "ws-1"))
        .and(header("content-type", "application/json"))
        .and(body_json(serde_json::json!({
            "model": "wan2.2-animate-move",
            "input": {"image_url": "https://x/p.jpg", "video_url": "https://x/v.mp4", "watermark": true},
            "parameters": {"mode": "wan-pro", "check_image": false}
        })))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"output":{"task_status":"PENDING","task_id":"t-9"},"request_id":"r-9"}"#))
        .expect(1)
        .mount(&server)
        .await;
    let req = CreateTaskRequest::new(
        Model::AnimateMove,
        "https://x/p.jpg",
        "https://x/v.mp4",
        Mode::Pro,
    )
    .with_watermark(true)
    .with_check_image(false);
    let task = client(&server).submit(&req).await.unwrap();
    assert_eq!(
        (task.task_id.as_str(), task.request_id.as_deref()),
        ("t-9", Some("r-9"))
    );
    let received = &server.received_requests().await.unwrap()[0];
    assert!(
        received
            .headers
            .get("x-dashscope-ossresourceresolve")
            .is_none(),
        "https inputs need no resolve header"
    );
}

#[tokio::test]
async fn oss_inputs_carry_the_resolve_header() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("x-dashscope-ossresourceresolve", "enable"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(r#"{"output":{"task_status":"PENDING","task_id":"t-1"}}"#),
        )
        .expect(1)
        .mount(&server)
        .await;
    let req = CreateTaskRequest::new(
        Model::AnimateMix,
        "oss://dashscope-instant/a/p.jpg",
        "oss://dashscope-instant/a/v.mp4",
        Mode::Standard,
    );
    client(&server).submit(&req).await.unwrap();
}

#[tokio::test]
async fn get_cancel_and_list_use_the_documented_paths_and_queries() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/qwen/api/v1/tasks/t-1"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"request_id":"r","output":{"task_id":"t-1","task_status":"RUNNING"}}"#,
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/qwen/api/v1/tasks/t-1/cancel"))
        .respond_with(ResponseTemplate::new(400).set_body_string(r#"{"request_id":"r2","code":"UnsupportedOperation","message":"Failed to cancel the task, please confirm if the task is in PENDING status."}"#))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/qwen/api/v1/tasks"))
        .and(query_param("model_name", "wan2.2-animate-mix"))
        .and(query_param("status", "SUCCEEDED"))
        .and(query_param("page_no", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"request_id":"r3","total":11,"total_page":2,"page_no":2,"page_size":10,"data":[{"task_id":"t-11","status":"SUCCEEDED","gmt_create":1700000000000}]}"#))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    assert_eq!(
        c.get("t-1").await.unwrap().output.task_status,
        TaskStatus::Running
    );
    let e = c.cancel("t-1").await.unwrap_err();
    assert_eq!(
        (e.code(), e.http_status(), e.request_id()),
        (Some("UnsupportedOperation"), Some(400), Some("r2"))
    );
    let page = c
        .list(
            &ListTasksQuery::new()
                .with_model_name("wan2.2-animate-mix")
                .with_status(TaskStatus::Succeeded)
                .with_page_no(2),
        )
        .await
        .unwrap();
    assert_eq!(page.data[0].task_id, "t-11");
}

#[tokio::test]
async fn list_all_walks_every_page() {
    let server = MockServer::start().await;
    for page in 1..=3 {
        Mock::given(method("GET"))
            .and(path("/qwen/api/v1/tasks"))
            .and(query_param("page_no", page.to_string().as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_string(format!(
                r#"{{"total":3,"total_page":3,"page_no":{page},"page_size":1,"data":[{{"task_id":"t-{page}","status":"SUCCEEDED"}}]}}"#
            )))
            .expect(1)
            .mount(&server)
            .await;
    }
    let all: Vec<_> = client(&server)
        .list_all(ListTasksQuery::new().with_page_size(1))
        .collect()
        .await;
    let ids: Vec<String> = all.into_iter().map(|t| t.unwrap().task_id).collect();
    assert_eq!(ids, ["t-1", "t-2", "t-3"]);
}

#[tokio::test]
async fn connect_refused_reports_that_the_request_was_not_sent() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let req = http::Request::get(format!("http://{addr}/x"))
        .body(RequestBody::empty())
        .unwrap();
    let e = ReqwestClient::new().unwrap().send(req).await.unwrap_err();
    assert!(e.is_connect(), "{e}");
    assert_eq!(e.was_request_sent(), Some(false));
}

#[tokio::test]
async fn a_stalled_server_is_a_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _server = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            if let Ok((s, _)) = listener.accept().await {
                held.push(s); // accept, never answer
            }
        }
    });
    let backend =
        ReqwestClient::from_builder(ReqwestClient::builder().timeout(Duration::from_millis(300)))
            .unwrap();
    let req = http::Request::get(format!("http://{addr}/x"))
        .body(RequestBody::empty())
        .unwrap();
    let e = backend.send(req).await.unwrap_err();
    assert!(e.is_timeout(), "{e}");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(302).insert_header("location", "https://elsewhere.example/"),
        )
        .mount(&server)
        .await;
    let req = http::Request::get(format!("{}/r", server.uri()))
        .body(RequestBody::empty())
        .unwrap();
    let resp = ReqwestClient::new().unwrap().send(req).await.unwrap();
    assert_eq!(resp.status(), 302);
}

/// A raw loopback server that counts the bytes of one request body and answers with a
/// streamed body of `reply_len` bytes.
async fn counting_server(
    reply_len: usize,
) -> (std::net::SocketAddr, tokio::sync::oneshot::Receiver<usize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut head = Vec::new();
        let body_start;
        loop {
            let n = s.read(&mut buf).await.unwrap();
            head.extend_from_slice(&buf[..n]);
            if let Some(p) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                body_start = p + 4;
                break;
            }
        }
        let text = String::from_utf8_lossy(&head[..body_start]).to_ascii_lowercase();
        let len: usize = text
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0);
        let mut got = head.len() - body_start;
        while got < len {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got += n;
        }
        let _ = tx.send(got);
        s.write_all(format!("HTTP/1.1 200 OK\r\ncontent-length: {reply_len}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let chunk = vec![7u8; 64 * 1024];
        let mut sent = 0;
        while sent < reply_len {
            let n = chunk.len().min(reply_len - sent);
            s.write_all(&chunk[..n]).await.unwrap();
            sent += n;
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn bodies_stream_in_both_directions() {
    const UP: u64 = 32 * 1024 * 1024;
    const DOWN: usize = 16 * 1024 * 1024;
    let (addr, got) = counting_server(DOWN).await;
    // A lazily generated 32 MiB upload: never held in memory.
    let chunks = futures_util::stream::iter((0..UP / (1024 * 1024)).map(|_| {
        Ok::<_, wan_animate_reqwest::http::BoxError>(bytes::Bytes::from(vec![1u8; 1024 * 1024]))
    }));
    let req = http::Request::post(format!("http://{addr}/up"))
        .header("content-length", UP)
        .body(RequestBody::from_stream(chunks, Some(UP)))
        .unwrap();
    let resp = ReqwestClient::new().unwrap().send(req).await.unwrap();
    assert_eq!(got.await.unwrap() as u64, UP);
    let mut body = resp.into_body();
    let (mut total, mut chunks) = (0usize, 0usize);
    while let Some(chunk) = body.chunk().await {
        total += chunk.unwrap().len();
        chunks += 1;
    }
    assert_eq!(total, DOWN);
    assert!(
        chunks > 1,
        "the response arrived in {chunks} chunk(s): it was not streamed"
    );
}

#[tokio::test]
async fn the_reqwest_backend_passes_the_conformance_suite() {
    wan_animate_reqwest::test_util::conformance::run_all(ReqwestClient::new().unwrap()).await;
}
