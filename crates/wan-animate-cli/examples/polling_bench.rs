//! `cargo xtask bench polling`: how many task queries each wait schedule makes, and how late it
//! notices the end, for tasks of 60, 300 and 900 s of service time on the time-scaled simulator.
//!
//! Every row runs the real wait path, `Client::wait_with` with a `PollPolicy`, on a client
//! whose time runs `SCALE` times faster than real time, like the simulator's:
//! - an injected `Sleep` divides every delay by `SCALE` and an injected `Clock` runs `SCALE`
//!   times faster (monotonic and wall clock alike);
//! - a `TimeWarp` HTTP wrapper shows the client the simulator's timestamps (`scheduled_time`,
//!   `end_time`, `submit_time`, the `Date` header) on that same fast clock, so durations read
//!   from them are service durations (the simulator stamps real wall-clock times). It also
//!   counts the task queries per task and notes when each task was first seen finished.
//!
//! The waits of a cell begin 0 to 8 s after their submissions, spread evenly (see `PHASES`).
//! The detection delay of a task is the time from its `end_time` to the answer that showed it
//! finished, in service seconds.
//!
//! Rows: `PollPolicy::default()` (today's backoff), the Python SDK 2.x `jobs.wait` schedule
//! (queries at 1, 3, 7, 15, 23 s, then every 8 s) replayed with `PollPolicy::with_fixed_delays`,
//! and `PollPolicy::with_expectation` with a speed model learned (`SpeedModel::observe_task`)
//! from three tasks finished on the same simulator first; then the same with the expected run
//! time 10% too long and 10% too short, to show what a wrong speed model costs.
//!
//! The callbacks rows wait by push: the simulator of each cell announces every task that ends
//! (`Sim::builder().notify`, spec §17) to a `CallbackServer` on loopback, a forwarder calls
//! `CompletionSignals::notify` for each event, and the waiting client (same time warp, built
//! with those signals) queries at once and otherwise only every `signal_safety_interval`:
//! 60 s of service time, then its default (15 min). The forwarder notes when each event
//! arrived, which splits their detection delay into the event's delivery (the notifier and
//! the receiver) and the client's part (the signal to the answer that showed the end).
//!
//! Usage: `polling_bench [TASKS_PER_CELL] [SCALE]` (default 20 tasks, scale 25).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use wan_animate_callback::{CallbackServer, CallbackToken};
use wan_animate_core::http::{HttpClient, HttpRequest, HttpResponse, ResponseBody, TransportError};
use wan_animate_core::http_types as http;
use wan_animate_core::predict::{Expectation, SpeedModel};
use wan_animate_core::rt::{Clock, Sleep, http_date};
use wan_animate_core::types::{
    CreateTaskRequest, EpochMillis, Mode, Model, ServiceTime, TaskResponse,
};
use wan_animate_core::{Client, ClientConfig, CompletionSignals, PollPolicy};
use wan_animate_reqwest::ReqwestClient;
use wan_animate_sim::{NotifyConfig, RateLimits, Sim, TaskDurations};

/// Service time a task spends queued before it runs (the simulator's default).
const QUEUE: Duration = Duration::from_secs(5);
/// Warm-up tasks whose run times teach the predictive row its speed.
const LEARN_FROM: usize = 3;
/// The waits of a cell begin this long after their submissions, spread evenly over the tasks
/// (task `i` of `n` at `(i + 0.5) / n` of it). The simulator's durations are exact, so without
/// this every task of a cell would end at the same moment of a fixed schedule (the Python SDK's
/// 8 s grid) and its delay would be the luck of that one phase; real durations vary.
const PHASES: Duration = Duration::from_secs(8);
/// Submissions are this far apart (real time), in the order the tasks are spawned, so no two
/// tasks of a cell end within a few milliseconds of each other. The simulator's notifier
/// sleeps its full 100 ms (real) poll when the next task end is already past once it has
/// sent the previous events, so a burst of ends all submitted at once would show ~100 ms x
/// SCALE of notifier lag that is an artifact of the simulator, not of callbacks.
const SUBMIT_SPACING: Duration = Duration::from_millis(20);
/// The shared secret of the bench's receiver (loopback only).
const CALLBACK_TOKEN: &str = "polling-bench-callback-token";
/// The safety interval of the first callbacks row (service time); the second uses the default.
const SHORT_SAFETY: Duration = Duration::from_secs(60);

/// Real time mapped onto a clock running `scale` times faster, from a common origin.
#[derive(Debug, Clone, Copy)]
struct Warp {
    scale: f64,
    mono0: Instant,
    wall0: SystemTime,
}

impl Warp {
    fn new(scale: f64) -> Self {
        Self {
            scale,
            mono0: Instant::now(),
            wall0: SystemTime::now(),
        }
    }

    /// A real wall-clock time on the fast clock.
    fn wall(&self, t: SystemTime) -> SystemTime {
        match t.duration_since(self.wall0) {
            Ok(d) => self.wall0 + d.mul_f64(self.scale),
            Err(e) => self.wall0 - e.duration().mul_f64(self.scale),
        }
    }
}

impl Clock for Warp {
    fn now(&self) -> Instant {
        self.mono0 + self.mono0.elapsed().mul_f64(self.scale)
    }
    fn wall_now(&self) -> SystemTime {
        self.wall(SystemTime::now())
    }
}

impl Sleep for Warp {
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(duration.div_f64(self.scale))
    }
}

/// What the wrapper saw of one task.
#[derive(Debug, Default, Clone)]
struct Seen {
    queries: u32,
    /// On the fast clock: the first answer that showed the task finished, and its `end_time`.
    finished: Option<(SystemTime, SystemTime)>,
}

/// Forwards to the simulator, translating its timestamps onto the fast clock and counting.
#[derive(Debug, Clone)]
struct TimeWarp {
    inner: ReqwestClient,
    warp: Warp,
    seen: Arc<Mutex<HashMap<String, Seen>>>,
}

impl HttpClient for TimeWarp {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let task_id = (request.method() == http::Method::GET)
            .then(|| request.uri().path().rsplit_once("/tasks/"))
            .flatten()
            .map(|(_, id)| id.to_owned());
        let response = self.inner.send(request).await?;
        let received = self.warp.wall_now();
        let (mut head, body) = response.into_parts();
        head.headers.insert(
            http::header::DATE,
            http::HeaderValue::from_str(&http_date(received))
                .map_err(|e| TransportError::other(e.to_string()))?,
        );
        let Some(task_id) = task_id else {
            return Ok(http::Response::from_parts(head, body));
        };
        let bytes = body.collect(1 << 20).await?;
        let mut json: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| TransportError::other(e.to_string()))?;
        let mut end = None;
        if let Some(output) = json.get_mut("output").and_then(|o| o.as_object_mut()) {
            for field in ["submit_time", "scheduled_time", "end_time"] {
                let Some(v) = output.get_mut(field) else {
                    continue;
                };
                let Some(t) = v
                    .as_str()
                    .and_then(|s| ServiceTime::new(s).to_system_time())
                else {
                    continue;
                };
                let warped = self.warp.wall(t);
                if field == "end_time" {
                    end = Some(warped);
                }
                *v = ServiceTime::from_unix_millis(EpochMillis::from_system_time(warped).0)
                    .as_str()
                    .into();
            }
        }
        {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            let s = seen.entry(task_id).or_default();
            s.queries += 1;
            if let (None, Some(end)) = (s.finished, end) {
                s.finished = Some((received, end));
            }
        }
        let body = serde_json::to_vec(&json).map_err(|e| TransportError::other(e.to_string()))?;
        head.headers.remove(http::header::CONTENT_LENGTH);
        Ok(http::Response::from_parts(
            head,
            ResponseBody::from_bytes(body),
        ))
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Schedule {
    Backoff,
    PythonSdk2,
    Predictive,
    /// The predictive schedule with a speed 10% off: predicting `factor` times the truth.
    Mispredicted(f64),
    /// Waiting by push with this safety interval (service time).
    Callbacks(Duration),
}

impl Schedule {
    fn name(self) -> &'static str {
        match self {
            Schedule::Backoff => "backoff (today's default)",
            Schedule::PythonSdk2 => "python sdk 2.x (replayed)",
            Schedule::Predictive => "predictive (speed learned from 3 tasks)",
            Schedule::Mispredicted(f) if f > 1.0 => "predictive, speed model 10% too slow",
            Schedule::Mispredicted(_) => "predictive, speed model 10% too fast",
            Schedule::Callbacks(d) if d == PollPolicy::default().signal_safety_interval => {
                "callbacks (safety poll every 15 min, the default)"
            }
            Schedule::Callbacks(_) => "callbacks (safety poll every 60 s)",
        }
    }

    /// How long after submitting the first query goes out (ours query at once).
    fn first_query_after(self) -> Duration {
        match self {
            Schedule::PythonSdk2 => Duration::from_secs(1),
            _ => Duration::ZERO,
        }
    }

    fn policy(self, expect: &Expectation) -> PollPolicy {
        match self {
            Schedule::Backoff => PollPolicy::default(),
            // The first query at 1 s (see `first_query_after`), then 3, 7, 15, 23, 31, ...
            Schedule::PythonSdk2 => PollPolicy::default()
                .with_fixed_delays([2, 4, 8, 8].map(Duration::from_secs))
                .without_jitter(),
            Schedule::Predictive => PollPolicy::default().with_expectation(expect.clone()),
            Schedule::Mispredicted(f) => {
                let mut e = expect.clone();
                e.run = e.run.mul_f64(f);
                e.queue = e.queue.mul_f64(f);
                PollPolicy::default().with_expectation(e)
            }
            Schedule::Callbacks(safety) => {
                PollPolicy::default().with_signal_safety_interval(safety)
            }
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let per_cell: usize = args.first().map(|s| s.parse()).transpose()?.unwrap_or(20);
    let scale: f64 = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(25.0);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let image = root.join("tests/samples/person.jpg");
    let video = root.join("tests/samples/dance.mp4");
    let output_secs = wan_animate_media::probe_file(&video)?
        .duration_secs
        .ok_or("the sample video has no duration")?;

    println!(
        "polling: {per_cell} tasks per cell, time scale {scale}, output {output_secs:.2} s of video; \
         real Client::wait_with on a {scale}x clock"
    );
    println!(
        "| schedule | task (service s) | queries per task | mean detection delay | p95 detection delay | event published / arrived, mean / arrived p95 |"
    );
    println!("|---|---|---|---|---|---|");
    for total in [60u64, 300, 900] {
        let run = Duration::from_secs(total) - QUEUE;
        let mut durations = TaskDurations::default();
        durations.queue = QUEUE;
        durations.run_per_output_second_std = run.div_f64(output_secs);
        durations.min_run = Duration::ZERO;
        // The receiver of the callbacks rows, bound first so the simulator can be told where.
        let (receiver, mut events) = CallbackServer::builder(CallbackToken::new(CALLBACK_TOKEN)?)
            .bind("127.0.0.1:0")
            .await?;
        let notify = NotifyConfig::new(format!("http://{}/events", receiver.local_addr()))
            .with_token(CALLBACK_TOKEN);
        let sim = Sim::builder()
            .time_scale(scale)
            .notify(notify)
            .durations(durations)
            .max_running_per_model(10_000)
            .limits(RateLimits::unlimited())
            .start()
            .await?;
        let config = ClientConfig::new(sim.api_key()).with_base_url(sim.base_url())?;
        // Uploads and submissions on real time; waits on the fast clock.
        let submitter = wan_animate_reqwest::client(config.clone())?;
        let warp = Warp::new(scale);
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let time_warp = TimeWarp {
            inner: ReqwestClient::new()?,
            warp,
            seen: seen.clone(),
        };
        let waiter = Client::builder(config.clone())
            .http_client(time_warp.clone())
            .sleep(warp)
            .clock(warp)
            .build()?;
        // The callbacks rows: the same client, plus wake-ups from the receiver's events.
        let signals = CompletionSignals::new();
        let push_waiter = Client::builder(config)
            .http_client(time_warp)
            .sleep(warp)
            .clock(warp)
            .completion_signals(signals.clone())
            .build()?;
        // When each task's event was published (its `aliyunpublishtime`, stamped by the
        // notifier as it found the task ended) and when it reached the forwarder, on the fast
        // clock.
        let arrivals: Arc<Mutex<HashMap<String, Arrival>>> = Arc::default();
        let forwarder = {
            let arrivals = arrivals.clone();
            tokio::spawn(async move {
                while let Some(event) = events.recv().await {
                    let arrived = warp.wall_now();
                    signals.notify(&event.data.task_id);
                    let published = event
                        .aliyunpublishtime
                        .as_ref()
                        .and_then(|t| t.to_unix_millis())
                        .and_then(|ms| u64::try_from(ms).ok())
                        .map(|ms| warp.wall(SystemTime::UNIX_EPOCH + Duration::from_millis(ms)));
                    arrivals
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry(event.data.task_id)
                        .or_insert(Arrival { published, arrived });
                }
            })
        };
        let model = Model::AnimateMove;
        let image_url = submitter.upload_file(&model, &image, None).await?.oss_url;
        let video_url = submitter.upload_file(&model, &video, None).await?.oss_url;
        let request = CreateTaskRequest::new(model, image_url, video_url, Mode::Standard);

        // What the account's history teaches: the run times of three finished tasks.
        let mut speed = SpeedModel::prior();
        let warmup = spawn_waits(
            &submitter,
            &waiter,
            &request,
            LEARN_FROM,
            &PollPolicy::default(),
            (warp, Duration::ZERO, Duration::ZERO),
            0,
        );
        for done in warmup.join_all().await {
            speed.observe_task(&done?, output_secs, &Mode::Standard);
        }
        let expect = Expectation::new(&speed, output_secs, &Mode::Standard, 0);

        // All rows at once, on one simulator: each task's figures are its own.
        let schedules = [
            Schedule::Backoff,
            Schedule::PythonSdk2,
            Schedule::Predictive,
            Schedule::Mispredicted(1.1),
            Schedule::Mispredicted(0.9),
            Schedule::Callbacks(SHORT_SAFETY),
            Schedule::Callbacks(PollPolicy::default().signal_safety_interval),
        ];
        let mut rows = Vec::new();
        for (r, schedule) in schedules.into_iter().enumerate() {
            let policy = schedule.policy(&expect);
            let waiter = match schedule {
                Schedule::Callbacks(_) => &push_waiter,
                _ => &waiter,
            };
            rows.push(spawn_waits(
                &submitter,
                waiter,
                &request,
                per_cell,
                &policy,
                (warp, schedule.first_query_after(), PHASES),
                r * per_cell,
            ));
        }
        for (schedule, waits) in schedules.into_iter().zip(rows) {
            let mut figures = Vec::new();
            for done in waits.join_all().await {
                let done = done?;
                let s = seen
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&done.output.task_id)
                    .cloned()
                    .unwrap_or_default();
                let (seen_at, end) = s.finished.ok_or("a finished task without end_time")?;
                let delay = seen_at.duration_since(end).unwrap_or_default();
                let delivery = match schedule {
                    Schedule::Callbacks(_) => {
                        let arrived = arrivals
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get(&done.output.task_id)
                            .copied();
                        let since_end =
                            |t: SystemTime| t.duration_since(end).unwrap_or_default().as_secs_f64();
                        // No event: the safety poll found the end.
                        Some(arrived.map(|a| (a.published.map(since_end), since_end(a.arrived))))
                    }
                    _ => None,
                };
                figures.push(Figures {
                    queries: s.queries,
                    delay: delay.as_secs_f64(),
                    delivery,
                });
            }
            print_row(schedule, total, &figures);
        }
        sim.shutdown().await;
        receiver.shutdown().await;
        forwarder.await?;
    }
    Ok(())
}

/// Submits `n` tasks and waits for each with `policy`, concurrently, the wait of task `i`
/// beginning `phases * (i + 0.5) / n` after its submission and its first query `first` later
/// (service time). Task `i` is submitted `(first_ticket + i) * SUBMIT_SPACING` (real) from now.
fn spawn_waits(
    submitter: &Client,
    waiter: &Client,
    request: &CreateTaskRequest,
    n: usize,
    policy: &PollPolicy,
    (warp, first, phases): (Warp, Duration, Duration),
    first_ticket: usize,
) -> tokio::task::JoinSet<Result<TaskResponse, String>> {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let first = first + phases.mul_f64((i as f64 + 0.5) / n as f64);
        let (submitter, waiter) = (submitter.clone(), waiter.clone());
        let (request, policy) = (request.clone(), policy.clone());
        let submit_after = SUBMIT_SPACING * u32::try_from(first_ticket + i).unwrap_or(u32::MAX);
        set.spawn(async move {
            tokio::time::sleep(submit_after).await;
            let task = submitter
                .submit(&request)
                .await
                .map_err(|e| e.to_string())?;
            warp.sleep(first).await;
            waiter
                .wait_with(&task.task_id, &policy)
                .await
                .map_err(|e| e.to_string())
        });
    }
    set
}

/// One task's event, on the fast clock.
#[derive(Debug, Clone, Copy)]
struct Arrival {
    published: Option<SystemTime>,
    arrived: SystemTime,
}

/// What one wait showed.
struct Figures {
    queries: u32,
    /// Service seconds from the task's end to the answer that showed it.
    delay: f64,
    /// Callbacks rows: service seconds from the task's end to its event's publication (the
    /// notifier found the task ended) and to its arrival at the forwarder (`None` inside: no
    /// event came).
    delivery: Option<Option<(Option<f64>, f64)>>,
}

/// Mean and p95 of `values`.
fn mean_p95(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(|a, b| a.total_cmp(b));
    let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
    let p95 = values
        .get(((values.len() as f64 * 0.95).ceil() as usize).saturating_sub(1))
        .copied()
        .unwrap_or(0.0);
    (mean, p95)
}

fn print_row(schedule: Schedule, total: u64, figures: &[Figures]) {
    let n = figures.len().max(1) as f64;
    let queries = figures.iter().map(|f| f64::from(f.queries)).sum::<f64>() / n;
    let (mean, p95) = mean_p95(figures.iter().map(|f| f.delay).collect());
    let delivery = if figures.iter().any(|f| f.delivery.is_some()) {
        let events: Vec<_> = figures
            .iter()
            .filter_map(|f| f.delivery.flatten())
            .collect();
        let missing = figures.len() - events.len();
        let (published, _) = mean_p95(events.iter().filter_map(|e| e.0).collect());
        let (arrived, arrived_p95) = mean_p95(events.iter().map(|e| e.1).collect());
        let mut cell = format!("{published:.2} s / {arrived:.2} s / {arrived_p95:.2} s");
        if missing > 0 {
            cell.push_str(&format!(" ({missing} events not in when the waits ended)"));
        }
        cell
    } else {
        "-".to_owned()
    };
    println!(
        "| {} | {total} | {queries:.1} | {mean:.1} s | {p95:.1} s | {delivery} |",
        schedule.name()
    );
}
