//! The one error type. It always carries what the service said (HTTP status, `code`,
//! `message`, `request_id`), the task id when one exists, and a classification that callers
//! (and the CLI's exit codes) branch on. It never contains the API key.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use wan_animate_types::TaskStatus;

use crate::http::{BoxError, TransportError};

/// What kind of failure this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Missing or wrong key, region mismatch, no permission (401/403, `InvalidApiKey`, `AccessDenied*`).
    Auth,
    /// Rate-limited (`Throttling*`); transient, retried before surfacing.
    Throttled,
    /// Quota or billing (`Arrearage`, overdue bills, free tier exhausted); retrying will not help.
    QuotaOrBilling,
    /// The request or its media was rejected (`InvalidParameter*`, `InvalidFile.*`, `BadRequest.*`, preflight).
    InvalidInput,
    /// Content moderation (`DataInspectionFailed`, `IPInfringementSuspect`).
    ContentModeration,
    /// The service failed (5xx, `InternalError*`); transient, retried before surfacing.
    Service,
    /// The network failed (connect, reset, I/O).
    Transport,
    /// A deadline passed (a request's, or the wait's).
    Timeout,
    /// The task ended `FAILED` for a reason that is none of the kinds above.
    TaskFailed,
    /// The task was canceled.
    TaskCanceled,
    /// The task is `UNKNOWN`: older than 24 hours, or it never existed.
    TaskUnknown,
    /// A response could not be understood.
    Decode,
    /// The client is misconfigured (no key, bad base URL).
    Config,
    /// A create request failed ambiguously and the task could not be identified: it may exist.
    SubmitOutcomeUnknown,
    /// Local I/O failed (no space left, permission denied, read-only or busy file system).
    /// Not transient: retrying without a change on this machine fails again. A task is not
    /// affected by it (its result stays downloadable for 24 hours).
    LocalIo,
}

impl ErrorKind {
    /// The one spelling of this kind, used in JSON output, ledgers and reports
    /// (`quota_or_billing`, `local_io`, ...). Stable: scripts branch on it.
    ///
    /// ```
    /// use wan_animate_core::ErrorKind;
    /// assert_eq!(ErrorKind::QuotaOrBilling.as_str(), "quota_or_billing");
    /// assert_eq!(ErrorKind::LocalIo.as_str(), "local_io");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Auth => "auth",
            ErrorKind::Throttled => "throttled",
            ErrorKind::QuotaOrBilling => "quota_or_billing",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::ContentModeration => "content_moderation",
            ErrorKind::Service => "service",
            ErrorKind::Transport => "transport",
            ErrorKind::Timeout => "timeout",
            ErrorKind::TaskFailed => "task_failed",
            ErrorKind::TaskCanceled => "task_canceled",
            ErrorKind::TaskUnknown => "task_unknown",
            ErrorKind::Decode => "decode",
            ErrorKind::Config => "config",
            ErrorKind::SubmitOutcomeUnknown => "submit_outcome_unknown",
            ErrorKind::LocalIo => "local_io",
        }
    }

    /// Whether retrying the same request later can succeed.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorKind::Throttled | ErrorKind::Service | ErrorKind::Transport | ErrorKind::Timeout
        )
    }
}

/// The one spelling ([`ErrorKind::as_str`]), so `{kind}` in any message, log or report
/// reads like the JSON output.
///
/// ```
/// assert_eq!(wan_animate_core::ErrorKind::QuotaOrBilling.to_string(), "quota_or_billing");
/// ```
impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Serialized as its one spelling ([`ErrorKind::as_str`]).
///
/// ```
/// let json = serde_json::to_string(&wan_animate_core::ErrorKind::LocalIo).unwrap();
/// assert_eq!(json, r#""local_io""#);
/// ```
impl serde::Serialize for ErrorKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Classifies a service error by HTTP status and code (spec §9). Codes are an open set and
/// are matched by prefix; the status decides when the code is unknown. Internal: users see the
/// result as [`Error::kind`] and [`crate::TaskOutcome`].
pub(crate) fn classify(status: Option<u16>, code: Option<&str>) -> ErrorKind {
    if let Some(code) = code {
        let has = |p: &str| code == p || code.starts_with(&format!("{p}."));
        if has("DataInspectionFailed")
            || code == "data_inspection_failed"
            || has("IPInfringementSuspect")
        {
            return ErrorKind::ContentModeration;
        }
        if has("Arrearage")
            || has("CommodityNotPurchased")
            || has("PrepaidBillOverdue")
            || has("PostpaidBillOverdue")
            || has("AllocationQuota")
            || code == "insufficient_quota"
        {
            return ErrorKind::QuotaOrBilling;
        }
        if has("Throttling")
            || has("LimitRequests")
            || code == "limit_requests"
            || code == "limit_burst_rate"
        {
            return ErrorKind::Throttled;
        }
        if has("InvalidApiKey")
            || code == "invalid_api_key"
            || has("AccessDenied")
            || code == "access_denied"
            || code == "NOT AUTHORIZED"
            || has("Model.AccessDenied")
            || has("Workspace.AccessDenied")
            || has("WorkSpaceNotFound")
        {
            return ErrorKind::Auth;
        }
        if has("InvalidParameter")
            || code == "invalid_parameter_error"
            || has("InvalidFile")
            || has("InvalidURL")
            || has("BadRequest")
            || has("InvalidPerson")
            || code.starts_with("InvalidImage")
            || has("ModelNotFound")
            || code == "model_not_found"
            || has("UnsupportedOperation")
            || has("NotFound")
        {
            return ErrorKind::InvalidInput;
        }
        if has("InternalError")
            || code == "internal_error"
            || has("SystemError")
            || has("ModelServiceFailed")
            || has("ModelServingError")
            || has("ModelUnavailable")
            || has("RequestTimeOut")
        {
            return ErrorKind::Service;
        }
    }
    match status {
        Some(401 | 403) => ErrorKind::Auth,
        Some(429) => ErrorKind::Throttled,
        Some(s) if s >= 500 => ErrorKind::Service,
        Some(400..=499) => ErrorKind::InvalidInput,
        _ => ErrorKind::Decode,
    }
}

/// A setting of [`ClientConfig`](crate::ClientConfig) that a [`NextStep::FixSetting`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Setting {
    /// The API key.
    ApiKey,
    /// The region.
    Region,
    /// The base URL.
    BaseUrl,
    /// The workspace id.
    Workspace,
}

impl Setting {
    /// A stable name (`api_key`, `region`, `base_url`, `workspace`).
    pub fn as_str(self) -> &'static str {
        match self {
            Setting::ApiKey => "api_key",
            Setting::Region => "region",
            Setting::BaseUrl => "base_url",
            Setting::Workspace => "workspace",
        }
    }
}

/// What to do next about an [`Error`], as data: a program branches on it, the CLI renders it
/// in its own syntax, and its `Display` is plain advice for library users.
///
/// ```
/// use wan_animate_core::error::NextStep;
/// let step = NextStep::ResumeWait { task_id: "t-1".into() };
/// assert!(step.to_string().contains("t-1"));
/// assert_eq!(step.action(), "resume_wait");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NextStep {
    /// The task keeps running on the service: wait for it again by id.
    ResumeWait {
        /// The task to wait for.
        task_id: String,
    },
    /// A create request may have made a task: look for it among the account's recent tasks of
    /// this model before resubmitting.
    CheckTaskList {
        /// The model of the request.
        model: String,
        /// How far back to look.
        since: Duration,
        /// The request id of the failed create, when its answer carried one: the list entry
        /// with this `request_id` is the task it made.
        request_id: Option<String>,
    },
    /// The media breaks a documented limit: probe it locally to see which, and fix it.
    CheckMedia {
        /// The files, when known (empty when the service did not say which).
        paths: Vec<PathBuf>,
        /// Whether the local preflight found the problem (rather than the service): turning
        /// preflight off lets the service decide instead.
        preflight: bool,
    },
    /// The API key is missing or wrong, or belongs to another region.
    FixCredentials,
    /// A setting has a value that cannot work.
    FixSetting {
        /// Which setting.
        setting: Setting,
    },
    /// The disk is full: free space where the file is written, then run again.
    FreeDiskSpace {
        /// The path that could not be written.
        path: PathBuf,
    },
    /// Transient: the same request can succeed later.
    RetryLater {
        /// How long the service asked to wait, when it said.
        after: Option<Duration>,
    },
    /// Only `PENDING` tasks can be canceled.
    NotCancelable,
}

impl NextStep {
    /// A stable name of the step (`resume_wait`, `check_task_list`, ...), for JSON and logs.
    pub fn action(&self) -> &'static str {
        match self {
            NextStep::ResumeWait { .. } => "resume_wait",
            NextStep::CheckTaskList { .. } => "check_task_list",
            NextStep::CheckMedia { .. } => "check_media",
            NextStep::FixCredentials => "fix_credentials",
            NextStep::FixSetting { .. } => "fix_setting",
            NextStep::FreeDiskSpace { .. } => "free_disk_space",
            NextStep::RetryLater { .. } => "retry_later",
            NextStep::NotCancelable => "not_cancelable",
        }
    }
}

/// Plain advice that names no command of any program.
impl fmt::Display for NextStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NextStep::ResumeWait { task_id } => write!(
                f,
                "the task keeps running on the service; wait for task {task_id} again to get its result"
            ),
            NextStep::CheckTaskList {
                model,
                since,
                request_id,
            } => {
                write!(
                    f,
                    "do not resubmit blindly: first look for the task among the account's {model} tasks of the last {} s",
                    since.as_secs()
                )?;
                if let Some(rid) = request_id {
                    write!(f, " (the one whose request_id is {rid})")?;
                }
                Ok(())
            }
            NextStep::CheckMedia { paths, preflight } => {
                f.write_str("the media breaks a documented limit; ")?;
                if paths.is_empty() {
                    f.write_str("probe the files locally to see which")?;
                } else {
                    let names: Vec<String> =
                        paths.iter().map(|p| p.display().to_string()).collect();
                    write!(f, "probe {} locally to see which", names.join(" and "))?;
                }
                if *preflight {
                    f.write_str(", fix them, or turn the local preflight off to let the service decide")?;
                }
                Ok(())
            }
            NextStep::FixCredentials => f.write_str(
                "check the API key and that it belongs to the region of the base URL (keys are region-scoped)",
            ),
            NextStep::FixSetting { setting } => f.write_str(match setting {
                Setting::ApiKey => "give a non-empty API key",
                Setting::Region => {
                    "use a region where Wan 2.2 Animate is served: cn-beijing or ap-southeast-1 (or give a base URL)"
                }
                Setting::BaseUrl => {
                    "give an https:// base URL ending in /api/v1, without user or password (plain http only for loopback)"
                }
                Setting::Workspace => {
                    "give the workspace id shown in the console (letters, digits, '-' and '_')"
                }
            }),
            NextStep::FreeDiskSpace { path } => write!(
                f,
                "free disk space where {} is written (or choose another place), then run again",
                path.display()
            ),
            NextStep::RetryLater { after: Some(d) } => write!(
                f,
                "the service asked to wait; retry in {} s or later",
                d.as_secs().max(1)
            ),
            NextStep::RetryLater { after: None } => {
                f.write_str("the service or network is unavailable; retry later")
            }
            NextStep::NotCancelable => f.write_str(
                "only PENDING tasks can be canceled; a RUNNING task finishes (and is billed)",
            ),
        }
    }
}

/// An error from any operation of the client.
///
/// `Display` is this error's own message (with the task and request ids); the cause, if any,
/// is in [`source()`](std::error::Error::source) and is never repeated in the message.
///
/// ```
/// use wan_animate_core::{Error, ErrorKind};
/// let io = std::io::Error::new(std::io::ErrorKind::StorageFull, "no space left on device");
/// let e = Error::local_io("write the download", std::path::Path::new("out.mp4"), io);
/// assert_eq!(e.kind(), ErrorKind::LocalIo);
/// assert!(!e.to_string().contains("no space left"));
/// let cause = std::error::Error::source(&e).unwrap();
/// assert_eq!(cause.to_string(), "no space left on device");
/// ```
///
/// # Handling errors by kind
///
/// Branch on [`kind()`](Error::kind) (its [`as_str`](ErrorKind::as_str) spelling is the one
/// that JSON output, ledgers and reports use), show [`next_step()`](Error::next_step) to the
/// user, and before submitting again after a failed submit, ask
/// [`task_may_exist()`](Error::task_may_exist): a paid task may have been created anyway.
///
/// ```
/// use wan_animate_core::error::NextStep;
/// use wan_animate_core::test_util::{ManualClock, MockHttp, MockReply};
/// use wan_animate_core::types::{CreateTaskRequest, Mode, Model};
/// use wan_animate_core::{Client, ClientConfig, Error, ErrorKind};
///
/// /// What a program might do about a failed submit.
/// fn advice(e: &Error) -> String {
///     let what = match e.kind() {
///         ErrorKind::Auth | ErrorKind::Config => "fix the configuration",
///         ErrorKind::QuotaOrBilling => "top up the account; retrying will not help",
///         ErrorKind::InvalidInput | ErrorKind::ContentModeration => "change the inputs",
///         ErrorKind::SubmitOutcomeUnknown => "look for the task before submitting again",
///         kind if kind.is_transient() => "try again later",
///         _ => "report it",
///     };
///     match e.next_step() {
///         Some(step) => format!("{}: {what} ({step})", e.kind().as_str()),
///         None => format!("{}: {what}", e.kind().as_str()),
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), wan_animate_core::Error> {
/// let request = CreateTaskRequest::new(Model::AnimateMix, "https://x/me.jpg", "https://x/dance.mp4", Mode::Standard);
/// let client_over = |http: MockHttp| {
///     let clock = ManualClock::new();
///     Client::builder(ClientConfig::new("sk-example")).http_client(http).sleep(clock.clone()).clock(clock).build()
/// };
///
/// // The account is in arrears: nothing was created, and retrying will not help.
/// let client = client_over(MockHttp::new(|_| {
///     MockReply::json(400, r#"{"code":"Arrearage","message":"Access denied, please make sure your account is in good standing.","request_id":"r-1"}"#)
/// }))?;
/// let e = client.submit(&request).await.unwrap_err();
/// assert_eq!(e.kind(), ErrorKind::QuotaOrBilling);
/// assert_eq!((e.code(), e.request_id()), (Some("Arrearage"), Some("r-1")));
/// assert!(!e.task_may_exist() && !e.is_transient());
/// println!("{}", advice(&e));
///
/// // The create request reached the service, which answered 500: a task may exist. The
/// // client searched the task list, found nothing provably its own, and says so.
/// let client = client_over(MockHttp::new(|req| match req.path() {
///     "/api/v1/tasks" => MockReply::json(200, r#"{"total":0,"total_page":0,"page_no":1,"page_size":100,"data":[]}"#),
///     _ => MockReply::json(500, r#"{"code":"InternalError","message":"An internal error has occured.","request_id":"r-2"}"#),
/// }))?;
/// let e = client.submit(&request).await.unwrap_err();
/// assert_eq!(e.kind(), ErrorKind::SubmitOutcomeUnknown);
/// assert_eq!(e.kind().as_str(), "submit_outcome_unknown");
/// assert!(e.task_may_exist());
/// assert!(matches!(e.next_step(), Some(NextStep::CheckTaskList { .. })));
/// println!("{}", advice(&e));
/// # Ok(()) }
/// ```
#[derive(thiserror::Error)]
#[error(transparent)]
pub struct Error(Box<Inner>);

#[derive(Debug, thiserror::Error)]
#[error("{summary}{}", ids_suffix(.task_id, .request_id))]
struct Inner {
    kind: ErrorKind,
    summary: String,
    http_status: Option<u16>,
    code: Option<String>,
    message: Option<String>,
    request_id: Option<String>,
    task_id: Option<String>,
    last_status: Option<TaskStatus>,
    retry_after: Option<Duration>,
    task_may_exist: bool,
    hint: Option<String>,
    next_step: Option<NextStep>,
    #[source]
    source: Option<BoxError>,
}

/// Text from a server as it goes into a message: control characters (ANSI escapes, CR, LF)
/// escaped, so printing an error cannot drive a terminal. The raw text stays available
/// from the accessors ([`Error::message`], [`Error::code`], ...).
fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn ids_suffix(task_id: &Option<String>, request_id: &Option<String>) -> String {
    let mut extra = Vec::new();
    // Ids come from servers: control characters are escaped, never written raw.
    let shown = escape_controls;
    if let Some(id) = task_id {
        extra.push(format!("task id {}", shown(id)));
    }
    if let Some(id) = request_id {
        extra.push(format!("request id {}", shown(id)));
    }
    if extra.is_empty() {
        String::new()
    } else {
        format!(" ({})", extra.join(", "))
    }
}

impl Error {
    /// A new error of `kind` with a one-line summary of what happened.
    pub fn new(kind: ErrorKind, summary: impl Into<String>) -> Self {
        Self(Box::new(Inner {
            kind,
            summary: summary.into(),
            http_status: None,
            code: None,
            message: None,
            request_id: None,
            task_id: None,
            last_status: None,
            retry_after: None,
            task_may_exist: false,
            hint: None,
            next_step: None,
            source: None,
        }))
    }

    /// A configuration error.
    pub fn config(summary: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, summary)
    }

    /// A configuration error about one setting, with the step that fixes it.
    pub(crate) fn bad_setting(setting: Setting, summary: impl Into<String>) -> Self {
        Self::config(summary).with_next_step(NextStep::FixSetting { setting })
    }

    /// Invalid input found locally.
    pub fn invalid_input(summary: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, summary)
    }

    /// An error answer from the service.
    pub fn api(
        operation: &str,
        status: u16,
        code: Option<String>,
        message: Option<String>,
        request_id: Option<String>,
    ) -> Self {
        let kind = classify(Some(status), code.as_deref());
        let summary = format!(
            "{operation} failed: HTTP {status}{}{}",
            code.as_deref()
                .map(|c| format!(" {}", escape_controls(c)))
                .unwrap_or_default(),
            message
                .as_deref()
                .map(|m| format!(": {}", escape_controls(m)))
                .unwrap_or_default()
        );
        let mut e = Self::new(kind, summary);
        e.0.http_status = Some(status);
        e.0.code = code;
        e.0.message = message;
        e.0.request_id = request_id;
        if let Some(step) = default_next_step(operation, kind, e.0.code.as_deref()) {
            e = e.with_next_step(step);
        } else if let Some(hint) = default_hint(kind) {
            e.0.hint = Some(hint.to_owned());
        }
        e
    }

    /// A transport failure during `operation`. The transport error is the source.
    pub fn transport(operation: &str, e: TransportError) -> Self {
        let kind = if e.is_timeout() {
            ErrorKind::Timeout
        } else {
            ErrorKind::Transport
        };
        Self::new(kind, format!("{operation} failed"))
            .with_source(e)
            .with_next_step(NextStep::RetryLater { after: None })
    }

    /// A local file operation (`what`, e.g. "write the download") on `path` failed.
    /// The message names the path and what to do; the `io::Error` is kept as the source.
    ///
    /// ```
    /// use wan_animate_core::{Error, ErrorKind};
    /// let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
    /// let e = Error::local_io("write the download", std::path::Path::new("/out/x.mp4"), io);
    /// assert_eq!(e.kind(), ErrorKind::LocalIo);
    /// assert!(e.to_string().contains("/out/x.mp4"));
    /// ```
    pub fn local_io(what: &str, path: &std::path::Path, e: std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        let io_kind = e.kind();
        let err = Self::new(
            ErrorKind::LocalIo,
            format!("could not {what}: {}", path.display()),
        )
        .with_source(e);
        let advice = match io_kind {
            K::StorageFull | K::QuotaExceeded => {
                return err.with_next_step(NextStep::FreeDiskSpace {
                    path: path.to_owned(),
                });
            }
            K::PermissionDenied => "check the permissions of that path, or choose another output",
            K::ReadOnlyFilesystem => "that file system is read-only; choose another output",
            K::ResourceBusy | K::ExecutableFileBusy => {
                "that file is busy; close what uses it and run again"
            }
            K::NotFound => "the directory does not exist; create it or choose another output",
            K::IsADirectory => "that path is a directory; give a file name",
            _ => "check the path and the disk, then run the same command again",
        };
        err.with_hint(advice)
    }

    /// A response that could not be understood; `cause` (a serde error, or a description)
    /// is kept as the source.
    pub fn decode(
        operation: &str,
        cause: impl Into<BoxError>,
        status: u16,
        request_id: Option<String>,
    ) -> Self {
        let mut e = Self::new(
            ErrorKind::Decode,
            format!("{operation}: could not understand the response (HTTP {status})"),
        )
        .with_source(cause);
        e.0.http_status = Some(status);
        e.0.request_id = request_id;
        e
    }

    /// The classification.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The HTTP status, if the service answered.
    pub fn http_status(&self) -> Option<u16> {
        self.0.http_status
    }

    /// The service's error code (`InvalidApiKey`, `InvalidFile.Duration`, ...).
    pub fn code(&self) -> Option<&str> {
        self.0.code.as_deref()
    }

    /// The service's message.
    pub fn message(&self) -> Option<&str> {
        self.0.message.as_deref()
    }

    /// The request id, for support.
    pub fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }

    /// The task this error is about, when one exists: never lose it.
    pub fn task_id(&self) -> Option<&str> {
        self.0.task_id.as_deref()
    }

    /// The last status seen while waiting (deadline errors).
    pub fn last_status(&self) -> Option<&TaskStatus> {
        self.0.last_status.as_ref()
    }

    /// How long the service asked us to wait (`Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        self.0.retry_after
    }

    /// Whether a task may have been created although no task id is known (ambiguous submit).
    pub fn task_may_exist(&self) -> bool {
        self.0.task_may_exist
    }

    /// What to do next, as plain text for people, when there is advice. It names no command
    /// of any program; programs branch on [`next_step`](Self::next_step) instead.
    pub fn hint(&self) -> Option<&str> {
        self.0.hint.as_deref()
    }

    /// What to do next, as data, when there is a known step.
    ///
    /// ```
    /// use wan_animate_core::error::NextStep;
    /// let e = wan_animate_core::Error::api("get", 401, Some("InvalidApiKey".into()), None, None);
    /// assert_eq!(e.next_step(), Some(&NextStep::FixCredentials));
    /// ```
    pub fn next_step(&self) -> Option<&NextStep> {
        self.0.next_step.as_ref()
    }

    /// Whether retrying later can succeed.
    pub fn is_transient(&self) -> bool {
        self.0.kind.is_transient()
    }

    pub(crate) fn with_task_id(mut self, id: impl Into<String>) -> Self {
        self.0.task_id = Some(id.into());
        self
    }

    pub(crate) fn with_last_status(mut self, s: TaskStatus) -> Self {
        self.0.last_status = Some(s);
        self
    }

    pub(crate) fn with_retry_after(mut self, d: Option<Duration>) -> Self {
        self.0.retry_after = d;
        if let Some(NextStep::RetryLater { after }) = &mut self.0.next_step {
            *after = d;
            self.0.hint = self.0.next_step.as_ref().map(ToString::to_string);
        }
        self
    }

    /// Free-text advice. Prefer [`with_next_step`](Self::with_next_step) where a step fits:
    /// text cannot be rendered in a program's own syntax.
    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.0.hint = Some(hint.into());
        self
    }

    /// The next step, whose plain rendering also becomes the [`hint`](Self::hint).
    pub(crate) fn with_next_step(mut self, step: NextStep) -> Self {
        self.0.hint = Some(step.to_string());
        self.0.next_step = Some(step);
        self
    }

    /// The cause of this error (shown by `source()`, never repeated in `Display`).
    pub(crate) fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.0.source = Some(source.into());
        self
    }

    pub(crate) fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.0.kind = kind;
        self
    }

    pub(crate) fn with_service_error(
        mut self,
        code: Option<String>,
        message: Option<String>,
        request_id: Option<String>,
    ) -> Self {
        self.0.code = code;
        self.0.message = message;
        if request_id.is_some() {
            self.0.request_id = request_id;
        }
        self
    }

    pub(crate) fn may_exist(mut self) -> Self {
        self.0.task_may_exist = true;
        self
    }

    /// This error's message followed by its causes, each once (`a: b: c`), for a log line or
    /// a ledger column where `Display` alone would drop the cause. Task and request ids are
    /// not included (they have their own accessors).
    ///
    /// ```
    /// use wan_animate_core::Error;
    /// let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
    /// let e = Error::local_io("write the download", std::path::Path::new("x.mp4"), io);
    /// assert_eq!(e.full_message(), "could not write the download: x.mp4: denied");
    /// ```
    pub fn full_message(&self) -> String {
        self.summary()
    }

    /// This error's message followed by its causes (`a: b: c`), for errors that wrap it as
    /// text.
    pub(crate) fn summary(&self) -> String {
        let mut text = self.0.summary.clone();
        let mut cause = std::error::Error::source(&*self.0);
        while let Some(c) = cause {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cause = c.source();
        }
        text
    }
}

fn default_next_step(operation: &str, kind: ErrorKind, code: Option<&str>) -> Option<NextStep> {
    Some(match kind {
        ErrorKind::Auth => NextStep::FixCredentials,
        ErrorKind::Throttled | ErrorKind::Service => NextStep::RetryLater { after: None },
        ErrorKind::InvalidInput if code.is_some_and(|c| c.starts_with("InvalidFile")) => {
            NextStep::CheckMedia {
                paths: Vec::new(),
                preflight: false,
            }
        }
        ErrorKind::InvalidInput
            if operation.contains("cancel") && code == Some("UnsupportedOperation") =>
        {
            NextStep::NotCancelable
        }
        _ => return None,
    })
}

fn default_hint(kind: ErrorKind) -> Option<&'static str> {
    Some(match kind {
        ErrorKind::QuotaOrBilling => {
            "check the account's billing and quota in the Model Studio console"
        }
        ErrorKind::ContentModeration => {
            "the input or output was blocked by content moderation; use other media"
        }
        _ => return None,
    })
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.0.kind)
            .field("summary", &self.0.summary)
            .field("http_status", &self.0.http_status)
            .field("code", &self.0.code)
            .field("request_id", &self.0.request_id)
            .field("task_id", &self.0.task_id)
            .field("task_may_exist", &self.0.task_may_exist)
            .field("next_step", &self.0.next_step)
            .finish()
    }
}

#[cfg(test)]
mod classify_tests {
    use super::*;

    #[test]
    fn codes_are_classified_by_prefix_and_status_decides_otherwise() {
        assert_eq!(
            classify(Some(429), Some("Throttling.AllocationQuota")),
            ErrorKind::Throttled
        );
        assert_eq!(
            classify(Some(400), Some("Arrearage")),
            ErrorKind::QuotaOrBilling
        );
        assert_eq!(
            classify(Some(400), Some("InvalidFile.AspectRatio")),
            ErrorKind::InvalidInput
        );
        assert_eq!(classify(Some(503), None), ErrorKind::Service);
    }
}
