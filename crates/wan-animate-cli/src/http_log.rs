//! `-v`: one line per HTTP exchange (method, host and path, status, milliseconds, request id),
//! and with `-vv` the request and response headers with secrets redacted. Built as a decorator
//! around the `HttpClient` the CLI uses, so every request of every command is covered and the
//! core stays free of presentation. The API key never appears: `Authorization` and every header
//! whose name suggests a secret are printed as `<redacted>`, and query strings (signed result
//! links carry signatures) are left out.

use std::time::Instant;

use wan_animate_core::Error;
use wan_animate_core::http::{
    HttpClient, HttpRequest, HttpResponse, SharedHttpClient, TransportError,
};

/// The `HttpClient` decorator that logs every exchange at `info` (headers at `debug`).
///
/// ```
/// use wan_animate_cli::http_log::LoggingHttp;
/// use wan_animate_core::http::{http_client_fn, TransportError};
/// let inner = http_client_fn(|_req| async { Err(TransportError::connect("offline")) });
/// let logged = LoggingHttp::new(inner, 2);
/// # let _ = logged;
/// ```
#[derive(Debug, Clone)]
pub struct LoggingHttp {
    inner: SharedHttpClient,
    verbose: u8,
}

impl LoggingHttp {
    /// Wraps `inner`; `verbose` is the number of `-v` (0 logs nothing, 2 adds headers).
    pub fn new(inner: SharedHttpClient, verbose: u8) -> Self {
        Self { inner, verbose }
    }
}

/// The reqwest backend of the CLI, with exchanges logged as `-v`/`-vv` ask.
pub fn http(verbose: u8) -> Result<SharedHttpClient, Error> {
    let http = SharedHttpClient::new(wan_animate_reqwest::ReqwestClient::new()?);
    if verbose == 0 {
        return Ok(http);
    }
    Ok(SharedHttpClient::new(LoggingHttp::new(http, verbose)))
}

/// Header names whose values are never printed.
fn is_secret(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "authorization",
        "cookie",
        "token",
        "secret",
        "signature",
        "key",
        "credential",
        "policy",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// `name: value` lines, secrets redacted, control characters escaped.
pub fn headers_for_log(headers: &http::HeaderMap) -> String {
    let mut out = Vec::new();
    for (name, value) in headers {
        let shown = if is_secret(name.as_str()) {
            "<redacted>".to_owned()
        } else {
            value
                .to_str()
                .map(|v| v.escape_debug().to_string())
                .unwrap_or_else(|_| "<binary>".to_owned())
        };
        out.push(format!("  {name}: {shown}"));
    }
    out.join("\n")
}

impl HttpClient for LoggingHttp {
    fn send(
        &self,
        request: HttpRequest,
    ) -> impl Future<Output = Result<HttpResponse, TransportError>> + Send {
        let method = request.method().clone();
        let uri = request.uri();
        // Host and path only: query strings of result links carry signatures.
        let target = format!("{}{}", uri.host().unwrap_or(""), uri.path().escape_debug());
        let request_headers = (self.verbose >= 2).then(|| headers_for_log(request.headers()));
        let inner = self.inner.clone();
        async move {
            if let Some(h) = &request_headers {
                tracing::debug!("http request {method} {target}\n{h}");
            }
            let started = Instant::now();
            let result = inner.send(request).await;
            let ms = started.elapsed().as_millis();
            match &result {
                Ok(response) => {
                    let rid = response
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-")
                        .escape_debug()
                        .to_string();
                    tracing::info!(
                        "http {method} {target} -> {} in {ms} ms, request id {rid}",
                        response.status().as_u16()
                    );
                    if request_headers.is_some() {
                        tracing::debug!(
                            "http response headers\n{}",
                            headers_for_log(response.headers())
                        );
                    }
                }
                Err(e) => tracing::info!("http {method} {target} -> failed in {ms} ms: {e}"),
            }
            result
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use wan_animate_core::http::{RequestBody, ResponseBody, http_client_fn};

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn exchange(verbose: u8) -> String {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(if verbose >= 2 { "debug" } else { "info" })
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let inner = http_client_fn(|_req| async {
            let mut r = http::Response::new(ResponseBody::from_bytes("{}"));
            r.headers_mut()
                .insert("x-request-id", "req-42".parse().unwrap());
            r.headers_mut()
                .insert("x-oss-security-token", "tok-secret".parse().unwrap());
            Ok(r)
        });
        let logged = LoggingHttp::new(inner, verbose);
        let request = http::Request::builder()
            .method("GET")
            .uri("https://dashscope.example/api/v1/tasks/t-1?Signature=sig-secret")
            .header("authorization", "Bearer sk-the-key")
            .body(RequestBody::empty())
            .unwrap();
        let _guard = tracing::subscriber::set_default(subscriber);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let response = rt.block_on(logged.send(request)).unwrap();
        assert_eq!(response.status(), 200);
        String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn one_verbose_logs_method_path_status_time_and_request_id_never_secrets() {
        let log = exchange(1);
        assert!(
            log.contains("http GET dashscope.example/api/v1/tasks/t-1 -> 200 in "),
            "{log}"
        );
        assert!(log.contains(" ms, request id req-42"), "{log}");
        for secret in ["sk-the-key", "sig-secret", "tok-secret", "authorization"] {
            assert!(!log.contains(secret), "{secret} in {log}");
        }
    }

    #[test]
    fn two_verbose_add_headers_with_secrets_redacted() {
        let log = exchange(2);
        assert!(log.contains("authorization: <redacted>"), "{log}");
        assert!(log.contains("x-request-id: req-42"), "{log}");
        assert!(log.contains("x-oss-security-token: <redacted>"), "{log}");
        for secret in ["sk-the-key", "sig-secret", "tok-secret"] {
            assert!(!log.contains(secret), "{secret} in {log}");
        }
    }

    #[test]
    fn secret_headers_are_redacted() {
        let mut h = http::HeaderMap::new();
        h.insert("authorization", "Bearer sk-secret".parse().unwrap());
        h.insert("x-oss-security-token", "tok".parse().unwrap());
        h.insert("content-type", "application/json".parse().unwrap());
        let text = headers_for_log(&h);
        assert!(!text.contains("sk-secret"), "{text}");
        assert!(!text.contains("tok\n") && !text.ends_with("tok"), "{text}");
        assert!(text.contains("content-type: application/json"), "{text}");
        assert!(text.contains("authorization: <redacted>"), "{text}");
    }
}
