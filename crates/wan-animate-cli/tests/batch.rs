//! Batch end-to-end: manifest errors stop everything before any spend; a batch finishes every
//! job with shared uploads reused; and a crash test kills the batch process with SIGKILL at
//! random moments against a simulator process with fault injection, re-running it until it
//! finishes: every job gets exactly one created task and a complete output.
#![allow(clippy::print_stdout)] // the crash test reports its figures

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("wan-animate")
}

fn manifest(dir: &Path, jobs: usize) -> PathBuf {
    let mut lines = String::new();
    for i in 0..jobs {
        let model = if i % 2 == 0 { "mix" } else { "move" };
        lines.push_str(&format!(
            "{{\"id\":\"job-{i:03}\",\"model\":\"{model}\",\"image\":\"{}\",\"video\":\"{}\",\"mode\":\"std\"}}\n",
            sample("person.jpg"),
            sample("dance.mp4")
        ));
    }
    let path = dir.join("jobs.jsonl");
    std::fs::write(&path, lines).unwrap();
    path
}

/// A `wan-animate sim` server process (it must outlive the batch processes we kill).
struct SimProcess {
    child: Child,
    base_url: String,
}

impl SimProcess {
    fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(bin())
            .args(["sim", "--listen", "127.0.0.1:0", "--no-state"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        Self {
            child,
            base_url: line.trim().to_owned(),
        }
    }

    fn counters(&self) -> Value {
        let origin = self.base_url.trim_end_matches("/api/v1");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let addr = origin.trim_start_matches("http://").to_owned();
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
            s.write_all(
                format!(
                    "GET /__sim/counters HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            )
            .await
            .unwrap();
            let mut buf = Vec::new();
            s.read_to_end(&mut buf).await.unwrap();
            let text = String::from_utf8_lossy(&buf).to_string();
            let body = text.split_once("\r\n\r\n").unwrap().1.to_owned();
            serde_json::from_str(&body).unwrap()
        })
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn batch_cmd(sim: &SimProcess, dir: &Path, manifest: &Path) -> Command {
    let mut cmd = Command::new(bin());
    cmd.current_dir(dir)
        .env("DASHSCOPE_HTTP_BASE_URL", &sim.base_url)
        .env("DASHSCOPE_API_KEY", wan_animate_sim::DEFAULT_API_KEY)
        .env("WAN_ANIMATE_JOURNAL", "off")
        .env("HOME", dir)
        .args(["--retries", "6", "batch"])
        .arg(manifest)
        .args([
            "--out-dir",
            "out",
            "--poll-interval",
            "100ms",
            "--reconcile-settle",
            "300ms",
            "--create-rps",
            "50",
            "--task-rps",
            "200",
        ]);
    cmd
}

#[test]
fn manifest_errors_are_reported_by_line_and_nothing_is_submitted() {
    let sim = SimProcess::start(&["--time-scale", "600"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    std::fs::write(
        &path,
        format!(
            "{{\"id\":\"a\",\"model\":\"mix\",\"image\":\"{}\",\"video\":\"{}\"}}\n{{\"id\":\"b\",\"model\":\"swap\",\"image\":\"x.jpg\",\"video\":\"{}\"}}\n",
            sample("person.jpg"),
            sample("dance.mp4"),
            sample("dance.mp4")
        ),
    )
    .unwrap();
    let out = batch_cmd(&sim, dir.path(), &path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(8), "{stderr}");
    assert!(
        stderr.contains("line 2")
            && stderr.contains("\"swap\"")
            && stderr.contains("x.jpg does not exist"),
        "{stderr}"
    );
    let c = sim.counters();
    assert_eq!(c["uploads_stored"], 0);
    assert!(c["tasks_created"].as_object().unwrap().is_empty());
}

#[test]
fn a_batch_finishes_every_job_reuses_uploads_and_reports() {
    let sim = SimProcess::start(&["--time-scale", "600", "--no-rate-limits"]);
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), 6);
    let out = batch_cmd(&sim, dir.path(), &m)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["summary"]["done"], 6);
    assert_eq!(report["billed_seconds_by_mode"]["wan-std"], 18.0);
    let expected = std::fs::read(sample("dance.mp4")).unwrap();
    for j in report["jobs"].as_array().unwrap() {
        assert_eq!(j["outcome"], "downloaded");
        assert_eq!(
            std::fs::read(j["output_path"].as_str().unwrap()).unwrap(),
            expected
        );
    }
    let c = sim.counters();
    assert_eq!(
        c["uploads_stored"], 4,
        "two files x two models, shared by every job: {c}"
    );
    let created: u64 = c["tasks_created"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(created, 6);
    assert!(dir.path().join("out/report.csv").exists());
    let status = Command::new(bin())
        .current_dir(dir.path())
        .args(["--json", "batch", "status", "--ledger", "out/batch.sqlite"])
        .output()
        .unwrap();
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["summary"]["done"], 6);
}

#[cfg(unix)]
#[test]
fn batches_killed_at_random_moments_finish_with_exactly_one_task_per_job() {
    const JOBS: usize = 24;
    const KILLS: usize = 10;
    // Faults on every route (429, 5xx, dropped connections before and after processing, slow
    // answers, truncated downloads), reproducible from the seed.
    let sim = SimProcess::start(&["--time-scale", "100", "--seed", "7", "--fault-rate", "0.15"]);
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), JOBS);
    let mut rng: u64 = 0x1234_5678;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut kills = 0;
    let mut unkilled_failures = 0;
    let started = Instant::now();
    let mut finished = false;
    let log = dir.path().join("stderr.log");
    while !finished {
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "the batch did not finish in 4 minutes"
        );
        let err = std::fs::File::create(&log).unwrap();
        let mut child = batch_cmd(&sim, dir.path(), &m)
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap();
        if kills < KILLS {
            std::thread::sleep(Duration::from_millis(100 + next() % 500));
            if child.try_wait().unwrap().is_none() {
                // SIGKILL: no cleanup, no flush; the ledger must carry us through.
                child.kill().unwrap();
                kills += 1;
            }
            let status = child.wait().unwrap();
            finished = status.success();
            if status.code().is_some() && !finished {
                unkilled_failures += 1;
                assert!(
                    unkilled_failures < 5,
                    "the batch keeps failing: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        } else {
            let status = child.wait().unwrap();
            finished = status.success();
            if !finished {
                unkilled_failures += 1;
                assert!(
                    unkilled_failures < 5,
                    "the batch keeps failing: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        }
    }
    assert!(
        kills >= KILLS,
        "only {kills} kills happened before the batch finished"
    );
    let c = sim.counters();
    let created: Vec<u64> = c["tasks_created"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(
        created.iter().sum::<u64>(),
        JOBS as u64,
        "exactly one created task per job: {c}"
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out/report.json")).unwrap())
            .unwrap();
    let expected = std::fs::read(sample("dance.mp4")).unwrap();
    let jobs = report["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), JOBS);
    let mut task_ids = std::collections::HashSet::new();
    for j in jobs {
        assert_eq!(j["outcome"], "downloaded", "{j}");
        assert!(
            task_ids.insert(j["task_id"].as_str().unwrap().to_owned()),
            "a task adopted by two jobs: {j}"
        );
        assert_eq!(
            std::fs::read(j["output_path"].as_str().unwrap()).unwrap(),
            expected,
            "complete and playable: {j}"
        );
    }
    println!(
        "crash test: {kills} SIGKILLs, {} s, faults injected: {}",
        started.elapsed().as_secs(),
        c["faults"]
    );
}

fn tasks_created(c: &Value) -> u64 {
    c["tasks_created"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum()
}

fn requests(c: &Value) -> u64 {
    c["requests"]
        .as_object()
        // `other` is the simulator's own introspection (these counters).
        .map(|o| {
            o.iter()
                .filter(|(route, _)| route.as_str() != "other")
                .filter_map(|(_, n)| n.as_u64())
                .sum()
        })
        .unwrap_or(0)
}

fn status_json(dir: &Path) -> Value {
    let out = Command::new(bin())
        .current_dir(dir)
        .args(["--json", "batch", "status", "--ledger", "out/batch.sqlite"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn two_batch_runs_on_one_ledger_create_one_task_per_job_and_the_second_says_why() {
    const JOBS: usize = 6;
    let sim = SimProcess::start(&["--time-scale", "60"]);
    for (round, delay_ms) in [0u64, 400, 1000].into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let m = manifest(dir.path(), JOBS);
        let before = tasks_created(&sim.counters());
        let first = batch_cmd(&sim, dir.path(), &m)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let second = batch_cmd(&sim, dir.path(), &m)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let second = second.wait_with_output().unwrap();
        if round == 1 {
            // Read-only status works while a run holds the ledger.
            assert!(status_json(dir.path())["jobs"].is_array());
        }
        let first = first.wait_with_output().unwrap();
        let outcomes = [&first, &second];
        let refused: Vec<_> = outcomes.iter().filter(|o| !o.status.success()).collect();
        assert_eq!(
            refused.len(),
            1,
            "exactly one run must be refused (delay {delay_ms} ms): {:?}",
            outcomes
                .iter()
                .map(|o| String::from_utf8_lossy(&o.stderr).to_string())
                .collect::<Vec<_>>()
        );
        let why = String::from_utf8_lossy(&refused[0].stderr);
        assert!(
            why.contains("in use by another batch run") && why.contains("pid "),
            "the refused run names the holder: {why}"
        );
        assert_eq!(
            tasks_created(&sim.counters()) - before,
            JOBS as u64,
            "exactly one task per job (delay {delay_ms} ms)"
        );
        assert_eq!(status_json(dir.path())["summary"]["done"], JOBS);
    }
}

#[cfg(unix)]
#[test]
fn resuming_against_another_endpoint_is_refused_and_the_right_one_finishes() {
    const JOBS: usize = 6;
    let home = SimProcess::start(&["--time-scale", "60"]);
    let elsewhere = SimProcess::start(&["--time-scale", "60"]);
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), JOBS);
    // Interrupt a run once some task exists.
    let mut child = batch_cmd(&home, dir.path(), &m)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while tasks_created(&home.counters()) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no task created"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = status_json(dir.path());

    let moved = batch_cmd(&elsewhere, dir.path(), &m).output().unwrap();
    let stderr = String::from_utf8_lossy(&moved.stderr);
    assert!(!moved.status.success(), "{stderr}");
    assert!(
        stderr.contains(&home.base_url)
            && stderr.contains(&elsewhere.base_url)
            && stderr.contains("--allow-endpoint-change"),
        "the refusal names both endpoints and the way out: {stderr}"
    );
    assert_eq!(
        requests(&elsewhere.counters()),
        0,
        "nothing was sent to the other endpoint"
    );
    assert_eq!(status_json(dir.path()), before, "the ledger is unchanged");

    let back = batch_cmd(&home, dir.path(), &m).output().unwrap();
    assert!(
        back.status.success(),
        "{}",
        String::from_utf8_lossy(&back.stderr)
    );
    let after = status_json(dir.path());
    assert_eq!(after["summary"]["done"], JOBS);
    assert_eq!(tasks_created(&home.counters()), JOBS as u64);
}

#[test]
fn colliding_and_reserved_outputs_are_refused_by_line_before_anything_is_sent() {
    let sim = SimProcess::start(&["--time-scale", "600"]);
    let dir = tempfile::tempdir().unwrap();
    let line = |id: &str, output: &str| {
        format!(
            "{{\"id\":\"{id}\",\"model\":\"mix\",\"image\":\"{}\",\"video\":\"{}\",\"output\":\"{output}\"}}\n",
            sample("person.jpg"),
            sample("dance.mp4")
        )
    };
    let text = [
        line("a", "clip"),
        line("b", "./clip.mp4"),
        line("c", "batch.sqlite"),
        line("d", "report.json"),
        line("e", "."),
        line("f", "sub/"),
        line("g", "fine.mp4"),
    ]
    .concat();
    let path = dir.path().join("jobs.jsonl");
    std::fs::write(&path, text).unwrap();
    let out = batch_cmd(&sim, dir.path(), &path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(8), "{stderr}");
    for needle in [
        "line 2: `output` \"./clip.mp4\" (the file clip.mp4) is already used on line 1",
        "line 3: `output` batch.sqlite: is ",
        "line 4: `output` report.json: is ",
        "line 5: `output` \".\" names the output directory",
        "line 6: `output` \"sub/\" names a directory",
    ] {
        assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    }
    assert!(!stderr.contains("line 7"), "{stderr}");
    let c = sim.counters();
    assert_eq!(c["uploads_stored"], 0, "{c}");
    assert_eq!(tasks_created(&c), 0, "{c}");
}

#[test]
fn a_new_ledger_over_existing_outputs_refuses_instead_of_paying_again() {
    let sim = SimProcess::start(&["--time-scale", "600", "--no-rate-limits"]);
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), 2);
    let out = batch_cmd(&sim, dir.path(), &m).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in ["batch.sqlite", "batch.sqlite-wal", "batch.sqlite-shm"] {
        let _ = std::fs::remove_file(dir.path().join("out").join(f));
    }
    let again = batch_cmd(&sim, dir.path(), &m).output().unwrap();
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(8), "{stderr}");
    assert!(
        stderr.contains("already exist") && stderr.contains("job-000.mp4"),
        "{stderr}"
    );
    assert_eq!(tasks_created(&sim.counters()), 2, "nothing paid twice");
}

/// `n` jobs of `mix` in `wan-std` on the 3-second sample: 1.8 CNY each at the built-in price.
fn mix_manifest(dir: &Path, n: usize) -> PathBuf {
    let mut lines = String::new();
    for i in 0..n {
        lines.push_str(&format!(
            "{{\"id\":\"mix-{i}\",\"model\":\"mix\",\"image\":\"{}\",\"video\":\"{}\",\"mode\":\"std\"}}\n",
            sample("person.jpg"),
            sample("dance.mp4")
        ));
    }
    let path = dir.join("mix.jsonl");
    std::fs::write(&path, lines).unwrap();
    path
}

#[test]
fn a_budget_that_fits_two_of_four_jobs_creates_two_tasks_and_says_why_the_rest_were_held() {
    let sim = SimProcess::start(&["--time-scale", "600", "--no-rate-limits"]);
    let dir = tempfile::tempdir().unwrap();
    let m = mix_manifest(dir.path(), 4);
    // 2 × 1.8 = 3.6 fits in 4; a third job (5.4) would pass it.
    let out = batch_cmd(&sim, dir.path(), &m)
        .args(["--budget", "4", "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("budget of 4 CNY is reached")
            && stderr.contains("estimated 3.60 CNY submitted")
            && stderr.contains("2 job(s) held back"),
        "{stderr}"
    );
    assert_eq!(tasks_created(&sim.counters()), 2);
    // The report, then the error as a JSON document.
    let mut docs = serde_json::Deserializer::from_slice(&out.stdout).into_iter::<Value>();
    let report = docs.next().unwrap().unwrap();
    let error = docs.next().unwrap().unwrap();
    assert!(error.to_string().contains("budget_reached"), "{error}");
    assert_eq!(report["budget"]["held_back"].as_array().unwrap().len(), 2);
    assert_eq!(report["budget"]["spent_estimate"], 3.6);
    let jobs = report["jobs"].as_array().unwrap();
    let held: Vec<&Value> = jobs.iter().filter(|j| j["note"].is_string()).collect();
    assert_eq!(held.len(), 2, "{report}");
    for j in &held {
        assert_eq!(j["outcome"], "queued", "held jobs stay queued: {j}");
        assert!(j["task_id"].is_null());
        assert!(j["note"].as_str().unwrap().contains("--budget"), "{j}");
    }
    // Totals are the sum of the jobs, with the price's origin on each priced job.
    let done: Vec<&Value> = jobs
        .iter()
        .filter(|j| j["outcome"] == "downloaded")
        .collect();
    assert_eq!(done.len(), 2);
    for j in &done {
        assert_eq!(j["billed_seconds"], 3);
        assert_eq!(j["cost"], 1.8);
        assert_eq!(j["currency"], "CNY");
        assert_eq!(j["price_date"], "2025-09");
        assert!(j["price_source"].as_str().is_some_and(|s| !s.is_empty()));
    }
    let sum: f64 = jobs.iter().filter_map(|j| j["cost"].as_f64()).sum();
    let secs: u64 = jobs
        .iter()
        .filter_map(|j| j["billed_seconds"].as_u64())
        .sum();
    assert_eq!(report["totals"]["cost"].as_f64().unwrap(), sum);
    assert_eq!(report["totals"]["cost"], 3.6);
    assert_eq!(report["totals"]["billed_seconds"].as_u64().unwrap(), secs);
    assert_eq!(report["totals"]["currency"], "CNY");
    // `batch status` shows the same costs.
    let status = status_json(dir.path());
    assert_eq!(status["totals"], report["totals"]);
    let noted = status["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| {
            j["note"]
                .as_str()
                .is_some_and(|n| n.contains("--budget 4 CNY"))
        })
        .count();
    assert_eq!(noted, 2, "{status}");
    let csv = std::fs::read_to_string(dir.path().join("out/report.csv")).unwrap();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .contains("billed_seconds,cost,currency"),
        "{csv}"
    );

    // A larger budget on the same ledger submits the held jobs, and only them.
    let out = batch_cmd(&sim, dir.path(), &m)
        .args(["--budget", "8"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(tasks_created(&sim.counters()), 4);
}

#[test]
fn a_move_job_with_a_budget_is_refused_before_anything_is_created() {
    let sim = SimProcess::start(&["--time-scale", "600", "--no-rate-limits"]);
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), 2); // job-000 mix, job-001 move
    let out = batch_cmd(&sim, dir.path(), &m)
        .args(["--budget", "100"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(8), "{stderr}");
    assert!(
        stderr.contains("line 2")
            && stderr.contains("no price is known for wan2.2-animate-move")
            && !stderr.contains("line 1"),
        "{stderr}"
    );
    let c = sim.counters();
    assert_eq!(c["uploads_stored"], 0, "{c}");
    assert_eq!(tasks_created(&c), 0, "{c}");
    assert!(!dir.path().join("out/batch.sqlite").exists());
}

#[test]
fn a_video_given_as_a_url_has_no_known_cost_under_a_budget() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("url.jsonl");
    std::fs::write(
        &path,
        format!(
            "{{\"id\":\"a\",\"model\":\"mix\",\"image\":\"{}\",\"video\":\"https://example.invalid/v.mp4\"}}\n",
            sample("person.jpg")
        ),
    )
    .unwrap();
    let out = Command::new(bin())
        .current_dir(dir.path())
        .env("DASHSCOPE_HTTP_BASE_URL", "http://127.0.0.1:9/api/v1")
        .env("DASHSCOPE_API_KEY", "sk-unused")
        .env("WAN_ANIMATE_JOURNAL", "off")
        .env("HOME", dir.path())
        .args(["batch", "--budget", "10", "--out-dir", "out"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(8), "{stderr}");
    assert!(
        stderr.contains("line 1") && stderr.contains("cost of this job is unknown"),
        "{stderr}"
    );
}

#[test]
fn a_budget_must_be_a_positive_amount() {
    for bad in ["0", "-1", "NaN", "inf", "ten"] {
        let out = Command::new(bin())
            .args(["batch", "jobs.jsonl", &format!("--budget={bad}")])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("invalid value") && stderr.contains("--budget"),
            "{bad}: {stderr}"
        );
    }
}
