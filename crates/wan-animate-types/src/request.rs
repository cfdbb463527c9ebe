//! What the client sends: the create-task body and the task-list filters.

use serde::{Deserialize, Serialize};

use crate::{ListTime, Mode, Model, TaskStatus};

/// The body of `POST {base}/services/aigc/image2video/video-synthesis`.
///
/// Serializes exactly like the documented examples: `watermark` sits in `input`,
/// and optional fields that are not set are omitted.
///
/// ```
/// use wan_animate_types::{CreateTaskRequest, Mode, Model};
/// let req = CreateTaskRequest::new(
///     Model::AnimateMix,
///     "https://example.com/person.jpg",
///     "https://example.com/dance.mp4",
///     Mode::Standard,
/// )
/// .with_watermark(true);
/// let json = serde_json::to_value(&req).unwrap();
/// assert_eq!(json["input"]["watermark"], true);
/// assert!(json["parameters"].get("check_image").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreateTaskRequest {
    /// The model to run.
    pub model: Model,
    /// The media inputs.
    pub input: AnimateInput,
    /// The processing parameters.
    pub parameters: AnimateParameters,
}

impl CreateTaskRequest {
    /// A request with the required fields; optional ones are left to the service's defaults.
    pub fn new(
        model: Model,
        image_url: impl Into<String>,
        video_url: impl Into<String>,
        mode: Mode,
    ) -> Self {
        Self {
            model,
            input: AnimateInput::new(image_url, video_url),
            parameters: AnimateParameters::new(mode),
        }
    }

    /// Sets `input.watermark` (service default: `false`).
    pub fn with_watermark(mut self, watermark: bool) -> Self {
        self.input.watermark = Some(watermark);
        self
    }

    /// Sets `parameters.check_image` (service default: `true`).
    pub fn with_check_image(mut self, check_image: bool) -> Self {
        self.parameters.check_image = Some(check_image);
        self
    }

    /// Whether any input is an `oss://` temporary-upload URL, which requires the
    /// `X-DashScope-OssResourceResolve: enable` header.
    ///
    /// ```
    /// use wan_animate_types::{CreateTaskRequest, Mode, Model};
    /// let req = CreateTaskRequest::new(Model::AnimateMove, "oss://a/b.jpg", "https://x/y.mp4", Mode::Pro);
    /// assert!(req.uses_oss_resources());
    /// ```
    pub fn uses_oss_resources(&self) -> bool {
        [&self.input.image_url, &self.input.video_url]
            .iter()
            .any(|u| u.trim_start().to_ascii_lowercase().starts_with("oss://"))
    }
}

/// `input` of a create request.
///
/// ```
/// use wan_animate_types::AnimateInput;
/// let input = AnimateInput::new("https://x/p.png", "https://x/v.mp4").with_watermark(false);
/// assert_eq!(input.watermark, Some(false));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AnimateInput {
    /// The character image: a public HTTP(S) URL or an `oss://` temporary URL.
    pub image_url: String,
    /// The driving video: a public HTTP(S) URL or an `oss://` temporary URL.
    pub video_url: String,
    /// Adds a watermark in the lower-right corner. Lives in `input`, not `parameters`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<bool>,
}

impl AnimateInput {
    /// Both inputs, no watermark setting.
    pub fn new(image_url: impl Into<String>, video_url: impl Into<String>) -> Self {
        Self {
            image_url: image_url.into(),
            video_url: video_url.into(),
            watermark: None,
        }
    }

    /// Sets `watermark`.
    pub fn with_watermark(mut self, watermark: bool) -> Self {
        self.watermark = Some(watermark);
        self
    }
}

/// `parameters` of a create request.
///
/// ```
/// use wan_animate_types::{AnimateParameters, Mode};
/// let p = AnimateParameters::new(Mode::Pro).with_check_image(false);
/// assert_eq!(serde_json::to_string(&p).unwrap(), r#"{"mode":"wan-pro","check_image":false}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AnimateParameters {
    /// `wan-std` or `wan-pro`.
    pub mode: Mode,
    /// Whether the service checks the image before processing (service default: `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_image: Option<bool>,
}

impl AnimateParameters {
    /// Parameters with the given mode.
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            check_image: None,
        }
    }

    /// Sets `check_image`.
    pub fn with_check_image(mut self, check_image: bool) -> Self {
        self.check_image = Some(check_image);
        self
    }
}

/// Filters and paging of `GET {base}/tasks`.
///
/// ```
/// use wan_animate_types::{ListTasksQuery, TaskStatus};
/// let q = ListTasksQuery::new().with_model_name("wan2.2-animate-mix").with_status(TaskStatus::Running).with_page_size(50);
/// assert_eq!(q.to_query_pairs(), vec![
///     ("model_name", "wan2.2-animate-mix".to_string()),
///     ("status", "RUNNING".to_string()),
///     ("page_size", "50".to_string()),
/// ]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ListTasksQuery {
    /// Only this task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// Window start (service default: `end_time` − 24 h). The window may not exceed 24 h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<ListTime>,
    /// Window end (service default: `start_time` + 24 h; both empty: the last 24 h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<ListTime>,
    /// Only tasks of this model, e.g. `wan2.2-animate-mix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    /// Only tasks in this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TaskStatus>,
    /// Page number, from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_no: Option<u32>,
    /// Page size (service default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
}

impl ListTasksQuery {
    /// No filters: the service lists the last 24 hours, 10 per page.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `task_id`.
    pub fn with_task_id(mut self, id: impl Into<String>) -> Self {
        self.task_id = Some(id.into());
        self
    }

    /// Sets `start_time`.
    pub fn with_start_time(mut self, t: ListTime) -> Self {
        self.start_time = Some(t);
        self
    }

    /// Sets `end_time`.
    pub fn with_end_time(mut self, t: ListTime) -> Self {
        self.end_time = Some(t);
        self
    }

    /// Sets `model_name`.
    pub fn with_model_name(mut self, model: impl Into<String>) -> Self {
        self.model_name = Some(model.into());
        self
    }

    /// Sets `status`.
    pub fn with_status(mut self, status: TaskStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Sets `page_no`.
    pub fn with_page_no(mut self, page: u32) -> Self {
        self.page_no = Some(page);
        self
    }

    /// Sets `page_size`.
    pub fn with_page_size(mut self, size: u32) -> Self {
        self.page_size = Some(size);
        self
    }

    /// The set filters as query pairs (not yet percent-encoded), in a stable order.
    pub fn to_query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(v) = &self.task_id {
            pairs.push(("task_id", v.clone()));
        }
        if let Some(v) = &self.start_time {
            pairs.push(("start_time", v.as_str().to_owned()));
        }
        if let Some(v) = &self.end_time {
            pairs.push(("end_time", v.as_str().to_owned()));
        }
        if let Some(v) = &self.model_name {
            pairs.push(("model_name", v.clone()));
        }
        if let Some(v) = &self.status {
            pairs.push(("status", v.as_str().to_owned()));
        }
        if let Some(v) = self.page_no {
            pairs.push(("page_no", v.to_string()));
        }
        if let Some(v) = self.page_size {
            pairs.push(("page_size", v.to_string()));
        }
        pairs
    }

    /// Parses decoded query pairs, as a server receives them. Unknown keys
    /// (such as the SDK-only `api_key_id` and `region`) are ignored.
    ///
    /// ```
    /// use wan_animate_types::ListTasksQuery;
    /// let q = ListTasksQuery::from_query_pairs([("page_no", "2"), ("region", "cn-beijing")]).unwrap();
    /// assert_eq!(q.page_no, Some(2));
    /// assert!(ListTasksQuery::from_query_pairs([("page_size", "ten")]).is_err());
    /// ```
    pub fn from_query_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, String> {
        let mut q = Self::new();
        let number = |key: &str, v: &str| {
            v.parse::<u32>()
                .map_err(|_| format!("{key} must be a positive integer, got {v:?}"))
        };
        for (key, value) in pairs {
            if value.is_empty() {
                continue;
            }
            match key {
                "task_id" => q.task_id = Some(value.to_owned()),
                "start_time" => q.start_time = Some(ListTime::new(value)),
                "end_time" => q.end_time = Some(ListTime::new(value)),
                "model_name" => q.model_name = Some(value.to_owned()),
                "status" => q.status = Some(TaskStatus::from(value)),
                "page_no" => q.page_no = Some(number(key, value)?),
                "page_size" => q.page_size = Some(number(key, value)?),
                _ => {}
            }
        }
        Ok(q)
    }
}
