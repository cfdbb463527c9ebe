//! What the service answers: create, query, cancel, list, upload policy and error bodies.
//!
//! Every response type keeps the JSON fields it does not model in `extra`, so a
//! client that prints a response (the CLI's `--json`) never drops data, and tasks of
//! other models on the same account (image models, text-to-video) parse too.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::{EpochMillis, ServiceTime, TaskStatus, VideoRatio};

/// Unknown JSON fields, kept verbatim.
pub type Extra = Map<String, Value>;

/// The answer to a create-task request (HTTP 200).
///
/// ```
/// use wan_animate_types::{CreateTaskResponse, TaskStatus};
/// let r: CreateTaskResponse = serde_json::from_str(
///     r#"{"output":{"task_status":"PENDING","task_id":"abc"},"request_id":"r1"}"#).unwrap();
/// let out = r.output.unwrap();
/// assert_eq!((out.task_id.as_str(), out.task_status), ("abc", TaskStatus::Pending));
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreateTaskResponse {
    /// The new task (absent on failure bodies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<CreateTaskOutput>,
    /// The id of this request, for support.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Error code, only on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Error message, only on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

impl CreateTaskResponse {
    /// A successful response for `task_id` in `PENDING` (useful in servers and tests).
    pub fn new(task_id: impl Into<String>) -> Self {
        Self {
            output: Some(CreateTaskOutput::new(task_id, TaskStatus::Pending)),
            ..Self::default()
        }
    }

    /// Sets `request_id`.
    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }
}

/// `output` of a create-task response.
///
/// ```
/// use wan_animate_types::{CreateTaskOutput, TaskStatus};
/// let o = CreateTaskOutput::new("t1", TaskStatus::Pending);
/// assert_eq!(o.task_id, "t1");
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreateTaskOutput {
    /// The task id; queryable for 24 hours.
    pub task_id: String,
    /// Normally `PENDING`.
    pub task_status: TaskStatus,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

impl CreateTaskOutput {
    /// An output with the given id and status.
    pub fn new(task_id: impl Into<String>, task_status: TaskStatus) -> Self {
        Self {
            task_id: task_id.into(),
            task_status,
            extra: Extra::new(),
        }
    }
}

/// The answer to `GET {base}/tasks/{task_id}`, for every status.
///
/// A `FAILED` task is still HTTP 200: its error is in `output.code` and `output.message`.
///
/// ```
/// use wan_animate_types::{TaskResponse, TaskStatus};
/// let r: TaskResponse = serde_json::from_str(r#"{"request_id":"r","output":{"task_id":"t",
///   "task_status":"SUCCEEDED","results":{"video_url":"https://x/v.mp4"}},
///   "usage":{"video_duration":5.2,"video_ratio":"standard"}}"#).unwrap();
/// assert_eq!(r.output.task_status, TaskStatus::Succeeded);
/// assert_eq!(r.output.video_url(), Some("https://x/v.mp4"));
/// assert_eq!(r.usage.unwrap().video_duration, Some(5.2));
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TaskResponse {
    /// The id of this request (absent from one documented example).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The task.
    pub output: TaskOutput,
    /// Billing facts, on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Error code of a failed request (not of a failed task: see `output.code`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Error message of a failed request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

impl TaskResponse {
    /// A response for `output` with no usage.
    pub fn new(output: TaskOutput) -> Self {
        Self {
            output,
            ..Self::default()
        }
    }

    /// Sets `request_id`.
    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }

    /// Sets `usage`.
    pub fn with_usage(mut self, usage: Usage) -> Self {
        self.usage = Some(usage);
        self
    }
}

/// `output` of a task query.
///
/// ```
/// use wan_animate_types::{TaskOutput, TaskStatus};
/// let o = TaskOutput::new("t", TaskStatus::Failed).with_error("InternalError", "boom");
/// assert_eq!(o.code.as_deref(), Some("InternalError"));
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TaskOutput {
    /// The task id.
    pub task_id: String,
    /// The current status.
    pub task_status: TaskStatus,
    /// When the task was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submit_time: Option<ServiceTime>,
    /// When processing started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_time: Option<ServiceTime>,
    /// When the task ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<ServiceTime>,
    /// The result, on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<TaskResults>,
    /// Why the task failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Why the task failed, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Fields this version does not model (other models' `video_url`, `task_metrics`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl TaskOutput {
    /// An output with the given id and status and nothing else.
    pub fn new(task_id: impl Into<String>, task_status: TaskStatus) -> Self {
        Self {
            task_id: task_id.into(),
            task_status,
            ..Self::default()
        }
    }

    /// Sets `code` and `message`.
    pub fn with_error(mut self, code: impl Into<String>, message: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self.message = Some(message.into());
        self
    }

    /// Sets `results.video_url`.
    pub fn with_video_url(mut self, url: impl Into<String>) -> Self {
        self.results = Some(TaskResults::Video(VideoResults::new(url)));
        self
    }

    /// Sets the three times.
    pub fn with_times(
        mut self,
        submit: Option<ServiceTime>,
        scheduled: Option<ServiceTime>,
        end: Option<ServiceTime>,
    ) -> Self {
        self.submit_time = submit;
        self.scheduled_time = scheduled;
        self.end_time = end;
        self
    }

    /// The result video: `results.video_url` for animate models, or `output.video_url`
    /// as other Wan video models report it.
    pub fn video_url(&self) -> Option<&str> {
        match &self.results {
            Some(TaskResults::Video(v)) => Some(v.video_url.as_str()),
            _ => self.extra.get("video_url").and_then(Value::as_str),
        }
    }
}

/// `output.results`: an object with `video_url` for animate models; other models on
/// the same task API return an array (image models) or other shapes.
///
/// ```
/// use wan_animate_types::TaskResults;
/// let r: TaskResults = serde_json::from_str(r#"[{"url":"https://x/1.png"}]"#).unwrap();
/// assert!(matches!(r, TaskResults::List(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum TaskResults {
    /// The animate shape: `{"video_url": ...}`.
    Video(VideoResults),
    /// An array of results (image models).
    List(Vec<Value>),
    /// Anything else, kept verbatim.
    Other(Value),
}

/// The animate result object.
///
/// ```
/// use wan_animate_types::VideoResults;
/// assert_eq!(VideoResults::new("https://x/v.mp4").video_url, "https://x/v.mp4");
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VideoResults {
    /// A signed URL of the MP4, valid for 24 hours after the task ends.
    pub video_url: String,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

impl VideoResults {
    /// A result with the given URL.
    pub fn new(video_url: impl Into<String>) -> Self {
        Self {
            video_url: video_url.into(),
            extra: Extra::new(),
        }
    }
}

/// `usage` of a succeeded task: what is billed.
///
/// ```
/// use wan_animate_types::{Usage, VideoRatio};
/// let u = Usage::new(5.2, VideoRatio::Standard);
/// assert_eq!(u.video_ratio, Some(VideoRatio::Standard));
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Usage {
    /// Seconds of generated video: the billed quantity.
    #[serde(
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub video_duration: Option<f64>,
    /// The billed mode (`standard` or `pro`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_ratio: Option<VideoRatio>,
    /// Fields this version does not model (`video_count`, `SR`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl Usage {
    /// Usage with both documented fields set.
    pub fn new(video_duration: f64, video_ratio: VideoRatio) -> Self {
        Self {
            video_duration: Some(video_duration),
            video_ratio: Some(video_ratio),
            extra: Extra::new(),
        }
    }
}

/// The answer to `POST {base}/tasks/{task_id}/cancel` (HTTP 200).
///
/// ```
/// use wan_animate_types::CancelTaskResponse;
/// let r: CancelTaskResponse = serde_json::from_str(r#"{"request_id":"r"}"#).unwrap();
/// assert_eq!(r.request_id.as_deref(), Some("r"));
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CancelTaskResponse {
    /// The id of this request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

impl CancelTaskResponse {
    /// A response with the given request id.
    pub fn new(request_id: impl Into<String>) -> Self {
        Self {
            request_id: Some(request_id.into()),
            extra: Extra::new(),
        }
    }
}

/// The answer to `GET {base}/tasks`: not wrapped in `output`, times in epoch milliseconds.
///
/// ```
/// use wan_animate_types::{ListTasksResponse, TaskStatus};
/// let r: ListTasksResponse = serde_json::from_str(r#"{"request_id":"r","total":"1","total_page":1,
///   "page_no":1,"page_size":10,"data":[{"task_id":"t","status":"RUNNING","gmt_create":1700000000000}]}"#).unwrap();
/// assert_eq!(r.total, Some(1));
/// assert_eq!(r.data[0].status, TaskStatus::Running);
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ListTasksResponse {
    /// The id of this request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Matching tasks in all pages.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub total: Option<u64>,
    /// Number of pages.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub total_page: Option<u64>,
    /// This page's number, from 1.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub page_no: Option<u64>,
    /// This page's size.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub page_size: Option<u64>,
    /// The tasks of this page.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub data: Vec<TaskSummary>,
    /// Error code, on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Error message, on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ListTasksResponse {
    /// One page holding `data`, with consistent paging fields.
    pub fn new(data: Vec<TaskSummary>, page_no: u64, page_size: u64, total: u64) -> Self {
        let total_page = if page_size == 0 {
            0
        } else {
            total.div_ceil(page_size)
        };
        Self {
            total: Some(total),
            total_page: Some(total_page),
            page_no: Some(page_no),
            page_size: Some(page_size),
            data,
            ..Self::default()
        }
    }
}

/// One task in a list page. Note `status`, not `task_status`.
///
/// ```
/// use wan_animate_types::{EpochMillis, TaskStatus, TaskSummary};
/// let t = TaskSummary::new("t", TaskStatus::Pending).with_model_name("wan2.2-animate-mix")
///     .with_gmt_create(EpochMillis(1_700_000_000_000));
/// assert_eq!(t.model_name.as_deref(), Some("wan2.2-animate-mix"));
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TaskSummary {
    /// The task id.
    pub task_id: String,
    /// The current status.
    pub status: TaskStatus,
    /// The model, e.g. `wan2.2-animate-mix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    /// The request id of the create call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The numeric id of the API key that created it.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub api_key_id: Option<String>,
    /// The calling account.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub caller_uid: Option<String>,
    /// The main account.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub caller_parent_id: Option<String>,
    /// The region, e.g. `cn-beijing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// e.g. `apikey:v1:aigc:image2video:video-synthesis:<model>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_api_unique_key: Option<String>,
    /// When the task was created.
    #[serde(
        default,
        deserialize_with = "lenient::opt_millis",
        skip_serializing_if = "Option::is_none"
    )]
    pub gmt_create: Option<EpochMillis>,
    /// When processing started.
    #[serde(
        default,
        deserialize_with = "lenient::opt_millis",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_time: Option<EpochMillis>,
    /// When the task ended (absent while it runs).
    #[serde(
        default,
        deserialize_with = "lenient::opt_millis",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_time: Option<EpochMillis>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

impl TaskSummary {
    /// A summary with the given id and status.
    pub fn new(task_id: impl Into<String>, status: TaskStatus) -> Self {
        Self {
            task_id: task_id.into(),
            status,
            ..Self::default()
        }
    }

    /// Sets `model_name`.
    pub fn with_model_name(mut self, model: impl Into<String>) -> Self {
        self.model_name = Some(model.into());
        self
    }

    /// Sets `gmt_create`.
    pub fn with_gmt_create(mut self, t: EpochMillis) -> Self {
        self.gmt_create = Some(t);
        self
    }
}

/// The answer to `GET {base}/uploads?action=getPolicy&model=...`.
///
/// ```
/// use wan_animate_types::UploadPolicyResponse;
/// let r: UploadPolicyResponse = serde_json::from_str(r#"{"request_id":"r","data":{"policy":"p",
///   "signature":"s","upload_dir":"d","upload_host":"https://h","expire_in_seconds":"300",
///   "max_file_size_mb":100,"oss_access_key_id":"k","x_oss_object_acl":"private",
///   "x_oss_forbid_overwrite":"true"}}"#).unwrap();
/// assert_eq!(r.data.expire_in_seconds, 300);
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UploadPolicyResponse {
    /// The id of this request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The policy.
    pub data: UploadPolicy,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A temporary-upload credential: everything the OSS form POST must echo.
///
/// Numbers may arrive as JSON numbers or numeric strings (the documentation says
/// string, examples and captures are numbers); both parse.
///
/// ```
/// use wan_animate_types::UploadPolicy;
/// let p = UploadPolicy::default();
/// assert_eq!(p.expire_in_seconds, 0);
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UploadPolicy {
    /// Base64 OSS POST policy document.
    pub policy: String,
    /// The policy's signature.
    pub signature: String,
    /// The object key prefix; keys are `upload_dir + "/" + file name`.
    pub upload_dir: String,
    /// Where to POST the form.
    pub upload_host: String,
    /// The access key id to send as `OSSAccessKeyId`.
    pub oss_access_key_id: String,
    /// To echo as `x-oss-object-acl`.
    pub x_oss_object_acl: String,
    /// To echo as `x-oss-forbid-overwrite` (a string, `"true"`).
    #[serde(deserialize_with = "lenient::string")]
    pub x_oss_forbid_overwrite: String,
    /// How long the credential is valid.
    #[serde(deserialize_with = "lenient::u64")]
    pub expire_in_seconds: u64,
    /// The largest file the policy accepts, in MiB (model dependent).
    #[serde(deserialize_with = "lenient::u64")]
    pub max_file_size_mb: u64,
    /// Daily upload capacity of the account, in MiB.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub capacity_limit_mb: Option<u64>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The flat error body of any non-2xx answer: `code`, `message` (or `msg`), `request_id`.
///
/// ```
/// use wan_animate_types::ErrorBody;
/// let e: ErrorBody = serde_json::from_str(r#"{"code":"InvalidApiKey","msg":"No API-key provided."}"#).unwrap();
/// assert_eq!(e.message.as_deref(), Some("No API-key provided."));
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErrorBody {
    /// The error code, an open set (`InvalidApiKey`, `Throttling.RateQuota`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// What went wrong, for people.
    #[serde(default, alias = "msg", skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The id of the failed request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ErrorBody {
    /// A body with a code and a message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: Some(code.into()),
            message: Some(message.into()),
            ..Self::default()
        }
    }

    /// Sets `request_id`.
    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }
}

/// Deserializers that accept the shapes the service is known to vary between.
mod lenient {
    use super::*;

    fn value_to_u64(v: &Value) -> Option<u64> {
        match v {
            Value::Number(n) => n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                    .map(|f| f as u64)
            }),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub(super) fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let v = Value::deserialize(d)?;
        value_to_u64(&v).ok_or_else(|| {
            serde::de::Error::custom(format!("expected a number or numeric string, got {v}"))
        })
    }

    pub(super) fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        let v = Value::deserialize(d)?;
        if v.is_null() {
            return Ok(None);
        }
        value_to_u64(&v).map(Some).ok_or_else(|| {
            serde::de::Error::custom(format!("expected a number or numeric string, got {v}"))
        })
    }

    pub(super) fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            Value::Number(n) => Ok(n.as_f64()),
            Value::String(s) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| serde::de::Error::custom(format!("expected a number, got {s:?}"))),
            other => Err(serde::de::Error::custom(format!(
                "expected a number, got {other}"
            ))),
        }
    }

    pub(super) fn opt_millis<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<EpochMillis>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            Value::Number(n) => Ok(n.as_i64().map(EpochMillis)),
            Value::String(s) if s.trim().is_empty() => Ok(None),
            Value::String(s) => s
                .trim()
                .parse()
                .map(|ms| Some(EpochMillis(ms)))
                .map_err(|_| {
                    serde::de::Error::custom(format!("expected epoch milliseconds, got {s:?}"))
                }),
            other => Err(serde::de::Error::custom(format!(
                "expected epoch milliseconds, got {other}"
            ))),
        }
    }

    pub(super) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(s),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(serde::de::Error::custom(format!(
                "expected a string, got {other}"
            ))),
        }
    }

    pub(super) fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            Value::Number(n) => Ok(Some(n.to_string())),
            Value::Bool(b) => Ok(Some(b.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "expected a string, got {other}"
            ))),
        }
    }

    pub(super) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de> + Default,
    {
        Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
    }
}
