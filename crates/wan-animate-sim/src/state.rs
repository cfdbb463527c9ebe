//! The simulator's state: tasks and their lazily computed lifecycle, stored uploads, rate
//! limiters, the fault sequence and the counters. Everything here is synchronous and runs
//! under one lock; time is passed in, so the lifecycle is a pure function of timestamps.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use wan_animate_types::{Mode, Model, ServiceTime, TaskStatus};

use crate::config::SimConfig;

/// What the simulator counted (tests assert "never submitted twice" with these).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Counters {
    /// Tasks created, keyed `"<api key>|<model>"`.
    pub tasks_created: BTreeMap<String, u64>,
    /// Requests per route name.
    pub requests: BTreeMap<String, u64>,
    /// Faults injected per kind.
    pub faults: BTreeMap<String, u64>,
    /// Requests to storage routes (upload, result) that carried an `Authorization` header.
    pub storage_requests_with_authorization: u64,
    /// Files stored by form uploads.
    pub uploads_stored: u64,
    /// Answers with 429 from the rate limiter (not injected faults).
    pub rate_limited: u64,
    /// Completion-event POSTs attempted (including cut-off first attempts and duplicates).
    pub notify_attempts: u64,
    /// Completion-event POSTs answered with a 2xx (duplicates included).
    pub notify_delivered: u64,
    /// Completion events given up after the last attempt failed.
    pub notify_given_up: u64,
}

impl Counters {
    /// Tasks created for a model across all keys.
    pub fn created_for_model(&self, model: &str) -> u64 {
        self.tasks_created
            .iter()
            .filter(|(k, _)| k.ends_with(&format!("|{model}")))
            .map(|(_, v)| v)
            .sum()
    }

    /// Tasks created in all.
    pub fn created_total(&self) -> u64 {
        self.tasks_created.values().sum()
    }
}

/// Why a task will fail, decided when it was created (validation runs at the end, like the
/// service's asynchronous path).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Failure {
    pub(crate) code: String,
    pub(crate) message: String,
}

/// A task. Times are wall-clock times, so a task stored by one process keeps progressing
/// while no process runs and is read correctly by another.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Task {
    pub(crate) id: String,
    /// A fingerprint of the caller's API key (never the key itself: tasks may be stored).
    pub(crate) key: String,
    pub(crate) model: Model,
    pub(crate) mode: Mode,
    pub(crate) request_id: String,
    pub(crate) created: SystemTime,
    /// Real processing time.
    pub(crate) run: Duration,
    pub(crate) started: Option<SystemTime>,
    pub(crate) ended: Option<SystemTime>,
    pub(crate) status: TaskStatus,
    pub(crate) failure: Option<Failure>,
    pub(crate) output_secs: f64,
    pub(crate) result_file: Option<PathBuf>,
    /// Whether the completion notifier has taken this task's end.
    #[serde(default)]
    pub(crate) notified: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub(crate) model: String,
    pub(crate) dir: String,
    pub(crate) max_bytes: u64,
    pub(crate) expires: Instant,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredObject {
    pub(crate) path: PathBuf,
    pub(crate) model: String,
    pub(crate) expires: SystemTime,
}

/// A token bucket per (key, route class).
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) config: SimConfig,
    pub(crate) tasks: HashMap<String, Task>,
    /// Creation order, for FIFO scheduling and listing.
    pub(crate) order: Vec<String>,
    pub(crate) policies: HashMap<String, Policy>,
    pub(crate) objects: HashMap<String, StoredObject>,
    pub(crate) counters: Counters,
    buckets: HashMap<(String, &'static str), Bucket>,
    rng: u64,
    /// Ids are unique across instances (time-seeded), unlike the reproducible fault draws.
    id_seed: u64,
    next_id: u64,
    /// The bytes of `world.json` this state was last loaded from or saved as.
    pub(crate) world_bytes: Vec<u8>,
    /// Bumped by every change to tasks or stored objects (see [`State::touch`]): a
    /// transaction that leaves it unchanged does not write the world back.
    pub(crate) revision: u64,
}

/// A deterministic 64-bit generator (splitmix64).
pub(crate) fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// An injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    Throttle,
    Internal,
    Unavailable,
    DropBefore,
    DropAfter,
    Slow,
    Truncate,
}

impl Fault {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Fault::Throttle => "429",
            Fault::Internal => "500",
            Fault::Unavailable => "503",
            Fault::DropBefore => "drop_before",
            Fault::DropAfter => "drop_after",
            Fault::Slow => "slow",
            Fault::Truncate => "truncate_download",
        }
    }
}

pub(crate) fn wall_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl State {
    pub(crate) fn new(config: SimConfig) -> Self {
        let seed = config.faults.seed;
        Self {
            config,
            tasks: HashMap::new(),
            order: Vec::new(),
            policies: HashMap::new(),
            objects: HashMap::new(),
            counters: Counters::default(),
            buckets: HashMap::new(),
            rng: seed ^ 0x005E_ED0F_FA17,
            id_seed: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                ^ u64::from(std::process::id()).rotate_left(40),
            next_id: 0,
            world_bytes: Vec::new(),
            revision: 0,
        }
    }

    /// Records a change to tasks or stored objects, so a persistent world saves it. Every
    /// change to `tasks`, `order` or `objects` must call this.
    pub(crate) fn touch(&mut self) {
        self.revision = self.revision.wrapping_add(1);
    }

    /// Real duration of a simulated one.
    pub(crate) fn real(&self, simulated: Duration) -> Duration {
        simulated.div_f64(self.config.time_scale.max(1e-6))
    }

    /// A new id that looks like the service's UUIDs, deterministic per instance.
    pub(crate) fn new_id(&mut self) -> String {
        self.next_id += 1;
        let a = splitmix(
            &mut self
                .id_seed
                .wrapping_add(self.next_id.wrapping_mul(0x9E37_79B9)),
        );
        let b = splitmix(&mut a.clone());
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            (a >> 32) as u32,
            (a >> 16) as u16,
            a as u16,
            (b >> 48) as u16,
            b & 0xFFFF_FFFF_FFFF
        )
    }

    /// Draws this request's fault (one draw sequence per request, so a seed reproduces).
    pub(crate) fn draw_fault(&mut self, route: &str) -> Option<Fault> {
        let plan = self.config.faults.clone();
        if !plan.applies_to(route) {
            return None;
        }
        let mut next = || (splitmix(&mut self.rng) >> 11) as f64 / (1u64 << 53) as f64;
        let draws = [
            (plan.rate_429, Fault::Throttle),
            (plan.rate_500, Fault::Internal),
            (plan.rate_503, Fault::Unavailable),
            (plan.drop_before, Fault::DropBefore),
            (plan.drop_after, Fault::DropAfter),
            (plan.slow, Fault::Slow),
        ];
        let mut chosen = None;
        for (p, f) in draws {
            let x = next();
            if chosen.is_none() && p > 0.0 && x < p {
                chosen = Some(f);
            }
        }
        let x = next();
        if chosen.is_none()
            && route == "result"
            && plan.truncate_download > 0.0
            && x < plan.truncate_download
        {
            chosen = Some(Fault::Truncate);
        }
        if let Some(f) = chosen {
            *self.counters.faults.entry(f.name().to_owned()).or_default() += 1;
        }
        chosen
    }

    /// Takes a token from the bucket of (key, class); `false` when rate-limited.
    pub(crate) fn take_token(&mut self, key: &str, class: &'static str, now: Instant) -> bool {
        let per_sec = match class {
            "create" => self.config.limits.create_per_sec,
            "task_api" => self.config.limits.task_api_per_sec,
            "policy" => self.config.limits.get_policy_per_sec,
            _ => 0,
        };
        if per_sec == 0 {
            return true;
        }
        let rate = if self.config.limits.follow_time_scale {
            f64::from(per_sec) * self.config.time_scale
        } else {
            f64::from(per_sec)
        };
        // Burst of one second's worth, like a per-second window.
        let capacity = rate.max(1.0);
        let bucket = self
            .buckets
            .entry((key.to_owned(), class))
            .or_insert(Bucket {
                tokens: capacity,
                last: now,
            });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            self.counters.rate_limited += 1;
            false
        }
    }

    /// Moves every task forward to `now`: finishes running tasks whose time is up and starts
    /// the oldest pending ones where a slot is free, in FIFO order per key and model.
    pub(crate) fn advance(&mut self, now: SystemTime) {
        loop {
            let mut progressed = false;
            // Finish.
            for id in &self.order {
                let task = self.tasks.get_mut(id).expect("ordered ids exist");
                if task.status == TaskStatus::Running {
                    let end = task.started.expect("running tasks have started") + task.run;
                    if end <= now {
                        task.ended = Some(end);
                        task.status = if task.failure.is_some() {
                            TaskStatus::Failed
                        } else {
                            TaskStatus::Succeeded
                        };
                        progressed = true;
                    }
                }
            }
            // Start: for each pending task in order, if its (key, model) has a free slot.
            // One pass over the tasks gathers, per (key, model), how many run and when the
            // last one that ran ended.
            let queue = self.real(self.config.durations.queue);
            let max_running = self.config.max_running_per_model.max(1);
            let mut running: HashMap<(String, Model), usize> = HashMap::new();
            let mut last_end: HashMap<(String, Model), SystemTime> = HashMap::new();
            for t in self.tasks.values() {
                let group = (t.key.clone(), t.model.clone());
                if t.status == TaskStatus::Running {
                    *running.entry(group).or_default() += 1;
                } else if let (Some(end), Some(_)) = (t.ended, t.started) {
                    let e = last_end.entry(group).or_insert(end);
                    *e = (*e).max(end);
                }
            }
            for id in &self.order {
                let t = self.tasks.get_mut(id).expect("ordered ids exist");
                if t.status != TaskStatus::Pending {
                    continue;
                }
                let group = (t.key.clone(), t.model.clone());
                let busy = running.get(&group).copied().unwrap_or(0);
                if busy >= max_running {
                    continue;
                }
                // A slot freed when the last task of this queue ended; start then, not now,
                // so the schedule does not depend on when someone looked.
                let ready = t.created + queue;
                let start = match last_end.get(&group).filter(|e| **e > t.created) {
                    Some(e) if busy == 0 => (*e).max(ready),
                    _ => ready,
                };
                if start <= now {
                    t.status = TaskStatus::Running;
                    t.started = Some(start);
                    *running.entry(group).or_default() += 1;
                    progressed = true;
                }
            }
            if !progressed {
                break;
            }
            self.touch();
        }
    }

    /// Whether a task has outlived the task TTL.
    pub(crate) fn expired(&self, task: &Task, now: SystemTime) -> bool {
        now.duration_since(task.created).unwrap_or_default() > self.real(self.config.task_ttl)
    }

    /// The earliest moment after `now` at which some task may change state (a running task
    /// ends or a pending one leaves the queue), or `None` when nothing is under way. Call it
    /// after [`State::advance`]: a pending task whose queue time has passed waits for a
    /// running one, whose end is the moment that counts.
    pub(crate) fn next_change(&self, now: SystemTime) -> Option<SystemTime> {
        let queue = self.real(self.config.durations.queue);
        self.tasks
            .values()
            .filter_map(|t| match t.status {
                TaskStatus::Running => t.started.map(|s| s + t.run),
                TaskStatus::Pending => Some(t.created + queue),
                _ => None,
            })
            .filter(|t| *t > now)
            .min()
    }

    /// A fresh task id, unique among the tasks held.
    pub(crate) fn new_task_id(&mut self) -> String {
        loop {
            let id = self.new_id();
            if !self.tasks.contains_key(&id) {
                return id;
            }
        }
    }
}

/// The service's rendering of a wall time.
pub(crate) fn service_time(t: SystemTime) -> ServiceTime {
    ServiceTime::from_unix_millis(wall_ms(t))
}

/// A stable, non-secret fingerprint of an API key: what tasks store instead of the key.
pub(crate) fn key_fingerprint(key: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(key.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The numeric `api_key_id` the service shows for a key, from its fingerprint.
pub(crate) fn api_key_id(fingerprint: &str) -> String {
    format!(
        "{}",
        fingerprint
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
            % 1_000_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, created: SystemTime, run: Duration) -> Task {
        Task {
            id: id.into(),
            key: key_fingerprint("k"),
            model: Model::AnimateMix,
            mode: Mode::Standard,
            request_id: "r".into(),
            created,
            run,
            started: None,
            ended: None,
            status: TaskStatus::Pending,
            failure: None,
            output_secs: 1.0,
            result_file: None,
            notified: false,
        }
    }

    #[test]
    fn the_next_change_is_the_running_tasks_end_not_a_queued_tasks_past_queue_time() {
        let mut st = State::new(SimConfig::default());
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let run = Duration::from_secs(100);
        for id in ["a", "b"] {
            st.tasks.insert(id.into(), task(id, t0, run));
            st.order.push(id.into());
        }
        let now = t0 + Duration::from_secs(50);
        st.advance(now);
        assert_eq!(st.tasks["a"].status, TaskStatus::Running);
        assert_eq!(st.tasks["b"].status, TaskStatus::Pending);
        // b's queue time (t0 + 5 s) has passed; it waits for a, which ends at t0 + 105 s.
        assert_eq!(st.next_change(now), Some(t0 + Duration::from_secs(105)));
        st.advance(t0 + Duration::from_secs(105));
        assert_eq!(st.tasks["a"].status, TaskStatus::Succeeded);
        assert_eq!(st.tasks["b"].status, TaskStatus::Running);
    }

    #[test]
    fn a_key_fingerprint_is_stable_and_is_not_the_key() {
        assert_eq!(key_fingerprint("sk-abc"), key_fingerprint("sk-abc"));
        assert_ne!(key_fingerprint("sk-abc"), key_fingerprint("sk-abd"));
        assert!(!key_fingerprint("sk-abc").contains("sk-abc"));
        assert_eq!(key_fingerprint("sk-abc").len(), 16);
    }
}
