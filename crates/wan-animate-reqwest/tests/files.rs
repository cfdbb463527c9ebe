//! Uploads and downloads over real loopback HTTP: form fields and their order, no
//! Authorization to storage, the policy cache, the expired-policy retry, the size refusal;
//! resumed downloads, wrong lengths, no partial files.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use wan_animate_reqwest::download::DownloadOptions;
use wan_animate_reqwest::types::Model;
use wan_animate_reqwest::{ClientConfig, ErrorKind, RetryPolicy};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const KEY: &str = "sk-test-SECRET123";

fn client(server_uri: &str) -> wan_animate_reqwest::Client {
    let config = ClientConfig::new(KEY)
        .with_base_url(format!("{server_uri}/api/v1"))
        .unwrap()
        .with_retry(
            RetryPolicy::default()
                .without_jitter()
                .with_initial_backoff(Duration::from_millis(10)),
        );
    wan_animate_reqwest::client(config).unwrap()
}

fn policy_body(host: &str, max_mb: u64) -> String {
    format!(
        r#"{{"request_id":"rp","data":{{"policy":"cG9saWN5","signature":"c2ln","upload_dir":"dashscope-instant/abc/2026-11-24/u1","upload_host":"{host}/oss","expire_in_seconds":300,"max_file_size_mb":{max_mb},"capacity_limit_mb":999999999,"oss_access_key_id":"LTAI-test","x_oss_object_acl":"private","x_oss_forbid_overwrite":"true"}}}}"#
    )
}

/// The form fields of a multipart body, in order: (name, value or file length).
fn form_fields(req: &Request) -> Vec<(String, String)> {
    let ct = req
        .headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let boundary = ct.split("boundary=").nth(1).unwrap().to_owned();
    let body = &req.body;
    let sep = format!("--{boundary}");
    let text = String::from_utf8_lossy(body);
    let mut out = Vec::new();
    for part in text.split(&sep).skip(1) {
        if part.starts_with("--") {
            break;
        }
        let (head, value) = part.split_once("\r\n\r\n").unwrap();
        let name = head
            .split("name=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned();
        let value = value.strip_suffix("\r\n").unwrap_or(value);
        out.push((name, value.to_owned()));
    }
    out
}

struct Sequence(Vec<ResponseTemplate>, AtomicUsize);
impl Respond for Sequence {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let i = self.1.fetch_add(1, Ordering::SeqCst).min(self.0.len() - 1);
        self.0[i].clone()
    }
}

#[tokio::test]
async fn uploads_echo_every_policy_field_in_order_with_the_file_last_and_no_authorization() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/uploads"))
        .and(query_param("action", "getPolicy"))
        .and(query_param("model", "wan2.2-animate-mix"))
        .respond_with(ResponseTemplate::new(200).set_body_string(policy_body(&server.uri(), 100)))
        .expect(1) // two uploads, one policy: it is cached
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oss"))
        .respond_with(ResponseTemplate::new(200))
        .expect(2)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("舞蹈 clip.mp4");
    std::fs::write(&file, vec![42u8; 300_000]).unwrap();
    let c = client(&server.uri());
    let a = c
        .upload_file(&Model::AnimateMix, &file, None)
        .await
        .unwrap();
    let b = c
        .upload_file(&Model::AnimateMix, &file, None)
        .await
        .unwrap();
    assert_ne!(
        a.oss_url, b.oss_url,
        "the same file twice gets two keys (overwrite is forbidden)"
    );
    assert!(
        a.oss_url
            .starts_with("oss://dashscope-instant/abc/2026-11-24/u1/")
    );
    assert!(a.oss_url.is_ascii(), "{}", a.oss_url);
    assert!(
        a.oss_url.ends_with("-_____clip.mp4") || a.oss_url.ends_with("clip.mp4"),
        "{}",
        a.oss_url
    );
    let posts: Vec<Request> = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == "/oss")
        .collect();
    for post in &posts {
        assert!(
            post.headers.get("authorization").is_none(),
            "the key must never reach the storage host"
        );
        let fields = form_fields(post);
        let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "OSSAccessKeyId",
                "policy",
                "Signature",
                "key",
                "x-oss-object-acl",
                "x-oss-forbid-overwrite",
                "success_action_status",
                "x-oss-content-type",
                "file"
            ]
        );
        let value = |n: &str| fields.iter().find(|(k, _)| k == n).unwrap().1.clone();
        assert_eq!(value("OSSAccessKeyId"), "LTAI-test");
        assert_eq!(value("policy"), "cG9saWN5");
        assert_eq!(value("Signature"), "c2ln");
        assert_eq!(value("x-oss-object-acl"), "private");
        assert_eq!(value("x-oss-forbid-overwrite"), "true");
        assert_eq!(value("success_action_status"), "200");
        assert!(value("key").starts_with("dashscope-instant/abc/2026-11-24/u1/"));
        assert_eq!(value("file").len(), 300_000);
        assert_eq!(
            post.headers
                .get("content-length")
                .unwrap()
                .to_str()
                .unwrap()
                .parse::<usize>()
                .unwrap(),
            post.body.len()
        );
    }
}

#[tokio::test]
async fn an_expired_policy_is_fetched_again_once() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/uploads"))
        .respond_with(ResponseTemplate::new(200).set_body_string(policy_body(&server.uri(), 100)))
        .expect(2)
        .mount(&server)
        .await;
    let expired = ResponseTemplate::new(403).set_body_string(include_str!(
        "../../wan-animate-types/tests/fixtures/constructed/upload_oss_error_policy_expired.xml"
    ));
    Mock::given(method("POST"))
        .and(path("/oss"))
        .respond_with(Sequence(
            vec![expired, ResponseTemplate::new(200)],
            AtomicUsize::new(0),
        ))
        .expect(2)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.jpg");
    std::fs::write(&file, b"jpeg").unwrap();
    client(&server.uri())
        .upload_file(&Model::AnimateMove, &file, None)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_file_over_the_policy_limit_is_refused_before_sending() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/uploads"))
        .respond_with(ResponseTemplate::new(200).set_body_string(policy_body(&server.uri(), 1)))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oss"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.mp4");
    std::fs::write(&file, vec![0u8; 1024 * 1024 + 1]).unwrap();
    let e = client(&server.uri())
        .upload_file(&Model::AnimateMix, &file, None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("at most 1 MB"), "{e}");
}

/// A storage server that misbehaves on purpose. `mode`: "drop-once" closes the first answer
/// halfway and serves `Range` afterwards; "short" always announces more than it sends.
async fn storage(
    content: Arc<Vec<u8>>,
    mode: &'static str,
) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        let mut n = 0;
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            n += 1;
            let mut buf = vec![0u8; 8192];
            let mut head = Vec::new();
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let k = s.read(&mut buf).await.unwrap();
                if k == 0 {
                    break;
                }
                head.extend_from_slice(&buf[..k]);
            }
            let text = String::from_utf8_lossy(&head).to_string();
            seen2.lock().unwrap().push(text.clone());
            let range_start: Option<usize> = text
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("range: bytes=")
                        .map(|r| r.trim_end_matches('-').trim().to_owned())
                })
                .and_then(|v| v.trim_end_matches('-').parse().ok());
            let total = content.len();
            match (mode, range_start) {
                ("drop-once", None) if n == 1 => {
                    s.write_all(
                        format!("HTTP/1.1 200 OK\r\ncontent-length: {total}\r\n\r\n").as_bytes(),
                    )
                    .await
                    .unwrap();
                    s.write_all(&content[..total / 2]).await.unwrap();
                    // close mid-body
                }
                ("drop-once", Some(start)) => {
                    s.write_all(format!("HTTP/1.1 206 Partial Content\r\ncontent-length: {}\r\ncontent-range: bytes {start}-{}/{total}\r\n\r\n", total - start, total - 1).as_bytes()).await.unwrap();
                    s.write_all(&content[start..]).await.unwrap();
                }
                ("short", _) => {
                    s.write_all(
                        format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", total + 100)
                            .as_bytes(),
                    )
                    .await
                    .unwrap();
                    s.write_all(&content).await.unwrap();
                }
                _ => {
                    s.write_all(
                        format!("HTTP/1.1 200 OK\r\ncontent-length: {total}\r\n\r\n").as_bytes(),
                    )
                    .await
                    .unwrap();
                    s.write_all(&content).await.unwrap();
                }
            }
            let _ = s.shutdown().await;
        }
    });
    (format!("http://{addr}"), seen)
}

fn content() -> Arc<Vec<u8>> {
    Arc::new((0..3_000_000u32).map(|i| (i % 251) as u8).collect())
}

#[tokio::test]
async fn a_dropped_download_resumes_with_range_and_the_bytes_are_identical() {
    let data = content();
    let (origin, seen) = storage(data.clone(), "drop-once").await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.mp4");
    let c = client("https://api.example");
    let done = c
        .download(
            &format!("{origin}/results/t.mp4?Expires=1"),
            &dest,
            DownloadOptions::new(),
        )
        .await
        .unwrap();
    assert_eq!(done.bytes, data.len() as u64);
    assert_eq!(std::fs::read(&dest).unwrap(), *data);
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    assert!(
        requests[1].to_ascii_lowercase().contains("range: bytes="),
        "{}",
        requests[1]
    );
    assert!(
        requests
            .iter()
            .all(|r| !r.to_ascii_lowercase().contains("authorization"))
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file left"
    );
}

#[tokio::test]
async fn a_wrong_length_is_an_error_and_leaves_no_target_and_no_orphan() {
    let (origin, _) = storage(content(), "short").await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.mp4");
    let e = client("https://api.example")
        .download(&format!("{origin}/r.mp4"), &dest, DownloadOptions::new())
        .await
        .unwrap_err();
    assert!(e.is_transient() || e.kind() == ErrorKind::Decode, "{e}");
    assert!(!dest.exists(), "no target from a short download");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        left.iter().all(|n| {
            let n = n.to_string_lossy();
            n.starts_with(".out.mp4.") && n.ends_with(".wan-animate.part")
        }),
        "only the part file named after the output (for a resume) may remain: {left:?}"
    );
}

#[tokio::test]
async fn an_existing_target_is_not_overwritten_unless_asked() {
    let (origin, _) = storage(Arc::new(b"new".to_vec()), "ok").await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.mp4");
    std::fs::write(&dest, b"old").unwrap();
    let c = client("https://api.example");
    let e = c
        .download(&format!("{origin}/r.mp4"), &dest, DownloadOptions::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(std::fs::read(&dest).unwrap(), b"old");
    c.download(
        &format!("{origin}/r.mp4"),
        &dest,
        DownloadOptions::new().with_overwrite(true),
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"new");
}

#[tokio::test]
async fn an_expired_result_link_explains_the_24_hour_lifetime() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(403).set_body_string(
            "<Error><Code>AccessDenied</Code><Message>Request has expired.</Message></Error>",
        ))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let e = client("https://api.example")
        .download(
            &format!("{}/r.mp4", server.uri()),
            &dir.path().join("o.mp4"),
            DownloadOptions::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("AccessDenied"));
    assert!(e.hint().unwrap().contains("24 h"), "{:?}", e.hint());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
