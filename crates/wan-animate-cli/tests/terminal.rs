//! What a person sees at the terminal: outputs checked before paying, parse-time validation,
//! exit codes by task state, signals, cost estimates and dry runs, redirected stderr. Each test
//! drives the real binary against a loopback simulator.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;
use wan_animate_sim::{FaultPlan, RateLimits, Sim, SimHandle};

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

fn sim(
    configure: impl FnOnce(wan_animate_sim::SimBuilder) -> wan_animate_sim::SimBuilder,
) -> (tokio::runtime::Runtime, SimHandle) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let handle = rt
        .block_on(
            configure(
                Sim::builder()
                    .time_scale(120.0)
                    .limits(RateLimits::unlimited()),
            )
            .start(),
        )
        .unwrap();
    (rt, handle)
}

struct Run {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

impl Run {
    fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

fn base_cmd(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("wan-animate").unwrap();
    cmd.current_dir(dir)
        .env_remove("DASHSCOPE_API_KEY")
        .env_remove("DASHSCOPE_API_KEY_FILE_PATH")
        .env_remove("DASHSCOPE_HTTP_BASE_URL")
        .env_remove("WAN_ANIMATE_SIM")
        .env_remove("WAN_ANIMATE_PRICES")
        .env_remove("RUST_LOG")
        .env("HOME", dir)
        .env("WAN_ANIMATE_JOURNAL", dir.join("journal.jsonl"))
        .timeout(Duration::from_secs(60));
    cmd
}

fn cli(sim: Option<&SimHandle>, dir: &Path, args: &[&str]) -> Run {
    let mut cmd = base_cmd(dir);
    if let Some(s) = sim {
        cmd.env("DASHSCOPE_HTTP_BASE_URL", s.base_url())
            .env("DASHSCOPE_API_KEY", s.api_key());
    }
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.args(args).output().unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr: String::from_utf8_lossy(&stderr).into(),
    }
}

fn json(run: &Run) -> Value {
    serde_json::from_slice(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
            run.out(),
            run.stderr
        )
    })
}

fn run_args<'a>(extra: &[&'a str], image: &'a str, video: &'a str) -> Vec<&'a str> {
    let mut v = vec!["run", "--model", "mix", "--image", image, "--video", video];
    v.extend_from_slice(extra);
    v
}

fn creates(s: &SimHandle) -> u64 {
    s.counters().created_total()
}

#[test]
fn unwritable_outputs_are_refused_before_any_task_is_created() {
    let (_rt, s) = sim(|b| b);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("taken.mp4"), b"old").unwrap();
    std::fs::create_dir(dir.path().join("adir")).unwrap();
    let (image, video) = (sample("person.jpg"), sample("dance.mp4"));
    for (output, force, want) in [
        ("taken.mp4", false, "already exists"),
        ("missing/dir/x.mp4", false, "does not exist"),
        ("adir", true, "is a directory"),
    ] {
        let mut extra = vec!["-o", output];
        if force {
            extra.push("--force");
        }
        let run = cli(Some(&s), dir.path(), &run_args(&extra, &image, &video));
        assert_eq!(run.code, 8, "{output}: {}", run.stderr);
        assert!(run.stderr.contains(want), "{output}: {}", run.stderr);
        assert!(!run.stderr.contains("submitted"), "{}", run.stderr);
    }
    assert_eq!(
        creates(&s),
        0,
        "nothing may be paid for an unwritable output"
    );
    assert_eq!(
        s.counters().uploads_stored,
        0,
        "nothing may be uploaded either"
    );
    assert_eq!(std::fs::read(dir.path().join("taken.mp4")).unwrap(), b"old");
    // `wait` checks too, before waiting.
    let run = cli(
        Some(&s),
        dir.path(),
        &["wait", "some-task", "-o", "taken.mp4"],
    );
    assert_eq!(run.code, 8, "{}", run.stderr);
    assert_eq!(s.counters().requests.get("get").copied().unwrap_or(0), 0);
}

#[test]
fn dash_output_streams_only_the_video_to_stdout() {
    let (_rt, s) = sim(|b| b);
    let dir = tempfile::tempdir().unwrap();
    let (image, video) = (sample("person.jpg"), sample("dance.mp4"));
    let run = cli(
        Some(&s),
        dir.path(),
        &run_args(&["-o", "-"], &image, &video),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, std::fs::read(&video).unwrap());
    assert!(!dir.path().join("-").exists(), "no file named `-`");
    // -o - and --json both want stdout.
    let run = cli(Some(&s), dir.path(), &["--json", "wait", "x", "-o", "-"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn flags_are_validated_at_parse_time_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    for (args, flag) in [
        (
            vec!["--timeout", "9223372036854775807s", "list"],
            "--timeout",
        ),
        (vec!["--timeout", "1e400", "list"], "--timeout"),
        (
            vec!["batch", "m.jsonl", "--create-rps", "1e-300"],
            "--create-rps",
        ),
        (vec!["batch", "m.jsonl", "--task-rps", "NaN"], "--task-rps"),
        (
            vec!["batch", "m.jsonl", "--max-in-flight", "0"],
            "--max-in-flight",
        ),
        (vec!["--api-key", "", "list"], "--api-key"),
        (vec!["--retries", "100000", "list"], "--retries"),
        (vec!["list", "--since", "yesterday"], "--since"),
        (vec!["list", "--page-size", "0"], "--page-size"),
        (vec!["sim", "--fault-rate", "2"], "--fault-rate"),
    ] {
        let run = cli(None, dir.path(), &args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(flag), "{args:?}: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
}

#[test]
fn days_are_durations_and_wan_animate_sim_1_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = base_cmd(dir.path());
    let out = cmd
        .env("WAN_ANIMATE_SIM", "1")
        .args(["--timeout", "1d", "list"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("simulator"), "{stderr}");
}

#[test]
fn inverted_or_unservable_list_windows_are_refused_with_a_message() {
    let (_rt, s) = sim(|b| b);
    let dir = tempfile::tempdir().unwrap();
    let run = cli(
        Some(&s),
        dir.path(),
        &["list", "--since", "1h", "--until", "2h"],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("inverted"), "{}", run.stderr);
    let run = cli(Some(&s), dir.path(), &["list", "--since", "48h"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("24 h"), "{}", run.stderr);
    assert_eq!(s.counters().requests.get("list").copied().unwrap_or(0), 0);
}

fn flagged_image(dir: &Path, marker: &[u8]) -> String {
    let path = dir.join("flagged.jpg");
    let mut bytes = std::fs::read(sample("person.jpg")).unwrap();
    bytes.extend_from_slice(marker);
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

#[test]
fn status_exits_by_the_tasks_state() {
    let (_rt, s) = sim(|b| b);
    let dir = tempfile::tempdir().unwrap();
    let image = flagged_image(dir.path(), b"SIM-INTERNAL-ERROR");
    let video = sample("dance.mp4");
    let run = cli(
        Some(&s),
        dir.path(),
        &[
            "submit", "--model", "mix", "--image", &image, "--video", &video,
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let id = run.out().trim().to_owned();
    let run = cli(Some(&s), dir.path(), &["wait", &id, "--no-download"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let run = cli(Some(&s), dir.path(), &["--json", "status", &id]);
    assert_eq!(run.code, 1, "a FAILED task: {}", run.stderr);
    let doc = json(&run);
    assert_eq!(doc["output"]["task_status"], "FAILED");
    assert_eq!(doc["error"]["kind"], "task_failed");
    let run = cli(Some(&s), dir.path(), &["status", "no-such-task"]);
    assert_eq!(run.code, 7, "an UNKNOWN task: {}", run.stderr);
}

#[test]
fn events_without_json_print_one_human_line_per_change_on_stdout() {
    let (_rt, s) = sim(|b| b);
    let dir = tempfile::tempdir().unwrap();
    let (image, video) = (sample("person.jpg"), sample("dance.mp4"));
    let run = cli(
        Some(&s),
        dir.path(),
        &run_args(&["--events", "-o", "e.mp4"], &image, &video),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = run.out();
    assert!(out.contains("PENDING"), "{out}");
    assert!(out.contains("-> SUCCEEDED"), "{out}");
    assert!(out.lines().last().unwrap().ends_with("e.mp4"), "{out}");
}

#[test]
fn redirected_stderr_has_no_escape_bytes_and_ends_with_a_summary() {
    let (_rt, s) = sim(|b| b);
    let dir = tempfile::tempdir().unwrap();
    let (image, video) = (sample("person.jpg"), sample("dance.mp4"));
    let run = cli(
        Some(&s),
        dir.path(),
        &run_args(&["-v", "-o", "v.mp4"], &image, &video),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains('\x1b'), "{:?}", run.stderr);
    let last = run.stderr.lines().last().unwrap();
    assert!(
        last.starts_with("done: SUCCEEDED, 3 s billed, about 1.80 CNY, 3.2 KiB, v.mp4"),
        "{last}"
    );
}

#[test]
fn check_prints_billable_seconds_and_the_estimated_cost() {
    let dir = tempfile::tempdir().unwrap();
    let run = cli(
        None,
        dir.path(),
        &["check", &sample("dance.mp4"), "--mode", "pro"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.out()
            .contains("3 s billable, estimated 2.70 CNY (0.9 CNY/s"),
        "{}",
        run.out()
    );
    // No published price for move: say so.
    let run = cli(
        None,
        dir.path(),
        &["check", &sample("dance.mp4"), "--model", "move"],
    );
    assert!(run.out().contains("no price known"), "{}", run.out());
    // A user's table replaces the built-in one.
    let prices = dir.path().join("prices.json");
    std::fs::write(
        &prices,
        r#"[{"model":"wan2.2-animate-move","mode":"wan-std","region":"*","price_per_second":0.5,"currency":"USD","source":"test","date":"2026-11"}]"#,
    )
    .unwrap();
    let run = cli(
        None,
        dir.path(),
        &[
            "--json",
            "--prices",
            prices.to_str().unwrap(),
            "check",
            &sample("dance.mp4"),
            "--model",
            "move",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = json(&run);
    assert_eq!(doc["files"][0]["estimate"]["cost"], 1.5);
    assert_eq!(doc["files"][0]["estimate"]["currency"], "USD");
}

#[test]
fn dry_run_preflights_estimates_and_prints_the_request_without_creating_anything() {
    let (_rt, s) = sim(|b| b);
    let dir = tempfile::tempdir().unwrap();
    let (image, video) = (sample("person.jpg"), sample("dance.mp4"));
    let run = cli(
        Some(&s),
        dir.path(),
        &[
            "--json",
            "submit",
            "--model",
            "mix",
            "--mode",
            "pro",
            "--image",
            &image,
            "--video",
            &video,
            "--dry-run",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = json(&run);
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["request"]["body"]["model"], "wan2.2-animate-mix");
    assert_eq!(doc["request"]["body"]["parameters"]["mode"], "wan-pro");
    assert_eq!(doc["estimate"]["billable_seconds"], 3);
    assert_eq!(doc["estimate"]["cost"], 2.7);
    let run = cli(
        Some(&s),
        dir.path(),
        &run_args(&["--dry-run"], &image, &video),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.out().contains("video-synthesis"), "{}", run.out());
    // A preflight failure is reported, still paying nothing.
    let bad = dir.path().join("bad.jpg");
    std::fs::write(&bad, b"not an image").unwrap();
    let run = cli(
        Some(&s),
        dir.path(),
        &run_args(&["--dry-run"], bad.to_str().unwrap(), &video),
    );
    assert_eq!(run.code, 8, "{}", run.stderr);
    let c = s.counters();
    assert_eq!(c.created_total(), 0);
    assert_eq!(c.uploads_stored, 0);
    assert_eq!(c.requests.values().sum::<u64>(), 0, "{:?}", c.requests);
}

fn spawn(s: &SimHandle, dir: &Path, args: &[&str]) -> Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("wan-animate"))
        .current_dir(dir)
        .env_remove("DASHSCOPE_API_KEY_FILE_PATH")
        .env_remove("WAN_ANIMATE_SIM")
        .env("HOME", dir)
        .env("DASHSCOPE_HTTP_BASE_URL", s.base_url())
        .env("DASHSCOPE_API_KEY", s.api_key())
        .env("WAN_ANIMATE_JOURNAL", dir.join("journal.jsonl"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill(child: &Child, signal: &str) {
    let ok = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

fn finish(child: Child) -> (Option<i32>, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn requests(s: &SimHandle, route: &str) -> u64 {
    let c: BTreeMap<String, u64> = s.counters().requests;
    c.get(route).copied().unwrap_or(0)
}

#[cfg(unix)]
#[test]
fn a_signal_during_the_create_waits_for_the_answer_then_prints_and_journals_the_task_id() {
    let (_rt, s) = sim(|b| {
        b.time_scale(1.0).faults(
            FaultPlan::none()
                .with_slow(1.0, Duration::from_millis(1500))
                .on_routes(&["create"]),
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let (image, video) = (sample("person.jpg"), sample("dance.mp4"));
    let child = spawn(&s, dir.path(), &run_args(&[], &image, &video));
    wait_until("the create request", || requests(&s, "create") >= 1);
    kill(&child, "-INT");
    let (code, stderr) = finish(child);
    assert_eq!(code, Some(130), "{stderr}");
    assert_eq!(creates(&s), 1);
    let journal = std::fs::read_to_string(dir.path().join("journal.jsonl")).unwrap();
    // The task line (the journal also announces the create before it is sent).
    let id = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find_map(|v| v["task_id"].as_str().map(str::to_owned))
        .expect("a task line in the journal");
    assert!(stderr.contains(&format!("task id: {id}")), "{stderr}");
    assert!(
        stderr.contains(&format!("wan-animate wait {id}")),
        "{stderr}"
    );
}

#[cfg(unix)]
#[test]
fn sigterm_and_sighup_while_waiting_exit_143_and_129_with_the_task_id() {
    let (_rt, s) = sim(|b| b.time_scale(1.0));
    let dir = tempfile::tempdir().unwrap();
    let (image, video) = (sample("person.jpg"), sample("dance.mp4"));
    for (signal, want) in [("-TERM", 143), ("-HUP", 129)] {
        let before = creates(&s);
        let child = spawn(&s, dir.path(), &run_args(&[], &image, &video));
        wait_until("the task", || creates(&s) > before);
        std::thread::sleep(Duration::from_millis(300));
        kill(&child, signal);
        let (code, stderr) = finish(child);
        assert_eq!(code, Some(want), "{signal}: {stderr}");
        assert!(stderr.contains("task id: "), "{stderr}");
        assert!(
            stderr.contains("resume with: wan-animate wait "),
            "{stderr}"
        );
    }
}

#[cfg(unix)]
#[test]
fn a_second_signal_exits_at_once_printing_what_is_known() {
    let (_rt, s) = sim(|b| {
        b.time_scale(1.0).faults(
            FaultPlan::none()
                .with_slow(1.0, Duration::from_secs(30))
                .on_routes(&["create"]),
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let (image, video) = (sample("person.jpg"), sample("dance.mp4"));
    let child = spawn(&s, dir.path(), &run_args(&[], &image, &video));
    wait_until("the create request", || requests(&s, "create") >= 1);
    kill(&child, "-INT");
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    kill(&child, "-INT");
    let (code, stderr) = finish(child);
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("wan-animate list"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn bash_completes_flags_and_models_after_the_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let run = cli(None, dir.path(), &["completions", "bash"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let script = dir.path().join("wan-animate.bash");
    std::fs::write(&script, &run.stdout).unwrap();
    // Bash calls the function with (command, word being completed, previous word).
    let driver = format!(
        r#"source '{}'
COMP_WORDS=(wan-animate run --mo); COMP_CWORD=2; _wan__animate wan-animate --mo run; echo "A:${{COMPREPLY[*]}}"
COMP_WORDS=(wan-animate run --model ''); COMP_CWORD=3; _wan__animate wan-animate '' --model; echo "B:${{COMPREPLY[*]}}"
COMP_WORDS=(wan-animate list --status ''); COMP_CWORD=3; _wan__animate wan-animate '' --status; echo "C:${{COMPREPLY[*]}}"
"#,
        script.display()
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(driver)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("A:--model --mode"), "{text}");
    assert!(
        text.contains("B:mix move wan2.2-animate-mix wan2.2-animate-move"),
        "{text}"
    );
    assert!(
        text.contains("C:PENDING RUNNING SUCCEEDED FAILED CANCELED UNKNOWN"),
        "{text}"
    );
}

#[test]
fn help_shows_examples_and_global_options_apart() {
    let dir = tempfile::tempdir().unwrap();
    let run = cli(None, dir.path(), &["run", "--help"]);
    assert_eq!(run.code, 0);
    let out = run.out();
    assert!(out.contains("Examples:\n  wan-animate run"), "{out}");
    assert!(out.contains("Global options:"), "{out}");
    let global = out
        .split("Global options:")
        .nth(1)
        .and_then(|g| g.split("Examples:").next())
        .unwrap();
    assert!(global.contains("--api-key"), "{out}");
    assert!(!global.contains("--image"), "{out}");
}

#[test]
fn a_directory_given_as_the_image_is_called_a_directory() {
    let (_rt, s) = sim(|b| b);
    let dir = tempfile::tempdir().unwrap();
    let video = sample("dance.mp4");
    let here = dir.path().display().to_string();
    let run = cli(
        Some(&s),
        dir.path(),
        &run_args(&["-o", "x.mp4"], &here, &video),
    );
    assert_eq!(run.code, 8, "{}", run.stderr);
    assert!(run.stderr.contains("is a directory"), "{}", run.stderr);
    assert_eq!(creates(&s), 0);
}

/// `-v` logs every HTTP exchange (method, path, status, milliseconds, request id), never the key.
#[test]
fn one_verbose_logs_every_http_exchange_without_the_key() {
    let (_rt, s) = sim(|b| b);
    let dir = tempfile::tempdir().unwrap();
    let run = cli(Some(&s), dir.path(), &["-v", "status", "no-such-task"]);
    assert_eq!(run.code, 7, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("http GET 127.0.0.1/api/v1/tasks/no-such-task -> 200 in "),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("request id "), "{}", run.stderr);
    assert!(!run.stderr.contains(s.api_key()), "{}", run.stderr);
    assert!(!run.stderr.contains('\x1b'), "{:?}", run.stderr);
}

#[cfg(unix)]
#[test]
fn a_signal_during_the_download_stops_it_and_says_how_to_resume() {
    let (_rt, s) = sim(|b| {
        b.faults(
            FaultPlan::none()
                .with_slow(1.0, Duration::from_secs(30))
                .on_routes(&["result"]),
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let (image, video) = (sample("person.jpg"), sample("dance.mp4"));
    let child = spawn(
        &s,
        dir.path(),
        &run_args(&["-o", "slow.mp4"], &image, &video),
    );
    wait_until("the download request", || requests(&s, "result") >= 1);
    let start = Instant::now();
    kill(&child, "-TERM");
    let (code, stderr) = finish(child);
    assert!(start.elapsed() < Duration::from_secs(10), "stopped at once");
    assert_eq!(code, Some(143), "{stderr}");
    assert!(stderr.contains("while downloading"), "{stderr}");
    assert!(stderr.contains("wan-animate download "), "{stderr}");
    assert!(stderr.contains("-o slow.mp4"), "{stderr}");
    assert!(!dir.path().join("slow.mp4").exists());
}
