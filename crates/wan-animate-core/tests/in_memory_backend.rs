//! The in-memory backend passes the parts of the conformance suite that apply without a
//! network: method, path, headers and body arrive intact, streamed request bodies of unknown
//! length are consumed whole, failures surface with their predicates.

use bytes::Bytes;
use wan_animate_core::http::{BoxError, HttpClient, RequestBody, TransportError};
use wan_animate_core::test_util::{MockHttp, MockReply};

fn echo() -> MockHttp {
    MockHttp::new(|req| MockReply::Response {
        status: 200,
        headers: vec![("x-echo-len".into(), req.body.len().to_string())],
        body: Bytes::from(format!(
            "{} {} {}",
            req.method,
            req.uri,
            req.header("x-conformance").unwrap_or("-")
        )),
    })
}

#[tokio::test]
async fn method_path_headers_and_body_round_trip() {
    let http = echo();
    let req = http::Request::post("http://mem/echo?q=1")
        .header("x-conformance", "yes")
        .body(RequestBody::from("payload"))
        .unwrap();
    let resp = http.send(req).await.unwrap();
    assert_eq!(resp.headers()["x-echo-len"], "7");
    let body = resp.into_body().collect(1024).await.unwrap();
    assert_eq!(&body[..], b"POST http://mem/echo?q=1 yes");
    assert_eq!(&http.requests()[0].body[..], b"payload");
}

#[tokio::test]
async fn streamed_request_bodies_of_unknown_length_arrive_whole() {
    let http = echo();
    let chunks = futures_util::stream::iter(
        (0..64).map(|_| Ok::<_, BoxError>(Bytes::from(vec![1u8; 4096]))),
    );
    let req = http::Request::post("http://mem/up")
        .body(RequestBody::from_stream(chunks, None))
        .unwrap();
    let resp = http.send(req).await.unwrap();
    assert_eq!(
        resp.headers()["x-echo-len"],
        (64 * 4096).to_string().as_str()
    );
}

#[tokio::test]
async fn failures_keep_their_predicates() {
    let http = MockHttp::new(|_| MockReply::Fail(TransportError::connect("refused")));
    let e = http
        .send(
            http::Request::get("http://mem/")
                .body(RequestBody::empty())
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(e.is_connect());
    assert_eq!(e.was_request_sent(), Some(false));
    let broken = MockHttp::new(|_| MockReply::Truncated {
        status: 200,
        partial: Bytes::from_static(b"half"),
    });
    let resp = broken
        .send(
            http::Request::get("http://mem/")
                .body(RequestBody::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let e = resp.into_body().collect(1024).await.unwrap_err();
    assert!(e.is_body() && e.was_request_sent() == Some(true));
}
