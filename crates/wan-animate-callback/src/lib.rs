//! Receive Model Studio **task completion events** pushed by Alibaba Cloud EventBridge to an
//! HTTP target (source `acs.dashscope`, type `dashscope:System:AsyncTaskFinish`, spec §17).
//!
//! A [`CallbackServer`] listens on a socket and hands every new event to the program through
//! [`Events`]. It is built to face the internet (behind a TLS-terminating reverse proxy):
//! - every request must carry a shared secret ([`CallbackToken`]), by default as
//!   `Authorization: Bearer TOKEN`, or in another header or a query parameter
//!   ([`TokenLocation`]); it is compared in constant time, and a missing or wrong secret gets
//!   `401` with an empty body and is never logged;
//! - bodies are capped (`413` beyond [`DEFAULT_MAX_BODY_BYTES`]); a body that is not JSON or
//!   not a completion event gets `400`; events of other sources or types get `200` and are
//!   ignored;
//! - EventBridge delivers at least once: an event whose id, or whose `(task id, status)`,
//!   was already delivered is acknowledged (`200`) and not delivered again, in whatever order
//!   redeliveries arrive;
//! - nothing a sender does makes it panic; [`CallbackServer::shutdown`] stops it gracefully.
//!
//! An event says only that a task ended: query the task once to get its result.
//!
//! ```no_run
//! use wan_animate_callback::{CallbackServer, CallbackToken};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let token = CallbackToken::new(std::env::var("WAN_ANIMATE_CALLBACK_TOKEN")?)?;
//! let (server, mut events) = CallbackServer::builder(token).bind("127.0.0.1:8090").await?;
//! println!("listening on http://{}", server.local_addr());
//! while let Some(event) = events.recv().await {
//!     // e.g. wake whatever waits for this task, then query it once.
//!     println!("{} ended {}", event.data.task_id, event.data.task_status);
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod dedup;
mod handler;
mod token;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use token::{CallbackToken, ConfigError, TokenLocation};
pub use wan_animate_types::{EventTime, TaskCompletionData, TaskCompletionEvent};

/// The default cap on a request body: 256 KiB (a completion event is about 1 kB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;

/// How many delivered events are remembered to recognise duplicates, by default.
pub const DEFAULT_DEDUP_CAPACITY: usize = 100_000;

/// How many events may wait in [`Events`] before requests wait for the program to catch up.
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;

/// How long [`CallbackServer::shutdown`] lets requests in flight finish, by default.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Configures a [`CallbackServer`]; made by [`CallbackServer::builder`].
///
/// ```
/// use wan_animate_callback::{CallbackServer, CallbackToken, TokenLocation};
/// let builder = CallbackServer::builder(CallbackToken::new("0123456789abcdef").unwrap())
///     .token_location(TokenLocation::header("X-Callback-Token").unwrap())
///     .max_body_bytes(64 * 1024);
/// # let _ = builder;
/// ```
#[derive(Debug)]
pub struct CallbackServerBuilder {
    token: CallbackToken,
    location: TokenLocation,
    max_body_bytes: usize,
    dedup_capacity: usize,
    queue_capacity: usize,
    shutdown_grace: Duration,
}

impl CallbackServerBuilder {
    /// Where requests carry the token (default: `Authorization: Bearer`).
    pub fn token_location(mut self, location: TokenLocation) -> Self {
        self.location = location;
        self
    }

    /// The largest accepted body (default [`DEFAULT_MAX_BODY_BYTES`]); larger ones get 413.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// How many delivered events to remember for deduplication (default
    /// [`DEFAULT_DEDUP_CAPACITY`]; each takes about 200 bytes).
    pub fn dedup_capacity(mut self, events: usize) -> Self {
        self.dedup_capacity = events;
        self
    }

    /// How many events may wait in [`Events`] (default [`DEFAULT_QUEUE_CAPACITY`]).
    pub fn queue_capacity(mut self, events: usize) -> Self {
        self.queue_capacity = events.max(1);
        self
    }

    /// How long [`CallbackServer::shutdown`] waits for requests in flight (default
    /// [`DEFAULT_SHUTDOWN_GRACE`]).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Binds `addr` (e.g. `127.0.0.1:0` for a free port) and starts serving on the current
    /// tokio runtime.
    pub async fn bind(self, addr: impl ToSocketAddrs) -> std::io::Result<(CallbackServer, Events)> {
        let listener = TcpListener::bind(addr).await?;
        self.serve(listener)
    }

    /// Serves on a listener the program already bound.
    pub fn serve(self, listener: TcpListener) -> std::io::Result<(CallbackServer, Events)> {
        let local_addr = listener.local_addr()?;
        let (sink, queue) = mpsc::channel(self.queue_capacity);
        let shared = Arc::new(handler::Shared {
            token: self.token,
            location: self.location,
            max_body_bytes: self.max_body_bytes,
            seen: Mutex::new(dedup::Seen::new(self.dedup_capacity.saturating_mul(2))),
            sink: Mutex::new(Some(sink)),
            counters: handler::Counters::default(),
        });
        let router = axum::Router::new()
            .fallback(handler::handle)
            .with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    // A dropped handle stops the server too.
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!("the callback server stopped: {e}");
            }
        });
        tracing::info!(%local_addr, "callback receiver listening");
        Ok((
            CallbackServer {
                local_addr,
                shared,
                stop: Some(stop),
                task: Some(task),
                shutdown_grace: self.shutdown_grace,
            },
            Events { queue },
        ))
    }
}

/// A running receiver. Dropping it stops the server (without waiting); prefer
/// [`CallbackServer::shutdown`].
///
/// ```
/// use wan_animate_callback::{CallbackServer, CallbackToken};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let token = CallbackToken::new("0123456789abcdef0123").unwrap();
/// let (server, mut events) = CallbackServer::builder(token).bind("127.0.0.1:0").await?;
/// assert_ne!(server.local_addr().port(), 0);
/// assert_eq!(server.stats().delivered, 0);
/// server.shutdown().await;
/// assert!(events.recv().await.is_none(), "events end with the server");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct CallbackServer {
    local_addr: SocketAddr,
    shared: Arc<handler::Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    shutdown_grace: Duration,
}

impl CallbackServer {
    /// A builder that authenticates requests with `token`.
    pub fn builder(token: CallbackToken) -> CallbackServerBuilder {
        CallbackServerBuilder {
            token,
            location: TokenLocation::default(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            dedup_capacity: DEFAULT_DEDUP_CAPACITY,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }

    /// The address the server listens on (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// What happened to the requests so far.
    pub fn stats(&self) -> ReceiverStats {
        self.shared.counters.snapshot()
    }

    /// Stops accepting connections, lets requests in flight finish (at most the shutdown
    /// grace, then they are cut), and returns when the server has stopped. [`Events`] ends
    /// once the events already queued are received.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(self.shutdown_grace, &mut task)
                .await
                .is_err()
        {
            tracing::warn!("requests still in flight after the shutdown grace; cut");
            task.abort();
            let _ = task.await;
        }
        self.close_events();
    }

    fn close_events(&self) {
        self.shared
            .sink
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
    }
}

impl Drop for CallbackServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.close_events();
    }
}

/// The events a [`CallbackServer`] delivers, each once, in arrival order.
///
/// Ends (`recv` returns `None`) after the server has stopped and every queued event was
/// received. If it is dropped while the server runs, new events get `503` so that the sender
/// delivers them again later.
#[derive(Debug)]
pub struct Events {
    queue: mpsc::Receiver<TaskCompletionEvent>,
}

impl Events {
    /// The next new event, waiting for one; `None` once the server has stopped.
    pub async fn recv(&mut self) -> Option<TaskCompletionEvent> {
        self.queue.recv().await
    }

    /// The next new event if one is waiting, without waiting.
    pub fn try_recv(&mut self) -> Option<TaskCompletionEvent> {
        self.queue.try_recv().ok()
    }
}

/// Counts of what a [`CallbackServer`] did with the requests it received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ReceiverStats {
    /// New events handed to [`Events`].
    pub delivered: u64,
    /// Events acknowledged without delivery because they were delivered before.
    pub duplicates: u64,
    /// Authenticated events of another source or type, acknowledged and dropped.
    pub ignored: u64,
    /// Requests without the right token (401).
    pub unauthorized: u64,
    /// Bodies beyond the cap (413).
    pub too_large: u64,
    /// Bodies that were not JSON or not a completion event (400).
    pub malformed: u64,
}
