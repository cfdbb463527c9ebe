//! The report: one line per job and totals by mode, from the ledger; written as
//! `report.json` and `report.csv`.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use wan_animate_core::pricing::PriceTable;

use crate::endpoint::EndpointIdentity;
use crate::ledger::{LedgerError, LedgerStore, Summary};
use crate::manifest::Job;

/// The price table a batch is costed with and the region its prices are read for.
///
/// ```
/// use wan_animate_batch::report::Pricing;
/// let p = Pricing::builtin();
/// assert_eq!(p.region, "cn-beijing");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Pricing {
    /// The prices.
    pub table: PriceTable,
    /// Region id (`cn-beijing`, `ap-southeast-1`).
    pub region: String,
}

impl Pricing {
    /// `table` read for `region`.
    pub fn new(table: PriceTable, region: impl Into<String>) -> Self {
        Self {
            table,
            region: region.into(),
        }
    }

    /// Core's built-in table, read for China (Beijing).
    pub fn builtin() -> Self {
        Self::new(PriceTable::builtin(), "cn-beijing")
    }
}

/// What a budget did in this run (`batch --budget`).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[non_exhaustive]
pub struct BudgetOutcome {
    /// The budget, in `currency`.
    pub amount: f64,
    /// Currency of the price table.
    pub currency: String,
    /// Estimated cost of every job submitted or succeeded (this run and earlier ones).
    pub spent_estimate: f64,
    /// Jobs not submitted because they would have passed the budget.
    pub held_back: Vec<String>,
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
    /// The model (`wan2.2-animate-mix`/`wan2.2-animate-move`).
    pub model: String,
    /// Seconds billed: `usage.video_duration` of a succeeded task, rounded up to whole seconds.
    pub billed_seconds: Option<u64>,
    /// Estimated cost of the billed seconds; `None` when nothing was billed yet or no price
    /// is known for the model, mode and region.
    pub cost: Option<f64>,
    /// Currency of `cost`.
    pub currency: Option<String>,
    /// Where the price comes from.
    pub price_source: Option<String>,
    /// The price's date.
    pub price_date: Option<String>,
    /// Why the job is where it is, when the engine held it (e.g. by the budget).
    pub note: Option<String>,
}

/// Totals of billed seconds and estimated cost.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
#[non_exhaustive]
pub struct CostTotals {
    /// Billed seconds of every succeeded job.
    pub billed_seconds: u64,
    /// Sum of the priced jobs' costs, per currency (one entry with a single table currency).
    pub cost: Option<f64>,
    /// Currency of `cost`.
    pub currency: Option<String>,
    /// Billed jobs without a known price (their cost is not in `cost`).
    pub unpriced_jobs: usize,
    /// Region the prices were read for.
    pub region: String,
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
    /// Billed seconds and estimated cost in total.
    pub totals: CostTotals,
    /// What `--budget` did in this run, if one was given.
    pub budget: Option<BudgetOutcome>,
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
    report_priced(ledger, &Pricing::builtin())
}

/// [`report`] with costs read from `pricing`.
pub fn report_priced(ledger: &dyn LedgerStore, pricing: &Pricing) -> Result<Report, LedgerError> {
    let mut totals = CostTotals {
        region: pricing.region.clone(),
        ..CostTotals::default()
    };
    let mut by_mode: HashMap<String, f64> = HashMap::new();
    let mut held = ledger.held_notes()?;
    let jobs: Vec<JobReport> = ledger
        .jobs()?
        .into_iter()
        .map(|r| {
            let (model, mode) = serde_json::from_str::<Job>(&r.spec)
                .map(|j| (j.model.as_str().to_owned(), j.mode.as_str().to_owned()))
                .unwrap_or_default();
            let succeeded = r.task_status.as_deref() == Some("SUCCEEDED");
            if succeeded {
                *by_mode.entry(mode.clone()).or_default() += r.video_duration.unwrap_or(0.0);
            }
            let estimate = succeeded.then(|| {
                pricing.table.estimate(
                    &model,
                    &mode,
                    &pricing.region,
                    r.video_duration.unwrap_or(0.0),
                )
            });
            let price = estimate.as_ref().and_then(|e| e.price.clone());
            let note = held.remove(&r.job_id);
            let cost = estimate.as_ref().and_then(|e| e.cost);
            if let Some(e) = &estimate {
                totals.billed_seconds += e.billable_seconds;
                match (cost, &price) {
                    (Some(c), Some(p)) => {
                        totals.cost = Some(totals.cost.unwrap_or(0.0) + c);
                        totals.currency.get_or_insert_with(|| p.currency.clone());
                    }
                    _ => totals.unpriced_jobs += 1,
                }
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
                model,
                billed_seconds: estimate.as_ref().map(|e| e.billable_seconds),
                cost,
                currency: price.as_ref().map(|p| p.currency.clone()),
                price_source: price.as_ref().map(|p| p.source.clone()),
                price_date: price.map(|p| p.date),
                note,
            }
        })
        .collect();
    Ok(Report {
        summary: ledger.summary()?,
        billed_seconds_by_mode: by_mode,
        endpoint: ledger.endpoint()?,
        jobs,
        parked_downloads: Vec::new(),
        totals: CostTotals {
            // Rounded to a millionth, as core's estimates are.
            cost: totals.cost.map(|c| (c * 1e6).round() / 1e6),
            ..totals
        },
        budget: None,
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
        "model",
        "billed_seconds",
        "cost",
        "currency",
        "price_source",
        "price_date",
        "note",
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
            j.model.clone(),
            j.billed_seconds.map(|d| d.to_string()).unwrap_or_default(),
            cost_cell(j),
            o(&j.currency),
            o(&j.price_source),
            o(&j.price_date),
            o(&j.note),
        ])
        .map_err(std::io::Error::other)?;
    }
    w.flush()
}

/// A job's cost for the CSV: the figure, empty when nothing was billed, `unknown` when the
/// billed seconds have no price.
fn cost_cell(j: &JobReport) -> String {
    match (j.billed_seconds, j.cost) {
        (_, Some(c)) => c.to_string(),
        (Some(_), None) => "unknown".into(),
        (None, None) => String::new(),
    }
}
