//! Temporary uploads (spec §8): a policy from `{base}/uploads?action=getPolicy`, cached per
//! base URL and model, then a multipart form POST streamed from disk to the storage host.
//! The storage host never receives the API key or any DashScope header.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use wan_animate_media::MediaKind;
use wan_animate_types::{CreateTaskRequest, Mode, Model, UploadPolicy, UploadPolicyResponse};

use crate::client::{Client, SubmittedTask};
use crate::error::{Error, ErrorKind};
use crate::http::{BoxError, RequestBody};
use crate::input::{Input, preflight};
use crate::progress::{Progress, ProgressFn};
use crate::protocol;

/// `oss://` URLs live 48 hours.
pub const OSS_URL_LIFETIME: Duration = Duration::from_secs(48 * 3600);
/// The longest one upload may take.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(3600);
const CHUNK: usize = 64 * 1024;

/// A file in temporary storage.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct UploadedFile {
    /// The `oss://` URL to use as a task input (same model, same account).
    pub oss_url: String,
    /// The object key.
    pub key: String,
    /// Bytes uploaded.
    pub bytes: u64,
    /// When the URL stops working.
    #[serde(skip)]
    pub expires_at: SystemTime,
    /// The local file.
    pub path: PathBuf,
}

/// A task with local files or URLs as inputs: preflight, uploads and submit in one call.
///
/// ```no_run
/// # async fn demo(client: wan_animate_core::Client) -> Result<(), wan_animate_core::Error> {
/// use wan_animate_core::input::Input;
/// use wan_animate_core::types::{Mode, Model};
/// use wan_animate_core::upload::AnimateJob;
/// let job = AnimateJob::new(Model::AnimateMix, Input::parse("me.jpg"), Input::parse("dance.mp4"), Mode::Standard);
/// let submitted = client.submit_animate(job).await?;
/// println!("task {}", submitted.task.task_id);
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct AnimateJob {
    /// The model.
    pub model: Model,
    /// The character image.
    pub image: Input,
    /// The driving video.
    pub video: Input,
    /// The mode.
    pub mode: Mode,
    /// `input.watermark`.
    pub watermark: Option<bool>,
    /// `parameters.check_image`.
    pub check_image: Option<bool>,
    /// Check local files against the documented limits first (default: yes).
    pub preflight: bool,
    /// Upload progress (both files together).
    pub progress: Option<ProgressFn>,
}

impl std::fmt::Debug for AnimateJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnimateJob")
            .field("model", &self.model)
            .field("image", &self.image)
            .field("video", &self.video)
            .field("mode", &self.mode)
            .field("preflight", &self.preflight)
            .finish_non_exhaustive()
    }
}

impl AnimateJob {
    /// A job with preflight on and the service's defaults.
    pub fn new(model: Model, image: Input, video: Input, mode: Mode) -> Self {
        Self {
            model,
            image,
            video,
            mode,
            watermark: None,
            check_image: None,
            preflight: true,
            progress: None,
        }
    }

    /// Sets `input.watermark`.
    pub fn with_watermark(mut self, w: bool) -> Self {
        self.watermark = Some(w);
        self
    }

    /// Sets `parameters.check_image`.
    pub fn with_check_image(mut self, c: bool) -> Self {
        self.check_image = Some(c);
        self
    }

    /// Turns the local preflight on or off.
    pub fn with_preflight(mut self, p: bool) -> Self {
        self.preflight = p;
        self
    }

    /// Reports upload progress.
    pub fn with_progress(mut self, p: ProgressFn) -> Self {
        self.progress = Some(p);
        self
    }
}

/// What [`Client::submit_animate`] did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AnimateSubmission {
    /// The task.
    pub task: SubmittedTask,
    /// The local files that were uploaded for it.
    pub uploaded: Vec<UploadedFile>,
}

impl Client {
    /// Preflights local inputs (every violation of both files at once), uploads them
    /// concurrently, then submits with the `oss://` URLs.
    pub async fn submit_animate(&self, job: AnimateJob) -> Result<AnimateSubmission, Error> {
        job.image.validate()?;
        job.video.validate()?;
        if job.preflight {
            let mut problems = Vec::new();
            for (input, kind) in [
                (&job.image, MediaKind::Image),
                (&job.video, MediaKind::Video),
            ] {
                if let Input::File(p) = input
                    && let Err(e) = preflight(p, kind)
                {
                    problems.push(e);
                }
            }
            match problems.len() {
                0 => {}
                1 => return Err(problems.remove(0)),
                _ => {
                    let text: Vec<String> =
                        problems.iter().map(|e| e.summary().to_owned()).collect();
                    let code = problems[0].code().map(str::to_owned);
                    return Err(Error::invalid_input(text.join("\n"))
                        .with_service_error(code, None, None)
                        .with_next_step(crate::error::NextStep::CheckMedia {
                            paths: Vec::new(),
                            preflight: true,
                        }));
                }
            }
        }
        let (image, video) = futures_util::future::try_join(
            self.resolve_input(&job.model, &job.image, job.progress.clone()),
            self.resolve_input(&job.model, &job.video, job.progress.clone()),
        )
        .await?;
        let mut request =
            CreateTaskRequest::new(job.model.clone(), image.0, video.0, job.mode.clone());
        if let Some(w) = job.watermark {
            request = request.with_watermark(w);
        }
        if let Some(c) = job.check_image {
            request = request.with_check_image(c);
        }
        let task = self.submit(&request).await?;
        let uploaded = [image.1, video.1].into_iter().flatten().collect();
        Ok(AnimateSubmission { task, uploaded })
    }

    async fn resolve_input(
        &self,
        model: &Model,
        input: &Input,
        progress: Option<ProgressFn>,
    ) -> Result<(String, Option<UploadedFile>), Error> {
        match input {
            Input::File(path) => {
                let up = self.upload_file(model, path, progress).await?;
                Ok((up.oss_url.clone(), Some(up)))
            }
            other => Ok((other.to_wire_url().unwrap_or_default(), None)),
        }
    }

    /// Uploads a local file to temporary storage for `model` and returns its `oss://` URL
    /// (valid 48 h, usable only with that model and account).
    ///
    /// The policy comes from the API (with the key); the file goes to the storage host named
    /// by the policy (without it), streamed from disk.
    ///
    /// ```
    /// use wan_animate_core::test_util::{MockHttp, MockReply};
    /// use wan_animate_core::types::Model;
    /// use wan_animate_core::{Client, ClientConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let http = MockHttp::new(|req| match req.path() {
    ///     "/api/v1/uploads" => MockReply::json(200, r#"{"request_id":"r-p","data":{
    ///         "policy":"cG9saWN5","signature":"c2ln","upload_dir":"dashscope-instant/abc/2026-11-24/x",
    ///         "upload_host":"https://storage.example","expire_in_seconds":300,"max_file_size_mb":100,
    ///         "capacity_limit_mb":999999999,"oss_access_key_id":"LTAI-example",
    ///         "x_oss_object_acl":"private","x_oss_forbid_overwrite":"true"}}"#),
    ///     _ => MockReply::json(200, ""), // the storage host accepts the form
    /// });
    /// let client = Client::new(ClientConfig::new("sk-example"), http.clone())?;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let image = dir.path().join("me.jpg");
    /// let content = b"\xFF\xD8\xFF\xE0 not really a picture";
    /// std::fs::write(&image, content)?;
    ///
    /// let uploaded = client.upload_file(&Model::AnimateMix, &image, None).await?;
    /// assert!(uploaded.oss_url.starts_with("oss://dashscope-instant/abc/2026-11-24/x/"));
    /// assert_eq!(uploaded.bytes, content.len() as u64);
    /// // The storage host never sees the API key.
    /// let form = http.requests().into_iter().find(|r| r.uri.host() == Some("storage.example")).unwrap();
    /// assert!(form.header("authorization").is_none());
    /// # Ok(()) }
    /// ```
    pub async fn upload_file(
        &self,
        model: &Model,
        path: &Path,
        progress: Option<ProgressFn>,
    ) -> Result<UploadedFile, Error> {
        tracing::info!(model = %model, path = %path.display(), "uploading to temporary storage");
        let size = crate::input::regular_file(path, "file")?.len();
        if size == 0 {
            return Err(Error::invalid_input(format!(
                "{} is empty (0 bytes); give the image or video file",
                path.display()
            )));
        }
        let mut refreshed = false;
        loop {
            let policy = self.upload_policy(model, refreshed).await?;
            let max = policy.max_file_size_mb.saturating_mul(1024 * 1024);
            if max > 0 && size > max {
                return Err(Error::invalid_input(format!(
                    "{} is {:.1} MB; temporary storage for {model} accepts at most {} MB",
                    path.display(),
                    size as f64 / 1048576.0,
                    policy.max_file_size_mb
                )));
            }
            match self.post_form(&policy, path, size, progress.clone()).await {
                Ok(key) => {
                    return Ok(UploadedFile {
                        oss_url: format!("oss://{key}"),
                        key,
                        bytes: size,
                        expires_at: self.inner().clock.wall_now() + OSS_URL_LIFETIME,
                        path: path.to_path_buf(),
                    });
                }
                Err(e)
                    if !refreshed
                        && e.code() == Some("AccessDenied")
                        && e.message().is_some_and(|m| m.contains("Policy expired")) =>
                {
                    tracing::info!("upload policy expired; fetching a new one");
                    refreshed = true;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The cached policy for (base URL, model), or a fresh one.
    async fn upload_policy(
        &self,
        model: &Model,
        force_refresh: bool,
    ) -> Result<UploadPolicy, Error> {
        let key = format!("{}|{}", self.config().base_url(), model);
        let now = self.now();
        if !force_refresh
            && let Ok(cache) = self.inner().policy_cache.lock()
            && let Some((p, valid_until)) = cache.get(&key)
            && now < *valid_until
        {
            return Ok(p.clone());
        }
        let config = self.config().clone();
        let m = model.as_str().to_owned();
        let response: UploadPolicyResponse = self
            .call(
                "get upload policy",
                &move || protocol::build_policy_request(&config, &m),
                None,
            )
            .await?;
        let policy = response.data;
        let life = Duration::from_secs(policy.expire_in_seconds);
        // Stop using a policy shortly before it expires: 10% of its life, at least 10 s.
        let margin = (life / 10).max(Duration::from_secs(10)).min(life);
        if let Ok(mut cache) = self.inner().policy_cache.lock() {
            cache.insert(key, (policy.clone(), now + (life - margin)));
        }
        Ok(policy)
    }

    /// The multipart POST; returns the object key.
    async fn post_form(
        &self,
        policy: &UploadPolicy,
        path: &Path,
        size: u64,
        progress: Option<ProgressFn>,
    ) -> Result<String, Error> {
        let file_name = sanitize_file_name(path);
        let key = format!(
            "{}/{:016x}-{file_name}",
            policy.upload_dir.trim_end_matches('/'),
            crate::retry::next_u64()
        );
        let mime = wan_animate_media::probe_file(path)
            .map(|i| i.format.mime_type())
            .unwrap_or("application/octet-stream");
        let boundary = format!("wan-animate-{:016x}", crate::retry::next_u64());
        let fields: [(&str, &str); 8] = [
            ("OSSAccessKeyId", &policy.oss_access_key_id),
            ("policy", &policy.policy),
            ("Signature", &policy.signature),
            ("key", &key),
            ("x-oss-object-acl", &policy.x_oss_object_acl),
            ("x-oss-forbid-overwrite", &policy.x_oss_forbid_overwrite),
            ("success_action_status", "200"),
            ("x-oss-content-type", mime),
        ];
        let mut head = String::new();
        for (name, value) in fields {
            head.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            ));
        }
        head.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: {mime}\r\n\r\n"
        ));
        let tail = format!("\r\n--{boundary}--\r\n");
        let total = head.len() as u64 + size + tail.len() as u64;
        let policy_retry = self.config().retry().clone();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let local_failure = LocalFailure::default();
            let body = file_stream(
                path.to_path_buf(),
                Bytes::from(head.clone()),
                Bytes::from(tail.clone()),
                size,
                progress.clone(),
                local_failure.clone(),
            )
            .await?;
            // Deliberately a fresh request with no Authorization and no DashScope headers.
            let request = http::Request::builder()
                .method(http::Method::POST)
                .uri(&policy.upload_host)
                .header(
                    http::header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .header(http::header::CONTENT_LENGTH, total)
                .header(http::header::USER_AGENT, self.config().user_agent())
                .body(RequestBody::from_stream(body, Some(total)))
                .map_err(|e| {
                    Error::config(format!(
                        "upload host {:?} is not a valid URL: {e}",
                        policy.upload_host
                    ))
                })?;
            let Some(timeout) = self.bounded(UPLOAD_TIMEOUT) else {
                return Err(Self::deadline_passed("upload"));
            };
            let result = self.exchange(request, timeout).await;
            // Reading the file failed while sending it: a local problem, not the network's.
            if let Some(e) = local_failure.take() {
                return Err(Error::local_io("read the file to upload", path, e));
            }
            let err = match result {
                Ok(r) if r.status.is_success() => return Ok(key),
                Ok(r) => {
                    let e = oss_error(r.status.as_u16(), &r.body);
                    // The key is unique to this upload: if a retry finds it already stored,
                    // an earlier attempt stored it and only its answer was lost.
                    if attempt > 1 && e.code() == Some("FileAlreadyExists") {
                        tracing::info!(
                            key,
                            "an earlier attempt stored the file; counting it as uploaded"
                        );
                        return Ok(key);
                    }
                    e
                }
                Err(t) if t.was_request_sent() == Some(false) || t.is_connect() => {
                    Error::transport("upload", t)
                }
                Err(t) => Error::transport("upload", t).with_kind(ErrorKind::Transport),
            };
            // The body is rebuilt from the file, so transient failures can be retried; the
            // unique key makes a repeated upload harmless.
            if !err.is_transient() || attempt >= policy_retry.max_attempts {
                return Err(err);
            }
            let wait = policy_retry.backoff(attempt - 1, err.retry_after());
            tracing::warn!(error = %err, retry_in_ms = wait.as_millis() as u64, "upload failed; retrying");
            if !self.sleep_until_deadline(wait, None).await {
                return Err(err);
            }
        }
    }
}

/// An OSS error answer (XML) as an [`Error`].
pub(crate) fn oss_error(status: u16, body: &[u8]) -> Error {
    let text = String::from_utf8_lossy(body);
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&close)? + start;
        Some(text[start..end].trim().to_owned())
    };
    let code = tag("Code");
    let message = tag("Message")
        .or_else(|| (!text.trim().is_empty()).then(|| text.chars().take(300).collect()));
    let kind = match (status, code.as_deref()) {
        (
            _,
            Some(
                "EntityTooLarge"
                | "InvalidArgument"
                | "FileAlreadyExists"
                | "InvalidPolicyDocument",
            ),
        ) => ErrorKind::InvalidInput,
        (403, _) | (401, _) => ErrorKind::Auth,
        (429, _) => ErrorKind::Throttled,
        (s, _) if s >= 500 => ErrorKind::Service,
        _ => ErrorKind::InvalidInput,
    };
    Error::new(
        kind,
        format!(
            "upload to temporary storage failed: HTTP {status}{}{}",
            code.as_deref().map(|c| format!(" {c}")).unwrap_or_default(),
            message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ),
    )
    .with_service_error(code, message, tag("RequestId"))
}

/// ASCII-only, path-free file name (object keys must be ASCII; basenames may repeat).
fn sanitize_file_name(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.trim_matches(|c| c == '_' || c == '.').is_empty() {
        "file".into()
    } else {
        clean
    }
}

/// The first local read failure of an upload body, so it is reported as local I/O rather
/// than as whatever the HTTP backend makes of a failed body stream.
#[derive(Clone, Default)]
struct LocalFailure(std::sync::Arc<std::sync::Mutex<Option<std::io::Error>>>);

impl LocalFailure {
    fn set(&self, e: std::io::Error) {
        if let Ok(mut slot) = self.0.lock() {
            slot.get_or_insert(e);
        }
    }

    fn take(&self) -> Option<std::io::Error> {
        self.0.lock().ok()?.take()
    }
}

/// The form body: head, the file in 64 KiB chunks, tail. Bounded memory whatever the size.
async fn file_stream(
    path: PathBuf,
    head: Bytes,
    tail: Bytes,
    size: u64,
    progress: Option<ProgressFn>,
    failure: LocalFailure,
) -> Result<impl futures_core::Stream<Item = Result<Bytes, BoxError>> + Send + 'static, Error> {
    let file = open_source(&path)
        .await
        .map_err(|e| Error::local_io("open the file to upload", &path, e))?;
    let fail = move |e: std::io::Error| -> BoxError {
        let text = e.to_string();
        failure.set(e);
        text.into()
    };
    enum Part {
        Head,
        Body,
        Done,
    }
    let state = (Part::Head, file, 0u64, head, tail);
    Ok(futures_util::stream::unfold(
        state,
        move |(part, mut file, sent, head, tail)| {
            let progress = progress.clone();
            let fail = fail.clone();
            async move {
                match part {
                    Part::Head => Some((Ok(head.clone()), (Part::Body, file, sent, head, tail))),
                    Part::Body => {
                        let mut buf = vec![0u8; CHUNK];
                        match read_some(&mut file, &mut buf).await {
                            Ok(0) if sent == size => {
                                Some((Ok(tail.clone()), (Part::Done, file, sent, head, tail)))
                            }
                            Ok(0) => Some((
                                Err(fail(std::io::Error::new(
                                    std::io::ErrorKind::UnexpectedEof,
                                    format!(
                                        "the file shrank while uploading ({sent} of {size} bytes)"
                                    ),
                                ))),
                                (Part::Done, file, sent, head, tail),
                            )),
                            Ok(n) => {
                                buf.truncate(n);
                                let sent = sent + n as u64;
                                if sent > size {
                                    return Some((
                                        Err(fail(std::io::Error::other(
                                            "the file grew while uploading",
                                        ))),
                                        (Part::Done, file, sent, head, tail),
                                    ));
                                }
                                if let Some(p) = &progress {
                                    p(Progress::new(sent, Some(size)));
                                }
                                Some((Ok(Bytes::from(buf)), (Part::Body, file, sent, head, tail)))
                            }
                            Err(e) => Some((Err(fail(e)), (Part::Done, file, sent, head, tail))),
                        }
                    }
                    Part::Done => None,
                }
            }
        },
    ))
}

/// The file being uploaded: read with tokio's file I/O when the runtime feature is on, with
/// std's (blocking, 64 KiB at a time) otherwise.
#[cfg(feature = "rt-tokio")]
type Source = tokio::fs::File;
#[cfg(not(feature = "rt-tokio"))]
type Source = std::fs::File;

async fn open_source(path: &Path) -> std::io::Result<Source> {
    #[cfg(feature = "rt-tokio")]
    return tokio::fs::File::open(path).await;
    #[cfg(not(feature = "rt-tokio"))]
    return std::fs::File::open(path);
}

async fn read_some(file: &mut Source, buf: &mut [u8]) -> std::io::Result<usize> {
    #[cfg(feature = "rt-tokio")]
    return tokio::io::AsyncReadExt::read(file, buf).await;
    #[cfg(not(feature = "rt-tokio"))]
    return std::io::Read::read(file, buf);
}

impl Client {
    /// When a cached policy for `model` stops being used (for tests and diagnostics).
    pub fn cached_policy_valid_until(&self, model: &Model) -> Option<Instant> {
        let key = format!("{}|{}", self.config().base_url(), model);
        self.inner()
            .policy_cache
            .lock()
            .ok()?
            .get(&key)
            .map(|(_, t)| *t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClientConfig;
    use crate::test_util::{MockHttp, MockReply};

    fn client() -> (Client, MockHttp) {
        let http = MockHttp::new(|_| MockReply::json(500, "{}"));
        let c = Client::new(ClientConfig::new("sk-test"), http.clone()).unwrap();
        (c, http)
    }

    #[tokio::test]
    async fn an_empty_file_is_refused_before_anything_is_sent() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.jpg");
        std::fs::write(&empty, b"").unwrap();
        let (c, http) = client();
        let e = c
            .upload_file(&Model::AnimateMix, &empty, None)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("empty"), "{e}");
        assert!(http.requests().is_empty());
    }

    #[tokio::test]
    async fn a_directory_is_refused_as_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let (c, http) = client();
        let e = c
            .upload_file(&Model::AnimateMix, dir.path(), None)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
        assert!(http.requests().is_empty());
    }

    #[tokio::test]
    async fn a_url_without_a_host_is_refused_before_submitting() {
        let (c, http) = client();
        let job = AnimateJob::new(
            Model::AnimateMix,
            Input::parse("https://"),
            Input::parse("https://x/v.mp4"),
            Mode::Standard,
        );
        let e = c.submit_animate(job).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(http.requests().is_empty());
    }
}
