//! Result files: signed links with `Range` support and injected truncation.

use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::common::{App, Truncate, oss_error, request_id};
use crate::state::wall_ms;

/// `GET /results/{task}.mp4?Expires=&Signature=`, with `Range`.
pub(crate) async fn result_file(
    AxState(app): AxState<App>,
    Path(name): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    truncate: Option<axum::Extension<Truncate>>,
) -> Response {
    let truncate = truncate.is_some_and(|t| t.0.0);
    let rid = request_id(&app);
    if headers.contains_key("authorization") {
        app.lock_local()
            .counters
            .storage_requests_with_authorization += 1;
    }
    let id = name.trim_end_matches(".mp4").to_owned();
    let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let expires: i64 = get("Expires").and_then(|e| e.parse().ok()).unwrap_or(0);
    if app.sign(&format!("{id}:{expires}")) != get("Signature").unwrap_or_default() {
        return oss_error(
            StatusCode::FORBIDDEN,
            &rid,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        );
    }
    if wall_ms(SystemTime::now()) / 1000 > expires {
        return oss_error(
            StatusCode::FORBIDDEN,
            &rid,
            "AccessDenied",
            "Request has expired.",
        );
    }
    let file = app
        .lock()
        .tasks
        .get(&id)
        .and_then(|t| t.result_file.clone());
    let Some(bytes) = file.and_then(|p| std::fs::read(p).ok()) else {
        return oss_error(
            StatusCode::NOT_FOUND,
            &rid,
            "NoSuchKey",
            "The specified key does not exist.",
        );
    };
    let total = bytes.len() as u64;
    let range = headers
        .get("range")
        .and_then(|v| v.to_str().ok())
        .and_then(|r| parse_range(r, total));
    let (status, start, end) = match range {
        Some(Ok((s, e))) => (StatusCode::PARTIAL_CONTENT, s, e),
        Some(Err(())) => {
            let mut r = oss_error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                &rid,
                "InvalidRange",
                "The requested range cannot be satisfied.",
            );
            r.headers_mut().insert(
                "content-range",
                HeaderValue::from_str(&format!("bytes */{total}"))
                    .unwrap_or(HeaderValue::from_static("bytes */0")),
            );
            return r;
        }
        None => (StatusCode::OK, 0, total.saturating_sub(1)),
    };
    let slice = if total == 0 {
        Vec::new()
    } else {
        bytes[start as usize..=end as usize].to_vec()
    };
    let len = slice.len();
    let body = if truncate {
        // Announce the full length, send half, then break the connection.
        let half = bytes::Bytes::from(slice[..len / 2].to_vec());
        Body::from_stream(futures_util::stream::iter(vec![
            Ok(half),
            Err(std::io::Error::other("injected truncation")),
        ]))
    } else {
        Body::from(slice)
    };
    let mut r = Response::builder()
        .status(status)
        .header("content-type", "video/mp4")
        .header("content-length", len.to_string())
        .header("accept-ranges", "bytes")
        .header("x-oss-request-id", rid.as_str());
    if status == StatusCode::PARTIAL_CONTENT {
        r = r.header("content-range", format!("bytes {start}-{end}/{total}"));
    }
    r.body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn parse_range(header: &str, total: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = header.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let res = match (a.trim(), b.trim()) {
        ("", suffix) => suffix
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .map(|n| (total.saturating_sub(n), total.saturating_sub(1))),
        (s, "") => s.parse::<u64>().ok().map(|s| (s, total.saturating_sub(1))),
        (s, e) => match (s.parse::<u64>(), e.parse::<u64>()) {
            (Ok(s), Ok(e)) => Some((s, e.min(total.saturating_sub(1)))),
            _ => None,
        },
    };
    Some(match res {
        Some((s, e)) if s <= e && s < total => Ok((s, e)),
        _ => Err(()),
    })
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges_parse_like_http() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("items=0-1", 100), None);
    }
}
