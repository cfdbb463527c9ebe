//! `kill -9` at random points of 20 downloads (one to three kills each), then one rerun: the file is
//! byte-identical to what the server holds and no temporary file is left. The result is
//! served slowly from a loopback server with `Range` support (seeded, bounded in time).
//! Also the other local-file paths of `download` and `upload`: `-o -` to standard output,
//! and inputs refused before anything is sent (empty, not media, a FIFO).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const DOWNLOADS: usize = 20;
const SIZE: usize = 3 * 1024 * 1024;
const CHUNK: usize = 48 * 1024;

/// A loopback result host: whole file or `Range: bytes=N-`, sent in chunks with a pause
/// between them so that a kill lands mid-body.
struct SlowHost {
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
    ranges: Arc<Mutex<Vec<usize>>>,
    accept: Option<thread::JoinHandle<()>>,
}

impl SlowHost {
    fn start(content: Arc<Vec<u8>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let ranges = Arc::new(Mutex::new(Vec::new()));
        let (stop2, ranges2) = (stop.clone(), ranges.clone());
        let accept = thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (content, ranges, stop) = (content.clone(), ranges2.clone(), stop2.clone());
                thread::spawn(move || serve(stream, &content, &ranges, &stop));
            }
        });
        Self {
            addr,
            stop,
            ranges,
            accept: Some(accept),
        }
    }
}

impl Drop for SlowHost {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut s: TcpStream, content: &[u8], ranges: &Mutex<Vec<usize>>, stop: &AtomicBool) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let start = text
        .lines()
        .find_map(|l| l.strip_prefix("range: bytes="))
        .and_then(|r| r.trim().trim_end_matches('-').parse::<usize>().ok());
    ranges.lock().unwrap().push(start.unwrap_or(0));
    let total = content.len();
    let head = match start {
        Some(a) if a < total => format!(
            "HTTP/1.1 206 Partial Content\r\ncontent-length: {}\r\ncontent-range: bytes {a}-{}/{total}\r\nconnection: close\r\n\r\n",
            total - a,
            total - 1
        ),
        Some(_) => format!(
            "HTTP/1.1 416 Range Not Satisfiable\r\ncontent-range: bytes */{total}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        ),
        None => format!("HTTP/1.1 200 OK\r\ncontent-length: {total}\r\nconnection: close\r\n\r\n"),
    };
    if s.write_all(head.as_bytes()).is_err() {
        return;
    }
    let from = start
        .filter(|a| *a < total)
        .unwrap_or(if start.is_some() { total } else { 0 });
    for chunk in content[from..].chunks(CHUNK) {
        if stop.load(Ordering::SeqCst) || s.write_all(chunk).is_err() {
            return;
        }
        thread::sleep(Duration::from_millis(4));
    }
}

/// xorshift64*: a seeded, dependency-free generator.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

fn spawn_download(dir: &Path, url: &str, out: &str) -> Child {
    wan_animate(dir)
        .args(["download", url, "-o", out])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The binary with a key and an API base on a closed loopback port: the API is never
/// called by these tests.
fn wan_animate(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wan-animate"));
    cmd.current_dir(dir)
        .env_remove("WAN_ANIMATE_SIM")
        .env_remove("DASHSCOPE_API_KEY_FILE_PATH")
        .env("HOME", dir)
        .env("DASHSCOPE_API_KEY", "sk-kill-test")
        // The API is never called for a URL download; point it at a closed loopback port anyway.
        .env("DASHSCOPE_HTTP_BASE_URL", "http://127.0.0.1:9/api/v1")
        .env("WAN_ANIMATE_JOURNAL", dir.join("journal.jsonl"));
    cmd
}

/// Waits for `child` at most `limit`; kills it and fails the test past that.
fn wait_bounded(mut child: Child, limit: Duration) -> (i32, String) {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            return (status.code().unwrap_or(-1), err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("a download ran longer than {limit:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(unix)]
#[test]
fn downloads_killed_at_random_points_end_byte_identical_with_no_temporary_files() {
    let content: Arc<Vec<u8>> = Arc::new(
        (0..SIZE as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect(),
    );
    let host = SlowHost::start(content.clone());
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://{}/results/t-1.mp4?Expires=1&Signature=x", host.addr);
    let mut rng = Rng(0x5eed_0fc0_ffee);
    let started = Instant::now();
    let mut killed_mid_body = 0;
    for i in 0..DOWNLOADS {
        let out = format!("out-{i}.mp4");
        // One to three kills at random points, then reruns until it succeeds.
        let kills = 1 + rng.below(3);
        for _ in 0..kills {
            let mut child = spawn_download(dir.path(), &url, &out);
            thread::sleep(Duration::from_millis(rng.below(400)));
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL
                killed_mid_body += 1;
            }
            let _ = child.wait();
        }
        // One rerun finishes it (the server is healthy; a resume never fails).
        let (code, stderr) = wait_bounded(
            spawn_download(dir.path(), &url, &out),
            Duration::from_secs(60),
        );
        // A killed run may have finished just before its kill: then the output exists.
        let finished_before_kill = code == 8 && stderr.contains("already exists");
        assert!(
            code == 0 || finished_before_kill,
            "download {i}: the rerun exited {code}: {stderr}"
        );
        let got = std::fs::read(dir.path().join(&out)).unwrap();
        assert!(
            got == *content,
            "download {i} is not byte-identical ({} bytes)",
            got.len()
        );
    }
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "journal.jsonl")
        .collect();
    names.sort();
    let mut expected: Vec<String> = (0..DOWNLOADS).map(|i| format!("out-{i}.mp4")).collect();
    expected.sort();
    assert_eq!(names, expected, "no temporary file is left");
    let resumed = host
        .ranges
        .lock()
        .unwrap()
        .iter()
        .filter(|s| **s > 0)
        .count();
    assert!(
        killed_mid_body > 0 && resumed > 0,
        "kills {killed_mid_body}, resumes {resumed}"
    );
    assert!(started.elapsed() < Duration::from_secs(300));
}

/// SIGTERM (and SIGINT, SIGHUP alike) during `download` stops it cleanly: exit 143 with the way to
/// resume, the part file kept, and the same command resumes from it (a `Range` request).
#[cfg(unix)]
#[test]
fn a_signal_stops_a_download_cleanly_keeping_the_part_for_the_rerun() {
    let content: Arc<Vec<u8>> = Arc::new((0..SIZE as u32).map(|i| (i % 251) as u8).collect());
    let host = SlowHost::start(content.clone());
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://{}/results/t-2.mp4", host.addr);
    let child = spawn_download(dir.path(), &url, "out.mp4");
    // Until some bytes are on disk in the part file.
    let deadline = Instant::now() + Duration::from_secs(20);
    let part_len = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
            .map(|e| e.metadata().map_or(0, |m| m.len()))
            .sum::<u64>()
    };
    while part_len() == 0 {
        assert!(Instant::now() < deadline, "no byte arrived");
        thread::sleep(Duration::from_millis(10));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (code, stderr) = wait_bounded(child, Duration::from_secs(20));
    assert_eq!(code, 143, "{stderr}");
    assert!(stderr.contains("resume"), "{stderr}");
    assert!(part_len() > 0, "the part file is kept");
    assert!(!dir.path().join("out.mp4").exists());
    let (code, stderr) = wait_bounded(
        spawn_download(dir.path(), &url, "out.mp4"),
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(std::fs::read(dir.path().join("out.mp4")).unwrap(), *content);
    assert!(
        host.ranges.lock().unwrap().iter().any(|s| *s > 0),
        "resumed"
    );
}

#[test]
fn download_to_standard_output_writes_exactly_the_file() {
    let content: Arc<Vec<u8>> = Arc::new((0..400_000u32).map(|i| (i % 253) as u8).collect());
    let host = SlowHost::start(content.clone());
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://{}/r.mp4", host.addr);
    let child = wan_animate(dir.path())
        .args(["download", &url, "-o", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout == *content,
        "stdout is the file ({} bytes)",
        out.stdout.len()
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "journal.jsonl")
        .collect();
    assert!(left.is_empty(), "no file written: {left:?}");
}

fn upload(dir: &Path, file: &Path) -> (i32, String) {
    let child = wan_animate(dir)
        .args(["upload", &file.display().to_string(), "--model", "move"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_bounded(child, Duration::from_secs(30))
}

#[test]
fn upload_refuses_empty_and_non_media_files_and_directories_before_sending() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.jpg");
    std::fs::write(&empty, b"").unwrap();
    let (code, err) = upload(dir.path(), &empty);
    assert_eq!(code, 8, "{err}");
    assert!(err.contains("empty"), "{err}");

    let text = dir.path().join("notes.jpg");
    std::fs::write(&text, b"just some text, not a picture").unwrap();
    let (code, err) = upload(dir.path(), &text);
    assert_eq!(code, 8, "{err}");
    assert!(err.contains("not an image or video"), "{err}");

    let (code, err) = upload(dir.path(), dir.path());
    assert_eq!(code, 8, "{err}");
    assert!(err.contains("is a directory"), "{err}");
}

#[cfg(unix)]
#[test]
fn upload_refuses_a_fifo_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.mp4");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        return; // no mkfifo here
    }
    let (code, err) = upload(dir.path(), &fifo);
    assert_eq!(code, 8, "{err}");
    assert!(err.contains("not a regular file"), "{err}");
}
