//! A command's failure: what happened, what the service said, what to do next, and the
//! exit code of the contract. Built from core's classified errors; never contains the key.

use std::time::Duration;

use serde_json::{Value, json};
use wan_animate_core::error::{NextStep, Setting};
use wan_animate_core::{Error, ErrorKind};

use crate::exit::Exit;
use crate::output::sanitize;

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

    /// Attaches the task id (also into the JSON error object). The id printed for people is
    /// escaped: it comes from a server.
    pub(crate) fn with_task_id(mut self, task_id: impl Into<String>) -> Self {
        let id = task_id.into();
        self.task_id = Some(sanitize(&id));
        self.json["task_id"] = json!(id);
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

/// The error's message and then each cause once (`get task failed: could not connect:
/// connection refused`). Strings the service supplied (message, code, task id) are escaped
/// where they appear, so they cannot forge lines or move the cursor.
fn message_chain(e: &Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let c_text = c.to_string();
        // Some backends' errors repeat their own cause; print each text once.
        if !text.ends_with(&c_text) {
            text.push_str(": ");
            text.push_str(&c_text);
        }
        cause = c.source();
    }
    for outside in [e.message(), e.code(), e.task_id(), e.request_id()]
        .into_iter()
        .flatten()
    {
        let safe = sanitize(outside);
        if safe != outside {
            text = text.replace(outside, &safe);
        }
    }
    text
}

/// A duration as `list --since` takes it (`1h`, `30m`, `90s`).
fn since_flag(d: Duration) -> String {
    let s = d.as_secs().max(1);
    if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// A next step in this program's syntax, or `None` for a step this version does not know
/// (core's plain text is printed then).
pub(crate) fn render_step(step: &NextStep) -> Option<String> {
    Some(match step {
        NextStep::ResumeWait { task_id } => {
            format!("resume with: wan-animate wait {}", sanitize(task_id))
        }
        NextStep::CheckTaskList {
            model,
            since,
            request_id,
        } => match request_id {
            Some(rid) => format!(
                "do not resubmit blindly: look for request_id {} in `wan-animate list --model {} --since {} --json` first",
                sanitize(rid),
                sanitize(model),
                since_flag(*since)
            ),
            None => format!(
                "do not resubmit blindly: check `wan-animate list --model {} --since {}` first",
                sanitize(model),
                since_flag(*since)
            ),
        },
        NextStep::CheckMedia { paths, preflight } => {
            let files = if paths.is_empty() {
                "FILE".to_owned()
            } else {
                paths
                    .iter()
                    .map(|p| sanitize(&p.display().to_string()))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            if *preflight {
                format!(
                    "fix the files (`wan-animate check {files}` lists every problem), or pass --no-preflight to let the service decide"
                )
            } else {
                format!("`wan-animate check {files}` shows which documented limit the media breaks")
            }
        }
        NextStep::FixCredentials => "set DASHSCOPE_API_KEY (or --api-key, DASHSCOPE_API_KEY_FILE_PATH, ~/.dashscope/api_key) to a key of the same region as --region; or add --sim to run offline against the built-in simulator".to_owned(),
        NextStep::FixSetting { setting } => match setting {
            Setting::Region => "use --region cn-beijing or --region ap-southeast-1 (also WAN_ANIMATE_REGION, DASHSCOPE_REGION), or give --base-url".to_owned(),
            Setting::BaseUrl => "give --base-url as https://HOST/api/v1, without user:password (plain http only to loopback); or use --region".to_owned(),
            Setting::Workspace => "give --workspace as the id shown in the console (letters, digits, '-' and '_')".to_owned(),
            Setting::ApiKey => "give a non-empty --api-key (or set DASHSCOPE_API_KEY)".to_owned(),
            _ => return None,
        },
        NextStep::FreeDiskSpace { path } => format!(
            "free disk space on the file system of {} (or choose another -o), then run the same command again: the task's result stays downloadable for 24 hours",
            sanitize(&path.display().to_string())
        ),
        NextStep::RetryLater { after: Some(d) } => format!(
            "the service is rate-limiting or busy; retry in {} s or later (or raise --retries)",
            d.as_secs().max(1)
        ),
        NextStep::RetryLater { after: None } => {
            "the service or network is unavailable; retry later (or raise --retries)".to_owned()
        }
        NextStep::NotCancelable => {
            "only PENDING tasks can be canceled; a RUNNING task finishes (and is billed)".to_owned()
        }
        _ => return None,
    })
}

/// The `error.next_step` object of `--json` output.
fn step_json(step: &NextStep, rendered: &str) -> Value {
    let mut v = json!({ "action": step.action(), "hint": rendered });
    match step {
        NextStep::ResumeWait { task_id } => v["task_id"] = json!(task_id),
        NextStep::CheckTaskList {
            model,
            since,
            request_id,
        } => {
            v["model"] = json!(model);
            v["since_secs"] = json!(since.as_secs());
            v["request_id"] = json!(request_id);
        }
        NextStep::CheckMedia { paths, preflight } => {
            v["paths"] = json!(
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
            );
            v["preflight"] = json!(preflight);
        }
        NextStep::FixSetting { setting } => v["setting"] = json!(setting.as_str()),
        NextStep::FreeDiskSpace { path } => v["path"] = json!(path.display().to_string()),
        NextStep::RetryLater { after: Some(d) } => v["after_secs"] = json!(d.as_secs()),
        _ => {}
    }
    v
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let kind = e.kind();
        let mut json = json!({
            "kind": kind.as_str(),
            "message": e.message().map(str::to_owned).unwrap_or_else(|| message_chain(&e)),
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
        // Core's advice is kept: a known step in this program's syntax, else core's text.
        let rendered = e.next_step().and_then(render_step);
        if let (Some(step), Some(text)) = (e.next_step(), &rendered) {
            json["next_step"] = step_json(step, text);
        }
        let hint = rendered.or_else(|| e.hint().map(sanitize));
        if let Some(h) = &hint {
            json["hint"] = json!(h);
        }
        let exit = match (kind, e.next_step()) {
            (ErrorKind::Config, Some(NextStep::FixCredentials)) => Exit::Auth,
            (ErrorKind::Config, _) => Exit::Usage,
            _ => exit_for(kind),
        };
        Failure {
            exit,
            message: message_chain(&e),
            hint,
            task_id: e.task_id().map(sanitize),
            json,
            document: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_advice_is_kept_and_rendered_in_cli_syntax() {
        let e = Error::api(
            "cancel task",
            400,
            Some("UnsupportedOperation".into()),
            Some(
                "Failed to cancel the task, please confirm if the task is in PENDING status."
                    .into(),
            ),
            Some("r-1".into()),
        );
        let f = Failure::from(e);
        assert!(
            f.hint
                .as_deref()
                .unwrap()
                .contains("only PENDING tasks can be canceled")
        );
        assert_eq!(f.json["next_step"]["action"], "not_cancelable");

        let e = Error::api("get task", 401, Some("InvalidApiKey".into()), None, None);
        let f = Failure::from(e);
        assert_eq!(f.exit, Exit::Auth);
        assert!(f.hint.unwrap().contains("DASHSCOPE_API_KEY"));
    }

    #[test]
    fn steps_render_as_commands_of_this_program() {
        let cases = [
            (
                NextStep::ResumeWait {
                    task_id: "t-1".into(),
                },
                "wan-animate wait t-1",
            ),
            (
                NextStep::CheckTaskList {
                    model: "wan2.2-animate-mix".into(),
                    since: Duration::from_secs(3600),
                    request_id: None,
                },
                "wan-animate list --model wan2.2-animate-mix --since 1h",
            ),
            (
                NextStep::CheckMedia {
                    paths: vec!["me.png".into(), "dance.mp4".into()],
                    preflight: true,
                },
                "`wan-animate check me.png dance.mp4` lists every problem), or pass --no-preflight",
            ),
        ];
        for (step, want) in cases {
            let got = render_step(&step).unwrap();
            assert!(got.contains(want), "{got}");
        }
    }

    #[test]
    fn hostile_service_strings_are_escaped_in_the_message() {
        let e = Error::api(
            "get task",
            400,
            Some("InvalidParameter".into()),
            Some("bad\n\u{1b}[2Jerror: forged line".into()),
            Some("r\r1".into()),
        );
        let f = Failure::from(e);
        assert!(
            !f.message.contains('\n') && !f.message.contains('\u{1b}') && !f.message.contains('\r'),
            "{:?}",
            f.message
        );
        assert!(f.message.contains("\\n"), "{:?}", f.message);
    }
}
