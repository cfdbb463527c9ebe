//! The report: one line per job and totals by mode, from the ledger; written as
//! `report.json` and `report.csv`.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use crate::endpoint::EndpointIdentity;
use crate::ledger::{LedgerError, LedgerStore, Summary};
use crate::manifest::Job;

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
    /// Error kind, snake_case as in the CLI's JSON (`quota_or_billing`).
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
    /// Where the ledger's tasks live, if recorded.
    pub endpoint: Option<EndpointIdentity>,
    /// Every job.
    pub jobs: Vec<JobReport>,
    /// Downloads this run could not write (local I/O: disk full, permission denied). Their
    /// jobs stay `succeeded`, their part files are kept, and the task's result stays
    /// downloadable for 24 h after creation: fix the cause and run the same command again.
    pub parked_downloads: Vec<ParkedDownload>,
}

/// A download parked on a local I/O failure.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ParkedDownload {
    /// Manifest id.
    pub job_id: String,
    /// The task (its result is downloadable for 24 h after creation).
    pub task_id: Option<String>,
    /// Where the video was to be written.
    pub path: String,
    /// What failed, in full.
    pub error: String,
}

impl ParkedDownload {
    /// A parked download of `job_id` to `path`.
    pub fn new(
        job_id: impl Into<String>,
        task_id: Option<String>,
        path: impl Into<String>,
        error: impl Into<String>,
    ) -> Self {
        Self {
            job_id: job_id.into(),
            task_id,
            path: path.into(),
            error: error.into(),
        }
    }
}

/// The report of a ledger, as `batch status` shows it.
///
/// ```
/// use wan_animate_batch::ledger::Ledger;
/// # let dir = tempfile::tempdir()?;
/// let ledger = Ledger::open(&dir.path().join("batch.sqlite"))?;
/// let report = wan_animate_batch::report::report(&ledger)?;
/// assert!(report.jobs.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn report(ledger: &dyn LedgerStore) -> Result<Report, LedgerError> {
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
        endpoint: ledger.endpoint()?,
        jobs,
        parked_downloads: Vec::new(),
    })
}

/// The report files written into the output directory.
pub const REPORT_FILES: &[&str] = &["report.json", "report.csv"];

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
