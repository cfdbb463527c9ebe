//! `list`: tasks of the account, one page or all of them.

use std::time::SystemTime;

use futures_util::StreamExt;
use serde_json::json;
use wan_animate_core::types::{EpochMillis, ListTasksQuery, ListTime, TaskSummary};

use super::task::shown;
use crate::args::{ListArgs, WindowTime};
use crate::context::Context;
use crate::exit::Exit;
use crate::failure::Failure;

pub(crate) async fn run(ctx: &Context, args: ListArgs) -> Result<(), Failure> {
    let mut query = ListTasksQuery::new();
    if let Some(s) = &args.status {
        query = query.with_status(s.clone());
    }
    if let Some(m) = &args.model {
        query = query.with_model_name(m.as_str());
    }
    let now = now_millis();
    let since = args.since.as_ref().map(|t| to_millis(t, now));
    let until = args.until.as_ref().map(|t| to_millis(t, now));
    check_window(since, until, now)?;
    if let Some(ms) = since {
        query = query.with_start_time(ListTime::from_unix_millis(ms));
    }
    if let Some(ms) = until {
        query = query.with_end_time(ListTime::from_unix_millis(ms));
    }
    if let Some(n) = args.page_size {
        query = query.with_page_size(n);
    }
    if args.all {
        let mut tasks: Vec<TaskSummary> = Vec::new();
        let mut stream = Box::pin(ctx.client.list_all(query));
        while let Some(item) = stream.next().await {
            tasks.push(item.map_err(Failure::from)?);
        }
        if ctx.printer.json {
            ctx.printer
                .json_document(&json!({ "total": tasks.len(), "data": tasks }));
        } else {
            print_table(ctx, &tasks);
        }
        return Ok(());
    }
    if let Some(n) = args.page {
        query = query.with_page_no(n);
    }
    let page = ctx.client.list(&query).await.map_err(Failure::from)?;
    if ctx.printer.json {
        ctx.printer
            .json_document(&serde_json::to_value(&page).unwrap_or_default());
    } else {
        print_table(ctx, &page.data);
        if let (Some(p), Some(total_pages)) = (page.page_no, page.total_page)
            && total_pages > 1
        {
            ctx.printer.note(&format!(
                "page {p} of {total_pages} ({} tasks); --all fetches every page",
                page.total.unwrap_or(0)
            ));
        }
    }
    Ok(())
}

fn print_table(ctx: &Context, tasks: &[TaskSummary]) {
    if tasks.is_empty() {
        ctx.printer
            .note("no tasks in this window (the service lists the last 24 h by default)");
        return;
    }
    ctx.printer.result(&format!(
        "{:<36}  {:<9}  {:<22}  CREATED",
        "TASK ID", "STATUS", "MODEL"
    ));
    for t in tasks {
        let created = t
            .gmt_create
            .map(|c| crate::clock::get().human(c.as_millis()))
            .unwrap_or_default();
        ctx.printer.result(&format!(
            "{:<36}  {:<9}  {:<22}  {}",
            shown(&t.task_id),
            shown(t.status.as_str()),
            shown(t.model_name.as_deref().unwrap_or("-")),
            created
        ));
    }
}

const DAY_MS: i64 = 24 * 3600 * 1000;

fn now_millis() -> i64 {
    EpochMillis::from_system_time(SystemTime::now()).as_millis()
}

/// Unix milliseconds of one end of the window.
fn to_millis(t: &WindowTime, now: i64) -> i64 {
    match t {
        WindowTime::Ago(d) => now.saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        // Validated by the argument parser.
        WindowTime::At(s) => ListTime::new(s.as_str()).to_unix_millis().unwrap_or(now),
    }
}

/// The service lists at most 24 h at once and nothing from the future; say so instead of
/// returning an empty list.
fn check_window(since: Option<i64>, until: Option<i64>, now: i64) -> Result<(), Failure> {
    let usage = |m: String| {
        Failure::new(Exit::Usage, "usage", m)
            .with_hint("the window is --since (start) to --until (end), at most 24 h; e.g. --since 6h, or --since 2d --until 1d")
    };
    if let (Some(s), Some(u)) = (since, until) {
        if s > u {
            return Err(usage(
                "--since is after --until: the window is inverted, so it would list nothing".into(),
            ));
        }
        if u - s > DAY_MS {
            return Err(usage(format!(
                "the window from --since to --until spans {:.1} h; the service lists at most 24 h at once",
                (u - s) as f64 / 3_600_000.0
            )));
        }
    } else if let Some(s) = since
        && now - s > DAY_MS
    {
        return Err(usage(format!(
            "--since is {:.1} h ago; without --until the window ends now and the service lists at most 24 h at once: add --until (e.g. --until {}h)",
            (now - s) as f64 / 3_600_000.0,
            ((now - s - DAY_MS) / 3_600_000).max(0) + 1
        )));
    }
    if since.is_some_and(|s| s > now + 60_000) {
        return Err(usage(
            "--since is in the future: no task can be listed".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverted_and_too_wide_windows_are_refused() {
        let now = 1_800_000_000_000;
        assert!(check_window(Some(now - 1000), Some(now - 2000), now).is_err());
        assert!(check_window(Some(now - 2 * DAY_MS), None, now).is_err());
        assert!(check_window(Some(now - 3 * DAY_MS), Some(now - DAY_MS / 2), now).is_err());
        assert!(check_window(Some(now - 2 * DAY_MS), Some(now - DAY_MS), now).is_ok());
        assert!(check_window(Some(now - 6 * 3_600_000), None, now).is_ok());
        assert!(check_window(None, Some(now), now).is_ok());
    }
}
