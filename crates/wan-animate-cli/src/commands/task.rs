//! `status`, `wait`, `cancel`, and the wait-then-download ending shared with `run`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use wan_animate_core::download::DownloadOptions;
use wan_animate_core::types::{TaskResponse, TaskStatus};
use wan_animate_core::{ErrorKind, TaskEvent};

use crate::args::{TaskIdArgs, WaitArgs};
use crate::context::Context;
use crate::exit::Exit;
use crate::failure::Failure;
use crate::progress::{Spinner, byte_bar, feed};

pub(crate) async fn status(ctx: &Context, args: TaskIdArgs) -> Result<(), Failure> {
    let task = ctx.client.get(&args.task_id).await.map_err(Failure::from)?;
    if ctx.printer.json {
        ctx.printer
            .json_document(&serde_json::to_value(&task).unwrap_or_default());
    } else {
        ctx.printer.result(&describe(&task));
    }
    Ok(())
}

pub(crate) async fn cancel(ctx: &Context, args: TaskIdArgs) -> Result<(), Failure> {
    let response = ctx
        .client
        .cancel(&args.task_id)
        .await
        .map_err(|e| Failure::from(e).with_task_id(&args.task_id))?;
    if ctx.printer.json {
        let mut doc = serde_json::to_value(&response).unwrap_or_default();
        doc["task_id"] = json!(args.task_id);
        ctx.printer.json_document(&doc);
    } else {
        ctx.printer
            .result(&format!("task {} canceled", args.task_id));
    }
    Ok(())
}

pub(crate) async fn wait(
    ctx: &Context,
    args: WaitArgs,
    timeout: Option<Duration>,
) -> Result<(), Failure> {
    wait_and_finish(
        ctx,
        &args.task_id,
        FinishOptions {
            output: args.output,
            no_download: args.no_download,
            force: args.force,
            cancel_on_timeout: args.cancel_on_timeout,
            events: args.events,
            timeout,
            uploaded: Vec::new(),
        },
    )
    .await
}

/// How `run` and `wait` end.
pub(crate) struct FinishOptions {
    pub(crate) output: Option<PathBuf>,
    pub(crate) no_download: bool,
    pub(crate) force: bool,
    pub(crate) cancel_on_timeout: bool,
    pub(crate) events: bool,
    pub(crate) timeout: Option<Duration>,
    pub(crate) uploaded: Vec<Value>,
}

/// Waits for the task to end (printing status changes, or NDJSON events), then downloads the
/// result. Ctrl-C and the deadline print the task id and the command that resumes it.
pub(crate) async fn wait_and_finish(
    ctx: &Context,
    task_id: &str,
    opts: FinishOptions,
) -> Result<(), Failure> {
    let resume = format!("resume with: wan-animate wait {task_id}");
    let started = Instant::now();
    let spinner = Spinner::new(ctx.printer.progress, &format!("task {task_id}: waiting"));
    let mut policy = ctx.client.poll_policy().clone();
    if let Some(t) = opts.timeout {
        policy = policy.with_max_wait(t);
    }
    policy = policy.with_cancel_on_deadline(opts.cancel_on_timeout);
    let mut events = Box::pin(ctx.client.watch_with(task_id, &policy));
    let mut last: Option<TaskResponse> = None;
    let outcome = loop {
        let next = tokio::select! {
            e = events.next() => e,
            _ = tokio::signal::ctrl_c() => {
                spinner.finish();
                let mut failure = Failure::new(Exit::Interrupted, "interrupted", format!("interrupted while waiting for task {task_id}; the task keeps running"))
                    .with_task_id(task_id)
                    .with_hint(resume.clone());
                if opts.cancel_on_timeout && last.as_ref().is_some_and(|t| t.output.task_status == TaskStatus::Pending) {
                    match ctx.client.cancel(task_id).await {
                        Ok(_) => failure.message.push_str(" (it was still PENDING and has been canceled as asked)"),
                        Err(e) => failure.message.push_str(&format!(" (cancel failed: {e})")),
                    }
                }
                if let Some(t) = &last {
                    failure = failure.with_document(serde_json::to_value(t).unwrap_or_default());
                }
                return Err(failure);
            }
        };
        match next {
            None => break Ok(last.clone()),
            Some(Ok(event)) => {
                if opts.events && ctx.printer.json {
                    ctx.printer.json_event(&event_json(&event, task_id));
                }
                match event {
                    TaskEvent::Status { task, .. } => {
                        let line = format!(
                            "task {task_id}: {} after {}",
                            task.output.task_status,
                            elapsed(started.elapsed())
                        );
                        spinner.set_message(&line);
                        if !ctx.printer.progress && !ctx.printer.json {
                            ctx.printer.note(&line);
                        }
                        last = Some(task);
                    }
                    TaskEvent::Finished(task) => {
                        last = Some(task);
                        break Ok(last.clone());
                    }
                    _ => {}
                }
            }
            Some(Err(e)) => break Err(e),
        }
    };
    spinner.finish();
    let task = match outcome {
        Ok(Some(task)) => task,
        Ok(None) => ctx
            .client
            .get(task_id)
            .await
            .map_err(|e| Failure::from(e).with_task_id(task_id))?,
        Err(e) => {
            let kind = e.kind();
            let mut failure = Failure::from(e).with_task_id(task_id);
            if let Some(t) = &last {
                failure = failure.with_document(serde_json::to_value(t).unwrap_or_default());
            }
            if kind == ErrorKind::Timeout {
                failure = failure.with_hint(resume);
            }
            return Err(failure);
        }
    };
    let mut doc = serde_json::to_value(&task).unwrap_or_default();
    let mut local = json!({ "uploaded": opts.uploaded });
    let url = task.output.video_url().map(str::to_owned);
    if task.output.task_status == TaskStatus::Succeeded && !opts.no_download {
        let Some(url) = url.clone() else {
            return Err(Failure::new(
                Exit::Failure,
                "decode",
                format!("task {task_id} succeeded but the response has no video URL"),
            )
            .with_task_id(task_id)
            .with_document(doc));
        };
        let dest = opts
            .output
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("{task_id}.mp4")));
        let bar = byte_bar(ctx.printer.progress, "download");
        let mut dl = DownloadOptions::new().with_overwrite(opts.force);
        if let Some(b) = bar.clone() {
            dl = dl.with_progress(feed(b));
        }
        let downloaded = ctx.client.download(&url, &dest, dl).await;
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        let downloaded = downloaded.map_err(|e| {
            Failure::from(e)
                .with_task_id(task_id)
                .with_hint(format!(
                    "the result stays downloadable for 24 h: wan-animate download {task_id}"
                ))
                .with_document(doc.clone())
        })?;
        local["output_path"] = json!(downloaded.path.display().to_string());
        local["bytes"] = json!(downloaded.bytes);
        ctx.printer.result(&downloaded.path.display().to_string());
    } else if let Some(url) = &url {
        ctx.printer.result(url);
    }
    doc["local"] = local;
    if ctx.printer.json && !opts.events {
        ctx.printer.json_document(&doc);
    } else if ctx.printer.json && opts.events {
        ctx.printer
            .json_event(&json!({ "event": "result", "task": doc }));
    }
    Ok(())
}

fn event_json(event: &TaskEvent, task_id: &str) -> Value {
    match event {
        TaskEvent::Status {
            task,
            previous,
            elapsed,
        } => json!({
            "event": "status",
            "task_id": task_id,
            "status": task.output.task_status.as_str(),
            "previous": previous.as_ref().map(|p| p.as_str()),
            "elapsed_secs": elapsed.as_secs_f64(),
            "task": task,
        }),
        TaskEvent::Finished(task) => json!({
            "event": "finished",
            "task_id": task_id,
            "status": task.output.task_status.as_str(),
            "task": task,
        }),
        other => json!({ "event": "other", "task_id": task_id, "detail": format!("{other:?}") }),
    }
}

/// One human line for a task.
pub(crate) fn describe(task: &TaskResponse) -> String {
    let o = &task.output;
    let mut s = format!("{}  {}", o.task_id, o.task_status);
    if let Some(t) = &o.submit_time {
        s.push_str(&format!("  submitted {t}"));
    }
    if let Some(t) = &o.end_time {
        s.push_str(&format!("  ended {t}"));
    }
    if let (Some(code), msg) = (&o.code, &o.message) {
        s.push_str(&format!("  {code}: {}", msg.as_deref().unwrap_or("")));
    }
    if let Some(u) = &task.usage
        && let Some(d) = u.video_duration
    {
        s.push_str(&format!("  {d} s billed"));
    }
    if let Some(url) = o.video_url() {
        s.push_str(&format!("\n{url}"));
    }
    s
}

fn elapsed(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}
