//! The shared secret and where a request carries it.

use std::fmt;

use http::HeaderMap;
use sha2::{Digest, Sha256};

/// The shared secret every request must carry, configured on the EventBridge HTTP target.
///
/// Its `Debug` is redacted and it has no `Display`, so it cannot end up in logs by accident.
///
/// ```
/// use wan_animate_callback::CallbackToken;
/// let token = CallbackToken::new("s3cret-0123456789abcdef").unwrap();
/// assert_eq!(format!("{token:?}"), "CallbackToken(<redacted>)");
/// assert!(CallbackToken::new("").is_err());
/// assert!(CallbackToken::new("has space").is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CallbackToken(String);

impl CallbackToken {
    /// A token of visible ASCII characters (no spaces), so that it can travel in a header
    /// or a query parameter unchanged.
    pub fn new(token: impl Into<String>) -> Result<Self, ConfigError> {
        let token = token.into();
        if token.is_empty() {
            return Err(ConfigError::new(
                "the callback token is empty: choose a long random string (e.g. `openssl rand -hex 32`)",
            ));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::new(
                "the callback token must be visible ASCII characters without spaces (e.g. `openssl rand -hex 32`)",
            ));
        }
        Ok(Self(token))
    }

    /// The secret itself, for the sending side (a simulator, a test, a configuration tool).
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// The token's length in characters (to warn about short tokens without showing them).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: an empty token cannot be built.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `presented` is this token, in time that does not depend on where they differ
    /// or on their lengths (both sides are hashed to 32 bytes before the comparison).
    pub(crate) fn matches(&self, presented: &[u8]) -> bool {
        let expected = Sha256::digest(self.0.as_bytes());
        let presented = Sha256::digest(presented);
        let diff = expected
            .iter()
            .zip(presented.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }
}

impl fmt::Debug for CallbackToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallbackToken(<redacted>)")
    }
}

/// Where requests carry the token.
///
/// ```
/// use wan_animate_callback::TokenLocation;
/// assert_eq!(TokenLocation::default(), TokenLocation::AuthorizationBearer);
/// assert!(TokenLocation::header("X-Callback-Token").is_ok());
/// assert!(TokenLocation::header("bad header").is_err());
/// assert!(TokenLocation::query("token").is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TokenLocation {
    /// `Authorization: Bearer TOKEN` (the default).
    #[default]
    AuthorizationBearer,
    /// The whole value of this header (lower-case name), e.g. `x-callback-token: TOKEN`.
    Header(http::HeaderName),
    /// This query parameter, e.g. `?token=TOKEN`. URLs are often logged by proxies: prefer a header.
    Query(String),
}

impl TokenLocation {
    /// The token is the whole value of header `name`.
    pub fn header(name: &str) -> Result<Self, ConfigError> {
        http::HeaderName::from_bytes(name.trim().as_bytes())
            .map(Self::Header)
            .map_err(|_| {
                ConfigError::new(format!(
                    "{name:?} is not a valid HTTP header name: use letters, digits and dashes, e.g. X-Callback-Token"
                ))
            })
    }

    /// The token is the value of query parameter `name`.
    pub fn query(name: &str) -> Result<Self, ConfigError> {
        let name = name.trim();
        if name.is_empty() || name.contains(['&', '=', '#', '?']) {
            return Err(ConfigError::new(format!(
                "{name:?} is not a usable query parameter name: use letters, digits, `-` or `_`"
            )));
        }
        Ok(Self::Query(name.to_owned()))
    }

    /// The credential a request presents here, if any (bytes; not necessarily UTF-8).
    pub(crate) fn presented<'a>(
        &self,
        headers: &'a HeaderMap,
        query: Option<&'a str>,
    ) -> Option<Vec<u8>> {
        match self {
            Self::AuthorizationBearer => {
                let value = headers.get(http::header::AUTHORIZATION)?.as_bytes();
                let value = trim(value);
                let (scheme, rest) = value.split_at(value.iter().position(|b| *b == b' ')?);
                scheme
                    .eq_ignore_ascii_case(b"bearer")
                    .then(|| trim(rest).to_vec())
            }
            Self::Header(name) => Some(trim(headers.get(name)?.as_bytes()).to_vec()),
            Self::Query(name) => query?.split('&').find_map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (decode(key) == name.as_bytes()).then(|| decode(value))
            }),
        }
    }
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &bytes[start..end.max(start)]
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte.
fn decode(s: &str) -> Vec<u8> {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).collect()
}

/// A configuration mistake: a bad token, header name or query parameter name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(String);

impl ConfigError {
    fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_bytes(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn matches_only_the_exact_token() {
        let t = CallbackToken::new("abc123").unwrap();
        assert!(t.matches(b"abc123"));
        for other in [&b""[..], b"abc12", b"abc1234", b"ABC123", b"abc124"] {
            assert!(!t.matches(other), "{other:?}");
        }
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_trimmed() {
        let loc = TokenLocation::AuthorizationBearer;
        for v in [&b"Bearer tok"[..], b"bearer tok", b"BEARER   tok  "] {
            assert_eq!(
                loc.presented(&headers(&[("authorization", v)]), None),
                Some(b"tok".to_vec())
            );
        }
        for v in [&b"Basic tok"[..], b"Bearertok", b"tok", b""] {
            assert_eq!(
                loc.presented(&headers(&[("authorization", v)]), None),
                None,
                "{v:?}"
            );
        }
        assert_eq!(loc.presented(&HeaderMap::new(), Some("token=tok")), None);
    }

    #[test]
    fn header_and_query_locations_read_their_place_only() {
        let h = TokenLocation::header("X-Callback-Token").unwrap();
        let map = headers(&[
            ("x-callback-token", b" tok "),
            ("authorization", b"Bearer x"),
        ]);
        assert_eq!(h.presented(&map, None), Some(b"tok".to_vec()));
        let q = TokenLocation::query("token").unwrap();
        assert_eq!(
            q.presented(&map, Some("a=1&token=t%2Bk+x&b")),
            Some(b"t+k x".to_vec())
        );
        assert_eq!(q.presented(&map, Some("tokens=tok")), None);
        assert_eq!(q.presented(&map, None), None);
        assert_eq!(q.presented(&map, Some("token")), Some(Vec::new()));
    }

    #[test]
    fn non_utf8_credentials_do_not_panic() {
        let loc = TokenLocation::AuthorizationBearer;
        let map = headers(&[("authorization", b"Bearer \xff\xfe")]);
        let presented = loc.presented(&map, None).unwrap();
        assert!(!CallbackToken::new("tok").unwrap().matches(&presented));
        let q = TokenLocation::query("t").unwrap();
        assert_eq!(q.presented(&map, Some("t=%ff%")), Some(vec![0xff, b'%']));
    }
}
