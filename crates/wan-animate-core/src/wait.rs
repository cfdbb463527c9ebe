//! Reading one task: get, cancel, and waiting for it (a stream of events) around the pure
//! poll state machine of `poll.rs`.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

use futures_core::Stream;
use tracing::Instrument;
use wan_animate_types::{CancelTaskResponse, TaskResponse, TaskStatus};

use crate::client::Client;
use crate::error::{Error, ErrorKind, NextStep};
use crate::poll::{PollPolicy, PollState, PollStep, TaskEvent};
use crate::protocol;
use crate::signals::Subscription;

impl Client {
    /// Queries a task once (retrying transient failures), within the handle's deadline.
    ///
    /// ```
    /// use wan_animate_core::test_util::{MockHttp, MockReply};
    /// use wan_animate_core::types::TaskStatus;
    /// use wan_animate_core::{Client, ClientConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), wan_animate_core::Error> {
    /// let http = MockHttp::new(|_| MockReply::json(200, r#"{"output":{"task_id":"t-1","task_status":"RUNNING"},"request_id":"r-9"}"#));
    /// let client = Client::new(ClientConfig::new("sk-example"), http)?;
    /// let task = client.get("t-1").await?;
    /// assert_eq!(task.output.task_status, TaskStatus::Running);
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, task_id: &str) -> Result<TaskResponse, Error> {
        self.get_until(task_id, None).await
    }

    pub(crate) async fn get_until(
        &self,
        task_id: &str,
        deadline: Option<Instant>,
    ) -> Result<TaskResponse, Error> {
        let span = tracing::debug_span!(
            "wan_animate.get",
            task_id,
            request_id = tracing::field::Empty
        );
        let config = self.inner.config.clone();
        let id = task_id.to_owned();
        let result: Result<TaskResponse, Error> = self
            .task_call(
                "get task",
                &move || protocol::build_get_request(&config, &id),
                deadline,
            )
            .instrument(span.clone())
            .await;
        if let Ok(t) = &result
            && let Some(r) = &t.request_id
        {
            span.record("request_id", r.as_str());
        }
        result.map_err(|e| e.with_task_id(task_id))
    }

    /// Cancels a `PENDING` task (a running task cannot be canceled: `UnsupportedOperation`).
    ///
    /// A refusal is an [`ErrorKind::InvalidInput`] error whose
    /// [`next_step`](Error::next_step) says why, so a program can tell it from a failure:
    ///
    /// ```
    /// use wan_animate_core::error::NextStep;
    /// use wan_animate_core::test_util::{MockHttp, MockReply};
    /// use wan_animate_core::{Client, ClientConfig, ErrorKind};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), wan_animate_core::Error> {
    /// // t-1 is still PENDING: the service cancels it. t-2 is already RUNNING.
    /// let http = MockHttp::new(|req| match req.path() {
    ///     "/api/v1/tasks/t-1/cancel" => MockReply::json(200, r#"{"request_id":"r-1"}"#),
    ///     _ => MockReply::json(400, r#"{"code":"UnsupportedOperation","message":"Failed to cancel the task, please confirm if the task is in PENDING status.","request_id":"r-2"}"#),
    /// });
    /// let client = Client::new(ClientConfig::new("sk-example"), http)?;
    ///
    /// client.cancel("t-1").await?;
    ///
    /// let e = client.cancel("t-2").await.unwrap_err();
    /// assert_eq!(e.kind(), ErrorKind::InvalidInput);
    /// assert_eq!(e.code(), Some("UnsupportedOperation"));
    /// assert_eq!(e.task_id(), Some("t-2"));
    /// assert_eq!(e.next_step(), Some(&NextStep::NotCancelable));
    /// # Ok(()) }
    /// ```
    pub async fn cancel(&self, task_id: &str) -> Result<CancelTaskResponse, Error> {
        self.cancel_until(task_id, None).await
    }

    async fn cancel_until(
        &self,
        task_id: &str,
        deadline: Option<Instant>,
    ) -> Result<CancelTaskResponse, Error> {
        let span = tracing::info_span!("wan_animate.cancel", task_id);
        let config = self.inner.config.clone();
        let id = task_id.to_owned();
        let result = self
            .task_call::<CancelTaskResponse>(
                "cancel task",
                &move || protocol::build_cancel_request(&config, &id),
                deadline,
            )
            .instrument(span)
            .await;
        result.map_err(|e| {
            let e = e.with_task_id(task_id);
            if e.code() == Some("UnsupportedOperation") {
                e.with_hint(
                    "only PENDING tasks can be canceled; a RUNNING task finishes (and is billed)",
                )
            } else {
                e
            }
        })
    }

    /// Waits until the task ends, with the client's poll policy. `SUCCEEDED` is `Ok`; `FAILED`,
    /// `CANCELED` and `UNKNOWN` are errors of their own kinds, each carrying the task id
    /// (see [`TaskOutcome`](crate::TaskOutcome)).
    ///
    /// The waits below take no real time: the example injects a
    /// `test_util::ManualClock`, whose sleeps return at once.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use wan_animate_core::test_util::{ManualClock, MockHttp, MockReply};
    /// use wan_animate_core::{Client, ClientConfig, ErrorKind};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), wan_animate_core::Error> {
    /// // t-1 is PENDING, then RUNNING, then SUCCEEDED; t-2 FAILED.
    /// let queries = AtomicUsize::new(0);
    /// let http = MockHttp::new(move |req| match req.path() {
    ///     "/api/v1/tasks/t-1" => MockReply::json(200, match queries.fetch_add(1, Ordering::SeqCst) {
    ///         0 => r#"{"output":{"task_id":"t-1","task_status":"PENDING"}}"#,
    ///         1 => r#"{"output":{"task_id":"t-1","task_status":"RUNNING"}}"#,
    ///         _ => r#"{"output":{"task_id":"t-1","task_status":"SUCCEEDED","results":{"video_url":"https://x/t-1.mp4"}},"usage":{"video_duration":5.0}}"#,
    ///     }),
    ///     _ => MockReply::json(200, r#"{"output":{"task_id":"t-2","task_status":"FAILED","code":"InvalidFile.Content","message":"The input image has no human body."}}"#),
    /// });
    /// let clock = ManualClock::new();
    /// let client = Client::builder(ClientConfig::new("sk-example"))
    ///     .http_client(http)
    ///     .sleep(clock.clone())
    ///     .clock(clock)
    ///     .build()?;
    ///
    /// let done = client.wait("t-1").await?;
    /// assert_eq!(done.output.video_url(), Some("https://x/t-1.mp4"));
    ///
    /// // A task that ends FAILED is an error that says why, with the task id.
    /// let e = client.wait("t-2").await.unwrap_err();
    /// assert_eq!(e.kind(), ErrorKind::InvalidInput);
    /// assert_eq!(e.code(), Some("InvalidFile.Content"));
    /// assert_eq!(e.task_id(), Some("t-2"));
    /// # Ok(()) }
    /// ```
    pub async fn wait(&self, task_id: &str) -> Result<TaskResponse, Error> {
        self.wait_with(task_id, &self.inner.config.poll().clone())
            .await
    }

    /// [`wait`](Self::wait) with another policy (deadline, cancel-on-deadline, pacing).
    pub async fn wait_with(
        &self,
        task_id: &str,
        policy: &PollPolicy,
    ) -> Result<TaskResponse, Error> {
        use futures_util::StreamExt;
        let mut events = std::pin::pin!(self.watch_with(task_id, policy));
        let mut last = None;
        while let Some(event) = events.next().await {
            match event? {
                TaskEvent::Finished(t) => return Ok(t),
                TaskEvent::Status { task, .. } => last = Some(task),
            }
        }
        last.ok_or_else(|| {
            Error::new(ErrorKind::Decode, "the wait ended without a status").with_task_id(task_id)
        })
    }

    /// The status changes of a task as a stream, with the client's poll policy.
    ///
    /// This is what a progress display is built on: one `Status` event for the first answer
    /// and one per change (never one per query), then `Finished`.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use futures_util::StreamExt;
    /// use wan_animate_core::test_util::{ManualClock, MockHttp, MockReply};
    /// use wan_animate_core::{Client, ClientConfig, TaskEvent};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), wan_animate_core::Error> {
    /// let queries = AtomicUsize::new(0);
    /// let http = MockHttp::new(move |_| MockReply::json(200, match queries.fetch_add(1, Ordering::SeqCst) {
    ///     0 => r#"{"output":{"task_id":"t-1","task_status":"PENDING"}}"#,
    ///     1..=3 => r#"{"output":{"task_id":"t-1","task_status":"RUNNING"}}"#,
    ///     _ => r#"{"output":{"task_id":"t-1","task_status":"SUCCEEDED","results":{"video_url":"https://x/t-1.mp4"}}}"#,
    /// }));
    /// let clock = ManualClock::new();
    /// let client = Client::builder(ClientConfig::new("sk-example"))
    ///     .http_client(http)
    ///     .sleep(clock.clone())
    ///     .clock(clock)
    ///     .build()?;
    ///
    /// let mut seen = Vec::new();
    /// let mut events = std::pin::pin!(client.watch("t-1"));
    /// while let Some(event) = events.next().await {
    ///     match event? {
    ///         TaskEvent::Status { task, previous, elapsed } => {
    ///             println!("{:?} -> {} after {elapsed:?}", previous, task.output.task_status);
    ///             seen.push(task.output.task_status.to_string());
    ///         }
    ///         TaskEvent::Finished(task) => {
    ///             println!("done: {:?}", task.output.video_url());
    ///             seen.push("finished".to_owned());
    ///         }
    ///         _ => {} // events may be added in later versions
    ///     }
    /// }
    /// // Five queries, three RUNNING answers, one RUNNING event.
    /// assert_eq!(seen, ["PENDING", "RUNNING", "SUCCEEDED", "finished"]);
    /// # Ok(()) }
    /// ```
    pub fn watch(
        &self,
        task_id: &str,
    ) -> impl Stream<Item = Result<TaskEvent, Error>> + Send + use<> {
        self.watch_with(task_id, &self.inner.config.poll().clone())
    }

    /// The status changes of a task as a stream: a `Status` event for the first answer and for
    /// every change, then `Finished` on success, or one error (failed, canceled, unknown,
    /// deadline). One monotonic deadline (the policy's `max_wait`, cut by the handle's
    /// deadline) bounds the whole wait and every request in it. With completion signals
    /// configured, a signal for this task makes it query at once.
    pub fn watch_with(
        &self,
        task_id: &str,
        policy: &PollPolicy,
    ) -> impl Stream<Item = Result<TaskEvent, Error>> + Send + use<> {
        struct State {
            client: Client,
            task_id: String,
            poll: PollState,
            subscription: Option<Subscription>,
            queue: VecDeque<Result<TaskEvent, Error>>,
            done: bool,
        }
        let signals = self.inner.signals.as_ref();
        let state = State {
            client: self.clone(),
            task_id: task_id.to_owned(),
            poll: PollState::new(policy.clone(), self.now(), self.deadline, signals.is_some()),
            // Listen from the start, so a signal between two queries is never missed.
            subscription: signals.map(|s| s.subscribe(task_id)),
            queue: VecDeque::new(),
            done: false,
        };
        futures_util::stream::unfold(state, |mut st| async move {
            loop {
                if let Some(item) = st.queue.pop_front() {
                    return Some((item, st));
                }
                if st.done {
                    return None;
                }
                let step = st.poll.next(st.client.now(), crate::retry::unit_random());
                match step {
                    PollStep::Wait(d) => {
                        st.client.sleep_or_signal(d, st.subscription.as_mut()).await;
                        continue;
                    }
                    PollStep::GiveUp => {
                        st.done = true;
                        let e = st.client.deadline_error(&st.task_id, &st.poll).await;
                        st.queue.push_back(Err(e));
                        continue;
                    }
                    PollStep::Query => {}
                }
                st.poll.queried();
                match st.client.get_until(&st.task_id, st.poll.deadline()).await {
                    Ok(task) => {
                        let server_now = st.client.server_now();
                        let observed = st.poll.observe(task, st.client.now(), server_now);
                        st.queue.extend(observed.event.map(Ok));
                        if let Some(end) = observed.end {
                            st.done = true;
                            st.queue.push_back(end);
                        }
                    }
                    Err(e)
                        if st.poll.cut_by_deadline(st.client.now())
                            && e.kind() == ErrorKind::Timeout =>
                    {
                        // The deadline cut the request in flight.
                        st.done = true;
                        let e = st.client.deadline_error(&st.task_id, &st.poll).await;
                        st.queue.push_back(Err(e));
                    }
                    Err(e) => {
                        st.done = true;
                        st.queue.push_back(Err(e));
                    }
                }
            }
        })
    }

    /// The server's wall clock as best known: the local one corrected by the offset the
    /// answers' `Date` headers showed, if any did.
    fn server_now(&self) -> SystemTime {
        let local = self.inner.clock.wall_now();
        match self.inner.server_clock.skew_ms() {
            Some(ms) if ms >= 0 => local + Duration::from_millis(ms.unsigned_abs()),
            Some(ms) => local
                .checked_sub(Duration::from_millis(ms.unsigned_abs()))
                .unwrap_or(local),
            None => local,
        }
    }

    /// Sleeps `d`, or less when a completion signal for the task comes first.
    async fn sleep_or_signal(&self, d: Duration, subscription: Option<&mut Subscription>) {
        match subscription {
            None => self.sleep(d).await,
            Some(sub) => {
                use futures_util::future::select;
                let sleep = self.inner.sleep.sleep(d);
                let signal = std::pin::pin!(sub.signaled());
                select(sleep, signal).await;
            }
        }
    }

    async fn deadline_error(&self, task_id: &str, poll: &PollState) -> Error {
        let last = poll.last.clone();
        let waited = self.now().saturating_duration_since(poll.started);
        let state = last
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_else(|| "not yet known".into());
        let mut summary = format!(
            "gave up waiting for task {task_id} after {:.0} s; its last status was {state}",
            waited.as_secs_f64()
        );
        let mut canceled = false;
        if poll.policy().cancel_on_deadline && last == Some(TaskStatus::Pending) {
            // A short grace past the deadline for this one request (the handle's deadline
            // is extended for it: canceling is what the caller asked for at the deadline).
            let grace =
                self.now() + Duration::from_secs(10).min(self.inner.config.request_timeout());
            let mut unbounded = self.clone();
            unbounded.deadline = None;
            match unbounded.cancel_until(task_id, Some(grace)).await {
                Ok(_) => {
                    canceled = true;
                    summary.push_str("; it was still PENDING and has been canceled as asked");
                }
                Err(e) => summary.push_str(&format!("; canceling it failed: {e}")),
            }
        } else {
            summary.push_str("; it keeps running on the service");
        }
        let mut e = Error::new(ErrorKind::Timeout, summary).with_task_id(task_id);
        // A task canceled at the deadline is over: there is nothing to resume.
        if !canceled {
            e = e.with_next_step(NextStep::ResumeWait {
                task_id: task_id.to_owned(),
            });
        }
        if let Some(s) = last {
            e = e.with_last_status(s);
        }
        e
    }
}
