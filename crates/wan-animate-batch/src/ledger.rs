//! The durable ledger: every job's state, behind a narrow interface ([`LedgerStore`]) with one
//! implementation today, a SQLite file in WAL mode ([`Ledger`]).
//!
//! # Guarantees every implementation gives
//!
//! - **One writer.** A store that can write is held by one run at a time; a second writer is
//!   refused at once, with a message naming the holder ([`LedgerError::Locked`]). Readers
//!   ([`Ledger::open_read_only`]) never take the lock and never wait for it.
//! - **Compare-and-set transitions.** Every [`Transition`] names the state it leaves. It is
//!   applied only if it is one of the legal edges ([`JobState::can_move_to`]) and the job is
//!   still in that state; otherwise it is an error ([`LedgerError::IllegalTransition`],
//!   [`LedgerError::StaleTransition`]) and nothing is written. Never an overwrite.
//! - **Durable before returning.** When [`LedgerStore::apply`] reports a transition `Ok`, it
//!   is on disk with its audit row; a crash after that cannot lose it. The engine records
//!   `submitting` this way *before* it sends the create request.
//!
//! A PostgreSQL (or any shared database) implementation can provide the same with a row or
//! advisory lock and `UPDATE ... WHERE job_id = $1 AND state = $2`, without touching the
//! scheduler, which only sees [`LedgerStore`].
//!
//! # The SQLite schema
//!
//! Users can inspect it with any SQLite tool (docs/batch.md):
//!
//! ```text
//! jobs(job_id PK, line, spec JSON, state, image_url, video_url, submit_started_at,
//!      task_id UNIQUE, submit_request_id, task_status, error_kind, error_code,
//!      error_message, request_id, video_duration, video_ratio, result_url,
//!      output_path, output_bytes, output_sha256, attempts, updated_at)
//! events(id PK, job_id, at, from_state, to_state, detail)      -- the audit trail
//! uploads(local_path, model, size, mtime_ms, oss_url, expires_at, PK(local_path, model))
//! meta(key PK, value)                                           -- schema_version, endpoint
//! ```

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::Serialize;

use crate::endpoint::EndpointIdentity;
use crate::lock::LedgerLock;
use crate::manifest::Job;

/// The schema version this code writes. Version 2 added the run lock and the endpoint
/// identity; a version-1 program would ignore both, so it must refuse a version-2 ledger.
pub const SCHEMA_VERSION: i64 = 2;

/// Where a job is in its life. Stored as the lowercase name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum JobState {
    /// Not started.
    Queued,
    /// Local inputs uploaded; `image_url`/`video_url` hold the `oss://` URLs.
    Uploaded,
    /// The create request may have been sent; no task id is known. Reconciled on resume.
    Submitting,
    /// The task exists (`task_id`); waiting for it to end.
    Submitted,
    /// The task succeeded; the result is not downloaded yet.
    Succeeded,
    /// The result is on disk, verified (`output_path`, `output_bytes`, `output_sha256`).
    Downloaded,
    /// Final failure for this job (task failed, invalid input, moderation, ...).
    Failed,
    /// The task was canceled.
    Canceled,
    /// The task is `UNKNOWN` (expired or never existed).
    Unknown,
    /// A person must decide (an ambiguous submit could not be reconciled). Never retried silently.
    NeedsAttention,
}

/// The legal edges `(from, to)`. Everything else is refused by [`LedgerStore::apply`].
///
/// | from | to |
/// |---|---|
/// | `queued` | `uploaded`, `failed` |
/// | `uploaded` | `submitting`, `failed` |
/// | `submitting` | `submitted` (created or adopted), `uploaded` (provably not created), `failed`, `needs_attention` |
/// | `submitted` | `submitted` (status seen), `succeeded`, `failed`, `canceled`, `unknown` |
/// | `succeeded` | `downloaded`, `failed` |
///
/// Final states (`downloaded`, `failed`, `canceled`, `unknown`, `needs_attention`) have no edges.
pub const LEGAL_TRANSITIONS: &[(JobState, JobState)] = &[
    (JobState::Queued, JobState::Uploaded),
    // Held back (by the budget): the job stays, with the reason in the audit trail.
    (JobState::Queued, JobState::Queued),
    (JobState::Uploaded, JobState::Uploaded),
    (JobState::Queued, JobState::Failed),
    (JobState::Uploaded, JobState::Submitting),
    (JobState::Uploaded, JobState::Failed),
    (JobState::Submitting, JobState::Submitted),
    (JobState::Submitting, JobState::Uploaded),
    (JobState::Submitting, JobState::Failed),
    (JobState::Submitting, JobState::NeedsAttention),
    (JobState::Submitted, JobState::Submitted),
    (JobState::Submitted, JobState::Succeeded),
    (JobState::Submitted, JobState::Failed),
    (JobState::Submitted, JobState::Canceled),
    (JobState::Submitted, JobState::Unknown),
    (JobState::Succeeded, JobState::Downloaded),
    (JobState::Succeeded, JobState::Failed),
];

impl JobState {
    /// Every state.
    pub const ALL: &'static [JobState] = &[
        JobState::Queued,
        JobState::Uploaded,
        JobState::Submitting,
        JobState::Submitted,
        JobState::Succeeded,
        JobState::Downloaded,
        JobState::Failed,
        JobState::Canceled,
        JobState::Unknown,
        JobState::NeedsAttention,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Uploaded => "uploaded",
            JobState::Submitting => "submitting",
            JobState::Submitted => "submitted",
            JobState::Succeeded => "succeeded",
            JobState::Downloaded => "downloaded",
            JobState::Failed => "failed",
            JobState::Canceled => "canceled",
            JobState::Unknown => "unknown",
            JobState::NeedsAttention => "needs_attention",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|st| st.as_str() == s)
    }

    /// Whether the job needs no more work from the batch engine.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Downloaded
                | JobState::Failed
                | JobState::Canceled
                | JobState::Unknown
                | JobState::NeedsAttention
        )
    }

    /// Whether `self -> to` is one of the [`LEGAL_TRANSITIONS`].
    ///
    /// ```
    /// use wan_animate_batch::ledger::JobState;
    /// assert!(JobState::Uploaded.can_move_to(JobState::Submitting));
    /// assert!(!JobState::Downloaded.can_move_to(JobState::Queued));
    /// ```
    pub fn can_move_to(self, to: JobState) -> bool {
        LEGAL_TRANSITIONS.contains(&(self, to))
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One job's row.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[non_exhaustive]
pub struct JobRecord {
    /// The manifest id.
    pub job_id: String,
    /// The manifest line.
    pub line: i64,
    /// The job as validated, JSON.
    pub spec: String,
    /// The state.
    pub state: Option<JobState>,
    /// The image URL sent to the service (after upload).
    pub image_url: Option<String>,
    /// The video URL sent to the service (after upload).
    pub video_url: Option<String>,
    /// Wall-clock milliseconds when `submitting` was recorded: the reconcile window's start.
    pub submit_started_at: Option<i64>,
    /// The task id, once known.
    pub task_id: Option<String>,
    /// The create request's request id.
    pub submit_request_id: Option<String>,
    /// The last task status seen.
    pub task_status: Option<String>,
    /// Error kind (snake_case, as in the CLI's JSON) of a failure.
    pub error_kind: Option<String>,
    /// The service's error code.
    pub error_code: Option<String>,
    /// The error message.
    pub error_message: Option<String>,
    /// The request id of the failing request.
    pub request_id: Option<String>,
    /// Billed seconds (`usage.video_duration`).
    pub video_duration: Option<f64>,
    /// Billed mode (`usage.video_ratio`).
    pub video_ratio: Option<String>,
    /// The result link (expires 24 h after the task ends).
    pub result_url: Option<String>,
    /// Where the video was written.
    pub output_path: Option<String>,
    /// Its size.
    pub output_bytes: Option<i64>,
    /// Its SHA-256, hex.
    pub output_sha256: Option<String>,
    /// Submit attempts recorded.
    pub attempts: i64,
}

impl JobRecord {
    /// The state, `queued` if unreadable.
    pub fn state(&self) -> JobState {
        self.state.unwrap_or(JobState::Queued)
    }

    /// Applies column updates to this in-memory copy (what the store did to its row).
    pub fn apply(&mut self, updates: &[JobUpdate]) {
        for u in updates {
            match u.clone() {
                JobUpdate::ImageUrl(v) => self.image_url = Some(v),
                JobUpdate::VideoUrl(v) => self.video_url = Some(v),
                JobUpdate::SubmitStartedAt(v) => self.submit_started_at = Some(v),
                JobUpdate::Attempts(v) => self.attempts = v,
                JobUpdate::TaskId(v) => self.task_id = Some(v),
                JobUpdate::SubmitRequestId(v) => self.submit_request_id = v,
                JobUpdate::TaskStatus(v) => self.task_status = Some(v),
                JobUpdate::ErrorKind(v) => self.error_kind = Some(v),
                JobUpdate::ErrorCode(v) => self.error_code = v,
                JobUpdate::ErrorMessage(v) => self.error_message = Some(v),
                JobUpdate::RequestId(v) => self.request_id = v,
                JobUpdate::VideoDuration(v) => self.video_duration = v,
                JobUpdate::VideoRatio(v) => self.video_ratio = v,
                JobUpdate::ResultUrl(v) => self.result_url = v,
                JobUpdate::OutputPath(v) => self.output_path = Some(v),
                JobUpdate::OutputBytes(v) => self.output_bytes = Some(v),
                JobUpdate::OutputSha256(v) => self.output_sha256 = Some(v),
            }
        }
    }
}

/// One column set by a transition. Typed, so a store maps it to its own columns.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum JobUpdate {
    /// `image_url`.
    ImageUrl(String),
    /// `video_url`.
    VideoUrl(String),
    /// `submit_started_at` (epoch ms).
    SubmitStartedAt(i64),
    /// `attempts`.
    Attempts(i64),
    /// `task_id` (unique across jobs: one task is never adopted by two jobs).
    TaskId(String),
    /// `submit_request_id`.
    SubmitRequestId(Option<String>),
    /// `task_status`.
    TaskStatus(String),
    /// `error_kind` (snake_case).
    ErrorKind(String),
    /// `error_code`.
    ErrorCode(Option<String>),
    /// `error_message`.
    ErrorMessage(String),
    /// `request_id`.
    RequestId(Option<String>),
    /// `video_duration`.
    VideoDuration(Option<f64>),
    /// `video_ratio`.
    VideoRatio(Option<String>),
    /// `result_url`.
    ResultUrl(Option<String>),
    /// `output_path`.
    OutputPath(String),
    /// `output_bytes`.
    OutputBytes(i64),
    /// `output_sha256`.
    OutputSha256(String),
}

impl JobUpdate {
    fn column(&self) -> (&'static str, Value) {
        fn opt<T: Into<Value>>(v: Option<T>) -> Value {
            v.map_or(Value::Null, Into::into)
        }
        match self.clone() {
            JobUpdate::ImageUrl(v) => ("image_url", v.into()),
            JobUpdate::VideoUrl(v) => ("video_url", v.into()),
            JobUpdate::SubmitStartedAt(v) => ("submit_started_at", v.into()),
            JobUpdate::Attempts(v) => ("attempts", v.into()),
            JobUpdate::TaskId(v) => ("task_id", v.into()),
            JobUpdate::SubmitRequestId(v) => ("submit_request_id", opt(v)),
            JobUpdate::TaskStatus(v) => ("task_status", v.into()),
            JobUpdate::ErrorKind(v) => ("error_kind", v.into()),
            JobUpdate::ErrorCode(v) => ("error_code", opt(v)),
            JobUpdate::ErrorMessage(v) => ("error_message", v.into()),
            JobUpdate::RequestId(v) => ("request_id", opt(v)),
            JobUpdate::VideoDuration(v) => ("video_duration", opt(v)),
            JobUpdate::VideoRatio(v) => ("video_ratio", opt(v)),
            JobUpdate::ResultUrl(v) => ("result_url", opt(v)),
            JobUpdate::OutputPath(v) => ("output_path", v.into()),
            JobUpdate::OutputBytes(v) => ("output_bytes", v.into()),
            JobUpdate::OutputSha256(v) => ("output_sha256", v.into()),
        }
    }
}

/// A state change: the state it leaves, the state it enters, the columns it sets.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Transition {
    /// The job.
    pub job_id: String,
    /// The state the job must be in (compare-and-set).
    pub from: JobState,
    /// The state it enters.
    pub to: JobState,
    /// Columns set in the same write.
    pub updates: Vec<JobUpdate>,
    /// A note for the audit trail.
    pub detail: Option<String>,
    /// Wall-clock epoch milliseconds.
    pub at_ms: i64,
}

impl Transition {
    /// `job_id: from -> to` at `at_ms`, setting nothing else.
    ///
    /// ```
    /// use wan_animate_batch::ledger::{JobState, JobUpdate, Transition};
    /// let t = Transition::new("a", JobState::Queued, JobState::Uploaded, 0)
    ///     .with_updates(vec![JobUpdate::ImageUrl("oss://k/p.jpg".into())]);
    /// assert_eq!(t.updates.len(), 1);
    /// ```
    pub fn new(job_id: impl Into<String>, from: JobState, to: JobState, at_ms: i64) -> Self {
        Self {
            job_id: job_id.into(),
            from,
            to,
            updates: Vec::new(),
            detail: None,
            at_ms,
        }
    }

    /// Sets the columns written with the state.
    pub fn with_updates(mut self, updates: Vec<JobUpdate>) -> Self {
        self.updates = updates;
        self
    }

    /// Sets the audit note.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// A ledger error: storage, or a rule the ledger enforces.
#[derive(Debug)]
#[non_exhaustive]
pub enum LedgerError {
    /// The database failed.
    Storage(String),
    /// Local I/O (the lock file).
    Io(std::io::Error),
    /// Another run holds the ledger.
    Locked {
        /// The ledger.
        ledger: PathBuf,
        /// Who holds it (pid, host, start time), as written in the lock file.
        holder: String,
    },
    /// The ledger was written by a newer version.
    SchemaTooNew(i64),
    /// A job's manifest entry changed after work on it started.
    SpecChanged {
        /// The job.
        job_id: String,
        /// Its state.
        state: JobState,
    },
    /// No such job.
    NoSuchJob(String),
    /// The transition is not one of [`LEGAL_TRANSITIONS`].
    IllegalTransition {
        /// The job.
        job_id: String,
        /// The state it would leave.
        from: JobState,
        /// The state it would enter.
        to: JobState,
    },
    /// The job is no longer in the state the transition leaves.
    StaleTransition {
        /// The job.
        job_id: String,
        /// The state the transition expected.
        expected: JobState,
        /// The state the job is in.
        found: String,
        /// The state it would enter.
        to: JobState,
    },
    /// A value broke a constraint (a task id already held by another job).
    Constraint(String),
}

impl fmt::Display for LedgerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerError::Storage(e) => write!(f, "ledger database error: {e}"),
            LedgerError::Io(e) => write!(f, "ledger I/O error: {e}"),
            LedgerError::Locked { ledger, holder } => write!(
                f,
                "the ledger {} is in use by another batch run ({holder}); only one run may write a ledger. Wait for that run to finish (or stop it), then run the same command again; `wan-animate batch status --ledger {}` works meanwhile",
                ledger.display(),
                ledger.display()
            ),
            LedgerError::SchemaTooNew(v) => write!(
                f,
                "the ledger has schema version {v}, newer than this program's {SCHEMA_VERSION}; upgrade wan-animate"
            ),
            LedgerError::SpecChanged { job_id, state } => write!(
                f,
                "job {job_id:?} changed in the manifest but is already {state}; give the changed job a new id (its old task stays recorded)"
            ),
            LedgerError::NoSuchJob(id) => write!(f, "no job {id:?} in the ledger"),
            LedgerError::IllegalTransition { job_id, from, to } => write!(
                f,
                "job {job_id:?}: {from} -> {to} is not a legal transition; nothing was written"
            ),
            LedgerError::StaleTransition {
                job_id,
                expected,
                found,
                to,
            } => write!(
                f,
                "job {job_id:?}: cannot move {expected} -> {to}, the ledger says it is {found}; nothing was written"
            ),
            LedgerError::Constraint(e) => write!(f, "the ledger refused a value: {e}"),
        }
    }
}

impl std::error::Error for LedgerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LedgerError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for LedgerError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation) => {
                LedgerError::Constraint(e.to_string())
            }
            _ => LedgerError::Storage(e.to_string()),
        }
    }
}

impl From<std::io::Error> for LedgerError {
    fn from(e: std::io::Error) -> Self {
        LedgerError::Io(e)
    }
}

/// Totals for a live summary or a report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Summary {
    /// Jobs in the ledger.
    pub total: usize,
    /// Downloaded.
    pub done: usize,
    /// Submitted, running or waiting for download.
    pub running: usize,
    /// Not yet submitted.
    pub pending: usize,
    /// Failed, canceled or unknown.
    pub failed: usize,
    /// Waiting for a person.
    pub needs_attention: usize,
    /// Sum of `usage.video_duration` over succeeded tasks.
    pub billed_seconds: f64,
}

impl Summary {
    fn bucket(&mut self, state: JobState) -> &mut usize {
        match state {
            JobState::Downloaded => &mut self.done,
            JobState::Submitted | JobState::Succeeded => &mut self.running,
            JobState::Queued | JobState::Uploaded | JobState::Submitting => &mut self.pending,
            JobState::Failed | JobState::Canceled | JobState::Unknown => &mut self.failed,
            JobState::NeedsAttention => &mut self.needs_attention,
        }
    }

    /// Counts one more job in `state`.
    pub fn add(&mut self, state: JobState) {
        self.total += 1;
        *self.bucket(state) += 1;
    }

    /// Moves one job between buckets: O(1), so live totals need no query.
    pub fn moved(&mut self, from: JobState, to: JobState) {
        let b = self.bucket(from);
        *b = b.saturating_sub(1);
        *self.bucket(to) += 1;
    }
}

/// The narrow interface the scheduler writes through. See the module docs for the
/// guarantees (one writer, compare-and-set transitions, durable before returning).
pub trait LedgerStore: Send + 'static {
    /// Where the ledger lives, for messages.
    fn location(&self) -> String;

    /// The endpoint the ledger's tasks live at, if recorded.
    fn endpoint(&self) -> Result<Option<EndpointIdentity>, LedgerError>;

    /// Records the endpoint (a new ledger, or a deliberate move).
    fn set_endpoint(&mut self, endpoint: &EndpointIdentity) -> Result<(), LedgerError>;

    /// Every job, in manifest order.
    fn jobs(&self) -> Result<Vec<JobRecord>, LedgerError>;

    /// Adds jobs not in the ledger yet as `queued` (a job whose manifest entry changed is
    /// updated while still `queued`, refused once started) and returns every manifest job's
    /// record, in the order given. One pass: O(1) per job.
    fn sync_jobs(&mut self, jobs: &[Job], now_ms: i64) -> Result<Vec<JobRecord>, LedgerError>;

    /// Applies transitions, each independently (compare-and-set against its `from`), and
    /// returns one result per transition, in order. Every `Ok` is durable on return.
    fn apply(&mut self, transitions: &[Transition]) -> Vec<Result<(), LedgerError>>;

    /// Every task id the ledger knows.
    fn known_task_ids(&self) -> Result<Vec<String>, LedgerError>;

    /// A still-valid `oss://` URL for this file and model, if one was recorded for the same
    /// size and modification time and does not expire within `margin_ms`.
    fn cached_upload(
        &self,
        local_path: &str,
        model: &str,
        size: i64,
        mtime_ms: i64,
        now_ms: i64,
        margin_ms: i64,
    ) -> Result<Option<String>, LedgerError>;

    /// Records an upload for reuse by other jobs and later runs.
    fn store_upload(&mut self, upload: &StoredUpload) -> Result<(), LedgerError>;

    /// Totals over every job.
    fn summary(&self) -> Result<Summary, LedgerError>;

    /// Jobs whose last event holds them where they are (`queued -> queued`,
    /// `uploaded -> uploaded`: held back by the budget), with that event's note. A store
    /// that keeps no audit trail returns none.
    fn held_notes(&self) -> Result<std::collections::HashMap<String, String>, LedgerError> {
        Ok(std::collections::HashMap::new())
    }
}

/// An upload to remember.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredUpload {
    /// The local file.
    pub local_path: String,
    /// The model it was uploaded for.
    pub model: String,
    /// Its size.
    pub size: i64,
    /// Its modification time, epoch ms.
    pub mtime_ms: i64,
    /// The `oss://` URL.
    pub oss_url: String,
    /// When the URL expires, epoch ms.
    pub expires_at_ms: i64,
}

impl StoredUpload {
    /// An upload record.
    pub fn new(
        local_path: impl Into<String>,
        model: impl Into<String>,
        size: i64,
        mtime_ms: i64,
        oss_url: impl Into<String>,
        expires_at_ms: i64,
    ) -> Self {
        Self {
            local_path: local_path.into(),
            model: model.into(),
            size,
            mtime_ms,
            oss_url: oss_url.into(),
            expires_at_ms,
        }
    }
}

/// The SQLite ledger file.
#[derive(Debug)]
pub struct Ledger {
    conn: Connection,
    path: PathBuf,
    /// Held for the writer's lifetime; `None` for a read-only view.
    _lock: Option<LedgerLock>,
}

const JOB_COLUMNS: &str =
    "job_id, line, spec, state, image_url, video_url, submit_started_at, task_id,
    submit_request_id, task_status, error_kind, error_code, error_message, request_id,
    video_duration, video_ratio, result_url, output_path, output_bytes, output_sha256, attempts";

fn job_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRecord> {
    Ok(JobRecord {
        job_id: r.get(0)?,
        line: r.get(1)?,
        spec: r.get(2)?,
        state: JobState::parse(&r.get::<_, String>(3)?),
        image_url: r.get(4)?,
        video_url: r.get(5)?,
        submit_started_at: r.get(6)?,
        task_id: r.get(7)?,
        submit_request_id: r.get(8)?,
        task_status: r.get(9)?,
        error_kind: r.get(10)?,
        error_code: r.get(11)?,
        error_message: r.get(12)?,
        request_id: r.get(13)?,
        video_duration: r.get(14)?,
        video_ratio: r.get(15)?,
        result_url: r.get(16)?,
        output_path: r.get(17)?,
        output_bytes: r.get(18)?,
        output_sha256: r.get(19)?,
        attempts: r.get(20)?,
    })
}

impl Ledger {
    /// Opens (or creates) the ledger at `path` for writing, taking its run lock first: a
    /// second writer, in this process or another, gets [`LedgerError::Locked`] at once.
    ///
    /// ```
    /// use wan_animate_batch::ledger::{Ledger, LedgerError, LedgerStore};
    /// # let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("batch.sqlite");
    /// let ledger = Ledger::open(&path)?;
    /// assert_eq!(ledger.summary()?.total, 0);
    /// assert!(matches!(Ledger::open(&path), Err(LedgerError::Locked { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        let lock = LedgerLock::acquire(path)?;
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a committed transition survives power loss, not only a process crash.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS jobs (
                job_id TEXT PRIMARY KEY,
                line INTEGER NOT NULL,
                spec TEXT NOT NULL,
                state TEXT NOT NULL,
                image_url TEXT, video_url TEXT,
                submit_started_at INTEGER,
                task_id TEXT UNIQUE,
                submit_request_id TEXT,
                task_status TEXT,
                error_kind TEXT, error_code TEXT, error_message TEXT, request_id TEXT,
                video_duration REAL, video_ratio TEXT,
                result_url TEXT,
                output_path TEXT, output_bytes INTEGER, output_sha256 TEXT,
                attempts INTEGER NOT NULL DEFAULT 0,
                updated_at INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS events (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                job_id TEXT NOT NULL,
                at INTEGER NOT NULL,
                from_state TEXT, to_state TEXT NOT NULL,
                detail TEXT
             );
             CREATE TABLE IF NOT EXISTS uploads (
                local_path TEXT NOT NULL, model TEXT NOT NULL,
                size INTEGER NOT NULL, mtime_ms INTEGER NOT NULL,
                oss_url TEXT NOT NULL, expires_at INTEGER NOT NULL,
                PRIMARY KEY (local_path, model)
             );",
        )?;
        let version = schema_version(&conn)?;
        match version {
            Some(v) if v > SCHEMA_VERSION => return Err(LedgerError::SchemaTooNew(v)),
            Some(v) if v == SCHEMA_VERSION => {}
            // New, or version 1 (same tables; the lock and the endpoint are additions).
            _ => {
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?1)",
                    params![SCHEMA_VERSION.to_string()],
                )?;
            }
        }
        Ok(Self {
            conn,
            path: path.to_path_buf(),
            _lock: Some(lock),
        })
    }

    /// Opens an existing ledger read-only, without the run lock (for `batch status` while a
    /// run holds it). Writes through a read-only ledger fail.
    pub fn open_read_only(path: &Path) -> Result<Self, LedgerError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        if let Some(v) = schema_version(&conn)?
            && v > SCHEMA_VERSION
        {
            return Err(LedgerError::SchemaTooNew(v));
        }
        Ok(Self {
            conn,
            path: path.to_path_buf(),
            _lock: None,
        })
    }

    /// The ledger's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One job (one indexed query).
    pub fn job(&self, job_id: &str) -> Result<JobRecord, LedgerError> {
        self.conn
            .prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = ?1"))?
            .query_row(params![job_id], job_from_row)
            .optional()?
            .ok_or_else(|| LedgerError::NoSuchJob(job_id.to_owned()))
    }

    /// Applies one transition (see [`LedgerStore::apply`]).
    pub fn transition(&mut self, t: &Transition) -> Result<(), LedgerError> {
        self.apply(std::slice::from_ref(t)).pop().unwrap_or(Ok(()))
    }

    /// Number of events recorded for a job (the audit trail's length).
    pub fn event_count(&self, job_id: &str) -> Result<usize, LedgerError> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM events WHERE job_id = ?1",
            params![job_id],
            |r| r.get(0),
        )?;
        Ok(n as usize)
    }

    fn apply_one(conn: &Connection, t: &Transition) -> Result<(), LedgerError> {
        if !t.from.can_move_to(t.to) {
            return Err(LedgerError::IllegalTransition {
                job_id: t.job_id.clone(),
                from: t.from,
                to: t.to,
            });
        }
        let mut sql = String::from("UPDATE jobs SET state = ?1, updated_at = ?2");
        let mut values: Vec<Value> = vec![t.to.as_str().to_owned().into(), t.at_ms.into()];
        for u in &t.updates {
            let (column, value) = u.column();
            values.push(value);
            sql.push_str(&format!(", {column} = ?{}", values.len()));
        }
        values.push(t.job_id.clone().into());
        values.push(t.from.as_str().to_owned().into());
        sql.push_str(&format!(
            " WHERE job_id = ?{} AND state = ?{}",
            values.len() - 1,
            values.len()
        ));
        let changed = conn
            .prepare_cached(&sql)?
            .execute(rusqlite::params_from_iter(values.iter()))?;
        if changed == 0 {
            let found: Option<String> = conn
                .prepare_cached("SELECT state FROM jobs WHERE job_id = ?1")?
                .query_row(params![t.job_id], |r| r.get(0))
                .optional()?;
            return Err(match found {
                None => LedgerError::NoSuchJob(t.job_id.clone()),
                Some(found) => LedgerError::StaleTransition {
                    job_id: t.job_id.clone(),
                    expected: t.from,
                    found,
                    to: t.to,
                },
            });
        }
        conn.prepare_cached(
            "INSERT INTO events (job_id, at, from_state, to_state, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![t.job_id, t.at_ms, t.from.as_str(), t.to.as_str(), t.detail])?;
        Ok(())
    }
}

fn schema_version(conn: &Connection) -> Result<Option<i64>, LedgerError> {
    let has_meta: bool = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n > 0)?;
    if !has_meta {
        return Ok(None);
    }
    let version: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(version.and_then(|v| v.parse::<i64>().ok()))
}

impl LedgerStore for Ledger {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn endpoint(&self) -> Result<Option<EndpointIdentity>, LedgerError> {
        let value: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'endpoint'", [], |r| {
                r.get(0)
            })
            .optional()?;
        value
            .map(|v| {
                serde_json::from_str(&v).map_err(|e| {
                    LedgerError::Storage(format!("the recorded endpoint is unreadable: {e}"))
                })
            })
            .transpose()
    }

    fn set_endpoint(&mut self, endpoint: &EndpointIdentity) -> Result<(), LedgerError> {
        let json = serde_json::to_string(endpoint)
            .map_err(|e| LedgerError::Storage(format!("cannot encode the endpoint: {e}")))?;
        self.conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('endpoint', ?1)",
            params![json],
        )?;
        Ok(())
    }

    fn jobs(&self) -> Result<Vec<JobRecord>, LedgerError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs ORDER BY line, job_id"
        ))?;
        let rows = stmt.query_map([], job_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn sync_jobs(&mut self, jobs: &[Job], now_ms: i64) -> Result<Vec<JobRecord>, LedgerError> {
        let mut existing: HashMap<String, JobRecord> = self
            .jobs()?
            .into_iter()
            .map(|r| (r.job_id.clone(), r))
            .collect();
        let tx = self.conn.transaction()?;
        let mut out = Vec::with_capacity(jobs.len());
        {
            let mut insert = tx.prepare(
                "INSERT INTO jobs (job_id, line, spec, state, updated_at) VALUES (?1, ?2, ?3, 'queued', ?4)",
            )?;
            let mut event = tx.prepare(
                "INSERT INTO events (job_id, at, from_state, to_state, detail) VALUES (?1, ?2, NULL, 'queued', NULL)",
            )?;
            let mut respec = tx.prepare(
                "UPDATE jobs SET spec = ?2, line = ?3, updated_at = ?4 WHERE job_id = ?1 AND state = 'queued'",
            )?;
            let mut reline = tx.prepare("UPDATE jobs SET line = ?2 WHERE job_id = ?1")?;
            for job in jobs {
                let spec = serde_json::to_string(job)
                    .map_err(|e| LedgerError::Storage(format!("cannot encode a job: {e}")))?;
                let line = job.line as i64;
                match existing.remove(&job.id) {
                    None => {
                        insert.execute(params![job.id, line, spec, now_ms])?;
                        event.execute(params![job.id, now_ms])?;
                        out.push(JobRecord {
                            job_id: job.id.clone(),
                            line,
                            spec,
                            state: Some(JobState::Queued),
                            ..JobRecord::default()
                        });
                    }
                    Some(mut rec) if !same_spec(&rec.spec, &spec) => {
                        if rec.state() != JobState::Queued {
                            return Err(LedgerError::SpecChanged {
                                job_id: job.id.clone(),
                                state: rec.state(),
                            });
                        }
                        respec.execute(params![job.id, spec, line, now_ms])?;
                        rec.spec = spec;
                        rec.line = line;
                        out.push(rec);
                    }
                    Some(mut rec) => {
                        if rec.line != line {
                            reline.execute(params![job.id, line])?;
                            rec.line = line;
                        }
                        out.push(rec);
                    }
                }
            }
        }
        tx.commit()?;
        Ok(out)
    }

    fn apply(&mut self, transitions: &[Transition]) -> Vec<Result<(), LedgerError>> {
        // One commit (one fsync) for the whole group; each transition in its own savepoint
        // so a refused one leaves the others intact.
        let tx = match self.conn.transaction() {
            Ok(tx) => tx,
            Err(e) => {
                let msg = e.to_string();
                return transitions
                    .iter()
                    .map(|_| Err(LedgerError::Storage(msg.clone())))
                    .collect();
            }
        };
        let mut results = Vec::with_capacity(transitions.len());
        for t in transitions {
            let r = (|| {
                tx.execute_batch("SAVEPOINT t")?;
                match Self::apply_one(&tx, t) {
                    Ok(()) => {
                        tx.execute_batch("RELEASE t")?;
                        Ok(())
                    }
                    Err(e) => {
                        tx.execute_batch("ROLLBACK TO t; RELEASE t")?;
                        Err(e)
                    }
                }
            })();
            results.push(r);
        }
        if let Err(e) = tx.commit() {
            let msg = e.to_string();
            return transitions
                .iter()
                .map(|_| Err(LedgerError::Storage(msg.clone())))
                .collect();
        }
        results
    }

    fn known_task_ids(&self) -> Result<Vec<String>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT task_id FROM jobs WHERE task_id IS NOT NULL")?;
        let ids = stmt.query_map([], |r| r.get(0))?;
        Ok(ids.collect::<Result<_, _>>()?)
    }

    fn cached_upload(
        &self,
        local_path: &str,
        model: &str,
        size: i64,
        mtime_ms: i64,
        now_ms: i64,
        margin_ms: i64,
    ) -> Result<Option<String>, LedgerError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT oss_url FROM uploads WHERE local_path = ?1 AND model = ?2 AND size = ?3 AND mtime_ms = ?4 AND expires_at > ?5",
            )?
            .query_row(
                params![local_path, model, size, mtime_ms, now_ms + margin_ms],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn store_upload(&mut self, u: &StoredUpload) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT OR REPLACE INTO uploads (local_path, model, size, mtime_ms, oss_url, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![u.local_path, u.model, u.size, u.mtime_ms, u.oss_url, u.expires_at_ms],
        )?;
        Ok(())
    }

    fn held_notes(&self) -> Result<std::collections::HashMap<String, String>, LedgerError> {
        let mut stmt = self.conn.prepare(
            "SELECT e.job_id, e.detail FROM events e
             WHERE e.id = (SELECT MAX(id) FROM events WHERE job_id = e.job_id)
               AND e.from_state = e.to_state AND e.to_state IN ('queued', 'uploaded')
               AND e.detail IS NOT NULL",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn summary(&self) -> Result<Summary, LedgerError> {
        let mut s = Summary::default();
        let mut stmt = self
            .conn
            .prepare("SELECT state, COUNT(*) FROM jobs GROUP BY state")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (state, n) = row?;
            let state = JobState::parse(&state).unwrap_or(JobState::Queued);
            s.total += n as usize;
            *s.bucket(state) += n as usize;
        }
        s.billed_seconds = self.conn.query_row(
            "SELECT COALESCE(SUM(video_duration), 0.0) FROM jobs WHERE task_status = 'SUCCEEDED'",
            [],
            |r| r.get(0),
        )?;
        Ok(s)
    }
}

fn same_spec(a: &str, b: &str) -> bool {
    // Compare as JSON values: the line number may move without the job changing.
    let strip = |s: &str| {
        let mut v: serde_json::Value = serde_json::from_str(s).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.remove("line");
        }
        v
    };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests;
