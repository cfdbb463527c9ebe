//! Injected time: sleeping and clocks, so polling and retries are testable without waiting.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::http::BoxFuture;

/// Sleeps for a duration.
pub trait Sleep: fmt::Debug + Send + Sync + 'static {
    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;
}

/// Tells the time: monotonic for deadlines, wall-clock for the service's timestamps.
pub trait Clock: fmt::Debug + Send + Sync + 'static {
    /// Monotonic now.
    fn now(&self) -> Instant;
    /// Wall-clock now.
    fn wall_now(&self) -> SystemTime;
}

trait DynSleep: fmt::Debug + Send + Sync + 'static {
    fn sleep_boxed(&self, d: Duration) -> BoxFuture<'_, ()>;
}

impl<T: Sleep> DynSleep for T {
    fn sleep_boxed(&self, d: Duration) -> BoxFuture<'_, ()> {
        Box::pin(self.sleep(d))
    }
}

/// A cloneable, type-erased [`Sleep`].
///
/// ```
/// # #[cfg(feature = "rt-tokio")] {
/// let sleep = wan_animate_core::rt::SharedSleep::new(wan_animate_core::rt::TokioSleep);
/// # let _ = sleep; }
/// ```
#[derive(Clone, Debug)]
pub struct SharedSleep(Arc<dyn DynSleep>);

impl SharedSleep {
    /// Erases a sleep implementation.
    pub fn new(s: impl Sleep) -> Self {
        Self(Arc::new(s))
    }

    /// Sleeps.
    pub fn sleep(&self, d: Duration) -> BoxFuture<'_, ()> {
        self.0.sleep_boxed(d)
    }
}

/// A cloneable, type-erased [`Clock`].
///
/// ```
/// let clock = wan_animate_core::rt::SharedClock::new(wan_animate_core::rt::SystemClock);
/// assert!(clock.now() <= std::time::Instant::now());
/// ```
#[derive(Clone, Debug)]
pub struct SharedClock(Arc<dyn Clock>);

impl SharedClock {
    /// Erases a clock.
    pub fn new(c: impl Clock) -> Self {
        Self(Arc::new(c))
    }

    /// Monotonic now.
    pub fn now(&self) -> Instant {
        self.0.now()
    }

    /// Wall-clock now.
    pub fn wall_now(&self) -> SystemTime {
        self.0.wall_now()
    }
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn wall_now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Sleeping on tokio's timer.
#[cfg(feature = "rt-tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "rt-tokio")))]
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleep;

#[cfg(feature = "rt-tokio")]
impl Sleep for TokioSleep {
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(duration)
    }
}

/// Formats a wall-clock time as an HTTP `Date` value (IMF-fixdate, whole seconds), as a
/// server stamps its answers: handy for mock servers that play a clock offset.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
/// assert_eq!(wan_animate_core::rt::http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
/// ```
pub fn http_date(t: SystemTime) -> String {
    crate::skew::format_http_date(crate::skew::unix_ms(t))
}
