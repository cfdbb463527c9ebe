//! The steps of one job: upload, submit (write-ahead), reconcile, poll, download. Each
//! step starts from the job's in-memory record and ends with one recorded transition.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, UNIX_EPOCH};

use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use wan_animate_core::download::DownloadOptions;
use wan_animate_core::input::Input;
use wan_animate_core::types::{CreateTaskRequest, EpochMillis, Model, TaskStatus, TaskSummary};
use wan_animate_core::{
    ErrorKind, PollPolicy, ReconcileRequest, Reconciled, TaskEvent, TaskOutcome,
};

use super::{BatchError, Shared, UploadKey};
use crate::ledger::{JobRecord, JobState, JobUpdate, StoredUpload};
use crate::manifest::{Job, MediaSource};
use crate::rate::Backoff;
use crate::report::ParkedDownload;

/// Takes one job from its recorded state to a final one.
pub(super) async fn drive(shared: &Shared, job: Job, mut rec: JobRecord) -> Result<(), BatchError> {
    // Whether this job holds one of its model's in-flight slots (a task may be unfinished).
    let mut held = false;
    let model = job.model.as_str().to_owned();
    let result = drive_states(shared, &job, &mut rec, &mut held).await;
    if held {
        release_slot(shared, &model);
    }
    result
}

async fn acquire_slot(shared: &Shared, model: &str, held: &mut bool) -> Result<(), BatchError> {
    if !*held {
        let permit = shared.in_flight[model]
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| BatchError::Io(std::io::Error::other("closed")))?;
        permit.forget(); // given back by release_slot
        *held = true;
    }
    Ok(())
}

fn give_back(shared: &Shared, model: &str, held: &mut bool) {
    if *held {
        release_slot(shared, model);
        *held = false;
    }
}

fn release_slot(shared: &Shared, model: &str) {
    shared.in_flight[model].add_permits(1);
}

async fn drive_states(
    shared: &Shared,
    job: &Job,
    rec: &mut JobRecord,
    held: &mut bool,
) -> Result<(), BatchError> {
    // One back-off per job: a step that keeps failing transiently is retried after 1 s,
    // 2 s, 4 s, ... up to a minute; any progress starts it again at 1 s.
    let mut backoff = Backoff::default();
    // Whether this job's estimate is committed against the budget (a job the ledger shows
    // as submitted was counted when the run started).
    let mut reserved = crate::budget::counts(rec.state());
    loop {
        if shared.stopped() {
            return Ok(());
        }
        let before = (rec.state(), rec.task_status.clone());
        if let Some(budget) = &shared.budget
            && !reserved
            && matches!(rec.state(), JobState::Queued | JobState::Uploaded)
        {
            // Checked before the upload too, so that a job that cannot be paid for is not
            // uploaded either. It stays where it is, with the reason in the audit trail.
            if let Err(note) = budget.reserve(&job.id) {
                tracing::warn!(job = %job.id, "{note}");
                let state = rec.state();
                return shared.record(rec, state, vec![], Some(&note)).await;
            }
            reserved = true;
        }
        match rec.state() {
            s if s.is_final() => return Ok(()),
            JobState::Queued => upload(shared, job, rec, &mut backoff).await?,
            JobState::Uploaded => submit(shared, job, rec, held, &mut backoff).await?,
            JobState::Submitting => reconcile(shared, job, rec, held, &mut backoff).await?,
            JobState::Submitted => poll(shared, job, rec, held, &mut backoff).await?,
            JobState::Succeeded => {
                if download(shared, job, rec, &mut backoff).await? == Download::Parked {
                    // Stays `succeeded`: not tried again in this run, resumed by the next.
                    return Ok(());
                }
            }
            _ => return Ok(()),
        }
        if reserved
            && rec.state() == JobState::Failed
            && rec.task_id.is_none()
            && let Some(budget) = &shared.budget
        {
            // Nothing was created, so nothing will be billed.
            budget.release(&job.id);
            reserved = false;
        }
        if (rec.state(), rec.task_status.clone()) != before {
            backoff.reset();
        }
    }
}

/// Sleeps the job's next back-off delay on the injected sleep, or less if the batch stops.
async fn back_off(shared: &Shared, backoff: &mut Backoff) {
    sleep_unless_stopped(shared, backoff.next_delay()).await;
}

/// Sleeps `d` on the injected sleep, or less if the batch stops meanwhile.
async fn sleep_unless_stopped(shared: &Shared, d: Duration) {
    let mut stopped = shared.stop_signal.subscribe();
    tokio::select! {
        _ = shared.sleep(d) => {}
        _ = stopped.wait_for(|s| *s) => {}
    }
}

async fn fail_job(
    shared: &Shared,
    rec: &mut JobRecord,
    e: &wan_animate_core::Error,
) -> Result<(), BatchError> {
    shared
        .record(
            rec,
            JobState::Failed,
            vec![
                JobUpdate::ErrorKind(e.kind().as_str().to_owned()),
                JobUpdate::ErrorCode(e.code().map(str::to_owned)),
                JobUpdate::ErrorMessage(e.full_message()),
                JobUpdate::RequestId(e.request_id().map(str::to_owned)),
            ],
            Some("failed"),
        )
        .await
}

/// Errors that concern every job stop the batch; everything else is this job's.
fn is_fatal(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Auth | ErrorKind::QuotaOrBilling | ErrorKind::Config
    )
}

fn stop(shared: &Shared, e: wan_animate_core::Error) {
    if let Ok(mut f) = shared.fatal.lock() {
        f.get_or_insert(e);
    }
    // Waits and back-offs in progress end now.
    shared.stop_signal.send_replace(true);
}

async fn upload(
    shared: &Shared,
    job: &Job,
    rec: &mut JobRecord,
    backoff: &mut Backoff,
) -> Result<(), BatchError> {
    let mut urls = Vec::new();
    for (source, kind) in [
        (&job.image, wan_animate_media::MediaKind::Image),
        (&job.video, wan_animate_media::MediaKind::Video),
    ] {
        let url = match source {
            MediaSource::Url(u) | MediaSource::Oss(u) => {
                Input::parse(u).to_wire_url().unwrap_or_default()
            }
            MediaSource::File(path) => {
                if shared.opts.preflight
                    && let Err(e) = preflight_cached(shared, path, kind).await?
                {
                    return fail_job(shared, rec, &e).await;
                }
                match upload_cached(shared, &job.model, path).await {
                    Ok(u) => u,
                    Err(e) if is_fatal(e.kind()) => {
                        stop(shared, e);
                        return Ok(());
                    }
                    Err(e) if e.is_transient() => {
                        tracing::warn!(job = %job.id, error = %e, "upload failed; will retry");
                        back_off(shared, backoff).await;
                        return Ok(()); // stays queued; tried again
                    }
                    Err(e) => return fail_job(shared, rec, &e).await,
                }
            }
        };
        urls.push(url);
    }
    let video = urls.pop().unwrap_or_default();
    let image = urls.pop().unwrap_or_default();
    shared
        .record(
            rec,
            JobState::Uploaded,
            vec![JobUpdate::ImageUrl(image), JobUpdate::VideoUrl(video)],
            None,
        )
        .await
}

/// Checks a local file against the documented limits; a pass is remembered per (file, size,
/// mtime), a failure is checked again for each job (it fails that job only).
async fn preflight_cached(
    shared: &Shared,
    path: &Path,
    kind: wan_animate_media::MediaKind,
) -> Result<Result<(), wan_animate_core::Error>, BatchError> {
    let key = std::fs::metadata(path).ok().map(|m| {
        let mtime = m
            .modified()
            .map(|t| EpochMillis::from_system_time(t).as_millis())
            .unwrap_or(0);
        (path.to_path_buf(), m.len(), mtime)
    });
    if let Some(key) = &key
        && shared.preflight_memo.lock().is_ok_and(|m| m.contains(key))
    {
        return Ok(Ok(()));
    }
    let p = path.to_path_buf();
    let verdict = tokio::task::spawn_blocking(move || wan_animate_core::input::preflight(&p, kind))
        .await
        .map_err(|e| BatchError::Io(std::io::Error::other(e)))?
        .map(|_| ());
    if let (Some(key), Ok(())) = (key, &verdict)
        && let Ok(mut memo) = shared.preflight_memo.lock()
    {
        memo.insert(key);
    }
    Ok(verdict)
}

/// Uploads shared by several jobs happen once (per file, size, mtime and model).
async fn upload_cached(
    shared: &Shared,
    model: &Model,
    path: &Path,
) -> Result<String, wan_animate_core::Error> {
    let meta = std::fs::metadata(path)
        .map_err(|e| wan_animate_core::Error::invalid_input(format!("{}: {e}", path.display())))?;
    let size = meta.len() as i64;
    let mtime = meta
        .modified()
        .map(|t| EpochMillis::from_system_time(t).as_millis())
        .unwrap_or(0);
    let local = path.display().to_string();
    let key: UploadKey = (local.clone(), model.as_str().to_owned(), size, mtime);
    let margin = 2 * 3600 * 1000; // never hand out a URL with less than 2 h left
    let memo = |shared: &Shared| {
        shared
            .upload_memo
            .lock()
            .ok()
            .and_then(|m| m.get(&key).cloned())
            .filter(|(_, expires)| *expires > shared.now_ms() + margin)
            .map(|(url, _)| url)
    };
    // Fast path: in memory, no lock, no ledger round trip.
    if let Some(url) = memo(shared) {
        return Ok(url);
    }
    let _serial = shared.upload_serial.lock().await;
    if let Some(url) = memo(shared) {
        return Ok(url);
    }
    let (l, m, now) = (local.clone(), model.as_str().to_owned(), shared.now_ms());
    if let Ok(Ok(Some(url))) = shared
        .ledger
        .call(move |s| s.cached_upload(&l, &m, size, mtime, now, margin))
        .await
    {
        return Ok(url);
    }
    let _permit = shared
        .uploads
        .acquire()
        .await
        .map_err(|_| wan_animate_core::Error::config("closed"))?;
    let up = shared.client.upload_file(model, path, None).await?;
    let expires = EpochMillis::from_system_time(up.expires_at).as_millis();
    if let Ok(mut m) = shared.upload_memo.lock() {
        m.insert(key, (up.oss_url.clone(), expires));
    }
    let stored = StoredUpload::new(
        local,
        model.as_str(),
        size,
        mtime,
        up.oss_url.clone(),
        expires,
    );
    let _ = shared.ledger.call(move |s| s.store_upload(&stored)).await;
    Ok(up.oss_url)
}

async fn submit(
    shared: &Shared,
    job: &Job,
    rec: &mut JobRecord,
    held: &mut bool,
    backoff: &mut Backoff,
) -> Result<(), BatchError> {
    let model = job.model.as_str().to_owned();
    // A slot for an unfinished task of this model; kept until the job's task ends.
    acquire_slot(shared, &model, held).await?;
    let _serial = shared.submit_locks[&model].lock().await;
    if shared.stopped() {
        give_back(shared, &model, held);
        return Ok(());
    }
    let mut request = CreateTaskRequest::new(
        job.model.clone(),
        rec.image_url.clone().unwrap_or_default(),
        rec.video_url.clone().unwrap_or_default(),
        job.mode.clone(),
    );
    if let Some(w) = job.watermark {
        request = request.with_watermark(w);
    }
    if let Some(c) = job.check_image {
        request = request.with_check_image(c);
    }
    shared.creates.acquire().await;
    // Recorded before the request: a crash from here on is reconciled, never resubmitted blindly.
    let started = shared.now_ms();
    let attempts = rec.attempts + 1;
    shared
        .record(
            rec,
            JobState::Submitting,
            vec![
                JobUpdate::SubmitStartedAt(started),
                JobUpdate::Attempts(attempts),
                // An earlier attempt's failed request id says nothing about this attempt.
                JobUpdate::RequestId(None),
            ],
            None,
        )
        .await?;
    match shared.client.submit(&request).await {
        Ok(task) => {
            shared
                .record(
                    rec,
                    JobState::Submitted,
                    vec![
                        JobUpdate::TaskId(task.task_id.clone()),
                        JobUpdate::SubmitRequestId(task.request_id.clone()),
                        JobUpdate::TaskStatus(task.status.as_str().to_owned()),
                    ],
                    Some(if task.adopted {
                        "adopted after an ambiguous create"
                    } else {
                        "created"
                    }),
                )
                .await
        }
        Err(e) => {
            give_back(shared, &model, held);
            match e.kind() {
                k if is_fatal(k) => {
                    shared
                        .record(
                            rec,
                            JobState::Uploaded,
                            vec![],
                            Some("not created (batch stopped)"),
                        )
                        .await?;
                    stop(shared, e);
                    Ok(())
                }
                // Still `submitting`: the ledger's reconciliation, which knows every task this
                // batch made, decides (adopt, retry when provably nothing was made, or ask).
                ErrorKind::SubmitOutcomeUnknown => {
                    tracing::warn!(job = %job.id, error = %e, "ambiguous create; reconciling with the ledger");
                    // The failed answer's request id, if any, narrows the reconciliation to
                    // that request's task; written with the job's next transition.
                    rec.request_id = e.request_id().map(str::to_owned);
                    Ok(())
                }
                // Throttled or unreachable after retries, with nothing created: try again later.
                k if k.is_transient() => {
                    shared
                        .record(
                            rec,
                            JobState::Uploaded,
                            vec![],
                            Some("not created; will retry"),
                        )
                        .await?;
                    tracing::warn!(job = %job.id, error = %e, "create failed (nothing was created); will retry");
                    back_off(shared, backoff).await;
                    Ok(())
                }
                _ => fail_job(shared, rec, &e).await,
            }
        }
    }
}

/// A job recorded as `submitting` with no task id: the process died around the create, or
/// the create failed ambiguously. Core's reconciliation decides, with every task id the
/// ledger knows excluded: adopt the one task provably this request's, re-queue only when a
/// complete, settled scan shows nothing of the model in the window, and otherwise ask a
/// person (docs/adr/0007).
async fn reconcile(
    shared: &Shared,
    job: &Job,
    rec: &mut JobRecord,
    held: &mut bool,
    backoff: &mut Backoff,
) -> Result<(), BatchError> {
    let model = job.model.as_str().to_owned();
    acquire_slot(shared, &model, held).await?;
    let _serial = shared.submit_locks[&model].lock().await;
    let sent_ms = rec.submit_started_at.unwrap_or_else(|| shared.now_ms());
    let settle = shared.opts.reconcile_settle;
    // The task list may lag a create: the first look is taken once the create is settled.
    let wait = sent_ms.saturating_add(settle.as_millis() as i64) - shared.now_ms();
    if wait > 0 {
        sleep_unless_stopped(shared, Duration::from_millis(wait as u64)).await;
        if shared.stopped() {
            give_back(shared, &model, held);
            return Ok(());
        }
    }
    let known = shared.ledger.call(|s| s.known_task_ids()).await??;
    shared
        .client
        .remember_task_ids(known.iter().map(String::as_str));
    let sent_at = UNIX_EPOCH + Duration::from_millis(sent_ms.max(0) as u64);
    // After a crash the failure time is unknown: the request had certainly ended by then.
    let failed_at = sent_at + shared.client.config().request_timeout();
    let mut request = ReconcileRequest::new(model.clone(), sent_at, failed_at).with_settle(settle);
    if let Some(id) = &rec.request_id {
        request = request.with_request_id(id.clone());
    }
    let found = match shared.client.reconcile_create(&request).await {
        Ok(found) => found,
        Err(e) => {
            give_back(shared, &model, held);
            if is_fatal(e.kind()) {
                stop(shared, e);
            } else {
                tracing::warn!(job = %job.id, error = %e, "reconciliation failed; will retry");
                back_off(shared, backoff).await;
            }
            return Ok(());
        }
    };
    let attention = |tasks: &[TaskSummary], what: &str| {
        let ids: Vec<&str> = tasks.iter().map(|t| t.task_id.as_str()).collect();
        format!(
            "an interrupted create may have made {what} {ids:?}; check them (wan-animate status TASK_ID) and give this job a new id if none is it"
        )
    };
    match found {
        Reconciled::Adopted(task) => {
            shared
                .record(
                    rec,
                    JobState::Submitted,
                    vec![
                        JobUpdate::TaskId(task.task_id.clone()),
                        JobUpdate::TaskStatus(task.status.as_str().to_owned()),
                        JobUpdate::SubmitRequestId(task.request_id.clone()),
                        JobUpdate::RequestId(rec.request_id.clone()),
                    ],
                    Some("adopted after an interrupted create"),
                )
                .await
        }
        Reconciled::NothingFound { unproven } if unproven.is_empty() => {
            // Submissions are serialized per model and every created task is recorded: a
            // settled, complete scan with nothing of the model in the window means the create
            // never reached the service.
            give_back(shared, &model, held);
            shared
                .record(
                    rec,
                    JobState::Uploaded,
                    vec![JobUpdate::RequestId(rec.request_id.clone())],
                    Some("no task was created before the interruption"),
                )
                .await
        }
        Reconciled::NothingFound { unproven } => {
            give_back(shared, &model, held);
            let message = attention(&unproven, "a task it cannot prove its own, one of");
            needs_attention(shared, rec, message).await
        }
        Reconciled::Ambiguous { candidates } => {
            give_back(shared, &model, held);
            let message = attention(&candidates, "one of");
            needs_attention(shared, rec, message).await
        }
        _ => {
            give_back(shared, &model, held);
            let message = "the outcome of an interrupted create is unknown; check the task list and give this job a new id if no task is it".to_owned();
            needs_attention(shared, rec, message).await
        }
    }
}

async fn needs_attention(
    shared: &Shared,
    rec: &mut JobRecord,
    message: String,
) -> Result<(), BatchError> {
    shared
        .record(
            rec,
            JobState::NeedsAttention,
            vec![
                JobUpdate::ErrorKind(ErrorKind::SubmitOutcomeUnknown.as_str().to_owned()),
                JobUpdate::ErrorMessage(message),
                JobUpdate::RequestId(rec.request_id.clone()),
            ],
            Some("outcome of the create unknown"),
        )
        .await
}

/// Waits for the job's task through core (`Client::watch_with`): every status change is
/// recorded, the end is mapped by core ([`wan_animate_core::TaskOutcome`]), and the queries
/// are paced by the client's task-API budget, shared by every job.
async fn poll(
    shared: &Shared,
    job: &Job,
    rec: &mut JobRecord,
    held: &mut bool,
    backoff: &mut Backoff,
) -> Result<(), BatchError> {
    let model = job.model.as_str().to_owned();
    acquire_slot(shared, &model, held).await?;
    let task_id = rec.task_id.clone().unwrap_or_default();
    let interval = shared.opts.poll_interval;
    let policy = PollPolicy::default()
        .with_initial_delay(interval)
        .with_multiplier(1.0)
        .with_max_delay(interval);
    let mut stopped = shared.stop_signal.subscribe();
    let mut events = std::pin::pin!(shared.client.watch_with(&task_id, &policy));
    loop {
        let event = tokio::select! {
            biased;
            // The batch stopped: the job stays `submitted`, resumed by the next run.
            _ = stopped.wait_for(|s| *s) => return Ok(()),
            event = events.next() => event,
        };
        match event {
            Some(Ok(TaskEvent::Status { task, .. })) => {
                let status = task.output.task_status.as_str().to_owned();
                // An end is recorded once, by the transition that follows it.
                let ended = TaskOutcome::from_response(&task).is_terminal();
                if !ended && rec.task_status.as_deref() != Some(status.as_str()) {
                    shared
                        .record(
                            rec,
                            JobState::Submitted,
                            vec![JobUpdate::TaskStatus(status)],
                            None,
                        )
                        .await?;
                }
            }
            Some(Ok(TaskEvent::Finished(task))) => {
                give_back(shared, &model, held);
                let o = &task.output;
                let duration = task.usage.as_ref().and_then(|u| u.video_duration);
                let ratio = task
                    .usage
                    .as_ref()
                    .and_then(|u| u.video_ratio.as_ref())
                    .map(|r| r.as_str().to_owned());
                return shared
                    .record(
                        rec,
                        JobState::Succeeded,
                        vec![
                            JobUpdate::TaskStatus(o.task_status.as_str().to_owned()),
                            JobUpdate::VideoDuration(duration),
                            JobUpdate::VideoRatio(ratio),
                            JobUpdate::ResultUrl(o.video_url().map(str::to_owned)),
                        ],
                        None,
                    )
                    .await;
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                // The task ended badly (core's mapping: an `Arrearage` failure is
                // quota_or_billing here as everywhere).
                let ended = match e.last_status() {
                    Some(TaskStatus::Failed) => Some(JobState::Failed),
                    Some(TaskStatus::Canceled) => Some(JobState::Canceled),
                    Some(TaskStatus::Unknown) => Some(JobState::Unknown),
                    _ => None,
                };
                if let (Some(to), false) = (ended, e.kind() == ErrorKind::Timeout) {
                    give_back(shared, &model, held);
                    let status = e.last_status().map(|s| s.as_str().to_owned());
                    let mut updates = vec![
                        JobUpdate::ErrorKind(e.kind().as_str().to_owned()),
                        JobUpdate::ErrorCode(e.code().map(str::to_owned)),
                        JobUpdate::ErrorMessage(e.full_message()),
                        JobUpdate::RequestId(e.request_id().map(str::to_owned)),
                    ];
                    if let Some(status) = status {
                        updates.insert(0, JobUpdate::TaskStatus(status));
                    }
                    return shared.record(rec, to, updates, None).await;
                }
                if is_fatal(e.kind()) {
                    stop(shared, e);
                    return Ok(());
                }
                tracing::warn!(job = %job.id, error = %e, "querying the task failed; will retry");
                back_off(shared, backoff).await;
                return Ok(()); // still `submitted`: the wait starts again
            }
            None => {
                // A wait always ends with `Finished` or an error; if not, look again later.
                back_off(shared, backoff).await;
                return Ok(());
            }
        }
    }
}

/// What a download step did.
#[derive(Debug, PartialEq, Eq)]
enum Download {
    /// Recorded a transition, or will be tried again.
    Progressed,
    /// Could not write locally: parked until the next run.
    Parked,
}

async fn download(
    shared: &Shared,
    job: &Job,
    rec: &mut JobRecord,
    backoff: &mut Backoff,
) -> Result<Download, BatchError> {
    let dest = shared.opts.out_dir.join(&job.output);
    if let Some(dir) = dest.parent()
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        let e = wan_animate_core::Error::local_io("create the output directory", dir, e);
        return park(shared, job, rec, &dest, &e);
    }
    let url = match &rec.result_url {
        Some(u) => u.clone(),
        None => {
            shared
                .record(
                    rec,
                    JobState::Failed,
                    vec![JobUpdate::ErrorMessage(
                        "the task succeeded without a video URL".into(),
                    )],
                    None,
                )
                .await?;
            return Ok(Download::Progressed);
        }
    };
    // The output belongs to this job: a file left by an interrupted run is replaced atomically.
    #[cfg_attr(not(test), allow(unused_mut))]
    let mut options = DownloadOptions::new().with_overwrite(true);
    #[cfg(test)]
    if let Some(space) = &shared.opts.disk_space {
        options = options.with_disk_space(space.clone());
    }
    match shared.client.download(&url, &dest, options).await {
        Ok(done) => {
            let path = dest.clone();
            let sha = tokio::task::spawn_blocking(move || sha256_file(&path))
                .await
                .map_err(|e| BatchError::Io(std::io::Error::other(e)))?;
            let sha = match sha {
                Ok(sha) => sha,
                Err(e) => {
                    let e = wan_animate_core::Error::local_io("read the download back", &dest, e);
                    return park(shared, job, rec, &dest, &e);
                }
            };
            shared
                .record(
                    rec,
                    JobState::Downloaded,
                    vec![
                        JobUpdate::OutputPath(dest.display().to_string()),
                        JobUpdate::OutputBytes(done.bytes as i64),
                        JobUpdate::OutputSha256(sha),
                    ],
                    None,
                )
                .await?;
            Ok(Download::Progressed)
        }
        Err(e) if e.kind() == ErrorKind::LocalIo => park(shared, job, rec, &dest, &e),
        Err(e) if e.is_transient() => {
            tracing::warn!(job = %job.id, error = %e, "download failed; will retry");
            back_off(shared, backoff).await;
            Ok(Download::Progressed)
        }
        Err(e) => {
            fail_job(shared, rec, &e).await?;
            Ok(Download::Progressed)
        }
    }
}

/// A download that cannot be written here (disk full, permission denied) is parked: the job
/// stays `succeeded`, the part file is kept, and the batch warns once for the whole run.
fn park(
    shared: &Shared,
    job: &Job,
    rec: &JobRecord,
    dest: &Path,
    e: &wan_animate_core::Error,
) -> Result<Download, BatchError> {
    let parked = ParkedDownload::new(
        job.id.clone(),
        rec.task_id.clone(),
        dest.display().to_string(),
        e.full_message(),
    );
    if !shared.warned_parked.swap(true, Ordering::SeqCst) {
        tracing::warn!(
            job = %job.id,
            path = %dest.display(),
            error = %e.full_message(),
            "could not write a download; its job stays succeeded and the other jobs go on. Free disk space or fix the permissions, then run the same command again within 24 h of the task's creation to download it (further downloads failing like this are listed in the report, not warned again)"
        );
    }
    if let Ok(mut p) = shared.parked.lock() {
        p.push(parked);
    }
    Ok(Download::Parked)
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
