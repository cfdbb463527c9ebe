//! The HTTP seam: one exchange per call, our own streamable bodies, an opaque error.
//!
//! Backends (the reqwest adapter, test doubles, your own) implement [`HttpClient`]; core owns
//! everything else (auth, base URL, retries, timeouts, polling). See docs/adr/0001.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use http_body::{Body, Frame, SizeHint};
use sync_wrapper::SyncWrapper;

/// A boxed, thread-safe error from a backend or a body stream.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A boxed future, as the object-safe twin of [`HttpClient`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A request as core hands it to a backend.
pub type HttpRequest = http::Request<RequestBody>;
/// A response as a backend hands it back.
pub type HttpResponse = http::Response<ResponseBody>;

/// Performs a single HTTP exchange: no retries, redirects, auth or timeouts of its own
/// beyond connection setup (core enforces per-attempt deadlines by racing the exchange).
///
/// ```
/// use wan_animate_core::http::{HttpClient, HttpRequest, HttpResponse, ResponseBody, TransportError};
///
/// #[derive(Debug)]
/// struct Teapot;
/// impl HttpClient for Teapot {
///     async fn send(&self, _request: HttpRequest) -> Result<HttpResponse, TransportError> {
///         Ok(http::Response::builder().status(418).body(ResponseBody::from_bytes("short and stout")).unwrap())
///     }
/// }
/// let shared = wan_animate_core::http::SharedHttpClient::new(Teapot);
/// # let _ = shared;
/// ```
pub trait HttpClient: fmt::Debug + Send + Sync + 'static {
    /// Sends `request` and returns the response head with a streaming body.
    fn send(
        &self,
        request: HttpRequest,
    ) -> impl Future<Output = Result<HttpResponse, TransportError>> + Send;
}

/// The object-safe twin of [`HttpClient`], so `Client` need not be generic.
trait DynHttpClient: fmt::Debug + Send + Sync + 'static {
    fn send_boxed(
        &self,
        request: HttpRequest,
    ) -> BoxFuture<'_, Result<HttpResponse, TransportError>>;
}

impl<T: HttpClient> DynHttpClient for T {
    fn send_boxed(
        &self,
        request: HttpRequest,
    ) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(self.send(request))
    }
}

/// A cheaply cloneable, type-erased [`HttpClient`].
///
/// ```
/// # use wan_animate_core::http::*;
/// let client = http_client_fn(|_req| async { Err(TransportError::connect("offline")) });
/// let clone = client.clone();
/// # let _ = clone;
/// ```
#[derive(Clone, Debug)]
pub struct SharedHttpClient(Arc<dyn DynHttpClient>);

impl SharedHttpClient {
    /// Erases a backend.
    pub fn new(client: impl HttpClient) -> Self {
        Self(Arc::new(client))
    }

    /// Sends one request.
    pub fn send(
        &self,
        request: HttpRequest,
    ) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        self.0.send_boxed(request)
    }
}

impl HttpClient for SharedHttpClient {
    fn send(
        &self,
        request: HttpRequest,
    ) -> impl Future<Output = Result<HttpResponse, TransportError>> + Send {
        self.0.send_boxed(request)
    }
}

/// A backend from a closure (tests, ad-hoc adapters).
pub fn http_client_fn<F, Fut>(f: F) -> SharedHttpClient
where
    F: Fn(HttpRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<HttpResponse, TransportError>> + Send + 'static,
{
    struct FnClient<F>(F);
    impl<F> fmt::Debug for FnClient<F> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("FnClient")
        }
    }
    impl<F, Fut> HttpClient for FnClient<F>
    where
        F: Fn(HttpRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<HttpResponse, TransportError>> + Send + 'static,
    {
        fn send(
            &self,
            request: HttpRequest,
        ) -> impl Future<Output = Result<HttpResponse, TransportError>> + Send {
            (self.0)(request)
        }
    }
    SharedHttpClient::new(FnClient(f))
}

type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send>>;

/// A request body: bytes in memory, or a stream (uploads of hundreds of megabytes are never
/// held whole in memory). `Send + Sync`, as backends such as reqwest require.
pub struct RequestBody {
    inner: RequestInner,
}

enum RequestInner {
    Bytes(Option<Bytes>, u64),
    Stream(SyncWrapper<ByteStream>, Option<u64>),
}

impl RequestBody {
    /// No body.
    pub fn empty() -> Self {
        Self::from(Bytes::new())
    }

    /// A streamed body. `content_length` is sent as `Content-Length` when known.
    ///
    /// ```
    /// use bytes::Bytes;
    /// let chunks = futures_util::stream::iter(vec![Ok::<_, wan_animate_core::http::BoxError>(Bytes::from("a")), Ok(Bytes::from("b"))]);
    /// let body = wan_animate_core::http::RequestBody::from_stream(chunks, Some(2));
    /// assert_eq!(body.content_length(), Some(2));
    /// assert!(body.as_bytes().is_none());
    /// ```
    pub fn from_stream<S>(stream: S, content_length: Option<u64>) -> Self
    where
        S: Stream<Item = Result<Bytes, BoxError>> + Send + 'static,
    {
        Self {
            inner: RequestInner::Stream(SyncWrapper::new(Box::pin(stream)), content_length),
        }
    }

    /// The bytes of an in-memory body.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match &self.inner {
            RequestInner::Bytes(b, _) => Some(b.as_deref().unwrap_or_default()),
            RequestInner::Stream(..) => None,
        }
    }

    /// A copy of an in-memory body (streams cannot be copied).
    pub fn try_clone(&self) -> Option<Self> {
        self.as_bytes()
            .map(|b| Self::from(Bytes::copy_from_slice(b)))
    }

    /// The length, when known.
    pub fn content_length(&self) -> Option<u64> {
        match &self.inner {
            RequestInner::Bytes(_, len) => Some(*len),
            RequestInner::Stream(_, len) => *len,
        }
    }
}

impl fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            RequestInner::Bytes(_, len) => write!(f, "RequestBody(bytes, {len} B)"),
            RequestInner::Stream(_, len) => write!(f, "RequestBody(stream, {len:?} B)"),
        }
    }
}

impl From<Bytes> for RequestBody {
    fn from(b: Bytes) -> Self {
        let len = b.len() as u64;
        Self {
            inner: RequestInner::Bytes(Some(b), len),
        }
    }
}
impl From<Vec<u8>> for RequestBody {
    fn from(v: Vec<u8>) -> Self {
        Self::from(Bytes::from(v))
    }
}
impl From<String> for RequestBody {
    fn from(s: String) -> Self {
        Self::from(Bytes::from(s))
    }
}
impl From<&'static str> for RequestBody {
    fn from(s: &'static str) -> Self {
        Self::from(Bytes::from_static(s.as_bytes()))
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().inner {
            RequestInner::Bytes(b, _) => Poll::Ready(
                b.take()
                    .filter(|b| !b.is_empty())
                    .map(|b| Ok(Frame::data(b))),
            ),
            RequestInner::Stream(s, _) => s
                .get_mut()
                .as_mut()
                .poll_next(cx)
                .map(|o| o.map(|r| r.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(&self.inner, RequestInner::Bytes(b, _) if b.as_ref().is_none_or(|b| b.is_empty()))
    }

    fn size_hint(&self) -> SizeHint {
        match self.content_length() {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

type DynBody = Pin<Box<dyn Body<Data = Bytes, Error = BoxError> + Send>>;

/// A response body, read chunk by chunk (downloads of any size stream to disk) or collected
/// with a size cap (API responses).
pub struct ResponseBody(SyncWrapper<DynBody>);

impl ResponseBody {
    /// Wraps any body whose errors convert to [`BoxError`].
    pub fn new<B>(body: B) -> Self
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        use http_body_util::BodyExt;
        Self(SyncWrapper::new(Box::pin(body.map_err(Into::into))))
    }

    /// A body held in memory.
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Self {
        Self::new(http_body_util::Full::new(bytes.into()))
    }

    /// A body from a stream of chunks.
    pub fn from_stream<S>(stream: S) -> Self
    where
        S: Stream<Item = Result<Bytes, BoxError>> + Send + 'static,
    {
        use futures_util::TryStreamExt;
        Self::new(http_body_util::StreamBody::new(stream.map_ok(Frame::data)))
    }

    /// The next chunk of data, `None` at the end. Errors are body errors (connection lost mid-body).
    pub async fn chunk(&mut self) -> Option<Result<Bytes, TransportError>> {
        use http_body_util::BodyExt;
        loop {
            match self.0.get_mut().frame().await? {
                Ok(frame) => match frame.into_data() {
                    Ok(data) if data.is_empty() => continue,
                    Ok(data) => return Some(Ok(data)),
                    Err(_trailers) => continue,
                },
                Err(e) => return Some(Err(TransportError::body(e).with_request_sent(true))),
            }
        }
    }

    /// The whole body, failing if it exceeds `max_bytes`.
    pub async fn collect(mut self, max_bytes: usize) -> Result<Bytes, TransportError> {
        let mut out = bytes::BytesMut::new();
        while let Some(chunk) = self.chunk().await {
            let chunk = chunk?;
            if out.len() + chunk.len() > max_bytes {
                return Err(TransportError::body(format!(
                    "response body larger than {max_bytes} bytes"
                ))
                .with_request_sent(true));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out.freeze())
    }
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseBody")
    }
}

/// Why an exchange failed below HTTP: opaque, with predicates retry logic can read.
///
/// `Display` says what failed at this layer ("could not connect", "timed out", ...); the
/// backend's own error is the [`source`](std::error::Error::source), never repeated.
///
/// ```
/// use wan_animate_core::http::TransportError;
/// let e = TransportError::connect("connection refused");
/// assert_eq!(e.to_string(), "could not connect");
/// assert_eq!(std::error::Error::source(&e).unwrap().to_string(), "connection refused");
/// ```
#[derive(thiserror::Error)]
#[error("{}", kind.describe())]
pub struct TransportError {
    kind: TransportKind,
    request_sent: Option<bool>,
    #[source]
    source: BoxError,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TransportKind {
    Connect,
    Timeout,
    Io,
    Body,
    Other,
}

impl TransportKind {
    fn describe(self) -> &'static str {
        match self {
            TransportKind::Connect => "could not connect",
            TransportKind::Timeout => "timed out",
            TransportKind::Io => "connection error",
            TransportKind::Body => "connection lost while reading the response",
            TransportKind::Other => "transport error",
        }
    }
}

impl TransportError {
    fn new(kind: TransportKind, request_sent: Option<bool>, source: impl Into<BoxError>) -> Self {
        Self {
            kind,
            request_sent,
            source: source.into(),
        }
    }

    /// The connection could not be made: the request was provably not sent.
    pub fn connect(e: impl Into<BoxError>) -> Self {
        Self::new(TransportKind::Connect, Some(false), e)
    }

    /// The exchange took too long; whether the request reached the server is unknown.
    pub fn timeout(e: impl Into<BoxError>) -> Self {
        Self::new(TransportKind::Timeout, None, e)
    }

    /// An I/O error on an established connection.
    pub fn io(e: impl Into<BoxError>) -> Self {
        Self::new(TransportKind::Io, None, e)
    }

    /// The response body broke off (connection reset mid-response).
    pub fn body(e: impl Into<BoxError>) -> Self {
        Self::new(TransportKind::Body, Some(true), e)
    }

    /// Anything else.
    pub fn other(e: impl Into<BoxError>) -> Self {
        Self::new(TransportKind::Other, None, e)
    }

    /// States whether the request was sent, when the backend knows.
    pub fn with_request_sent(mut self, sent: bool) -> Self {
        self.request_sent = Some(sent);
        self
    }

    /// Whether connecting failed.
    pub fn is_connect(&self) -> bool {
        self.kind == TransportKind::Connect
    }

    /// Whether the exchange timed out.
    pub fn is_timeout(&self) -> bool {
        self.kind == TransportKind::Timeout
    }

    /// Whether the body broke off.
    pub fn is_body(&self) -> bool {
        self.kind == TransportKind::Body
    }

    /// `Some(false)`: provably not sent (safe to retry anything); `Some(true)`: sent;
    /// `None`: unknown.
    pub fn was_request_sent(&self) -> Option<bool> {
        self.request_sent
    }
}

impl fmt::Debug for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportError")
            .field("kind", &self.kind)
            .field("request_sent", &self.request_sent)
            .field("source", &self.source.to_string())
            .finish()
    }
}
