//! Progress callbacks for uploads and downloads.

use std::sync::Arc;

/// Bytes done so far, and the total when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Bytes transferred.
    pub done: u64,
    /// Bytes in all, when known.
    pub total: Option<u64>,
}

impl Progress {
    /// A progress report.
    pub fn new(done: u64, total: Option<u64>) -> Self {
        Self { done, total }
    }
}

/// A progress callback, called from the transfer's task; keep it cheap.
///
/// ```
/// use std::sync::Arc;
/// let cb: wan_animate_core::progress::ProgressFn = Arc::new(|p| eprintln!("{} bytes", p.done));
/// cb(wan_animate_core::progress::Progress::new(10, Some(100)));
/// ```
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;
