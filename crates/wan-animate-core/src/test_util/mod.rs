//! Test doubles: an in-memory backend that records requests and answers from a closure, and
//! a manual clock whose sleeps advance time instantly. Enabled by the `test-util` feature.

pub mod conformance;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use crate::http::{HttpClient, HttpRequest, HttpResponse, ResponseBody, TransportError};
use crate::rt::{Clock, Sleep};

/// A request as the mock saw it (the body read whole).
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Method.
    pub method: http::Method,
    /// Full URI.
    pub uri: http::Uri,
    /// Headers.
    pub headers: http::HeaderMap,
    /// Body bytes.
    pub body: Bytes,
}

impl RecordedRequest {
    /// The URI's path.
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// The URI's query, or "".
    pub fn query(&self) -> &str {
        self.uri.query().unwrap_or_default()
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What the mock answers.
#[derive(Debug)]
#[non_exhaustive]
pub enum MockReply {
    /// A response.
    Response {
        /// Status.
        status: u16,
        /// Headers.
        headers: Vec<(String, String)>,
        /// Body.
        body: Bytes,
    },
    /// A response whose body breaks off after these bytes (connection reset mid-response).
    Truncated {
        /// Status.
        status: u16,
        /// The bytes sent before the break.
        partial: Bytes,
    },
    /// A transport failure.
    Fail(TransportError),
    /// Never answers (a stalled server).
    Hang,
}

impl MockReply {
    /// A JSON response.
    pub fn json(status: u16, body: &str) -> Self {
        MockReply::Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::copy_from_slice(body.as_bytes()),
        }
    }

    /// Adds a header to a response.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if let MockReply::Response { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }
}

type Handler = dyn Fn(&RecordedRequest) -> MockReply + Send + Sync;

/// An in-memory [`HttpClient`].
#[derive(Clone)]
pub struct MockHttp {
    handler: Arc<Handler>,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
}

impl fmt::Debug for MockHttp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockHttp")
            .field("requests", &self.requests().len())
            .finish()
    }
}

impl MockHttp {
    /// A backend answering every request with `handler`.
    pub fn new(handler: impl Fn(&RecordedRequest) -> MockReply + Send + Sync + 'static) -> Self {
        Self {
            handler: Arc::new(handler),
            requests: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Requests whose path ends with `suffix` and whose method is `method`.
    pub fn count(&self, method: &str, path_suffix: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method.as_str() == method && r.path().ends_with(path_suffix))
            .count()
    }
}

impl HttpClient for MockHttp {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let (parts, mut body) = request.into_parts();
        let mut bytes = bytes::BytesMut::new();
        {
            use http_body_util::BodyExt;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(TransportError::io)?;
                if let Ok(data) = frame.into_data() {
                    bytes.extend_from_slice(&data);
                }
            }
        }
        let recorded = RecordedRequest {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body: bytes.freeze(),
        };
        if let Ok(mut r) = self.requests.lock() {
            r.push(recorded.clone());
        }
        match (self.handler)(&recorded) {
            MockReply::Response {
                status,
                headers,
                body,
            } => {
                let mut b = http::Response::builder().status(status);
                for (k, v) in headers {
                    b = b.header(k, v);
                }
                b.body(ResponseBody::from_bytes(body))
                    .map_err(TransportError::other)
            }
            MockReply::Truncated { status, partial } => {
                let stream = futures_util::stream::iter(vec![
                    Ok(partial),
                    Err::<Bytes, crate::http::BoxError>("connection reset by peer".into()),
                ]);
                http::Response::builder()
                    .status(status)
                    .body(ResponseBody::from_stream(stream))
                    .map_err(TransportError::other)
            }
            MockReply::Fail(e) => Err(e),
            MockReply::Hang => std::future::pending().await,
        }
    }
}

/// A clock that only moves when slept on: sleeps return at once and advance time, and are
/// recorded so tests can assert the exact schedule.
#[derive(Debug, Clone)]
pub struct ManualClock {
    state: Arc<Mutex<ClockState>>,
}

#[derive(Debug)]
struct ClockState {
    now: Instant,
    wall: SystemTime,
    sleeps: Vec<Duration>,
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl ManualClock {
    /// Starts at the real current time.
    pub fn new() -> Self {
        Self {
            state: Arc::new(Mutex::new(ClockState {
                now: Instant::now(),
                wall: SystemTime::now(),
                sleeps: Vec::new(),
            })),
        }
    }

    /// Every sleep so far.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.state
            .lock()
            .map(|s| s.sleeps.clone())
            .unwrap_or_default()
    }

    /// Total time slept.
    pub fn slept(&self) -> Duration {
        self.sleeps().iter().sum()
    }

    /// Moves time forward.
    pub fn advance(&self, d: Duration) {
        if let Ok(mut s) = self.state.lock() {
            s.now += d;
            s.wall += d;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.state
            .lock()
            .map(|s| s.now)
            .unwrap_or_else(|_| Instant::now())
    }
    fn wall_now(&self) -> SystemTime {
        self.state
            .lock()
            .map(|s| s.wall)
            .unwrap_or_else(|_| SystemTime::now())
    }
}

impl Sleep for ManualClock {
    async fn sleep(&self, duration: Duration) {
        if let Ok(mut s) = self.state.lock() {
            s.now += duration;
            s.wall += duration;
            s.sleeps.push(duration);
        }
        // Let other futures (a raced request) run first.
        tokio::task::yield_now().await;
    }
}
