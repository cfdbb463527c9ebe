//! Waiting for a task: a policy, the events a wait produces, and the pure schedule.

use std::time::{Duration, Instant, SystemTime};

use wan_animate_types::{TaskResponse, TaskStatus};

use crate::error::Error;
use crate::outcome::TaskOutcome;
use crate::predict::{Expectation, PredictiveSchedule, PredictiveTuning};

/// How a task is polled.
///
/// ```
/// use std::time::Duration;
/// use wan_animate_core::PollPolicy;
/// let p = PollPolicy::default().with_initial_delay(Duration::from_secs(2)).with_max_wait(Duration::from_secs(600));
/// assert_eq!(p.delay(0), Duration::from_secs(2));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PollPolicy {
    /// The wait before the second query (the first is immediate).
    pub initial_delay: Duration,
    /// Growth of the wait per query.
    pub multiplier: f64,
    /// The longest wait between queries.
    pub max_delay: Duration,
    /// Randomize each wait within ±10% so many waiters spread out.
    pub jitter: bool,
    /// The deadline of the whole wait, from its start; `None` waits until the task ends.
    pub max_wait: Option<Duration>,
    /// At the deadline, cancel the task if it is still `PENDING` (it is not billed then).
    pub cancel_on_deadline: bool,
    /// With [`CompletionSignals`](crate::CompletionSignals) configured, the wait queries at
    /// once on a signal and otherwise only this often (a safety net for lost notifications).
    pub signal_safety_interval: Duration,
    /// What is expected of the task (see [`predict`](crate::predict)): when set, the delays
    /// come from a [`PredictiveSchedule`] instead of the backoff above.
    pub expectation: Option<Expectation>,
    /// The tuning of the predictive schedule, when [`expectation`](Self::expectation) is set.
    pub predictive_tuning: PredictiveTuning,
    /// A fixed list of delays (the last one repeats) instead of the backoff: replays another
    /// client's schedule. Ignored when [`expectation`](Self::expectation) is set.
    pub fixed_delays: Option<Vec<Duration>>,
}

impl Default for PollPolicy {
    /// 5 s, growing by 1.5 up to 30 s: a few-minute task is seen finished within seconds,
    /// and a waiter spends well under the account's 20 queries per second.
    fn default() -> Self {
        Self {
            initial_delay: Duration::from_secs(5),
            multiplier: 1.5,
            max_delay: Duration::from_secs(30),
            jitter: true,
            max_wait: None,
            cancel_on_deadline: false,
            // Minutes apart: an event lost on the way is noticed at most this late, and a task
            // of up to 15 min costs 2 queries (docs/benchmarks.md, polling).
            signal_safety_interval: Duration::from_secs(15 * 60),
            expectation: None,
            predictive_tuning: PredictiveTuning::default(),
            fixed_delays: None,
        }
    }
}

impl PollPolicy {
    /// Sets the initial delay.
    pub fn with_initial_delay(mut self, d: Duration) -> Self {
        self.initial_delay = d;
        self
    }

    /// Sets the growth factor (at least 1).
    pub fn with_multiplier(mut self, m: f64) -> Self {
        self.multiplier = m.max(1.0);
        self
    }

    /// Sets the longest delay.
    pub fn with_max_delay(mut self, d: Duration) -> Self {
        self.max_delay = d;
        self
    }

    /// Sets the deadline of the whole wait.
    pub fn with_max_wait(mut self, d: Duration) -> Self {
        self.max_wait = Some(d);
        self
    }

    /// Cancels a still-`PENDING` task at the deadline.
    pub fn with_cancel_on_deadline(mut self, yes: bool) -> Self {
        self.cancel_on_deadline = yes;
        self
    }

    /// Sets the safety poll interval used between completion signals.
    pub fn with_signal_safety_interval(mut self, d: Duration) -> Self {
        self.signal_safety_interval = d;
        self
    }

    /// Polls by prediction: sparsely until shortly before the expected end, densely around it,
    /// backing off if the task is late (see [`PredictiveSchedule`]). The first query stays
    /// immediate; deadlines, cancel-on-deadline and completion signals work as without it.
    ///
    /// ```
    /// use wan_animate_core::PollPolicy;
    /// use wan_animate_core::predict::{Expectation, SpeedModel};
    /// use wan_animate_core::types::Mode;
    /// // 5 s of output in standard mode, nothing of ours ahead of it.
    /// let expect = Expectation::new(&SpeedModel::prior(), 5.0, &Mode::Standard, 0);
    /// let policy = PollPolicy::default().with_expectation(expect);
    /// assert!(policy.expectation.is_some());
    /// ```
    pub fn with_expectation(mut self, expect: Expectation) -> Self {
        self.expectation = Some(expect);
        self
    }

    /// Sets the tuning of the predictive schedule.
    pub fn with_predictive_tuning(mut self, tuning: PredictiveTuning) -> Self {
        self.predictive_tuning = tuning;
        self
    }

    /// Replays a fixed schedule: the wait after query `n` is `delays[n]`, the last one
    /// repeating (an empty list keeps the backoff). Jitter still applies unless disabled.
    ///
    /// ```
    /// use std::time::Duration;
    /// use wan_animate_core::PollPolicy;
    /// // The official Python SDK 2.x: queries at 1, 3, 7, 15, 23 s, then every 8 s.
    /// let secs = [1, 2, 4, 8, 8].map(Duration::from_secs);
    /// let p = PollPolicy::default().with_fixed_delays(secs).without_jitter();
    /// assert_eq!(p.delay(2), Duration::from_secs(4));
    /// assert_eq!(p.delay(9), Duration::from_secs(8));
    /// ```
    pub fn with_fixed_delays(mut self, delays: impl IntoIterator<Item = Duration>) -> Self {
        let v: Vec<Duration> = delays.into_iter().collect();
        self.fixed_delays = (!v.is_empty()).then_some(v);
        self
    }

    /// Disables jitter (deterministic schedules in tests).
    pub fn without_jitter(mut self) -> Self {
        self.jitter = false;
        self
    }

    /// The wait after query number `n` (0-based), before jitter.
    pub fn delay(&self, n: u32) -> Duration {
        if let Some(v) = self.fixed_delays.as_deref()
            && let Some(last) = v.last()
        {
            return v.get(n as usize).copied().unwrap_or(*last);
        }
        let secs =
            self.initial_delay.as_secs_f64() * self.multiplier.max(1.0).powi(n.min(60) as i32);
        Duration::from_secs_f64(secs.min(self.max_delay.as_secs_f64()))
    }

    /// The wait after query `n` with jitter drawn from `unit` in [0, 1). Pure.
    pub(crate) fn jittered_delay(&self, n: u32, unit: f64) -> Duration {
        let d = self.delay(n);
        if self.jitter {
            d.mul_f64(0.9 + 0.2 * unit.clamp(0.0, 1.0))
        } else {
            d
        }
    }
}

/// What happens while waiting for a task.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TaskEvent {
    /// The task's status changed (the first query always produces one).
    Status {
        /// The task as the service returned it.
        task: TaskResponse,
        /// The status before, if any was seen.
        previous: Option<TaskStatus>,
        /// Time since the wait started.
        elapsed: Duration,
    },
    /// The task succeeded; the stream ends after this.
    Finished(TaskResponse),
}

/// What a wait does next.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PollStep {
    /// Query the task now.
    Query,
    /// Wait this long (or until a completion signal), then ask again.
    Wait(Duration),
    /// The deadline passed: give up (the caller builds the error, and may cancel).
    GiveUp,
}

/// The decisions of one wait, without I/O: when to query, what an answer means, which events
/// it produces. The I/O loop (`Client::watch_with`) feeds it times and answers.
#[derive(Debug, Clone)]
pub(crate) struct PollState {
    policy: PollPolicy,
    pub(crate) started: Instant,
    deadline: Option<Instant>,
    polls: u32,
    /// Whether the wait has been told to sleep since its last query.
    waited: bool,
    signals: bool,
    pub(crate) last: Option<TaskStatus>,
    /// The predictive schedule, when the policy carries an expectation.
    predictive: Option<PredictiveSchedule>,
}

/// What one answer produced: at most one status event, then maybe the end of the wait.
#[derive(Debug)]
pub(crate) struct Observed {
    pub(crate) event: Option<TaskEvent>,
    pub(crate) end: Option<Result<TaskEvent, Error>>,
}

impl PollState {
    /// A wait started at `now`, bounded by the policy's `max_wait` and `deadline`, the
    /// earlier of the two. `signals`: completion signals are configured.
    pub(crate) fn new(
        policy: PollPolicy,
        now: Instant,
        deadline: Option<Instant>,
        signals: bool,
    ) -> Self {
        let own = policy.max_wait.map(|w| now + w);
        let deadline = match (own, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let predictive = policy.expectation.clone().map(|e| {
            let mut s = PredictiveSchedule::with_tuning(e, policy.predictive_tuning.clone());
            // Its first delay (zero) is the immediate first query, which is ours anyway.
            s.next_delay(Duration::ZERO);
            s
        });
        Self {
            policy,
            started: now,
            deadline,
            polls: 0,
            waited: false,
            signals,
            last: None,
            predictive,
        }
    }

    /// The deadline of the whole wait.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The policy.
    pub(crate) fn policy(&self) -> &PollPolicy {
        &self.policy
    }

    /// The next step at `now`; `unit` in [0, 1) draws the jitter.
    pub(crate) fn next(&mut self, now: Instant, unit: f64) -> PollStep {
        if self.deadline.is_some_and(|d| now >= d) {
            return PollStep::GiveUp;
        }
        if self.polls == 0 || self.waited {
            self.waited = false;
            return PollStep::Query;
        }
        let elapsed = now.saturating_duration_since(self.started);
        let mut delay = if self.signals {
            self.policy.signal_safety_interval
        } else if let Some(s) = self.predictive.as_mut() {
            // No jitter: the schedule aims at a moment; waiters of different tasks spread
            // out by their own expected ends.
            s.next_delay(elapsed)
        } else {
            self.policy.jittered_delay(self.polls - 1, unit)
        };
        if let Some(d) = self.deadline {
            delay = delay.min(d.saturating_duration_since(now));
        }
        self.waited = true;
        PollStep::Wait(delay)
    }

    /// A query is being sent.
    pub(crate) fn queried(&mut self) {
        self.polls += 1;
    }

    /// The service answered `task` at `now`; `server_now` is the server's wall clock at that
    /// moment, as best known (the local wall clock corrected by the `Date` offset).
    pub(crate) fn observe(
        &mut self,
        task: TaskResponse,
        now: Instant,
        server_now: SystemTime,
    ) -> Observed {
        let status = task.output.task_status.clone();
        if let (Some(s), TaskStatus::Running) = (self.predictive.as_mut(), &status) {
            let elapsed = now.saturating_duration_since(self.started);
            s.observe_running_for(elapsed, running_for(&task, server_now));
        }
        let changed = self.last.as_ref() != Some(&status);
        let previous = self.last.replace(status);
        let outcome = TaskOutcome::from_response(&task);
        let event = changed.then(|| TaskEvent::Status {
            task: task.clone(),
            previous,
            elapsed: now.saturating_duration_since(self.started),
        });
        let end = match outcome {
            TaskOutcome::Running(_) => None,
            TaskOutcome::Succeeded => Some(Ok(TaskEvent::Finished(task))),
            TaskOutcome::Failed(e) => Some(Err(e)),
        };
        Observed { event, end }
    }

    /// Whether a failed query at `now` was cut by the wait's deadline.
    pub(crate) fn cut_by_deadline(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| now >= d)
    }
}

/// How long a `RUNNING` task has been running: from its `scheduled_time` to `server_now`,
/// both on the server's clock. Without a usable `scheduled_time`, or with one in the future,
/// zero (it started when first seen running).
pub(crate) fn running_for(task: &TaskResponse, server_now: SystemTime) -> Duration {
    task.output
        .scheduled_time
        .as_ref()
        .and_then(|t| t.to_system_time())
        .and_then(|t| server_now.duration_since(t).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(status: &str) -> TaskResponse {
        serde_json::from_str(&format!(
            r#"{{"output":{{"task_id":"t","task_status":"{status}"}}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn the_schedule_queries_at_once_then_backs_off_within_the_deadline() {
        let t0 = Instant::now();
        let policy = PollPolicy::default()
            .with_initial_delay(Duration::from_secs(5))
            .with_multiplier(2.0)
            .with_max_delay(Duration::from_secs(15))
            .with_max_wait(Duration::from_secs(22))
            .without_jitter();
        let mut st = PollState::new(policy, t0, None, false);
        let mut now = t0;
        let mut waits = Vec::new();
        loop {
            match st.next(now, 0.5) {
                PollStep::Query => {
                    st.queried();
                    assert!(
                        st.observe(task("RUNNING"), now, SystemTime::UNIX_EPOCH)
                            .end
                            .is_none()
                    );
                }
                PollStep::Wait(d) => {
                    waits.push(d.as_secs());
                    now += d;
                }
                PollStep::GiveUp => break,
            }
        }
        assert_eq!(waits, [5, 10, 7], "5, 10, then cut to the 22 s deadline");
        assert_eq!(st.last, Some(TaskStatus::Running));
    }

    #[test]
    fn with_signals_only_the_safety_interval_is_slept() {
        let t0 = Instant::now();
        let policy = PollPolicy::default().with_signal_safety_interval(Duration::from_secs(90));
        let mut st = PollState::new(policy, t0, Some(t0 + Duration::from_secs(100)), true);
        assert_eq!(st.next(t0, 0.0), PollStep::Query);
        st.queried();
        assert_eq!(st.next(t0, 0.0), PollStep::Wait(Duration::from_secs(90)));
        assert_eq!(st.next(t0, 0.0), PollStep::Query);
        st.queried();
        let later = t0 + Duration::from_secs(95);
        assert_eq!(st.next(later, 0.0), PollStep::Wait(Duration::from_secs(5)));
    }

    #[test]
    fn events_come_once_per_status_and_terminal_answers_end_the_wait() {
        let t0 = Instant::now();
        let mut st = PollState::new(PollPolicy::default(), t0, None, false);
        assert!(
            st.observe(task("PENDING"), t0, SystemTime::UNIX_EPOCH)
                .event
                .is_some()
        );
        assert!(
            st.observe(task("PENDING"), t0, SystemTime::UNIX_EPOCH)
                .event
                .is_none()
        );
        let o = st.observe(task("SUCCEEDED"), t0, SystemTime::UNIX_EPOCH);
        assert!(o.event.is_some());
        assert!(matches!(o.end, Some(Ok(TaskEvent::Finished(_)))));
        let o = st.observe(task("CANCELED"), t0, SystemTime::UNIX_EPOCH);
        assert!(matches!(o.end, Some(Err(_))));
    }

    #[test]
    fn the_run_time_so_far_is_read_from_scheduled_time_on_the_servers_clock() {
        let with_start = |t: &str| -> TaskResponse {
            serde_json::from_str(&format!(
                r#"{{"output":{{"task_id":"t","task_status":"RUNNING","scheduled_time":"{t}"}}}}"#
            ))
            .unwrap()
        };
        // 2025-09-18 15:32:00.105 (UTC+8) is 1_758_180_720_105 ms.
        let server_now = SystemTime::UNIX_EPOCH + Duration::from_millis(1_758_180_720_105 + 7_000);
        let t = with_start("2025-09-18 15:32:00.105");
        assert_eq!(running_for(&t, server_now), Duration::from_secs(7));
        // Long before (the wait began late): all of it.
        let later = server_now + Duration::from_secs(3600);
        assert_eq!(running_for(&t, later), Duration::from_secs(3607));
        // In the future (clocks disagree), unparseable or absent: it starts now.
        let t = with_start("2025-09-18 15:33:00.000");
        assert_eq!(running_for(&t, server_now), Duration::ZERO);
        let t = with_start("yesterday");
        assert_eq!(running_for(&t, server_now), Duration::ZERO);
        assert_eq!(running_for(&task("RUNNING"), server_now), Duration::ZERO);
    }
}
