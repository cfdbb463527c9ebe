//! The steps of one job: upload, submit (write-ahead), reconcile, poll, download. Each
//! step starts from the job's in-memory record and ends with one recorded transition.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wan_animate_core::ErrorKind;
use wan_animate_core::download::DownloadOptions;
use wan_animate_core::input::Input;
use wan_animate_core::types::{
    CreateTaskRequest, EpochMillis, ListTasksQuery, ListTime, Model, TaskStatus,
};

use super::{BatchError, Shared, UploadKey, now_ms};
use crate::ledger::{JobRecord, JobState, JobUpdate, StoredUpload};
use crate::manifest::{Job, MediaSource};
use crate::report::kind_name;

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
    loop {
        if shared.stopped() {
            return Ok(());
        }
        match rec.state() {
            s if s.is_final() => return Ok(()),
            JobState::Queued => upload(shared, job, rec).await?,
            JobState::Uploaded => submit(shared, job, rec, held).await?,
            JobState::Submitting => reconcile(shared, job, rec, held).await?,
            JobState::Submitted => poll(shared, job, rec, held).await?,
            JobState::Succeeded => download(shared, job, rec).await?,
            _ => return Ok(()),
        }
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
                JobUpdate::ErrorKind(kind_name(e.kind())),
                JobUpdate::ErrorCode(e.code().map(str::to_owned)),
                JobUpdate::ErrorMessage(e.to_string()),
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
}

async fn upload(shared: &Shared, job: &Job, rec: &mut JobRecord) -> Result<(), BatchError> {
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
                        tokio::time::sleep(Duration::from_secs(1)).await;
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
            .filter(|(_, expires)| *expires > now_ms() + margin)
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
    let (l, m) = (local.clone(), model.as_str().to_owned());
    if let Ok(Ok(Some(url))) = shared
        .ledger
        .call(move |s| s.cached_upload(&l, &m, size, mtime, now_ms(), margin))
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
    let started = now_ms();
    let attempts = rec.attempts + 1;
    shared
        .record(
            rec,
            JobState::Submitting,
            vec![
                JobUpdate::SubmitStartedAt(started),
                JobUpdate::Attempts(attempts),
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
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Ok(())
                }
                _ => fail_job(shared, rec, &e).await,
            }
        }
    }
}

/// A job recorded as `submitting` with no task id: the process died around the create.
async fn reconcile(
    shared: &Shared,
    job: &Job,
    rec: &mut JobRecord,
    held: &mut bool,
) -> Result<(), BatchError> {
    let model = job.model.as_str().to_owned();
    acquire_slot(shared, &model, held).await?;
    let _serial = shared.submit_locks[&model].lock().await;
    let sent = rec.submit_started_at.unwrap_or_else(now_ms);
    let settle_ms = shared.opts.reconcile_settle.as_millis() as i64;
    let wait = sent + settle_ms - now_ms();
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    }
    let query = ListTasksQuery::new()
        .with_model_name(model.clone())
        .with_start_time(ListTime::from_unix_millis(sent - 10 * 60_000))
        .with_end_time(ListTime::from_unix_millis(now_ms() + 10 * 60_000))
        .with_page_size(100);
    let mut tasks = Vec::new();
    {
        use futures_util::StreamExt;
        let mut stream = std::pin::pin!(shared.client.list_all(query));
        while let Some(t) = stream.next().await {
            match t {
                Ok(t) => tasks.push(t),
                Err(e) => {
                    give_back(shared, &model, held);
                    if is_fatal(e.kind()) {
                        stop(shared, e);
                    } else {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    return Ok(());
                }
            }
        }
    }
    let known: HashSet<String> = shared
        .ledger
        .call(|s| s.known_task_ids())
        .await??
        .into_iter()
        .collect();
    let found = wan_animate_core::reconcile_candidates(
        &tasks,
        &model,
        sent - 60_000,
        now_ms() + 60_000,
        &known,
    );
    match found.as_slice() {
        [one] => {
            shared.client.remember_task_ids([one.task_id.as_str()]);
            let (id, status, request) = (
                one.task_id.clone(),
                one.status.as_str().to_owned(),
                one.request_id.clone(),
            );
            shared
                .record(
                    rec,
                    JobState::Submitted,
                    vec![
                        JobUpdate::TaskId(id),
                        JobUpdate::TaskStatus(status),
                        JobUpdate::SubmitRequestId(request),
                    ],
                    Some("adopted on resume"),
                )
                .await
        }
        [] => {
            // Submissions are serialized per model and every created task is recorded, so a
            // create that left no task in the list never reached the service.
            give_back(shared, &model, held);
            shared
                .record(
                    rec,
                    JobState::Uploaded,
                    vec![],
                    Some("no task was created before the interruption"),
                )
                .await
        }
        many => {
            give_back(shared, &model, held);
            let ids: Vec<&str> = many.iter().map(|t| t.task_id.as_str()).collect();
            let message = format!(
                "an interrupted create may have made one of {ids:?}; check them and give this job a new id if none is it"
            );
            shared
                .record(
                    rec,
                    JobState::NeedsAttention,
                    vec![
                        JobUpdate::ErrorKind(kind_name(ErrorKind::SubmitOutcomeUnknown)),
                        JobUpdate::ErrorMessage(message),
                    ],
                    Some("ambiguous on resume"),
                )
                .await
        }
    }
}

async fn poll(
    shared: &Shared,
    job: &Job,
    rec: &mut JobRecord,
    held: &mut bool,
) -> Result<(), BatchError> {
    let model = job.model.as_str().to_owned();
    acquire_slot(shared, &model, held).await?;
    let task_id = rec.task_id.clone().unwrap_or_default();
    loop {
        if shared.stopped() {
            return Ok(());
        }
        shared.queries.acquire().await;
        match shared.client.get(&task_id).await {
            Ok(task) => {
                let o = &task.output;
                let status = o.task_status.as_str().to_owned();
                match &o.task_status {
                    TaskStatus::Succeeded => {
                        give_back(shared, &model, held);
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
                                    JobUpdate::TaskStatus(status),
                                    JobUpdate::VideoDuration(duration),
                                    JobUpdate::VideoRatio(ratio),
                                    JobUpdate::ResultUrl(o.video_url().map(str::to_owned)),
                                ],
                                None,
                            )
                            .await;
                    }
                    TaskStatus::Failed | TaskStatus::Canceled | TaskStatus::Unknown => {
                        give_back(shared, &model, held);
                        let to = match o.task_status {
                            TaskStatus::Failed => JobState::Failed,
                            TaskStatus::Canceled => JobState::Canceled,
                            _ => JobState::Unknown,
                        };
                        let kind = match o.task_status {
                            TaskStatus::Failed => kind_name(
                                match wan_animate_core::classify(None, o.code.as_deref()) {
                                    k @ (ErrorKind::ContentModeration
                                    | ErrorKind::InvalidInput
                                    | ErrorKind::QuotaOrBilling) => k,
                                    _ => ErrorKind::TaskFailed,
                                },
                            ),
                            TaskStatus::Canceled => kind_name(ErrorKind::TaskCanceled),
                            _ => kind_name(ErrorKind::TaskUnknown),
                        };
                        return shared
                            .record(
                                rec,
                                to,
                                vec![
                                    JobUpdate::TaskStatus(status),
                                    JobUpdate::ErrorKind(kind),
                                    JobUpdate::ErrorCode(o.code.clone()),
                                    JobUpdate::ErrorMessage(o.message.clone().unwrap_or_default()),
                                    JobUpdate::RequestId(task.request_id.clone()),
                                ],
                                None,
                            )
                            .await;
                    }
                    _ => {
                        if rec.task_status.as_deref() != Some(status.as_str()) {
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
                }
            }
            Err(e) if is_fatal(e.kind()) => {
                stop(shared, e);
                return Ok(());
            }
            Err(e) => tracing::warn!(job = %job.id, error = %e, "query failed; will retry"),
        }
        tokio::time::sleep(shared.opts.poll_interval).await;
    }
}

async fn download(shared: &Shared, job: &Job, rec: &mut JobRecord) -> Result<(), BatchError> {
    let dest = shared.opts.out_dir.join(&job.output);
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).map_err(BatchError::Io)?;
    }
    let url = match &rec.result_url {
        Some(u) => u.clone(),
        None => {
            return shared
                .record(
                    rec,
                    JobState::Failed,
                    vec![JobUpdate::ErrorMessage(
                        "the task succeeded without a video URL".into(),
                    )],
                    None,
                )
                .await;
        }
    };
    // The output belongs to this job: a file left by an interrupted run is replaced atomically.
    match shared
        .client
        .download(&url, &dest, DownloadOptions::new().with_overwrite(true))
        .await
    {
        Ok(done) => {
            let path = dest.clone();
            let sha = tokio::task::spawn_blocking(move || sha256_file(&path))
                .await
                .map_err(|e| BatchError::Io(std::io::Error::other(e)))?
                .map_err(BatchError::Io)?;
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
                .await
        }
        Err(e) if e.is_transient() => {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok(())
        }
        Err(e) => fail_job(shared, rec, &e).await,
    }
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
