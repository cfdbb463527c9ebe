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
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use wan_animate_core::download::DownloadOptions;
use wan_animate_core::input::Input;
use wan_animate_core::types::{
    CreateTaskRequest, EpochMillis, ListTasksQuery, ListTime, Model, TaskStatus,
};
use wan_animate_core::{Client, ErrorKind};

use crate::endpoint::EndpointIdentity;
use crate::ledger::{
    JobRecord, JobState, JobUpdate, Ledger, LedgerError, LedgerStore, StoredUpload, Summary,
    Transition,
};
use crate::lock::lock_path;
use crate::manifest::{self, Job, ManifestError, MediaSource};
use crate::rate::RateLimiter;
use crate::report::{REPORT_FILES, Report, kind_name, report, write_reports};
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
    /// Task queries per second, shared by every job (the documented limit: 20).
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
        }
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

/// An upload remembered for the run: the URL and when it expires (epoch ms).
type UploadKey = (String, String, i64, i64);

struct Shared {
    client: Client,
    ledger: LedgerThread,
    opts: BatchOptions,
    creates: RateLimiter,
    queries: RateLimiter,
    uploads: Semaphore,
    /// Per model: serializes submissions (so a crash leaves at most one ambiguous create per
    /// model, which reconciliation can identify) and bounds unfinished tasks.
    submit_locks: HashMap<String, tokio::sync::Mutex<()>>,
    in_flight: HashMap<String, Arc<Semaphore>>,
    fatal: Mutex<Option<wan_animate_core::Error>>,
    upload_serial: tokio::sync::Mutex<()>,
    upload_memo: Mutex<HashMap<UploadKey, (String, i64)>>,
    /// Preflight verdicts per (file, size, mtime): a file shared by many jobs is probed once.
    preflight_memo: Mutex<HashSet<(PathBuf, u64, i64)>>,
    active: Arc<Semaphore>,
    summary: Mutex<Summary>,
}

fn now_ms() -> i64 {
    EpochMillis::from_system_time(SystemTime::now()).as_millis()
}

impl Shared {
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
        let mut t = Transition::new(rec.job_id.clone(), from, to, now_ms()).with_updates(updates);
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
    let models: Vec<String> = jobs.iter().map(|j| j.model.as_str().to_owned()).collect();
    let shared = Arc::new(Shared {
        client,
        ledger: LedgerThread::spawn(store),
        creates: RateLimiter::new(opts.create_per_sec),
        queries: RateLimiter::new(opts.task_api_per_sec),
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
        upload_serial: tokio::sync::Mutex::new(()),
        upload_memo: Mutex::new(HashMap::new()),
        preflight_memo: Mutex::new(HashSet::new()),
        active: Arc::new(Semaphore::new(opts.max_active_jobs.max(1))),
        summary: Mutex::new(summary),
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
            let result = drive(&shared, job, rec).await;
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
    let report = shared.ledger.call(|s| report(s)).await??;
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
            _ => store.set_endpoint(current)?,
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
    let records = store.sync_jobs(jobs, now_ms())?;
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

/// Takes one job from its recorded state to a final one.
async fn drive(shared: &Shared, job: Job, mut rec: JobRecord) -> Result<(), BatchError> {
    // Whether this job holds one of its model's in-flight slots (a task may be unfinished).
    let mut held = false;
    let model = job.model.as_str().to_owned();
    let result = drive_states(shared, &job, &mut rec, &mut held).await;
    if held {
        release_slot(shared, &model);
    }
    result
}

async fn acquire_slot(shared: &Shared, model: &str, held: &mut bool) -> Result<(), BatchError> {
    if !*held {
        let permit = shared.in_flight[model]
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| BatchError::Io(std::io::Error::other("closed")))?;
        permit.forget(); // given back by release_slot
        *held = true;
    }
    Ok(())
}

fn give_back(shared: &Shared, model: &str, held: &mut bool) {
    if *held {
        release_slot(shared, model);
        *held = false;
    }
}

fn release_slot(shared: &Shared, model: &str) {
    shared.in_flight[model].add_permits(1);
}

async fn drive_states(
    shared: &Shared,
    job: &Job,
    rec: &mut JobRecord,
    held: &mut bool,
) -> Result<(), BatchError> {
    loop {
        if shared.stopped() {
            return Ok(());
        }
        match rec.state() {
            s if s.is_final() => return Ok(()),
            JobState::Queued => upload(shared, job, rec).await?,
            JobState::Uploaded => submit(shared, job, rec, held).await?,
            JobState::Submitting => reconcile(shared, job, rec, held).await?,
            JobState::Submitted => poll(shared, job, rec, held).await?,
            JobState::Succeeded => download(shared, job, rec).await?,
            _ => return Ok(()),
        }
    }
}

async fn fail_job(
    shared: &Shared,
    rec: &mut JobRecord,
    e: &wan_animate_core::Error,
) -> Result<(), BatchError> {
    shared
        .record(
            rec,
            JobState::Failed,
            vec![
                JobUpdate::ErrorKind(kind_name(e.kind())),
                JobUpdate::ErrorCode(e.code().map(str::to_owned)),
                JobUpdate::ErrorMessage(e.to_string()),
                JobUpdate::RequestId(e.request_id().map(str::to_owned)),
            ],
            Some("failed"),
        )
        .await
}

/// Errors that concern every job stop the batch; everything else is this job's.
fn is_fatal(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Auth | ErrorKind::QuotaOrBilling | ErrorKind::Config
    )
}

fn stop(shared: &Shared, e: wan_animate_core::Error) {
    if let Ok(mut f) = shared.fatal.lock() {
        f.get_or_insert(e);
    }
}

async fn upload(shared: &Shared, job: &Job, rec: &mut JobRecord) -> Result<(), BatchError> {
    let mut urls = Vec::new();
    for (source, kind) in [
        (&job.image, wan_animate_media::MediaKind::Image),
        (&job.video, wan_animate_media::MediaKind::Video),
    ] {
        let url = match source {
            MediaSource::Url(u) | MediaSource::Oss(u) => {
                Input::parse(u).to_wire_url().unwrap_or_default()
            }
            MediaSource::File(path) => {
                if shared.opts.preflight {
                    if let Err(e) = preflight_cached(shared, path, kind).await? {
                        return fail_job(shared, rec, &e).await;
                    }
                }
                match upload_cached(shared, &job.model, path).await {
                    Ok(u) => u,
                    Err(e) if is_fatal(e.kind()) => {
                        stop(shared, e);
                        return Ok(());
                    }
                    Err(e) if e.is_transient() => {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        return Ok(()); // stays queued; tried again
                    }
                    Err(e) => return fail_job(shared, rec, &e).await,
                }
            }
        };
        urls.push(url);
    }
    let video = urls.pop().unwrap_or_default();
    let image = urls.pop().unwrap_or_default();
    shared
        .record(
            rec,
            JobState::Uploaded,
            vec![JobUpdate::ImageUrl(image), JobUpdate::VideoUrl(video)],
            None,
        )
        .await
}

/// Checks a local file against the documented limits; a pass is remembered per (file, size,
/// mtime), a failure is checked again for each job (it fails that job only).
async fn preflight_cached(
    shared: &Shared,
    path: &Path,
    kind: wan_animate_media::MediaKind,
) -> Result<Result<(), wan_animate_core::Error>, BatchError> {
    let key = std::fs::metadata(path).ok().map(|m| {
        let mtime = m
            .modified()
            .map(|t| EpochMillis::from_system_time(t).as_millis())
            .unwrap_or(0);
        (path.to_path_buf(), m.len(), mtime)
    });
    if let Some(key) = &key {
        if shared.preflight_memo.lock().is_ok_and(|m| m.contains(key)) {
            return Ok(Ok(()));
        }
    }
    let p = path.to_path_buf();
    let verdict = tokio::task::spawn_blocking(move || wan_animate_core::input::preflight(&p, kind))
        .await
        .map_err(|e| BatchError::Io(std::io::Error::other(e)))?
        .map(|_| ());
    if let (Some(key), Ok(())) = (key, &verdict) {
        if let Ok(mut memo) = shared.preflight_memo.lock() {
            memo.insert(key);
        }
    }
    Ok(verdict)
}

/// Uploads shared by several jobs happen once (per file, size, mtime and model).
async fn upload_cached(
    shared: &Shared,
    model: &Model,
    path: &Path,
) -> Result<String, wan_animate_core::Error> {
    let meta = std::fs::metadata(path)
        .map_err(|e| wan_animate_core::Error::invalid_input(format!("{}: {e}", path.display())))?;
    let size = meta.len() as i64;
    let mtime = meta
        .modified()
        .map(|t| EpochMillis::from_system_time(t).as_millis())
        .unwrap_or(0);
    let local = path.display().to_string();
    let key: UploadKey = (local.clone(), model.as_str().to_owned(), size, mtime);
    let margin = 2 * 3600 * 1000; // never hand out a URL with less than 2 h left
    let memo = |shared: &Shared| {
        shared
            .upload_memo
            .lock()
            .ok()
            .and_then(|m| m.get(&key).cloned())
            .filter(|(_, expires)| *expires > now_ms() + margin)
            .map(|(url, _)| url)
    };
    // Fast path: in memory, no lock, no ledger round trip.
    if let Some(url) = memo(shared) {
        return Ok(url);
    }
    let _serial = shared.upload_serial.lock().await;
    if let Some(url) = memo(shared) {
        return Ok(url);
    }
    let (l, m) = (local.clone(), model.as_str().to_owned());
    if let Ok(Ok(Some(url))) = shared
        .ledger
        .call(move |s| s.cached_upload(&l, &m, size, mtime, now_ms(), margin))
        .await
    {
        return Ok(url);
    }
    let _permit = shared
        .uploads
        .acquire()
        .await
        .map_err(|_| wan_animate_core::Error::config("closed"))?;
    let up = shared.client.upload_file(model, path, None).await?;
    let expires = EpochMillis::from_system_time(up.expires_at).as_millis();
    if let Ok(mut m) = shared.upload_memo.lock() {
        m.insert(key, (up.oss_url.clone(), expires));
    }
    let stored = StoredUpload::new(
        local,
        model.as_str(),
        size,
        mtime,
        up.oss_url.clone(),
        expires,
    );
    let _ = shared.ledger.call(move |s| s.store_upload(&stored)).await;
    Ok(up.oss_url)
}

async fn submit(
    shared: &Shared,
    job: &Job,
    rec: &mut JobRecord,
    held: &mut bool,
) -> Result<(), BatchError> {
    let model = job.model.as_str().to_owned();
    // A slot for an unfinished task of this model; kept until the job's task ends.
    acquire_slot(shared, &model, held).await?;
    let _serial = shared.submit_locks[&model].lock().await;
    if shared.stopped() {
        give_back(shared, &model, held);
        return Ok(());
    }
    let mut request = CreateTaskRequest::new(
        job.model.clone(),
        rec.image_url.clone().unwrap_or_default(),
        rec.video_url.clone().unwrap_or_default(),
        job.mode.clone(),
    );
    if let Some(w) = job.watermark {
        request = request.with_watermark(w);
    }
    if let Some(c) = job.check_image {
        request = request.with_check_image(c);
    }
    shared.creates.acquire().await;
    // Recorded before the request: a crash from here on is reconciled, never resubmitted blindly.
    let started = now_ms();
    let attempts = rec.attempts + 1;
    shared
        .record(
            rec,
            JobState::Submitting,
            vec![
                JobUpdate::SubmitStartedAt(started),
                JobUpdate::Attempts(attempts),
            ],
            None,
        )
        .await?;
    match shared.client.submit(&request).await {
        Ok(task) => {
            shared
                .record(
                    rec,
                    JobState::Submitted,
                    vec![
                        JobUpdate::TaskId(task.task_id.clone()),
                        JobUpdate::SubmitRequestId(task.request_id.clone()),
                        JobUpdate::TaskStatus(task.status.as_str().to_owned()),
                    ],
                    Some(if task.adopted {
                        "adopted after an ambiguous create"
                    } else {
                        "created"
                    }),
                )
                .await
        }
        Err(e) => {
            give_back(shared, &model, held);
            match e.kind() {
                k if is_fatal(k) => {
                    shared
                        .record(
                            rec,
                            JobState::Uploaded,
                            vec![],
                            Some("not created (batch stopped)"),
                        )
                        .await?;
                    stop(shared, e);
                    Ok(())
                }
                // Still `submitting`: the ledger's reconciliation, which knows every task this
                // batch made, decides (adopt, retry when provably nothing was made, or ask).
                ErrorKind::SubmitOutcomeUnknown => {
                    tracing::warn!(job = %job.id, error = %e, "ambiguous create; reconciling with the ledger");
                    Ok(())
                }
                // Throttled or unreachable after retries, with nothing created: try again later.
                k if k.is_transient() => {
                    shared
                        .record(
                            rec,
                            JobState::Uploaded,
                            vec![],
                            Some("not created; will retry"),
                        )
                        .await?;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Ok(())
                }
                _ => fail_job(shared, rec, &e).await,
            }
        }
    }
}

/// A job recorded as `submitting` with no task id: the process died around the create.
async fn reconcile(
    shared: &Shared,
    job: &Job,
    rec: &mut JobRecord,
    held: &mut bool,
) -> Result<(), BatchError> {
    let model = job.model.as_str().to_owned();
    acquire_slot(shared, &model, held).await?;
    let _serial = shared.submit_locks[&model].lock().await;
    let sent = rec.submit_started_at.unwrap_or_else(now_ms);
    let settle_ms = shared.opts.reconcile_settle.as_millis() as i64;
    let wait = sent + settle_ms - now_ms();
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    }
    let query = ListTasksQuery::new()
        .with_model_name(model.clone())
        .with_start_time(ListTime::from_unix_millis(sent - 10 * 60_000))
        .with_end_time(ListTime::from_unix_millis(now_ms() + 10 * 60_000))
        .with_page_size(100);
    let mut tasks = Vec::new();
    {
        use futures_util::StreamExt;
        let mut stream = std::pin::pin!(shared.client.list_all(query));
        while let Some(t) = stream.next().await {
            match t {
                Ok(t) => tasks.push(t),
                Err(e) => {
                    give_back(shared, &model, held);
                    if is_fatal(e.kind()) {
                        stop(shared, e);
                    } else {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    return Ok(());
                }
            }
        }
    }
    let known: HashSet<String> = shared
        .ledger
        .call(|s| s.known_task_ids())
        .await??
        .into_iter()
        .collect();
    let found = wan_animate_core::reconcile_candidates(
        &tasks,
        &model,
        sent - 60_000,
        now_ms() + 60_000,
        &known,
    );
    match found.as_slice() {
        [one] => {
            shared.client.remember_task_ids([one.task_id.as_str()]);
            let (id, status, request) = (
                one.task_id.clone(),
                one.status.as_str().to_owned(),
                one.request_id.clone(),
            );
            shared
                .record(
                    rec,
                    JobState::Submitted,
                    vec![
                        JobUpdate::TaskId(id),
                        JobUpdate::TaskStatus(status),
                        JobUpdate::SubmitRequestId(request),
                    ],
                    Some("adopted on resume"),
                )
                .await
        }
        [] => {
            // Submissions are serialized per model and every created task is recorded, so a
            // create that left no task in the list never reached the service.
            give_back(shared, &model, held);
            shared
                .record(
                    rec,
                    JobState::Uploaded,
                    vec![],
                    Some("no task was created before the interruption"),
                )
                .await
        }
        many => {
            give_back(shared, &model, held);
            let ids: Vec<&str> = many.iter().map(|t| t.task_id.as_str()).collect();
            let message = format!(
                "an interrupted create may have made one of {ids:?}; check them and give this job a new id if none is it"
            );
            shared
                .record(
                    rec,
                    JobState::NeedsAttention,
                    vec![
                        JobUpdate::ErrorKind(kind_name(ErrorKind::SubmitOutcomeUnknown)),
                        JobUpdate::ErrorMessage(message),
                    ],
                    Some("ambiguous on resume"),
                )
                .await
        }
    }
}

async fn poll(
    shared: &Shared,
    job: &Job,
    rec: &mut JobRecord,
    held: &mut bool,
) -> Result<(), BatchError> {
    let model = job.model.as_str().to_owned();
    acquire_slot(shared, &model, held).await?;
    let task_id = rec.task_id.clone().unwrap_or_default();
    loop {
        if shared.stopped() {
            return Ok(());
        }
        shared.queries.acquire().await;
        match shared.client.get(&task_id).await {
            Ok(task) => {
                let o = &task.output;
                let status = o.task_status.as_str().to_owned();
                match &o.task_status {
                    TaskStatus::Succeeded => {
                        give_back(shared, &model, held);
                        let duration = task.usage.as_ref().and_then(|u| u.video_duration);
                        let ratio = task
                            .usage
                            .as_ref()
                            .and_then(|u| u.video_ratio.as_ref())
                            .map(|r| r.as_str().to_owned());
                        return shared
                            .record(
                                rec,
                                JobState::Succeeded,
                                vec![
                                    JobUpdate::TaskStatus(status),
                                    JobUpdate::VideoDuration(duration),
                                    JobUpdate::VideoRatio(ratio),
                                    JobUpdate::ResultUrl(o.video_url().map(str::to_owned)),
                                ],
                                None,
                            )
                            .await;
                    }
                    TaskStatus::Failed | TaskStatus::Canceled | TaskStatus::Unknown => {
                        give_back(shared, &model, held);
                        let to = match o.task_status {
                            TaskStatus::Failed => JobState::Failed,
                            TaskStatus::Canceled => JobState::Canceled,
                            _ => JobState::Unknown,
                        };
                        let kind = match o.task_status {
                            TaskStatus::Failed => kind_name(
                                match wan_animate_core::classify(None, o.code.as_deref()) {
                                    k @ (ErrorKind::ContentModeration
                                    | ErrorKind::InvalidInput
                                    | ErrorKind::QuotaOrBilling) => k,
                                    _ => ErrorKind::TaskFailed,
                                },
                            ),
                            TaskStatus::Canceled => kind_name(ErrorKind::TaskCanceled),
                            _ => kind_name(ErrorKind::TaskUnknown),
                        };
                        return shared
                            .record(
                                rec,
                                to,
                                vec![
                                    JobUpdate::TaskStatus(status),
                                    JobUpdate::ErrorKind(kind),
                                    JobUpdate::ErrorCode(o.code.clone()),
                                    JobUpdate::ErrorMessage(o.message.clone().unwrap_or_default()),
                                    JobUpdate::RequestId(task.request_id.clone()),
                                ],
                                None,
                            )
                            .await;
                    }
                    _ => {
                        if rec.task_status.as_deref() != Some(status.as_str()) {
                            shared
                                .record(
                                    rec,
                                    JobState::Submitted,
                                    vec![JobUpdate::TaskStatus(status)],
                                    None,
                                )
                                .await?;
                        }
                    }
                }
            }
            Err(e) if is_fatal(e.kind()) => {
                stop(shared, e);
                return Ok(());
            }
            Err(e) => tracing::warn!(job = %job.id, error = %e, "query failed; will retry"),
        }
        tokio::time::sleep(shared.opts.poll_interval).await;
    }
}

async fn download(shared: &Shared, job: &Job, rec: &mut JobRecord) -> Result<(), BatchError> {
    let dest = shared.opts.out_dir.join(&job.output);
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).map_err(BatchError::Io)?;
    }
    let url = match &rec.result_url {
        Some(u) => u.clone(),
        None => {
            return shared
                .record(
                    rec,
                    JobState::Failed,
                    vec![JobUpdate::ErrorMessage(
                        "the task succeeded without a video URL".into(),
                    )],
                    None,
                )
                .await;
        }
    };
    // The output belongs to this job: a file left by an interrupted run is replaced atomically.
    match shared
        .client
        .download(&url, &dest, DownloadOptions::new().with_overwrite(true))
        .await
    {
        Ok(done) => {
            let path = dest.clone();
            let sha = tokio::task::spawn_blocking(move || sha256_file(&path))
                .await
                .map_err(|e| BatchError::Io(std::io::Error::other(e)))?
                .map_err(BatchError::Io)?;
            shared
                .record(
                    rec,
                    JobState::Downloaded,
                    vec![
                        JobUpdate::OutputPath(dest.display().to_string()),
                        JobUpdate::OutputBytes(done.bytes as i64),
                        JobUpdate::OutputSha256(sha),
                    ],
                    None,
                )
                .await
        }
        Err(e) if e.is_transient() => {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok(())
        }
        Err(e) => fail_job(shared, rec, &e).await,
    }
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wan_animate_types::Mode;

    fn job(id: &str) -> Job {
        Job {
            id: id.into(),
            line: 1,
            model: Model::AnimateMix,
            image: MediaSource::Url("https://x/p.jpg".into()),
            video: MediaSource::Url("https://x/v.mp4".into()),
            mode: Mode::Standard,
            watermark: None,
            check_image: None,
            output: format!("{id}.mp4").into(),
        }
    }

    fn opts(dir: &Path, endpoint: &str) -> BatchOptions {
        BatchOptions::new(dir).with_endpoint(EndpointIdentity::new(endpoint).with_key("sk-1"))
    }

    #[test]
    fn another_endpoint_is_refused_before_anything_changes_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
        prelude(
            &mut ledger,
            &[job("a")],
            &opts(dir.path(), "https://home/api/v1"),
        )
        .unwrap();
        let err = prelude(
            &mut ledger,
            &[job("a"), job("b")],
            &opts(dir.path(), "https://elsewhere/api/v1"),
        )
        .err()
        .unwrap();
        let text = err.to_string();
        assert!(
            text.contains("https://home/api/v1") && text.contains("https://elsewhere/api/v1"),
            "{text}"
        );
        assert_eq!(ledger.jobs().unwrap().len(), 1, "job b was not added");
        assert_eq!(
            ledger.endpoint().unwrap().unwrap().base_url,
            "https://home/api/v1"
        );
        // Another key is another endpoint too.
        let other_key = BatchOptions::new(dir.path())
            .with_endpoint(EndpointIdentity::new("https://home/api/v1").with_key("sk-2"));
        assert!(prelude(&mut ledger, &[job("a")], &other_key).is_err());
        // A deliberate move.
        let mut moved = opts(dir.path(), "https://elsewhere/api/v1");
        moved.allow_endpoint_change = true;
        prelude(&mut ledger, &[job("a"), job("b")], &moved).unwrap();
        assert_eq!(
            ledger.endpoint().unwrap().unwrap().base_url,
            "https://elsewhere/api/v1"
        );
    }

    #[test]
    fn existing_outputs_of_jobs_new_to_the_ledger_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
        let o = opts(dir.path(), "https://home/api/v1");
        prelude(&mut ledger, &[job("a")], &o).unwrap();
        // a's output exists: fine, a is known. b's exists and b is new: refused.
        std::fs::write(dir.path().join("a.mp4"), b"video").unwrap();
        std::fs::write(dir.path().join("b.mp4"), b"video").unwrap();
        let err = prelude(&mut ledger, &[job("a"), job("b")], &o)
            .err()
            .unwrap();
        assert!(
            matches!(&err, BatchError::OutputsExist { files, .. } if files.len() == 1),
            "{err}"
        );
        assert!(err.to_string().contains("b.mp4"), "{err}");
        assert_eq!(ledger.jobs().unwrap().len(), 1);
    }
}
