//! `Client`: the builder, the handle (with its optional deadline) and the transport around the
//! pure protocol: one exchange under one timeout, idempotent calls with retries, the server's
//! clock estimated from every API answer. The operations live in their own modules:
//! `submit` (+ `reconcile`), `list`, `wait` (get, cancel, wait, watch).

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::budget::RateBudget;
use crate::config::ClientConfig;
use crate::error::{Error, ErrorKind};
use crate::http::{HttpClient, HttpRequest, SharedHttpClient, TransportError};
use crate::journal::TaskJournal;
use crate::poll::PollPolicy;
use crate::protocol::{self, MAX_API_RESPONSE_BYTES};
use crate::rt::{Clock, SharedClock, SharedSleep, Sleep, SystemClock};
use crate::signals::CompletionSignals;
use crate::skew::ServerClock;
// upload.rs names it here.
#[cfg(feature = "rt-tokio")]
pub(crate) use crate::submit::SubmittedTask;

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
    pub(crate) inner: Arc<Inner>,
    /// Bounds everything done through this handle (see [`Client::with_deadline`]).
    pub(crate) deadline: Option<Instant>,
    /// The task journal of this handle (see [`Client::with_journal`]).
    pub(crate) journal: Option<Arc<TaskJournal>>,
}

pub(crate) struct Inner {
    pub(crate) config: ClientConfig,
    pub(crate) http: SharedHttpClient,
    pub(crate) sleep: SharedSleep,
    pub(crate) clock: SharedClock,
    /// Task ids this client created, adopted or was told about: never reconciliation candidates.
    pub(crate) known_tasks: Mutex<HashSet<String>>,
    /// The `api_key_id` of this client's key, once a task it knows is seen in a task list.
    pub(crate) own_api_key_id: Mutex<Option<String>>,
    /// The server's clock, estimated from the `Date` header of every API answer.
    pub(crate) server_clock: ServerClock,
    /// The shared budget of task-API requests (get, list, cancel), if any.
    pub(crate) task_api_budget: Option<RateBudget>,
    /// Push-completion wake-ups for waits, if any.
    pub(crate) signals: Option<CompletionSignals>,
    /// The create requests of this process, announced before they are sent.
    pub(crate) creates: crate::intents::InFlight,
    #[cfg_attr(not(feature = "rt-tokio"), allow(dead_code))]
    pub(crate) policy_cache:
        Mutex<std::collections::HashMap<String, (wan_animate_types::UploadPolicy, Instant)>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .field("http", &self.inner.http)
            .field("deadline", &self.deadline)
            .field("journal", &self.journal)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Client`].
///
/// ```
/// use wan_animate_core::{Client, ClientConfig, http::*};
/// let http = http_client_fn(|_| async { Err(TransportError::connect("offline")) });
/// let client = Client::builder(ClientConfig::new("sk-x"))
///     .http_client(http)
///     .task_api_rate(10.0) // all waits of this client share 10 queries per second
///     .build()?;
/// # let _ = client;
/// # Ok::<(), wan_animate_core::Error>(())
/// ```
#[derive(Debug)]
pub struct ClientBuilder {
    config: ClientConfig,
    http: Option<SharedHttpClient>,
    sleep: Option<SharedSleep>,
    clock: Option<SharedClock>,
    journal: Option<PathBuf>,
    task_api_rate: Option<f64>,
    signals: Option<CompletionSignals>,
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

    /// Records every task `submit` creates or adopts in an append-only journal at `path`
    /// (see [`TaskJournal`]), and never adopts a task recorded there for another request.
    pub fn journal(mut self, path: impl Into<PathBuf>) -> Self {
        self.journal = Some(path.into());
        self
    }

    /// Spends at most `per_sec` task-API requests (get, list, cancel) per second across every
    /// wait of this client and its clones (the account has 20 in all). A token bucket on the
    /// injected clock and sleep; rates outside 0.001..=1e6 (and NaN) are refused by `build`.
    pub fn task_api_rate(mut self, per_sec: f64) -> Self {
        self.task_api_rate = Some(per_sec);
        self
    }

    /// Wakes waits up when a push notification says a task finished (see [`CompletionSignals`]):
    /// a wait queries at once on a signal, and between signals only at the slow
    /// [`PollPolicy::signal_safety_interval`].
    pub fn completion_signals(mut self, signals: CompletionSignals) -> Self {
        self.signals = Some(signals);
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
        let clock = self.clock.unwrap_or_else(|| SharedClock::new(SystemClock));
        let task_api_budget = match self.task_api_rate {
            None => None,
            Some(rate) => Some(
                RateBudget::new(rate, clock.clone(), sleep.clone()).ok_or_else(|| {
                    Error::config(format!(
                        "task_api_rate must be between {} and {} requests per second (got {rate})",
                        crate::budget::MIN_RATE,
                        crate::budget::MAX_RATE
                    ))
                })?,
            ),
        };
        Ok(Client {
            inner: Arc::new(Inner {
                config: self.config,
                http,
                sleep,
                clock,
                known_tasks: Mutex::new(HashSet::new()),
                own_api_key_id: Mutex::new(None),
                server_clock: ServerClock::default(),
                task_api_budget,
                signals: self.signals,
                creates: crate::intents::InFlight::default(),
                policy_cache: Mutex::new(std::collections::HashMap::new()),
            }),
            deadline: None,
            journal: self.journal.map(|p| Arc::new(TaskJournal::new(p))),
        })
    }
}

/// A response read whole: status, headers, body.
pub(crate) struct RawResponse {
    pub(crate) status: http::StatusCode,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: Bytes,
}

impl Client {
    /// Starts building a client.
    pub fn builder(config: ClientConfig) -> ClientBuilder {
        ClientBuilder {
            config,
            http: None,
            sleep: None,
            clock: None,
            journal: None,
            task_api_rate: None,
            signals: None,
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

    /// A handle on the same client (same connection pool, journal, budget, known tasks) whose
    /// every operation ends by `deadline`: get, list, list_all, cancel, submit (and its
    /// reconciliation), wait and watch. An earlier deadline of the handle is kept.
    /// Operations cut by it fail with [`ErrorKind::Timeout`] (a submit whose create request
    /// was cut fails with [`ErrorKind::SubmitOutcomeUnknown`]: the task may exist).
    ///
    /// ```
    /// # use wan_animate_core::{Client, ClientConfig, http::*};
    /// # let client = Client::new(ClientConfig::new("sk-x"), http_client_fn(|_| async { Err(TransportError::connect("offline")) }))?;
    /// let bounded = client.with_deadline(std::time::Instant::now() + std::time::Duration::from_secs(5));
    /// assert!(bounded.deadline().is_some());
    /// # Ok::<(), wan_animate_core::Error>(())
    /// ```
    pub fn with_deadline(&self, deadline: Instant) -> Client {
        let mut c = self.clone();
        c.deadline = Some(self.deadline.map_or(deadline, |d| d.min(deadline)));
        c
    }

    /// A handle that records submitted tasks in `journal` (see [`ClientBuilder::journal`]).
    pub fn with_journal(&self, journal: TaskJournal) -> Client {
        let mut c = self.clone();
        c.journal = Some(Arc::new(journal));
        c
    }

    /// The deadline of this handle, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The task journal of this handle, if any.
    pub fn journal(&self) -> Option<&TaskJournal> {
        self.journal.as_deref()
    }

    #[cfg_attr(not(feature = "rt-tokio"), allow(dead_code))]
    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    pub(crate) fn now(&self) -> Instant {
        self.inner.clock.now()
    }

    pub(crate) async fn sleep(&self, d: Duration) {
        self.inner.sleep.sleep(d).await;
    }

    /// The earlier of the handle's deadline and `op`.
    pub(crate) fn effective_deadline(&self, op: Option<Instant>) -> Option<Instant> {
        match (self.deadline, op) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The timeout of the next attempt: the request timeout, cut by the deadline (the
    /// handle's included). `None` once the deadline has passed.
    pub(crate) fn attempt_timeout(&self, deadline: Option<Instant>) -> Option<Duration> {
        let t = self.inner.config.request_timeout();
        match self.effective_deadline(deadline) {
            Some(d) => {
                let left = d.saturating_duration_since(self.now());
                (!left.is_zero()).then(|| t.min(left))
            }
            None => Some(t),
        }
    }

    /// `t`, cut by the handle's deadline; `None` once it has passed. Bounds transfers
    /// (uploads, downloads), whose own timeouts are not the request timeout.
    #[cfg_attr(not(feature = "rt-tokio"), allow(dead_code))]
    pub(crate) fn bounded(&self, t: Duration) -> Option<Duration> {
        match self.deadline {
            Some(d) => {
                let left = d.saturating_duration_since(self.now());
                (!left.is_zero()).then(|| t.min(left))
            }
            None => Some(t),
        }
    }

    /// Sleeps `d`, or less if the deadline comes first; false if the deadline has then passed.
    pub(crate) async fn sleep_until_deadline(
        &self,
        d: Duration,
        deadline: Option<Instant>,
    ) -> bool {
        match self.effective_deadline(deadline) {
            Some(end) => {
                let left = end.saturating_duration_since(self.now());
                self.sleep(d.min(left)).await;
                self.now() < end
            }
            None => {
                self.sleep(d).await;
                true
            }
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

    /// An exchange with the task API: like [`exchange`](Self::exchange), and the answer's
    /// `Date` header updates the estimate of the server's clock.
    pub(crate) async fn api_exchange(
        &self,
        request: HttpRequest,
        timeout: Duration,
    ) -> Result<RawResponse, TransportError> {
        let r = self.exchange(request, timeout).await?;
        self.inner
            .server_clock
            .observe(&r.headers, self.inner.clock.wall_now());
        Ok(r)
    }

    /// The deadline error of `operation`.
    pub(crate) fn deadline_passed(operation: &str) -> Error {
        Error::new(
            ErrorKind::Timeout,
            format!("{operation}: the deadline passed"),
        )
        .with_hint("allow more time, or retry later")
    }

    /// An idempotent API call with retries of transient failures, bounded by `deadline`
    /// (and the handle's).
    #[cfg_attr(not(feature = "rt-tokio"), allow(dead_code))]
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        operation: &str,
        build: &(dyn Fn() -> Result<HttpRequest, Error> + Send + Sync),
        deadline: Option<Instant>,
    ) -> Result<T, Error> {
        self.call_paced(operation, build, deadline, false).await
    }

    /// [`call`](Self::call) for the task API (get, list, cancel): every attempt is paced by
    /// the shared task-API budget.
    pub(crate) async fn task_call<T: DeserializeOwned>(
        &self,
        operation: &str,
        build: &(dyn Fn() -> Result<HttpRequest, Error> + Send + Sync),
        deadline: Option<Instant>,
    ) -> Result<T, Error> {
        self.call_paced(operation, build, deadline, true).await
    }

    async fn call_paced<T: DeserializeOwned>(
        &self,
        operation: &str,
        build: &(dyn Fn() -> Result<HttpRequest, Error> + Send + Sync),
        deadline: Option<Instant>,
        task_api: bool,
    ) -> Result<T, Error> {
        let deadline = self.effective_deadline(deadline);
        let policy = self.inner.config.retry().clone();
        let mut attempt = 0u32;
        loop {
            if let Some(budget) = self.inner.task_api_budget.as_ref().filter(|_| task_api)
                && !budget.acquire(deadline).await
            {
                return Err(Self::deadline_passed(operation));
            }
            let Some(timeout) = self.attempt_timeout(deadline) else {
                return Err(Self::deadline_passed(operation));
            };
            let err = match self.api_exchange(build()?, timeout).await {
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

    /// Tells the client about task ids that are already accounted for (for example by a
    /// batch ledger after a restart), so reconciliation never adopts them for another request.
    pub fn remember_task_ids<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        if let Ok(mut known) = self.inner.known_tasks.lock() {
            known.extend(ids.into_iter().map(str::to_owned));
        }
    }

    pub(crate) fn remember(&self, task_id: &str) {
        if let Ok(mut known) = self.inner.known_tasks.lock() {
            known.insert(task_id.to_owned());
        }
    }

    /// Every task id known locally: this process's, and the journal's.
    /// Announces a create of `model` about to be sent (this process, and the journal if any).
    pub(crate) fn announce_create(&self, model: &str) -> String {
        let id = format!("{}-{:016x}", std::process::id(), crate::retry::next_u64());
        let started = self.inner.clock.wall_now();
        let create = crate::intents::Create {
            id: id.clone(),
            model: model.to_owned(),
            base_url: crate::journal::redact_base_url(self.inner.config.base_url()),
            started_ms: crate::skew::unix_ms(started),
            ended_ms: None,
            end: None,
        };
        if let Some(j) = &self.journal {
            let line = crate::intents::CreateLine {
                create_intent: id.clone(),
                model: create.model.clone(),
                base_url: create.base_url.clone(),
                pid: std::process::id(),
                started_at_unix_ms: create.started_ms,
                ended_at_unix_ms: None,
                end: None,
            };
            if let Err(e) = j.record_create(&line) {
                tracing::warn!(journal = %j.path().display(), error = %e, "could not announce the create in the task journal");
            }
        }
        self.inner.creates.start(create);
        id
    }

    /// Records how an announced create ended.
    pub(crate) fn end_create(&self, id: &str, model: &str, end: crate::intents::CreateEnd) {
        let at = self.inner.clock.wall_now();
        self.inner.creates.end(id, end, at);
        if let Some(j) = &self.journal {
            let line = crate::intents::CreateLine {
                create_intent: id.to_owned(),
                model: model.to_owned(),
                base_url: crate::journal::redact_base_url(self.inner.config.base_url()),
                pid: std::process::id(),
                started_at_unix_ms: 0,
                ended_at_unix_ms: Some(crate::skew::unix_ms(at)),
                end: Some(end),
            };
            if let Err(e) = j.record_create(&line) {
                tracing::warn!(journal = %j.path().display(), error = %e, "could not record the end of a create in the task journal");
            }
        }
    }

    /// Other creates of `model` on this endpoint (this process and the journal) that may have
    /// made a task nobody has recorded, during `[from, to]` (local wall clock).
    pub(crate) fn contending_creates(
        &self,
        model: &str,
        from: SystemTime,
        to: SystemTime,
        own: Option<&str>,
    ) -> Vec<crate::intents::Create> {
        let base = crate::journal::redact_base_url(self.inner.config.base_url());
        let mut all = self.inner.creates.all();
        if let Some(j) = &self.journal {
            match j.creates() {
                Ok(c) => all.extend(c),
                Err(e) => {
                    tracing::warn!(journal = %j.path().display(), error = %e, "could not read the task journal")
                }
            }
        }
        let now = crate::skew::unix_ms(self.inner.clock.wall_now());
        let (from, to) = (crate::skew::unix_ms(from), crate::skew::unix_ms(to));
        let mut seen = HashSet::new();
        // The in-memory view of this process comes first and is the freshest.
        all.into_iter()
            .filter(|c| seen.insert(c.id.clone()))
            .filter(|c| Some(c.id.as_str()) != own && c.model == model && c.base_url == base)
            .filter(|c| c.may_have_made_an_unrecorded_task(from, to, now))
            .collect()
    }

    pub(crate) fn known_task_ids(&self) -> HashSet<String> {
        let mut known = self
            .inner
            .known_tasks
            .lock()
            .map(|k| k.clone())
            .unwrap_or_default();
        if let Some(j) = &self.journal {
            match j.task_ids() {
                Ok(ids) => known.extend(ids),
                Err(e) => {
                    tracing::warn!(journal = %j.path().display(), error = %e, "could not read the task journal")
                }
            }
        }
        known
    }
}
