//! The completion event Model Studio pushes through Alibaba Cloud EventBridge when an
//! asynchronous task ends (spec §17): a CloudEvents 1.0 envelope with Alibaba's extension
//! attributes around a `data` object that names the task and its terminal status.
//!
//! The event carries no result: after one arrives, query the task once to get its video URL.
//! Like every response type, both levels keep the fields they do not model in `extra`, and
//! times are accepted as JSON numbers (epoch milliseconds) or strings.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::{EpochMillis, Extra, Model, SERVICE_UTC_OFFSET_MILLIS, ServiceTime, TaskStatus};

/// A task completion event (`dashscope:System:AsyncTaskFinish`), as an EventBridge HTTP
/// target or a RocketMQ consumer receives it.
///
/// ```
/// use wan_animate_types::{Model, TaskCompletionEvent, TaskStatus};
///
/// let event: TaskCompletionEvent = serde_json::from_str(r#"{
///   "specversion": "1.0", "id": "e-1", "source": "acs.dashscope",
///   "type": "dashscope:System:AsyncTaskFinish", "aliyunregionid": "cn-beijing",
///   "data": {"task_id": "t-1", "task_status": "SUCCEEDED",
///            "user_api_unique_key": "apikey:v1:aigc:image2video:video-synthesis:wan2.2-animate-mix",
///            "end_time": 1763948716000, "new_field": true}
/// }"#)?;
/// assert!(event.is_task_finish());
/// assert_eq!(event.data.task_id, "t-1");
/// assert_eq!(event.data.task_status, TaskStatus::Succeeded);
/// assert_eq!(event.data.model(), Some(Model::AnimateMix));
/// assert_eq!(event.data.end_time.unwrap().to_unix_millis(), Some(1_763_948_716_000));
/// assert!(event.data.extra.contains_key("new_field"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TaskCompletionEvent {
    /// The CloudEvents version, `1.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub specversion: Option<String>,
    /// The event id. EventBridge keeps it across redeliveries, so it identifies duplicates.
    pub id: String,
    /// The producer: [`TaskCompletionEvent::SOURCE`] (`acs.dashscope`).
    pub source: String,
    /// The event type: [`TaskCompletionEvent::TYPE`] (`dashscope:System:AsyncTaskFinish`).
    #[serde(rename = "type")]
    pub event_type: String,
    /// The media type of `data`, e.g. `application/json;charset=utf-8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datacontenttype: Option<String>,
    /// When the event happened (ISO-8601 UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<EventTime>,
    /// The CloudEvents subject, when EventBridge sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The Alibaba Cloud account that owns the task.
    #[serde(
        default,
        deserialize_with = "opt_lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub aliyunaccountid: Option<String>,
    /// When EventBridge published the event (ISO-8601 UTC with milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aliyunpublishtime: Option<EventTime>,
    /// The event bus, normally `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aliyuneventbusname: Option<String>,
    /// The region of the bus, which is the region of the task (`cn-beijing`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aliyunregionid: Option<String>,
    /// The account that originally produced the event.
    #[serde(
        default,
        deserialize_with = "opt_lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub aliyunoriginalaccountid: Option<String>,
    /// The task that ended.
    pub data: TaskCompletionData,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

impl TaskCompletionEvent {
    /// The event source of Model Studio: `acs.dashscope`.
    pub const SOURCE: &'static str = "acs.dashscope";
    /// The event type of a finished asynchronous task: `dashscope:System:AsyncTaskFinish`.
    pub const TYPE: &'static str = "dashscope:System:AsyncTaskFinish";

    /// An event with the given id for a task that ended in `task_status`, with the documented
    /// source, type and CloudEvents version (useful in simulators and tests).
    ///
    /// ```
    /// use wan_animate_types::{TaskCompletionEvent, TaskStatus};
    /// let e = TaskCompletionEvent::new("e-1", "t-1", TaskStatus::Failed).with_region("cn-beijing");
    /// assert!(e.is_task_finish());
    /// assert_eq!(e.data.region.as_deref(), Some("cn-beijing"));
    /// let json = serde_json::to_value(&e).unwrap();
    /// assert_eq!(json["type"], "dashscope:System:AsyncTaskFinish");
    /// ```
    pub fn new(id: impl Into<String>, task_id: impl Into<String>, task_status: TaskStatus) -> Self {
        Self {
            specversion: Some("1.0".into()),
            id: id.into(),
            source: Self::SOURCE.into(),
            event_type: Self::TYPE.into(),
            datacontenttype: Some("application/json;charset=utf-8".into()),
            data: TaskCompletionData::new(task_id, task_status),
            ..Self::default()
        }
    }

    /// Sets the region, both of the bus (`aliyunregionid`) and of the task (`data.region`).
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        let region = region.into();
        self.aliyunregionid = Some(region.clone());
        self.data.region = Some(region);
        self
    }

    /// Sets `data`.
    pub fn with_data(mut self, data: TaskCompletionData) -> Self {
        self.data = data;
        self
    }

    /// Sets `time` and `aliyunpublishtime` to the same instant.
    pub fn with_time(mut self, time: EventTime) -> Self {
        self.time = Some(time.clone());
        self.aliyunpublishtime = Some(time);
        self
    }

    /// Whether the source is `acs.dashscope` and the type `dashscope:System:AsyncTaskFinish`.
    pub fn is_task_finish(&self) -> bool {
        self.source == Self::SOURCE && self.event_type == Self::TYPE
    }
}

/// `data` of a completion event: which task ended, how, where and when.
///
/// ```
/// use wan_animate_types::{Model, TaskCompletionData, TaskStatus};
/// let d = TaskCompletionData::new("t-1", TaskStatus::Succeeded)
///     .with_user_api_unique_key("apikey:v1:aigc:image2video:video-synthesis:wan2.2-animate-move");
/// assert_eq!(d.model(), Some(Model::AnimateMove));
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TaskCompletionData {
    /// The task id, as returned by the create call.
    pub task_id: String,
    /// The terminal status (`SUCCEEDED`, `FAILED`, ...); unknown values are kept.
    pub task_status: TaskStatus,
    /// The region of the task, e.g. `cn-beijing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The request id of the create call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The numeric id of the API key that created the task.
    #[serde(
        default,
        deserialize_with = "opt_lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub api_key_id: Option<String>,
    /// `apikey:v1:<group>:<task>:<function>:<model>`; the suffix names the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_api_unique_key: Option<String>,
    /// When processing started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<EventTime>,
    /// When the task ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<EventTime>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

impl TaskCompletionData {
    /// Data naming a task and its status and nothing else.
    pub fn new(task_id: impl Into<String>, task_status: TaskStatus) -> Self {
        Self {
            task_id: task_id.into(),
            task_status,
            ..Self::default()
        }
    }

    /// Sets `user_api_unique_key`.
    pub fn with_user_api_unique_key(mut self, key: impl Into<String>) -> Self {
        self.user_api_unique_key = Some(key.into());
        self
    }

    /// Sets `user_api_unique_key` to the documented key of `model`'s tasks.
    ///
    /// ```
    /// use wan_animate_types::{Model, TaskCompletionData, TaskStatus};
    /// let d = TaskCompletionData::new("t", TaskStatus::Succeeded).with_model(&Model::AnimateMix);
    /// assert_eq!(d.user_api_unique_key.as_deref(),
    ///            Some("apikey:v1:aigc:image2video:video-synthesis:wan2.2-animate-mix"));
    /// ```
    pub fn with_model(self, model: &Model) -> Self {
        self.with_user_api_unique_key(format!(
            "apikey:v1:aigc:image2video:video-synthesis:{}",
            model.as_str()
        ))
    }

    /// Sets `request_id`.
    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }

    /// Sets `start_time` and `end_time`.
    pub fn with_times(mut self, start: Option<EventTime>, end: Option<EventTime>) -> Self {
        self.start_time = start;
        self.end_time = end;
        self
    }

    /// The model, from the last `:`-separated part of `user_api_unique_key`.
    pub fn model(&self) -> Option<Model> {
        let key = self.user_api_unique_key.as_deref()?;
        let name = key.rsplit(':').next().filter(|s| !s.is_empty())?;
        Some(Model::from(name))
    }
}

/// A time in a completion event, kept in its wire form: a JSON number of epoch
/// milliseconds, or a string (epoch milliseconds, ISO-8601 such as
/// `2026-11-24T01:45:16.993Z`, or the task API's `YYYY-MM-DD HH:mm:ss.SSS` in UTC+8).
///
/// The documentation does not show the format of `start_time`/`end_time`, so every one of
/// these parses; [`EventTime::to_unix_millis`] converts whichever arrived.
///
/// ```
/// use wan_animate_types::EventTime;
/// let n: EventTime = serde_json::from_str("1763948716000").unwrap();
/// let s: EventTime = serde_json::from_str(r#""1763948716000""#).unwrap();
/// let iso: EventTime = serde_json::from_str(r#""2025-11-24T01:45:16.000Z""#).unwrap();
/// assert_eq!(n.to_unix_millis(), Some(1_763_948_716_000));
/// assert_eq!(s.to_unix_millis(), n.to_unix_millis());
/// assert_eq!(iso.to_unix_millis(), n.to_unix_millis());
/// assert_eq!(serde_json::to_string(&s).unwrap(), r#""1763948716000""#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventTime {
    /// A JSON number: milliseconds since the Unix epoch.
    Millis(EpochMillis),
    /// A JSON string, verbatim.
    Text(String),
}

impl EventTime {
    /// Milliseconds since the Unix epoch, or `None` if a string is in none of the known formats.
    pub fn to_unix_millis(&self) -> Option<i64> {
        match self {
            Self::Millis(ms) => Some(ms.as_millis()),
            Self::Text(s) => parse_text_time(s.trim()),
        }
    }

    /// The time as [`EpochMillis`], if it parses.
    pub fn to_epoch_millis(&self) -> Option<EpochMillis> {
        self.to_unix_millis().map(EpochMillis)
    }
}

impl Default for EventTime {
    fn default() -> Self {
        Self::Millis(EpochMillis(0))
    }
}

impl From<EpochMillis> for EventTime {
    fn from(ms: EpochMillis) -> Self {
        Self::Millis(ms)
    }
}

impl fmt::Display for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Millis(ms) => write!(f, "{}", ms.as_millis()),
            Self::Text(s) => f.write_str(s),
        }
    }
}

impl Serialize for EventTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Millis(ms) => serializer.serialize_i64(ms.as_millis()),
            Self::Text(s) => serializer.serialize_str(s),
        }
    }
}

impl<'de> Deserialize<'de> for EventTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.is_finite() && f.abs() < 9.0e18)
                        .map(|f| f.round() as i64)
                })
                .map(|ms| Self::Millis(EpochMillis(ms)))
                .ok_or_else(|| serde::de::Error::custom(format!("time out of range: {n}"))),
            Value::String(s) => Ok(Self::Text(s)),
            other => Err(serde::de::Error::custom(format!(
                "expected a time as epoch milliseconds or a string, got {other}"
            ))),
        }
    }
}

/// Epoch milliseconds, `YYYY-MM-DD[T ]HH:mm:ss[.fff][Z|±hh:mm]` (ISO-8601 when it has a `T`
/// or an offset; otherwise UTC+8, the task API's zone).
fn parse_text_time(s: &str) -> Option<i64> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    if s.len() < 19 || !s.is_ascii() {
        return None;
    }
    let (date_time, rest) = s.split_at(19);
    let is_iso = date_time.as_bytes()[10] == b'T';
    let (fraction, offset) = match rest.strip_prefix('.') {
        Some(r) => {
            let digits = r.bytes().take_while(u8::is_ascii_digit).count();
            (&r[..digits], &r[digits..])
        }
        None => ("", rest),
    };
    if rest.starts_with('.') && fraction.is_empty() {
        return None;
    }
    let offset_millis = match offset {
        "" if is_iso => 0,
        "" => SERVICE_UTC_OFFSET_MILLIS,
        "Z" | "z" => 0,
        o => parse_offset(o)?,
    };
    // Reuse the service-time parser: it reads the civil time as UTC+8 to 3 fraction digits.
    let millis3: String = fraction.chars().take(3).collect();
    let mut civil = date_time.replacen('T', " ", 1);
    if !millis3.is_empty() {
        civil.push('.');
        civil.push_str(&millis3);
    }
    let as_utc8 = ServiceTime::new(civil).to_unix_millis()?;
    Some(as_utc8 + SERVICE_UTC_OFFSET_MILLIS - offset_millis)
}

/// `+hh:mm`, `-hh:mm`, `+hhmm` or `+hh`, in milliseconds east of UTC.
fn parse_offset(o: &str) -> Option<i64> {
    let (sign, digits) = match o.as_bytes().first()? {
        b'+' => (1, &o[1..]),
        b'-' => (-1, &o[1..]),
        _ => return None,
    };
    let digits: String = digits.chars().filter(|c| *c != ':').collect();
    if !(digits.len() == 2 || digits.len() == 4) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i64 = digits[..2].parse().ok()?;
    let minutes: i64 = if digits.len() == 4 {
        digits[2..].parse().ok()?
    } else {
        0
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * (hours * 3600 + minutes * 60) * 1000)
}

/// A string that may arrive as a JSON number (account and key ids).
fn opt_lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_times_parse_in_every_known_format() {
        let ms = 1_763_948_716_993;
        for s in [
            "1763948716993",
            "2025-11-24T01:45:16.993Z",
            "2025-11-24T01:45:16.993000Z",
            "2025-11-24T09:45:16.993+08:00",
            "2025-11-24T09:45:16.993+0800",
            "2025-11-23T20:45:16.993-05:00",
            "2025-11-24 09:45:16.993",
        ] {
            assert_eq!(EventTime::Text(s.into()).to_unix_millis(), Some(ms), "{s}");
        }
        assert_eq!(
            EventTime::Text("2025-11-24T01:45:16Z".into()).to_unix_millis(),
            Some(ms - 993)
        );
    }

    #[test]
    fn malformed_text_times_are_none_not_panics() {
        for s in [
            "",
            "yesterday",
            "2025-11-24T01:45:16.Z",
            "2025-11-24T01:45:16+25:00",
            "2025-11-24T01:45:16+1",
            "2025-13-24T01:45:16Z",
            "2025-11-24T01:45:16.993Zjunk",
            "２０２５-11-24T01:45:16Z",
            "99999999999999999999999",
        ] {
            assert_eq!(EventTime::Text(s.into()).to_unix_millis(), None, "{s}");
        }
    }
}
