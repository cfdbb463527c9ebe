//! The one mapping from a task as the service reports it to what it means for the caller.

use wan_animate_types::{TaskResponse, TaskStatus};

use crate::error::{Error, ErrorKind, classify};

/// What a task's reported state means: still running, succeeded, or failed with an [`Error`]
/// of its own kind. Used by `wait`/`watch`, and by anyone polling tasks themselves (batch).
///
/// - `FAILED` keeps the kind of its code: content moderation, invalid input, quota or
///   billing (`Arrearage`: retrying will not help), else [`ErrorKind::TaskFailed`];
/// - `CANCELED` is [`ErrorKind::TaskCanceled`], `UNKNOWN` is [`ErrorKind::TaskUnknown`];
/// - `PENDING`, `RUNNING` and statuses this version does not know are still running.
///
/// ```
/// use wan_animate_core::{ErrorKind, TaskOutcome};
/// use wan_animate_core::types::TaskResponse;
/// let task: TaskResponse = serde_json::from_str(
///     r#"{"output":{"task_id":"t","task_status":"FAILED","code":"Arrearage","message":"overdue"}}"#,
/// ).unwrap();
/// match TaskOutcome::from_response(&task) {
///     TaskOutcome::Failed(e) => assert_eq!(e.kind(), ErrorKind::QuotaOrBilling),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum TaskOutcome {
    /// Not finished (`PENDING`, `RUNNING`, or a status this version does not know).
    Running(TaskStatus),
    /// `SUCCEEDED`.
    Succeeded,
    /// `FAILED`, `CANCELED` or `UNKNOWN`, as an error carrying the task id and what the
    /// service said.
    Failed(Error),
}

impl TaskOutcome {
    /// Maps a task response.
    pub fn from_response(task: &TaskResponse) -> Self {
        let id = task.output.task_id.as_str();
        match &task.output.task_status {
            TaskStatus::Succeeded => TaskOutcome::Succeeded,
            TaskStatus::Failed => {
                let code = task.output.code.clone();
                let message = task.output.message.clone();
                let kind = match classify(None, code.as_deref()) {
                    k @ (ErrorKind::ContentModeration
                    | ErrorKind::InvalidInput
                    | ErrorKind::QuotaOrBilling) => k,
                    _ => ErrorKind::TaskFailed,
                };
                let summary = format!(
                    "task {id} failed: {}{}",
                    code.as_deref().unwrap_or("no code"),
                    message
                        .as_deref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                );
                let mut e = Error::new(kind, summary)
                    .with_task_id(id)
                    .with_service_error(code, message, task.request_id.clone())
                    .with_last_status(TaskStatus::Failed);
                if kind == ErrorKind::TaskFailed {
                    e = e.with_hint("failed tasks are not billed; resubmitting may work if the failure was transient (InternalError)");
                }
                TaskOutcome::Failed(e)
            }
            TaskStatus::Canceled => TaskOutcome::Failed(
                Error::new(ErrorKind::TaskCanceled, format!("task {id} was canceled"))
                    .with_task_id(id)
                    .with_last_status(TaskStatus::Canceled),
            ),
            TaskStatus::Unknown => TaskOutcome::Failed(
                Error::new(
                    ErrorKind::TaskUnknown,
                    format!("task {id} is UNKNOWN: it never existed in this region/account, or it is older than 24 hours"),
                )
                .with_task_id(id)
                .with_last_status(TaskStatus::Unknown)
                .with_hint("task ids and their results expire 24 h after creation; check the id and the region"),
            ),
            other => TaskOutcome::Running(other.clone()),
        }
    }

    /// Whether the task has ended (succeeded or failed).
    pub fn is_terminal(&self) -> bool {
        !matches!(self, TaskOutcome::Running(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(status: &str, code: Option<&str>) -> TaskResponse {
        let code = code
            .map(|c| format!(r#","code":"{c}","message":"m""#))
            .unwrap_or_default();
        serde_json::from_str(&format!(
            r#"{{"request_id":"r","output":{{"task_id":"t-9","task_status":"{status}"{code}}}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn every_status_maps_to_one_outcome() {
        let kind = |status, code| match TaskOutcome::from_response(&task(status, code)) {
            TaskOutcome::Failed(e) => {
                assert_eq!(e.task_id(), Some("t-9"));
                Some(e.kind())
            }
            _ => None,
        };
        assert_eq!(
            kind("FAILED", Some("Arrearage")),
            Some(ErrorKind::QuotaOrBilling)
        );
        assert_eq!(
            kind("FAILED", Some("DataInspectionFailed")),
            Some(ErrorKind::ContentModeration)
        );
        assert_eq!(
            kind("FAILED", Some("InvalidFile.Resolution")),
            Some(ErrorKind::InvalidInput)
        );
        assert_eq!(
            kind("FAILED", Some("InternalError")),
            Some(ErrorKind::TaskFailed)
        );
        assert_eq!(kind("FAILED", None), Some(ErrorKind::TaskFailed));
        assert_eq!(kind("CANCELED", None), Some(ErrorKind::TaskCanceled));
        assert_eq!(kind("UNKNOWN", None), Some(ErrorKind::TaskUnknown));
        assert!(matches!(
            TaskOutcome::from_response(&task("SUCCEEDED", None)),
            TaskOutcome::Succeeded
        ));
        for s in ["PENDING", "RUNNING", "SUSPENDED"] {
            let o = TaskOutcome::from_response(&task(s, None));
            assert!(
                matches!(o, TaskOutcome::Running(_)) && !o.is_terminal(),
                "{s}"
            );
        }
    }
}
