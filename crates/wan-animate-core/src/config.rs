//! Client configuration: key, region or base URL, workspace, timeouts and policies.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Error;
use crate::poll::PollPolicy;
use crate::retry::RetryPolicy;

/// An API key. Its `Debug` and `Display` never show it; only the request builder reads it.
///
/// ```
/// let key = wan_animate_core::ApiKey::new("sk-abc123");
/// assert_eq!(format!("{key:?}"), "ApiKey(<redacted>)");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key (surrounding whitespace removed).
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into().trim().to_owned())
    }

    /// The key itself, for the `Authorization` header.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Regions where Wan 2.2 Animate is served.
///
/// ```
/// use wan_animate_core::Region;
/// assert_eq!("singapore".parse::<Region>().unwrap(), Region::ApSoutheast1);
/// assert_eq!(Region::CnBeijing.base_url(), "https://dashscope.aliyuncs.com/api/v1");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Region {
    /// China (Beijing), the default.
    #[default]
    CnBeijing,
    /// Singapore (international).
    ApSoutheast1,
}

impl Region {
    /// The region id.
    pub fn id(self) -> &'static str {
        match self {
            Region::CnBeijing => "cn-beijing",
            Region::ApSoutheast1 => "ap-southeast-1",
        }
    }

    /// The shared host's API base.
    pub fn base_url(self) -> &'static str {
        match self {
            Region::CnBeijing => "https://dashscope.aliyuncs.com/api/v1",
            Region::ApSoutheast1 => "https://dashscope-intl.aliyuncs.com/api/v1",
        }
    }

    /// The workspace-dedicated host's API base.
    pub fn workspace_base_url(self, workspace_id: &str) -> String {
        format!(
            "https://{workspace_id}.{}.maas.aliyuncs.com/api/v1",
            self.id()
        )
    }
}

impl std::str::FromStr for Region {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cn-beijing" | "beijing" | "cn" => Ok(Region::CnBeijing),
            "ap-southeast-1" | "singapore" | "intl" => Ok(Region::ApSoutheast1),
            other => Err(Error::config(format!(
                "unknown region {other:?}: Wan 2.2 Animate is served in cn-beijing (beijing) and ap-southeast-1 (singapore); use --base-url for anything else"
            ))),
        }
    }
}

/// Everything a [`Client`](crate::Client) needs to know. `Default` never reads the
/// environment; [`ClientConfig::from_env`] does, explicitly.
///
/// ```
/// use wan_animate_core::ClientConfig;
/// let config = ClientConfig::new("sk-test").with_base_url("https://gateway.example/qwen/api/v1")?;
/// assert_eq!(config.base_url(), "https://gateway.example/qwen/api/v1");
/// assert!(!format!("{config:?}").contains("sk-test"));
/// # Ok::<(), wan_animate_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ClientConfig {
    api_key: ApiKey,
    base_url: String,
    workspace: Option<String>,
    user_agent_suffix: Option<String>,
    request_timeout: Duration,
    retry: RetryPolicy,
    poll: PollPolicy,
    allow_insecure_http: bool,
}

impl ClientConfig {
    /// A configuration for the default region (cn-beijing) with this key.
    pub fn new(api_key: impl Into<String>) -> Self {
        Self {
            api_key: ApiKey::new(api_key),
            base_url: Region::CnBeijing.base_url().to_owned(),
            workspace: None,
            user_agent_suffix: None,
            request_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            poll: PollPolicy::default(),
            allow_insecure_http: false,
        }
    }

    /// Reads the environment like the official SDKs: `DASHSCOPE_API_KEY`, else the file named
    /// by `DASHSCOPE_API_KEY_FILE_PATH`, else `~/.dashscope/api_key`; `DASHSCOPE_HTTP_BASE_URL`;
    /// `DASHSCOPE_WORKSPACE_ID`.
    pub fn from_env() -> Result<Self, Error> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        Self::from_env_vars(|name| std::env::var(name).ok(), home.as_deref())
    }

    /// [`from_env`](Self::from_env) over any variable lookup and home directory (testable).
    ///
    /// ```
    /// use wan_animate_core::ClientConfig;
    /// let c = ClientConfig::from_env_vars(|k| (k == "DASHSCOPE_API_KEY").then(|| "sk-x".into()), None)?;
    /// assert_eq!(c.api_key().expose_secret(), "sk-x");
    /// # Ok::<(), wan_animate_core::Error>(())
    /// ```
    pub fn from_env_vars(
        var: impl Fn(&str) -> Option<String>,
        home: Option<&Path>,
    ) -> Result<Self, Error> {
        let non_empty =
            |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let read_key_file = |path: &Path| -> Result<Option<String>, Error> {
            match std::fs::read_to_string(path) {
                Ok(s) => Ok(non_empty(Some(s))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::config(format!(
                    "cannot read the API key file {}: {e}",
                    path.display()
                ))),
            }
        };
        let key = match non_empty(var("DASHSCOPE_API_KEY")) {
            Some(k) => k,
            None => {
                let from_file = match non_empty(var("DASHSCOPE_API_KEY_FILE_PATH")) {
                    Some(p) => {
                        let path = PathBuf::from(&p);
                        Some(read_key_file(&path)?.ok_or_else(|| {
                            Error::config(format!("DASHSCOPE_API_KEY_FILE_PATH names {p}, which does not exist or is empty"))
                        })?)
                    }
                    None => match home {
                        Some(h) => read_key_file(&h.join(".dashscope").join("api_key"))?,
                        None => None,
                    },
                };
                from_file.ok_or_else(|| {
                    Error::config("no API key: set DASHSCOPE_API_KEY, or DASHSCOPE_API_KEY_FILE_PATH, or write it to ~/.dashscope/api_key")
                })?
            }
        };
        let mut config = Self::new(key);
        if let Some(base) = non_empty(var("DASHSCOPE_HTTP_BASE_URL")) {
            config = config.with_base_url(base)?;
        }
        if let Some(ws) = non_empty(var("DASHSCOPE_WORKSPACE_ID")) {
            config = config.with_workspace(ws);
        }
        Ok(config)
    }

    /// Replaces the key.
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = ApiKey::new(key);
        self
    }

    /// Uses a region's shared host.
    pub fn with_region(mut self, region: Region) -> Self {
        self.base_url = region.base_url().to_owned();
        self
    }

    /// Uses a region by name (`cn-beijing`, `beijing`, `ap-southeast-1`, `singapore`).
    pub fn with_region_name(self, name: &str) -> Result<Self, Error> {
        Ok(self.with_region(name.parse()?))
    }

    /// Uses any base URL ending in `/api/v1`, possibly behind a proxy prefix. Plain `http://`
    /// is accepted only for loopback hosts unless [`allow_insecure_http`](Self::allow_insecure_http) is set.
    pub fn with_base_url(mut self, base: impl Into<String>) -> Result<Self, Error> {
        let base = base.into().trim().trim_end_matches('/').to_owned();
        let uri: http::Uri = base
            .parse()
            .map_err(|e| Error::config(format!("base URL {base:?} is not a valid URL: {e}")))?;
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if self.allow_insecure_http || is_loopback(&host) => {}
            Some("http") => {
                return Err(Error::config(format!(
                    "base URL {base:?} uses plain http to a non-loopback host, which would send the API key unencrypted; use https (or allow insecure http explicitly)"
                )));
            }
            _ => {
                return Err(Error::config(format!(
                    "base URL {base:?} must start with https://"
                )));
            }
        }
        if host.is_empty() {
            return Err(Error::config(format!("base URL {base:?} has no host")));
        }
        if !uri.path().ends_with("/api/v1") {
            tracing::warn!(base = %base, "base URL does not end in /api/v1; DashScope paths are appended to it as given");
        }
        self.base_url = base;
        Ok(self)
    }

    /// Allows plain `http://` base URLs to non-loopback hosts (a trusted proxy on a private network).
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Sends `X-DashScope-WorkSpace` with this id.
    pub fn with_workspace(mut self, id: impl Into<String>) -> Self {
        self.workspace = Some(id.into());
        self
    }

    /// Uses the region's workspace-dedicated host for this workspace.
    pub fn with_workspace_host(mut self, region: Region, id: &str) -> Self {
        self.base_url = region.workspace_base_url(id);
        self.workspace = Some(id.to_owned());
        self
    }

    /// Appends to the User-Agent (e.g. your application's name and version).
    pub fn with_user_agent_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.user_agent_suffix = Some(suffix.into());
        self
    }

    /// The longest a single request may take (default 60 s).
    pub fn with_request_timeout(mut self, t: Duration) -> Self {
        self.request_timeout = t;
        self
    }

    /// How transient failures are retried.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// How tasks are polled.
    pub fn with_poll(mut self, poll: PollPolicy) -> Self {
        self.poll = poll;
        self
    }

    /// The key.
    pub fn api_key(&self) -> &ApiKey {
        &self.api_key
    }

    /// The API base, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The workspace id.
    pub fn workspace(&self) -> Option<&str> {
        self.workspace.as_deref()
    }

    /// The User-Agent header value.
    pub fn user_agent(&self) -> String {
        let base = concat!("wan-animate/", env!("CARGO_PKG_VERSION"), " (rust)");
        match &self.user_agent_suffix {
            Some(s) => format!("{base} {s}"),
            None => base.to_owned(),
        }
    }

    /// Per-request timeout.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// Retry policy.
    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Poll policy.
    pub fn poll(&self) -> &PollPolicy {
        &self.poll
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
