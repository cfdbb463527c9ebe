//! Predictive polling: when the end of a task can be estimated, poll sparsely until shortly
//! before it and densely around it; when nothing is known, fall back to plain backoff.
//!
//! What is known before a wait starts: the length of the output (the probed driving video),
//! the mode, how many of our own tasks of the same model are ahead (the service runs one task
//! per model at a time), and how fast this account's finished tasks were ([`SpeedModel`], which
//! callers keep between runs). Once the task is seen `RUNNING` its `scheduled_time` pins the
//! start, so only the run time remains uncertain.
//!
//! Everything here is pure: the schedule is a function of elapsed times and observations,
//! tested without clocks. `Client::wait_with` / `watch_with` follow it when the policy carries
//! an expectation ([`PollPolicy::with_expectation`](crate::PollPolicy::with_expectation));
//! [`SpeedModel::load`] / [`save`](SpeedModel::save) keep the model between runs, and
//! [`SpeedModel::observe_task`] learns from each finished task.
//!
//! ```
//! use std::time::Duration;
//! use wan_animate_core::predict::{Expectation, PredictiveSchedule, SpeedModel};
//! use wan_animate_core::types::Mode;
//!
//! // A 3 s output in standard mode, nothing ahead of it, the default speed prior.
//! let expect = Expectation::new(&SpeedModel::prior(), 3.0, &Mode::Standard, 0);
//! let mut schedule = PredictiveSchedule::new(expect);
//! // The first query is immediate, the second early (fast failures), then it sleeps long.
//! let first = schedule.next_delay(Duration::ZERO);
//! assert_eq!(first, Duration::ZERO);
//! ```

use std::path::Path;
use std::time::Duration;

use wan_animate_types::{Mode, TaskResponse, TaskStatus};

use crate::error::Error;
use crate::poll::PollPolicy;

/// How long processing takes per second of output, by mode, and how sure we are of it.
///
/// The prior comes from the service's documentation (a 5.2 s output took about 2.5 min end
/// to end, spec §3) and is wide; [`SpeedModel::observe`] narrows it with the account's own
/// finished tasks.
///
/// ```
/// use std::time::Duration;
/// use wan_animate_core::predict::SpeedModel;
/// use wan_animate_core::types::Mode;
/// let mut speed = SpeedModel::prior();
/// for _ in 0..4 {
///     speed.observe(&Mode::Standard, 3.0, Duration::from_secs(60));
/// }
/// assert_eq!(speed.run_time(&Mode::Standard, 3.0), Duration::from_secs(60));
/// assert!(speed.spread(&Mode::Standard) < 0.1);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SpeedModel {
    /// Seconds of processing per second of output, standard mode.
    pub std_secs_per_output_sec: f64,
    /// Seconds of processing per second of output, professional mode.
    pub pro_secs_per_output_sec: f64,
    /// Finished standard tasks observed.
    pub std_samples: u32,
    /// Finished professional tasks observed.
    pub pro_samples: u32,
    /// How much standard tasks' speeds scatter: an exponential average of the squared
    /// relative deviation of each observation from the mean before it.
    pub std_rel_variance: f64,
    /// The same for professional tasks.
    pub pro_rel_variance: f64,
}

impl SpeedModel {
    /// What the documentation suggests, with no observation yet.
    pub fn prior() -> Self {
        Self {
            std_secs_per_output_sec: 25.0,
            pro_secs_per_output_sec: 35.0,
            std_samples: 0,
            pro_samples: 0,
            std_rel_variance: 0.0,
            pro_rel_variance: 0.0,
        }
    }

    fn slot(&mut self, mode: &Mode) -> (&mut f64, &mut u32, &mut f64) {
        match mode {
            Mode::Pro => (
                &mut self.pro_secs_per_output_sec,
                &mut self.pro_samples,
                &mut self.pro_rel_variance,
            ),
            _ => (
                &mut self.std_secs_per_output_sec,
                &mut self.std_samples,
                &mut self.std_rel_variance,
            ),
        }
    }

    /// Learns from a finished task: `output_secs` of video took `run` to process
    /// (`end_time - scheduled_time`). Ignores nonsense (zero or negative lengths).
    pub fn observe(&mut self, mode: &Mode, output_secs: f64, run: Duration) {
        if !(output_secs.is_finite() && output_secs > 0.0) || run.is_zero() {
            return;
        }
        let rate = run.as_secs_f64() / output_secs;
        let (mean, n, var) = self.slot(mode);
        if *n == 0 {
            *mean = rate;
            *var = 0.0;
        } else {
            let dev = (rate - *mean) / *mean;
            *var += (dev * dev - *var) * 0.3;
            // An exponential average: recent tasks count most, the service's speed drifts.
            *mean += (rate - *mean) * 0.3;
        }
        *n = n.saturating_add(1);
    }

    /// Learns from a finished task: its run time is `end_time - scheduled_time` (both on the
    /// service's clock). Only `SUCCEEDED` tasks with both times count; returns whether it did.
    ///
    /// ```
    /// use wan_animate_core::predict::SpeedModel;
    /// use wan_animate_core::types::{Mode, TaskResponse};
    /// let task: TaskResponse = serde_json::from_str(r#"{"output":{"task_id":"t",
    ///     "task_status":"SUCCEEDED","scheduled_time":"2025-09-18 15:32:00.000",
    ///     "end_time":"2025-09-18 15:33:30.000"}}"#).unwrap();
    /// let mut speed = SpeedModel::prior();
    /// assert!(speed.observe_task(&task, 3.0, &Mode::Standard));
    /// assert_eq!(speed.std_secs_per_output_sec, 30.0);
    /// ```
    pub fn observe_task(&mut self, task: &TaskResponse, output_secs: f64, mode: &Mode) -> bool {
        if task.output.task_status != TaskStatus::Succeeded {
            return false;
        }
        let time = |t: &Option<wan_animate_types::ServiceTime>| {
            t.as_ref().and_then(|t| t.to_system_time())
        };
        let (Some(start), Some(end)) = (
            time(&task.output.scheduled_time),
            time(&task.output.end_time),
        ) else {
            return false;
        };
        let Ok(run) = end.duration_since(start) else {
            return false;
        };
        if !(output_secs.is_finite() && output_secs > 0.0) || run.is_zero() {
            return false;
        }
        self.observe(mode, output_secs, run);
        true
    }

    /// Reads a model saved by [`save`](Self::save). A missing, unreadable or corrupt file,
    /// or nonsense values in it, give the [`prior`](Self::prior): the model is a hint, never
    /// a reason to fail a wait.
    ///
    /// ```
    /// use wan_animate_core::predict::SpeedModel;
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("speed.json");
    /// assert_eq!(SpeedModel::load(&path), SpeedModel::prior()); // nothing saved yet
    /// let mut speed = SpeedModel::prior();
    /// speed.observe(&wan_animate_core::types::Mode::Pro, 2.0, std::time::Duration::from_secs(50));
    /// speed.save(&path).unwrap();
    /// assert_eq!(SpeedModel::load(&path), speed);
    /// ```
    pub fn load(path: &Path) -> Self {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| Self::from_json(&bytes))
            .unwrap_or_else(Self::prior)
    }

    fn from_json(bytes: &[u8]) -> Option<Self> {
        let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        let rate = |mode: &str| -> Option<(f64, u32, f64)> {
            let m = v.get(mode)?;
            let r = m.get("secs_per_output_sec")?.as_f64()?;
            let n = m.get("samples")?.as_u64()?;
            // Absent in older files: no scatter known.
            let var = match m.get("rel_variance") {
                None => 0.0,
                Some(x) => x.as_f64().filter(|x| x.is_finite() && *x >= 0.0)?,
            };
            (r.is_finite() && r > 0.0).then_some((r, u32::try_from(n).unwrap_or(u32::MAX), var))
        };
        let prior = Self::prior();
        let (std_rate, std_n, std_var) =
            rate("std").unwrap_or((prior.std_secs_per_output_sec, 0, 0.0));
        let (pro_rate, pro_n, pro_var) =
            rate("pro").unwrap_or((prior.pro_secs_per_output_sec, 0, 0.0));
        Some(Self {
            std_secs_per_output_sec: std_rate,
            pro_secs_per_output_sec: pro_rate,
            std_samples: std_n,
            pro_samples: pro_n,
            std_rel_variance: std_var,
            pro_rel_variance: pro_var,
        })
    }

    /// Writes the model as JSON, atomically: to a temporary file in the same directory, then
    /// renamed over `path`, so a crash never leaves half a file. Creates the directory.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let json = serde_json::json!({
            "version": 1,
            "std": {
                "secs_per_output_sec": self.std_secs_per_output_sec,
                "samples": self.std_samples,
                "rel_variance": self.std_rel_variance,
            },
            "pro": {
                "secs_per_output_sec": self.pro_secs_per_output_sec,
                "samples": self.pro_samples,
                "rel_variance": self.pro_rel_variance,
            },
        });
        let what = "save the polling speed model";
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::local_io(what, dir, e))?;
        }
        let mut tmp = path.as_os_str().to_owned();
        // Unique per process and per save, so concurrent savers never share a temporary.
        static SAVES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SAVES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tmp.push(format!(".tmp-{}-{n}", std::process::id()));
        let tmp = std::path::PathBuf::from(tmp);
        let body = serde_json::to_vec_pretty(&json).unwrap_or_default();
        let written = std::fs::write(&tmp, body).and_then(|()| std::fs::rename(&tmp, path));
        written.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::local_io(what, path, e)
        })
    }

    /// The expected processing time of `output_secs` of video in `mode`.
    pub fn run_time(&self, mode: &Mode, output_secs: f64) -> Duration {
        let rate = match mode {
            Mode::Pro => self.pro_secs_per_output_sec,
            _ => self.std_secs_per_output_sec,
        };
        let secs = (rate * output_secs.max(0.0)).clamp(0.0, 4.0 * 3600.0);
        Duration::from_secs_f64(if secs.is_finite() { secs } else { 0.0 })
    }

    /// The relative uncertainty of [`run_time`](Self::run_time): wide with no observation,
    /// narrowing with each one down to 5%, but never below twice the relative scatter of the
    /// speeds observed (capped at 50%).
    pub fn spread(&self, mode: &Mode) -> f64 {
        let (n, var) = match mode {
            Mode::Pro => (self.pro_samples, self.pro_rel_variance),
            _ => (self.std_samples, self.std_rel_variance),
        };
        let by_count: f64 = match n {
            0 => 0.5,
            1 => 0.2,
            2 => 0.1,
            _ => 0.05,
        };
        // Two standard deviations of the scatter seen, when it is wider.
        let scatter = 2.0 * var.max(0.0).sqrt();
        if scatter.is_finite() {
            by_count.max(scatter).min(0.5)
        } else {
            0.5
        }
    }
}

impl Default for SpeedModel {
    fn default() -> Self {
        Self::prior()
    }
}

/// What a wait expects of one task.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Expectation {
    /// Expected time from the start of the wait until processing starts (tasks ahead).
    pub queue: Duration,
    /// Expected processing time.
    pub run: Duration,
    /// Relative uncertainty of both (0.2 is ±20%).
    pub spread: f64,
}

impl Expectation {
    /// The expectation for `output_secs` of video in `mode`, with `ahead` of our own tasks of
    /// the same model queued before it (the service runs one per model at a time).
    pub fn new(speed: &SpeedModel, output_secs: f64, mode: &Mode, ahead: u32) -> Self {
        let run = speed.run_time(mode, output_secs);
        Self {
            queue: run.saturating_mul(ahead),
            run,
            spread: speed.spread(mode),
        }
    }
}

/// The schedule's tuning. With a right speed model the defaults see the end within about
/// 0.5 s, at a fraction of the queries of a fixed schedule (docs/benchmarks.md, "polling").
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PredictiveTuning {
    /// The early query that catches tasks failing at once (validation after queueing).
    pub early_check: Duration,
    /// Before the window around the expected end: sleep this fraction of the time left
    /// until the window, so a few queries notice a start or a failure.
    pub sparse_fraction: f64,
    /// The shortest sparse sleep: closer than this, poll densely.
    pub min_sparse: Duration,
    /// The interval inside the window around the expected end. Its queries fall on a grid
    /// anchored at the expected end plus `end_lag`, so a task that ends as predicted is seen
    /// at once rather than up to one interval late.
    pub dense: Duration,
    /// How long after the expected end the anchoring query goes out (the service's clock and
    /// ours disagree a little; a query just before the end sees nothing).
    pub end_lag: Duration,
    /// The smallest half-width of that window.
    pub min_window: Duration,
    /// Past the window, the interval grows by this factor up to `late_max`.
    pub late_growth: f64,
    /// The longest interval for a task late beyond all expectation.
    pub late_max: Duration,
}

impl Default for PredictiveTuning {
    fn default() -> Self {
        Self {
            early_check: Duration::from_secs(5),
            // A quarter, not a half: a task ending before the window (a speed model 10% too
            // slow) is then seen about 3 s late rather than 10, for a few more queries.
            sparse_fraction: 0.25,
            min_sparse: Duration::from_secs(15),
            dense: Duration::from_secs(3),
            end_lag: Duration::from_millis(500),
            min_window: Duration::from_secs(3),
            late_growth: 1.5,
            late_max: Duration::from_secs(30),
        }
    }
}

/// The delays between queries of one task, predicted from an [`Expectation`].
///
/// Feed it what each query showed ([`observe_running`](Self::observe_running) once the task is
/// `RUNNING`) and ask for the next delay with the time elapsed since the wait began.
#[derive(Debug, Clone)]
pub struct PredictiveSchedule {
    expect: Expectation,
    tuning: PredictiveTuning,
    queries: u32,
    /// The expected end, relative to the wait's start, once the start of processing is known.
    known_end: Option<Duration>,
    late_delay: Option<Duration>,
}

impl PredictiveSchedule {
    /// A schedule with the default tuning.
    pub fn new(expect: Expectation) -> Self {
        Self::with_tuning(expect, PredictiveTuning::default())
    }

    /// A schedule with another tuning.
    pub fn with_tuning(expect: Expectation, tuning: PredictiveTuning) -> Self {
        Self {
            expect,
            tuning,
            queries: 0,
            known_end: None,
            late_delay: None,
        }
    }

    /// The task was seen `RUNNING`; processing started `started_at` after the wait began
    /// (from `scheduled_time`, or the moment it was first seen running). Only the first call counts.
    pub fn observe_running(&mut self, started_at: Duration) {
        let run = self.expect.run;
        self.known_end.get_or_insert(started_at + run);
    }

    /// The task was seen `RUNNING`, `elapsed` after the wait began, having run for `ran_for`
    /// (server time since its `scheduled_time`): unlike
    /// [`observe_running`](Self::observe_running) this also places a start before the wait
    /// began. Only the first observation counts.
    pub fn observe_running_for(&mut self, elapsed: Duration, ran_for: Duration) {
        let run = self.expect.run;
        self.known_end
            .get_or_insert((elapsed + run).saturating_sub(ran_for));
    }

    /// The expected end, relative to the wait's start.
    pub fn expected_end(&self) -> Duration {
        self.known_end.unwrap_or_else(|| {
            self.expect.queue.mul_f64(1.0 + self.expect.spread) + self.expect.run
        })
    }

    fn half_window(&self) -> Duration {
        let uncertain = match self.known_end {
            // Start known: only the run time is uncertain.
            Some(_) => self.expect.run.mul_f64(self.expect.spread),
            None => (self.expect.queue + self.expect.run).mul_f64(self.expect.spread),
        };
        uncertain.max(self.tuning.min_window)
    }

    /// How long to sleep before the next query, `elapsed` after the wait began. The first
    /// call returns zero (query at once).
    pub fn next_delay(&mut self, elapsed: Duration) -> Duration {
        let n = self.queries;
        self.queries += 1;
        if n == 0 {
            return Duration::ZERO;
        }
        let t = &self.tuning;
        if n == 1 && elapsed < t.early_check {
            return t.early_check - elapsed;
        }
        let end = self.expected_end();
        let half = self.half_window();
        let window_start = end.saturating_sub(half);
        let window_end = end + half;
        if elapsed < window_start {
            let until = window_start - elapsed;
            if until <= t.min_sparse {
                return until.max(Duration::from_millis(100));
            }
            return until
                .mul_f64(t.sparse_fraction)
                .max(t.min_sparse)
                .min(until);
        }
        if elapsed <= window_end {
            return self.on_grid(elapsed, end + t.end_lag);
        }
        let next = match self.late_delay {
            None => t.dense,
            Some(d) => d.mul_f64(t.late_growth).min(t.late_max),
        };
        self.late_delay = Some(next);
        next
    }
}

impl PredictiveSchedule {
    /// The delay to the next point of the dense grid through `anchor` that is at least half
    /// an interval away: between half and one and a half intervals.
    fn on_grid(&self, elapsed: Duration, anchor: Duration) -> Duration {
        let dense = self.tuning.dense.as_secs_f64();
        if dense <= 0.0 {
            return self.tuning.dense;
        }
        let (e, a) = (elapsed.as_secs_f64(), anchor.as_secs_f64());
        let k = ((e + dense / 2.0 - a) / dense).ceil();
        let next = a + k * dense;
        Duration::from_secs_f64((next - e).clamp(dense / 2.0, 1.5 * dense))
    }
}

/// The predictive policy for `secs` of output in `mode`, built on `base` (the client's
/// backoff), or `None` when the model has seen no finished task of that mode: the prior is
/// too wide to beat the backoff, so the backoff stays.
///
/// The schedule's tuning shrinks with the backoff: the simulator's backoff is faster than the
/// service's because its time runs faster, and the schedule follows it. Inside the window
/// around the expected end the interval widens to a third of the window's half-width (never
/// beyond the backoff's cap), so a model still unsure of itself costs a few queries there, not
/// dozens; the grid stays anchored at the expected end, which is still seen at once.
///
/// ```
/// use std::time::Duration;
/// use wan_animate_core::PollPolicy;
/// use wan_animate_core::predict::{predictive_policy, SpeedModel};
/// use wan_animate_core::types::Mode;
/// let base = PollPolicy::default();
/// // Nothing learned yet: keep the backoff.
/// assert!(predictive_policy(&base, &SpeedModel::prior(), &Mode::Standard, 3.0).is_none());
/// let mut speed = SpeedModel::prior();
/// speed.observe(&Mode::Standard, 3.0, Duration::from_secs(60));
/// let p = predictive_policy(&base, &speed, &Mode::Standard, 3.0).unwrap();
/// assert_eq!(p.expectation.unwrap().run, Duration::from_secs(60));
/// ```
pub fn predictive_policy(
    base: &PollPolicy,
    speed: &SpeedModel,
    mode: &Mode,
    secs: f64,
) -> Option<PollPolicy> {
    let samples = match mode {
        Mode::Pro => speed.pro_samples,
        _ => speed.std_samples,
    };
    if samples == 0 || !(secs.is_finite() && secs > 0.0) {
        return None;
    }
    let expect = Expectation::new(speed, secs, mode, 0);
    let default_cap = PollPolicy::default().max_delay.as_secs_f64();
    let scale = if default_cap > 0.0 {
        (base.max_delay.as_secs_f64() / default_cap).clamp(1e-3, 1.0)
    } else {
        1.0
    };
    let mut t = PredictiveTuning::default();
    for d in [
        &mut t.early_check,
        &mut t.min_sparse,
        &mut t.dense,
        &mut t.end_lag,
        &mut t.min_window,
        &mut t.late_max,
    ] {
        *d = d.mul_f64(scale);
    }
    let half = (expect.queue + expect.run)
        .mul_f64(expect.spread)
        .max(t.min_window);
    t.dense = t.dense.max(half / 3).min(base.max_delay.max(t.dense));
    t.late_max = t.late_max.max(Duration::from_millis(100));
    Some(
        base.clone()
            .with_expectation(expect)
            .with_predictive_tuning(t),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    mod policy {
        use super::super::*;

        fn learned(n: u32) -> SpeedModel {
            let mut m = SpeedModel::prior();
            for _ in 0..n {
                m.observe(&Mode::Standard, 3.0, Duration::from_secs(60));
            }
            m
        }

        #[test]
        fn no_finished_task_of_the_mode_keeps_the_backoff() {
            let base = PollPolicy::default();
            assert!(predictive_policy(&base, &SpeedModel::prior(), &Mode::Standard, 3.0).is_none());
            assert!(predictive_policy(&base, &learned(1), &Mode::Pro, 3.0).is_none());
            assert!(predictive_policy(&base, &learned(1), &Mode::Standard, 0.0).is_none());
            let p = predictive_policy(&base, &learned(1), &Mode::Standard, 3.0).unwrap();
            assert_eq!(p.expectation.unwrap().run, Duration::from_secs(60));
        }

        #[test]
        fn a_faster_backoff_shrinks_the_tuning_and_an_unsure_model_widens_the_dense_interval() {
            let base = PollPolicy::default().with_max_delay(Duration::from_secs(3));
            let p = predictive_policy(&base, &learned(3), &Mode::Standard, 3.0).unwrap();
            assert_eq!(p.predictive_tuning.early_check, Duration::from_millis(500));
            // One sample: ±20% of 60 s is a 12 s half-window, so 4 s, capped at the backoff's 3 s.
            let p = predictive_policy(&PollPolicy::default(), &learned(1), &Mode::Standard, 3.0);
            assert_eq!(p.unwrap().predictive_tuning.dense, Duration::from_secs(4));
            let p = predictive_policy(&base, &learned(1), &Mode::Standard, 3.0).unwrap();
            assert_eq!(p.predictive_tuning.dense, Duration::from_secs(3));
        }
    }

    /// Replays the schedule against a task ending at `end` (started at `start`), returning
    /// the number of queries and the delay between the end and the query that saw it.
    fn replay(mut s: PredictiveSchedule, start: Duration, end: Duration) -> (u32, Duration) {
        let mut now = Duration::ZERO;
        let mut queries = 0;
        loop {
            now += s.next_delay(now);
            queries += 1;
            if now >= end {
                return (queries, now - end);
            }
            if now >= start {
                s.observe_running(start);
            }
            assert!(queries < 10_000, "the schedule never reached the end");
        }
    }

    fn learned() -> SpeedModel {
        let mut m = SpeedModel::prior();
        for _ in 0..4 {
            m.observe(&Mode::Standard, 3.0, Duration::from_secs(60));
        }
        m
    }

    #[test]
    fn first_query_is_immediate_and_second_is_early() {
        let mut s = PredictiveSchedule::new(Expectation::new(&learned(), 15.0, &Mode::Standard, 0));
        assert_eq!(s.next_delay(Duration::ZERO), Duration::ZERO);
        assert_eq!(s.next_delay(Duration::ZERO), Duration::from_secs(5));
    }

    #[test]
    fn a_well_predicted_long_task_costs_few_queries_and_is_seen_within_the_dense_interval() {
        // 45 s of output at 20 s/s: 900 s of processing, as predicted.
        let s = PredictiveSchedule::new(Expectation::new(&learned(), 45.0, &Mode::Standard, 0));
        let (queries, delay) = replay(s, Duration::ZERO, Duration::from_secs(900));
        assert!(queries <= 40, "{queries} queries");
        assert!(delay <= Duration::from_secs(3), "{delay:?}");
    }

    #[test]
    fn a_task_ending_as_predicted_is_seen_right_after_its_end_not_an_interval_late() {
        for secs in [60u64, 300, 900] {
            let mut m = SpeedModel::prior();
            for _ in 0..3 {
                m.observe(&Mode::Standard, 3.0, Duration::from_secs(secs));
            }
            let s = PredictiveSchedule::new(Expectation::new(&m, 3.0, &Mode::Standard, 0));
            let (_, delay) = replay(s, Duration::from_secs(5), Duration::from_secs(5 + secs));
            assert!(delay <= Duration::from_millis(501), "{secs} s: {delay:?}");
        }
    }

    #[test]
    fn a_task_that_started_before_the_wait_is_expected_to_end_earlier() {
        let expect = Expectation::new(&learned(), 3.0, &Mode::Standard, 0);
        let mut s = PredictiveSchedule::new(expect.clone());
        // Seen at once, running for 40 s of its 60 s.
        s.observe_running_for(Duration::ZERO, Duration::from_secs(40));
        assert_eq!(s.expected_end(), Duration::from_secs(20));
        let mut s = PredictiveSchedule::new(expect);
        s.observe_running_for(Duration::from_secs(10), Duration::from_secs(4));
        assert_eq!(s.expected_end(), Duration::from_secs(66));
        s.observe_running_for(Duration::from_secs(13), Duration::ZERO);
        assert_eq!(
            s.expected_end(),
            Duration::from_secs(66),
            "the first counts"
        );
    }

    #[test]
    fn a_task_much_later_than_predicted_backs_off_instead_of_hammering() {
        let s = PredictiveSchedule::new(Expectation::new(&learned(), 3.0, &Mode::Standard, 0));
        // Predicted 60 s, takes an hour.
        let (queries, _) = replay(s, Duration::ZERO, Duration::from_secs(3600));
        assert!(queries < 150, "{queries} queries");
    }

    #[test]
    fn a_task_queued_behind_others_is_not_polled_densely_while_it_waits() {
        // Two of ours ahead: ~120 s of queue, then 60 s of processing.
        let s = PredictiveSchedule::new(Expectation::new(&learned(), 3.0, &Mode::Standard, 2));
        let (queries, delay) = replay(s, Duration::from_secs(120), Duration::from_secs(180));
        assert!(queries <= 15, "{queries} queries");
        assert!(delay <= Duration::from_secs(3), "{delay:?}");
    }

    #[test]
    fn the_model_survives_a_save_and_a_corrupt_or_missing_file_gives_the_prior() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/speed.json");
        assert_eq!(SpeedModel::load(&path), SpeedModel::prior());
        let mut m = SpeedModel::prior();
        m.observe(&Mode::Standard, 3.0, Duration::from_secs(60));
        m.observe(&Mode::Pro, 2.0, Duration::from_secs(90));
        m.save(&path).unwrap();
        assert_eq!(SpeedModel::load(&path), m);
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["speed.json"]);
        for corrupt in [
            &b"{not json"[..],
            b"",
            br#"{"std":{"secs_per_output_sec":-1,"samples":3}}"#,
            br#"[1,2]"#,
        ] {
            std::fs::write(&path, corrupt).unwrap();
            assert_eq!(SpeedModel::load(&path), SpeedModel::prior(), "{corrupt:?}");
        }
        // A directory where the file should be: saving fails with a clear error.
        let e = SpeedModel::prior().save(dir.path()).unwrap_err();
        assert!(e.to_string().contains("speed model"), "{e}");
    }

    #[test]
    fn a_finished_task_teaches_its_run_time_and_others_teach_nothing() {
        let task = |status: &str, times: &str| -> TaskResponse {
            serde_json::from_str(&format!(
                r#"{{"output":{{"task_id":"t","task_status":"{status}"{times}}}}}"#
            ))
            .unwrap()
        };
        let both =
            r#","scheduled_time":"2025-09-18 15:32:00.000","end_time":"2025-09-18 15:34:00.000""#;
        let mut m = SpeedModel::prior();
        assert!(!m.observe_task(&task("FAILED", both), 4.0, &Mode::Pro));
        assert!(!m.observe_task(&task("SUCCEEDED", ""), 4.0, &Mode::Pro));
        let reversed =
            r#","scheduled_time":"2025-09-18 15:34:00.000","end_time":"2025-09-18 15:32:00.000""#;
        assert!(!m.observe_task(&task("SUCCEEDED", reversed), 4.0, &Mode::Pro));
        assert!(!m.observe_task(&task("SUCCEEDED", both), 0.0, &Mode::Pro));
        assert_eq!(m, SpeedModel::prior());
        assert!(m.observe_task(&task("SUCCEEDED", both), 4.0, &Mode::Pro));
        assert_eq!((m.pro_secs_per_output_sec, m.pro_samples), (30.0, 1));
    }

    #[test]
    fn scattered_speeds_keep_the_window_wide_and_steady_ones_narrow_it() {
        let mut steady = SpeedModel::prior();
        let mut scattered = SpeedModel::prior();
        for i in 0..8 {
            steady.observe(&Mode::Standard, 3.0, Duration::from_secs(60));
            let secs = if i % 2 == 0 { 48 } else { 72 }; // ±20%
            scattered.observe(&Mode::Standard, 3.0, Duration::from_secs(secs));
        }
        assert_eq!(steady.spread(&Mode::Standard), 0.05);
        let s = scattered.spread(&Mode::Standard);
        assert!((0.3..=0.5).contains(&s), "{s}");
        // It survives a save.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("speed.json");
        scattered.save(&path).unwrap();
        assert_eq!(SpeedModel::load(&path), scattered);
    }

    #[test]
    fn observations_narrow_the_spread_and_ignore_nonsense() {
        let mut m = SpeedModel::prior();
        assert_eq!(m.spread(&Mode::Pro), 0.5);
        m.observe(&Mode::Pro, 0.0, Duration::from_secs(10));
        m.observe(&Mode::Pro, f64::NAN, Duration::from_secs(10));
        assert_eq!(m.pro_samples, 0);
        m.observe(&Mode::Pro, 2.0, Duration::from_secs(60));
        assert_eq!(m.pro_secs_per_output_sec, 30.0);
        assert!(m.spread(&Mode::Pro) < 0.5);
        // Absurd lengths never overflow.
        assert!(m.run_time(&Mode::Pro, f64::MAX) <= Duration::from_secs(4 * 3600));
    }
}
