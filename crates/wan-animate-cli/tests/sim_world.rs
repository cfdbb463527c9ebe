//! The offline world: every `--sim` command, in its own process, works on one simulated
//! account kept under the state directory; `wan-animate sim` serves that same world and
//! announces finished tasks to a callback URL.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

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

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A clean environment whose state directory is `dir/state`.
fn command(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("wan-animate").unwrap();
    cmd.current_dir(dir)
        .env_remove("DASHSCOPE_API_KEY")
        .env_remove("DASHSCOPE_API_KEY_FILE_PATH")
        .env_remove("DASHSCOPE_HTTP_BASE_URL")
        .env_remove("WAN_ANIMATE_SIM")
        .env_remove("XDG_STATE_HOME")
        .env("HOME", dir)
        .env("WAN_ANIMATE_STATE_DIR", dir.join("state"))
        .env("WAN_ANIMATE_JOURNAL", "off")
        .timeout(Duration::from_secs(60));
    cmd
}

fn cli(dir: &Path, args: &[&str]) -> Run {
    let out = command(dir).args(args).output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
            run.stdout, run.stderr
        )
    })
}

fn submit(dir: &Path) -> String {
    let (image, video) = (sample("person.jpg"), sample("dance.mp4"));
    let run = cli(
        dir,
        &[
            "--sim", "--json", "submit", "--model", "mix", "--image", &image, "--video", &video,
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    json(&run)["output"]["task_id"]
        .as_str()
        .expect("a task id")
        .to_owned()
}

#[test]
fn sim_submit_then_status_wait_and_list_in_separate_processes_see_one_task() {
    let dir = tempfile::tempdir().unwrap();
    let id = submit(dir.path());

    let status = cli(dir.path(), &["--sim", "--json", "status", &id]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let s = json(&status);
    assert_eq!(s["output"]["task_id"], id.as_str());
    assert_ne!(
        s["output"]["task_status"], "UNKNOWN",
        "a new process sees the task"
    );

    let wait = cli(
        dir.path(),
        &["--sim", "--json", "wait", &id, "-o", "out.mp4"],
    );
    assert_eq!(wait.code, 0, "{}", wait.stderr);
    assert_eq!(
        std::fs::read(dir.path().join("out.mp4")).unwrap(),
        std::fs::read(sample("dance.mp4")).unwrap()
    );

    let list = cli(dir.path(), &["--sim", "--json", "list"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    let l = json(&list);
    let ids: Vec<&str> = l["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str()]);
    assert_eq!(l["data"][0]["status"], "SUCCEEDED");
    assert!(dir.path().join("state/sim/world.json").exists());
}

#[test]
fn sim_reset_empties_the_world_that_sim_commands_use() {
    let dir = tempfile::tempdir().unwrap();
    let id = submit(dir.path());
    let before = cli(dir.path(), &["--sim", "--json", "status", &id]);
    assert_ne!(json(&before)["output"]["task_status"], "UNKNOWN");
    let reset = cli(dir.path(), &["sim", "--reset"]);
    assert_eq!(reset.code, 0, "{}", reset.stderr);
    assert!(reset.stdout.contains("empty"), "{}", reset.stdout);
    let status = cli(dir.path(), &["--sim", "--json", "status", &id]);
    assert_eq!(json(&status)["output"]["task_status"], "UNKNOWN");
    let list = cli(dir.path(), &["--sim", "--json", "list"]);
    assert_eq!(json(&list)["total"], 0);
}

/// `wan-animate sim` as a child process; killed when dropped.
struct Server {
    child: Child,
    base_url: String,
}

impl Server {
    fn start(dir: &Path, extra: &[&str]) -> Self {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("wan-animate"));
        cmd.current_dir(dir)
            .env_remove("XDG_STATE_HOME")
            .env("HOME", dir)
            .env("WAN_ANIMATE_STATE_DIR", dir.join("state"))
            .args(["--json", "sim", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut doc = String::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                doc.push_str(&line);
                if let Ok(v) = serde_json::from_str::<Value>(&doc) {
                    let _ = tx.send(v);
                    return;
                }
            }
        });
        let Ok(doc) = rx.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            panic!("the simulator server printed no base URL");
        };
        Self {
            child,
            base_url: doc["base_url"].as_str().unwrap().to_owned(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_sim_server_serves_the_same_world_as_sim_commands() {
    let dir = tempfile::tempdir().unwrap();
    let id = submit(dir.path());
    let server = Server::start(dir.path(), &[]);
    let status = command(dir.path())
        .env("DASHSCOPE_HTTP_BASE_URL", &server.base_url)
        .env("DASHSCOPE_API_KEY", "sk-sim-local")
        .args(["--json", "status", &id])
        .output()
        .unwrap();
    let s: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(s["output"]["task_id"], id.as_str());
    assert_ne!(s["output"]["task_status"], "UNKNOWN");
    drop(server);
}

/// A loopback receiver on a thread: records each request's Authorization header and body.
fn receiver() -> (String, mpsc::Receiver<(Option<String>, Value)>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(s.try_clone().unwrap());
            let (mut auth, mut len) = (None, 0usize);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    if k.eq_ignore_ascii_case("authorization") {
                        auth = Some(v.trim().to_owned());
                    }
                    if k.eq_ignore_ascii_case("content-length") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0u8; len];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let _ = s.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
            if let Ok(v) = serde_json::from_slice(&body)
                && tx.send((auth, v)).is_err()
            {
                return;
            }
        }
    });
    (url, rx)
}

#[test]
fn the_sim_server_posts_the_completion_event_of_a_task_submitted_by_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let (url, events) = receiver();
    let server = Server::start(
        dir.path(),
        &["--notify-url", &url, "--notify-token", "cb-secret"],
    );
    let id = submit(dir.path());
    let (auth, event) = events
        .recv_timeout(Duration::from_secs(30))
        .expect("an event within 30 s");
    drop(server);
    assert_eq!(auth.as_deref(), Some("Bearer cb-secret"));
    assert_eq!(event["type"], "dashscope:System:AsyncTaskFinish");
    assert_eq!(event["data"]["task_id"], id.as_str());
    assert_eq!(event["data"]["task_status"], "SUCCEEDED");
}

#[test]
fn a_notify_url_off_loopback_or_an_unknown_hostile_mode_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = cli(
        dir.path(),
        &[
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--notify-url",
            "https://example.com/cb",
        ],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("http://"), "{}", run.stderr);
    let run = cli(
        dir.path(),
        &[
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--notify-url",
            "http://127.0.0.1:9/",
            "--notify-hostile",
            "chaos",
        ],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("chaos"), "{}", run.stderr);
}

#[test]
fn an_interrupted_sim_batch_resumes_on_the_same_world_with_one_task_per_job() {
    const JOBS: usize = 8;
    let dir = tempfile::tempdir().unwrap();
    let mut lines = String::new();
    for i in 0..JOBS {
        let model = if i % 2 == 0 { "mix" } else { "move" };
        lines.push_str(&format!(
            "{{\"id\":\"job-{i}\",\"model\":\"{model}\",\"image\":\"{}\",\"video\":\"{}\"}}\n",
            sample("person.jpg"),
            sample("dance.mp4")
        ));
    }
    std::fs::write(dir.path().join("jobs.jsonl"), lines).unwrap();
    let args = [
        "--sim",
        "batch",
        "jobs.jsonl",
        "--out-dir",
        "out",
        "--poll-interval",
        "200ms",
    ];
    // Killed part-way (wherever it is: the assertions hold for any moment), then resumed by
    // a new process with a new in-process simulator on the same world.
    let mut first = std::process::Command::new(assert_cmd::cargo::cargo_bin("wan-animate"))
        .current_dir(dir.path())
        .env_remove("XDG_STATE_HOME")
        .env("HOME", dir.path())
        .env("WAN_ANIMATE_STATE_DIR", dir.path().join("state"))
        .env("WAN_ANIMATE_JOURNAL", "off")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let _ = first.kill();
    let _ = first.wait();
    let resumed = cli(dir.path(), &args);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    let list = cli(dir.path(), &["--sim", "--json", "list", "--all"]);
    assert_eq!(
        json(&list)["total"],
        JOBS,
        "exactly one task per job in the account"
    );
}

#[test]
fn the_world_lives_under_xdg_state_home_else_under_home() {
    let (image, video) = (sample("person.jpg"), sample("dance.mp4"));
    let submit_args = [
        "--sim", "--json", "submit", "--model", "mix", "--image", &image, "--video", &video,
    ];
    let dir = tempfile::tempdir().unwrap();
    let xdg = dir.path().join("xdg");
    let run = command(dir.path())
        .env_remove("WAN_ANIMATE_STATE_DIR")
        .env("XDG_STATE_HOME", &xdg)
        .args(submit_args)
        .output()
        .unwrap();
    assert!(run.status.success());
    assert!(xdg.join("wan-animate/sim/world.json").exists());

    let run = command(dir.path())
        .env_remove("WAN_ANIMATE_STATE_DIR")
        .args(submit_args)
        .output()
        .unwrap();
    assert!(run.status.success());
    assert!(
        dir.path()
            .join(".local/state/wan-animate/sim/world.json")
            .exists()
    );
}
