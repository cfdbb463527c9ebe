//! The [reqwest] backend for `wan-animate-core`, and [`client`], the one-line way to get a
//! ready [`Client`] (reqwest with rustls, tokio timers).
//!
//! This is the only crate of the workspace that names reqwest, so a reqwest major release
//! costs only this crate a major release.
//!
//! ```no_run
//! # async fn demo() -> Result<(), wan_animate_reqwest::Error> {
//! use wan_animate_reqwest::types::{CreateTaskRequest, Mode, Model};
//! let client = wan_animate_reqwest::client_from_env()?;
//! let request = CreateTaskRequest::new(Model::AnimateMix, "https://x/me.jpg", "https://x/dance.mp4", Mode::Standard);
//! let task = client.submit(&request).await?;
//! let done = client.wait(&task.task_id).await?;
//! println!("{}", done.output.video_url().unwrap_or_default());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

use std::time::Duration;

use wan_animate_core::http::{HttpClient, HttpRequest, HttpResponse, ResponseBody, TransportError};
pub use wan_animate_core::*;

/// A reqwest client as a [`HttpClient`]. Redirects are never followed (core decides what to
/// do with every answer, and a redirect must never carry the key elsewhere): every way to
/// make one sets reqwest's redirect policy to "none", and building can fail rather than fall
/// back to a client that follows redirects.
///
/// ```
/// let backend = wan_animate_reqwest::ReqwestClient::new()?;
/// # let _ = backend;
/// # Ok::<(), wan_animate_reqwest::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ReqwestClient(reqwest::Client);

impl ReqwestClient {
    /// No redirects, 10 s connect timeout, TCP keepalive. Fails when reqwest cannot build
    /// a client (for example when the system's TLS roots cannot be loaded).
    pub fn new() -> Result<Self, Error> {
        Self::from_builder(Self::builder())
    }

    /// A builder with our defaults applied, for proxies, timeouts or certificates. Pass it
    /// to [`ReqwestClient::from_builder`], which switches redirects off again whatever the
    /// builder says.
    ///
    /// ```
    /// let b = wan_animate_reqwest::ReqwestClient::builder().timeout(std::time::Duration::from_secs(5));
    /// let backend = wan_animate_reqwest::ReqwestClient::from_builder(b)?;
    /// # let _ = backend;
    /// # Ok::<(), wan_animate_reqwest::Error>(())
    /// ```
    pub fn builder() -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .tcp_keepalive(Duration::from_secs(30))
    }

    /// Builds from a reqwest builder, with redirects off (set last, so it wins).
    pub fn from_builder(b: reqwest::ClientBuilder) -> Result<Self, Error> {
        b.redirect(reqwest::redirect::Policy::none())
            .build()
            .map(Self)
            .map_err(|e| Error::config(format!("cannot build the HTTP client: {}", chain_text(&e))))
    }
}

/// A reqwest error kept whole: `source()` is the `reqwest::Error` itself (so its chain, down
/// to the `io::Error`, can be walked and downcast), while the message spells the chain out
/// once, because most callers print only the message.
#[derive(Debug)]
struct BackendError {
    text: String,
    inner: reqwest::Error,
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for BackendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.inner)
    }
}

/// The message of `e` and of every error below it, joined with `: `.
fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        let t = x.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = x.source();
    }
    s
}

fn map_error(e: reqwest::Error) -> TransportError {
    let (connect, timeout, body, request) = (
        e.is_connect(),
        e.is_timeout(),
        e.is_body() || e.is_decode(),
        e.is_request(),
    );
    let err = BackendError {
        text: chain_text(&e),
        inner: e,
    };
    if connect {
        TransportError::connect(err)
    } else if timeout {
        TransportError::timeout(err)
    } else if body {
        TransportError::body(err)
    } else if request {
        TransportError::io(err)
    } else {
        TransportError::other(err)
    }
}

impl HttpClient for ReqwestClient {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let (parts, body) = request.into_parts();
        let request = ::http::Request::from_parts(parts, reqwest::Body::wrap(body));
        let request = reqwest::Request::try_from(request)
            .map_err(|e| TransportError::other(e).with_request_sent(false))?;
        let response = self.0.execute(request).await.map_err(map_error)?;
        let response: ::http::Response<reqwest::Body> = response.into();
        Ok(response.map(ResponseBody::new))
    }
}

/// A [`Client`] on reqwest for `config`.
///
/// ```
/// let client = wan_animate_reqwest::client(wan_animate_reqwest::ClientConfig::new("sk-example"))?;
/// assert!(!format!("{client:?}").contains("sk-example"));
/// # Ok::<(), wan_animate_reqwest::Error>(())
/// ```
pub fn client(config: ClientConfig) -> Result<Client, Error> {
    Client::new(config, ReqwestClient::new()?)
}

/// A [`Client`] on reqwest configured from the environment (see [`ClientConfig::from_env`]).
pub fn client_from_env() -> Result<Client, Error> {
    client(ClientConfig::from_env()?)
}
