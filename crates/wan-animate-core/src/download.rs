//! Result downloads: streamed to a part file beside the target (named after it, so a later
//! process resumes it), resumed with `Range` from the length durably on disk, every
//! `Content-Range` checked against the request, the length verified, fsynced and renamed
//! atomically. No partial target ever exists; the storage host never receives the API key.
//! Local file failures are [`ErrorKind::LocalIo`] and are not retried.

#[cfg(feature = "rt-tokio")]
use std::io;
use std::path::{Path, PathBuf};

#[cfg(feature = "rt-tokio")]
use tokio::io::{AsyncSeekExt, AsyncWrite, AsyncWriteExt};
#[cfg(feature = "rt-tokio")]
use wan_animate_types::TaskStatus;

#[cfg(feature = "rt-tokio")]
use crate::client::Client;
use crate::error::Error;
#[cfg(feature = "rt-tokio")]
use crate::error::ErrorKind;
#[cfg(feature = "rt-tokio")]
use crate::http::RequestBody;
#[cfg(feature = "rt-tokio")]
use crate::progress::Progress;
use crate::progress::ProgressFn;
#[cfg(feature = "rt-tokio")]
use crate::upload::oss_error;

/// How to download.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct DownloadOptions {
    /// Replace an existing target.
    pub overwrite: bool,
    /// Progress callback.
    pub progress: Option<ProgressFn>,
    /// Test hook: the bytes the disk can still take (writes past it fail with "no space").
    #[cfg(feature = "test-util")]
    pub(crate) disk_space: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
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

    /// Test hook (feature `test-util`): the part file behaves like a disk that can take only
    /// `space` more bytes; a write past it stores what fits and fails with "no space left"
    /// (as a real full disk does). Add to `space` to "free" disk space.
    ///
    /// ```
    /// use std::sync::{Arc, atomic::AtomicU64};
    /// let space = Arc::new(AtomicU64::new(1024));
    /// let opts = wan_animate_core::download::DownloadOptions::new().with_disk_space(space);
    /// # let _ = opts;
    /// ```
    #[cfg(feature = "test-util")]
    #[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
    pub fn with_disk_space(mut self, space: std::sync::Arc<std::sync::atomic::AtomicU64>) -> Self {
        self.disk_space = Some(space);
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

/// The part file a download of `url` to `dest` writes before the atomic rename:
/// `.NAME.XXXXXXXX.wan-animate.part` in the same directory, where `XXXXXXXX` is a hash of
/// the URL without its query (a refreshed signed link to the same object keeps it). Its name
/// depends only on the output and the object, so a download that was interrupted (even by
/// `kill -9`) is resumed by the next one of the same result to the same output, never
/// spliced with another result; nothing is left behind once a download succeeds.
///
/// ```
/// use std::path::Path;
/// use wan_animate_core::download::part_path;
/// let part = part_path(Path::new("out/dance.mp4"), "https://r.example/t-1.mp4?Expires=1");
/// let name = part.file_name().unwrap().to_str().unwrap();
/// assert!(name.starts_with(".dance.mp4.") && name.ends_with(".wan-animate.part"), "{name}");
/// assert_eq!(part.parent(), Some(Path::new("out")));
/// // Another signature for the same object: the same part file.
/// assert_eq!(part, part_path(Path::new("out/dance.mp4"), "https://r.example/t-1.mp4?Expires=2"));
/// ```
pub fn part_path(dest: &Path, url: &str) -> PathBuf {
    let object = url.split(['?', '#']).next().unwrap_or_default();
    let source = fnv1a(object.as_bytes()) as u32;
    parent_dir(dest).join(format!("{}{source:08x}{PART_SUFFIX}", part_prefix(dest)))
}

const PART_SUFFIX: &str = ".wan-animate.part";

/// `.NAME.`, with NAME kept within the usual 255-byte limit of a file name.
fn part_prefix(dest: &Path) -> String {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "download".into());
    let name = if name.len() > 200 {
        let mut cut = 160;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}~{:016x}", &name[..cut], fnv1a(name.as_bytes()))
    } else {
        name
    };
    format!(".{name}.")
}

#[cfg(feature = "rt-tokio")]
/// Removes part files of earlier downloads of *other* results to `dest` (their bytes can
/// never be used), unless another process holds them.
fn remove_stale_parts(dest: &Path, ours: &Path) {
    let prefix = part_prefix(dest);
    let Ok(entries) = std::fs::read_dir(parent_dir(dest)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Some(middle) = name
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix(PART_SUFFIX))
        else {
            continue;
        };
        let path = entry.path();
        if middle.len() != 8 || !middle.bytes().all(|b| b.is_ascii_hexdigit()) || path == ours {
            continue;
        }
        if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&path)
            && f.try_lock().is_ok()
        {
            tracing::info!(part = %path.display(), "removing the part file of another result");
            let _ = std::fs::remove_file(&path);
        }
    }
}

fn parent_dir(dest: &Path) -> PathBuf {
    match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// FNV-1a: a stable hash (unlike std's) for shortening long part-file names.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Longest file name (before the extension) made from a server-chosen string.
const MAX_NAME: usize = 120;

/// Reduces untrusted text (a task id, a URL's last segment) to one safe file name: ASCII
/// letters, digits, `-`, `_` and `.` only, no leading `.` or `-`, at most 120 characters;
/// `None` when nothing is left.
fn safe_name(raw: &str) -> Option<String> {
    let mapped: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(MAX_NAME)
        .collect();
    let trimmed = mapped.trim_start_matches(['.', '-']).trim_end_matches('.');
    if trimmed.chars().all(|c| c == '_') {
        None
    } else {
        Some(trimmed.to_owned())
    }
}

/// The default file name for the result of task `task_id`: `ID.mp4` with the id reduced to
/// safe characters. Whatever the server or the user said the id is, the name is one plain
/// file name in the current directory: never empty, never `.` or `..`, no `/` or `\`, not
/// absolute, no control characters, not starting with `.` or `-`.
///
/// ```
/// use wan_animate_core::download::default_output_name;
/// assert_eq!(default_output_name("0385dc79-5ff8-4d82-bcb6-xxxxxx"), "0385dc79-5ff8-4d82-bcb6-xxxxxx.mp4");
/// assert_eq!(default_output_name("../../x"), "_.._x.mp4");
/// assert_eq!(default_output_name("/etc/passwd"), "_etc_passwd.mp4");
/// assert_eq!(default_output_name(".."), "result.mp4");
/// assert_eq!(default_output_name("\u{1b}[31mred\n"), "__31mred_.mp4");
/// ```
pub fn default_output_name(task_id: &str) -> String {
    format!(
        "{}.mp4",
        safe_name(task_id).unwrap_or_else(|| "result".into())
    )
}

/// The default file name for a download from `url`: its last path segment reduced to safe
/// characters (see [`default_output_name`]), `result.mp4` when nothing usable is left.
///
/// ```
/// use wan_animate_core::download::output_name_for_url;
/// assert_eq!(output_name_for_url("https://x/a/b/t-1.mp4?Expires=1&Signature=s"), "t-1.mp4");
/// assert_eq!(output_name_for_url("https://x/a/..%2F..%2Fetc%2Fpasswd"), "_2F.._2Fetc_2Fpasswd");
/// assert_eq!(output_name_for_url("https://x/"), "result.mp4");
/// ```
pub fn output_name_for_url(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let after_scheme = path.split_once("://").map_or(path, |(_, rest)| rest);
    let segment = after_scheme
        .split_once('/')
        .map_or("", |(_, p)| p)
        .rsplit('/')
        .next()
        .unwrap_or_default();
    safe_name(segment).unwrap_or_else(|| "result.mp4".into())
}

#[cfg(feature = "rt-tokio")]
/// A locked part file: the exclusive lock keeps two processes from writing the same output.
struct PartFile {
    path: PathBuf,
    /// Holds the lock for as long as it lives.
    lock: std::fs::File,
}

#[cfg(feature = "rt-tokio")]
impl PartFile {
    /// Opens (or creates) the part file and locks it, without blocking.
    fn open_locked(path: &Path) -> Result<Self, Error> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| Error::local_io("create the part file", path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(busy(path)),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::local_io("lock the part file", path, e));
            }
        }
        // The previous holder may have renamed this very file into place just before we
        // locked it: then the path names another file (or none), and this one is not ours.
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let ours = file
                .metadata()
                .map_err(|e| Error::local_io("read the part file", path, e))?;
            match std::fs::metadata(path) {
                Ok(m) if m.ino() == ours.ino() && m.dev() == ours.dev() => {}
                _ => return Err(busy(path)),
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            lock: file,
        })
    }
}

#[cfg(feature = "rt-tokio")]
fn busy(path: &Path) -> Error {
    Error::local_io(
        "lock the part file",
        path,
        io::Error::new(
            io::ErrorKind::ResourceBusy,
            "another wan-animate process is downloading to the same output",
        ),
    )
}

#[cfg(feature = "rt-tokio")]
/// Where the bytes of a download go.
enum Sink<'w> {
    /// The part file, appended to; its durable length is the resume offset.
    File {
        file: tokio::fs::File,
        path: PathBuf,
        #[cfg(feature = "test-util")]
        disk_space: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
    },
    /// Any writer (standard output): bytes cannot be taken back, so a server that ignores
    /// `Range` is skipped forward instead.
    Writer {
        writer: &'w mut (dyn AsyncWrite + Unpin + Send),
        written: u64,
    },
}

#[cfg(feature = "rt-tokio")]
impl Sink<'_> {
    fn label(&self) -> &Path {
        match self {
            Sink::File { path, .. } => path,
            Sink::Writer { .. } => Path::new("the output stream"),
        }
    }

    fn io_error(&self, what: &str, e: io::Error) -> Error {
        Error::local_io(what, self.label(), e)
    }

    /// Flushes and syncs, then returns the length that is really stored: where the next
    /// request must start (not the count of bytes received, which a failed write breaks).
    async fn durable_len(&mut self) -> io::Result<u64> {
        match self {
            Sink::File { file, .. } => {
                file.flush().await?;
                file.sync_data().await?;
                let len = file.metadata().await?.len();
                file.seek(io::SeekFrom::Start(len)).await?;
                Ok(len)
            }
            Sink::Writer { writer, written } => {
                writer.flush().await?;
                Ok(*written)
            }
        }
    }

    async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            #[cfg(feature = "test-util")]
            Sink::File {
                file,
                disk_space: Some(space),
                ..
            } => {
                use std::sync::atomic::Ordering;
                let room = space.load(Ordering::SeqCst);
                let fits = usize::try_from(room).unwrap_or(usize::MAX).min(data.len());
                file.write_all(&data[..fits]).await?;
                space.fetch_sub(fits as u64, Ordering::SeqCst);
                if fits < data.len() {
                    return Err(io::Error::new(
                        io::ErrorKind::StorageFull,
                        "No space left on device",
                    ));
                }
                Ok(())
            }
            Sink::File { file, .. } => file.write_all(data).await,
            Sink::Writer { writer, written } => {
                writer.write_all(data).await?;
                *written += data.len() as u64;
                Ok(())
            }
        }
    }

    /// Drops what was stored, to start from byte 0. `false` when that is impossible.
    async fn restart(&mut self) -> io::Result<bool> {
        match self {
            Sink::File { file, .. } => {
                file.set_len(0).await?;
                file.seek(io::SeekFrom::Start(0)).await?;
                Ok(true)
            }
            Sink::Writer { .. } => Ok(false),
        }
    }
}

#[cfg(feature = "rt-tokio")]
/// `Content-Range: bytes FIRST-LAST/TOTAL` (TOTAL may be `*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ContentRange {
    first: u64,
    last: u64,
    total: Option<u64>,
}

#[cfg(feature = "rt-tokio")]
fn content_range(headers: &http::HeaderMap) -> Option<ContentRange> {
    let v = headers.get(http::header::CONTENT_RANGE)?.to_str().ok()?;
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    let r = ContentRange {
        first: first.trim().parse().ok()?,
        last: last.trim().parse().ok()?,
        total,
    };
    (r.first <= r.last).then_some(r)
}

#[cfg(feature = "rt-tokio")]
/// `Content-Range: bytes */TOTAL`, as sent with 416.
fn unsatisfied_total(headers: &http::HeaderMap) -> Option<u64> {
    let v = headers.get(http::header::CONTENT_RANGE)?.to_str().ok()?;
    v.trim().strip_prefix("bytes */")?.trim().parse().ok()
}

#[cfg(feature = "rt-tokio")]
fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(feature = "rt-tokio")]
fn range_error(summary: String) -> Error {
    Error::new(ErrorKind::Decode, summary).with_hint(
        "the storage host answered something other than what was asked; nothing was written from that answer. Try again later",
    )
}

#[cfg(feature = "rt-tokio")]
/// How one attempt ended, when it did not fail.
enum Attempt {
    /// The body ended; `end` is the offset just past the last byte written.
    Ended { end: u64 },
}

#[cfg(feature = "rt-tokio")]
impl Client {
    /// Downloads the result of a `SUCCEEDED` task to `dest`.
    ///
    /// ```
    /// use wan_animate_core::download::DownloadOptions;
    /// use wan_animate_core::test_util::{MockHttp, MockReply};
    /// use wan_animate_core::{Client, ClientConfig, ErrorKind};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let video = b"....ftypisom not really a video";
    /// let http = MockHttp::new(move |req| match req.uri.host() {
    ///     Some("results.example") => MockReply::Response {
    ///         status: 200,
    ///         headers: vec![("content-length".into(), video.len().to_string())],
    ///         body: video[..].into(),
    ///     },
    ///     _ => MockReply::json(200, r#"{"output":{"task_id":"t-1","task_status":"SUCCEEDED","results":{"video_url":"https://results.example/t-1.mp4?Expires=1"}}}"#),
    /// });
    /// let client = Client::new(ClientConfig::new("sk-example"), http)?;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let dest = dir.path().join("dance.mp4");
    /// let done = client.download_result("t-1", &dest, DownloadOptions::new()).await?;
    /// assert_eq!(done.bytes, video.len() as u64);
    /// assert_eq!(std::fs::read(&dest)?, video);
    ///
    /// // An existing file is never replaced unless asked (`with_overwrite(true)`).
    /// let e = client.download_result("t-1", &dest, DownloadOptions::new()).await.unwrap_err();
    /// assert_eq!(e.kind(), ErrorKind::InvalidInput);
    /// # Ok(()) }
    /// ```
    pub async fn download_result(
        &self,
        task_id: &str,
        dest: &Path,
        opts: DownloadOptions,
    ) -> Result<Downloaded, Error> {
        let url = self.result_url(task_id).await?;
        self.download(&url, dest, opts)
            .await
            .map_err(|e| e.with_task_id(task_id))
    }

    /// The result link of a `SUCCEEDED` task.
    async fn result_url(&self, task_id: &str) -> Result<String, Error> {
        let task = self.get(task_id).await?;
        if task.output.task_status != TaskStatus::Succeeded {
            let e = Error::invalid_input(format!(
                "task {task_id} is {} and has no result to download",
                task.output.task_status
            ))
            .with_task_id(task_id);
            // Still on its way: waiting for it is the next step (a FAILED, CANCELED or
            // UNKNOWN task never has a result).
            let unfinished = matches!(
                task.output.task_status,
                TaskStatus::Pending | TaskStatus::Running
            );
            return Err(if unfinished {
                e.with_next_step(crate::error::NextStep::ResumeWait {
                    task_id: task_id.to_owned(),
                })
            } else {
                e
            });
        }
        task.output.video_url().map(str::to_owned).ok_or_else(|| {
            Error::new(
                ErrorKind::Decode,
                format!("task {task_id} succeeded but has no video URL"),
            )
            .with_task_id(task_id)
        })
    }

    /// Downloads `url` to `dest` (see the module docs for the guarantees).
    ///
    /// The bytes go to [`part_path`]`(dest, url)`, locked against other processes. On a network
    /// failure (after the retries) or a local I/O failure the part file is kept and the same
    /// call later resumes it; on any other failure it is removed. The target appears only
    /// complete, after its length has been verified.
    ///
    /// ```no_run
    /// # async fn demo(client: wan_animate_core::Client) -> Result<(), wan_animate_core::Error> {
    /// use wan_animate_core::download::DownloadOptions;
    /// let done = client
    ///     .download("https://results.example/t-1.mp4?Expires=1", "t-1.mp4".as_ref(), DownloadOptions::new())
    ///     .await?;
    /// println!("{} bytes in {}", done.bytes, done.path.display());
    /// # Ok(()) }
    /// ```
    pub async fn download(
        &self,
        url: &str,
        dest: &Path,
        opts: DownloadOptions,
    ) -> Result<Downloaded, Error> {
        check_destination(dest, opts.overwrite)?;
        let part_path = part_path(dest, url);
        let part = PartFile::open_locked(&part_path)?;
        remove_stale_parts(dest, &part.path);
        let file = part
            .lock
            .try_clone()
            .map_err(|e| Error::local_io("open the part file", &part.path, e))?;
        let mut sink = Sink::File {
            file: tokio::fs::File::from_std(file),
            path: part.path.clone(),
            #[cfg(feature = "test-util")]
            disk_space: opts.disk_space.clone(),
        };
        let result = self.fetch(url, &mut sink, &opts).await;
        // Whatever happened, every write reaches the file (tokio writes in the background)
        // before the part is judged, and the file is closed before its lock is released.
        let flushed = sink.durable_len().await;
        let result = match result {
            Ok(len) => finish(sink, &part, dest, len, opts.overwrite).await,
            Err(e) => {
                drop(sink);
                if let Err(f) = flushed {
                    tracing::warn!(error = %f, "could not flush the part file");
                }
                Err(e)
            }
        };
        match result {
            Ok(done) => Ok(done),
            Err(e) => {
                let kept = std::fs::metadata(&part.path).map_or(0, |m| m.len());
                let resumable = e.is_transient() || e.kind() == ErrorKind::LocalIo;
                if resumable && kept > 0 {
                    tracing::info!(part = %part.path.display(), kept, "keeping the partial download for a resume");
                    let e = if e.kind() == ErrorKind::LocalIo {
                        e
                    } else {
                        e.with_hint(format!(
                            "{kept} bytes are kept in {}; run the same download again to resume",
                            part.path.display()
                        ))
                    };
                    Err(e)
                } else {
                    let _ = std::fs::remove_file(&part.path);
                    Err(e)
                }
            }
        }
    }

    /// Streams `url` into `writer` (for example standard output), with the same checks as
    /// [`Client::download`]: ranges must match what was asked, the length must match what
    /// the storage announced, a dropped connection resumes with `Range` from the bytes
    /// already written. Returns the number of bytes written. A failure of `writer` is
    /// [`ErrorKind::LocalIo`].
    ///
    /// ```no_run
    /// # async fn demo(client: wan_animate_core::Client) -> Result<(), wan_animate_core::Error> {
    /// use wan_animate_core::download::DownloadOptions;
    /// let mut buffer: Vec<u8> = Vec::new();
    /// let n = client
    ///     .download_to_writer("https://results.example/t-1.mp4?Expires=1", &mut buffer, DownloadOptions::new())
    ///     .await?;
    /// assert_eq!(n as usize, buffer.len());
    /// # Ok(()) }
    /// ```
    pub async fn download_to_writer<W>(
        &self,
        url: &str,
        writer: &mut W,
        opts: DownloadOptions,
    ) -> Result<u64, Error>
    where
        W: AsyncWrite + Unpin + Send,
    {
        let mut sink = Sink::Writer { writer, written: 0 };
        let n = self.fetch(url, &mut sink, &opts).await?;
        sink.durable_len()
            .await
            .map_err(|e| sink.io_error("flush the output", e))?;
        Ok(n)
    }

    /// Streams the result of a `SUCCEEDED` task into `writer` (see
    /// [`Client::download_to_writer`]).
    pub async fn download_result_to_writer<W>(
        &self,
        task_id: &str,
        writer: &mut W,
        opts: DownloadOptions,
    ) -> Result<u64, Error>
    where
        W: AsyncWrite + Unpin + Send,
    {
        let url = self.result_url(task_id).await?;
        self.download_to_writer(&url, writer, opts)
            .await
            .map_err(|e| e.with_task_id(task_id))
    }

    /// Fetches `url` into `sink` with retries; returns the verified length.
    async fn fetch(
        &self,
        url: &str,
        sink: &mut Sink<'_>,
        opts: &DownloadOptions,
    ) -> Result<u64, Error> {
        let policy = self.config().retry().clone();
        let mut total: Option<u64> = None;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let have = sink
                .durable_len()
                .await
                .map_err(|e| sink.io_error("save the download", e))?;
            if total.is_some_and(|t| have > t) {
                return Err(range_error(format!(
                    "{have} bytes are stored but the storage says the file has {}",
                    total.unwrap_or(0)
                )));
            }
            let outcome = if total == Some(have) && have > 0 {
                Ok(Attempt::Ended { end: have })
            } else {
                self.fetch_once(url, sink, have, &mut total, opts).await
            };
            match outcome {
                Ok(Attempt::Ended { end }) => {
                    let stored = sink
                        .durable_len()
                        .await
                        .map_err(|e| sink.io_error("save the download", e))?;
                    match total {
                        Some(t) if end < t => {
                            let e = Error::new(
                                ErrorKind::Transport,
                                format!(
                                    "the storage closed the connection after {end} of {t} bytes"
                                ),
                            );
                            if attempt >= policy.max_attempts {
                                return Err(e);
                            }
                            tracing::warn!(error = %e, "download cut short; resuming");
                        }
                        _ if stored != end => {
                            return Err(sink.io_error(
                                "verify the download",
                                io::Error::other(format!(
                                    "{stored} bytes are on disk but {end} were written"
                                )),
                            ));
                        }
                        _ => return Ok(stored),
                    }
                }
                Err(e) if e.is_transient() && attempt < policy.max_attempts => {
                    tracing::warn!(error = %e, have, "download interrupted; resuming");
                }
                Err(e) => return Err(e),
            }
            if !self
                .sleep_until_deadline(policy.backoff(attempt - 1, None), None)
                .await
            {
                return Err(Self::deadline_passed("download"));
            }
        }
    }

    /// One request: checks the answer against what was asked, then streams its body.
    async fn fetch_once(
        &self,
        url: &str,
        sink: &mut Sink<'_>,
        have: u64,
        total: &mut Option<u64>,
        opts: &DownloadOptions,
    ) -> Result<Attempt, Error> {
        // Each step waits at most the request timeout, and never past the handle's deadline
        // (`--timeout` bounds a download like every other operation).
        let idle = self
            .bounded(self.config().request_timeout())
            .ok_or_else(|| Self::deadline_passed("download"))?;
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
        let response = self
            .with_timeout(idle, async move { http.send(request).await })
            .await
            .map_err(|t| Error::transport("download", t))?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = response.into_body();
        // The offset of the body's first byte, and how many of its bytes are already stored.
        let (mut at, mut skip) = (have, 0u64);
        match status {
            http::StatusCode::PARTIAL_CONTENT => {
                if have == 0 {
                    return Err(range_error(
                        "the storage answered 206 Partial Content to a request for the whole file"
                            .into(),
                    ));
                }
                let raw = headers
                    .get(http::header::CONTENT_RANGE)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .unwrap_or_else(|| "no Content-Range".into());
                let Some(ContentRange {
                    first,
                    last,
                    total: Some(t),
                }) = content_range(&headers)
                else {
                    return Err(range_error(format!(
                        "asked for bytes {have}- of the result, the storage answered {raw:?}"
                    )));
                };
                if first != have || last.checked_add(1) != Some(t) {
                    return Err(range_error(format!(
                        "asked for bytes {have}- of the result, the storage answered {raw:?}"
                    )));
                }
                if let Some(known) = *total
                    && known != t
                {
                    return Err(range_error(format!(
                        "the result changed size while downloading ({known}, then {t} bytes)"
                    )));
                }
                if let Some(len) = content_length(&headers)
                    && len != last - first + 1
                {
                    return Err(range_error(format!(
                        "the storage announced {raw:?} but Content-Length {len}"
                    )));
                }
                *total = Some(t);
            }
            http::StatusCode::OK => {
                let len = content_length(&headers);
                if let (Some(known), Some(len)) = (*total, len)
                    && known != len
                {
                    return Err(range_error(format!(
                        "the result changed size while downloading ({known}, then {len} bytes)"
                    )));
                }
                if have > 0 {
                    // The storage ignored Range and sends the whole file.
                    if sink
                        .restart()
                        .await
                        .map_err(|e| sink.io_error("restart the download", e))?
                    {
                        at = 0;
                    } else {
                        at = 0;
                        skip = have;
                    }
                }
                if len.is_some() {
                    *total = len;
                }
            }
            http::StatusCode::RANGE_NOT_SATISFIABLE if have > 0 => {
                return match unsatisfied_total(&headers) {
                    Some(t) if t == have && total.is_none_or(|k| k == t) => {
                        // Everything was already stored.
                        *total = Some(t);
                        Ok(Attempt::Ended { end: have })
                    }
                    _ => {
                        // What is stored does not belong to this file: start over.
                        sink.restart()
                            .await
                            .map_err(|e| sink.io_error("restart the download", e))?;
                        Err(Error::new(
                            ErrorKind::Transport,
                            format!("the storage refused to resume at byte {have}; starting over"),
                        ))
                    }
                };
            }
            s if s.is_success() => {
                return Err(range_error(format!(
                    "the storage answered HTTP {s} instead of the file"
                )));
            }
            _ => {
                let bytes = body.collect(64 * 1024).await.unwrap_or_default();
                let e = oss_error(status.as_u16(), &bytes);
                return Err(if matches!(status.as_u16(), 403 | 404) {
                    e.with_kind(ErrorKind::TaskUnknown).with_hint(
                        "result links expire 24 h after the task ends (and must be signed); if the task is older, the video is gone. A newer link comes from `wan-animate status TASK_ID`",
                    )
                } else {
                    e
                });
            }
        }
        // Stream the body, each chunk bounded by the idle timeout.
        loop {
            let next = self
                .with_timeout(idle, async { body.chunk().await.transpose() })
                .await
                .map_err(|t| Error::transport("download", t))?;
            let Some(chunk) = next else { break };
            let mut data: &[u8] = &chunk;
            if skip > 0 {
                let k = usize::try_from(skip).unwrap_or(usize::MAX).min(data.len());
                data = &data[k..];
                skip -= k as u64;
                at += k as u64;
            }
            if let Some(t) = *total
                && at + data.len() as u64 > t
            {
                return Err(range_error(format!(
                    "the storage sent more bytes than the {t} it announced"
                )));
            }
            if data.is_empty() {
                continue;
            }
            sink.write(data)
                .await
                .map_err(|e| sink.io_error("write the download", e))?;
            at += data.len() as u64;
            if let Some(p) = &opts.progress {
                p(Progress::new(at, *total));
            }
        }
        if skip > 0 {
            return Err(Error::new(
                ErrorKind::Transport,
                format!("the storage closed the connection after {at} bytes"),
            ));
        }
        Ok(Attempt::Ended { end: at })
    }
}

#[cfg(feature = "rt-tokio")]
/// Syncs the complete part file, checks its length and renames it onto `dest`.
async fn finish(
    sink: Sink<'_>,
    part: &PartFile,
    dest: &Path,
    len: u64,
    overwrite: bool,
) -> Result<Downloaded, Error> {
    if let Sink::File { mut file, .. } = sink {
        file.flush()
            .await
            .map_err(|e| Error::local_io("save the download", &part.path, e))?;
        file.sync_all()
            .await
            .map_err(|e| Error::local_io("save the download", &part.path, e))?;
    }
    let on_disk = std::fs::metadata(&part.path)
        .map_err(|e| Error::local_io("verify the download", &part.path, e))?
        .len();
    if on_disk != len {
        return Err(Error::local_io(
            "verify the download",
            &part.path,
            io::Error::other(format!("{on_disk} bytes are on disk, {len} were expected")),
        ));
    }
    if dest.exists() && !overwrite {
        return Err(Error::invalid_input(format!(
            "{} appeared while downloading; not overwriting it",
            dest.display()
        )));
    }
    std::fs::rename(&part.path, dest)
        .map_err(|e| Error::local_io("move the download into place", dest, e))?;
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(parent_dir(dest)) {
        let _ = d.sync_all();
    }
    Ok(Downloaded {
        path: dest.to_path_buf(),
        bytes: len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_output_names_are_one_plain_file_name_whatever_the_id() {
        let hostile = [
            "../../x",
            "/etc/passwd",
            "..",
            ".",
            "",
            "/",
            "a/../../b",
            "C:\\Windows\\x",
            "\u{1b}[2J\u{1b}[31mboom",
            "line\nbreak\r\0nul",
            "-rf",
            ".hidden",
            "舞蹈",
            "....",
            &"x".repeat(5000),
        ];
        for id in hostile {
            let name = default_output_name(id);
            assert!(name.ends_with(".mp4"), "{name:?}");
            assert!(name.len() <= MAX_NAME + 4, "{name:?}");
            assert!(!name.starts_with('.') && !name.starts_with('-'), "{name:?}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')),
                "{name:?}"
            );
            let p = Path::new(&name);
            assert!(!p.is_absolute(), "{name:?}");
            assert_eq!(p.components().count(), 1, "{name:?}");
            assert!(
                matches!(p.components().next(), Some(std::path::Component::Normal(_))),
                "{name:?}"
            );
        }
        assert_eq!(default_output_name(""), "result.mp4");
        assert_eq!(default_output_name("t-1"), "t-1.mp4");
    }

    #[test]
    fn url_names_are_sanitised_too() {
        for url in [
            "https://x/..",
            "https://x/.%2e/",
            "https://x/a/%2F..%2F",
            "https://x",
            "https://x/\u{1b}]0;title\u{7}.mp4",
        ] {
            let name = output_name_for_url(url);
            assert!(
                !name.is_empty() && !name.starts_with('.'),
                "{url} -> {name:?}"
            );
            assert!(!name.contains('/') && !name.contains('\u{1b}'), "{name:?}");
        }
    }

    #[test]
    fn part_files_are_named_after_the_output_and_the_object_and_stay_short() {
        let a = part_path(Path::new("r.mp4"), "https://h/a.mp4?sig=1");
        assert_eq!(a.parent(), Some(Path::new(".")));
        assert_eq!(a, part_path(Path::new("r.mp4"), "https://h/a.mp4?sig=2"));
        assert_ne!(a, part_path(Path::new("r.mp4"), "https://h/b.mp4?sig=1"));
        let long = format!("{}.mp4", "é".repeat(200));
        let part = part_path(Path::new(&long), "https://h/a.mp4");
        let name = part.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.len() < 255, "{}", name.len());
        assert_eq!(
            part,
            part_path(Path::new(&long), "https://h/a.mp4"),
            "stable"
        );
    }

    #[cfg(feature = "rt-tokio")]
    #[test]
    fn content_ranges_are_parsed_exactly() {
        let h = |v: &str| {
            let mut m = http::HeaderMap::new();
            m.insert(http::header::CONTENT_RANGE, v.parse().unwrap());
            m
        };
        assert_eq!(
            content_range(&h("bytes 10-19/20")),
            Some(ContentRange {
                first: 10,
                last: 19,
                total: Some(20)
            })
        );
        assert_eq!(content_range(&h("bytes 10-19/*")).unwrap().total, None);
        assert_eq!(content_range(&h("bytes 19-10/20")), None);
        assert_eq!(content_range(&h("bytes 10-/20")), None);
        assert_eq!(content_range(&h("items 1-2/3")), None);
        assert_eq!(unsatisfied_total(&h("bytes */20")), Some(20));
    }
}
