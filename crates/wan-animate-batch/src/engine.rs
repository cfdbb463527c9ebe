//! The scheduler: uploads, rate-limited submissions serialized per model, a bounded number of
//! unfinished tasks per model, polling, downloads as soon as each task succeeds, retries by
//! error kind, and resume with reconciliation. Every step is recorded in the ledger before
//! the action it stands for.
//!
//! Each job is driven by one async task that owns its record in memory; the ledger is
//! written through [`LedgerThread`] (compare-and-set, durable before the step goes on) and
//! never reread per step, so a step costs the same with 10 jobs or 10,000.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
#[cfg(test)]
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use wan_animate_core::Client;
use wan_animate_core::rt::{SharedClock, SharedSleep, SystemClock};
use wan_animate_core::types::EpochMillis;

use crate::budget::BudgetState;
use crate::endpoint::EndpointIdentity;
use crate::ledger::{
    JobRecord, JobState, JobUpdate, Ledger, LedgerError, LedgerStore, Summary, Transition,
};
use crate::lock::lock_path;
use crate::manifest::{self, Job, ManifestError};
use crate::rate::RateLimiter;
use crate::report::{ParkedDownload, Pricing, REPORT_FILES, Report, report_priced, write_reports};
use crate::store::LedgerThread;

/// How a batch runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BatchOptions {
    /// Where outputs and reports go.
    pub out_dir: PathBuf,
    /// The ledger file (default: `<out_dir>/batch.sqlite`).
    pub ledger: Option<PathBuf>,
    /// Task creations per second (the documented limit: 5).
    pub create_per_sec: f64,
    /// Task queries per second, shared by every job (the documented limit: 20). The engine
    /// polls through the client it is given, so this budget is the client's: build it with
    /// `Client::builder(..).task_api_rate(opts.task_api_per_sec)` (the CLI does). The
    /// engine has no query limiter of its own.
    pub task_api_per_sec: f64,
    /// Concurrent uploads.
    pub max_uploads: usize,
    /// Submitted-but-unfinished tasks per model. The service runs one at a time per model;
    /// keeping one or two queued behind it keeps it busy without approaching the 3 h limit.
    pub max_in_flight_per_model: usize,
    /// Time between queries of one task.
    pub poll_interval: Duration,
    /// Check local files against the documented limits before uploading.
    pub preflight: bool,
    /// How long after an interrupted create the task list is trusted to show the task: an
    /// empty answer before then is not taken as "nothing was created".
    pub reconcile_settle: Duration,
    /// Where this run's tasks live. Recorded in a new ledger; a resume against another
    /// endpoint is refused before anything is sent. `None` skips the check.
    pub endpoint: Option<EndpointIdentity>,
    /// Resume against an endpoint other than the recorded one (a deliberate move), and
    /// record the new one.
    pub allow_endpoint_change: bool,
    /// Jobs worked on at once, taken in manifest order. The others wait without cost, so
    /// a 10,000-job batch starts as fast as a 10-job one.
    pub max_active_jobs: usize,
    /// The clock of the scheduler (creation pacing, settle delays, ledger timestamps). Give
    /// it the client's clock (default: the system clock).
    pub clock: SharedClock,
    /// How the scheduler sleeps (creation pacing, retry back-off, settle delays). Give it
    /// the client's sleep (default: tokio's timer).
    pub sleep: SharedSleep,
    /// Simulated free disk space for downloads (bytes left; core's
    /// `DownloadOptions::with_disk_space`): a seam of this crate's tests.
    /// The prices reports and the budget are costed with (default: core's built-in table,
    /// read for China (Beijing)).
    pub pricing: Pricing,
    /// At most this much (in the price table's currency) of estimated cost is submitted:
    /// before each create, the estimates of the jobs already submitted or succeeded plus
    /// this job's must not pass it. Every job must then have a known cost (a price for its
    /// model, mode and region, and a local video whose duration is probed), or the run is
    /// refused before anything is sent. `None`: no budget.
    pub budget: Option<f64>,
    #[cfg(test)]
    pub(crate) disk_space: Option<Arc<AtomicU64>>,
}

impl BatchOptions {
    /// The documented limits, outputs in `out_dir`.
    pub fn new(out_dir: impl Into<PathBuf>) -> Self {
        Self {
            out_dir: out_dir.into(),
            ledger: None,
            create_per_sec: 5.0,
            task_api_per_sec: 20.0,
            max_uploads: 2,
            max_in_flight_per_model: 2,
            poll_interval: Duration::from_secs(10),
            preflight: true,
            reconcile_settle: Duration::from_secs(30),
            endpoint: None,
            allow_endpoint_change: false,
            max_active_jobs: 256,
            clock: SharedClock::new(SystemClock),
            sleep: SharedSleep::new(wan_animate_core::rt::TokioSleep),
            pricing: Pricing::builtin(),
            budget: None,
            #[cfg(test)]
            disk_space: None,
        }
    }

    /// Runs the scheduler on an injected clock and sleep: pass the client's, so that the
    /// whole run (the client's waits and the scheduler's pacing) shares one notion of time,
    /// for example core's `test_util::ManualClock` in tests.
    pub fn with_time(mut self, clock: SharedClock, sleep: SharedSleep) -> Self {
        self.clock = clock;
        self.sleep = sleep;
        self
    }

    /// Sets the prices reports and the budget are costed with.
    pub fn with_pricing(mut self, pricing: Pricing) -> Self {
        self.pricing = pricing;
        self
    }

    /// Sets a budget (see [`BatchOptions::budget`]).
    pub fn with_budget(mut self, amount: f64) -> Self {
        self.budget = Some(amount);
        self
    }

    /// Sets the endpoint identity checked against the ledger.
    pub fn with_endpoint(mut self, endpoint: EndpointIdentity) -> Self {
        self.endpoint = Some(endpoint);
        self
    }

    /// The ledger path in use.
    pub fn ledger_path(&self) -> PathBuf {
        self.ledger
            .clone()
            .unwrap_or_else(|| self.out_dir.join("batch.sqlite"))
    }
}

/// Why a batch stopped.
#[derive(Debug)]
#[non_exhaustive]
pub enum BatchError {
    /// The manifest has problems (nothing was uploaded or submitted).
    Manifest(ManifestError),
    /// The ledger failed, or refused (held by another run, an illegal transition).
    Ledger(LedgerError),
    /// A failure that affects every job (wrong key, billing): the batch stops, resumable.
    Fatal(wan_animate_core::Error),
    /// Local I/O.
    Io(std::io::Error),
    /// The ledger's tasks live at another endpoint; nothing was sent.
    EndpointChanged {
        /// The ledger.
        ledger: String,
        /// Where its tasks live.
        recorded: Box<EndpointIdentity>,
        /// Where this run would talk to.
        current: Box<EndpointIdentity>,
    },
    /// Outputs of jobs the ledger does not know already exist; nothing was sent.
    OutputsExist {
        /// The ledger.
        ledger: String,
        /// The files.
        files: Vec<PathBuf>,
    },
}

impl std::fmt::Display for BatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BatchError::Manifest(e) => write!(f, "{e}"),
            BatchError::Ledger(e) => write!(f, "{e}"),
            BatchError::Fatal(e) => write!(
                f,
                "the batch stopped: {e}; fix it and run the same command again to resume"
            ),
            BatchError::Io(e) => write!(f, "{e}"),
            BatchError::EndpointChanged {
                ledger,
                recorded,
                current,
            } => write!(
                f,
                "the ledger {ledger} holds tasks of {recorded}, but this run talks to {current}; nothing was sent and the ledger is unchanged. Resume with the original endpoint (base URL, region, workspace and key), or, if the tasks really are reachable there, allow the move explicitly (--allow-endpoint-change)"
            ),
            BatchError::OutputsExist { ledger, files } => {
                let shown: Vec<String> = files
                    .iter()
                    .take(5)
                    .map(|p| p.display().to_string())
                    .collect();
                write!(
                    f,
                    "{} output file(s) of jobs the ledger {ledger} has no record of already exist ({}{}); nothing was uploaded or submitted. If they come from an earlier run, resume with that run's ledger (--ledger); otherwise move them away or choose another --out-dir",
                    files.len(),
                    shown.join(", "),
                    if files.len() > 5 { ", ..." } else { "" }
                )
            }
        }
    }
}

impl std::error::Error for BatchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BatchError::Manifest(e) => Some(e),
            BatchError::Ledger(e) => Some(e),
            BatchError::Fatal(e) => Some(e),
            BatchError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<LedgerError> for BatchError {
    fn from(e: LedgerError) -> Self {
        BatchError::Ledger(e)
    }
}

/// What an upload is remembered by: local path, model, size and mtime (epoch ms).
type UploadKey = (String, String, i64, i64);

struct Shared {
    client: Client,
    ledger: LedgerThread,
    opts: BatchOptions,
    creates: RateLimiter,
    uploads: Semaphore,
    /// Per model: serializes submissions (so a crash leaves at most one ambiguous create per
    /// model, which reconciliation can identify) and bounds unfinished tasks.
    submit_locks: HashMap<String, tokio::sync::Mutex<()>>,
    in_flight: HashMap<String, Arc<Semaphore>>,
    fatal: Mutex<Option<wan_animate_core::Error>>,
    /// Raised when the batch stops, so that waits in progress end at once.
    stop_signal: tokio::sync::watch::Sender<bool>,
    /// Downloads parked on a local I/O failure (the task is safe for 24 h).
    parked: Mutex<Vec<ParkedDownload>>,
    /// Whether the one warning about parked downloads was given.
    warned_parked: AtomicBool,
    upload_serial: tokio::sync::Mutex<()>,
    upload_memo: Mutex<HashMap<UploadKey, (String, i64)>>,
    /// Preflight verdicts per (file, size, mtime): a file shared by many jobs is probed once.
    preflight_memo: Mutex<HashSet<(PathBuf, u64, i64)>>,
    active: Arc<Semaphore>,
    summary: Mutex<Summary>,
    /// `--budget`: the jobs' estimates and what is committed.
    budget: Option<BudgetState>,
}

fn wall_ms(clock: &SharedClock) -> i64 {
    EpochMillis::from_system_time(clock.wall_now()).as_millis()
}

impl Shared {
    /// Wall-clock milliseconds on the injected clock.
    fn now_ms(&self) -> i64 {
        wall_ms(&self.opts.clock)
    }

    /// Sleeps on the injected sleep.
    async fn sleep(&self, d: Duration) {
        self.opts.sleep.sleep(d).await
    }

    /// Records `rec -> to` in the ledger (compare-and-set on the state `rec` is in), then
    /// in memory. Returns once durable.
    async fn record(
        &self,
        rec: &mut JobRecord,
        to: JobState,
        updates: Vec<JobUpdate>,
        detail: Option<&str>,
    ) -> Result<(), BatchError> {
        let from = rec.state();
        let mut t =
            Transition::new(rec.job_id.clone(), from, to, self.now_ms()).with_updates(updates);
        if let Some(d) = detail {
            t = t.with_detail(d);
        }
        let updates = t.updates.clone();
        self.ledger.transition(t).await?;
        let billed = |r: &JobRecord| {
            if r.task_status.as_deref() == Some("SUCCEEDED") {
                r.video_duration.unwrap_or(0.0)
            } else {
                0.0
            }
        };
        let before = billed(rec);
        rec.apply(&updates);
        rec.state = Some(to);
        let mut s = self.summary.lock().unwrap_or_else(|p| p.into_inner());
        s.moved(from, to);
        s.billed_seconds += billed(rec) - before;
        Ok(())
    }

    fn summary(&self) -> Summary {
        self.summary
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn stopped(&self) -> bool {
        self.fatal.lock().map(|f| f.is_some()).unwrap_or(true)
    }
}

/// Runs (or resumes) the batch in `manifest_path` with the SQLite ledger of `opts`.
/// `on_progress` is called after every job finishes with the current totals.
///
/// Before anything is uploaded or created: the manifest and its outputs are checked (every
/// problem by line), the ledger's run lock is taken (a second run is refused at once), the
/// endpoint is compared with the recorded one, and outputs that already exist for jobs the
/// ledger does not know are refused.
pub async fn run(
    client: Client,
    manifest_path: &Path,
    opts: BatchOptions,
    on_progress: impl Fn(&Summary) + Send + Sync + 'static,
) -> Result<Report, BatchError> {
    let mut opts = opts;
    let out_dir = absolute(&opts.out_dir);
    let ledger_path = absolute(&opts.ledger_path());
    let mut reserved = vec![absolute(manifest_path)];
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = ledger_path.as_os_str().to_owned();
        name.push(suffix);
        reserved.push(PathBuf::from(name));
    }
    reserved.push(lock_path(&ledger_path));
    reserved.extend(REPORT_FILES.iter().map(|f| out_dir.join(f)));
    let jobs =
        manifest::load_for_run(manifest_path, &out_dir, &reserved).map_err(BatchError::Manifest)?;
    // Unpriceable jobs are refused before the output directory or the ledger is made.
    if let Some(amount) = opts.budget {
        BudgetState::plan(amount, &jobs, &opts.pricing).map_err(|problems| {
            BatchError::Manifest(ManifestError {
                path: manifest_path.to_path_buf(),
                problems,
            })
        })?;
    }
    std::fs::create_dir_all(&opts.out_dir).map_err(BatchError::Io)?;
    // Reports name outputs by absolute path, valid from any working directory.
    opts.out_dir = std::fs::canonicalize(&opts.out_dir).map_err(BatchError::Io)?;
    let store = tokio::task::spawn_blocking(move || Ledger::open(&ledger_path))
        .await
        .map_err(|e| BatchError::Io(std::io::Error::other(e)))??;
    run_with_ledger(client, jobs, Box::new(store), opts, on_progress).await
}

/// Runs (or resumes) validated `jobs` against any [`LedgerStore`] (which must already hold
/// its run lock). [`run`] is this with the manifest file and the SQLite ledger.
pub async fn run_with_ledger(
    client: Client,
    jobs: Vec<Job>,
    store: Box<dyn LedgerStore>,
    opts: BatchOptions,
    on_progress: impl Fn(&Summary) + Send + Sync + 'static,
) -> Result<Report, BatchError> {
    let budget = match opts.budget {
        Some(amount) if !(amount.is_finite() && amount > 0.0) => {
            return Err(BatchError::Io(std::io::Error::other(format!(
                "the budget must be a positive amount, not {amount}"
            ))));
        }
        Some(amount) => Some(BudgetState::plan(amount, &jobs, &opts.pricing).map_err(
            |problems| {
                BatchError::Manifest(ManifestError {
                    path: PathBuf::from("the manifest"),
                    problems,
                })
            },
        )?),
        None => None,
    };
    // The prelude reads and writes the ledger once, off the async workers.
    let prelude = {
        let jobs = jobs.clone();
        let opts = opts.clone();
        tokio::task::spawn_blocking(move || {
            let mut store = store;
            let r = prelude(store.as_mut(), &jobs, &opts);
            (store, r)
        })
    };
    let (store, prelude) = prelude
        .await
        .map_err(|e| BatchError::Io(std::io::Error::other(e)))?;
    let (records, summary, known) = prelude?;
    client.remember_task_ids(known.iter().map(String::as_str));
    if let Some(b) = &budget {
        b.count_recorded(&records);
    }
    let models: Vec<String> = jobs.iter().map(|j| j.model.as_str().to_owned()).collect();
    let shared = Arc::new(Shared {
        client,
        ledger: LedgerThread::spawn(store),
        creates: RateLimiter::new(opts.create_per_sec, opts.clock.clone(), opts.sleep.clone()),
        uploads: Semaphore::new(opts.max_uploads.max(1)),
        submit_locks: models
            .iter()
            .map(|m| (m.clone(), tokio::sync::Mutex::new(())))
            .collect(),
        in_flight: models
            .iter()
            .map(|m| {
                (
                    m.clone(),
                    Arc::new(Semaphore::new(opts.max_in_flight_per_model.max(1))),
                )
            })
            .collect(),
        fatal: Mutex::new(None),
        stop_signal: tokio::sync::watch::Sender::new(false),
        parked: Mutex::new(Vec::new()),
        warned_parked: AtomicBool::new(false),
        upload_serial: tokio::sync::Mutex::new(()),
        upload_memo: Mutex::new(HashMap::new()),
        preflight_memo: Mutex::new(HashSet::new()),
        active: Arc::new(Semaphore::new(opts.max_active_jobs.max(1))),
        summary: Mutex::new(summary),
        budget,
        opts,
    });
    let progress = Arc::new(on_progress);
    let mut set = tokio::task::JoinSet::new();
    for (job, rec) in jobs.into_iter().zip(records) {
        if rec.state().is_final() {
            continue;
        }
        let shared = shared.clone();
        let progress = progress.clone();
        // Permits are handed out in the order asked for: manifest order.
        let permit = shared.active.clone().acquire_owned();
        set.spawn(async move {
            let id = job.id.clone();
            let _active = permit.await;
            let result = steps::drive(&shared, job, rec).await;
            progress(&shared.summary());
            (id, result)
        });
    }
    let mut crashed = None;
    let mut ledger_refused = None;
    while let Some(done) = set.join_next().await {
        match done {
            Ok((id, Err(BatchError::Ledger(e)))) => {
                tracing::error!(job = %id, error = %e, "the ledger refused a step");
                ledger_refused.get_or_insert(e);
            }
            Ok((id, Err(e))) => tracing::error!(job = %id, error = %e, "job stopped"),
            Ok(_) => {}
            Err(e) => {
                crashed = Some(BatchError::Io(std::io::Error::other(format!(
                    "a job task failed: {e}"
                ))))
            }
        }
    }
    if let Some(e) = crashed {
        return Err(e);
    }
    if let Some(e) = shared.fatal.lock().ok().and_then(|mut f| f.take()) {
        return Err(BatchError::Fatal(e));
    }
    if let Some(e) = ledger_refused {
        return Err(BatchError::Ledger(e));
    }
    let pricing = shared.opts.pricing.clone();
    let mut report = shared
        .ledger
        .call(move |s| report_priced(s, &pricing))
        .await??;
    report.parked_downloads = shared.parked.lock().map(|p| p.clone()).unwrap_or_default();
    if let Some(b) = &shared.budget {
        let outcome = b.outcome();
        for j in &mut report.jobs {
            if outcome.held_back.contains(&j.job_id) && j.note.is_none() {
                j.note = Some(format!(
                    "held back by --budget {} {}: not submitted; raise the budget and run again to submit it",
                    outcome.amount, outcome.currency
                ));
            }
        }
        report.budget = Some(outcome);
    }
    write_reports(&shared.opts.out_dir, &report).map_err(BatchError::Io)?;
    Ok(report)
}

type Prelude = (Vec<JobRecord>, Summary, Vec<String>);

/// Endpoint check, existing-output check, then the jobs synced: all before anything is sent.
fn prelude(
    store: &mut dyn LedgerStore,
    jobs: &[Job],
    opts: &BatchOptions,
) -> Result<Prelude, BatchError> {
    if let Some(current) = &opts.endpoint {
        match store.endpoint()? {
            Some(recorded) if &recorded != current && !opts.allow_endpoint_change => {
                return Err(BatchError::EndpointChanged {
                    ledger: store.location(),
                    recorded: Box::new(recorded),
                    current: Box::new(current.clone()),
                });
            }
            Some(recorded) if &recorded == current => {}
            Some(recorded) => {
                tracing::warn!(from = %recorded, to = %current, "moving the ledger's endpoint, as allowed");
                store.set_endpoint(current)?;
            }
            None => store.set_endpoint(current)?,
        }
    }
    let known_ids: HashSet<String> = store.jobs()?.into_iter().map(|r| r.job_id).collect();
    let clobbered: Vec<PathBuf> = jobs
        .iter()
        .filter(|j| !known_ids.contains(&j.id))
        .map(|j| opts.out_dir.join(&j.output))
        .filter(|p| p.exists())
        .collect();
    if !clobbered.is_empty() {
        return Err(BatchError::OutputsExist {
            ledger: store.location(),
            files: clobbered,
        });
    }
    let records = store.sync_jobs(jobs, wall_ms(&opts.clock))?;
    let summary = store.summary()?;
    let known = store.known_task_ids()?;
    Ok((records, summary, known))
}

/// An absolute path with the symbolic links of its existing part resolved, so that paths
/// compare equal however they were written (`out/../out/a`, a symlinked temp directory).
fn absolute(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut tail = Vec::new();
    let mut head = abs.as_path();
    loop {
        if let Ok(real) = std::fs::canonicalize(head) {
            return tail.iter().rev().fold(real, |p, c| p.join(c));
        }
        match (head.parent(), head.file_name()) {
            (Some(parent), Some(name)) => {
                tail.push(name.to_owned());
                head = parent;
            }
            _ => return abs,
        }
    }
}

mod steps;

#[cfg(test)]
mod tests;
