//! `Client`: the operations, with retries, reconciliation and polling around the pure protocol.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures_core::Stream;
use serde::de::DeserializeOwned;
use tracing::Instrument;
use wan_animate_types::{
    CancelTaskResponse, CreateTaskRequest, CreateTaskResponse, EpochMillis, ListTasksQuery,
    ListTasksResponse, ListTime, TaskResponse, TaskStatus, TaskSummary,
};

use crate::config::ClientConfig;
use crate::error::{Error, ErrorKind, classify};
use crate::http::{HttpClient, HttpRequest, SharedHttpClient, TransportError};
use crate::poll::{PollPolicy, TaskEvent};
use crate::protocol::{self, MAX_API_RESPONSE_BYTES};
use crate::rt::{Clock, SharedClock, SharedSleep, Sleep, SystemClock};

/// The client. Cheap to clone (an `Arc` inside), `Send + Sync`, not generic over the backend.
///
/// ```no_run
/// # async fn demo(client: wan_animate_core::Client) -> Result<(), wan_animate_core::Error> {
/// use wan_animate_core::types::{CreateTaskRequest, Mode, Model};
/// let request = CreateTaskRequest::new(Model::AnimateMove, "https://x/me.jpg", "https://x/dance.mp4", Mode::Standard);
/// let task = client.submit(&request).await?;     // the id is yours from here on
/// let done = client.wait(&task.task_id).await?;  // FAILED, CANCELED, UNKNOWN are errors
/// println!("{:?}", done.output.video_url());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: ClientConfig,
    pub(crate) http: SharedHttpClient,
    pub(crate) sleep: SharedSleep,
    pub(crate) clock: SharedClock,
    /// Task ids this client created or adopted: never candidates when reconciling.
    known_tasks: Mutex<HashSet<String>>,
    pub(crate) policy_cache:
        Mutex<std::collections::HashMap<String, (wan_animate_types::UploadPolicy, Instant)>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .field("http", &self.inner.http)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Client`].
///
/// ```
/// use wan_animate_core::{Client, ClientConfig, http::*};
/// let http = http_client_fn(|_| async { Err(TransportError::connect("offline")) });
/// let client = Client::builder(ClientConfig::new("sk-x")).http_client(http).build()?;
/// # let _ = client;
/// # Ok::<(), wan_animate_core::Error>(())
/// ```
#[derive(Debug)]
pub struct ClientBuilder {
    config: ClientConfig,
    http: Option<SharedHttpClient>,
    sleep: Option<SharedSleep>,
    clock: Option<SharedClock>,
}

impl ClientBuilder {
    /// The HTTP backend (required).
    pub fn http_client(mut self, http: impl HttpClient) -> Self {
        self.http = Some(SharedHttpClient::new(http));
        self
    }

    /// An already shared backend.
    pub fn shared_http_client(mut self, http: SharedHttpClient) -> Self {
        self.http = Some(http);
        self
    }

    /// How to sleep (default: tokio's timer, with the `rt-tokio` feature).
    pub fn sleep(mut self, sleep: impl Sleep) -> Self {
        self.sleep = Some(SharedSleep::new(sleep));
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(SharedClock::new(clock));
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<Client, Error> {
        let http = self.http.ok_or_else(|| Error::config("no HTTP backend: use wan-animate-reqwest's client(), or ClientBuilder::http_client"))?;
        #[cfg(feature = "rt-tokio")]
        let sleep = self
            .sleep
            .unwrap_or_else(|| SharedSleep::new(crate::rt::TokioSleep));
        #[cfg(not(feature = "rt-tokio"))]
        let sleep = self.sleep.ok_or_else(|| {
            Error::config(
                "no sleep implementation: enable the rt-tokio feature or call ClientBuilder::sleep",
            )
        })?;
        Ok(Client {
            inner: Arc::new(Inner {
                config: self.config,
                http,
                sleep,
                clock: self.clock.unwrap_or_else(|| SharedClock::new(SystemClock)),
                known_tasks: Mutex::new(HashSet::new()),
                policy_cache: Mutex::new(std::collections::HashMap::new()),
            }),
        })
    }
}

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
    /// list and adopted instead of submitting again.
    pub adopted: bool,
    /// The create response (synthesized from the task list when adopted).
    pub response: CreateTaskResponse,
}

/// A response read whole: status, headers, body.
pub(crate) struct RawResponse {
    pub(crate) status: http::StatusCode,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: Bytes,
}

enum SubmitAttempt {
    Done(Box<SubmittedTask>),
    Retry(Error),
    Ambiguous(Error),
    Fail(Error),
}

impl Client {
    /// Starts building a client.
    pub fn builder(config: ClientConfig) -> ClientBuilder {
        ClientBuilder {
            config,
            http: None,
            sleep: None,
            clock: None,
        }
    }

    /// A client over `http` with the default sleep and clock.
    pub fn new(config: ClientConfig, http: impl HttpClient) -> Result<Self, Error> {
        Self::builder(config).http_client(http).build()
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The default poll policy.
    pub fn poll_policy(&self) -> &PollPolicy {
        self.inner.config.poll()
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    pub(crate) fn now(&self) -> Instant {
        self.inner.clock.now()
    }

    pub(crate) async fn sleep(&self, d: Duration) {
        self.inner.sleep.sleep(d).await;
    }

    /// The timeout of the next attempt: the request timeout, cut by the deadline.
    pub(crate) fn attempt_timeout(&self, deadline: Option<Instant>) -> Option<Duration> {
        let t = self.inner.config.request_timeout();
        match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(self.now());
                (!left.is_zero()).then(|| t.min(left))
            }
            None => Some(t),
        }
    }

    /// Races `fut` against the injected sleep.
    pub(crate) async fn with_timeout<T>(
        &self,
        timeout: Duration,
        fut: impl std::future::Future<Output = Result<T, TransportError>> + Send,
    ) -> Result<T, TransportError> {
        use futures_util::future::{Either, select};
        let fut = std::pin::pin!(fut);
        let sleep = self.inner.sleep.sleep(timeout);
        match select(fut, sleep).await {
            Either::Left((r, _)) => r,
            Either::Right(((), _)) => Err(TransportError::timeout(format!(
                "no complete response within {timeout:?}"
            ))),
        }
    }

    /// One exchange whose body is read whole, under one timeout.
    pub(crate) async fn exchange(
        &self,
        request: HttpRequest,
        timeout: Duration,
    ) -> Result<RawResponse, TransportError> {
        let http = self.inner.http.clone();
        self.with_timeout(timeout, async move {
            let response = http.send(request).await?;
            let (parts, body) = response.into_parts();
            let body = body.collect(MAX_API_RESPONSE_BYTES).await?;
            Ok(RawResponse {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        })
        .await
    }

    /// An idempotent call with retries of transient failures, bounded by `deadline`.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        operation: &str,
        build: &(dyn Fn() -> Result<HttpRequest, Error> + Send + Sync),
        deadline: Option<Instant>,
    ) -> Result<T, Error> {
        let policy = self.inner.config.retry().clone();
        let mut attempt = 0u32;
        loop {
            let Some(timeout) = self.attempt_timeout(deadline) else {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!("{operation}: the deadline passed"),
                ));
            };
            let err = match self.exchange(build()?, timeout).await {
                Ok(r) => {
                    match protocol::parse_response::<T>(operation, r.status, &r.headers, &r.body) {
                        Ok(v) => return Ok(v),
                        Err(e) => e,
                    }
                }
                Err(t) => Error::transport(operation, t),
            };
            attempt += 1;
            if !err.is_transient() || attempt >= policy.max_attempts {
                return Err(err);
            }
            let wait = policy.backoff(attempt - 1, err.retry_after());
            if deadline.is_some_and(|d| self.now() + wait >= d) {
                return Err(err);
            }
            tracing::warn!(operation, error = %err, retry_in_ms = wait.as_millis() as u64, "retrying");
            self.sleep(wait).await;
        }
    }

    /// Creates a task. Retried only when provably harmless: the connection was never made, or
    /// the service answered 429 with a `Throttling*` code. After an ambiguous failure (timeout
    /// after sending, connection lost mid-response, 5xx) the task list is searched and the task
    /// adopted; if it cannot be identified, the error says the task may exist. Never a silent
    /// second submit (docs/adr/0005).
    pub async fn submit(&self, request: &CreateTaskRequest) -> Result<SubmittedTask, Error> {
        let span = tracing::info_span!("wan_animate.submit", model = %request.model, task_id = tracing::field::Empty, request_id = tracing::field::Empty);
        async {
            let policy = self.inner.config.retry().clone();
            let first_sent_at = self.inner.clock.wall_now();
            let mut attempt = 0u32;
            let result = loop {
                attempt += 1;
                match self.submit_once(request).await {
                    SubmitAttempt::Done(t) => break Ok(*t),
                    SubmitAttempt::Fail(e) => break Err(e),
                    SubmitAttempt::Ambiguous(cause) => {
                        tracing::warn!(error = %cause, "create request failed ambiguously; reconciling with the task list");
                        break self.reconcile(request, first_sent_at, cause).await;
                    }
                    SubmitAttempt::Retry(e) if attempt < policy.max_attempts => {
                        let wait = policy.backoff(attempt - 1, e.retry_after());
                        tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "create request not accepted; retrying (nothing was created)");
                        self.sleep(wait).await;
                    }
                    SubmitAttempt::Retry(e) => break Err(e),
                }
            };
            if let Ok(t) = &result {
                let span = tracing::Span::current();
                span.record("task_id", t.task_id.as_str());
                if let Some(r) = &t.request_id {
                    span.record("request_id", r.as_str());
                }
                self.remember(&t.task_id);
            }
            result
        }
        .instrument(span)
        .await
    }

    async fn submit_once(&self, request: &CreateTaskRequest) -> SubmitAttempt {
        let http_request = match protocol::build_create_request(&self.inner.config, request) {
            Ok(r) => r,
            Err(e) => return SubmitAttempt::Fail(e),
        };
        let timeout = self.inner.config.request_timeout();
        match self.exchange(http_request, timeout).await {
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

    /// Tells the client about task ids that are already accounted for (for example by a
    /// batch ledger after a restart), so reconciliation never adopts them for another request.
    pub fn remember_task_ids<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        if let Ok(mut known) = self.inner.known_tasks.lock() {
            known.extend(ids.into_iter().map(str::to_owned));
        }
    }

    fn remember(&self, task_id: &str) {
        if let Ok(mut known) = self.inner.known_tasks.lock() {
            known.insert(task_id.to_owned());
        }
    }

    /// Looks for the task an ambiguous create request may have made.
    async fn reconcile(
        &self,
        request: &CreateTaskRequest,
        sent_at: SystemTime,
        cause: Error,
    ) -> Result<SubmittedTask, Error> {
        let model = request.model.as_str().to_owned();
        let may_exist = |detail: String| {
            Error::new(
                ErrorKind::SubmitOutcomeUnknown,
                format!("the create request failed ambiguously ({}) and {detail}; a task may have been created and billed", cause.summary()),
            )
            .with_service_error(cause.code().map(str::to_owned), cause.message().map(str::to_owned), cause.request_id().map(str::to_owned))
            .with_hint(format!("do not resubmit blindly: check `wan-animate list --model {model} --since 1h` first"))
            .may_exist()
        };
        let sent_ms = EpochMillis::from_system_time(sent_at).as_millis();
        for round in 0..2 {
            if round > 0 {
                // The list may lag the create by a moment.
                self.sleep(Duration::from_secs(2)).await;
            }
            let now_ms = EpochMillis::from_system_time(self.inner.clock.wall_now()).as_millis();
            // Wide window: the list filter's time zone is inferred (UTC+8), and clocks drift.
            let query = ListTasksQuery::new()
                .with_model_name(model.clone())
                .with_start_time(ListTime::from_unix_millis(sent_ms - 10 * 60_000))
                .with_end_time(ListTime::from_unix_millis(now_ms + 10 * 60_000))
                .with_page_size(100);
            let tasks = match self.collect_all(query).await {
                Ok(t) => t,
                Err(e) => return Err(may_exist(format!("the task list could not be read ({e})"))),
            };
            let known = self
                .inner
                .known_tasks
                .lock()
                .map(|k| k.clone())
                .unwrap_or_default();
            let candidates =
                reconcile_candidates(&tasks, &model, sent_ms - 60_000, now_ms + 60_000, &known);
            match candidates.as_slice() {
                [one] => {
                    tracing::warn!(task_id = %one.task_id, "adopted the task created by the ambiguous request; not submitting again");
                    let mut response = CreateTaskResponse::new(one.task_id.clone());
                    if let Some(out) = response.output.as_mut() {
                        out.task_status = one.status.clone();
                    }
                    response.request_id = one.request_id.clone();
                    return Ok(SubmittedTask {
                        task_id: one.task_id.clone(),
                        request_id: one.request_id.clone(),
                        status: one.status.clone(),
                        adopted: true,
                        response,
                    });
                }
                [] => continue,
                many => {
                    let ids: Vec<&str> = many.iter().map(|t| t.task_id.as_str()).collect();
                    return Err(may_exist(format!(
                        "{} tasks of {model} were created in that window ({}), so it is not clear which is ours",
                        ids.len(),
                        ids.join(", ")
                    )));
                }
            }
        }
        Err(may_exist(
            "no matching task appeared in the task list".to_owned(),
        ))
    }

    async fn collect_all(&self, query: ListTasksQuery) -> Result<Vec<TaskSummary>, Error> {
        use futures_util::StreamExt;
        let mut out = Vec::new();
        let mut stream = std::pin::pin!(self.list_all(query));
        while let Some(item) = stream.next().await {
            out.push(item?);
        }
        Ok(out)
    }

    /// Queries a task once (retrying transient failures).
    pub async fn get(&self, task_id: &str) -> Result<TaskResponse, Error> {
        self.get_until(task_id, None).await
    }

    async fn get_until(
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
            .call(
                "get task",
                &move || protocol::build_get_request(&config, &id),
                deadline,
            )
            .instrument(span.clone())
            .await;
        if let Ok(t) = &result {
            if let Some(r) = &t.request_id {
                span.record("request_id", r.as_str());
            }
        }
        result.map_err(|e| e.with_task_id(task_id))
    }

    /// Cancels a `PENDING` task (a running task cannot be canceled: `UnsupportedOperation`).
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
            .call::<CancelTaskResponse>(
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

    /// One page of the account's tasks.
    pub async fn list(&self, query: &ListTasksQuery) -> Result<ListTasksResponse, Error> {
        let span = tracing::debug_span!("wan_animate.list");
        let config = self.inner.config.clone();
        let q = query.clone();
        self.call(
            "list tasks",
            &move || protocol::build_list_request(&config, &q),
            None,
        )
        .instrument(span)
        .await
    }

    /// Every task matching `query`, page after page.
    pub fn list_all(
        &self,
        query: ListTasksQuery,
    ) -> impl Stream<Item = Result<TaskSummary, Error>> + Send + use<> {
        struct State {
            client: Client,
            query: ListTasksQuery,
            page: u32,
            buffered: VecDeque<TaskSummary>,
            done: bool,
        }
        let page_size = query.page_size.unwrap_or(100);
        let state = State {
            client: self.clone(),
            query: query.with_page_size(page_size),
            page: 1,
            buffered: VecDeque::new(),
            done: false,
        };
        futures_util::stream::unfold(state, |mut st| async move {
            loop {
                if let Some(t) = st.buffered.pop_front() {
                    return Some((Ok(t), st));
                }
                if st.done {
                    return None;
                }
                let q = st.query.clone().with_page_no(st.page);
                match st.client.list(&q).await {
                    Ok(page) => {
                        let total_pages = page.total_page.unwrap_or(0);
                        st.done = page.data.is_empty() || u64::from(st.page) >= total_pages;
                        st.page += 1;
                        st.buffered.extend(page.data);
                    }
                    Err(e) => {
                        st.done = true;
                        return Some((Err(e), st));
                    }
                }
            }
        })
    }

    /// Waits until the task ends, with the client's poll policy. `SUCCEEDED` is `Ok`; `FAILED`,
    /// `CANCELED` and `UNKNOWN` are errors of their own kinds, each carrying the task id.
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
    pub fn watch(
        &self,
        task_id: &str,
    ) -> impl Stream<Item = Result<TaskEvent, Error>> + Send + use<> {
        self.watch_with(task_id, &self.inner.config.poll().clone())
    }

    /// The status changes of a task as a stream: a `Status` event for the first answer and for
    /// every change, then `Finished` on success, or one error (failed, canceled, unknown,
    /// deadline). One monotonic deadline bounds the whole wait and every request in it.
    pub fn watch_with(
        &self,
        task_id: &str,
        policy: &PollPolicy,
    ) -> impl Stream<Item = Result<TaskEvent, Error>> + Send + use<> {
        struct State {
            client: Client,
            task_id: String,
            policy: PollPolicy,
            started: Instant,
            deadline: Option<Instant>,
            polls: u32,
            last: Option<TaskStatus>,
            queue: VecDeque<Result<TaskEvent, Error>>,
            done: bool,
        }
        let started = self.now();
        let state = State {
            client: self.clone(),
            task_id: task_id.to_owned(),
            policy: policy.clone(),
            started,
            deadline: policy.max_wait.map(|w| started + w),
            polls: 0,
            last: None,
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
                if st.polls > 0 {
                    let mut delay = st.policy.jittered_delay(st.polls - 1);
                    if let Some(d) = st.deadline {
                        delay = delay.min(d.saturating_duration_since(st.client.now()));
                    }
                    st.client.sleep(delay).await;
                }
                if st.deadline.is_some_and(|d| st.client.now() >= d) {
                    st.done = true;
                    let e = st
                        .client
                        .deadline_error(&st.task_id, st.last.clone(), &st.policy, st.started)
                        .await;
                    st.queue.push_back(Err(e));
                    continue;
                }
                st.polls += 1;
                match st.client.get_until(&st.task_id, st.deadline).await {
                    Ok(task) => {
                        let status = task.output.task_status.clone();
                        let changed = st.last.as_ref() != Some(&status);
                        let previous = st.last.replace(status.clone());
                        if changed {
                            let elapsed = st.client.now().saturating_duration_since(st.started);
                            st.queue.push_back(Ok(TaskEvent::Status {
                                task: task.clone(),
                                previous,
                                elapsed,
                            }));
                        }
                        if let Some(end) = terminal_outcome(task) {
                            st.done = true;
                            st.queue.push_back(end);
                        }
                    }
                    Err(e)
                        if st.deadline.is_some_and(|d| st.client.now() >= d)
                            && e.kind() == ErrorKind::Timeout =>
                    {
                        // The deadline cut the request in flight.
                        st.done = true;
                        let e = st
                            .client
                            .deadline_error(&st.task_id, st.last.clone(), &st.policy, st.started)
                            .await;
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

    async fn deadline_error(
        &self,
        task_id: &str,
        last: Option<TaskStatus>,
        policy: &PollPolicy,
        started: Instant,
    ) -> Error {
        let waited = self.now().saturating_duration_since(started);
        let state = last
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_else(|| "not yet known".into());
        let mut summary = format!(
            "gave up waiting for task {task_id} after {:.0} s; its last status was {state}",
            waited.as_secs_f64()
        );
        if policy.cancel_on_deadline && last == Some(TaskStatus::Pending) {
            // A short grace past the deadline for this one request.
            let grace =
                Some(self.now() + Duration::from_secs(10).min(self.inner.config.request_timeout()));
            match self.cancel_until(task_id, grace).await {
                Ok(_) => summary.push_str("; it was still PENDING and has been canceled as asked"),
                Err(e) => summary.push_str(&format!("; canceling it failed: {e}")),
            }
        } else {
            summary.push_str("; it keeps running on the service");
        }
        let mut e = Error::new(ErrorKind::Timeout, summary)
            .with_task_id(task_id)
            .with_hint(format!("resume with: wan-animate wait {task_id}"));
        if let Some(s) = last {
            e = e.with_last_status(s);
        }
        e
    }
}

/// What a terminal status means for a wait: `Finished`, or the task's own error.
fn terminal_outcome(task: TaskResponse) -> Option<Result<TaskEvent, Error>> {
    let id = task.output.task_id.clone();
    match &task.output.task_status {
        TaskStatus::Succeeded => Some(Ok(TaskEvent::Finished(task))),
        TaskStatus::Failed => {
            let code = task.output.code.clone();
            let message = task.output.message.clone();
            // Moderation and invalid media keep their own kinds; anything else is a task failure.
            let kind = match classify(None, code.as_deref()) {
                k @ (ErrorKind::ContentModeration | ErrorKind::InvalidInput | ErrorKind::QuotaOrBilling) => k,
                _ => ErrorKind::TaskFailed,
            };
            let summary = format!(
                "task {id} failed: {}{}",
                code.as_deref().unwrap_or("no code"),
                message.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
            );
            let mut e = Error::new(kind, summary).with_task_id(&id).with_service_error(code, message, task.request_id.clone());
            e = e.with_last_status(TaskStatus::Failed);
            if kind == ErrorKind::TaskFailed {
                e = e.with_hint("failed tasks are not billed; resubmitting may work if the failure was transient (InternalError)");
            }
            Some(Err(e))
        }
        TaskStatus::Canceled => Some(Err(Error::new(ErrorKind::TaskCanceled, format!("task {id} was canceled")).with_task_id(&id).with_last_status(TaskStatus::Canceled))),
        TaskStatus::Unknown => Some(Err(Error::new(
            ErrorKind::TaskUnknown,
            format!("task {id} is UNKNOWN: it never existed in this region/account, or it is older than 24 hours"),
        )
        .with_task_id(&id)
        .with_last_status(TaskStatus::Unknown)
        .with_hint("task ids and their results expire 24 h after creation; check the id and the region"))),
        _ => None,
    }
}

/// The tasks that an ambiguous create request of `model`, sent in `[from_ms, to_ms]`, may have
/// made: same model, created in the window, not already known to this client. Pure.
///
/// ```
/// use std::collections::HashSet;
/// use wan_animate_core::reconcile_candidates;
/// use wan_animate_core::types::{EpochMillis, TaskStatus, TaskSummary};
/// let tasks = vec![
///     TaskSummary::new("ours", TaskStatus::Pending).with_model_name("wan2.2-animate-mix").with_gmt_create(EpochMillis(1_000)),
///     TaskSummary::new("old", TaskStatus::Running).with_model_name("wan2.2-animate-mix").with_gmt_create(EpochMillis(10)),
/// ];
/// let found = reconcile_candidates(&tasks, "wan2.2-animate-mix", 500, 2_000, &HashSet::new());
/// assert_eq!(found.len(), 1);
/// assert_eq!(found[0].task_id, "ours");
/// ```
pub fn reconcile_candidates<'a>(
    tasks: &'a [TaskSummary],
    model: &str,
    from_ms: i64,
    to_ms: i64,
    known: &HashSet<String>,
) -> Vec<&'a TaskSummary> {
    tasks
        .iter()
        .filter(|t| t.model_name.as_deref() == Some(model))
        .filter(|t| {
            t.gmt_create
                .is_some_and(|c| c.as_millis() >= from_ms && c.as_millis() <= to_ms)
        })
        .filter(|t| !known.contains(&t.task_id))
        .collect()
}
