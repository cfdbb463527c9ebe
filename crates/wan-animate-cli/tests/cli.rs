//! End-to-end: the real `wan-animate` binary against the simulator. Happy paths with JSON
//! checked field by field, every exit code from a real cause, stdout purity, resume after a
//! deadline, and the README's first command.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;
use wan_animate_sim::{FaultPlan, RateLimits, Sim, SimHandle, TaskDurations};

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

/// A simulator on its own runtime, alive as long as the returned pair.
fn sim(
    configure: impl FnOnce(wan_animate_sim::SimBuilder) -> wan_animate_sim::SimBuilder,
) -> (tokio::runtime::Runtime, SimHandle) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let handle = rt
        .block_on(configure(Sim::builder().time_scale(120.0)).start())
        .unwrap();
    (rt, handle)
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn cli(sim: Option<&SimHandle>, dir: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::cargo_bin("wan-animate").unwrap();
    cmd.current_dir(dir)
        .env_remove("DASHSCOPE_API_KEY")
        .env_remove("DASHSCOPE_API_KEY_FILE_PATH")
        .env_remove("DASHSCOPE_HTTP_BASE_URL")
        .env_remove("WAN_ANIMATE_SIM")
        .env("HOME", dir)
        .env("WAN_ANIMATE_JOURNAL", dir.join("journal.jsonl"))
        .timeout(Duration::from_secs(60));
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
        stdout: String::from_utf8_lossy(&stdout).into(),
        stderr: String::from_utf8_lossy(&stderr).into(),
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

#[test]
fn readme_first_command_runs_the_whole_job_offline() {
    let dir = tempfile::tempdir().unwrap();
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let line = readme
        .lines()
        .find(|l| l.starts_with("cargo run -p wan-animate-cli -- --sim run"))
        .expect("README's first command");
    let args: Vec<String> = line
        .split_whitespace()
        .skip(5)
        .map(|a| {
            if a.starts_with("tests/") {
                root().join(a).display().to_string()
            } else {
                a.to_owned()
            }
        })
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = cli(None, dir.path(), &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = std::fs::read(dir.path().join("out.mp4")).unwrap();
    assert_eq!(
        out,
        std::fs::read(sample("dance.mp4")).unwrap(),
        "the simulator's result is the driving video"
    );
    assert!(
        run.stderr.contains("submitted"),
        "the task id is shown: {}",
        run.stderr
    );
}

#[test]
fn run_with_json_reports_the_task_and_local_facts_and_stdout_is_pure() {
    let (_rt, s) = sim(|b| b);
    let dir = tempfile::tempdir().unwrap();
    let run = cli(
        Some(&s),
        dir.path(),
        &[
            "--json",
            "run",
            "--model",
            "move",
            "--mode",
            "pro",
            "--image",
            &sample("person.jpg"),
            "--video",
            &sample("dance.mp4"),
            "-o",
            "v.mp4",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = json(&run);
    assert_eq!(doc["output"]["task_status"], "SUCCEEDED");
    let id = doc["output"]["task_id"].as_str().unwrap();
    assert!(
        doc["output"]["results"]["video_url"]
            .as_str()
            .unwrap()
            .contains(&format!("/results/{id}.mp4"))
    );
    assert_eq!(doc["usage"]["video_ratio"], "pro");
    assert_eq!(doc["usage"]["video_duration"], 3.0);
    assert!(doc["output"]["submit_time"].is_string() && doc["request_id"].is_string());
    assert_eq!(doc["local"]["bytes"], 3306);
    assert!(
        doc["local"]["output_path"]
            .as_str()
            .unwrap()
            .ends_with("v.mp4")
    );
    let uploaded = doc["local"]["uploaded"].as_array().unwrap();
    assert_eq!(uploaded.len(), 2);
    assert!(
        uploaded
            .iter()
            .all(|u| u["oss_url"].as_str().unwrap().starts_with("oss://"))
    );
    assert!(run.stderr.contains(id), "the task id is on stderr too");
    // Recorded before any waiting.
    let journal = std::fs::read_to_string(dir.path().join("journal.jsonl")).unwrap();
    assert!(journal.contains(id) && !journal.contains(s.api_key()));
    assert_eq!(s.counters().created_total(), 1);
}

#[test]
fn submit_status_wait_list_download_cancel_upload_and_check_work_with_json() {
    let (_rt, s) = sim(|b| b.time_scale(30.0));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let submit = cli(
        Some(&s),
        d,
        &[
            "--json",
            "submit",
            "--model",
            "mix",
            "--image",
            &sample("person.jpg"),
            "--video",
            &sample("dance.mp4"),
            "--watermark",
        ],
    );
    assert_eq!(submit.code, 0, "{}", submit.stderr);
    let doc = json(&submit);
    let id = doc["output"]["task_id"].as_str().unwrap().to_owned();
    assert_eq!(doc["output"]["task_status"], "PENDING");

    let status = cli(Some(&s), d, &["--json", "status", &id]);
    assert_eq!(status.code, 0);
    assert_eq!(json(&status)["output"]["task_id"], id.as_str());

    let wait = cli(Some(&s), d, &["--json", "wait", &id, "--no-download"]);
    assert_eq!(wait.code, 0, "{}", wait.stderr);
    assert_eq!(json(&wait)["output"]["task_status"], "SUCCEEDED");

    let download = cli(Some(&s), d, &["--json", "download", &id, "-o", "r.mp4"]);
    assert_eq!(download.code, 0, "{}", download.stderr);
    assert_eq!(json(&download)["local"]["bytes"], 3306);
    assert_eq!(std::fs::metadata(d.join("r.mp4")).unwrap().len(), 3306);
    let again = cli(Some(&s), d, &["download", &id, "-o", "r.mp4"]);
    assert_eq!(
        again.code, 8,
        "an existing file is not overwritten: {}",
        again.stderr
    );

    let list = cli(Some(&s), d, &["--json", "list", "--model", "mix", "--all"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    let list = json(&list);
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["task_id"] == id.as_str() && t["status"] == "SUCCEEDED")
    );

    let upload = cli(
        Some(&s),
        d,
        &["--json", "upload", &sample("person.jpg"), "--model", "move"],
    );
    assert_eq!(upload.code, 0, "{}", upload.stderr);
    assert!(
        json(&upload)["oss_url"]
            .as_str()
            .unwrap()
            .starts_with("oss://dashscope-instant/")
    );

    let check = cli(
        None,
        d,
        &[
            "--json",
            "check",
            &sample("person.jpg"),
            &sample("dance.mp4"),
        ],
    );
    assert_eq!(check.code, 0);
    let check = json(&check);
    assert_eq!(check["ok"], true);
    assert_eq!(check["files"][1]["duration_secs"], 3.0);
}

#[test]
fn cancel_of_a_pending_task_then_wait_exits_7() {
    let (_rt, s) = sim(|b| b.time_scale(1.0).durations(TaskDurations::default()));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let submit = cli(
        Some(&s),
        d,
        &[
            "submit",
            "--model",
            "mix",
            "--image",
            &sample("person.jpg"),
            "--video",
            &sample("dance.mp4"),
        ],
    );
    assert_eq!(submit.code, 0, "{}", submit.stderr);
    let id = submit.stdout.trim().to_owned();
    let cancel = cli(Some(&s), d, &["--json", "cancel", &id]);
    assert_eq!(cancel.code, 0, "{}", cancel.stderr);
    let wait = cli(Some(&s), d, &["--json", "wait", &id]);
    assert_eq!(wait.code, 7, "{}", wait.stderr);
    let doc = json(&wait);
    assert_eq!(doc["error"]["kind"], "task_canceled");
    assert_eq!(doc["error"]["task_id"], id.as_str());
    assert_eq!(doc["output"]["task_status"], "CANCELED");
}

#[test]
fn an_unknown_task_exits_7() {
    let (_rt, s) = sim(|b| b);
    let dir = tempfile::tempdir().unwrap();
    let wait = cli(Some(&s), dir.path(), &["wait", "no-such-task"]);
    assert_eq!(wait.code, 7, "{}", wait.stderr);
    assert!(
        wait.stderr.contains("UNKNOWN") && wait.stderr.contains("24 hours"),
        "{}",
        wait.stderr
    );
}

#[test]
fn a_wrong_key_exits_3_with_the_service_code_and_request_id() {
    let (_rt, s) = sim(|b| b);
    let dir = tempfile::tempdir().unwrap();
    let run = cli(
        Some(&s),
        dir.path(),
        &["--api-key", "sk-wrong-SECRET", "--json", "status", "t"],
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    let doc = json(&run);
    assert_eq!(doc["error"]["code"], "InvalidApiKey");
    assert_eq!(doc["error"]["http_status"], 401);
    assert!(doc["error"]["request_id"].is_string());
    assert!(
        !run.stderr.contains("SECRET") && !run.stdout.contains("SECRET"),
        "the key is never printed"
    );
}

#[test]
fn no_key_and_no_sim_says_how_to_set_one() {
    let dir = tempfile::tempdir().unwrap();
    let run = cli(None, dir.path(), &["status", "t"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("DASHSCOPE_API_KEY") && run.stderr.contains("--sim"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_throttling_storm_exits_4_after_retries() {
    let (_rt, s) = sim(|b| b.faults(FaultPlan::none().with_429(1.0).on_routes(&["get"])));
    let dir = tempfile::tempdir().unwrap();
    let run = cli(Some(&s), dir.path(), &["--retries", "1", "status", "t"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr.contains("Throttling.RateQuota"),
        "{}",
        run.stderr
    );
    assert_eq!(s.counters().requests["get"], 2, "one retry");
}

#[test]
fn injected_server_errors_exit_6_after_retries() {
    let (_rt, s) = sim(|b| b.faults(FaultPlan::none().with_503(1.0).on_routes(&["get"])));
    let dir = tempfile::tempdir().unwrap();
    let run = cli(Some(&s), dir.path(), &["--retries", "1", "status", "t"]);
    assert_eq!(run.code, 6, "{}", run.stderr);
    assert!(run.stderr.contains("ModelUnavailable"), "{}", run.stderr);
}

#[test]
fn a_deadline_prints_the_task_id_and_a_later_wait_finishes_and_downloads() {
    let (_rt, s) = sim(|b| b.time_scale(20.0));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = cli(
        Some(&s),
        d,
        &[
            "--timeout",
            "1s",
            "run",
            "--model",
            "mix",
            "--image",
            &sample("person.jpg"),
            "--video",
            &sample("dance.mp4"),
            "-o",
            "late.mp4",
        ],
    );
    assert_eq!(run.code, 5, "{}", run.stderr);
    let id = run
        .stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("task ")
                .and_then(|r| r.split_whitespace().next())
        })
        .unwrap()
        .to_owned();
    assert!(
        run.stderr.contains(&format!("wan-animate wait {id}")),
        "{}",
        run.stderr
    );
    assert!(!d.join("late.mp4").exists());
    let wait = cli(Some(&s), d, &["wait", &id, "-o", "late.mp4"]);
    assert_eq!(wait.code, 0, "{}", wait.stderr);
    assert_eq!(std::fs::metadata(d.join("late.mp4")).unwrap().len(), 3306);
    assert_eq!(s.counters().created_total(), 1, "resuming never resubmits");
}

#[test]
fn a_preflight_violation_exits_8_before_anything_is_uploaded() {
    let (_rt, s) = sim(|b| b);
    let dir = tempfile::tempdir().unwrap();
    let tiny = root()
        .join("crates/wan-animate-media/tests/samples/tiny.mp4")
        .display()
        .to_string();
    let run = cli(
        Some(&s),
        dir.path(),
        &[
            "run",
            "--model",
            "mix",
            "--image",
            &sample("person.jpg"),
            "--video",
            &tiny,
        ],
    );
    assert_eq!(run.code, 8, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("video width is 64 px; the limit is 200–2048 px"),
        "{}",
        run.stderr
    );
    let c = s.counters();
    assert_eq!(
        (c.uploads_stored, c.created_total()),
        (0, 0),
        "nothing uploaded, nothing paid"
    );
    let missing = cli(
        Some(&s),
        dir.path(),
        &[
            "run", "--model", "mix", "--image", "nope.jpg", "--video", &tiny,
        ],
    );
    assert_eq!(missing.code, 8);
    assert!(
        missing.stderr.contains("nope.jpg does not exist"),
        "{}",
        missing.stderr
    );
}

#[test]
fn content_moderation_exits_10() {
    let (_rt, s) = sim(|b| b);
    let dir = tempfile::tempdir().unwrap();
    let flagged = dir.path().join("flagged.jpg");
    let mut bytes = std::fs::read(sample("person.jpg")).unwrap();
    bytes.extend_from_slice(b"SIM-MODERATION");
    std::fs::write(&flagged, bytes).unwrap();
    let run = cli(
        Some(&s),
        dir.path(),
        &[
            "--json",
            "run",
            "--model",
            "mix",
            "--image",
            flagged.to_str().unwrap(),
            "--video",
            &sample("dance.mp4"),
        ],
    );
    assert_eq!(run.code, 10, "{}", run.stderr);
    let doc = json(&run);
    assert_eq!(doc["error"]["code"], "DataInspectionFailed");
    assert_eq!(doc["output"]["task_status"], "FAILED");
}

#[test]
fn a_failed_task_of_invalid_media_exits_8_when_preflight_is_skipped() {
    let (_rt, s) = sim(|b| b);
    let dir = tempfile::tempdir().unwrap();
    let tiny = root()
        .join("crates/wan-animate-media/tests/samples/tiny.mp4")
        .display()
        .to_string();
    let run = cli(
        Some(&s),
        dir.path(),
        &[
            "run",
            "--no-preflight",
            "--model",
            "mix",
            "--image",
            &sample("person.jpg"),
            "--video",
            &tiny,
        ],
    );
    assert_eq!(run.code, 8, "{}", run.stderr);
    assert!(
        run.stderr.contains("InvalidFile.Resolution"),
        "{}",
        run.stderr
    );
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        cli(
            None,
            dir.path(),
            &["run", "--model", "swap", "--image", "a", "--video", "b"]
        )
        .code,
        2
    );
    assert_eq!(
        cli(None, dir.path(), &["--timeout", "soon", "status", "t"]).code,
        2
    );
    let help = cli(None, dir.path(), &["--help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("Usage: wan-animate"));
}

#[test]
fn check_reports_every_violation_and_exits_8() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = root()
        .join("crates/wan-animate-media/tests/samples/tiny.png")
        .display()
        .to_string();
    let run = cli(None, dir.path(), &["check", &tiny, &sample("dance.mp4")]);
    assert_eq!(run.code, 8);
    assert!(
        run.stdout.contains("FAIL")
            && run.stdout.contains("image width is 64 px")
            && run.stdout.contains("ok "),
        "{}",
        run.stdout
    );
}

#[test]
fn list_rejects_a_window_it_cannot_parse() {
    let (_rt, s) = sim(|b| b.limits(RateLimits::unlimited()));
    let dir = tempfile::tempdir().unwrap();
    let run = cli(Some(&s), dir.path(), &["list", "--since", "yesterday"]);
    assert_eq!(run.code, 2, "a usage error: {}", run.stderr);
    assert!(run.stderr.contains("yesterday"), "{}", run.stderr);
}

fn flagged_image(dir: &Path, marker: &[u8]) -> String {
    let path = dir.join("flagged.jpg");
    let mut bytes = std::fs::read(sample("person.jpg")).unwrap();
    bytes.extend_from_slice(marker);
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

#[test]
fn a_generic_task_failure_exits_1_with_code_and_task_id() {
    let (_rt, s) = sim(|b| b);
    let dir = tempfile::tempdir().unwrap();
    let image = flagged_image(dir.path(), b"SIM-INTERNAL-ERROR");
    let run = cli(
        Some(&s),
        dir.path(),
        &[
            "--json",
            "run",
            "--model",
            "mix",
            "--image",
            &image,
            "--video",
            &sample("dance.mp4"),
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let doc = json(&run);
    assert_eq!(doc["error"]["kind"], "task_failed");
    assert_eq!(doc["error"]["code"], "InternalError");
    assert_eq!(doc["error"]["task_id"], doc["output"]["task_id"]);
}

#[test]
fn events_stream_ndjson_status_changes_then_the_result() {
    let (_rt, s) = sim(|b| b.time_scale(60.0));
    let dir = tempfile::tempdir().unwrap();
    let run = cli(
        Some(&s),
        dir.path(),
        &[
            "--json",
            "run",
            "--events",
            "--model",
            "mix",
            "--image",
            &sample("person.jpg"),
            "--video",
            &sample("dance.mp4"),
            "-o",
            "e.mp4",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let events: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"status"));
    assert_eq!(&kinds[kinds.len() - 2..], ["finished", "result"]);
    assert_eq!(events.last().unwrap()["task"]["local"]["bytes"], 3306);
}

#[cfg(unix)]
#[test]
fn ctrl_c_while_waiting_exits_130_and_prints_how_to_resume() {
    let (_rt, s) = sim(|b| b.time_scale(1.0));
    let dir = tempfile::tempdir().unwrap();
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("wan-animate"))
        .current_dir(dir.path())
        .env("DASHSCOPE_HTTP_BASE_URL", s.base_url())
        .env("DASHSCOPE_API_KEY", s.api_key())
        .env("WAN_ANIMATE_JOURNAL", "off")
        .args([
            "run",
            "--model",
            "mix",
            "--image",
            &sample("person.jpg"),
            "--video",
            &sample("dance.mp4"),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the task exists (the simulator counted it), then interrupt.
    let start = std::time::Instant::now();
    while s.counters().created_total() == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no task was created"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("resume with: wan-animate wait "),
        "{stderr}"
    );
    assert!(stderr.contains("task id: "), "{stderr}");
}
