//! Creating a task: retried only when provably harmless, reconciled after an ambiguous
//! failure, journaled before it is handed out (docs/adr/0005).

use std::time::{Duration, Instant, SystemTime};

use tracing::Instrument;
use wan_animate_types::{CreateTaskRequest, CreateTaskResponse, TaskStatus, TaskSummary};

use crate::client::Client;
use crate::error::{Error, ErrorKind, NextStep};
use crate::intents::CreateEnd;
use crate::journal::JournalEntry;
use crate::protocol;
use crate::reconcile::{ReconcileRequest, Reconciled};

/// A created task: its id is in hand before anything waits.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SubmittedTask {
    /// The task id.
    pub task_id: String,
    /// The create request's id.
    pub request_id: Option<String>,
    /// The status at creation (normally `PENDING`).
    pub status: TaskStatus,
    /// True when the create request failed ambiguously and the task was found in the task
    /// list, provably this request's, and adopted instead of submitting again.
    pub adopted: bool,
    /// The create response (synthesized from the task list when adopted).
    pub response: CreateTaskResponse,
    /// Why the task could not be written to the journal, when one is configured and the
    /// write failed (the task exists all the same: keep its id).
    pub journal_error: Option<String>,
}

enum SubmitAttempt {
    Done(Box<SubmittedTask>),
    Retry(Error),
    Ambiguous(Error),
    Fail(Error),
}

impl Client {
    /// Creates a task. Retried only when provably harmless: the connection was never made, or
    /// the service answered 429 with a `Throttling*` code. After an ambiguous failure (timeout
    /// after sending, connection lost mid-response, 5xx) the task list is searched and the
    /// task adopted only if it is provably this request's ([`Client::reconcile_create`]);
    /// otherwise the error ([`ErrorKind::SubmitOutcomeUnknown`]) says the task may exist and
    /// lists what was found. Never a silent second submit. Created and adopted tasks are
    /// recorded in the journal, if configured, before this returns. Bounded by the handle's
    /// deadline.
    ///
    /// ```
    /// use wan_animate_core::test_util::{MockHttp, MockReply};
    /// use wan_animate_core::types::{CreateTaskRequest, Mode, Model, TaskStatus};
    /// use wan_animate_core::{Client, ClientConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), wan_animate_core::Error> {
    /// // An in-memory service that accepts the create request.
    /// let http = MockHttp::new(|_| {
    ///     MockReply::json(200, r#"{"output":{"task_id":"t-1","task_status":"PENDING"},"request_id":"r-1"}"#)
    /// });
    /// let client = Client::new(ClientConfig::new("sk-example"), http.clone())?;
    ///
    /// let request = CreateTaskRequest::new(Model::AnimateMix, "https://x/me.jpg", "https://x/dance.mp4", Mode::Standard);
    /// let task = client.submit(&request).await?;
    /// // Keep the id: the task runs (and is billed) on the service from here on.
    /// assert_eq!(task.task_id, "t-1");
    /// assert_eq!(task.status, TaskStatus::Pending);
    /// assert!(!task.adopted);
    /// assert_eq!(http.count("POST", "/video-synthesis"), 1);
    /// # Ok(()) }
    /// ```
    pub async fn submit(&self, request: &CreateTaskRequest) -> Result<SubmittedTask, Error> {
        let span = tracing::info_span!("wan_animate.submit", model = %request.model, task_id = tracing::field::Empty, request_id = tracing::field::Empty, adopted = tracing::field::Empty);
        async {
            let policy = self.inner.config.retry().clone();
            let deadline = self.deadline;
            let mut attempt = 0u32;
            // Announced before anything is sent; its end recorded whatever happens (a dropped
            // future counts as "may have created a task").
            let create = CreateAnnouncement::new(self, request.model.as_str());
            let result = loop {
                attempt += 1;
                // Earlier attempts provably created nothing: the window starts here.
                let sent_at = self.inner.clock.wall_now();
                match self.submit_once(request, deadline).await {
                    SubmitAttempt::Done(t) => break Ok(*t),
                    SubmitAttempt::Fail(e) => break Err(e),
                    SubmitAttempt::Ambiguous(cause) => {
                        let failed_at = self.inner.clock.wall_now();
                        tracing::warn!(error = %cause, "create request failed ambiguously; reconciling with the task list");
                        break self.reconcile_submit(request, sent_at, failed_at, cause, deadline, &create.id).await;
                    }
                    SubmitAttempt::Retry(e) if attempt < policy.max_attempts => {
                        let wait = policy.backoff(attempt - 1, e.retry_after());
                        if deadline.is_some_and(|d| self.now() + wait >= d) {
                            break Err(e);
                        }
                        tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "create request not accepted; retrying (nothing was created)");
                        self.sleep(wait).await;
                    }
                    SubmitAttempt::Retry(e) => break Err(e),
                }
            };
            create.finish(match &result {
                Ok(_) => CreateEnd::Created,
                Err(e) if e.task_may_exist() => CreateEnd::Unknown,
                Err(_) => CreateEnd::Nothing,
            });
            let mut task = result?;
            let span = tracing::Span::current();
            span.record("task_id", task.task_id.as_str());
            span.record("adopted", task.adopted);
            if let Some(r) = &task.request_id {
                span.record("request_id", r.as_str());
            }
            if !task.adopted {
                // Adopted tasks were recorded by the reconciliation.
                task.journal_error = self.record_task(&task.task_id, request.model.as_str(), task.request_id.clone());
            }
            Ok(task)
        }
        .instrument(span)
        .await
    }

    /// Remembers a task this client created or adopted, and writes it to the journal if any.
    /// Returns why the journal write failed, if it did (the task exists all the same).
    pub(crate) fn record_task(
        &self,
        task_id: &str,
        model: &str,
        request_id: Option<String>,
    ) -> Option<String> {
        self.remember(task_id);
        let journal = self.journal.as_ref()?;
        let entry = JournalEntry::new(
            task_id,
            model,
            self.inner.config.base_url(),
            request_id,
            self.inner.clock.wall_now(),
        );
        let e = journal.record(&entry).err()?;
        let text = format!(
            "could not record task {task_id} in {}: {e}",
            journal.path().display()
        );
        tracing::warn!("{text}");
        Some(text)
    }

    async fn reconcile_submit(
        &self,
        request: &CreateTaskRequest,
        sent_at: SystemTime,
        failed_at: SystemTime,
        cause: Error,
        deadline: Option<Instant>,
        own_create: &str,
    ) -> Result<SubmittedTask, Error> {
        let model = request.model.as_str().to_owned();
        let may_exist = |detail: String| {
            Error::new(
                ErrorKind::SubmitOutcomeUnknown,
                format!("the create request failed ambiguously ({}) and {detail}; a task may have been created and billed", cause.summary()),
            )
            .with_service_error(cause.code().map(str::to_owned), cause.message().map(str::to_owned), cause.request_id().map(str::to_owned))
            // The request id (kept on the error) is what to look for in that list.
            .with_next_step(NextStep::CheckTaskList {
                model: model.clone(),
                since: Duration::from_secs(3600),
                request_id: cause.request_id().map(str::to_owned),
            })
            .may_exist()
        };
        let mut rq = ReconcileRequest::new(model.clone(), sent_at, failed_at);
        rq.request_id = cause.request_id().map(str::to_owned);
        rq.deadline = deadline;
        rq.own_create = Some(own_create.to_owned());
        match self.reconcile_create(&rq).await {
            Ok(Reconciled::Adopted(t)) => Ok(*t),
            Ok(Reconciled::NothingFound { unproven }) if unproven.is_empty() => Err(may_exist(
                "no matching task appeared in the task list".to_owned(),
            )),
            Ok(Reconciled::NothingFound { unproven }) => Err(may_exist(format!(
                "no task in the task list is provably ours; tasks of {model} created in that window that are not provably ours: {}",
                describe(&unproven)
            ))),
            Ok(Reconciled::Contended {
                candidates,
                creates,
            }) => Err(may_exist(format!(
                "{creates} other create request(s) of {model} (from this process or another one sharing the task journal) may have created a task in the same moments, so {} cannot be proven ours",
                describe(&candidates)
            ))),
            Ok(Reconciled::Ambiguous { candidates }) => Err(may_exist(format!(
                "{} tasks of {model} were created in that window ({}), so it is not clear which is ours",
                candidates.len(),
                describe(&candidates)
            ))),
            Err(e) => Err(may_exist(format!("the task list could not be read ({e})"))),
        }
    }

    async fn submit_once(
        &self,
        request: &CreateTaskRequest,
        deadline: Option<Instant>,
    ) -> SubmitAttempt {
        let http_request = match protocol::build_create_request(&self.inner.config, request) {
            Ok(r) => r,
            Err(e) => return SubmitAttempt::Fail(e),
        };
        let Some(timeout) = self.attempt_timeout(deadline) else {
            // Nothing was sent.
            return SubmitAttempt::Fail(Self::deadline_passed("submit"));
        };
        match self.api_exchange(http_request, timeout).await {
            Ok(r) if r.status.is_success() => {
                match protocol::parse_response::<CreateTaskResponse>(
                    "submit", r.status, &r.headers, &r.body,
                ) {
                    Ok(resp) => match resp.output.clone() {
                        Some(out) if !out.task_id.is_empty() => {
                            SubmitAttempt::Done(Box::new(SubmittedTask {
                                task_id: out.task_id,
                                request_id: resp
                                    .request_id
                                    .clone()
                                    .or_else(|| protocol::request_id(&r.headers, &r.body)),
                                status: out.task_status,
                                adopted: false,
                                response: resp,
                                journal_error: None,
                            }))
                        }
                        // A 200 without a task id: something may have been created.
                        _ => SubmitAttempt::Ambiguous(Error::decode(
                            "submit",
                            "no output.task_id in a successful response",
                            r.status.as_u16(),
                            resp.request_id,
                        )),
                    },
                    Err(e) => SubmitAttempt::Ambiguous(e),
                }
            }
            Ok(r) => {
                let e = protocol::parse_error("submit", r.status, &r.headers, &r.body);
                if r.status == http::StatusCode::TOO_MANY_REQUESTS
                    && e.kind() == ErrorKind::Throttled
                {
                    // Rejected by throttling: nothing was created.
                    SubmitAttempt::Retry(e)
                } else if r.status.is_server_error() {
                    SubmitAttempt::Ambiguous(e)
                } else {
                    SubmitAttempt::Fail(e)
                }
            }
            Err(t) if t.was_request_sent() == Some(false) => {
                SubmitAttempt::Retry(Error::transport("submit", t))
            }
            Err(t) => SubmitAttempt::Ambiguous(Error::transport("submit", t)),
        }
    }
}

/// A create announced to the in-flight registry; ends as "unknown" if dropped unfinished.
struct CreateAnnouncement<'a> {
    client: &'a Client,
    model: String,
    id: String,
    finished: bool,
}

impl<'a> CreateAnnouncement<'a> {
    fn new(client: &'a Client, model: &str) -> Self {
        Self {
            client,
            model: model.to_owned(),
            id: client.announce_create(model),
            finished: false,
        }
    }

    fn finish(mut self, end: CreateEnd) {
        self.finished = true;
        self.client.end_create(&self.id, &self.model, end);
    }
}

impl Drop for CreateAnnouncement<'_> {
    fn drop(&mut self) {
        if !self.finished {
            // Cancelled mid-create: whatever was sent may have made a task.
            self.client
                .end_create(&self.id, &self.model, CreateEnd::Unknown);
        }
    }
}

/// `id (status, request id r, key k, created at ms)` for each task.
fn describe(tasks: &[TaskSummary]) -> String {
    tasks
        .iter()
        .map(|t| {
            let mut parts = vec![t.status.as_str().to_owned()];
            if let Some(r) = &t.request_id {
                parts.push(format!("request id {r}"));
            }
            if let Some(k) = &t.api_key_id {
                parts.push(format!("api_key_id {k}"));
            }
            format!("{} ({})", t.task_id, parts.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}
