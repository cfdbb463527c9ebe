//! Reconciliation: after a create request failed ambiguously (it may or may not have created
//! a billable task), find the task it created in the task list, and adopt it only when it is
//! provably this request's. The rules (docs/adr/0005):
//!
//! - when the failed answer carried a `request_id`, only a list entry with that `request_id`
//!   qualifies (list entries carry the create call's request id, spec §6);
//! - otherwise the entry must have been created in the request's window *in server time*:
//!   from just before the request was sent to just after it failed, shifted by the server's
//!   clock offset estimated from `Date` headers, with a margin of seconds;
//! - task ids known locally never qualify (this process, the task journal,
//!   [`Client::remember_task_ids`]);
//! - once this key's `api_key_id` is known, other keys' tasks never qualify;
//! - the list scan is bounded in pages, and by the deadline.
//!
//! Exactly one qualifying task is adopted; none or several are reported, never guessed.

use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime};

use wan_animate_types::{CreateTaskResponse, ListTasksQuery, ListTime, TaskSummary};

use crate::client::Client;
use crate::error::Error;
use crate::skew::unix_ms;
use crate::submit::SubmittedTask;

/// Pages read per list scan at most (100 tasks a page), whatever `total_page` claims.
pub const RECONCILE_MAX_PAGES: u32 = 10;
/// How far before the send time (in server time) a task may have been stamped: the server's
/// own nodes disagree by a little.
const EARLY_MARGIN_MS: i64 = 2_000;
/// How far after the failure a task may be stamped: `Date` truncates to the second and is
/// stamped before the answer travels, so the offset estimate runs up to ~1 s behind.
const LATE_MARGIN_MS: i64 = 3_000;
/// The list query's window is wider than the adoption window: its time zone is inferred.
const QUERY_SLACK_MS: i64 = 10 * 60_000;

/// What an ambiguous create request looked like, for [`Client::reconcile_create`].
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use wan_animate_core::ReconcileRequest;
/// let sent = SystemTime::now();
/// let r = ReconcileRequest::new("wan2.2-animate-mix", sent, sent + Duration::from_secs(3))
///     .with_request_id("4909100c-7b5a-9f92-bfe5");
/// assert_eq!(r.request_id.as_deref(), Some("4909100c-7b5a-9f92-bfe5"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReconcileRequest {
    /// The model of the create request, e.g. `wan2.2-animate-mix`.
    pub model: String,
    /// Local wall-clock time just before the request was sent.
    pub sent_at: SystemTime,
    /// Local wall-clock time when it failed (or, after a crash, a time by which it had
    /// certainly ended: the request timeout after `sent_at`).
    pub failed_at: SystemTime,
    /// The `request_id` of the failed answer, if it carried one.
    pub request_id: Option<String>,
    /// How long to wait before looking a second time when the first look finds nothing
    /// (the list may lag the create by a moment). Default 2 s.
    pub settle: Duration,
    /// Ends the reconciliation (with the handle's deadline, the earlier wins).
    pub deadline: Option<Instant>,
    /// The announcement of the create being reconciled (set by `submit`), which is not a
    /// contender of itself.
    pub(crate) own_create: Option<String>,
}

impl ReconcileRequest {
    /// A request of `model` sent at `sent_at` that failed at `failed_at` (local wall clock).
    pub fn new(model: impl Into<String>, sent_at: SystemTime, failed_at: SystemTime) -> Self {
        Self {
            model: model.into(),
            sent_at,
            failed_at,
            request_id: None,
            settle: Duration::from_secs(2),
            deadline: None,
            own_create: None,
        }
    }

    /// The failed answer's `request_id`.
    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }

    /// The settle delay.
    pub fn with_settle(mut self, d: Duration) -> Self {
        self.settle = d;
        self
    }

    /// The deadline.
    pub fn with_deadline(mut self, d: Instant) -> Self {
        self.deadline = Some(d);
        self
    }
}

/// What reconciliation found.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Reconciled {
    /// Exactly one task is provably this request's: adopt it (`adopted` is true).
    Adopted(Box<SubmittedTask>),
    /// No task qualifies. `unproven` lists tasks of the model created in the window that
    /// could not be proven this request's (another request id, or another key's): the
    /// outcome is unknown, and they are what a person should look at.
    NothingFound {
        /// Same-model tasks of the window that do not qualify.
        unproven: Vec<TaskSummary>,
    },
    /// Several tasks qualify: it is not clear which is ours.
    Ambiguous {
        /// The qualifying tasks.
        candidates: Vec<TaskSummary>,
    },
    /// Tasks qualify by time, but other create requests of the same model (this process, or
    /// another one sharing the task journal) were in flight in the same moments and may have
    /// made them without having recorded them yet: none can be proven this request's.
    Contended {
        /// The tasks that qualify by time.
        candidates: Vec<TaskSummary>,
        /// How many other creates were in flight.
        creates: usize,
    },
}

/// The window, in server-time Unix milliseconds, in which the request's task was created.
pub(crate) fn server_window(
    sent_at: SystemTime,
    failed_at: SystemTime,
    skew_ms: Option<i64>,
) -> (i64, i64) {
    let skew = skew_ms.unwrap_or(0);
    let from = unix_ms(sent_at).saturating_add(skew) - EARLY_MARGIN_MS;
    let to = unix_ms(failed_at.max(sent_at)).saturating_add(skew) + LATE_MARGIN_MS;
    (from, to)
}

/// Which listed tasks qualify. Pure.
#[derive(Debug, Default)]
pub(crate) struct Selection<'a> {
    pub(crate) qualifying: Vec<&'a TaskSummary>,
    pub(crate) unproven: Vec<&'a TaskSummary>,
}

pub(crate) fn select<'a>(
    tasks: &'a [TaskSummary],
    model: &str,
    window: (i64, i64),
    request_id: Option<&str>,
    known: &HashSet<String>,
    own_api_key_id: Option<&str>,
) -> Selection<'a> {
    let mut out = Selection::default();
    let mut seen = HashSet::new();
    for t in tasks {
        if t.model_name.as_deref() != Some(model)
            || known.contains(&t.task_id)
            || !seen.insert(t.task_id.as_str())
        {
            continue;
        }
        let in_window = t
            .gmt_create
            .is_some_and(|c| c.as_millis() >= window.0 && c.as_millis() <= window.1);
        let other_key =
            matches!((own_api_key_id, t.api_key_id.as_deref()), (Some(own), Some(k)) if own != k);
        let qualifies = !other_key
            && match request_id {
                Some(rid) => t.request_id.as_deref() == Some(rid),
                None => in_window,
            };
        if qualifies {
            out.qualifying.push(t);
        } else if in_window {
            out.unproven.push(t);
        }
    }
    out
}

impl Client {
    /// Looks for the task an ambiguous create request may have made, and adopts it only
    /// when it is provably that request's (see the module rules above and docs/adr/0005).
    /// Usable by `submit` and by a batch runner after a crash. Bounded by the request's
    /// deadline and the handle's; reads at most [`RECONCILE_MAX_PAGES`] pages per look,
    /// and looks twice at most (the second time after `settle`). An adopted task is
    /// remembered (never adopted again) and written to the journal, if any.
    ///
    /// ```no_run
    /// # async fn demo(client: wan_animate_core::Client, sent: std::time::SystemTime) -> Result<(), wan_animate_core::Error> {
    /// use wan_animate_core::{ReconcileRequest, Reconciled};
    /// let failed = std::time::SystemTime::now();
    /// match client.reconcile_create(&ReconcileRequest::new("wan2.2-animate-mix", sent, failed)).await? {
    ///     Reconciled::Adopted(task) => println!("it was created: {}", task.task_id),
    ///     Reconciled::NothingFound { unproven } => println!("unknown; look at {} tasks", unproven.len()),
    ///     Reconciled::Ambiguous { candidates } => println!("{} could be ours", candidates.len()),
    ///     _ => {}
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn reconcile_create(&self, request: &ReconcileRequest) -> Result<Reconciled, Error> {
        let deadline = self.effective_deadline(request.deadline);
        let mut unproven: Vec<TaskSummary> = Vec::new();
        for round in 0..2 {
            if round > 0 && !self.sleep_until_deadline(request.settle, deadline).await {
                break;
            }
            let local_window = server_window(request.sent_at, request.failed_at, self.skew_ms());
            let query = ListTasksQuery::new()
                .with_model_name(request.model.clone())
                .with_start_time(ListTime::from_unix_millis(local_window.0 - QUERY_SLACK_MS))
                .with_end_time(ListTime::from_unix_millis(local_window.1 + QUERY_SLACK_MS))
                .with_page_size(100);
            let (tasks, truncated) = match self.collect_pages(query, deadline).await {
                Ok(t) => t,
                Err(e) if round > 0 => {
                    tracing::warn!(error = %e, "second look at the task list failed");
                    break;
                }
                Err(e) => return Err(e),
            };
            // The list answers refreshed the offset estimate: use the latest.
            let skew = self.skew_ms();
            if skew.is_none() {
                tracing::warn!(
                    "no Date header from the service: the reconciliation window assumes the clocks agree"
                );
            }
            let window = server_window(request.sent_at, request.failed_at, skew);
            let known = self.known_task_ids();
            let own_key = self
                .inner
                .own_api_key_id
                .lock()
                .ok()
                .and_then(|k| k.clone());
            let found = select(
                &tasks,
                &request.model,
                window,
                request.request_id.as_deref(),
                &known,
                own_key.as_deref(),
            );
            if truncated && request.request_id.is_none() && !found.qualifying.is_empty() {
                // Without a request id, one candidate among the pages read proves nothing
                // about the pages not read.
                let mut all: Vec<TaskSummary> = found.qualifying.into_iter().cloned().collect();
                all.extend(found.unproven.into_iter().cloned());
                return Ok(Reconciled::NothingFound { unproven: all });
            }
            if request.request_id.is_none() && !found.qualifying.is_empty() {
                // By time alone, a task is ours only if no other create could have made it.
                let others = self.contending_creates(
                    &request.model,
                    request.sent_at,
                    request.failed_at.max(request.sent_at),
                    request.own_create.as_deref(),
                );
                if !others.is_empty() {
                    tracing::warn!(
                        creates = others.len(),
                        "other creates of this model were in flight at the same time; not adopting by time window"
                    );
                    return Ok(Reconciled::Contended {
                        candidates: found.qualifying.into_iter().cloned().collect(),
                        creates: others.len(),
                    });
                }
            }
            match found.qualifying.as_slice() {
                [one] => {
                    let one = (*one).clone();
                    if request.request_id.is_some() {
                        // Provably ours: its key is this client's.
                        if let (Some(k), Ok(mut own)) =
                            (one.api_key_id.clone(), self.inner.own_api_key_id.lock())
                        {
                            *own = Some(k);
                        }
                    }
                    tracing::warn!(task_id = %one.task_id, by_request_id = request.request_id.is_some(), "adopted the task created by the ambiguous request; not submitting again");
                    let mut response = CreateTaskResponse::new(one.task_id.clone());
                    if let Some(out) = response.output.as_mut() {
                        out.task_status = one.status.clone();
                    }
                    response.request_id = one.request_id.clone();
                    // Known from now on, and journaled like a created task.
                    let journal_error =
                        self.record_task(&one.task_id, &request.model, one.request_id.clone());
                    return Ok(Reconciled::Adopted(Box::new(SubmittedTask {
                        task_id: one.task_id.clone(),
                        request_id: one.request_id.clone(),
                        status: one.status.clone(),
                        adopted: true,
                        response,
                        journal_error,
                    })));
                }
                [] => {
                    unproven = found.unproven.into_iter().cloned().collect();
                }
                many => {
                    return Ok(Reconciled::Ambiguous {
                        candidates: many.iter().map(|t| (*t).clone()).collect(),
                    });
                }
            }
        }
        Ok(Reconciled::NothingFound { unproven })
    }

    /// The latest estimate of `server - local` clock offset, in milliseconds.
    pub(crate) fn skew_ms(&self) -> Option<i64> {
        self.inner.server_clock.skew_ms()
    }

    /// The estimated offset of the service's clock from this machine's (`server - local`),
    /// from the `Date` header of the latest API answer; `None` before any.
    pub fn server_clock_offset_ms(&self) -> Option<i64> {
        self.skew_ms()
    }

    async fn collect_pages(
        &self,
        query: ListTasksQuery,
        deadline: Option<Instant>,
    ) -> Result<(Vec<TaskSummary>, bool), Error> {
        use futures_util::StreamExt;
        let mut out = Vec::new();
        let mut stream = std::pin::pin!(self.list_pages(query, RECONCILE_MAX_PAGES, deadline));
        while let Some(item) = stream.next().await {
            match item {
                Ok(t) => out.push(t),
                // Too many pages: decide on what was read, knowing it is not everything.
                Err(e) if crate::list::is_page_cap(&e) => {
                    tracing::warn!(error = %e, "task list truncated for reconciliation");
                    return Ok((out, true));
                }
                Err(e) => return Err(e),
            }
        }
        Ok((out, false))
    }
}
