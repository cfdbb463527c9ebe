//! Benchmark: 500 jobs against the simulator with the documented limits (5 creations/s,
//! 20 task queries/s, one running task per model) compressed in time, printing the wall time
//! against the floor those limits impose, the 429s the simulator answered, and the task-API
//! requests per job. Run through `cargo xtask bench batch` (docs/benchmarks.md).
//!
//! `batch_bench scale 10000` instead measures what grows with the number of jobs: the time
//! from the start of a 10,000-job batch to its first create request, and the ledger's
//! transitions per second when 10,000 jobs each go through the five steps at once.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::{Duration, Instant};

use wan_animate_batch::ledger::{JobState, JobUpdate, Ledger, LedgerStore, Transition};
use wan_animate_batch::store::LedgerThread;
use wan_animate_batch::{BatchOptions, run};
use wan_animate_reqwest::{ClientConfig, RetryPolicy};
use wan_animate_sim::{RateLimits, Sim, TaskDurations};

fn write_manifest(path: &std::path::Path, jobs: usize) {
    let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/samples");
    let lines: String = (0..jobs)
        .map(|i| {
            let model = if i % 2 == 0 { "mix" } else { "move" };
            format!("{{\"id\":\"j{i:05}\",\"model\":\"{model}\",\"image\":\"{samples}/person.jpg\",\"video\":\"{samples}/dance.mp4\"}}\n")
        })
        .collect();
    std::fs::write(path, lines).unwrap();
}

/// Time to the first create of a `jobs`-job batch, then ledger transitions per second.
async fn scale(jobs: usize) {
    let sim = Sim::builder()
        .time_scale(1000.0)
        .limits(RateLimits::default().following_time_scale())
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("jobs.jsonl");
    write_manifest(&manifest, jobs);
    let config = ClientConfig::new(sim.api_key())
        .with_base_url(sim.base_url())
        .unwrap()
        .with_retry(RetryPolicy::default());
    let client = wan_animate_reqwest::client(config).unwrap();
    let mut opts = BatchOptions::new(dir.path().join("out"));
    opts.create_per_sec = 5000.0;
    opts.task_api_per_sec = 20_000.0;
    opts.poll_interval = Duration::from_millis(5);
    let start = Instant::now();
    let batch = tokio::spawn(async move { run(client, &manifest, opts, |_| {}).await });
    let first_create = loop {
        if sim.counters().tasks_created.values().sum::<u64>() > 0 {
            break start.elapsed().as_secs_f64();
        }
        if batch.is_finished() || start.elapsed() > Duration::from_secs(600) {
            panic!("no create within 600 s");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    batch.abort();
    let _ = batch.await;
    sim.shutdown().await;

    // The ledger alone: every job through queued -> ... -> downloaded, all jobs at once.
    let ledger_dir = tempfile::tempdir().unwrap();
    let ledger_manifest = ledger_dir.path().join("jobs.jsonl");
    write_manifest(&ledger_manifest, jobs);
    let parsed = wan_animate_batch::manifest::load(&ledger_manifest, false).unwrap();
    let mut ledger = Ledger::open(&ledger_dir.path().join("l.sqlite")).unwrap();
    let synced = Instant::now();
    ledger.sync_jobs(&parsed, 0).unwrap();
    let sync_s = synced.elapsed().as_secs_f64();
    let thread = std::sync::Arc::new(LedgerThread::spawn(Box::new(ledger)));
    let steps = [
        JobState::Queued,
        JobState::Uploaded,
        JobState::Submitting,
        JobState::Submitted,
        JobState::Succeeded,
        JobState::Downloaded,
    ];
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for job in parsed {
        let thread = thread.clone();
        set.spawn(async move {
            for w in steps.windows(2) {
                let updates = if w[1] == JobState::Submitted {
                    vec![JobUpdate::TaskId(format!("task-{}", job.id))]
                } else {
                    vec![]
                };
                thread
                    .transition(
                        Transition::new(job.id.clone(), w[0], w[1], 0).with_updates(updates),
                    )
                    .await
                    .unwrap();
            }
        });
    }
    while set.join_next().await.is_some() {}
    let secs = started.elapsed().as_secs_f64();
    let applied = thread.transitions_applied();
    println!(
        "batch-scale jobs={jobs} first_create_s={first_create:.3} ledger_sync_s={sync_s:.3} ledger_transitions={applied} ledger_transitions_per_s={:.0}",
        applied as f64 / secs
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().nth(1).as_deref() == Some("scale") {
        let jobs = std::env::args()
            .nth(2)
            .and_then(|a| a.parse().ok())
            .unwrap_or(10_000);
        scale(jobs).await;
        return;
    }
    let jobs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(500);
    let scale: f64 = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000.0);
    let durations = TaskDurations::default();
    let sim = Sim::builder()
        .time_scale(scale)
        .durations(durations.clone())
        .limits(RateLimits::default().following_time_scale())
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("jobs.jsonl");
    write_manifest(&manifest, jobs);

    let config = ClientConfig::new(sim.api_key())
        .with_base_url(sim.base_url())
        .unwrap()
        .with_retry(RetryPolicy::default());
    let client = wan_animate_reqwest::client(config).unwrap();
    let mut opts = BatchOptions::new(dir.path().join("out"));
    opts.create_per_sec = 5.0 * scale;
    opts.task_api_per_sec = 20.0 * scale;
    opts.poll_interval = Duration::from_secs_f64(5.0 / scale);
    opts.reconcile_settle = Duration::from_millis(100);

    let start = Instant::now();
    let report = run(client, &manifest, opts, |_| {}).await.unwrap();
    let wall = start.elapsed().as_secs_f64();

    // The floor: each model runs one task at a time (first after the queue delay), and
    // creations are limited to 5/s; both in real seconds at this time scale.
    let output_secs = 3.0;
    let run_secs = (durations.run_per_output_second_std.as_secs_f64() * output_secs)
        .max(durations.min_run.as_secs_f64())
        / scale;
    let per_model = jobs.div_ceil(2) as f64;
    let processing_floor = durations.queue.as_secs_f64() / scale + per_model * run_secs;
    let creation_floor = jobs as f64 / (5.0 * scale);
    let floor = processing_floor.max(creation_floor);
    let c = sim.counters();
    let task_api: u64 = ["get", "list", "cancel"]
        .iter()
        .map(|r| c.requests.get(*r).copied().unwrap_or(0))
        .sum();
    println!(
        "batch    jobs={jobs} time_scale={scale} wall_s={wall:.2} floor_s={floor:.2} over_floor={:.1}% done={} failed={} rate_limited_429={} task_api_requests_per_job={:.2} uploads={}",
        (wall / floor - 1.0) * 100.0,
        report.summary.done,
        report.summary.failed,
        c.rate_limited,
        task_api as f64 / jobs as f64,
        c.uploads_stored,
    );
    sim.shutdown().await;
}
