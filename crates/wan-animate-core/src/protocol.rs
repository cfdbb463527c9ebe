//! Pure protocol logic: build requests, parse responses. No I/O, no async, no clock.

use std::time::Duration;

use bytes::Bytes;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::de::DeserializeOwned;
use wan_animate_types::{CreateTaskRequest, ErrorBody, ListTasksQuery, headers, paths};

use crate::config::ClientConfig;
use crate::error::Error;
use crate::http::{HttpRequest, RequestBody};

/// Characters kept as-is in query values and path segments (RFC 3986 unreserved).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The largest API response we read into memory.
pub(crate) const MAX_API_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// The longest task id accepted (service ids are 36-character UUIDs).
pub(crate) const MAX_TASK_ID_LEN: usize = 128;

/// Every request starts here, so none is built from an invalid configuration (an empty key
/// would otherwise be sent as `Bearer `).
fn base_request(
    config: &ClientConfig,
    method: http::Method,
    path_and_query: &str,
) -> Result<http::request::Builder, Error> {
    config.validate()?;
    let mut b = http::Request::builder()
        .method(method)
        .uri(format!("{}{}", config.base_url(), path_and_query))
        .header(
            http::header::AUTHORIZATION,
            format!("Bearer {}", config.api_key().expose_secret()),
        )
        .header(http::header::USER_AGENT, config.user_agent())
        .header(http::header::ACCEPT, "application/json");
    if let Some(ws) = config.workspace() {
        b = b.header(headers::WORKSPACE, ws);
    }
    Ok(b)
}

fn finish(b: http::request::Builder, body: RequestBody) -> Result<HttpRequest, Error> {
    b.body(body)
        .map_err(|e| Error::invalid_input(format!("cannot build the request: {e}")))
}

/// Escapes one path segment (task ids are opaque strings). Everything but RFC 3986
/// unreserved characters is percent-encoded; a segment of only dots (`.`, `..`) is encoded
/// whole (`%2E%2E`). URL parsers still treat `%2E%2E` as `..`, so task ids are also checked
/// by [`check_task_id`] before they reach a path.
pub(crate) fn path_segment(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b == b'.') {
        return "%2E".repeat(s.len());
    }
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// Checks a task id before it goes into a URL: not empty, at most [`MAX_TASK_ID_LEN`]
/// characters, no control characters or white space, and not a dot segment (`.`, `..`, or
/// their percent-encoded forms) that would change the path it is put in.
pub(crate) fn check_task_id(id: &str) -> Result<(), Error> {
    let bad = |why: &str| {
        Error::invalid_input(format!(
            "task id {:?} {why}",
            id.chars().take(MAX_TASK_ID_LEN).collect::<String>()
        ))
    };
    if id.is_empty() {
        return Err(Error::invalid_input("the task id is empty"));
    }
    if id.chars().count() > MAX_TASK_ID_LEN {
        return Err(bad(&format!("is longer than {MAX_TASK_ID_LEN} characters")));
    }
    if id.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad("contains white space or control characters"));
    }
    let decoded = id.to_ascii_lowercase().replace("%2e", ".");
    if decoded == "." || decoded == ".." {
        return Err(bad("is a dot segment, which is not a task id"));
    }
    Ok(())
}

/// `POST {base}/services/aigc/image2video/video-synthesis` with `X-DashScope-Async: enable`,
/// and `X-DashScope-OssResourceResolve: enable` whenever an input is `oss://`.
pub(crate) fn build_create_request(
    config: &ClientConfig,
    request: &CreateTaskRequest,
) -> Result<HttpRequest, Error> {
    let body = serde_json::to_vec(request)
        .map_err(|e| Error::invalid_input(format!("cannot encode the request: {e}")))?;
    let mut b = base_request(config, http::Method::POST, paths::CREATE_TASK)?
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(headers::ASYNC, "enable");
    if request.uses_oss_resources() {
        b = b.header(headers::OSS_RESOURCE_RESOLVE, "enable");
    }
    finish(b, RequestBody::from(body))
}

/// `GET {base}/tasks/{id}`.
pub(crate) fn build_get_request(
    config: &ClientConfig,
    task_id: &str,
) -> Result<HttpRequest, Error> {
    check_task_id(task_id)?;
    finish(
        base_request(
            config,
            http::Method::GET,
            &format!("{}/{}", paths::TASKS, path_segment(task_id)),
        )?,
        RequestBody::empty(),
    )
}

/// `POST {base}/tasks/{id}/cancel`, no body.
pub(crate) fn build_cancel_request(
    config: &ClientConfig,
    task_id: &str,
) -> Result<HttpRequest, Error> {
    check_task_id(task_id)?;
    let b = base_request(
        config,
        http::Method::POST,
        &format!("{}/{}/cancel", paths::TASKS, path_segment(task_id)),
    )?
    .header(http::header::CONTENT_LENGTH, "0");
    finish(b, RequestBody::empty())
}

/// `GET {base}/tasks?...`.
pub(crate) fn build_list_request(
    config: &ClientConfig,
    query: &ListTasksQuery,
) -> Result<HttpRequest, Error> {
    let q: Vec<String> = query
        .to_query_pairs()
        .iter()
        .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, UNRESERVED)))
        .collect();
    let path = if q.is_empty() {
        paths::TASKS.to_owned()
    } else {
        format!("{}?{}", paths::TASKS, q.join("&"))
    };
    finish(
        base_request(config, http::Method::GET, &path)?,
        RequestBody::empty(),
    )
}

/// `GET {base}/uploads?action=getPolicy&model=...`.
#[cfg_attr(not(feature = "rt-tokio"), allow(dead_code))] // uploads need rt-tokio
pub(crate) fn build_policy_request(
    config: &ClientConfig,
    model: &str,
) -> Result<HttpRequest, Error> {
    let path = format!(
        "{}?action=getPolicy&model={}",
        paths::UPLOADS,
        utf8_percent_encode(model, UNRESERVED)
    );
    finish(
        base_request(config, http::Method::GET, &path)?,
        RequestBody::empty(),
    )
}

/// The request id of a response: the body's, else the `X-Request-ID` header.
pub(crate) fn request_id(headers: &http::HeaderMap, body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Rid {
        request_id: Option<String>,
    }
    serde_json::from_slice::<Rid>(body)
        .ok()
        .and_then(|r| r.request_id)
        .or_else(|| {
            headers
                .get(headers::REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
}

/// `Retry-After` in seconds (the HTTP-date form is not used by the service).
pub(crate) fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let v = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(3600.0)))
}

/// Parses a response: 2xx bodies into `T`, anything else into a classified [`Error`]. Error
/// bodies are parsed as JSON whatever their content type (a captured 401 had none).
pub(crate) fn parse_response<T: DeserializeOwned>(
    operation: &str,
    status: http::StatusCode,
    headers: &http::HeaderMap,
    body: &Bytes,
) -> Result<T, Error> {
    let rid = request_id(headers, body);
    if status.is_success() {
        return serde_json::from_slice(body)
            .map_err(|e| Error::decode(operation, e, status.as_u16(), rid));
    }
    Err(parse_error(operation, status, headers, body))
}

/// A non-2xx answer as an [`Error`].
pub(crate) fn parse_error(
    operation: &str,
    status: http::StatusCode,
    headers: &http::HeaderMap,
    body: &Bytes,
) -> Error {
    let rid = request_id(headers, body);
    let (code, message) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => (e.code, e.message),
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            (
                None,
                (!text.is_empty()).then(|| text.chars().take(300).collect()),
            )
        }
    };
    Error::api(operation, status.as_u16(), code, message, rid)
        .with_retry_after(retry_after(headers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wan_animate_types::{Mode, Model, TaskStatus};

    fn config() -> ClientConfig {
        ClientConfig::new("sk-test-SECRET123")
            .with_base_url("https://gw.example/qwen/api/v1")
            .unwrap()
            .with_workspace("ws-1")
    }

    #[test]
    fn create_request_has_the_documented_method_path_headers_and_body() {
        let req = CreateTaskRequest::new(
            Model::AnimateMix,
            "https://x/p.jpg",
            "https://x/v.mp4",
            Mode::Standard,
        )
        .with_watermark(true);
        let http = build_create_request(&config(), &req).unwrap();
        assert_eq!(http.method(), http::Method::POST);
        assert_eq!(
            http.uri(),
            "https://gw.example/qwen/api/v1/services/aigc/image2video/video-synthesis"
        );
        let h = http.headers();
        assert_eq!(h["authorization"], "Bearer sk-test-SECRET123");
        assert_eq!(h["x-dashscope-async"], "enable");
        assert_eq!(h["x-dashscope-workspace"], "ws-1");
        assert_eq!(h["content-type"], "application/json");
        assert!(h.get("x-dashscope-ossresourceresolve").is_none());
        let body: serde_json::Value =
            serde_json::from_slice(http.body().as_bytes().unwrap()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"model":"wan2.2-animate-mix","input":{"image_url":"https://x/p.jpg","video_url":"https://x/v.mp4","watermark":true},"parameters":{"mode":"wan-std"}})
        );
    }

    #[test]
    fn oss_inputs_add_the_resolve_header() {
        let req = CreateTaskRequest::new(
            Model::AnimateMove,
            "oss://k/p.jpg",
            "https://x/v.mp4",
            Mode::Pro,
        );
        let http = build_create_request(&config(), &req).unwrap();
        assert_eq!(http.headers()["x-dashscope-ossresourceresolve"], "enable");
    }

    #[test]
    fn task_paths_escape_ids_and_lists_encode_queries() {
        let get = build_get_request(&config(), "a/b?c#d").unwrap();
        assert_eq!(
            get.uri(),
            "https://gw.example/qwen/api/v1/tasks/a%2Fb%3Fc%23d"
        );
        let cancel = build_cancel_request(&config(), "t-1").unwrap();
        assert_eq!(
            cancel.uri(),
            "https://gw.example/qwen/api/v1/tasks/t-1/cancel"
        );
        assert_eq!(cancel.method(), http::Method::POST);
        let list = build_list_request(
            &config(),
            &ListTasksQuery::new()
                .with_status(TaskStatus::Running)
                .with_model_name("wan2.2-animate-mix"),
        )
        .unwrap();
        assert_eq!(
            list.uri(),
            "https://gw.example/qwen/api/v1/tasks?model_name=wan2.2-animate-mix&status=RUNNING"
        );
        assert!(build_get_request(&config(), " ").is_err());
    }

    #[test]
    fn error_bodies_parse_without_content_type_and_keep_the_header_request_id() {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-request-id", "hdr-1".parse().unwrap());
        headers.insert("retry-after", "2".parse().unwrap());
        let body = Bytes::from_static(br#"{"code":"Throttling.RateQuota","message":"Requests rate limit exceeded, please try again later."}"#);
        let e = parse_error(
            "submit",
            http::StatusCode::TOO_MANY_REQUESTS,
            &headers,
            &body,
        );
        assert_eq!(e.kind(), crate::ErrorKind::Throttled);
        assert_eq!(e.code(), Some("Throttling.RateQuota"));
        assert_eq!(e.request_id(), Some("hdr-1"));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
        let html = parse_error(
            "get",
            http::StatusCode::BAD_GATEWAY,
            &http::HeaderMap::new(),
            &Bytes::from_static(b"<html>bad gateway</html>"),
        );
        assert_eq!(html.kind(), crate::ErrorKind::Service);
        assert_eq!(html.message(), Some("<html>bad gateway</html>"));
    }
}

#[cfg(test)]
mod path_tests {
    use super::*;

    #[test]
    fn segments_are_encoded_and_dot_segments_encoded_whole() {
        assert_eq!(path_segment("a/b?c"), "a%2Fb%3Fc");
        assert_eq!(path_segment(".."), "%2E%2E");
    }

    #[test]
    fn hostile_task_ids_are_refused_before_they_reach_a_path() {
        assert!(check_task_id("0385dc79-5ff8-4d82-bcb6-xxxxxx").is_ok());
        for bad in ["", "..", ".", "%2e%2E", "a\nb", "t\u{1b}[31m"] {
            assert!(check_task_id(bad).is_err(), "{bad:?}");
        }
    }
}
