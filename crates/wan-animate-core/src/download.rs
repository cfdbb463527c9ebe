//! Result downloads: streamed to a temporary file beside the target, resumed with `Range`
//! after a dropped connection, length-verified, fsynced and renamed atomically. No partial
//! target ever exists; the storage host never receives the API key.

use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;
use wan_animate_types::TaskStatus;

use crate::client::Client;
use crate::error::{Error, ErrorKind};
use crate::http::RequestBody;
use crate::progress::{Progress, ProgressFn};
use crate::upload::oss_error;

/// How to download.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct DownloadOptions {
    /// Replace an existing target.
    pub overwrite: bool,
    /// Progress callback.
    pub progress: Option<ProgressFn>,
}

impl std::fmt::Debug for DownloadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DownloadOptions")
            .field("overwrite", &self.overwrite)
            .finish_non_exhaustive()
    }
}

impl DownloadOptions {
    /// Do not overwrite, no progress.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replace an existing target.
    pub fn with_overwrite(mut self, yes: bool) -> Self {
        self.overwrite = yes;
        self
    }

    /// Report progress.
    pub fn with_progress(mut self, p: ProgressFn) -> Self {
        self.progress = Some(p);
        self
    }
}

/// A finished download.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Downloaded {
    /// Where the file is.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
}

/// Checks, before anything is paid or fetched, that a result can be written to `dest`:
/// it is not a directory, it does not exist unless `overwrite`, its directory exists, is a
/// directory and is writable (probed by creating and removing a file there).
///
/// Call it before submitting a task whose result goes to `dest`: a refusal then costs nothing.
///
/// ```
/// use wan_animate_core::download::check_destination;
/// use wan_animate_core::ErrorKind;
/// let dir = std::env::temp_dir();
/// // A directory is not a file name.
/// assert_eq!(check_destination(&dir, true).unwrap_err().kind(), ErrorKind::InvalidInput);
/// // A missing directory is refused up front.
/// let e = check_destination(&dir.join("no-such-dir-4f1c/x.mp4"), false).unwrap_err();
/// assert_eq!(e.kind(), ErrorKind::InvalidInput);
/// ```
pub fn check_destination(dest: &Path, overwrite: bool) -> Result<(), Error> {
    match std::fs::metadata(dest) {
        Ok(m) if m.is_dir() => {
            return Err(Error::invalid_input(format!(
                "{} is a directory; give a file name for the video (for example {}/result.mp4)",
                dest.display(),
                dest.display()
            )));
        }
        Ok(_) if !overwrite => {
            return Err(Error::invalid_input(format!(
                "{} already exists; choose another output or allow overwriting (--force)",
                dest.display()
            )));
        }
        _ => {}
    }
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match std::fs::metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::invalid_input(format!(
                "{} is not a directory, so {} cannot be written",
                dir.display(),
                dest.display()
            )));
        }
        Err(_) => {
            return Err(Error::invalid_input(format!(
                "the directory {} does not exist; create it or choose another output",
                dir.display()
            )));
        }
    }
    // Writable? Create and remove a probe file (permissions alone do not tell: ACLs, read-only mounts).
    let probe = dir.join(format!(
        ".wan-animate-probe.{}.{:08x}",
        std::process::id(),
        crate::retry::next_u64() as u32
    ));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(f) => {
            drop(f);
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(Error::local_io("write into the output directory", &dir, e)),
    }
}

/// Removes the temporary file unless disarmed.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Client {
    /// Downloads the result of a `SUCCEEDED` task to `dest`.
    pub async fn download_result(
        &self,
        task_id: &str,
        dest: &Path,
        opts: DownloadOptions,
    ) -> Result<Downloaded, Error> {
        let task = self.get(task_id).await?;
        if task.output.task_status != TaskStatus::Succeeded {
            return Err(Error::invalid_input(format!(
                "task {task_id} is {} and has no result to download",
                task.output.task_status
            )));
        }
        let url = task
            .output
            .video_url()
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Decode,
                    format!("task {task_id} succeeded but has no video URL"),
                )
            })?
            .to_owned();
        self.download(&url, dest, opts)
            .await
            .map_err(|e| e.with_task_id(task_id))
    }

    /// Downloads `url` to `dest` (see the module docs for the guarantees).
    pub async fn download(
        &self,
        url: &str,
        dest: &Path,
        opts: DownloadOptions,
    ) -> Result<Downloaded, Error> {
        check_destination(dest, opts.overwrite)?;
        let dir = match dest.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "download".into());
        let temp = dir.join(format!(
            ".{name}.{:08x}.part",
            crate::retry::next_u64() as u32
        ));
        let mut guard = TempGuard(Some(temp.clone()));
        let mut file = tokio::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&temp)
            .await
            .map_err(|e| Error::invalid_input(format!("cannot write in {}: {e}", dir.display())))?;
        let policy = self.config().retry().clone();
        let idle = self.config().request_timeout();
        let mut have: u64 = 0;
        let mut total: Option<u64> = None;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let mut builder = http::Request::builder()
                .method(http::Method::GET)
                .uri(url)
                .header(http::header::USER_AGENT, self.config().user_agent());
            if have > 0 {
                builder = builder.header(http::header::RANGE, format!("bytes={have}-"));
            }
            let request = builder
                .body(RequestBody::empty())
                .map_err(|e| Error::invalid_input(format!("invalid result URL: {e}")))?;
            let http = self.inner().http.clone();
            let head = self
                .with_timeout(idle, async move { http.send(request).await })
                .await;
            let outcome: Result<(), Error> = match head {
                Err(t) => Err(Error::transport("download", t)),
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    let mut body = response.into_body();
                    let head_ok = if status == http::StatusCode::PARTIAL_CONTENT && have > 0 {
                        match content_range(&headers) {
                            Some((start, t)) if start == have => {
                                if t.is_some() {
                                    total = t;
                                }
                                Ok(())
                            }
                            _ => Err(Error::new(
                                ErrorKind::Decode,
                                "the storage answered a resume with an unexpected range",
                            )),
                        }
                    } else if status.is_success() {
                        if have > 0 {
                            // The server ignored Range: start over.
                            file.set_len(0).await.map_err(io_err)?;
                            use tokio::io::AsyncSeekExt;
                            file.seek(std::io::SeekFrom::Start(0))
                                .await
                                .map_err(io_err)?;
                            have = 0;
                        }
                        total = headers
                            .get(http::header::CONTENT_LENGTH)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.parse().ok());
                        Ok(())
                    } else {
                        let bytes = body.collect(64 * 1024).await.unwrap_or_default();
                        let e = oss_error(status.as_u16(), &bytes);
                        return Err(if matches!(status.as_u16(), 403 | 404) {
                            e.with_kind(ErrorKind::TaskUnknown).with_hint(
                                "result links expire 24 h after the task ends (and must be signed); if the task is older, the video is gone. A newer link comes from `wan-animate status TASK_ID`",
                            )
                        } else {
                            e
                        });
                    };
                    if let Err(e) = head_ok {
                        Err(e)
                    } else {
                        // Stream the body, each chunk bounded by the idle timeout.
                        let mut result = Ok(());
                        loop {
                            let next = self
                                .with_timeout(idle, async { body.chunk().await.transpose() })
                                .await;
                            match next {
                                Ok(Some(chunk)) => {
                                    if total.is_some_and(|t| have + chunk.len() as u64 > t) {
                                        result = Err(Error::new(
                                            ErrorKind::Decode,
                                            format!(
                                                "the storage sent more bytes than the {} it announced",
                                                total.unwrap_or(0)
                                            ),
                                        ));
                                        break;
                                    }
                                    if let Err(e) = file.write_all(&chunk).await {
                                        result = Err(io_err(e));
                                        break;
                                    }
                                    have += chunk.len() as u64;
                                    if let Some(p) = &opts.progress {
                                        p(Progress::new(have, total));
                                    }
                                }
                                Ok(None) => break,
                                Err(t) => {
                                    result = Err(Error::transport("download", t));
                                    break;
                                }
                            }
                        }
                        result
                    }
                }
            };
            match outcome {
                Ok(()) => match total {
                    Some(t) if have != t => {
                        let e = Error::new(
                            ErrorKind::Transport,
                            format!("download ended after {have} of {t} bytes"),
                        );
                        if attempt >= policy.max_attempts {
                            return Err(e);
                        }
                    }
                    _ => break,
                },
                Err(e) if e.is_transient() && attempt < policy.max_attempts => {
                    tracing::warn!(error = %e, have, "download interrupted; resuming");
                }
                Err(e) => return Err(e),
            }
            self.sleep(policy.backoff(attempt - 1, None)).await;
        }
        file.flush().await.map_err(io_err)?;
        file.sync_all().await.map_err(io_err)?;
        drop(file);
        if dest.exists() && !opts.overwrite {
            return Err(Error::invalid_input(format!(
                "{} appeared while downloading; not overwriting it",
                dest.display()
            )));
        }
        tokio::fs::rename(&temp, dest).await.map_err(io_err)?;
        guard.0 = None;
        #[cfg(unix)]
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(Downloaded {
            path: dest.to_path_buf(),
            bytes: have,
        })
    }
}

fn io_err(e: std::io::Error) -> Error {
    Error::new(
        ErrorKind::Transport,
        format!("writing the download failed: {e}"),
    )
}

/// `Content-Range: bytes a-b/total` as (a, total).
fn content_range(headers: &http::HeaderMap) -> Option<(u64, Option<u64>)> {
    let v = headers.get(http::header::CONTENT_RANGE)?.to_str().ok()?;
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, _) = range.split_once('-')?;
    Some((start.trim().parse().ok()?, total.trim().parse().ok()))
}
