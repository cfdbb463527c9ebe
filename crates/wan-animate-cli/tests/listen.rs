//! `wan-animate listen`: the real binary on loopback receives completion events, prints each new
//! one as one NDJSON line on stdout, refuses wrong tokens, and never shows the token.
#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::Value;

const TOKEN: &str = "cli-tok-9d8c7b6a5f4e3d2c1b0a99887766";
const BOUND: Duration = Duration::from_secs(30);

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../wan-animate-types/tests/fixtures/events/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The running binary; killed if a test fails before stopping it.
struct Listener {
    child: Child,
    addr: SocketAddr,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    stderr_seen: Vec<String>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines(stream: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn start(args: &[&str], env_token: Option<&str>) -> Listener {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("wan-animate"));
    cmd.args(["listen", "--listen", "127.0.0.1:0"])
        .args(args)
        .env_remove("WAN_ANIMATE_CALLBACK_TOKEN")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(token) = env_token {
        cmd.env("WAN_ANIMATE_CALLBACK_TOKEN", token);
    }
    let mut child = cmd.spawn().expect("spawn wan-animate");
    let stdout = lines(child.stdout.take().unwrap());
    let stderr = lines(child.stderr.take().unwrap());
    let mut listener = Listener {
        child,
        addr: "127.0.0.1:1".parse().unwrap(),
        stdout,
        stderr,
        stderr_seen: Vec::new(),
    };
    // The bound address is announced on stderr: "listening on http://127.0.0.1:PORT ...".
    let deadline = Instant::now() + BOUND;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = listener
            .stderr
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no address on stderr: {:?}", listener.stderr_seen));
        listener.stderr_seen.push(line.clone());
        if let Some(rest) = line.split("listening on http://").nth(1) {
            let addr = rest.split_whitespace().next().unwrap_or_default();
            listener.addr = addr
                .parse()
                .unwrap_or_else(|_| panic!("address in {line:?}"));
            return listener;
        }
    }
}

/// POSTs `body` on a fresh connection; returns the status code.
fn post(addr: SocketAddr, headers: &[(&str, &str)], body: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(BOUND)).unwrap();
    let mut head = format!(
        "POST /dashscope HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {response:?}"))
}

/// Interrupts like Ctrl-C and returns the exit code and everything left on stdout and stderr.
fn interrupt(mut l: Listener) -> (Option<i32>, Vec<String>, String) {
    let killed = Command::new("kill")
        .args(["-INT", &l.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + BOUND;
    let status = loop {
        if let Some(status) = l.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "listen did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    };
    // The pipes close with the process, so these end.
    let stdout: Vec<String> = l.stdout.iter().collect();
    let mut stderr = std::mem::take(&mut l.stderr_seen);
    stderr.extend(l.stderr.iter());
    (status.code(), stdout, stderr.join("\n"))
}

#[test]
fn listen_prints_each_accepted_event_once_as_ndjson_and_refuses_wrong_tokens() {
    let l = start(&["--callback-token", TOKEN], None);
    let body = fixture("eventbridge_async_task_finish.json");
    let bearer = format!("Bearer {TOKEN}");
    let wrong = "Bearer wrong-0f1e2d3c4b5a69788796a5b4";

    assert_eq!(post(l.addr, &[("Authorization", wrong)], &body), 401);
    assert_eq!(post(l.addr, &[], &body), 401);
    assert_eq!(
        post(l.addr, &[("Authorization", &bearer)], "{not json"),
        400
    );
    assert_eq!(post(l.addr, &[("Authorization", &bearer)], &body), 200);
    // EventBridge redelivers: acknowledged, not printed again.
    assert_eq!(post(l.addr, &[("Authorization", &bearer)], &body), 200);

    let line = l.stdout.recv_timeout(BOUND).expect("one NDJSON line");
    let printed: Value = serde_json::from_str(&line).expect("the line is JSON");
    let sent: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(printed, sent, "the event is printed whole");
    assert!(!line.contains('\n'));

    let (code, rest, stderr) = interrupt(l);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        rest.is_empty(),
        "nothing but the one event on stdout: {rest:?}"
    );
    assert!(
        stderr.contains("1 event(s) printed, 1 duplicate(s)"),
        "{stderr}"
    );
    assert!(stderr.contains("2 unauthorized"), "{stderr}");
    assert!(
        !stderr.contains(TOKEN),
        "the token leaked on stderr:\n{stderr}"
    );
    assert!(
        !stderr.contains("wrong-0f1e"),
        "a presented secret leaked:\n{stderr}"
    );
}

#[test]
fn listen_takes_the_token_from_the_environment_and_a_custom_header() {
    let l = start(&["--token-header", "X-Callback-Token"], Some(TOKEN));
    let body = fixture("eventbridge_async_task_finish_failed.json");
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(post(l.addr, &[("Authorization", &bearer)], &body), 401);
    assert_eq!(post(l.addr, &[("X-Callback-Token", TOKEN)], &body), 200);
    let line = l.stdout.recv_timeout(BOUND).expect("one NDJSON line");
    let printed: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(printed["data"]["task_status"], "FAILED");
    let (code, rest, stderr) = interrupt(l);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(rest.is_empty(), "{rest:?}");
    assert!(!stderr.contains(TOKEN), "{stderr}");
}

#[test]
fn listen_refuses_a_missing_or_unusable_token_as_a_usage_error() {
    let out = Command::new(assert_cmd::cargo::cargo_bin("wan-animate"))
        .args(["listen", "--listen", "127.0.0.1:0"])
        .env_remove("WAN_ANIMATE_CALLBACK_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--callback-token"));

    let out = Command::new(assert_cmd::cargo::cargo_bin("wan-animate"))
        .args([
            "listen",
            "--listen",
            "127.0.0.1:0",
            "--callback-token",
            "has space",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("visible ASCII"), "{stderr}");
    assert!(!stderr.contains("has space"), "{stderr}");
}
