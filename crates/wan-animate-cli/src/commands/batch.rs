//! `batch MANIFEST` and `batch status`: the batch engine of `wan-animate-batch`, with a live
//! summary on stderr and the report on stdout.

use std::io::IsTerminal;

use serde_json::json;
use wan_animate_batch::EndpointIdentity;
use wan_animate_batch::engine::{self, BatchError, BatchOptions};
use wan_animate_batch::ledger::{Ledger, LedgerError, Summary};
use wan_animate_batch::report::{self, JobReport, Pricing, Report};
use wan_animate_core::pricing::PriceTable;

use crate::args::{BatchAction, BatchArgs};
use crate::context::Context;
use crate::cost::Costing;
use crate::exit::Exit;
use crate::failure::Failure;
use crate::output::Printer;

fn summary_line(s: &Summary) -> String {
    format!(
        "{} jobs: {} done, {} running, {} pending, {} failed, {} need attention; {:.1} s billed",
        s.total, s.done, s.running, s.pending, s.failed, s.needs_attention, s.billed_seconds
    )
}

pub(crate) async fn run(ctx: &Context, args: BatchArgs, costing: &Costing) -> Result<(), Failure> {
    let r = args.run;
    let manifest = r
        .manifest
        .ok_or_else(|| Failure::new(Exit::Usage, "usage", "a MANIFEST is required"))?;
    let mut opts = BatchOptions::new(&r.out_dir);
    opts.ledger = r.ledger;
    opts.create_per_sec = r.create_rps;
    opts.task_api_per_sec = r.task_rps;
    opts.max_in_flight_per_model = r.max_in_flight;
    opts.poll_interval = r.poll_interval;
    opts.reconcile_settle = r.reconcile_settle;
    opts.allow_endpoint_change = r.allow_endpoint_change;
    opts.endpoint = Some(endpoint_identity(ctx));
    opts.pricing = Pricing::new(costing.table().clone(), costing.region.clone());
    opts.budget = r.budget;
    let live = !ctx.printer.json && ctx.printer.quiet == 0;
    let tty = std::io::stderr().is_terminal();
    ctx.printer.note(&format!(
        "batch: ledger {} (run the same command again to resume)",
        opts.ledger_path().display()
    ));
    let client = batch_client(ctx, opts.task_api_per_sec)?;
    let result = engine::run(client, &manifest, opts, move |s| {
        if live {
            if tty {
                eprint!("\r\x1b[2K{}", summary_line(s));
            } else {
                eprintln!("{}", summary_line(s));
            }
        }
    })
    .await;
    if live && tty {
        eprintln!();
    }
    let report = match result {
        Ok(r) => r,
        Err(BatchError::Manifest(e)) => {
            return Err(Failure::invalid_input(e.to_string().trim_end().to_owned()));
        }
        Err(BatchError::Fatal(e)) => return Err(Failure::from(e)),
        Err(e @ BatchError::Ledger(LedgerError::Locked { .. })) => {
            return Err(Failure::new(Exit::Failure, "ledger_locked", e.to_string()));
        }
        Err(e @ BatchError::EndpointChanged { .. }) => {
            return Err(Failure::new(Exit::Usage, "endpoint_changed", e.to_string()));
        }
        Err(e @ BatchError::OutputsExist { .. }) => {
            return Err(Failure::invalid_input(e.to_string()));
        }
        Err(e) => return Err(Failure::new(Exit::Failure, "batch", e.to_string())),
    };
    print_report(&ctx.printer, &report);
    finish(&report)
}

/// The prices of a ledger's tasks: the table in use (`--prices` or built-in), for the region
/// of the base URL the ledger recorded.
fn pricing_for(table: &PriceTable, base_url: &str) -> Pricing {
    // Hosts that are not the service's (a proxy, the simulator) are priced as the default region.
    let region = wan_animate_core::Region::of_base_url(base_url).unwrap_or_default();
    Pricing::new(table.clone(), region.id())
}

/// The batch's client: the invocation's configuration and backend, with ONE budget of
/// task-API requests per second shared by every wait of the run (`--task-rps`). The engine
/// polls through this client and has no query limiter of its own.
fn batch_client(ctx: &Context, task_rps: f64) -> Result<wan_animate_core::Client, Failure> {
    let client = ctx
        .client_builder()?
        .task_api_rate(task_rps)
        .build()
        .map_err(|e| {
            Failure::new(
                Exit::Usage,
                "usage",
                format!("--task-rps: {}", e.full_message()),
            )
        })?;
    Ok(ctx.finish_client(client))
}

/// Where this run's tasks live, as recorded in the ledger: the base URL (which carries the
/// region), the workspace and a fingerprint of the key. The in-process simulator listens on a
/// random port, so `--sim` batches get a stable name instead.
fn endpoint_identity(ctx: &Context) -> EndpointIdentity {
    let config = ctx.client.config();
    // The built-in simulator listens on a new port each time: its identity is its world.
    let mut id = match &ctx.sim {
        Some(sim) => {
            let name = match sim.state_dir() {
                Some(dir) => format!("wan-animate-sim world at {}", dir.display()),
                None => "wan-animate-sim (in memory)".to_owned(),
            };
            EndpointIdentity::new(&name)
        }
        None => EndpointIdentity::new(config.base_url()),
    };
    if let Some(ws) = config.workspace() {
        id = id.with_workspace(ws);
    }
    id.with_key(config.api_key().expose_secret())
}

pub(crate) fn status(args: BatchArgs, printer: &Printer, costing: &Costing) -> Result<(), Failure> {
    let Some(BatchAction::Status(s)) = args.action else {
        return Ok(());
    };
    if !s.ledger.exists() {
        return Err(
            Failure::invalid_input(format!("no ledger at {}", s.ledger.display()))
                .with_hint("pass --ledger FILE (default batch-out/batch.sqlite)"),
        );
    }
    // Read-only and without the run lock: works while a run holds the ledger.
    let ledger = Ledger::open_read_only(&s.ledger)
        .map_err(|e| Failure::new(Exit::Failure, "ledger", e.to_string()))?;
    // Prices for the region the ledger's tasks live in.
    let pricing = wan_animate_batch::ledger::LedgerStore::endpoint(&ledger)
        .ok()
        .flatten()
        .map(|e| pricing_for(costing.table(), &e.base_url))
        .unwrap_or_else(|| Pricing::new(costing.table().clone(), costing.region.clone()));
    let report = report::report_priced(&ledger, &pricing)
        .map_err(|e| Failure::new(Exit::Failure, "ledger", e.to_string()))?;
    print_report(printer, &report);
    Ok(())
}

/// A job's cost for people: `-` when nothing was billed, `unknown` without a price.
fn cost_text(j: &JobReport) -> String {
    match (j.billed_seconds, j.cost, &j.currency) {
        (Some(s), Some(c), Some(cur)) => format!("{s} s, {c:.2} {cur}"),
        (Some(s), _, _) => format!("{s} s, cost unknown"),
        _ => "-".to_owned(),
    }
}

/// The totals line: billed seconds and estimated cost, with the price's origin.
fn totals_line(report: &Report) -> String {
    let t = &report.totals;
    let cost = match (t.cost, &t.currency, t.unpriced_jobs) {
        (Some(c), Some(cur), 0) => format!("estimated {c:.2} {cur}"),
        (Some(c), Some(cur), n) => {
            format!("estimated {c:.2} {cur} plus {n} job(s) of unknown cost")
        }
        (_, _, 0) => "estimated 0".to_owned(),
        (_, _, n) => format!("cost unknown ({n} job(s) without a price)"),
    };
    let source = report
        .jobs
        .iter()
        .find_map(|j| j.price_source.as_ref().map(|s| (s, &j.price_date)))
        .map(|(s, d)| {
            format!(
                " (prices for {}: {s}, {})",
                t.region,
                d.as_deref().unwrap_or("")
            )
        })
        .unwrap_or_default();
    format!("total: {} s billed, {cost}{source}", t.billed_seconds)
}

fn print_report(printer: &Printer, report: &Report) {
    if printer.json {
        printer.json_document(&serde_json::to_value(report).unwrap_or_else(|_| json!({})));
        return;
    }
    for j in &report.jobs {
        let detail = match (&j.output_path, &j.error_code, &j.error_message) {
            (Some(p), _, _) => p.clone(),
            (_, Some(c), m) => format!("{c}: {}", m.as_deref().unwrap_or("")),
            (_, None, Some(m)) => m.clone(),
            _ => String::new(),
        };
        let detail = match &j.note {
            Some(n) if detail.is_empty() => n.clone(),
            _ => detail,
        };
        printer.result(&format!(
            "{:<20} {:<16} {:<38} {:<20} {}",
            j.job_id,
            j.outcome,
            j.task_id.as_deref().unwrap_or("-"),
            cost_text(j),
            detail
        ));
    }
    printer.note(&summary_line(&report.summary));
    printer.note(&totals_line(report));
    if let Some(endpoint) = &report.endpoint {
        printer.note(&format!("tasks at {endpoint}"));
    }
    let mut modes: Vec<_> = report.billed_seconds_by_mode.iter().collect();
    modes.sort_by(|a, b| a.0.cmp(b.0));
    for (mode, secs) in modes {
        printer.note(&format!("billed {mode}: {secs:.1} s"));
    }
}

fn finish(report: &Report) -> Result<(), Failure> {
    let s = &report.summary;
    if let Some(first) = report.parked_downloads.first() {
        // The other jobs finished; these tasks are safe for 24 h and their part files kept.
        return Err(Failure::new(
            Exit::LocalIo,
            "local_io",
            format!(
                "{} download(s) could not be written (first: {}: {}); their jobs stay succeeded and their part files are kept",
                report.parked_downloads.len(),
                first.path,
                first.error
            ),
        )
        .with_hint(
            "free disk space or fix the output directory's permissions, then run the same command again within 24 h of the tasks' creation to download them",
        ));
    }
    if let Some(b) = &report.budget
        && !b.held_back.is_empty()
    {
        return Err(Failure::new(
            Exit::Failure,
            "budget_reached",
            format!(
                "the budget of {} {cur} is reached: estimated {:.2} {cur} submitted, {} job(s) held back (not submitted: {})",
                b.amount,
                b.spent_estimate,
                b.held_back.len(),
                b.held_back.join(", "),
                cur = b.currency,
            ),
        )
        .with_hint(
            "the held jobs stay queued in the ledger: run the same command again with a larger --budget to submit them",
        ));
    }
    let unfinished = s.total - s.done - s.failed - s.needs_attention;
    if unfinished > 0 {
        return Err(Failure::new(
            Exit::Failure,
            "batch",
            format!("{unfinished} job(s) did not finish; run the same command again to resume"),
        ));
    }
    if s.failed == 0 && s.needs_attention == 0 {
        return Ok(());
    }
    Err(Failure::new(
        Exit::Failure,
        "batch",
        format!(
            "{} job(s) failed and {} need attention (see report.json)",
            s.failed, s.needs_attention
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wan_animate_batch::ParkedDownload;

    #[test]
    fn a_parked_download_ends_the_run_with_the_local_io_code_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("batch.sqlite")).unwrap();
        let mut report = report::report(&ledger).unwrap();
        assert!(finish(&report).is_ok(), "nothing to do, nothing parked");
        report.parked_downloads.push(ParkedDownload::new(
            "a",
            Some("t-1".into()),
            "/out/a.mp4",
            "could not save the download: /out/.a.mp4.part: No space left on device",
        ));
        let failure = finish(&report).err().unwrap();
        assert_eq!(failure.exit.code(), 9);
        assert!(
            failure.message.contains("/out/a.mp4") && failure.message.contains("No space left"),
            "{}",
            failure.message
        );
        assert!(
            failure
                .hint
                .as_deref()
                .is_some_and(|h| h.contains("run the same command again")),
            "{:?}",
            failure.hint
        );
    }
}
