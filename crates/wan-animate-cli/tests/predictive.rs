//! Predictive polling from the command line: `run` learns this account's speed from each
//! finished task (in the state directory) and the next wait uses it.

use std::path::{Path, PathBuf};
use std::process::Command;

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

/// One `--sim -v run` in `state`; returns how many task queries its wait made (`-v` logs
/// one line per HTTP exchange).
fn sim_run(state: &Path) -> usize {
    let out = Command::new(assert_cmd::cargo::cargo_bin("wan-animate"))
        .env("WAN_ANIMATE_STATE_DIR", state)
        .env("WAN_ANIMATE_JOURNAL", "off")
        .env_remove("RUST_LOG")
        .args([
            "--sim",
            "-v",
            "--timeout",
            "60s",
            "run",
            "--model",
            "wan2.2-animate-move",
        ])
        .args([
            "--image",
            &sample("person.jpg"),
            "--video",
            &sample("dance.mp4"),
        ])
        .arg("--no-download")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("SUCCEEDED"), "{stderr}");
    stderr
        .lines()
        .filter(|l| l.contains(" GET ") && l.contains("/api/v1/tasks/"))
        .count()
}

#[test]
fn a_second_sim_run_waits_predictively_with_fewer_task_queries_than_the_backoff() {
    let dir = tempfile::tempdir().unwrap();
    // The first wait knows no speed yet: the default backoff.
    let backoff = sim_run(dir.path());
    // The second predicts the end from the first task's speed.
    let predictive = sim_run(dir.path());
    assert!(
        predictive < backoff,
        "predictive {predictive} task queries, backoff {backoff}"
    );
    // The simulator's speed is kept apart from the real account's.
    assert!(dir.path().join("speed-sim.json").is_file());
    assert!(!dir.path().join("speed.json").exists());
}

#[test]
fn a_corrupt_speed_model_warns_and_the_run_still_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("speed-sim.json"), b"{not json").unwrap();
    std::fs::write(dir.path().join("submitted-sim.json"), b"[[[").unwrap();
    let out = Command::new(assert_cmd::cargo::cargo_bin("wan-animate"))
        .env("WAN_ANIMATE_STATE_DIR", dir.path())
        .env("WAN_ANIMATE_JOURNAL", "off")
        .args([
            "--sim",
            "--timeout",
            "60s",
            "run",
            "--model",
            "wan2.2-animate-move",
        ])
        .args([
            "--image",
            &sample("person.jpg"),
            "--video",
            &sample("dance.mp4"),
        ])
        .arg("--no-download")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("speed model"), "{stderr}");
    // Rewritten, learned from the finished task.
    let saved = std::fs::read_to_string(dir.path().join("speed-sim.json")).unwrap();
    assert!(saved.contains("\"samples\": 1"), "{saved}");
}
