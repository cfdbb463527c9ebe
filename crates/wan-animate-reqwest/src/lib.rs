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

/// A reqwest client as a [`HttpClient`]. Redirects are not followed (core decides what to do
/// with every answer, and a redirect must never carry the key elsewhere).
///
/// ```
/// let backend = wan_animate_reqwest::ReqwestClient::new();
/// # let _ = backend;
/// ```
#[derive(Debug, Clone)]
pub struct ReqwestClient(reqwest::Client);

impl Default for ReqwestClient {
    fn default() -> Self {
        Self::new()
    }
}

impl ReqwestClient {
    /// No redirects, 10 s connect timeout, TCP keepalive.
    pub fn new() -> Self {
        Self(
            Self::builder()
                .build()
                .unwrap_or_else(|_| reqwest::Client::new()),
        )
    }

    /// A builder with our defaults applied, for proxies, timeouts or certificates.
    ///
    /// ```
    /// let b = wan_animate_reqwest::ReqwestClient::builder().timeout(std::time::Duration::from_secs(5));
    /// let backend = wan_animate_reqwest::ReqwestClient::from(b.build().unwrap());
    /// # let _ = backend;
    /// ```
    pub fn builder() -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .tcp_keepalive(Duration::from_secs(30))
    }

    /// Builds from a reqwest builder.
    pub fn from_builder(b: reqwest::ClientBuilder) -> Result<Self, Error> {
        b.build()
            .map(Self)
            .map_err(|e| Error::config(format!("cannot build the HTTP client: {e}")))
    }
}

impl From<reqwest::Client> for ReqwestClient {
    fn from(c: reqwest::Client) -> Self {
        Self(c)
    }
}

fn map_error(e: reqwest::Error) -> TransportError {
    let text = e.to_string();
    let chain = {
        let mut s = text.clone();
        let mut src = std::error::Error::source(&e);
        while let Some(x) = src {
            s.push_str(": ");
            s.push_str(&x.to_string());
            src = x.source();
        }
        s
    };
    if e.is_connect() {
        TransportError::connect(chain)
    } else if e.is_timeout() {
        TransportError::timeout(chain)
    } else if e.is_body() || e.is_decode() {
        TransportError::body(chain)
    } else if e.is_request() {
        TransportError::io(chain)
    } else {
        TransportError::other(chain)
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
    Client::new(config, ReqwestClient::new())
}

/// A [`Client`] on reqwest configured from the environment (see [`ClientConfig::from_env`]).
pub fn client_from_env() -> Result<Client, Error> {
    client(ClientConfig::from_env()?)
}
