//! Wire-format types for Alibaba Cloud Model Studio (DashScope) **Wan 2.2 Animate**.
//!
//! This crate depends on `serde` and `serde_json` only, so servers, queue workers and
//! proxies can use the data model without any HTTP client. It models every body of
//! the documented contract: the create-task request and response, the task query for
//! every status, cancel, the task list, the temporary-upload policy, the error body, and
//! the task completion event pushed through EventBridge ([`TaskCompletionEvent`]).
//!
//! Forward compatibility is a rule, not an accident:
//! - server-owned enums ([`TaskStatus`], [`Model`], [`Mode`], [`VideoRatio`]) keep values
//!   they do not know as `Unrecognized` instead of failing;
//! - response types keep unknown JSON fields in `extra`, so printing a response never
//!   drops data;
//! - optional fields are really optional (a documented example has no `request_id`).
//!
//! ```
//! use wan_animate_types::{CreateTaskRequest, Mode, Model, TaskResponse, TaskStatus};
//!
//! let request = CreateTaskRequest::new(
//!     Model::AnimateMove,
//!     "https://example.com/person.jpg",
//!     "https://example.com/dance.mp4",
//!     Mode::Pro,
//! );
//! let body = serde_json::to_string(&request)?;
//! assert!(body.contains(r#""mode":"wan-pro""#));
//!
//! let reply: TaskResponse = serde_json::from_str(
//!     r#"{"output":{"task_id":"t-1","task_status":"RUNNING","brand_new_field":1}}"#,
//! )?;
//! assert_eq!(reply.output.task_status, TaskStatus::Running);
//! assert!(reply.output.extra.contains_key("brand_new_field"));
//! # Ok::<(), serde_json::Error>(())
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod enums;
mod event;
mod request;
mod response;
mod time;

pub use enums::{Mode, Model, TaskStatus, UnknownValue, VideoRatio};
pub use event::{EventTime, TaskCompletionData, TaskCompletionEvent};
pub use request::{AnimateInput, AnimateParameters, CreateTaskRequest, ListTasksQuery};
pub use response::{
    CancelTaskResponse, CreateTaskOutput, CreateTaskResponse, ErrorBody, Extra, ListTasksResponse,
    TaskOutput, TaskResponse, TaskResults, TaskSummary, UploadPolicy, UploadPolicyResponse, Usage,
    VideoResults,
};
pub use time::{
    EpochMillis, ListTime, SERVICE_UTC_OFFSET_MILLIS, ServiceTime, days_from_civil,
    unix_millis_to_civil,
};

/// Paths under the base URL (which ends in `/api/v1`).
pub mod paths {
    /// Create an animate task (POST). No trailing slash.
    pub const CREATE_TASK: &str = "/services/aigc/image2video/video-synthesis";
    /// Query (`/tasks/{id}`), cancel (`/tasks/{id}/cancel`) and list (`/tasks`).
    pub const TASKS: &str = "/tasks";
    /// Temporary-upload policy (`/uploads?action=getPolicy&model=...`).
    pub const UPLOADS: &str = "/uploads";
}

/// Header names of the DashScope protocol.
pub mod headers {
    /// Must be `enable` on create-task requests.
    pub const ASYNC: &str = "X-DashScope-Async";
    /// `enable` when any input is an `oss://` temporary URL.
    pub const OSS_RESOURCE_RESOLVE: &str = "X-DashScope-OssResourceResolve";
    /// Optional workspace id.
    pub const WORKSPACE: &str = "X-DashScope-WorkSpace";
    /// The request id the service echoes.
    pub const REQUEST_ID: &str = "X-Request-ID";
}
