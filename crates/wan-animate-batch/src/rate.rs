//! Pacing of the scheduler on core's injected clock and sleep: the creation limiter (one
//! permit every `1/rate` seconds, shared by every job of a run) and the capped back-off of
//! retries. Task queries are paced by the client's own task-API budget
//! (`ClientBuilder::task_api_rate`), shared by every wait of the process.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use wan_animate_core::rt::{SharedClock, SharedSleep};

/// Spaces requests to at most `per_sec` per second, in arrival order.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    interval: Duration,
    clock: SharedClock,
    sleep: SharedSleep,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// A limiter; `per_sec <= 0` (or not finite) means unlimited.
    pub(crate) fn new(per_sec: f64, clock: SharedClock, sleep: SharedSleep) -> Self {
        let interval = if per_sec > 0.0 && per_sec.is_finite() {
            Duration::from_secs_f64(1.0 / per_sec)
        } else {
            Duration::ZERO
        };
        Self {
            interval,
            clock,
            sleep,
            next: Mutex::new(None),
        }
    }

    /// Waits for the next permit.
    pub(crate) async fn acquire(&self) {
        let wait = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = self.clock.now();
            let at = next.map_or(now, |n| n.max(now));
            *next = Some(at + self.interval);
            at.saturating_duration_since(now)
        };
        if !wait.is_zero() {
            self.sleep.sleep(wait).await;
        }
    }
}

/// The first retry delay of a step that failed transiently.
pub(crate) const RETRY_FIRST: Duration = Duration::from_secs(1);
/// The longest retry delay: a step that keeps failing is tried once a minute.
pub(crate) const RETRY_MAX: Duration = Duration::from_secs(60);

/// A capped exponential back-off: 1 s, 2 s, 4 s, ... up to [`RETRY_MAX`].
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The delay before the next attempt, counting this failure.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let d = RETRY_FIRST.saturating_mul(1u32 << self.failures.min(16));
        self.failures = self.failures.saturating_add(1);
        d.min(RETRY_MAX)
    }

    /// A success: the next failure starts again at [`RETRY_FIRST`].
    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wan_animate_core::test_util::ManualClock;

    #[test]
    fn retries_back_off_to_a_cap() {
        let mut b = Backoff::default();
        let delays: Vec<u64> = (0..10).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
        b.reset();
        assert_eq!(b.next_delay(), RETRY_FIRST);
    }

    #[tokio::test]
    async fn the_creation_limiter_sleeps_on_the_injected_clock() {
        let clock = ManualClock::new();
        let limiter = RateLimiter::new(
            5.0,
            SharedClock::new(clock.clone()),
            SharedSleep::new(clock.clone()),
        );
        for _ in 0..6 {
            limiter.acquire().await;
        }
        // The first is immediate, then one every 200 ms.
        assert_eq!(clock.slept(), Duration::from_secs(1));
    }
}
