//! Waiting for a task: a policy, the events a wait produces, and the pure schedule.

use std::time::Duration;

use wan_animate_types::{TaskResponse, TaskStatus};

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

    /// Disables jitter (deterministic schedules in tests).
    pub fn without_jitter(mut self) -> Self {
        self.jitter = false;
        self
    }

    /// The wait after query number `n` (0-based), before jitter.
    pub fn delay(&self, n: u32) -> Duration {
        let secs =
            self.initial_delay.as_secs_f64() * self.multiplier.max(1.0).powi(n.min(60) as i32);
        Duration::from_secs_f64(secs.min(self.max_delay.as_secs_f64()))
    }

    pub(crate) fn jittered_delay(&self, n: u32) -> Duration {
        let d = self.delay(n);
        if self.jitter {
            d.mul_f64(0.9 + 0.2 * crate::retry::unit_random())
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
