//! Errors that help, configuration refused at the edge, and a terminal that a hostile server
//! cannot write to: the real binary against loopback servers (wiremock, the simulator).

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "sk-errors-test-SECRET987";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn cli(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = Command::cargo_bin("wan-animate").unwrap();
    cmd.current_dir(home)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("WAN_ANIMATE_JOURNAL", home.join("journal.jsonl"))
        .timeout(Duration::from_secs(60));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.args(args).output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn base(server: &MockServer) -> String {
    format!("{}/api/v1", server.uri())
}

/// A 16x16 RGB PNG: far below the documented 200 px minimum.
fn tiny_png(dir: &Path) -> PathBuf {
    fn crc32(data: &[u8]) -> u32 {
        let mut c = 0xffff_ffffu32;
        for &b in data {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    // Stored (uncompressed) deflate block inside a zlib stream.
    let raw: Vec<u8> = (0..16)
        .flat_map(|_| {
            let mut row = vec![0u8];
            row.extend(std::iter::repeat_n([255u8, 0, 0], 16).flatten());
            row
        })
        .collect();
    let mut z = vec![0x78, 0x01, 0x01];
    z.extend_from_slice(&(raw.len() as u16).to_le_bytes());
    z.extend_from_slice(&(!(raw.len() as u16)).to_le_bytes());
    z.extend_from_slice(&raw);
    let (mut a, mut b) = (1u32, 0u32);
    for &x in &raw {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    z.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&16u32.to_be_bytes());
    ihdr.extend_from_slice(&16u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &z);
    chunk(&mut png, b"IEND", &[]);
    let p = dir.join("tiny.png");
    std::fs::write(&p, png).unwrap();
    p
}

#[test]
fn a_preflight_failure_prints_a_hint_under_the_message() {
    let home = tempfile::tempdir().unwrap();
    let png = tiny_png(home.path());
    let video = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/samples");
    let video = std::fs::read_dir(&video)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "mp4"))
        .expect("an mp4 sample");
    let r = cli(
        home.path(),
        &[],
        &[
            "--sim",
            "run",
            "--model",
            "mix",
            "--image",
            png.to_str().unwrap(),
            "--video",
            video.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 8, "{}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    let error_at = lines.iter().position(|l| l.starts_with("error: ")).unwrap();
    let hint_at = lines
        .iter()
        .position(|l| l.starts_with("hint: "))
        .unwrap_or_else(|| panic!("no hint: {}", r.stderr));
    assert!(hint_at > error_at, "{}", r.stderr);
    assert!(lines[hint_at].contains("--no-preflight") || lines[hint_at].contains("check"));
}

#[test]
fn cancel_of_a_finished_task_says_only_pending_tasks_can_be_canceled() {
    let rt = runtime();
    let server = rt.block_on(MockServer::start());
    rt.block_on(
        Mock::given(method("POST"))
            .and(path("/api/v1/tasks/t-done/cancel"))
            .respond_with(ResponseTemplate::new(400).set_body_string(
                r#"{"request_id":"r-1","code":"UnsupportedOperation","message":"Failed to cancel the task, please confirm if the task is in PENDING status."}"#,
            ))
            .mount(&server),
    );
    let home = tempfile::tempdir().unwrap();
    let env = [("DASHSCOPE_API_KEY", KEY)];
    let b = base(&server);
    let r = cli(home.path(), &env, &["--base-url", &b, "cancel", "t-done"]);
    assert_eq!(r.code, 8, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("hint: only PENDING tasks can be canceled"),
        "{}",
        r.stderr
    );
    let r = cli(
        home.path(),
        &env,
        &["--json", "--base-url", &b, "cancel", "t-done"],
    );
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["error"]["next_step"]["action"], "not_cancelable");
    assert_eq!(doc["error"]["kind"], "invalid_input");
}

#[test]
fn a_bad_region_is_a_usage_error_naming_the_value() {
    let home = tempfile::tempdir().unwrap();
    // Even without any key: the region is what is wrong.
    let r = cli(home.path(), &[], &["--region", "mars", "status", "t-1"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("\"mars\""), "{}", r.stderr);
    assert!(r.stderr.contains("--region cn-beijing"), "{}", r.stderr);
    assert!(!r.stderr.contains("DASHSCOPE_API_KEY"), "{}", r.stderr);
    let r = cli(
        home.path(),
        &[("DASHSCOPE_API_KEY", KEY), ("DASHSCOPE_REGION", "mars")],
        &["status", "t-1"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("DASHSCOPE_REGION"), "{}", r.stderr);
    // A bad region is reported as such even with no key at all.
    let r = cli(home.path(), &[], &["--region", "mars", "status", "t-1"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("\"mars\""), "{}", r.stderr);
}

#[test]
fn an_empty_key_is_refused_and_nothing_is_sent() {
    let rt = runtime();
    let server = rt.block_on(MockServer::start());
    let home = tempfile::tempdir().unwrap();
    let b = base(&server);
    let r = cli(
        home.path(),
        &[],
        &["--api-key", "", "--base-url", &b, "status", "t-1"],
    );
    // A bad flag value: a usage error, refused before anything is built or sent.
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("empty"), "{}", r.stderr);
    let received = rt.block_on(server.received_requests()).unwrap_or_default();
    assert!(received.is_empty(), "{received:?}");
}

#[test]
fn credentials_in_a_base_url_are_refused_and_never_printed() {
    let home = tempfile::tempdir().unwrap();
    let r = cli(
        home.path(),
        &[("DASHSCOPE_API_KEY", KEY)],
        &[
            "--base-url",
            "https://alice:hunter2@gw.example/api/v1",
            "status",
            "t-1",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!r.stderr.contains("hunter2") && !r.stdout.contains("hunter2"));
    assert!(r.stderr.contains("gw.example"), "{}", r.stderr);
    let journal = std::fs::read_to_string(home.path().join("journal.jsonl")).unwrap_or_default();
    assert!(!journal.contains("hunter2"));
}

#[cfg(unix)]
#[test]
fn the_key_file_is_not_read_with_a_key_given_and_a_fifo_is_refused_without_blocking() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".dashscope")).unwrap();
    let fifo = home.path().join(".dashscope/api_key");
    if !std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success())
    {
        return; // mkfifo unavailable: nothing to test here.
    }
    let rt = runtime();
    let server = rt.block_on(MockServer::start());
    rt.block_on(
        Mock::given(method("GET"))
            .and(path("/api/v1/tasks/t-1"))
            .respond_with(ResponseTemplate::new(200).set_body_string(
                r#"{"request_id":"r","output":{"task_id":"t-1","task_status":"RUNNING"}}"#,
            ))
            .mount(&server),
    );
    let b = base(&server);
    // A key is given: the FIFO is never opened (opening it would block: the command would time out).
    let r = cli(
        home.path(),
        &[],
        &["--api-key", KEY, "--base-url", &b, "status", "t-1"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // No key given: the FIFO is refused at once, not read.
    let r = cli(home.path(), &[], &["--base-url", &b, "status", "t-1"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("not a regular file"), "{}", r.stderr);
}

#[test]
fn hostile_server_strings_reach_the_terminal_escaped_and_without_the_key() {
    let rt = runtime();
    let server = rt.block_on(MockServer::start());
    let hostile = format!(
        r#"{{"request_id":"r\u001b]0;pwned\u0007","code":"InvalidParameter","message":"bad key {KEY}\n\u001b[2Jerror: forged line\r"}}"#
    );
    rt.block_on(
        Mock::given(method("GET"))
            .and(path("/api/v1/tasks/t-1"))
            .respond_with(ResponseTemplate::new(400).set_body_string(hostile))
            .mount(&server),
    );
    let home = tempfile::tempdir().unwrap();
    let b = base(&server);
    for json in [false, true] {
        let mut args = vec!["--base-url", b.as_str(), "status", "t-1"];
        if json {
            args.insert(0, "--json");
        }
        let r = cli(home.path(), &[("DASHSCOPE_API_KEY", KEY)], &args);
        assert_eq!(r.code, 8, "{}", r.stderr);
        for text in [&r.stderr, &r.stdout] {
            assert!(!text.contains('\u{1b}'), "{text:?}");
            assert!(!text.contains('\u{7}'), "{text:?}");
            assert!(!text.contains('\r'), "{text:?}");
            assert!(!text.contains("SECRET987"), "{text:?}");
        }
        assert!(
            !r.stderr.lines().any(|l| l.starts_with("error: forged")),
            "{}",
            r.stderr
        );
        if json {
            let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
            assert!(
                doc["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("<redacted>")
            );
        }
    }
}
