//! The durable ledger: one SQLite file (WAL mode) holding every job's state.
//!
//! Every transition is one transaction, written *before* the action it records where the
//! action costs money (`submitting` is committed before the create request is sent), so a
//! crash at any moment leaves a ledger from which a re-run can continue without paying
//! twice. Users can inspect it with any SQLite tool; the schema is documented in
//! docs/batch.md and below.
//!
//! ```text
//! jobs(job_id PK, line, spec JSON, state, image_url, video_url, submit_started_at,
//!      task_id UNIQUE, submit_request_id, task_status, error_kind, error_code,
//!      error_message, request_id, video_duration, video_ratio, result_url,
//!      output_path, output_bytes, output_sha256, attempts, updated_at)
//! events(id PK, job_id, at, from_state, to_state, detail)      -- the audit trail
//! uploads(local_path, model, size, mtime_ms, oss_url, expires_at, PK(local_path, model))
//! meta(key PK, value)                                           -- schema_version
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, ToSql, params};
use serde::Serialize;

use crate::manifest::Job;

/// The schema version this code writes.
pub const SCHEMA_VERSION: i64 = 1;

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
    /// Error kind (core's classification), code, message and request id of a failure.
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

/// A ledger error: SQLite, or a rule the ledger enforces.
#[derive(Debug)]
#[non_exhaustive]
pub enum LedgerError {
    /// The database failed.
    Sqlite(rusqlite::Error),
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
}

impl fmt::Display for LedgerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerError::Sqlite(e) => write!(f, "ledger database error: {e}"),
            LedgerError::SchemaTooNew(v) => write!(
                f,
                "the ledger has schema version {v}, newer than this program's {SCHEMA_VERSION}; upgrade wan-animate"
            ),
            LedgerError::SpecChanged { job_id, state } => write!(
                f,
                "job {job_id:?} changed in the manifest but is already {state}; give the changed job a new id (its old task stays recorded)"
            ),
            LedgerError::NoSuchJob(id) => write!(f, "no job {id:?} in the ledger"),
        }
    }
}

impl std::error::Error for LedgerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LedgerError::Sqlite(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for LedgerError {
    fn from(e: rusqlite::Error) -> Self {
        LedgerError::Sqlite(e)
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

/// The ledger file.
#[derive(Debug)]
pub struct Ledger {
    conn: Connection,
    path: PathBuf,
}

/// A column update: name and value.
pub type Update<'a> = (&'a str, &'a dyn ToSql);

impl Ledger {
    /// Opens (or creates) the ledger at `path` in WAL mode.
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
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
        let version: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        match version.and_then(|v| v.parse::<i64>().ok()) {
            Some(v) if v > SCHEMA_VERSION => return Err(LedgerError::SchemaTooNew(v)),
            Some(_) => {}
            None => {
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?1)",
                    params![SCHEMA_VERSION.to_string()],
                )?;
            }
        }
        Ok(Self {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// The ledger's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds jobs that are not in the ledger yet as `queued`. A job whose manifest entry
    /// changed is updated while still `queued`, and refused once work on it started.
    pub fn sync_jobs(&mut self, jobs: &[Job], now_ms: i64) -> Result<(), LedgerError> {
        let tx = self.conn.transaction()?;
        for job in jobs {
            let spec = serde_json::to_string(job).expect("jobs serialize");
            let existing: Option<(String, String)> = tx
                .query_row(
                    "SELECT spec, state FROM jobs WHERE job_id = ?1",
                    params![job.id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            match existing {
                None => {
                    tx.execute(
                        "INSERT INTO jobs (job_id, line, spec, state, updated_at) VALUES (?1, ?2, ?3, 'queued', ?4)",
                        params![job.id, job.line as i64, spec, now_ms],
                    )?;
                    tx.execute(
                        "INSERT INTO events (job_id, at, from_state, to_state, detail) VALUES (?1, ?2, NULL, 'queued', NULL)",
                        params![job.id, now_ms],
                    )?;
                }
                Some((old_spec, state)) if !same_spec(&old_spec, &spec) => {
                    let state = JobState::parse(&state).unwrap_or(JobState::Queued);
                    if state != JobState::Queued {
                        return Err(LedgerError::SpecChanged {
                            job_id: job.id.clone(),
                            state,
                        });
                    }
                    tx.execute(
                        "UPDATE jobs SET spec = ?2, line = ?3, updated_at = ?4 WHERE job_id = ?1",
                        params![job.id, spec, job.line as i64, now_ms],
                    )?;
                }
                Some(_) => {
                    tx.execute(
                        "UPDATE jobs SET line = ?2 WHERE job_id = ?1",
                        params![job.id, job.line as i64],
                    )?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Moves a job to `to`, setting the given columns, in one transaction with its event row.
    pub fn transition(
        &mut self,
        job_id: &str,
        to: JobState,
        updates: &[Update<'_>],
        detail: Option<&str>,
        now_ms: i64,
    ) -> Result<(), LedgerError> {
        let tx = self.conn.transaction()?;
        let from: Option<String> = tx
            .query_row(
                "SELECT state FROM jobs WHERE job_id = ?1",
                params![job_id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(from) = from else {
            return Err(LedgerError::NoSuchJob(job_id.to_owned()));
        };
        let mut sql = String::from("UPDATE jobs SET state = ?1, updated_at = ?2");
        let to_str = to.as_str();
        let mut values: Vec<&dyn ToSql> = vec![&to_str, &now_ms];
        for (i, (column, value)) in updates.iter().enumerate() {
            assert!(
                column
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "column names are code, not data"
            );
            sql.push_str(&format!(", {column} = ?{}", i + 3));
            values.push(*value);
        }
        sql.push_str(&format!(" WHERE job_id = ?{}", updates.len() + 3));
        values.push(&job_id);
        tx.execute(&sql, values.as_slice())?;
        tx.execute(
            "INSERT INTO events (job_id, at, from_state, to_state, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![job_id, now_ms, from, to.as_str(), detail],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Every job, in manifest order.
    pub fn jobs(&self) -> Result<Vec<JobRecord>, LedgerError> {
        let mut stmt = self.conn.prepare(
            "SELECT job_id, line, spec, state, image_url, video_url, submit_started_at, task_id,
                    submit_request_id, task_status, error_kind, error_code, error_message, request_id,
                    video_duration, video_ratio, result_url, output_path, output_bytes, output_sha256, attempts
             FROM jobs ORDER BY line, job_id",
        )?;
        let rows = stmt.query_map([], |r| {
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
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One job.
    pub fn job(&self, job_id: &str) -> Result<JobRecord, LedgerError> {
        self.jobs()?
            .into_iter()
            .find(|j| j.job_id == job_id)
            .ok_or_else(|| LedgerError::NoSuchJob(job_id.to_owned()))
    }

    /// Every task id the ledger knows (to exclude from reconciliation candidates).
    pub fn known_task_ids(&self) -> Result<Vec<String>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT task_id FROM jobs WHERE task_id IS NOT NULL")?;
        let ids = stmt.query_map([], |r| r.get(0))?;
        Ok(ids.collect::<Result<_, _>>()?)
    }

    /// A still-valid `oss://` URL for this file and model, if one was recorded for the same
    /// size and modification time and does not expire within `margin_ms`.
    pub fn cached_upload(
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
            .query_row(
                "SELECT oss_url FROM uploads WHERE local_path = ?1 AND model = ?2 AND size = ?3 AND mtime_ms = ?4 AND expires_at > ?5",
                params![local_path, model, size, mtime_ms, now_ms + margin_ms],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Records an upload for reuse by other jobs and later runs.
    pub fn store_upload(
        &mut self,
        local_path: &str,
        model: &str,
        size: i64,
        mtime_ms: i64,
        oss_url: &str,
        expires_at_ms: i64,
    ) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT OR REPLACE INTO uploads (local_path, model, size, mtime_ms, oss_url, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![local_path, model, size, mtime_ms, oss_url, expires_at_ms],
        )?;
        Ok(())
    }

    /// Totals over every job.
    pub fn summary(&self) -> Result<Summary, LedgerError> {
        let mut s = Summary::default();
        for job in self.jobs()? {
            s.total += 1;
            match job.state.unwrap_or(JobState::Queued) {
                JobState::Downloaded => s.done += 1,
                JobState::Submitted | JobState::Succeeded => s.running += 1,
                JobState::Queued | JobState::Uploaded | JobState::Submitting => s.pending += 1,
                JobState::Failed | JobState::Canceled | JobState::Unknown => s.failed += 1,
                JobState::NeedsAttention => s.needs_attention += 1,
            }
            if job.task_status.as_deref() == Some("SUCCEEDED") {
                s.billed_seconds += job.video_duration.unwrap_or(0.0);
            }
        }
        Ok(s)
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
mod tests {
    use super::*;
    use crate::manifest::MediaSource;
    use wan_animate_types::{Mode, Model};

    fn job(id: &str, line: usize) -> Job {
        Job {
            id: id.into(),
            line,
            model: Model::AnimateMix,
            image: MediaSource::Url("https://x/p.jpg".into()),
            video: MediaSource::Url("https://x/v.mp4".into()),
            mode: Mode::Standard,
            watermark: None,
            check_image: None,
            output: format!("{id}.mp4").into(),
        }
    }

    #[test]
    fn transitions_survive_reopening_and_leave_an_audit_trail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite");
        {
            let mut l = Ledger::open(&path).unwrap();
            l.sync_jobs(&[job("a", 1), job("b", 2)], 1).unwrap();
            l.transition(
                "a",
                JobState::Submitting,
                &[("submit_started_at", &5i64)],
                None,
                5,
            )
            .unwrap();
            l.transition(
                "a",
                JobState::Submitted,
                &[("task_id", &"t-1"), ("submit_request_id", &"r-1")],
                None,
                6,
            )
            .unwrap();
        }
        let l = Ledger::open(&path).unwrap();
        let a = l.job("a").unwrap();
        assert_eq!(a.state, Some(JobState::Submitted));
        assert_eq!(a.task_id.as_deref(), Some("t-1"));
        assert_eq!(a.submit_started_at, Some(5));
        assert_eq!(l.event_count("a").unwrap(), 3);
        assert_eq!(l.job("b").unwrap().state, Some(JobState::Queued));
        assert_eq!(l.known_task_ids().unwrap(), vec!["t-1".to_string()]);
        let mode: String = l
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn a_changed_job_is_refused_once_started_but_updated_while_queued() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
        l.sync_jobs(&[job("a", 1), job("b", 2)], 1).unwrap();
        let mut changed = job("b", 3);
        changed.mode = Mode::Pro;
        l.sync_jobs(&[job("a", 1), changed.clone()], 2).unwrap();
        assert!(l.job("b").unwrap().spec.contains("wan-pro"));
        l.transition("b", JobState::Submitting, &[], None, 3)
            .unwrap();
        changed.mode = Mode::Standard;
        let err = l.sync_jobs(&[changed], 4).unwrap_err();
        assert!(
            err.to_string().contains("give the changed job a new id"),
            "{err}"
        );
        // A moved line alone is not a change.
        l.sync_jobs(&[job("a", 7)], 5).unwrap();
        assert_eq!(l.job("a").unwrap().line, 7);
    }

    #[test]
    fn task_ids_are_unique_across_jobs() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
        l.sync_jobs(&[job("a", 1), job("b", 2)], 1).unwrap();
        l.transition("a", JobState::Submitted, &[("task_id", &"t")], None, 2)
            .unwrap();
        let err = l.transition("b", JobState::Submitted, &[("task_id", &"t")], None, 3);
        assert!(err.is_err(), "one task must never be adopted by two jobs");
        assert_eq!(
            l.job("b").unwrap().state,
            Some(JobState::Queued),
            "the failed transition rolled back"
        );
    }

    #[test]
    fn uploads_are_reused_only_while_valid_and_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
        l.store_upload(
            "/p.jpg",
            "wan2.2-animate-mix",
            10,
            100,
            "oss://k/p.jpg",
            10_000,
        )
        .unwrap();
        assert_eq!(
            l.cached_upload("/p.jpg", "wan2.2-animate-mix", 10, 100, 1_000, 1_000)
                .unwrap()
                .as_deref(),
            Some("oss://k/p.jpg")
        );
        assert_eq!(
            l.cached_upload("/p.jpg", "wan2.2-animate-move", 10, 100, 1_000, 1_000)
                .unwrap(),
            None,
            "bound to one model"
        );
        assert_eq!(
            l.cached_upload("/p.jpg", "wan2.2-animate-mix", 11, 100, 1_000, 1_000)
                .unwrap(),
            None,
            "file changed"
        );
        assert_eq!(
            l.cached_upload("/p.jpg", "wan2.2-animate-mix", 10, 100, 9_500, 1_000)
                .unwrap(),
            None,
            "expires too soon"
        );
    }

    #[test]
    fn summary_counts_states_and_billed_seconds() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
        l.sync_jobs(&[job("a", 1), job("b", 2), job("c", 3), job("d", 4)], 1)
            .unwrap();
        l.transition(
            "a",
            JobState::Downloaded,
            &[("task_status", &"SUCCEEDED"), ("video_duration", &5.2f64)],
            None,
            2,
        )
        .unwrap();
        l.transition(
            "b",
            JobState::Failed,
            &[("task_status", &"FAILED")],
            None,
            2,
        )
        .unwrap();
        l.transition("c", JobState::Submitted, &[("task_id", &"t-c")], None, 2)
            .unwrap();
        let s = l.summary().unwrap();
        assert_eq!(
            (s.total, s.done, s.failed, s.running, s.pending),
            (4, 1, 1, 1, 1)
        );
        assert!((s.billed_seconds - 5.2).abs() < 1e-9);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite");
        drop(Ledger::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.execute(
            "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
        drop(conn);
        assert!(matches!(
            Ledger::open(&path),
            Err(LedgerError::SchemaTooNew(99))
        ));
    }
}
