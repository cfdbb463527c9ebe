//! `run` (preflight, upload, submit, wait, download) and `submit` (the first half), and their
//! `--dry-run`, which preflights, estimates and prints the request without paying anything.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use wan_animate_core::input::{Input, preflight};
use wan_animate_core::types::CreateTaskRequest;
use wan_animate_core::{AnimateJob, SubmittedTask};
use wan_animate_media::MediaKind;

use super::task::{FinishOptions, check_output, interrupted, wait_and_finish};
use crate::args::{RunArgs, SubmitArgs, TaskInputArgs};
use crate::context::Context;
use crate::cost::Costing;
use crate::failure::Failure;
use crate::journal;
use crate::output::Printer;
use crate::progress::{byte_bar, feed};
use crate::signals::{self, Signals};
use crate::speed::SpeedStore;

pub(crate) async fn run(
    ctx: &Context,
    args: RunArgs,
    timeout: Option<Duration>,
    costing: &Costing,
) -> Result<(), Failure> {
    let started = Instant::now();
    let mut opts = FinishOptions {
        output: args.output,
        no_download: args.no_download,
        force: args.force,
        cancel_on_timeout: args.cancel_on_timeout,
        events: args.events,
        timeout: None,
        uploaded: Vec::new(),
        started,
        estimate: None,
        predict: None,
    };
    // Refuse an output that cannot be written before anything is uploaded or paid.
    check_output(ctx, &opts, None)?;
    // The output is as long as the driving video: known before submitting for a local file.
    let video_secs = local_video_secs(&args.input);
    let estimate = video_secs
        .map(|secs| costing.estimate(args.input.model.as_str(), args.input.mode.as_str(), secs));
    let (task, uploaded) = submit_inputs(ctx, &args.input, video_secs).await?;
    opts.predict = video_secs.map(|secs| (args.input.mode.clone(), secs));
    opts.uploaded = uploaded;
    opts.timeout = timeout.map(|t| t.saturating_sub(started.elapsed()));
    opts.estimate = Some((
        args.input.model.as_str().to_owned(),
        args.input.mode.as_str().to_owned(),
        estimate.unwrap_or_else(|| {
            costing.estimate(args.input.model.as_str(), args.input.mode.as_str(), 0.0)
        }),
    ));
    wait_and_finish(ctx, &task.task_id, opts, costing).await
}

pub(crate) async fn submit(ctx: &Context, args: SubmitArgs) -> Result<(), Failure> {
    let (task, uploaded) = submit_inputs(ctx, &args.input, local_video_secs(&args.input)).await?;
    if ctx.printer.json {
        let mut doc = serde_json::to_value(&task.response).unwrap_or_default();
        doc["local"] = json!({ "uploaded": uploaded, "adopted": task.adopted });
        ctx.printer.json_document(&doc);
    } else {
        ctx.printer.result(&task.task_id);
    }
    Ok(())
}

/// The local video's duration (the output is as long as the driving video), or `None` when
/// the video is a URL or its duration cannot be read.
fn local_video_secs(input: &TaskInputArgs) -> Option<f64> {
    let Input::File(p) = Input::parse(&input.video) else {
        return None;
    };
    let secs = wan_animate_media::probe_file(&p).ok()?.duration_secs?;
    (secs.is_finite() && secs > 0.0).then_some(secs)
}

/// `run --dry-run` and `submit --dry-run`: preflight the local files, estimate the cost and
/// print the create request that would be sent. Nothing is uploaded, created or paid, and no
/// key is needed.
pub(crate) fn dry_run(
    input: &TaskInputArgs,
    printer: &Printer,
    costing: &Costing,
) -> Result<(), Failure> {
    let image = Input::parse(&input.image);
    let video = Input::parse(&input.video);
    let mut problems = Vec::new();
    let mut video_secs = None;
    let mut uploads = Vec::new();
    for (input_ref, kind) in [(&image, MediaKind::Image), (&video, MediaKind::Video)] {
        if let Input::File(p) = input_ref {
            uploads.push(p.display().to_string());
            if input.no_preflight {
                if kind == MediaKind::Video {
                    video_secs = wan_animate_media::probe_file(p)
                        .ok()
                        .and_then(|i| i.duration_secs);
                }
                continue;
            }
            match preflight(p, kind) {
                Ok(info) if kind == MediaKind::Video => video_secs = info.duration_secs,
                Ok(_) => {}
                Err(e) => problems.push(e.to_string()),
            }
        }
    }
    if !problems.is_empty() {
        return Err(Failure::invalid_input(problems.join("\n")).with_hint(
            "fix the files (nothing was uploaded or paid), or pass --no-preflight to let the service decide",
        ));
    }
    let wire = |i: &Input| match i {
        Input::File(p) => format!("oss://<temporary upload of {}>", p.display()),
        other => other.to_wire_url().unwrap_or_default(),
    };
    let mut request = CreateTaskRequest::new(
        input.model.clone(),
        wire(&image),
        wire(&video),
        input.mode.clone(),
    );
    if input.watermark {
        request = request.with_watermark(true);
    }
    if input.no_check_image {
        request = request.with_check_image(false);
    }
    let model = input.model.as_str();
    let mode = input.mode.as_str();
    let estimate = video_secs.map(|s| costing.estimate(model, mode, s));
    let request_json = serde_json::to_value(&request).unwrap_or_default();
    if printer.json {
        printer.json_document(&json!({
            "dry_run": true,
            "request": {
                "method": "POST",
                "path": "/api/v1/services/aigc/image2video/video-synthesis",
                "body": request_json,
            },
            "uploads": uploads,
            "estimate": estimate.as_ref().map(|e| costing.json(e)),
        }));
        return Ok(());
    }
    printer.result("dry run: nothing was uploaded, submitted or paid. The request would be:");
    printer.result("POST /api/v1/services/aigc/image2video/video-synthesis");
    printer.result(&serde_json::to_string_pretty(&request_json).unwrap_or_default());
    for u in &uploads {
        printer.result(&format!("upload first: {u}"));
    }
    match &estimate {
        Some(e) => printer.result(&format!("cost: {}", costing.describe(model, mode, e))),
        None => printer.result(
            "cost: unknown here (the video is a URL, so its duration is not known locally): the service bills each second of output video, as long as the driving video",
        ),
    }
    Ok(())
}

/// Preflight, uploads and the create request. The task id is printed and journaled here,
/// before anything waits. A signal during the create waits (bounded by the request timeout)
/// for its answer, so a task that was made is never lost.
///
/// With `video_secs` known, the task's mode and output length are recorded in the state
/// directory, so a later `wait` predicts its end.
async fn submit_inputs(
    ctx: &Context,
    input: &TaskInputArgs,
    video_secs: Option<f64>,
) -> Result<(SubmittedTask, Vec<serde_json::Value>), Failure> {
    let image = Input::parse(&input.image);
    let video = Input::parse(&input.video);
    for (what, i) in [("image", &image), ("video", &video)] {
        if let Input::File(p) = i {
            if p.is_dir() {
                return Err(Failure::invalid_input(format!(
                    "the {what} {} is a directory, not a file",
                    p.display()
                ))
                .with_hint("give a file path, an https:// URL or an oss:// URL"));
            }
            if !p.is_file() {
                return Err(Failure::invalid_input(format!(
                    "the {what} file {} does not exist",
                    p.display()
                ))
                .with_hint("give a local path, an https:// URL or an oss:// URL"));
            }
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
    let bar = byte_bar(ctx.printer.progress, "upload").map(Arc::new);
    if let Some(bar) = &bar {
        job = job.with_progress(feed((**bar).clone()));
    }
    let mut signals = Signals::install();
    // Core records the task in the journal before `submit` returns.
    let client = journal::attach(&ctx.client);
    let submission = client.submit_animate(job);
    tokio::pin!(submission);
    let result = tokio::select! {
        r = &mut submission => Ok(r),
        sig = signals.recv() => Err(sig),
    };
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let record = |task: &SubmittedTask| {
        if let (Some(secs), Some(store)) = (video_secs, SpeedStore::from_env(ctx.sim.is_some())) {
            store.record_submitted(&task.task_id, &input.mode, secs);
        }
    };
    match result {
        Ok(submission) => finish_submit(ctx, submission).inspect(|(task, _)| record(task)),
        Err(sig) => {
            let grace = ctx.client.config().request_timeout() + Duration::from_secs(5);
            ctx.printer.note(&format!(
                "{}: waiting up to {} s for the request in flight so that a task it creates is not lost (signal again to exit at once)",
                sig.name(),
                grace.as_secs()
            ));
            match tokio::time::timeout(grace, &mut submission).await {
                Ok(Ok(sub)) => {
                    let id = sub.task.task_id.clone();
                    let (task, _) = finish_submit(ctx, Ok(sub))?;
                    record(&task);
                    Err(interrupted(
                        sig,
                        format!("{} after task {id} was created; it keeps running", sig.name()),
                    )
                    .with_task_id(&id)
                    .with_hint(format!("resume with: wan-animate wait {id}")))
                }
                Ok(Err(e)) => {
                    let f = Failure::from(e);
                    let mut out = interrupted(
                        sig,
                        format!("{}; the submission did not create a task: {}", sig.name(), f.message),
                    );
                    out.json = f.json;
                    Err(out)
                }
                Err(_) => Err(interrupted(
                    sig,
                    format!(
                        "{}; the create request got no answer within {} s, so a task may or may not exist",
                        sig.name(),
                        grace.as_secs()
                    ),
                )
                .with_hint(format!(
                    "check before submitting again: wan-animate list --model {} --since 10m",
                    input.model.as_str()
                ))),
            }
        }
    }
}

fn finish_submit(
    ctx: &Context,
    submission: Result<wan_animate_core::AnimateSubmission, wan_animate_core::Error>,
) -> Result<(SubmittedTask, Vec<serde_json::Value>), Failure> {
    let submission = submission.map_err(Failure::from)?;
    let task = submission.task;
    signals::set_known(format!(
        "task id: {}\nresume with: wan-animate wait {}",
        task.task_id, task.task_id
    ));
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
