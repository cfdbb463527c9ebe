//! A hostile storage host, scripted per request (tests/support): each test pins one defect of
//! downloads and uploads that a lying, dropping or stalling server used to get past.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use support::{Action, ScriptedServer, Seen};
use wan_animate_reqwest::download::{DownloadOptions, part_path};
use wan_animate_reqwest::types::Model;
use wan_animate_reqwest::{ClientConfig, ErrorKind, ReqwestClient, RetryPolicy};

const KEY: &str = "sk-test-SECRET123";

/// A client whose API base is unreachable (the tests talk to storage hosts only, except
/// the upload tests, which pass the scripted server as base).
fn client_with(base: &str, attempts: u32) -> wan_animate_reqwest::Client {
    let config = ClientConfig::new(KEY)
        .with_base_url(format!("{base}/api/v1"))
        .unwrap()
        .with_request_timeout(Duration::from_secs(2))
        .with_retry(
            RetryPolicy::default()
                .with_max_attempts(attempts)
                .without_jitter()
                .with_initial_backoff(Duration::from_millis(5)),
        );
    wan_animate_reqwest::client(config).unwrap()
}

fn client() -> wan_animate_reqwest::Client {
    client_with("https://api.example", 4)
}

fn data(len: usize, salt: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| ((i.wrapping_mul(31) ^ salt) % 251) as u8)
        .collect()
}

/// `206` with a correct `Content-Range` for a request starting at `start`.
fn partial(content: &[u8], start: usize) -> Action {
    let total = content.len();
    let range = format!("bytes {start}-{}/{total}", total - 1);
    Action::ok(206, &[("content-range", &range)], &content[start..])
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_resume_answered_with_another_files_range_is_refused_not_spliced() {
    let first = Arc::new(data(200_000, 1));
    let other = Arc::new(data(300_000, 2));
    let (a, b) = (first.clone(), other.clone());
    let server = ScriptedServer::start(move |n, req: &Seen| match (n, req.range_start()) {
        // The first answer breaks off halfway ...
        (0, _) => Action::ok(200, &[], &a).cut(100_000),
        // ... and the resume gets the tail of a bigger file, with a range that starts right.
        (_, Some(start)) => partial(&b, start),
        (_, None) => Action::ok(200, &[], &a),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.mp4");
    let e = client()
        .download(&server.url("/r.mp4"), &dest, DownloadOptions::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Decode, "{e}");
    assert!(e.to_string().contains("changed size"), "{e}");
    assert!(!dest.exists(), "no spliced file");
    assert!(
        files_in(dir.path()).is_empty(),
        "{:?}",
        files_in(dir.path())
    );
}

#[tokio::test]
async fn a_content_range_other_than_the_one_asked_is_refused() {
    let content = Arc::new(data(100_000, 3));
    let c = content.clone();
    let server = ScriptedServer::start(move |n, req: &Seen| match (n, req.range_start()) {
        (0, _) => Action::ok(200, &[], &c).cut(40_000),
        // Asked bytes=40000-, answered a range that ends early (and a body to match it).
        (_, Some(start)) => {
            let range = format!("bytes {start}-{}/{}", start + 999, c.len());
            Action::ok(206, &[("content-range", &range)], &c[start..start + 1000])
        }
        (_, None) => Action::ok(200, &[], &c),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.mp4");
    let e = client()
        .download(&server.url("/r.mp4"), &dest, DownloadOptions::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Decode, "{e}");
    assert!(e.to_string().contains("asked for bytes 40000-"), "{e}");
    assert!(!dest.exists());
}

#[tokio::test]
async fn a_206_to_a_request_without_range_is_an_error() {
    let content = data(50_000, 4);
    let c = content.clone();
    let server = ScriptedServer::start(move |_, _| {
        // The whole-file request is answered with the file minus its first 1000 bytes.
        let range = format!("bytes 1000-{}/{}", c.len() - 1, c.len());
        Action::ok(206, &[("content-range", &range)], &c[1000..])
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.mp4");
    let e = client()
        .download(&server.url("/r.mp4"), &dest, DownloadOptions::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Decode, "{e}");
    assert!(e.to_string().contains("206"), "{e}");
    assert_eq!(server.requests().len(), 1, "not retried");
    assert!(
        files_in(dir.path()).is_empty(),
        "{:?}",
        files_in(dir.path())
    );
}

#[tokio::test]
async fn a_body_closed_early_without_content_length_is_not_accepted_when_the_size_is_known() {
    let content = Arc::new(data(120_000, 5));
    let c = content.clone();
    let server = ScriptedServer::start(move |n, _req: &Seen| match n {
        // The size is announced, then the connection breaks.
        0 => Action::ok(200, &[], &c).cut(30_000),
        // The resume is answered with the whole file again (Range ignored), without
        // Content-Length, and closed early: it looks like a clean end.
        1 => Action::raw(200, &[], &c[..90_000]),
        _ => Action::ok(200, &[], &c),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.mp4");
    let done = client()
        .download(&server.url("/r.mp4"), &dest, DownloadOptions::new())
        .await
        .unwrap();
    assert_eq!(done.bytes, content.len() as u64);
    assert_eq!(std::fs::read(&dest).unwrap(), *content, "byte-identical");
    assert_eq!(
        server.requests().len(),
        3,
        "the short answer was not taken as the file"
    );
    assert_eq!(files_in(dir.path()), ["out.mp4"]);
}

#[tokio::test]
async fn an_interrupted_download_is_resumed_by_the_next_call_from_its_part_file() {
    let content = Arc::new(data(150_000, 6));
    let c = content.clone();
    let server = ScriptedServer::start(move |n, req: &Seen| match (n, req.range_start()) {
        // Every attempt of the first call breaks off (the process "gives up").
        (0, _) => Action::ok(200, &[], &c).cut(60_000),
        (_, Some(start)) => partial(&c, start),
        (_, None) => Action::ok(200, &[], &c),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.mp4");
    let once = client_with("https://api.example", 1);
    let e = once
        .download(&server.url("/r.mp4"), &dest, DownloadOptions::new())
        .await
        .unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert!(
        e.hint().unwrap_or_default().contains("resume"),
        "{:?}",
        e.hint()
    );
    let part = part_path(&dest, &server.url("/r.mp4"));
    assert_eq!(
        files_in(dir.path()),
        [part.file_name().unwrap().to_string_lossy().into_owned()]
    );
    let kept = std::fs::metadata(&part).unwrap().len();
    assert!(kept > 0 && kept <= 60_000, "{kept}");

    // A new call (a new process, as far as the file system knows) resumes at the part's length.
    let done = client_with("https://api.example", 1)
        .download(&server.url("/r.mp4"), &dest, DownloadOptions::new())
        .await
        .unwrap();
    assert_eq!(done.bytes, content.len() as u64);
    assert_eq!(std::fs::read(&dest).unwrap(), *content);
    let requests = server.requests();
    assert_eq!(requests[1].range_start(), Some(kept as usize));
    assert_eq!(files_in(dir.path()), ["out.mp4"], "no part file left");
}

#[tokio::test]
async fn a_full_disk_is_local_io_not_retried_and_resumes_at_the_bytes_on_disk() {
    let content = Arc::new(data(400_000, 7));
    let c = content.clone();
    let server = ScriptedServer::start(move |_, req: &Seen| match req.range_start() {
        Some(start) => partial(&c, start),
        None => Action::ok(200, &[], &c),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.mp4");
    // The disk takes 100,001 bytes: a write ends in the middle of a chunk.
    let space = Arc::new(AtomicU64::new(100_001));
    let e = client()
        .download(
            &server.url("/r.mp4"),
            &dest,
            DownloadOptions::new().with_disk_space(space.clone()),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::LocalIo, "{e}");
    assert!(!e.is_transient());
    let part = part_path(&dest, &server.url("/r.mp4"));
    assert!(e.to_string().contains(&part.display().to_string()), "{e}");
    assert!(
        e.hint().unwrap().contains("free disk space"),
        "{:?}",
        e.hint()
    );
    assert_eq!(server.requests().len(), 1, "a full disk is not retried");
    assert_eq!(std::fs::metadata(&part).unwrap().len(), 100_001);

    // Space is freed; the same download resumes at the length on disk, without a hole.
    space.store(u64::MAX / 2, Ordering::SeqCst);
    let done = client()
        .download(
            &server.url("/r.mp4"),
            &dest,
            DownloadOptions::new().with_disk_space(space),
        )
        .await
        .unwrap();
    assert_eq!(done.bytes, content.len() as u64);
    assert_eq!(std::fs::read(&dest).unwrap(), *content, "byte-identical");
    assert_eq!(server.requests()[1].range_start(), Some(100_001));
    assert_eq!(files_in(dir.path()), ["out.mp4"]);
}

#[tokio::test]
async fn a_second_download_to_the_same_output_is_refused_while_the_first_runs() {
    let content = Arc::new(data(100_000, 8));
    let c = content.clone();
    let server = ScriptedServer::start(move |n, req: &Seen| match (n, req.range_start()) {
        // The first answer stalls halfway: the first download is still running.
        (0, _) => Action::ok(200, &[], &c).cut_and_stall(50_000),
        (_, Some(start)) => partial(&c, start),
        (_, None) => Action::ok(200, &[], &c),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.mp4");
    let url = server.url("/r.mp4");
    let first = {
        let (url, dest) = (url.clone(), dest.clone());
        tokio::spawn(async move { client().download(&url, &dest, DownloadOptions::new()).await })
    };
    // Wait until the first download holds its part file and has bytes in it.
    let part = part_path(&dest, &server.url("/r.mp4"));
    for _ in 0..500 {
        if std::fs::metadata(&part).is_ok_and(|m| m.len() > 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let e = client()
        .download(&url, &dest, DownloadOptions::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::LocalIo, "{e}");
    assert!(
        e.full_message().contains("another wan-animate process"),
        "{}",
        e.full_message()
    );
    // The first one finishes (after its idle timeout it resumes) with the right bytes.
    let done = first.await.unwrap().unwrap();
    assert_eq!(done.bytes, content.len() as u64);
    assert_eq!(std::fs::read(&dest).unwrap(), *content);
    assert_eq!(files_in(dir.path()), ["out.mp4"]);
}

#[tokio::test]
async fn a_stalled_body_times_out_and_resumes() {
    let content = Arc::new(data(80_000, 9));
    let c = content.clone();
    let server = ScriptedServer::start(move |n, req: &Seen| match (n, req.range_start()) {
        (0, _) => Action::ok(200, &[], &c).cut_and_stall(20_000),
        (_, Some(start)) => partial(&c, start),
        (_, None) => Action::Stall,
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.mp4");
    let config = ClientConfig::new(KEY)
        .with_request_timeout(Duration::from_millis(500))
        .with_retry(
            RetryPolicy::default()
                .without_jitter()
                .with_initial_backoff(Duration::from_millis(5)),
        );
    let c = wan_animate_reqwest::client(config).unwrap();
    let done = c
        .download(&server.url("/r.mp4"), &dest, DownloadOptions::new())
        .await
        .unwrap();
    assert_eq!(done.bytes, content.len() as u64);
    assert_eq!(std::fs::read(&dest).unwrap(), *content);
    assert_eq!(server.requests()[1].range_start(), Some(20_000));
}

#[tokio::test]
async fn a_dropped_connection_before_any_answer_is_retried() {
    let content = Arc::new(data(10_000, 10));
    let c = content.clone();
    let server = ScriptedServer::start(move |n, _req: &Seen| match n {
        0 => Action::Drop,
        _ => Action::ok(200, &[], &c),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.mp4");
    client()
        .download(&server.url("/r.mp4"), &dest, DownloadOptions::new())
        .await
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), *content);
}

#[tokio::test]
async fn streaming_to_a_writer_skips_what_was_written_when_the_server_ignores_range() {
    let content = Arc::new(data(90_000, 11));
    let c = content.clone();
    let server = ScriptedServer::start(move |n, _req: &Seen| match n {
        0 => Action::ok(200, &[], &c).cut(33_333),
        // Range ignored: the whole file again.
        _ => Action::ok(200, &[], &c),
    })
    .await;
    let mut out: Vec<u8> = Vec::new();
    let n = client()
        .download_to_writer(&server.url("/r.mp4"), &mut out, DownloadOptions::new())
        .await
        .unwrap();
    assert_eq!(n, content.len() as u64);
    assert_eq!(out, *content, "no byte written twice");
    assert_eq!(server.requests()[1].range_start(), Some(33_333));
}

#[tokio::test]
async fn redirects_are_not_followed_even_from_a_plain_reqwest_builder() {
    let server = ScriptedServer::start(move |_, req: &Seen| {
        if req.path == "/r.mp4" {
            Action::ok(302, &[("location", "/elsewhere.mp4")], b"")
        } else {
            Action::ok(200, &[], b"followed")
        }
    })
    .await;
    // A builder that would follow redirects if built as it is.
    let backend = ReqwestClient::from_builder(reqwest_builder()).unwrap();
    let c = wan_animate_reqwest::Client::new(ClientConfig::new(KEY), backend).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.mp4");
    let e = c
        .download(&server.url("/r.mp4"), &dest, DownloadOptions::new())
        .await
        .unwrap_err();
    assert!(!e.to_string().contains("followed"), "{e}");
    assert!(!dest.exists());
    assert!(
        server.requests().iter().all(|r| r.path == "/r.mp4"),
        "the redirect target was requested"
    );
    // The default client, too.
    let c = client();
    let _ = c
        .download(&server.url("/r.mp4"), &dest, DownloadOptions::new())
        .await
        .unwrap_err();
    assert!(server.requests().iter().all(|r| r.path == "/r.mp4"));
}

/// reqwest's own builder, with its default policy of following up to 10 redirects.
fn reqwest_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
}

fn policy_body(host: &str) -> String {
    format!(
        r#"{{"request_id":"rp","data":{{"policy":"cG9saWN5","signature":"c2ln","upload_dir":"dashscope-instant/abc/2026-11-24/u1","upload_host":"{host}/oss","expire_in_seconds":300,"max_file_size_mb":100,"capacity_limit_mb":999999999,"oss_access_key_id":"LTAI-test","x_oss_object_acl":"private","x_oss_forbid_overwrite":"true"}}}}"#
    )
}

/// The `key` form field of a multipart upload body.
fn form_key(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let after = text.split("name=\"key\"\r\n\r\n").nth(1).unwrap();
    after.split("\r\n").next().unwrap().to_owned()
}

#[tokio::test]
async fn an_upload_whose_answer_was_lost_counts_when_the_retry_finds_its_own_key() {
    let host = Arc::new(std::sync::Mutex::new(String::new()));
    let h = host.clone();
    let p = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let server = ScriptedServer::start(move |_, req: &Seen| {
        if req.path.contains("getPolicy") {
            return Action::ok(200, &[("content-type", "application/json")], policy_body(&h.lock().unwrap()).as_bytes());
        }
        assert!(req.path.starts_with("/oss"), "unexpected {}", req.path);
        if p.fetch_add(1, Ordering::SeqCst) == 0 {
            // Stored, but the answer is lost.
            Action::Drop
        } else {
            Action::ok(
                409,
                &[("content-type", "application/xml")],
                b"<Error><Code>FileAlreadyExists</Code><Message>The object you specified already exists and can not be overwritten.</Message><RequestId>r-409</RequestId></Error>",
            )
        }
    })
    .await;
    *host.lock().unwrap() = server.url("");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("me.jpg");
    std::fs::write(
        &file,
        b"\xff\xd8\xff not really a jpeg, the storage does not care",
    )
    .unwrap();
    let c = client_with(&server.url(""), 3);
    let up = c
        .upload_file(&Model::AnimateMix, &file, None)
        .await
        .unwrap();
    let posts: Vec<Seen> = server
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/oss"))
        .collect();
    assert_eq!(posts.len(), 2);
    assert_eq!(form_key(&posts[0].body), up.key);
    assert_eq!(
        form_key(&posts[1].body),
        up.key,
        "the retry used the same key"
    );
    assert_eq!(up.oss_url, format!("oss://{}", up.key));
}

#[tokio::test]
async fn a_409_on_the_first_upload_attempt_is_still_an_error() {
    let host = Arc::new(std::sync::Mutex::new(String::new()));
    let h = host.clone();
    let server = ScriptedServer::start(move |_, req: &Seen| {
        if req.path.contains("getPolicy") {
            return Action::ok(
                200,
                &[("content-type", "application/json")],
                policy_body(&h.lock().unwrap()).as_bytes(),
            );
        }
        Action::ok(
            409,
            &[],
            b"<Error><Code>FileAlreadyExists</Code><Message>exists</Message></Error>",
        )
    })
    .await;
    *host.lock().unwrap() = server.url("");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("me.jpg");
    std::fs::write(&file, b"bytes").unwrap();
    let e = client_with(&server.url(""), 3)
        .upload_file(&Model::AnimateMix, &file, None)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("FileAlreadyExists"), "{e}");
}

#[tokio::test]
async fn a_part_file_of_another_result_is_never_resumed_into_this_one() {
    let a = Arc::new(data(100_000, 12));
    let b = Arc::new(data(100_000, 13));
    let (ca, cb) = (a.clone(), b.clone());
    let server = ScriptedServer::start(move |_, req: &Seen| {
        let content = if req.path.starts_with("/a.mp4") {
            &ca
        } else {
            &cb
        };
        match req.range_start() {
            // Every whole-file answer of A breaks off: A's download leaves its part file.
            None if req.path.starts_with("/a.mp4") => Action::ok(200, &[], content).cut(50_000),
            None => Action::ok(200, &[], content),
            Some(start) => partial(content, start),
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.mp4");
    let once = client_with("https://api.example", 1);
    once.download(&server.url("/a.mp4?sig=1"), &dest, DownloadOptions::new())
        .await
        .unwrap_err();
    assert_eq!(files_in(dir.path()).len(), 1, "A's part file is kept");
    // Another result to the same output: it starts at 0 and A's part goes away.
    let done = once
        .download(&server.url("/b.mp4?sig=1"), &dest, DownloadOptions::new())
        .await
        .unwrap();
    assert_eq!(done.bytes, b.len() as u64);
    assert_eq!(std::fs::read(&dest).unwrap(), *b, "not spliced with A");
    let b_requests: Vec<Seen> = server
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/b.mp4"))
        .collect();
    assert_eq!(b_requests[0].range_start(), None);
    assert_eq!(files_in(dir.path()), ["out.mp4"]);
}

#[tokio::test]
async fn a_file_that_breaks_while_uploading_is_local_io_and_not_retried() {
    let host = Arc::new(std::sync::Mutex::new(String::new()));
    let h = host.clone();
    let server = ScriptedServer::start(move |_, req: &Seen| {
        if req.path.contains("getPolicy") {
            return Action::ok(
                200,
                &[("content-type", "application/json")],
                policy_body(&h.lock().unwrap()).as_bytes(),
            );
        }
        Action::ok(200, &[], b"")
    })
    .await;
    *host.lock().unwrap() = server.url("");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dance.mp4");
    std::fs::write(&file, vec![7u8; 300_000]).unwrap();
    // The file shrinks under the upload after its first chunk (another program rewrote it).
    let victim = file.clone();
    let progress: wan_animate_reqwest::progress::ProgressFn = Arc::new(move |_| {
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .open(&victim)
            .and_then(|f| f.set_len(1000));
    });
    let e = client_with(&server.url(""), 3)
        .upload_file(&Model::AnimateMix, &file, Some(progress))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::LocalIo, "{e}");
    assert!(e.to_string().contains("dance.mp4"), "{e}");
    assert!(e.full_message().contains("shrank"), "{}", e.full_message());
    let posts = server
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/oss"))
        .count();
    assert!(posts <= 1, "a local failure is not retried ({posts} posts)");
}
