//! `list`: tasks of the account, one page or all of them.

use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use serde_json::json;
use wan_animate_core::types::{EpochMillis, ListTasksQuery, ListTime, TaskSummary};

use crate::args::{ListArgs, parse_duration};
use crate::context::Context;
use crate::failure::Failure;

pub(crate) async fn run(ctx: &Context, args: ListArgs) -> Result<(), Failure> {
    let mut query = ListTasksQuery::new();
    if let Some(s) = &args.status {
        query = query.with_status(s.clone());
    }
    if let Some(m) = &args.model {
        query = query.with_model_name(m.as_str());
    }
    if let Some(t) = &args.since {
        query = query.with_start_time(list_time(t, "--since")?);
    }
    if let Some(t) = &args.until {
        query = query.with_end_time(list_time(t, "--until")?);
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
    for t in tasks {
        let created = t
            .gmt_create
            .map(|c| c.to_service_time().to_string())
            .unwrap_or_default();
        ctx.printer.result(&format!(
            "{}  {:<9}  {:<22}  {}",
            t.task_id,
            t.status.as_str(),
            t.model_name.as_deref().unwrap_or("-"),
            created
        ));
    }
}

/// A duration ago (`2h`) or a literal `YYYYMMDDhhmmss`.
fn list_time(value: &str, flag: &str) -> Result<ListTime, Failure> {
    if value.len() == 14 && value.bytes().all(|b| b.is_ascii_digit()) {
        let t = ListTime::new(value);
        if t.to_unix_millis().is_none() {
            return Err(Failure::invalid_input(format!(
                "{flag} {value:?} is not a valid YYYYMMDDhhmmss time"
            )));
        }
        return Ok(t);
    }
    let ago: Duration = parse_duration(value)
        .map_err(|e| Failure::invalid_input(format!("{flag}: {e}, or YYYYMMDDhhmmss")))?;
    let when = SystemTime::now()
        .checked_sub(ago)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    Ok(ListTime::from_unix_millis(
        EpochMillis::from_system_time(when).as_millis(),
    ))
}
