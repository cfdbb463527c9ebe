//! The attack on "never hand over someone else's task" (issue 10): twelve `wan-animate run`
//! processes, three at a time, against one simulator whose create route fails at random
//! (seeded): 500 and 503 answers, connections dropped before or after the task is made, slow
//! answers. All runs share one task journal, as runs on one machine do.
//!
//! Every run drives the model with its own copy of the sample video (an MP4 `free` box names the
//! run), and the simulator's result is the driving video: the bytes of a task's result say which
//! run created it, whatever the runs print. Then:
//! - no run ends (exit 0) with a task another run created, and no two runs end with one task;
//! - no run creates two tasks (nothing is resubmitted after an ambiguous failure);
//! - every task the simulator created is in the journal, or named by the run that created it
//!   in its "a task may have been created" message (never lost without a word);
//! - every run that ended without a task says a task may exist and how to check.
//!
//! `WAN_ANIMATE_BIN` points the runs at another build of the binary (to try older code); the
//! test's own tools (listing, downloading results) always use this build.
#![allow(clippy::print_stdout)] // the test reports its figures

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use serde_json::Value;
use wan_animate_sim::{FaultPlan, Sim};

const RUNS: usize = 12;
const AT_ONCE: usize = 3;
/// The create faults in arrival order from this seed begin `ok, 500, 503, 500, slow, 500`
/// and later hold `drop-after, drop-before, drop-before` (the last round of three runs): a
/// failure while exactly one other run's task is recent, then a dropped create beside two
/// others whose creates were dropped before anything was made.
const SEED: u64 = 8;
/// The whole test, simulator included.
const BUDGET: Duration = Duration::from_secs(60);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sample(name: &str) -> PathBuf {
    root().join("tests/samples").join(name)
}

/// This build's binary: the test's own tools.
fn tool_bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("wan-animate")
}

/// The binary under attack: this build, or `WAN_ANIMATE_BIN`.
fn run_bin() -> PathBuf {
    std::env::var_os("WAN_ANIMATE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(tool_bin)
}

/// The sample video with an MP4 `free` box naming run `k` appended: a valid, distinct input.
fn video_of_run(dir: &Path, k: usize) -> (PathBuf, Vec<u8>) {
    let mut bytes = std::fs::read(sample("dance.mp4")).unwrap();
    let payload = format!("wan-animate lifecycle test, run {k:02}");
    bytes.extend_from_slice(&(8 + payload.len() as u32).to_be_bytes());
    bytes.extend_from_slice(b"free");
    bytes.extend_from_slice(payload.as_bytes());
    let path = dir.join(format!("video-{k:02}.mp4"));
    std::fs::write(&path, &bytes).unwrap();
    (path, bytes)
}

/// What one run did.
struct RunResult {
    status: ExitStatus,
    stdout: Value,
    stderr: String,
}

impl RunResult {
    fn task_id(&self) -> Option<&str> {
        self.stdout["output"]["task_id"].as_str()
    }

    fn describe(&self, k: usize) -> String {
        format!(
            "run {k}: {} task {:?}\n{}",
            self.status,
            self.task_id(),
            self.stderr
        )
    }
}

/// A child process killed when dropped, so a failing test leaves no process behind.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn wait_bounded(child: &mut Child, until: Instant) -> ExitStatus {
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() >= until {
            let _ = child.kill();
            let s = child.wait().unwrap();
            panic!("a process overran the test's time budget; killed ({s})");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs this build's binary as a tool against the simulator; its JSON output. Output goes
/// to files (a pipe could fill up while we wait).
fn tool(base_url: &str, key: &str, dir: &Path, args: &[&str], until: Instant) -> Value {
    let out_path = dir.join("tool.json");
    let err_path = dir.join("tool.log");
    let mut child = Reaped(
        Command::new(tool_bin())
            .current_dir(dir)
            .env("HOME", dir)
            .env("WAN_ANIMATE_JOURNAL", "off")
            .env("DASHSCOPE_API_KEY", key)
            .args(["--base-url", base_url, "--json", "-q"])
            .args(args)
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let status = wait_bounded(&mut child.0, until);
    let err = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert!(status.success(), "tool {args:?} failed: {status}\n{err}");
    serde_json::from_slice(&std::fs::read(&out_path).unwrap())
        .unwrap_or_else(|e| panic!("tool {args:?}: {e}"))
}

#[test]
fn runs_under_create_faults_never_end_with_another_runs_task_and_lose_none() {
    let started = Instant::now();
    let until = started + BUDGET;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let videos: Vec<(PathBuf, Vec<u8>)> = (0..RUNS).map(|k| video_of_run(dir.path(), k)).collect();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Faults on the create route only: every one of them leaves the client unsure whether a
    // task was made (500/503 and a dropped connection before processing made none; a
    // connection dropped after processing made one). No 429: throttling is provably harmless
    // and retried, which is tested elsewhere.
    let faults = FaultPlan::none()
        .with_seed(SEED)
        .with_500(0.25)
        .with_503(0.05)
        .with_drop_before(0.15)
        .with_drop_after(0.2)
        .with_slow(0.1, Duration::from_millis(300))
        .on_routes(&["create"]);
    let sim = rt
        .block_on(Sim::builder().time_scale(600.0).faults(faults).start())
        .unwrap();
    let base_url = sim.base_url().to_owned();
    let key = sim.api_key().to_owned();

    let mut results: Vec<RunResult> = Vec::with_capacity(RUNS);
    for round in 0..RUNS / AT_ONCE {
        let children: Vec<_> = (0..AT_ONCE)
            .map(|j| {
                let k = round * AT_ONCE + j;
                let out =
                    std::fs::File::create(dir.path().join(format!("run-{k:02}.json"))).unwrap();
                let err =
                    std::fs::File::create(dir.path().join(format!("run-{k:02}.log"))).unwrap();
                let child = Command::new(run_bin())
                    .current_dir(dir.path())
                    .env("HOME", dir.path())
                    .env("WAN_ANIMATE_JOURNAL", &journal)
                    .env("DASHSCOPE_API_KEY", &key)
                    .args([
                        "--base-url",
                        &base_url,
                        "--retries",
                        "3",
                        "--timeout",
                        "40s",
                    ])
                    .args(["run", "--json", "--model", "mix", "--mode", "std"])
                    .arg("--image")
                    .arg(sample("person.jpg"))
                    .arg("--video")
                    .arg(&videos[k].0)
                    .arg("-o")
                    .arg(format!("out-{k:02}.mp4"))
                    .stdout(out)
                    .stderr(err)
                    .spawn()
                    .unwrap();
                (k, Reaped(child))
            })
            .collect();
        for (k, mut child) in children {
            let status = wait_bounded(&mut child.0, until);
            let stdout =
                std::fs::read(dir.path().join(format!("run-{k:02}.json"))).unwrap_or_default();
            let stderr =
                std::fs::read_to_string(dir.path().join(format!("run-{k:02}.log"))).unwrap();
            let stdout = serde_json::from_slice(&stdout).unwrap_or(Value::Null);
            results.push(RunResult {
                status,
                stdout,
                stderr,
            });
        }
    }
    let runs_took = started.elapsed();

    // Every task the simulator holds, and whose driving video (so which run) made it.
    let listed = tool(
        &base_url,
        &key,
        dir.path(),
        &["list", "--all", "--since", "1h", "--page-size", "100"],
        until,
    );
    let tasks: Vec<String> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"].as_str().unwrap().to_owned())
        .collect();
    let created_total = sim.counters().created_total();
    assert_eq!(
        tasks.len() as u64,
        created_total,
        "the list shows every created task"
    );
    let mut creator: BTreeMap<String, usize> = BTreeMap::new();
    for id in &tasks {
        let file = dir.path().join(format!("task-{id}.mp4"));
        let file_arg = file.display().to_string();
        tool(
            &base_url,
            &key,
            dir.path(),
            &["--timeout", "20s", "wait", id, "-o", &file_arg],
            until,
        );
        let bytes = std::fs::read(&file).unwrap();
        let k = videos
            .iter()
            .position(|(_, v)| *v == bytes)
            .unwrap_or_else(|| panic!("task {id}'s result is no run's video"));
        creator.insert(id.clone(), k);
    }
    let journaled: HashSet<String> = std::fs::read_to_string(&journal)
        .unwrap_or_default()
        .lines()
        // Task lines; the journal also holds announcements of creates in flight.
        .filter_map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["task_id"].as_str().map(str::to_owned)
        })
        .collect();

    let report: Vec<String> = results
        .iter()
        .enumerate()
        .map(|(k, r)| r.describe(k))
        .collect();
    let report = report.join("\n");

    // Every broken promise is collected, so one run of the test shows all of them.
    let mut broken: Vec<String> = Vec::new();
    // Nothing was paid twice: no run made more than one task.
    for k in 0..RUNS {
        let made: Vec<&String> = creator
            .iter()
            .filter(|(_, c)| **c == k)
            .map(|(id, _)| id)
            .collect();
        if made.len() > 1 {
            broken.push(format!(
                "run {k} created {} tasks {made:?}: it resubmitted",
                made.len()
            ));
        }
    }
    let mut handed_out = HashSet::new();
    let mut succeeded = 0;
    let mut unknown = 0;
    for (k, r) in results.iter().enumerate() {
        let own_task = creator.iter().find(|(_, c)| **c == k).map(|(id, _)| id);
        if r.status.success() {
            succeeded += 1;
            let Some(id) = r.task_id() else {
                broken.push(format!("run {k} succeeded without a task id"));
                continue;
            };
            match creator.get(id) {
                Some(c) if *c == k => {}
                c => broken.push(format!(
                    "run {k} ended (exit 0) with task {id}, created by run {c:?}, not by itself"
                )),
            }
            if !handed_out.insert(id.to_owned()) {
                broken.push(format!("task {id} was handed out to two runs"));
            }
            if std::fs::read(dir.path().join(format!("out-{k:02}.mp4")))
                .ok()
                .as_ref()
                != Some(&videos[k].1)
            {
                broken.push(format!("run {k} wrote another run's video (or none)"));
            }
            if !journaled.contains(id) {
                broken.push(format!("run {k}'s task {id} is not in the journal"));
            }
        } else {
            unknown += 1;
            // Only ambiguous create failures are injected: a run without a task must say one
            // may exist, how to check, and name the task if it made one.
            if !(r.stderr.contains("may have been created")
                && r.stdout["error"]["task_may_exist"] == true)
            {
                broken.push(format!(
                    "run {k} ended without a task and without saying one may exist"
                ));
            }
            if !r.stderr.contains("wan-animate list") {
                broken.push(format!(
                    "run {k} says a task may exist but not how to check (`wan-animate list ...`)"
                ));
            }
            if let Some(id) = own_task
                && !(journaled.contains(id) || r.stderr.contains(id.as_str()))
            {
                broken.push(format!(
                    "run {k} created task {id} and neither journaled nor named it: lost"
                ));
            }
        }
    }
    // Every created task is in the journal, unless the run that made it failed and named it
    // (checked above).
    for (id, k) in &creator {
        if !journaled.contains(id) && results[*k].status.success() {
            broken.push(format!("task {id} of run {k} is not in the journal"));
        }
    }
    assert!(
        broken.is_empty(),
        "{} broken promises (faults injected: {:?}):\n- {}\n\nwhat the runs said:\n{report}",
        broken.len(),
        sim.counters().faults,
        broken.join("\n- ")
    );
    let took = started.elapsed();
    assert!(took < BUDGET, "took {took:?}");
    let faults = sim.counters().faults;
    println!(
        "lifecycle attack: {RUNS} runs ({AT_ONCE} at a time) in {runs_took:?}, {succeeded} with their own task, {unknown} outcome unknown, {} tasks created, {} journaled, faults {faults:?}, {took:?} in all",
        tasks.len(),
        journaled.len()
    );
    rt.block_on(sim.shutdown());
}
