//! The scheduler: uploads, rate-limited submissions serialized per model, a bounded number of
//! unfinished tasks per model, polling, downloads as soon as each task succeeds, retries by
//! error kind, and resume with reconciliation. Every step is recorded in the ledger before
//! the action it stands for.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use wan_animate_core::download::DownloadOptions;
use wan_animate_core::input::Input;
use wan_animate_core::types::{
    CreateTaskRequest, EpochMillis, ListTasksQuery, ListTime, Model, TaskStatus,
};
use wan_animate_core::{Client, ErrorKind};

use crate::ledger::{JobRecord, JobState, Ledger, LedgerError, Summary};
use crate::manifest::{self, Job, ManifestError, MediaSource};

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
        }
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
    /// The ledger failed.
    Ledger(LedgerError),
    /// A failure that affects every job (wrong key, billing): the batch stops, resumable.
    Fatal(wan_animate_core::Error),
    /// Local I/O.
    Io(std::io::Error),
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
        }
    }
}

impl std::error::Error for BatchError {}

impl From<LedgerError> for BatchError {
    fn from(e: LedgerError) -> Self {
        BatchError::Ledger(e)
    }
}

/// One job's line in the report.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct JobReport {
    /// Manifest id.
    pub job_id: String,
    /// Final (or current) state.
    pub outcome: String,
    /// The task.
    pub task_id: Option<String>,
    /// The create request's id.
    pub submit_request_id: Option<String>,
    /// The failing request's id.
    pub request_id: Option<String>,
    /// Error kind, code and message.
    pub error_kind: Option<String>,
    /// The service's code.
    pub error_code: Option<String>,
    /// The message.
    pub error_message: Option<String>,
    /// Where the video is.
    pub output_path: Option<String>,
    /// Its SHA-256.
    pub output_sha256: Option<String>,
    /// Billed seconds.
    pub video_duration: Option<f64>,
    /// The mode (`wan-std`/`wan-pro`).
    pub mode: String,
}

/// The final report: one line per job and totals by mode.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// Totals.
    pub summary: Summary,
    /// Billed seconds per mode.
    pub billed_seconds_by_mode: HashMap<String, f64>,
    /// Every job.
    pub jobs: Vec<JobReport>,
}

/// A smooth rate limiter: one permit every `1/rate` seconds.
#[derive(Debug)]
struct RateLimiter {
    interval: Duration,
    next: Mutex<Instant>,
}

impl RateLimiter {
    fn new(per_sec: f64) -> Self {
        let interval = if per_sec > 0.0 {
            Duration::from_secs_f64(1.0 / per_sec)
        } else {
            Duration::ZERO
        };
        Self {
            interval,
            next: Mutex::new(Instant::now()),
        }
    }

    async fn acquire(&self) {
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

struct Shared {
    client: Client,
    ledger: Mutex<Ledger>,
    opts: BatchOptions,
    creates: RateLimiter,
    queries: RateLimiter,
    uploads: Semaphore,
    /// Per model: serializes submissions (so a crash leaves at most one ambiguous create per
    /// model, which reconciliation can identify) and bounds unfinished tasks.
    submit_locks: HashMap<String, tokio::sync::Mutex<()>>,
    in_flight: HashMap<String, Arc<Semaphore>>,
    fatal: Mutex<Option<wan_animate_core::Error>>,
    upload_cache: tokio::sync::Mutex<()>,
}

fn now_ms() -> i64 {
    EpochMillis::from_system_time(SystemTime::now()).as_millis()
}

impl Shared {
    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(
        &self,
        job: &str,
        to: JobState,
        updates: &[crate::ledger::Update<'_>],
        detail: Option<&str>,
    ) -> Result<(), BatchError> {
        self.ledger()
            .transition(job, to, updates, detail, now_ms())
            .map_err(BatchError::from)
    }

    fn stopped(&self) -> bool {
        self.fatal.lock().map(|f| f.is_some()).unwrap_or(true)
    }
}

/// Runs (or resumes) the batch in `manifest_path`. `on_progress` is called after every job
/// transition with the current totals.
pub async fn run(
    client: Client,
    manifest_path: &Path,
    opts: BatchOptions,
    on_progress: impl Fn(&Summary) + Send + Sync + 'static,
) -> Result<Report, BatchError> {
    let jobs = manifest::load(manifest_path, true).map_err(BatchError::Manifest)?;
    let mut opts = opts;
    std::fs::create_dir_all(&opts.out_dir).map_err(BatchError::Io)?;
    // Reports name outputs by absolute path, valid from any working directory.
    opts.out_dir = std::fs::canonicalize(&opts.out_dir).map_err(BatchError::Io)?;
    let mut ledger = Ledger::open(&opts.ledger_path())?;
    ledger.sync_jobs(&jobs, now_ms())?;
    client.remember_task_ids(ledger.known_task_ids()?.iter().map(String::as_str));
    let models: Vec<String> = jobs.iter().map(|j| j.model.as_str().to_owned()).collect();
    let shared = Arc::new(Shared {
        client,
        ledger: Mutex::new(ledger),
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
        upload_cache: tokio::sync::Mutex::new(()),
        opts,
    });
    let progress = Arc::new(on_progress);
    let mut set = tokio::task::JoinSet::new();
    for job in jobs {
        let shared = shared.clone();
        let progress = progress.clone();
        set.spawn(async move {
            let id = job.id.clone();
            let result = drive(&shared, job).await;
            if let Ok(s) = shared.ledger().summary() {
                progress(&s);
            }
            (id, result)
        });
    }
    let mut crashed = None;
    while let Some(done) = set.join_next().await {
        match done {
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
    let report = report(&shared.ledger())?;
    write_reports(&shared.opts.out_dir, &report).map_err(BatchError::Io)?;
    Ok(report)
}

/// The report of a ledger, as `batch status` shows it.
pub fn report(ledger: &Ledger) -> Result<Report, BatchError> {
    let mut by_mode: HashMap<String, f64> = HashMap::new();
    let jobs: Vec<JobReport> = ledger
        .jobs()?
        .into_iter()
        .map(|r| {
            let mode = serde_json::from_str::<Job>(&r.spec)
                .map(|j| j.mode.as_str().to_owned())
                .unwrap_or_default();
            if r.task_status.as_deref() == Some("SUCCEEDED") {
                *by_mode.entry(mode.clone()).or_default() += r.video_duration.unwrap_or(0.0);
            }
            JobReport {
                job_id: r.job_id,
                outcome: r.state.map(|s| s.as_str().to_owned()).unwrap_or_default(),
                task_id: r.task_id,
                submit_request_id: r.submit_request_id,
                request_id: r.request_id,
                error_kind: r.error_kind,
                error_code: r.error_code,
                error_message: r.error_message,
                output_path: r.output_path,
                output_sha256: r.output_sha256,
                video_duration: r.video_duration,
                mode,
            }
        })
        .collect();
    Ok(Report {
        summary: ledger.summary()?,
        billed_seconds_by_mode: by_mode,
        jobs,
    })
}

/// Writes `report.json` and `report.csv` into `dir`.
pub fn write_reports(dir: &Path, report: &Report) -> std::io::Result<()> {
    std::fs::write(
        dir.join("report.json"),
        serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?,
    )?;
    let mut w = csv::Writer::from_path(dir.join("report.csv")).map_err(std::io::Error::other)?;
    w.write_record([
        "job_id",
        "outcome",
        "task_id",
        "submit_request_id",
        "request_id",
        "error_kind",
        "error_code",
        "error_message",
        "output_path",
        "output_sha256",
        "video_duration",
        "mode",
    ])
    .map_err(std::io::Error::other)?;
    for j in &report.jobs {
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        w.write_record([
            j.job_id.clone(),
            j.outcome.clone(),
            o(&j.task_id),
            o(&j.submit_request_id),
            o(&j.request_id),
            o(&j.error_kind),
            o(&j.error_code),
            o(&j.error_message),
            o(&j.output_path),
            o(&j.output_sha256),
            j.video_duration.map(|d| d.to_string()).unwrap_or_default(),
            j.mode.clone(),
        ])
        .map_err(std::io::Error::other)?;
    }
    w.flush()
}

fn kind_name(kind: ErrorKind) -> String {
    format!("{kind:?}")
}

/// Takes one job from its recorded state to a final one.
async fn drive(shared: &Shared, job: Job) -> Result<(), BatchError> {
    // Whether this job holds one of its model's in-flight slots (a task may be unfinished).
    let mut held = false;
    let model = job.model.as_str().to_owned();
    let result = drive_states(shared, &job, &mut held).await;
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

async fn drive_states(shared: &Shared, job: &Job, held: &mut bool) -> Result<(), BatchError> {
    let job = job.clone();
    loop {
        if shared.stopped() {
            return Ok(());
        }
        let record = shared.ledger().job(&job.id)?;
        let state = record.state.unwrap_or(JobState::Queued);
        match state {
            s if s.is_final() => return Ok(()),
            JobState::Queued => upload(shared, &job).await?,
            JobState::Uploaded => submit(shared, &job, &record, held).await?,
            JobState::Submitting => reconcile(shared, &job, &record, held).await?,
            JobState::Submitted => poll(shared, &job, &record, held).await?,
            JobState::Succeeded => download(shared, &job, &record).await?,
            _ => return Ok(()),
        }
    }
}

fn fail_job(shared: &Shared, job: &str, e: &wan_animate_core::Error) -> Result<(), BatchError> {
    let kind = kind_name(e.kind());
    shared.record(
        job,
        JobState::Failed,
        &[
            ("error_kind", &kind),
            ("error_code", &e.code()),
            ("error_message", &e.to_string()),
            ("request_id", &e.request_id()),
        ],
        Some("failed"),
    )
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

async fn upload(shared: &Shared, job: &Job) -> Result<(), BatchError> {
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
                    if let Err(e) = wan_animate_core::input::preflight(path, kind) {
                        return fail_job(shared, &job.id, &e);
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
                    Err(e) => return fail_job(shared, &job.id, &e),
                }
            }
        };
        urls.push(url);
    }
    shared.record(
        &job.id,
        JobState::Uploaded,
        &[("image_url", &urls[0]), ("video_url", &urls[1])],
        None,
    )
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
    let key = path.display().to_string();
    let _serial = shared.upload_cache.lock().await;
    let margin = 2 * 3600 * 1000; // never hand out a URL with less than 2 h left
    if let Ok(Some(url)) =
        shared
            .ledger()
            .cached_upload(&key, model.as_str(), size, mtime, now_ms(), margin)
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
    let _ = shared
        .ledger()
        .store_upload(&key, model.as_str(), size, mtime, &up.oss_url, expires);
    Ok(up.oss_url)
}

async fn submit(
    shared: &Shared,
    job: &Job,
    record: &JobRecord,
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
        record.image_url.clone().unwrap_or_default(),
        record.video_url.clone().unwrap_or_default(),
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
    shared.record(
        &job.id,
        JobState::Submitting,
        &[
            ("submit_started_at", &started),
            ("attempts", &(record.attempts + 1)),
        ],
        None,
    )?;
    match shared.client.submit(&request).await {
        Ok(task) => shared.record(
            &job.id,
            JobState::Submitted,
            &[
                ("task_id", &task.task_id),
                ("submit_request_id", &task.request_id),
                ("task_status", &task.status.as_str()),
            ],
            Some(if task.adopted {
                "adopted after an ambiguous create"
            } else {
                "created"
            }),
        ),
        Err(e) => {
            give_back(shared, &model, held);
            match e.kind() {
                k if is_fatal(k) => {
                    shared.record(
                        &job.id,
                        JobState::Uploaded,
                        &[],
                        Some("not created (batch stopped)"),
                    )?;
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
                    shared.record(
                        &job.id,
                        JobState::Uploaded,
                        &[],
                        Some("not created; will retry"),
                    )?;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Ok(())
                }
                _ => fail_job(shared, &job.id, &e),
            }
        }
    }
}

fn release_slot(shared: &Shared, model: &str) {
    shared.in_flight[model].add_permits(1);
}

/// A job recorded as `submitting` with no task id: the process died around the create.
async fn reconcile(
    shared: &Shared,
    job: &Job,
    record: &JobRecord,
    held: &mut bool,
) -> Result<(), BatchError> {
    let model = job.model.as_str().to_owned();
    acquire_slot(shared, &model, held).await?;
    let _serial = shared.submit_locks[&model].lock().await;
    let sent = record.submit_started_at.unwrap_or_else(now_ms);
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
    let known: std::collections::HashSet<String> =
        shared.ledger().known_task_ids()?.into_iter().collect();
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
            shared.record(
                &job.id,
                JobState::Submitted,
                &[
                    ("task_id", &one.task_id),
                    ("task_status", &one.status.as_str()),
                    ("submit_request_id", &one.request_id),
                ],
                Some("adopted on resume"),
            )
        }
        [] => {
            // Submissions are serialized per model and every created task is recorded, so a
            // create that left no task in the list never reached the service.
            give_back(shared, &model, held);
            shared.record(
                &job.id,
                JobState::Uploaded,
                &[],
                Some("no task was created before the interruption"),
            )
        }
        many => {
            give_back(shared, &model, held);
            let ids: Vec<&str> = many.iter().map(|t| t.task_id.as_str()).collect();
            let message = format!(
                "an interrupted create may have made one of {ids:?}; check them and give this job a new id if none is it"
            );
            shared.record(
                &job.id,
                JobState::NeedsAttention,
                &[
                    ("error_kind", &"SubmitOutcomeUnknown"),
                    ("error_message", &message),
                ],
                Some("ambiguous on resume"),
            )
        }
    }
}

async fn poll(
    shared: &Shared,
    job: &Job,
    record: &JobRecord,
    held: &mut bool,
) -> Result<(), BatchError> {
    let model = job.model.as_str().to_owned();
    acquire_slot(shared, &model, held).await?;
    let task_id = record.task_id.clone().unwrap_or_default();
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
                        return shared.record(
                            &job.id,
                            JobState::Succeeded,
                            &[
                                ("task_status", &status),
                                ("video_duration", &duration),
                                ("video_ratio", &ratio),
                                ("result_url", &o.video_url()),
                            ],
                            None,
                        );
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
                                    k
                                    @ (ErrorKind::ContentModeration | ErrorKind::InvalidInput) => k,
                                    _ => ErrorKind::TaskFailed,
                                },
                            ),
                            TaskStatus::Canceled => kind_name(ErrorKind::TaskCanceled),
                            _ => kind_name(ErrorKind::TaskUnknown),
                        };
                        return shared.record(
                            &job.id,
                            to,
                            &[
                                ("task_status", &status),
                                ("error_kind", &kind),
                                ("error_code", &o.code),
                                ("error_message", &o.message),
                                ("request_id", &task.request_id),
                            ],
                            None,
                        );
                    }
                    _ => {
                        if record.task_status.as_deref() != Some(status.as_str()) {
                            shared.ledger().transition(
                                &job.id,
                                JobState::Submitted,
                                &[("task_status", &status)],
                                None,
                                now_ms(),
                            )?;
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

async fn download(shared: &Shared, job: &Job, record: &JobRecord) -> Result<(), BatchError> {
    let dest = shared.opts.out_dir.join(&job.output);
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).map_err(BatchError::Io)?;
    }
    let url = match &record.result_url {
        Some(u) => u.clone(),
        None => {
            return shared.record(
                &job.id,
                JobState::Failed,
                &[("error_message", &"the task succeeded without a video URL")],
                None,
            );
        }
    };
    // The output belongs to this job: a file left by an interrupted run is replaced atomically.
    match shared
        .client
        .download(&url, &dest, DownloadOptions::new().with_overwrite(true))
        .await
    {
        Ok(done) => {
            let sha = sha256_file(&dest).map_err(BatchError::Io)?;
            shared.record(
                &job.id,
                JobState::Downloaded,
                &[
                    ("output_path", &dest.display().to_string()),
                    ("output_bytes", &(done.bytes as i64)),
                    ("output_sha256", &sha),
                ],
                None,
            )
        }
        Err(e) if e.is_transient() => {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok(())
        }
        Err(e) => fail_job(shared, &job.id, &e),
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
