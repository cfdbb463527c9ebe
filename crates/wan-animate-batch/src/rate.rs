//! A smooth rate limiter shared by every job of a run: one permit every `1/rate` seconds.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Spaces requests to at most `per_sec` per second, in arrival order.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    interval: Duration,
    next: Mutex<Instant>,
}

impl RateLimiter {
    /// A limiter; `per_sec <= 0` means unlimited.
    pub(crate) fn new(per_sec: f64) -> Self {
        let interval = if per_sec > 0.0 && per_sec.is_finite() {
            Duration::from_secs_f64(1.0 / per_sec)
        } else {
            Duration::ZERO
        };
        Self {
            interval,
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for the next permit.
    pub(crate) async fn acquire(&self) {
        let at = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let at = (*next).max(now);
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at.into()).await;
    }
}
