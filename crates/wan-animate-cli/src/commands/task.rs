//! `status`, `wait`, `cancel`, and the wait-then-download ending shared with `run`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use wan_animate_core::download::{DownloadOptions, check_destination};
use wan_animate_core::pricing::Estimate;
use wan_animate_core::types::{Mode, TaskResponse, TaskStatus};
use wan_animate_core::{ErrorKind, TaskEvent};

use crate::args::{TaskIdArgs, WaitArgs};
use crate::clock;
use crate::context::Context;
use crate::cost::Costing;
use crate::exit::Exit;
use crate::failure::Failure;
use crate::progress::{LiveView, byte_bar, feed, tasks_basis, typical_duration};
use crate::signals::{self, Signal, Signals};
use crate::speed::SpeedStore;
use wan_animate_core::predict::predictive_policy;

pub(crate) async fn status(ctx: &Context, args: TaskIdArgs) -> Result<(), Failure> {
    let task = ctx
        .client
        .get(&args.task_id)
        .await
        .map_err(|e| Failure::from(e).with_task_id(&args.task_id))?;
    let mut doc = serde_json::to_value(&task).unwrap_or_default();
    doc["local"] = json!({ "times": clock::task_times(&task) });
    if !ctx.printer.json {
        ctx.printer.result(&describe(&task));
    }
    // Exit by the task's state, as `wait` does: scripts can tell a failed task apart.
    if let Some(failure) = terminal_failure(&task) {
        return Err(failure.with_document(doc));
    }
    if ctx.printer.json {
        ctx.printer.json_document(&doc);
    }
    Ok(())
}

/// The failure a terminal, unsuccessful task means (the same kinds and exit codes as `wait`:
/// core's one mapping), or `None` while it is pending or running, or succeeded.
pub(crate) fn terminal_failure(task: &TaskResponse) -> Option<Failure> {
    match wan_animate_core::TaskOutcome::from_response(task) {
        wan_animate_core::TaskOutcome::Failed(e) => Some(Failure::from(e)),
        _ => None,
    }
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
    costing: &Costing,
) -> Result<(), Failure> {
    let opts = FinishOptions {
        output: args.output,
        no_download: args.no_download,
        force: args.force,
        cancel_on_timeout: args.cancel_on_timeout,
        events: args.events,
        timeout,
        uploaded: Vec::new(),
        started: Instant::now(),
        estimate: None,
        // Recorded when this CLI submitted it; else unknown, and the wait backs off.
        predict: SpeedStore::from_env(ctx.sim.is_some())
            .and_then(|store| store.submitted(&args.task_id)),
    };
    check_output(ctx, &opts, Some(&args.task_id))?;
    wait_and_finish(ctx, &args.task_id, opts, costing).await
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
    /// When the command started (for the total time of the summary).
    pub(crate) started: Instant,
    /// The cost estimate made before submitting, with its model and mode.
    pub(crate) estimate: Option<(String, String, Estimate)>,
    /// The task's mode and output length (seconds), when known: the wait predicts its end
    /// and the finished task teaches the speed model.
    pub(crate) predict: Option<(Mode, f64)>,
}

/// `-o -`.
fn is_stdout(p: &Path) -> bool {
    p.as_os_str() == "-"
}

/// Checks where the result will go before anything is paid or waited for: an existing file
/// without `--force`, a missing or unwritable directory and a directory as output are refused;
/// `-o -` excludes every other use of stdout. `task_id` is known for `wait`, not yet for `run`.
pub(crate) fn check_output(
    ctx: &Context,
    opts: &FinishOptions,
    task_id: Option<&str>,
) -> Result<(), Failure> {
    if opts.no_download {
        return Ok(());
    }
    let usage = |m: &str| Failure::new(Exit::Usage, "usage", m.to_owned());
    match &opts.output {
        Some(p) if is_stdout(p) => {
            if ctx.printer.json {
                return Err(usage(
                    "-o - writes the video to stdout, which --json also uses: give a file name with --json",
                ));
            }
            if opts.events {
                return Err(usage(
                    "-o - writes the video to stdout, which --events also uses: give a file name with --events",
                ));
            }
            Ok(())
        }
        Some(p) => check_destination(p, opts.force).map_err(Failure::from),
        None => match task_id {
            Some(id) => check_destination(&default_output(id), opts.force).map_err(Failure::from),
            // The name is not known yet: check that the current directory takes a new file.
            None => check_destination(Path::new("wan-animate-output-check.mp4"), true)
                .map_err(Failure::from),
        },
    }
}

/// `./<task_id>.mp4`, with the id made safe: nothing from the server becomes a path of its
/// choosing (no `/`, `..`, control characters or hidden names).
pub(crate) fn default_output(task_id: &str) -> PathBuf {
    // One sanitiser, in core: the same rule for every command that names a file after a task.
    PathBuf::from(wan_animate_core::download::default_output_name(task_id))
}

/// Waits for the task to end (a live status line, or event lines), then downloads the result.
/// A signal or the deadline prints the task id and the command that resumes it.
pub(crate) async fn wait_and_finish(
    ctx: &Context,
    task_id: &str,
    opts: FinishOptions,
    costing: &Costing,
) -> Result<(), Failure> {
    let resume = format!("resume with: wan-animate wait {task_id}");
    signals::set_known(format!("task id: {task_id}\n{resume}"));
    let mut signals = Signals::install();
    let started = Instant::now();
    let mut live = LiveView::new(ctx.printer.progress);
    let store = SpeedStore::from_env(ctx.sim.is_some());
    let mut policy = ctx.client.poll_policy().clone();
    // Predictive polling when the output length is known and the account's model has seen
    // a finished task of this mode; the plain backoff otherwise.
    if let (Some(store), Some((mode, secs))) = (&store, &opts.predict) {
        let speed = store.load(&ctx.printer);
        if let Some(p) = predictive_policy(&policy, &speed, mode, *secs) {
            if let Some(e) = &p.expectation {
                let n = match mode {
                    Mode::Pro => speed.pro_samples,
                    _ => speed.std_samples,
                };
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                live.set_typical(e.queue + e.run, tasks_basis("predicted from", n));
            }
            policy = p;
        }
    }
    // Without a prediction: what this account's recent tasks took, for an estimate of the
    // time left (terminal only).
    let mut typical = (live.enabled() && policy.expectation.is_none()).then(|| {
        let client = ctx.client.clone();
        let mut query = wan_animate_core::types::ListTasksQuery::new()
            .with_status(TaskStatus::Succeeded)
            .with_page_size(20);
        if let Some((model, _, _)) = &opts.estimate {
            query = query.with_model_name(model.as_str());
        }
        tokio::spawn(async move { client.list(&query).await })
    });
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    if let Some(t) = opts.timeout {
        policy = policy.with_max_wait(t);
    }
    policy = policy.with_cancel_on_deadline(opts.cancel_on_timeout);
    let mut events = Box::pin(ctx.client.watch_with(task_id, &policy));
    let mut last: Option<TaskResponse> = None;
    let outcome = loop {
        let next = tokio::select! {
            e = events.next() => e,
            _ = tick.tick(), if live.enabled() => {
                live.redraw();
                continue;
            }
            r = async { typical.as_mut().expect("guarded").await }, if typical.is_some() => {
                typical = None;
                if let Ok(Ok(page)) = r
                    && let Some((d, n)) = typical_duration(&page.data) {
                        live.set_typical(d, tasks_basis("median of", n));
                    }
                continue;
            }
            sig = signals.recv() => {
                live.finish();
                let mut failure = interrupted(sig, format!("{} while waiting for task {task_id}; the task keeps running", sig.name()))
                    .with_task_id(task_id)
                    .with_hint(resume.clone());
                if opts.cancel_on_timeout && last.as_ref().is_some_and(|t| t.output.task_status == TaskStatus::Pending) {
                    match ctx.client.cancel(task_id).await {
                        Ok(_) => {
                            failure.message = format!("{} while waiting for task {task_id}; it was still PENDING and has been canceled as asked", sig.name());
                            failure.hint = None;
                        }
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
                    TaskEvent::Status { task, previous, .. } => {
                        let status = task.output.task_status.clone();
                        let change = match &previous {
                            Some(p) => shown(&format!("{p} -> {status}")),
                            None => shown(status.as_str()),
                        };
                        let now = clock::get().human(jiff::Timestamp::now().as_millisecond());
                        let after = elapsed(started.elapsed());
                        let line = format!("{now}  task {task_id}: {change} after {after}");
                        if opts.events && !ctx.printer.json {
                            ctx.printer.result(&line);
                        }
                        if previous.is_none()
                            && let Some(age) = task
                                .output
                                .submit_time
                                .as_ref()
                                .and_then(|t| t.to_system_time())
                                .and_then(|t| std::time::SystemTime::now().duration_since(t).ok())
                        {
                            live.set_age(age);
                        }
                        // The live view's line is short (the id is printed above it), so
                        // it never wraps under the bar.
                        live.status(status.as_str(), &format!("{now}  {change} after {after}"));
                        if !ctx.printer.progress && !ctx.printer.json && !opts.events {
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
    live.finish();
    drop(typical);
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
            if kind == ErrorKind::Timeout && !failure.message.contains("has been canceled") {
                failure = failure.with_hint(resume);
            }
            return Err(failure);
        }
    };
    if let (Some(store), Some((mode, secs))) = (&store, &opts.predict)
        && task.output.task_status == TaskStatus::Succeeded
    {
        store.observe(&task, mode, *secs, &ctx.printer);
    }
    let mut doc = serde_json::to_value(&task).unwrap_or_default();
    let mut local = json!({ "uploaded": opts.uploaded, "times": clock::task_times(&task) });
    let url = task.output.video_url().map(str::to_owned);
    let billed = task.usage.as_ref().and_then(|u| u.video_duration);
    let mut summary = Summary {
        status: task.output.task_status.to_string(),
        billed,
        cost: None,
        bytes: None,
        path: None,
        total: Duration::ZERO,
    };
    if let (Some((model, mode, _)), Some(secs)) = (&opts.estimate, billed) {
        let e = costing.estimate(model, mode, secs);
        if let (Some(cost), Some(p)) = (e.cost, &e.price) {
            summary.cost = Some(if costing.simulated() {
                format!(
                    "{cost:.2} {} at list price (the simulator bills nothing)",
                    p.currency
                )
            } else {
                format!("{cost:.2} {}", p.currency)
            });
        }
        local["estimate"] = costing.json(&e);
    }
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
        let to_stdout = opts.output.as_deref().is_some_and(is_stdout);
        let dest = match &opts.output {
            Some(p) if !to_stdout => p.clone(),
            _ => default_output(task_id),
        };
        let resume_download = if to_stdout {
            format!("the result stays downloadable for 24 h: wan-animate download {task_id} -o -")
        } else {
            format!(
                "the result stays downloadable for 24 h: wan-animate download {task_id} -o {}",
                dest.display()
            )
        };
        signals::set_known(format!("task id: {task_id}\n{resume_download}"));
        let bar = byte_bar(ctx.printer.progress, "download");
        let mut dl = DownloadOptions::new().with_overwrite(opts.force);
        if let Some(b) = bar.clone() {
            dl = dl.with_progress(feed(b));
        }
        let download = async {
            if to_stdout {
                download_to_stdout(ctx, &url, dl).await
            } else {
                ctx.client
                    .download(&url, &dest, dl)
                    .await
                    .map(|d| (Some(d.path), d.bytes))
                    .map_err(Failure::from)
            }
        };
        let downloaded = tokio::select! {
            d = download => d,
            sig = signals.recv() => {
                if let Some(b) = &bar {
                    b.finish_and_clear();
                }
                return Err(interrupted(sig, format!("{} while downloading the result of task {task_id}; the task succeeded and is paid", sig.name()))
                    .with_task_id(task_id)
                    .with_hint(resume_download)
                    .with_document(doc));
            }
        };
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        let (path, bytes) = downloaded.map_err(|f| {
            f.with_task_id(task_id)
                .with_hint(resume_download.clone())
                .with_document(doc.clone())
        })?;
        summary.bytes = Some(bytes);
        if let Some(path) = &path {
            local["output_path"] = json!(path.display().to_string());
            ctx.printer.result(&path.display().to_string());
        } else {
            local["output_path"] = json!("-");
        }
        summary.path = path.map(|p| p.display().to_string());
        local["bytes"] = json!(bytes);
    } else if let Some(url) = &url {
        ctx.printer.result(url);
    }
    summary.total = opts.started.elapsed();
    if !ctx.printer.json {
        ctx.printer.note(&summary.line());
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

/// The failure a signal ends a command with (130, 143 or 129).
pub(crate) fn interrupted(sig: Signal, message: String) -> Failure {
    Failure::new(sig.exit(), "interrupted", message)
}

/// Downloads into a private temporary directory, then copies the file to stdout: nothing but
/// the video's bytes reaches stdout, and a broken download never sends a partial video.
async fn download_to_stdout(
    ctx: &Context,
    url: &str,
    dl: DownloadOptions,
) -> Result<(Option<PathBuf>, u64), Failure> {
    let dir = std::env::temp_dir().join(format!(
        "wan-animate-stdout-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir(&dir).map_err(|e| {
        Failure::from(wan_animate_core::Error::local_io(
            "create a temporary directory for -o -",
            &dir,
            e,
        ))
    })?;
    let path = dir.join("video.mp4");
    let result = async {
        ctx.client
            .download(url, &path, dl)
            .await
            .map_err(Failure::from)?;
        let mut file = std::fs::File::open(&path).map_err(|e| {
            Failure::from(wan_animate_core::Error::local_io(
                "read the downloaded video",
                &path,
                e,
            ))
        })?;
        let mut out = std::io::stdout().lock();
        let n = std::io::copy(&mut file, &mut out)
            .and_then(|n| std::io::Write::flush(&mut out).map(|()| n))
            .map_err(|e| {
                Failure::new(
                    Exit::LocalIo,
                    "local_io",
                    format!("writing the video to stdout failed: {e}"),
                )
            })?;
        Ok((None, n))
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// The last line of a finished `run`/`wait`.
struct Summary {
    status: String,
    billed: Option<f64>,
    cost: Option<String>,
    bytes: Option<u64>,
    path: Option<String>,
    total: Duration,
}

impl Summary {
    fn line(&self) -> String {
        let mut parts = vec![self.status.clone()];
        if let Some(b) = self.billed {
            parts.push(format!("{b} s billed"));
        }
        if let Some(c) = &self.cost {
            parts.push(format!("about {c}"));
        }
        if let Some(b) = self.bytes {
            parts.push(human_bytes(b));
        }
        match &self.path {
            Some(p) => parts.push(p.clone()),
            None if self.bytes.is_some() => parts.push("written to stdout".into()),
            None => {}
        }
        parts.push(format!("{} total", elapsed(self.total)));
        format!("done: {}", parts.join(", "))
    }
}

fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if b < 1024 {
        return format!("{b} B");
    }
    let mut v = b as f64;
    let mut unit = "B";
    for u in UNITS {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
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
            "at": clock::now_iso(),
            "task": task,
        }),
        TaskEvent::Finished(task) => json!({
            "event": "finished",
            "task_id": task_id,
            "status": task.output.task_status.as_str(),
            "at": clock::now_iso(),
            "task": task,
        }),
        other => json!({ "event": "other", "task_id": task_id, "detail": format!("{other:?}") }),
    }
}

/// One human line for a task.
pub(crate) fn describe(task: &TaskResponse) -> String {
    let o = &task.output;
    let mut s = format!("{}  {}", shown(&o.task_id), shown(o.task_status.as_str()));
    if let Some(t) = &o.submit_time {
        s.push_str(&format!("  submitted {}", clock::service_time(t)));
    }
    if let Some(t) = &o.end_time {
        s.push_str(&format!("  ended {}", clock::service_time(t)));
    }
    if let (Some(code), msg) = (&o.code, &o.message) {
        s.push_str(&format!(
            "  {}: {}",
            shown(code),
            shown(msg.as_deref().unwrap_or(""))
        ));
    }
    if let Some(u) = &task.usage
        && let Some(d) = u.video_duration
    {
        s.push_str(&format!("  {d} s billed"));
    }
    if let Some(url) = o.video_url() {
        s.push_str(&format!("\n{}", shown(url)));
    }
    s
}

/// A server's string made safe for a terminal: control characters (escape sequences,
/// newlines, carriage returns) are shown escaped instead of acting on the terminal.
pub(crate) fn shown(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_owned();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn elapsed(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m{:02}s", s / 3600, (s / 60) % 60, s % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_output_names_never_escape_the_current_directory() {
        for (id, want) in [
            ("abc-123", "abc-123.mp4"),
            ("../../x", "_.._x.mp4"),
            ("/etc/passwd", "_etc_passwd.mp4"),
            ("..", "result.mp4"),
            (".", "result.mp4"),
            ("", "result.mp4"),
            ("a\nb\x1b[31m", "a_b__31m.mp4"),
        ] {
            let p = default_output(id);
            assert_eq!(p, PathBuf::from(want), "{id:?}");
            assert_eq!(p.components().count(), 1, "{id:?}");
        }
    }

    #[test]
    fn control_characters_from_the_server_are_shown_escaped() {
        assert_eq!(shown("plain-id"), "plain-id");
        assert_eq!(shown("a\x1b[31mred\nb\r"), "a\\u{1b}[31mred\\nb\\r");
    }

    #[test]
    fn summary_line_has_status_billing_cost_size_path_and_time() {
        let s = Summary {
            status: "SUCCEEDED".into(),
            billed: Some(5.0),
            cost: Some("3.00 CNY".into()),
            bytes: Some(3306),
            path: Some("out.mp4".into()),
            total: Duration::from_secs(75),
        };
        assert_eq!(
            s.line(),
            "done: SUCCEEDED, 5 s billed, about 3.00 CNY, 3.2 KiB, out.mp4, 1m15s total"
        );
    }
}
