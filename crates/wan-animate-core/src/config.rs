//! Client configuration: key, region or base URL, workspace, timeouts and policies.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, NextStep, Setting};
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

    /// The region a base URL of the service is in (a shared or a workspace host); `None` for
    /// other hosts (a proxy, the simulator).
    ///
    /// ```
    /// use wan_animate_core::Region;
    /// assert_eq!(Region::of_base_url("https://dashscope-intl.aliyuncs.com/api/v1"), Some(Region::ApSoutheast1));
    /// assert_eq!(Region::of_base_url("https://ws-1.cn-beijing.maas.aliyuncs.com/api/v1"), Some(Region::CnBeijing));
    /// assert_eq!(Region::of_base_url("http://127.0.0.1:8089/api/v1"), None);
    /// ```
    pub fn of_base_url(base_url: &str) -> Option<Region> {
        let rest = base_url.split_once("://").map_or(base_url, |(_, r)| r);
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = host
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        [Region::CnBeijing, Region::ApSoutheast1]
            .into_iter()
            .find(|r| {
                r.base_url().split('/').nth(2) == Some(host.as_str())
                    || host.ends_with(&format!(".{}.maas.aliyuncs.com", r.id()))
            })
    }
}

impl std::str::FromStr for Region {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cn-beijing" | "beijing" | "cn" => Ok(Region::CnBeijing),
            "ap-southeast-1" | "singapore" | "intl" => Ok(Region::ApSoutheast1),
            other => Err(Error::bad_setting(
                Setting::Region,
                format!(
                    "unknown region {:?}: Wan 2.2 Animate is served in cn-beijing (beijing) and ap-southeast-1 (singapore)",
                    printable(other)
                ),
            )),
        }
    }
}

/// Settings given explicitly (command-line flags, an application's own configuration).
/// Each one that is set wins over the environment; an explicit key means no key file is read.
///
/// ```
/// use wan_animate_core::config::ConfigOverrides;
/// use wan_animate_core::ClientConfig;
/// let o = ConfigOverrides::new().with_api_key("sk-flag").with_region("singapore");
/// let c = ClientConfig::from_sources(&o, |_| None, None)?;
/// assert_eq!(c.base_url(), "https://dashscope-intl.aliyuncs.com/api/v1");
/// # Ok::<(), wan_animate_core::Error>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigOverrides {
    api_key: Option<String>,
    region: Option<String>,
    base_url: Option<String>,
    workspace: Option<String>,
}

impl fmt::Debug for ConfigOverrides {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigOverrides")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("region", &self.region)
            .field("base_url", &self.base_url.as_deref().map(redact_userinfo))
            .field("workspace", &self.workspace)
            .finish()
    }
}

impl ConfigOverrides {
    /// Nothing overridden: [`ClientConfig::from_sources`] then reads only the environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// The API key (an empty one is refused, not ignored).
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The region by name.
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// The base URL (wins over any region).
    pub fn with_base_url(mut self, base: impl Into<String>) -> Self {
        self.base_url = Some(base.into());
        self
    }

    /// The workspace id.
    pub fn with_workspace(mut self, id: impl Into<String>) -> Self {
        self.workspace = Some(id.into());
        self
    }
}

/// Everything a [`Client`](crate::Client) needs to know. `Default` never reads the
/// environment; [`ClientConfig::from_env`] does, explicitly.
///
/// Setters only record values (the base URL's syntax is checked at once); [`validate`](Self::validate)
/// checks the whole configuration in one place, whatever the order of the `with_*` calls,
/// and no request is built from a configuration that fails it.
///
/// ```
/// use wan_animate_core::ClientConfig;
/// let config = ClientConfig::new("sk-test").with_base_url("https://gateway.example/qwen/api/v1")?;
/// assert_eq!(config.base_url(), "https://gateway.example/qwen/api/v1");
/// assert!(!format!("{config:?}").contains("sk-test"));
/// config.validate()?;
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

/// The longest API key file read (a key is a few dozen bytes).
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

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

    /// Reads the environment like the official SDKs 1.x and 2.0; see
    /// [`from_sources`](Self::from_sources) for the names and their precedence.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_env_with(&ConfigOverrides::new())
    }

    /// [`from_env`](Self::from_env), with explicit settings that win over the environment.
    pub fn from_env_with(overrides: &ConfigOverrides) -> Result<Self, Error> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        Self::from_sources(overrides, |name| std::env::var(name).ok(), home.as_deref())
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
        Self::from_sources(&ConfigOverrides::new(), var, home)
    }

    /// The configuration from explicit settings, then environment variables, then the key
    /// file, and validates it. For each setting the first source that has it wins:
    ///
    /// | setting | explicit | SDK 1.x name | SDK 2.0 name | file |
    /// |---|---|---|---|---|
    /// | key | [`ConfigOverrides::with_api_key`] | `DASHSCOPE_API_KEY` | `DASHSCOPE_API_KEY` | `DASHSCOPE_API_KEY_FILE_PATH`, else `~/.dashscope/api_key` |
    /// | base URL | [`ConfigOverrides::with_base_url`] | `DASHSCOPE_HTTP_BASE_URL` | `DASHSCOPE_BASE_URL` | |
    /// | region | [`ConfigOverrides::with_region`] | | `DASHSCOPE_REGION` | |
    /// | workspace | [`ConfigOverrides::with_workspace`] | `DASHSCOPE_WORKSPACE_ID` | `DASHSCOPE_WORKSPACE` | |
    ///
    /// A base URL wins over a region. With a region *and* a workspace and no base URL, the
    /// workspace-dedicated host `https://{workspace}.{region}.maas.aliyuncs.com/api/v1` is
    /// used (as SDK 2.0 does); a workspace alone is sent as the `X-DashScope-WorkSpace`
    /// header on the shared host. An explicit key that is empty is refused; the key file is
    /// read only when no key is given, and only if it is a regular file.
    ///
    /// ```
    /// use wan_animate_core::config::ConfigOverrides;
    /// use wan_animate_core::ClientConfig;
    /// let env = |k: &str| match k {
    ///     "DASHSCOPE_API_KEY" => Some("sk-env".to_owned()),
    ///     "DASHSCOPE_REGION" => Some("ap-southeast-1".to_owned()),
    ///     "DASHSCOPE_WORKSPACE" => Some("ws-abc123".to_owned()),
    ///     _ => None,
    /// };
    /// let c = ClientConfig::from_sources(&ConfigOverrides::new(), env, None)?;
    /// assert_eq!(c.base_url(), "https://ws-abc123.ap-southeast-1.maas.aliyuncs.com/api/v1");
    /// # Ok::<(), wan_animate_core::Error>(())
    /// ```
    pub fn from_sources(
        overrides: &ConfigOverrides,
        var: impl Fn(&str) -> Option<String>,
        home: Option<&Path>,
    ) -> Result<Self, Error> {
        let non_empty =
            |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        // The first source that has a value, with its name for messages.
        let pick = |explicit: &Option<String>, names: &[&'static str]| {
            if let Some(v) = explicit {
                return Some((v.trim().to_owned(), None));
            }
            names
                .iter()
                .find_map(|n| non_empty(var(n)).map(|v| (v, Some(*n))))
        };
        let from =
            |source: Option<&str>| source.map(|n| format!(" (from {n})")).unwrap_or_default();
        let base = pick(
            &overrides.base_url,
            &["DASHSCOPE_HTTP_BASE_URL", "DASHSCOPE_BASE_URL"],
        );
        let region = match pick(&overrides.region, &["DASHSCOPE_REGION"]) {
            Some((name, source)) => Some(name.parse::<Region>().map_err(|e| {
                Error::bad_setting(Setting::Region, format!("{}{}", e.summary(), from(source)))
            })?),
            None => None,
        };
        let workspace = pick(
            &overrides.workspace,
            &["DASHSCOPE_WORKSPACE_ID", "DASHSCOPE_WORKSPACE"],
        );
        if let Some((ws, source)) = &workspace {
            check_workspace(ws).map_err(|e| {
                Error::bad_setting(
                    Setting::Workspace,
                    format!("{}{}", e.summary(), from(*source)),
                )
            })?;
        }
        if let Some((base, source)) = &base {
            parse_base_url(base.trim_end_matches('/')).map_err(|e| {
                Error::bad_setting(
                    Setting::BaseUrl,
                    format!("{}{}", e.summary(), from(*source)),
                )
            })?;
        }
        // The key last, so a bad region or base URL is reported as such even when no key is
        // configured yet.
        let key = match &overrides.api_key {
            Some(k) if k.trim().is_empty() => {
                return Err(Error::config("the API key given is empty")
                    .with_next_step(NextStep::FixCredentials));
            }
            Some(k) => k.clone(),
            None => match non_empty(var("DASHSCOPE_API_KEY")) {
                Some(k) => k,
                None => {
                    let from_file = match non_empty(var("DASHSCOPE_API_KEY_FILE_PATH")) {
                        Some(p) => Some(read_key_file(Path::new(&p))?.ok_or_else(|| {
                            Error::config(format!(
                                "DASHSCOPE_API_KEY_FILE_PATH names {p}, which does not exist or is empty"
                            ))
                            .with_next_step(NextStep::FixCredentials)
                        })?),
                        None => match home {
                            Some(h) => read_key_file(&h.join(".dashscope").join("api_key"))?,
                            None => None,
                        },
                    };
                    from_file.ok_or_else(|| {
                        Error::config("no API key: set DASHSCOPE_API_KEY, or DASHSCOPE_API_KEY_FILE_PATH, or write it to ~/.dashscope/api_key")
                            .with_next_step(NextStep::FixCredentials)
                    })?
                }
            },
        };
        let mut config = Self::new(key);
        match (base, region, workspace) {
            (Some((base, source)), _, ws) => {
                config = config.with_base_url(base).map_err(|e| {
                    Error::bad_setting(Setting::BaseUrl, format!("{}{}", e.summary(), from(source)))
                })?;
                if let Some((ws, _)) = ws {
                    config = config.with_workspace(ws);
                }
            }
            (None, Some(region), Some((ws, _))) => {
                config = config.with_workspace_host(region, &ws);
            }
            (None, Some(region), None) => config = config.with_region(region),
            (None, None, Some((ws, _))) => config = config.with_workspace(ws),
            (None, None, None) => {}
        }
        config.validate()?;
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

    /// Uses any base URL ending in `/api/v1`, possibly behind a proxy prefix. Its syntax is
    /// checked here (a scheme of `https` or `http`, a host, no `user:password@`); whether plain
    /// `http://` is allowed (loopback hosts, or [`allow_insecure_http`](Self::allow_insecure_http))
    /// is checked by [`validate`](Self::validate), so the order of the two calls does not matter.
    ///
    /// ```
    /// use wan_animate_core::ClientConfig;
    /// let err = ClientConfig::new("sk-x").with_base_url("https://me:hunter2@gw.example/api/v1").unwrap_err();
    /// assert!(!err.to_string().contains("hunter2"));
    /// ```
    pub fn with_base_url(mut self, base: impl Into<String>) -> Result<Self, Error> {
        let base = base.into().trim().trim_end_matches('/').to_owned();
        parse_base_url(&base)?;
        if !base.ends_with("/api/v1") {
            tracing::warn!(base = %base, "base URL does not end in /api/v1; DashScope paths are appended to it as given");
        }
        self.base_url = base;
        Ok(self)
    }

    /// Checks the whole configuration: a non-empty key that fits in a header, a base URL
    /// that is well formed, has no credentials and uses `https` (or `http` to loopback, or
    /// anywhere once [`allow_insecure_http`](Self::allow_insecure_http) is set), and a
    /// workspace id that fits in a header and a host name.
    ///
    /// ```
    /// use wan_animate_core::ClientConfig;
    /// let plain = ClientConfig::new("sk-x").with_base_url("http://proxy.internal/api/v1")?;
    /// assert!(plain.validate().is_err());
    /// assert!(plain.allow_insecure_http(true).validate().is_ok());
    /// assert!(ClientConfig::new("").validate().is_err());
    /// # Ok::<(), wan_animate_core::Error>(())
    /// ```
    pub fn validate(&self) -> Result<(), Error> {
        let key = self.api_key.expose_secret();
        if key.is_empty() {
            return Err(
                Error::config("the API key is empty").with_next_step(NextStep::FixCredentials)
            );
        }
        if key
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || !c.is_ascii())
        {
            return Err(Error::config(
                "the API key contains spaces, control or non-ASCII characters; it cannot be sent",
            )
            .with_next_step(NextStep::FixCredentials));
        }
        let uri = parse_base_url(&self.base_url)?;
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if uri.scheme_str() == Some("http") && !self.allow_insecure_http && !is_loopback(host) {
            return Err(Error::bad_setting(
                Setting::BaseUrl,
                format!(
                    "base URL {:?} uses plain http to a non-loopback host, which would send the API key unencrypted; use https (or allow insecure http explicitly)",
                    redact_userinfo(&self.base_url)
                ),
            ));
        }
        if let Some(ws) = &self.workspace {
            check_workspace(ws)?;
        }
        Ok(())
    }

    /// Allows plain `http://` base URLs to non-loopback hosts (a trusted proxy on a private network).
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Sends `X-DashScope-WorkSpace` with this id (checked by [`validate`](Self::validate)).
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

/// Checks a base URL's syntax. Messages never show a `user:password@` part.
fn parse_base_url(base: &str) -> Result<http::Uri, Error> {
    let shown = redact_userinfo(base);
    let bad = |why: &str| Error::bad_setting(Setting::BaseUrl, format!("base URL {shown:?} {why}"));
    if base.chars().any(char::is_control) {
        return Err(bad("contains control characters"));
    }
    let uri: http::Uri = base.parse().map_err(|_| bad("is not a valid URL"))?;
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    if authority.contains('@') {
        return Err(bad(
            "contains a user name or password; give credentials only as the API key",
        ));
    }
    match uri.scheme_str() {
        Some("https" | "http") => {}
        _ => return Err(bad("must start with https://")),
    }
    let host = uri.host().unwrap_or_default();
    if host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .is_empty()
    {
        return Err(bad("has no host"));
    }
    if uri.query().is_some() {
        return Err(bad("has a query (?...); give only scheme, host and path"));
    }
    Ok(uri)
}

/// A URL with any `user:password@` replaced by `***@`, for messages and logs.
///
/// ```
/// assert_eq!(
///     wan_animate_core::config::redact_userinfo("https://u:p@gw.example/api/v1"),
///     "https://***@gw.example/api/v1"
/// );
/// ```
pub fn redact_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return match url.rfind('@') {
            Some(at) if !url[..at].contains('/') => format!("***{}", &url[at..]),
            _ => url.to_owned(),
        };
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..scheme_end], &rest[at..]),
        None => url.to_owned(),
    }
}

/// A workspace id goes into a header and possibly a host name: letters, digits, `-`, `_`.
fn check_workspace(ws: &str) -> Result<(), Error> {
    let ok = !ws.is_empty()
        && ws.len() <= 63
        && ws
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::bad_setting(
            Setting::Workspace,
            format!(
                "workspace id {:?} is not valid: use the id shown in the console (letters, digits, '-' and '_', at most 63)",
                printable(ws)
            ),
        ))
    }
}

/// Reads an API key file: `None` when it does not exist or is empty. Anything that is not a
/// regular file (a FIFO, a device, a directory) is refused without opening it, so nothing
/// blocks; the read is capped.
fn read_key_file(path: &Path) -> Result<Option<String>, Error> {
    use std::io::Read;
    let cannot = |why: String| {
        Error::config(format!(
            "cannot read the API key file {}: {why}",
            path.display()
        ))
        .with_next_step(NextStep::FixCredentials)
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(cannot(e.to_string())),
    };
    if !meta.is_file() {
        return Err(cannot("it is not a regular file".to_owned()));
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_KEY_FILE_BYTES).read_to_string(&mut text))
        .map_err(|e| cannot(e.to_string()))?;
    let key = text.trim();
    Ok((!key.is_empty()).then(|| key.to_owned()))
}

/// A value from outside shown in a message: control characters escaped, length capped.
/// (Shown with `{:?}`, which escapes control characters.)
fn printable(s: &str) -> String {
    s.chars().take(80).collect()
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
