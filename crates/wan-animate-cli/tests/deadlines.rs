//! `--timeout` bounds every command, not only `wait`: against a server that accepts
//! connections and never answers, `status`, `list --all`, `download` and `submit` (with its
//! reconciliation) end within a couple of seconds of the deadline, with a message and the
//! deadline's exit code. Before, `status` ran 60 s, `download` 73 s, and `list --all` and
//! `submit` until killed.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("wan-animate")
}

/// A server that accepts every connection and never says a word. Returns its origin.
fn stalling_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            match conn {
                // Kept open, never read from or written to.
                Ok(c) => held.push(c),
                Err(_) => return,
            }
        }
    });
    format!("http://{addr}")
}

/// Runs the CLI with `--timeout 3s` against `origin`; returns (exit code, stderr, seconds).
fn run(origin: &str, args: &[&str]) -> (Option<i32>, String, f64) {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = Command::new(bin())
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("WAN_ANIMATE_JOURNAL", "off")
        .env_remove("WAN_ANIMATE_SIM")
        .env_remove("DASHSCOPE_API_KEY")
        .args(["--api-key", "sk-deadline-test", "--timeout", "3s"])
        .args(["--base-url", &format!("{origin}/api/v1")])
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A hard bound so a regression fails instead of hanging the suite.
    let limit = Duration::from_secs(30);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed().as_secs_f64(),
    )
}

#[test]
fn timeout_bounds_status_list_download_and_submit_against_a_stalling_server() {
    let origin = stalling_server();
    let result_url = format!("{origin}/results/t-1.mp4");
    let cases: [(&str, Vec<&str>); 4] = [
        ("status", vec!["status", "t-1"]),
        ("list --all", vec!["list", "--all"]),
        ("download", vec!["download", &result_url, "-o", "out.mp4"]),
        (
            "submit",
            vec![
                "submit",
                "--model",
                "mix",
                "--image",
                "https://media.example/p.jpg",
                "--video",
                "https://media.example/v.mp4",
            ],
        ),
    ];
    let mut broken = Vec::new();
    for (name, args) in cases {
        let (code, stderr, secs) = run(&origin, &args);
        if secs > 5.0 {
            broken.push(format!("{name} ran {secs:.1} s (goal: within 5 s)"));
        }
        if code == Some(0) || code.is_none() {
            broken.push(format!("{name} exited {code:?}: {stderr}"));
        }
        if stderr.trim().is_empty() {
            broken.push(format!("{name} said nothing on stderr"));
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}
