//! What a simulator instance is told: keys, time scale, durations, limits, faults.

use std::time::Duration;

/// The key accepted when none is configured.
pub const DEFAULT_API_KEY: &str = "sk-sim-local";

/// Simulated durations of a task (in simulated seconds; see `time_scale`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TaskDurations {
    /// Time a task waits as `PENDING` before it may start, even when nothing else runs.
    pub queue: Duration,
    /// Processing time per second of output video in `wan-std`.
    pub run_per_output_second_std: Duration,
    /// Processing time per second of output video in `wan-pro`.
    pub run_per_output_second_pro: Duration,
    /// The shortest processing time.
    pub min_run: Duration,
}

impl Default for TaskDurations {
    /// About what the documentation reports: a 5 s video takes a couple of minutes.
    fn default() -> Self {
        Self {
            queue: Duration::from_secs(5),
            run_per_output_second_std: Duration::from_secs(20),
            run_per_output_second_pro: Duration::from_secs(30),
            min_run: Duration::from_secs(10),
        }
    }
}

/// Request rate limits per API key (spec §10). `0` disables a limit.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RateLimits {
    /// Task creation, per second.
    pub create_per_sec: u32,
    /// Get, cancel and list together, per second.
    pub task_api_per_sec: u32,
    /// Upload policies, per second.
    pub get_policy_per_sec: u32,
    /// Scale the limits with the time scale (benchmarks that compress time compress the
    /// limits too, so the floor they impose stays proportional).
    pub follow_time_scale: bool,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            create_per_sec: 5,
            task_api_per_sec: 20,
            get_policy_per_sec: 100,
            follow_time_scale: false,
        }
    }
}

impl RateLimits {
    /// No limits.
    pub fn unlimited() -> Self {
        Self {
            create_per_sec: 0,
            task_api_per_sec: 0,
            get_policy_per_sec: 0,
            follow_time_scale: false,
        }
    }

    /// Scales the limits with the time scale.
    pub fn following_time_scale(mut self) -> Self {
        self.follow_time_scale = true;
        self
    }
}

/// Faults injected from a seed: the same seed and the same request sequence give the same
/// faults. Probabilities are per request, drawn in this order: 429, 500, 503, drop before
/// processing, drop after processing, slow; truncation applies to result downloads.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FaultPlan {
    /// The seed.
    pub seed: u64,
    /// 429 `Throttling.RateQuota` with `Retry-After`.
    pub rate_429: f64,
    /// 500 `InternalError`.
    pub rate_500: f64,
    /// 503 `ModelUnavailable`.
    pub rate_503: f64,
    /// Close the connection without processing the request or answering.
    pub drop_before: f64,
    /// Process the request (a task *is* created), then close without answering.
    pub drop_after: f64,
    /// Delay the answer.
    pub slow: f64,
    /// How long a slow answer takes.
    pub slow_delay: Duration,
    /// Cut a result download after half its bytes.
    pub truncate_download: f64,
    /// `Retry-After` seconds sent with injected 429s.
    pub retry_after_secs: u32,
    /// Routes faults apply to (`create`, `get`, `cancel`, `list`, `policy`, `upload`,
    /// `result`); empty means all.
    pub routes: Vec<String>,
}

impl Default for FaultPlan {
    fn default() -> Self {
        Self::none()
    }
}

impl FaultPlan {
    /// No faults.
    pub fn none() -> Self {
        Self {
            seed: 0,
            rate_429: 0.0,
            rate_500: 0.0,
            rate_503: 0.0,
            drop_before: 0.0,
            drop_after: 0.0,
            slow: 0.0,
            slow_delay: Duration::from_millis(200),
            truncate_download: 0.0,
            retry_after_secs: 1,
            routes: Vec::new(),
        }
    }

    /// A total fault probability `p` spread over every kind.
    pub fn uniform(seed: u64, p: f64) -> Self {
        let each = p / 7.0;
        Self {
            seed,
            rate_429: each,
            rate_500: each,
            rate_503: each,
            drop_before: each,
            drop_after: each,
            slow: each,
            truncate_download: each,
            ..Self::none()
        }
    }

    /// Sets the seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the probability of injected 429s.
    pub fn with_429(mut self, p: f64) -> Self {
        self.rate_429 = p;
        self
    }

    /// Sets the probability of injected 500s.
    pub fn with_500(mut self, p: f64) -> Self {
        self.rate_500 = p;
        self
    }

    /// Sets the probability of injected 503s.
    pub fn with_503(mut self, p: f64) -> Self {
        self.rate_503 = p;
        self
    }

    /// Sets the probability of dropping a connection before processing.
    pub fn with_drop_before(mut self, p: f64) -> Self {
        self.drop_before = p;
        self
    }

    /// Sets the probability of dropping a connection after processing.
    pub fn with_drop_after(mut self, p: f64) -> Self {
        self.drop_after = p;
        self
    }

    /// Sets the probability and delay of slow answers.
    pub fn with_slow(mut self, p: f64, delay: Duration) -> Self {
        self.slow = p;
        self.slow_delay = delay;
        self
    }

    /// Sets the probability of truncated result downloads.
    pub fn with_truncated_downloads(mut self, p: f64) -> Self {
        self.truncate_download = p;
        self
    }

    /// Restricts faults to these routes.
    pub fn on_routes(mut self, routes: &[&str]) -> Self {
        self.routes = routes.iter().map(|r| (*r).to_owned()).collect();
        self
    }

    pub(crate) fn applies_to(&self, route: &str) -> bool {
        self.routes.is_empty() || self.routes.iter().any(|r| r == route)
    }
}

/// Everything the simulator is configured with.
#[derive(Clone)]
#[non_exhaustive]
pub struct SimConfig {
    /// Accepted API keys.
    pub api_keys: Vec<String>,
    /// Path prefix of the API (default `/api/v1`).
    pub base_path: String,
    /// Simulated seconds per real second.
    pub time_scale: f64,
    /// Task durations.
    pub durations: TaskDurations,
    /// Tasks answer `UNKNOWN` after this long (simulated; 24 h).
    pub task_ttl: Duration,
    /// Result links expire after this long (simulated; 24 h).
    pub result_ttl: Duration,
    /// Upload policies expire after this long (real time; 300 s).
    pub policy_ttl: Duration,
    /// Largest upload, in MiB.
    pub max_upload_mb: u64,
    /// Tasks processed at once per key and model.
    pub max_running_per_model: usize,
    /// Rate limits.
    pub limits: RateLimits,
    /// Fault injection.
    pub faults: FaultPlan,
    /// Keep the world (tasks, uploads, results) in this directory, shared with every
    /// simulator that opens it, in this process or another; `None` (the default) keeps it in
    /// memory for the simulator's lifetime.
    pub state_dir: Option<std::path::PathBuf>,
    /// Announce every task that ends to a callback URL (spec §17); `None`: no events.
    pub notify: Option<crate::NotifyConfig>,
}

impl std::fmt::Debug for SimConfig {
    /// Keys are counted, never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field(
                "api_keys",
                &format_args!("<{} redacted>", self.api_keys.len()),
            )
            .field("base_path", &self.base_path)
            .field("time_scale", &self.time_scale)
            .field("durations", &self.durations)
            .field("task_ttl", &self.task_ttl)
            .field("result_ttl", &self.result_ttl)
            .field("policy_ttl", &self.policy_ttl)
            .field("max_upload_mb", &self.max_upload_mb)
            .field("max_running_per_model", &self.max_running_per_model)
            .field("limits", &self.limits)
            .field("faults", &self.faults)
            .field("state_dir", &self.state_dir)
            .field("notify", &self.notify)
            .finish()
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            api_keys: Vec::new(),
            base_path: "/api/v1".into(),
            time_scale: 1.0,
            durations: TaskDurations::default(),
            task_ttl: Duration::from_secs(24 * 3600),
            result_ttl: Duration::from_secs(24 * 3600),
            policy_ttl: Duration::from_secs(300),
            max_upload_mb: 1024,
            max_running_per_model: 1,
            limits: RateLimits::default(),
            faults: FaultPlan::none(),
            state_dir: None,
            notify: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_key_or_a_notify_token() {
        let mut c = SimConfig::default();
        c.api_keys.push("sk-secret-key".into());
        c.notify = Some(crate::NotifyConfig::new("http://127.0.0.1:9/").with_token("tok-secret"));
        let shown = format!("{c:?}");
        assert!(!shown.contains("sk-secret-key"), "{shown}");
        assert!(!shown.contains("tok-secret"), "{shown}");
        assert!(shown.contains("<1 redacted>"));
    }
}
