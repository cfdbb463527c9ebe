//! Waiting by push, end to end: `wan-animate sim --notify-url` announces every finished task to
//! `wan-animate wait --callback-listen`, which queries the task once when its event arrives
//! instead of polling. A wrong token is refused and changes nothing.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

const TOKEN: &str = "push-test-token-0123456789abcdef";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sample(name: &str) -> String {
    root()
        .join("tests/samples")
        .join(name)
        .display()
        .to_string()
}

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("wan-animate")
}

/// A free loopback port (bound, then released for the receiver to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `wan-animate sim` server process that POSTs completion events to `notify_url`.
struct SimProcess {
    child: Child,
    base_url: String,
}

impl SimProcess {
    fn start(notify_url: &str) -> Self {
        let mut child = Command::new(bin())
            .args(["sim", "--listen", "127.0.0.1:0", "--no-state"])
            // Tasks of ~65 s of service time end about 16 s after they are created: long
            // enough that polling (0, 5, 12.5, 23.75 s...) needs 4 queries, push needs 2.
            .args(["--time-scale", "4"])
            .args(["--notify-url", notify_url, "--notify-token", TOKEN])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Self {
            child,
            base_url: line.trim().to_owned(),
        }
    }

    /// Requests the simulator answered on `route` (`get`, `create`, ...).
    fn requests(&self, route: &str) -> u64 {
        let addr = self
            .base_url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "GET /__sim/counters HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let body = text.split_once("\r\n\r\n").unwrap().1;
        let v: Value = serde_json::from_str(body).unwrap();
        v["requests"][route].as_u64().unwrap_or(0)
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tool(sim: &SimProcess, dir: &Path) -> Command {
    let mut cmd = Command::new(bin());
    cmd.current_dir(dir)
        .env("DASHSCOPE_HTTP_BASE_URL", &sim.base_url)
        .env("DASHSCOPE_API_KEY", wan_animate_sim::DEFAULT_API_KEY)
        .env("WAN_ANIMATE_JOURNAL", "off")
        .env("HOME", dir)
        .env_remove("WAN_ANIMATE_SIM")
        .env_remove("WAN_ANIMATE_CALLBACK_TOKEN");
    cmd
}

fn submit(sim: &SimProcess, dir: &Path) -> String {
    let out = tool(sim, dir)
        .args(["--json", "submit", "--model", "mix"])
        .args([
            "--image",
            &sample("person.jpg"),
            "--video",
            &sample("dance.mp4"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["output"]["task_id"].as_str().unwrap().to_owned()
}

#[test]
fn a_wait_woken_by_the_completion_event_succeeds_after_at_most_three_task_queries() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let sim = SimProcess::start(&format!("http://127.0.0.1:{port}/events"));
    let id = submit(&sim, dir.path());
    let before = sim.requests("get");
    let out = tool(&sim, dir.path())
        .args(["--timeout", "60s", "wait", &id, "-o", "out.mp4"])
        .args(["--callback-listen", &format!("127.0.0.1:{port}")])
        .args(["--callback-token", TOKEN])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(dir.path().join("out.mp4").is_file(), "{stderr}");
    let queries = sim.requests("get") - before;
    // One query when the wait starts, one when the event arrives; the safety poll (a minute
    // apart) never fires within a task of a few seconds.
    assert!(
        (1..=3).contains(&queries),
        "{queries} task queries\n{stderr}"
    );
    assert!(
        !stderr.contains(TOKEN),
        "the token is never printed: {stderr}"
    );
}

#[test]
fn callback_listen_without_a_token_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env_remove("WAN_ANIMATE_CALLBACK_TOKEN")
        .args(["--sim", "wait", "t-1", "--callback-listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--callback-token"), "{stderr}");
}
