//! `run` (preflight, upload, submit, wait, download) and `submit` (the first half).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use wan_animate_core::input::Input;
use wan_animate_core::{AnimateJob, SubmittedTask};

use super::task::{FinishOptions, wait_and_finish};
use crate::args::{RunArgs, SubmitArgs, TaskInputArgs};
use crate::context::Context;
use crate::failure::Failure;
use crate::journal;
use crate::progress::{byte_bar, feed};

pub(crate) async fn run(
    ctx: &Context,
    args: RunArgs,
    timeout: Option<Duration>,
) -> Result<(), Failure> {
    let started = Instant::now();
    let (task, uploaded) = submit_inputs(ctx, &args.input).await?;
    let remaining = timeout.map(|t| t.saturating_sub(started.elapsed()));
    wait_and_finish(
        ctx,
        &task.task_id,
        FinishOptions {
            output: args.output,
            no_download: args.no_download,
            force: args.force,
            cancel_on_timeout: args.cancel_on_timeout,
            events: args.events,
            timeout: remaining,
            uploaded,
        },
    )
    .await
}

pub(crate) async fn submit(ctx: &Context, args: SubmitArgs) -> Result<(), Failure> {
    let (task, uploaded) = submit_inputs(ctx, &args.input).await?;
    if ctx.printer.json {
        let mut doc = serde_json::to_value(&task.response).unwrap_or_default();
        doc["local"] = json!({ "uploaded": uploaded, "adopted": task.adopted });
        ctx.printer.json_document(&doc);
    } else {
        ctx.printer.result(&task.task_id);
    }
    Ok(())
}

/// Preflight, uploads and the create request. The task id is printed and journaled here,
/// before anything waits.
async fn submit_inputs(
    ctx: &Context,
    input: &TaskInputArgs,
) -> Result<(SubmittedTask, Vec<serde_json::Value>), Failure> {
    let image = Input::parse(&input.image);
    let video = Input::parse(&input.video);
    for (what, i) in [("image", &image), ("video", &video)] {
        if let Input::File(p) = i
            && !p.is_file()
        {
            return Err(Failure::invalid_input(format!(
                "the {what} file {} does not exist",
                p.display()
            ))
            .with_hint("give a local path, an https:// URL or an oss:// URL"));
        }
    }
    let mut job = AnimateJob::new(input.model.clone(), image, video, input.mode.clone())
        .with_preflight(!input.no_preflight);
    if input.watermark {
        job = job.with_watermark(true);
    }
    if input.no_check_image {
        job = job.with_check_image(false);
    }
    // Core records the task in the journal before `submit` returns.
    let client = journal::attach(&ctx.client);
    if let Some(bar) = byte_bar(ctx.printer.progress, "upload") {
        let bar = Arc::new(bar);
        job = job.with_progress(feed((*bar).clone()));
        let submission = client.submit_animate(job).await;
        bar.finish_and_clear();
        return finish_submit(ctx, submission);
    }
    let submission = client.submit_animate(job).await;
    finish_submit(ctx, submission)
}

fn finish_submit(
    ctx: &Context,
    submission: Result<wan_animate_core::AnimateSubmission, wan_animate_core::Error>,
) -> Result<(SubmittedTask, Vec<serde_json::Value>), Failure> {
    let submission = submission.map_err(Failure::from)?;
    let task = submission.task;
    let uploaded: Vec<serde_json::Value> = submission
        .uploaded
        .iter()
        .map(|u| json!({ "oss_url": u.oss_url, "bytes": u.bytes }))
        .collect();
    let adopted = if task.adopted {
        " (adopted after an ambiguous failure; not submitted twice)"
    } else {
        ""
    };
    ctx.printer
        .note(&format!("task {} submitted{adopted}", task.task_id));
    if let Some(e) = &task.journal_error {
        // The journal could not keep it: say where the task lives.
        ctx.printer.warn(&format!(
            "{e}; the task lives at {}: keep its id",
            wan_animate_core::journal::redact_base_url(&ctx.base_url)
        ));
    }
    Ok((task, uploaded))
}
