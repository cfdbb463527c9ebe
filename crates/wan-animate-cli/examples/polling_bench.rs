//! `cargo xtask bench polling`: how many task queries each wait schedule makes, and how late it
//! notices the end, for tasks of 60, 300 and 900 s of service time on the time-scaled simulator.
//!
//! Each schedule drives real `Client::get` queries against a simulator whose clock runs
//! `SCALE` times faster than real time; sleeps are divided by the same factor, and delays are
//! reported in service seconds (real delay x `SCALE`). The detection delay of a task is the time
//! from its `end_time` (as the simulator reports it) to the query that saw it finished.
//!
//! Usage: `polling_bench [TASKS_PER_CELL] [SCALE]` (default 8 tasks, scale 50).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use wan_animate_core::predict::{Expectation, PredictiveSchedule, SpeedModel};
use wan_animate_core::types::{CreateTaskRequest, Mode, Model, TaskStatus};
use wan_animate_core::{Client, ClientConfig, PollPolicy};
use wan_animate_sim::{RateLimits, Sim, TaskDurations};

/// Service time a task spends queued before it runs (the simulator's default).
const QUEUE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Schedule {
    /// `PollPolicy::default()`: 5 s growing x1.5 to 30 s, with jitter.
    Backoff,
    /// The official Python SDK 2.x `jobs.wait`: polls at 1, 3, 7, 15, 23 s, then every 8 s.
    PythonSdk2,
    /// `predict::PredictiveSchedule` with a speed model learned from three finished tasks.
    Predictive,
}

impl Schedule {
    fn name(self) -> &'static str {
        match self {
            Schedule::Backoff => "backoff (today's default)",
            Schedule::PythonSdk2 => "python sdk 2.x (replayed)",
            Schedule::Predictive => "predictive",
        }
    }
}

/// One delay source per waited task.
enum Delays {
    Backoff { policy: PollPolicy, n: u32 },
    Python { n: u32, last: Duration },
    Predictive(Box<PredictiveSchedule>),
}

impl Delays {
    fn new(schedule: Schedule, expect: &Expectation) -> Self {
        match schedule {
            Schedule::Backoff => Delays::Backoff {
                policy: PollPolicy::default(),
                n: 0,
            },
            Schedule::PythonSdk2 => Delays::Python {
                n: 0,
                last: Duration::ZERO,
            },
            Schedule::Predictive => {
                Delays::Predictive(Box::new(PredictiveSchedule::new(expect.clone())))
            }
        }
    }

    /// The service-time sleep before the next query, `elapsed` into the wait.
    fn next(&mut self, elapsed: Duration) -> Duration {
        match self {
            Delays::Backoff { policy, n } => {
                let d = if *n == 0 {
                    Duration::ZERO
                } else {
                    // The same ±10% jitter the client applies.
                    let base = policy.delay(*n - 1);
                    base.mul_f64(0.9 + 0.2 * pseudo_random(*n))
                };
                *n += 1;
                d
            }
            Delays::Python { n, last } => {
                const AT: [u64; 5] = [1, 3, 7, 15, 23];
                let at = match AT.get(*n as usize) {
                    Some(s) => Duration::from_secs(*s),
                    None => *last + Duration::from_secs(8),
                };
                *n += 1;
                *last = at;
                at.saturating_sub(elapsed)
            }
            Delays::Predictive(s) => s.next_delay(elapsed),
        }
    }

    fn observe_running(&mut self, started: Duration) {
        if let Delays::Predictive(s) = self {
            s.observe_running(started);
        }
    }
}

fn pseudo_random(n: u32) -> f64 {
    let x = (n as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((x >> 11) as f64) / ((1u64 << 53) as f64)
}

struct Outcome {
    queries: u32,
    delay_service_secs: f64,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let per_cell: usize = args.first().map(|s| s.parse()).transpose()?.unwrap_or(8);
    let scale: f64 = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(50.0);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let image = root.join("tests/samples/person.jpg");
    let video = root.join("tests/samples/dance.mp4");
    let output_secs = wan_animate_media::probe_file(&video)?
        .duration_secs
        .ok_or("the sample video has no duration")?;

    println!(
        "polling: {per_cell} tasks per cell, time scale {scale}, output {output_secs:.2} s of video"
    );
    println!(
        "| schedule | task (service s) | queries per task | mean detection delay | p95 detection delay |"
    );
    println!("|---|---|---|---|---|");
    for total in [60u64, 300, 900] {
        let run = Duration::from_secs(total) - QUEUE;
        let per_output_sec = run.div_f64(output_secs);
        let mut durations = TaskDurations::default();
        durations.queue = QUEUE;
        durations.run_per_output_second_std = per_output_sec;
        durations.min_run = Duration::ZERO;
        let sim = Sim::builder()
            .time_scale(scale)
            .durations(durations)
            .max_running_per_model(10_000)
            .limits(RateLimits::unlimited())
            .start()
            .await?;
        let config = ClientConfig::new(sim.api_key()).with_base_url(sim.base_url())?;
        let client = wan_animate_reqwest::client(config)?;
        let model = Model::AnimateMove;
        let image_url = client.upload_file(&model, &image, None).await?.oss_url;
        let video_url = client.upload_file(&model, &video, None).await?.oss_url;
        let request = CreateTaskRequest::new(model, image_url, video_url, Mode::Standard);

        // What the account's history would have taught: three finished tasks of this speed.
        let mut speed = SpeedModel::prior();
        for _ in 0..3 {
            speed.observe(&Mode::Standard, output_secs, run);
        }
        let expect = Expectation::new(&speed, output_secs, &Mode::Standard, 0);

        for schedule in [
            Schedule::Backoff,
            Schedule::PythonSdk2,
            Schedule::Predictive,
        ] {
            let mut waits = tokio::task::JoinSet::new();
            for _ in 0..per_cell {
                let client = client.clone();
                let request = request.clone();
                let delays = Delays::new(schedule, &expect);
                waits.spawn(async move { wait_one(&client, &request, delays, scale).await });
            }
            let mut outcomes = Vec::new();
            while let Some(r) = waits.join_next().await {
                outcomes.push(r?.map_err(|e| e.to_string())?);
            }
            print_row(schedule, total, &outcomes);
        }
        sim.shutdown().await;
    }
    Ok(())
}

async fn wait_one(
    client: &Client,
    request: &CreateTaskRequest,
    mut delays: Delays,
    scale: f64,
) -> Result<Outcome, Arc<str>> {
    let task = client
        .submit(request)
        .await
        .map_err(|e| Arc::from(e.to_string()))?;
    let started = Instant::now();
    let mut queries = 0u32;
    loop {
        let elapsed = started.elapsed().mul_f64(scale);
        let sleep = delays.next(elapsed);
        tokio::time::sleep(sleep.div_f64(scale)).await;
        let t = client
            .get(&task.task_id)
            .await
            .map_err(|e| Arc::from(e.to_string()))?;
        queries += 1;
        let seen = SystemTime::now();
        match t.output.task_status {
            TaskStatus::Running | TaskStatus::Pending => {
                if t.output.task_status == TaskStatus::Running {
                    let run_start = t
                        .output
                        .scheduled_time
                        .as_ref()
                        .and_then(|s| s.to_system_time())
                        .and_then(|s| {
                            let wait_start = SystemTime::now() - started.elapsed();
                            s.duration_since(wait_start).ok()
                        })
                        .unwrap_or_default();
                    delays.observe_running(run_start.mul_f64(scale));
                }
            }
            TaskStatus::Succeeded => {
                let end = t
                    .output
                    .end_time
                    .as_ref()
                    .and_then(|s| s.to_system_time())
                    .ok_or_else(|| Arc::from("no end_time"))?;
                let late = seen.duration_since(end).unwrap_or_default();
                return Ok(Outcome {
                    queries,
                    delay_service_secs: late.as_secs_f64() * scale,
                });
            }
            other => return Err(Arc::from(format!("task ended {other}"))),
        }
    }
}

fn print_row(schedule: Schedule, total: u64, outcomes: &[Outcome]) {
    let n = outcomes.len().max(1) as f64;
    let queries = outcomes.iter().map(|o| o.queries as f64).sum::<f64>() / n;
    let mut delays: Vec<f64> = outcomes.iter().map(|o| o.delay_service_secs).collect();
    delays.sort_by(|a, b| a.total_cmp(b));
    let mean = delays.iter().sum::<f64>() / n;
    let p95 = delays
        .get(((delays.len() as f64 * 0.95).ceil() as usize).saturating_sub(1))
        .copied()
        .unwrap_or(0.0);
    println!(
        "| {} | {total} | {queries:.1} | {mean:.1} s | {p95:.1} s |",
        schedule.name()
    );
}
