//! Where a ledger's tasks live: the service endpoint a batch talks to, recorded in the ledger
//! so that a resume against another endpoint (where none of its tasks exist) is refused before
//! anything is sent.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The identity of an endpoint: base URL (credentials stripped), region, workspace and a
/// fingerprint of the API key (never the key).
///
/// ```
/// use wan_animate_batch::EndpointIdentity;
/// let a = EndpointIdentity::new("https://user:pw@dashscope.aliyuncs.com/api/v1/")
///     .with_workspace("ws-1")
///     .with_key("sk-secret");
/// assert_eq!(a.base_url, "https://dashscope.aliyuncs.com/api/v1");
/// assert_eq!(a.key_fingerprint.as_deref().map(str::len), Some(16));
/// assert!(!format!("{a} {a:?}").contains("sk-secret"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EndpointIdentity {
    /// The base URL (or a stable name such as the simulator's state directory), without
    /// user info, query or trailing slash.
    pub base_url: String,
    /// The region name, if one was chosen by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The workspace, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// The first 16 hex digits of SHA-256 over a fixed prefix and the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_fingerprint: Option<String>,
}

impl EndpointIdentity {
    /// An identity for `base_url`. User info (`user:password@`), query and fragment are
    /// dropped, as is a trailing slash.
    pub fn new(base_url: &str) -> Self {
        Self {
            base_url: strip_url(base_url),
            region: None,
            workspace: None,
            key_fingerprint: None,
        }
    }

    /// Sets the region name.
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Sets the workspace.
    pub fn with_workspace(mut self, workspace: impl Into<String>) -> Self {
        self.workspace = Some(workspace.into());
        self
    }

    /// Records the key's fingerprint (the key itself is not kept).
    pub fn with_key(mut self, api_key: &str) -> Self {
        self.key_fingerprint = Some(key_fingerprint(api_key));
        self
    }
}

impl fmt::Display for EndpointIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.base_url)?;
        if let Some(r) = &self.region {
            write!(f, ", region {r}")?;
        }
        if let Some(w) = &self.workspace {
            write!(f, ", workspace {w}")?;
        }
        if let Some(k) = &self.key_fingerprint {
            write!(f, ", key fingerprint {k}")?;
        }
        Ok(())
    }
}

/// The fingerprint of an API key: the first 16 hex digits of SHA-256 over a fixed prefix and
/// the key. Enough to tell two keys apart, useless to recover one.
pub fn key_fingerprint(api_key: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"wan-animate ledger key fingerprint v1\0");
    h.update(api_key.as_bytes());
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn strip_url(url: &str) -> String {
    let url = url.trim();
    let url = url.split(['?', '#']).next().unwrap_or_default();
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, url),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let mut out = match scheme {
        Some(s) => format!(
            "{}://{}{path}",
            s.to_ascii_lowercase(),
            host.to_ascii_lowercase()
        ),
        None => format!("{host}{path}"),
    };
    while out.ends_with('/') && !out.ends_with("://") {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_credentials_query_and_trailing_slash() {
        assert_eq!(
            EndpointIdentity::new("HTTPS://u:p@Gateway.Example/qwen/api/v1/?token=x").base_url,
            "https://gateway.example/qwen/api/v1"
        );
        assert_eq!(
            EndpointIdentity::new("http://127.0.0.1:8089/api/v1").base_url,
            "http://127.0.0.1:8089/api/v1"
        );
    }

    #[test]
    fn key_fingerprints_differ_by_key_and_never_contain_it() {
        let a = key_fingerprint("sk-aaaaaaaaaaaaaaaa");
        let b = key_fingerprint("sk-bbbbbbbbbbbbbbbb");
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert!(!a.contains("aaaa"));
        let id = EndpointIdentity::new("https://x/api/v1").with_key("sk-aaaaaaaaaaaaaaaa");
        let json = serde_json::to_string(&id).unwrap();
        assert!(!json.contains("sk-"), "{json}");
    }
}
