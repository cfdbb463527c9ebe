//! A command's failure: what happened, what the service said, what to do next, and the
//! exit code of the contract. Built from core's classified errors; never contains the key.

use serde_json::{Value, json};
use wan_animate_core::{Error, ErrorKind};

use crate::exit::Exit;

/// Why a command failed.
#[derive(Debug)]
pub(crate) struct Failure {
    /// The exit code.
    pub(crate) exit: Exit,
    /// What happened (one line or a few).
    pub(crate) message: String,
    /// What to do next.
    pub(crate) hint: Option<String>,
    /// The task this is about, if one exists: always printed so it can be resumed.
    pub(crate) task_id: Option<String>,
    /// The `error` object of `--json` output.
    pub(crate) json: Value,
    /// The document this command prints with `--json` besides `error` (the task as the
    /// service returned it, for `run`, `wait` and `status`).
    pub(crate) document: Option<Value>,
}

impl Failure {
    /// A failure that is not from the service.
    pub(crate) fn new(exit: Exit, kind: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            exit,
            json: json!({ "kind": kind, "message": message }),
            message,
            hint: None,
            task_id: None,
            document: None,
        }
    }

    /// Invalid input found locally (exit 8).
    pub(crate) fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(Exit::InvalidInput, "invalid_input", message)
    }

    /// Adds a hint.
    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Attaches the `--json` document the error belongs to.
    pub(crate) fn with_document(mut self, document: Value) -> Self {
        self.document = Some(document);
        self
    }

    /// Attaches the task id (also into the JSON error object).
    pub(crate) fn with_task_id(mut self, task_id: impl Into<String>) -> Self {
        let id = task_id.into();
        self.json["task_id"] = json!(id);
        self.task_id = Some(id);
        self
    }
}

/// The contract's exit code for an error kind.
pub(crate) fn exit_for(kind: ErrorKind) -> Exit {
    match kind {
        ErrorKind::Auth => Exit::Auth,
        ErrorKind::Throttled | ErrorKind::QuotaOrBilling => Exit::QuotaOrThrottled,
        ErrorKind::Timeout => Exit::Deadline,
        ErrorKind::Transport | ErrorKind::Service => Exit::Unavailable,
        ErrorKind::TaskCanceled | ErrorKind::TaskUnknown => Exit::CanceledOrUnknown,
        ErrorKind::InvalidInput => Exit::InvalidInput,
        ErrorKind::ContentModeration => Exit::Moderation,
        ErrorKind::Config => Exit::Auth,
        ErrorKind::LocalIo => Exit::LocalIo,
        _ => Exit::Failure,
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let kind = e.kind();
        let mut json = json!({
            "kind": kind.as_str(),
            "message": e.message().map(str::to_owned).unwrap_or_else(|| e.to_string()),
            "code": e.code(),
            "request_id": e.request_id(),
            "http_status": e.http_status(),
        });
        if let Some(id) = e.task_id() {
            json["task_id"] = json!(id);
        }
        if e.task_may_exist() {
            json["task_may_exist"] = json!(true);
        }
        let hint = match kind {
            ErrorKind::Auth | ErrorKind::Config => Some(
                "set DASHSCOPE_API_KEY (or --api-key, or ~/.dashscope/api_key) to a key of the same region as --region; `--sim` runs offline without a key".to_owned(),
            ),
            ErrorKind::Throttled => Some("the service is rate-limiting this account; wait a little and retry".to_owned()),
            ErrorKind::Transport | ErrorKind::Service => Some("the service or network is unavailable; retry later".to_owned()),
            _ => None,
        };
        Failure {
            exit: exit_for(kind),
            message: e.to_string(),
            hint,
            task_id: e.task_id().map(str::to_owned),
            json,
            document: None,
        }
    }
}
