//! Retry policy: jittered exponential backoff that honours `Retry-After`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How transient failures are retried.
///
/// ```
/// use std::time::Duration;
/// use wan_animate_core::RetryPolicy;
/// let p = RetryPolicy::default().with_max_attempts(3).without_jitter();
/// assert_eq!(p.backoff(0, None), Duration::from_secs(1));
/// assert_eq!(p.backoff(1, None), Duration::from_secs(2));
/// assert_eq!(p.backoff(1, Some(Duration::from_secs(5))), Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in all, including the first (1 = no retries).
    pub max_attempts: u32,
    /// The first backoff.
    pub initial_backoff: Duration,
    /// The longest backoff (a larger `Retry-After` is honoured up to `max_retry_after`).
    pub max_backoff: Duration,
    /// Growth per attempt.
    pub multiplier: f64,
    /// Randomize each backoff within [50%, 100%] of its value so clients spread out.
    pub jitter: bool,
    /// The longest `Retry-After` honoured.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: true,
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Sets the number of attempts.
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Sets the first backoff.
    pub fn with_initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = d;
        self
    }

    /// Sets the longest backoff.
    pub fn with_max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }

    /// Disables jitter (deterministic schedules in tests).
    pub fn without_jitter(mut self) -> Self {
        self.jitter = false;
        self
    }

    /// The wait before retry number `retry` (0 = the first retry), at least `retry_after`.
    pub fn backoff(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self.multiplier.max(1.0).powi(retry.min(60) as i32);
        let base = self.initial_backoff.as_secs_f64() * exp;
        let capped = base.min(self.max_backoff.as_secs_f64());
        let jittered = if self.jitter {
            capped * (0.5 + 0.5 * unit_random())
        } else {
            capped
        };
        let d = Duration::from_secs_f64(jittered.max(0.0));
        match retry_after {
            Some(ra) => d.max(ra.min(self.max_retry_after)),
            None => d,
        }
    }
}

/// A uniform number in [0, 1) from a process-wide splitmix64 sequence (no rand dependency;
/// jitter needs spread, not cryptographic quality).
pub(crate) fn unit_random() -> f64 {
    (next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

pub(crate) fn next_u64() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut s = STATE.load(Ordering::Relaxed);
    if s == 0 {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15)
            ^ u64::from(std::process::id()).rotate_left(32);
        let _ = STATE.compare_exchange(0, seed | 1, Ordering::Relaxed, Ordering::Relaxed);
    }
    s = STATE
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = s;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters_within_bounds() {
        let p = RetryPolicy::default();
        for retry in 0..10 {
            let full = (1.0f64 * 2f64.powi(retry)).min(30.0);
            let d = p.backoff(retry as u32, None).as_secs_f64();
            assert!(d >= full * 0.5 - 1e-9 && d <= full + 1e-9, "{retry}: {d}");
        }
    }

    #[test]
    fn retry_after_is_honoured_up_to_its_cap() {
        let p = RetryPolicy::default().without_jitter();
        assert_eq!(
            p.backoff(0, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(
            p.backoff(0, Some(Duration::from_secs(10_000))),
            Duration::from_secs(120)
        );
    }
}
