//! A shared budget of requests per second: a token bucket on the injected clock and sleep,
//! so every wait of a process together stays under the account's task-API limit.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::rt::{SharedClock, SharedSleep};

/// The slowest rate accepted: one request per 1000 s.
pub(crate) const MIN_RATE: f64 = 0.001;
/// The fastest rate accepted.
pub(crate) const MAX_RATE: f64 = 1e6;

/// A cloneable token bucket: `rate` tokens per second, holding at most `burst`.
#[derive(Clone, Debug)]
pub(crate) struct RateBudget {
    inner: Arc<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    rate: f64,
    burst: f64,
    clock: SharedClock,
    sleep: SharedSleep,
    state: Mutex<(f64, Instant)>,
}

impl RateBudget {
    /// `None` unless `rate` is within [`MIN_RATE`, `MAX_RATE`] (NaN and infinities refused).
    pub(crate) fn new(rate: f64, clock: SharedClock, sleep: SharedSleep) -> Option<Self> {
        if !(MIN_RATE..=MAX_RATE).contains(&rate) {
            return None;
        }
        // A burst of one second's worth (at least one request).
        let burst = rate.max(1.0);
        let now = clock.now();
        Some(Self {
            inner: Arc::new(Bucket {
                rate,
                burst,
                clock,
                sleep,
                state: Mutex::new((burst, now)),
            }),
        })
    }

    /// Takes one token, sleeping until one is available. False, without a token, when the
    /// wait would pass `deadline`.
    pub(crate) async fn acquire(&self, deadline: Option<Instant>) -> bool {
        let b = &self.inner;
        loop {
            let wait = {
                let Ok(mut st) = b.state.lock() else {
                    return true;
                };
                let now = b.clock.now();
                let (tokens, last) = *st;
                let tokens = (tokens + now.saturating_duration_since(last).as_secs_f64() * b.rate)
                    .min(b.burst);
                if tokens >= 1.0 {
                    *st = (tokens - 1.0, now);
                    return true;
                }
                *st = (tokens, now);
                Duration::from_secs_f64(((1.0 - tokens) / b.rate).max(1e-6))
            };
            if deadline.is_some_and(|d| b.clock.now() + wait > d) {
                return false;
            }
            b.sleep.sleep(wait).await;
        }
    }
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    use super::*;
    use crate::rt::Clock;
    use crate::test_util::ManualClock;

    #[tokio::test]
    async fn spends_at_most_the_rate_after_the_burst() {
        let clock = ManualClock::new();
        let budget = RateBudget::new(
            4.0,
            SharedClock::new(clock.clone()),
            SharedSleep::new(clock.clone()),
        )
        .unwrap();
        for _ in 0..4 {
            assert!(budget.acquire(None).await);
        }
        assert_eq!(
            clock.slept(),
            Duration::ZERO,
            "a burst of one second's worth"
        );
        for _ in 0..8 {
            assert!(budget.acquire(None).await);
        }
        let slept = clock.slept().as_secs_f64();
        assert!(
            (slept - 2.0).abs() < 1e-3,
            "8 more at 4/s take 2 s, slept {slept}"
        );
    }

    #[tokio::test]
    async fn refuses_a_wait_past_the_deadline_and_bad_rates() {
        let clock = ManualClock::new();
        let (c, s) = (
            SharedClock::new(clock.clone()),
            SharedSleep::new(clock.clone()),
        );
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-300, 1e300] {
            assert!(
                RateBudget::new(bad, c.clone(), s.clone()).is_none(),
                "{bad}"
            );
        }
        let budget = RateBudget::new(0.1, c, s).unwrap();
        assert!(budget.acquire(None).await);
        let deadline = clock.now() + Duration::from_secs(5);
        assert!(
            !budget.acquire(Some(deadline)).await,
            "the next token is 10 s away"
        );
        assert_eq!(clock.slept(), Duration::ZERO);
    }
}
