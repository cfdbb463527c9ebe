//! Temporary uploads: the upload policy and the OSS-style form host.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use axum::extract::{Multipart, Query, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;
use wan_animate_types::{UploadPolicy, UploadPolicyResponse};

use super::common::{App, admit, api_error, json_response, oss_error, request_id};
use crate::state::{Policy, StoredObject, wall_ms};

/// `GET {base}/uploads?action=getPolicy&model=`.
pub(crate) async fn get_policy(
    AxState(app): AxState<App>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let (rid, key) = match admit(&app, &headers, "policy") {
        Ok(ok) => ok,
        Err(r) => return r,
    };
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if get("action").as_deref() != Some("getPolicy") {
        return api_error(
            StatusCode::BAD_REQUEST,
            &rid,
            "InvalidParameter",
            "The action parameter must be getPolicy.",
        );
    }
    let Some(model) = get("model").filter(|m| !m.is_empty()) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            &rid,
            "InvalidParameter",
            "Field required: model",
        );
    };
    let (ttl, max_mb, id) = {
        let mut st = app.lock_local();
        (st.config.policy_ttl, st.config.max_upload_mb, st.new_id())
    };
    let account = &app.sign(&key)[..8].replace(['/', '+'], "x");
    let date = wan_animate_types::ListTime::from_unix_millis(wall_ms(SystemTime::now()));
    let dir = format!(
        "dashscope-instant/{account}/{}-{}-{}/{id}",
        &date.as_str()[0..4],
        &date.as_str()[4..6],
        &date.as_str()[6..8]
    );
    let max_bytes = max_mb * 1024 * 1024;
    let expires_at = SystemTime::now() + ttl;
    let document = json!({
        "expiration": iso8601(expires_at),
        "conditions": [["content-length-range", 0, max_bytes], ["starts-with", "$key", dir], {"bucket": "sim-oss"}, {"x-oss-object-acl": "private"}, {"x-oss-forbid-overwrite": "true"}],
    });
    let policy_b64 = base64::engine::general_purpose::STANDARD.encode(document.to_string());
    let signature = app.sign(&policy_b64);
    app.lock_local().policies.insert(
        policy_b64.clone(),
        Policy {
            model: model.clone(),
            dir: dir.clone(),
            max_bytes,
            expires: Instant::now() + ttl,
        },
    );
    let mut policy = UploadPolicy::default();
    policy.policy = policy_b64;
    policy.signature = signature;
    policy.upload_dir = dir;
    policy.upload_host = format!("{}/oss/sim-oss", app.origin());
    policy.oss_access_key_id = "LTAI-sim".into();
    policy.x_oss_object_acl = "private".into();
    policy.x_oss_forbid_overwrite = "true".into();
    policy.expire_in_seconds = ttl.as_secs().max(1);
    policy.max_file_size_mb = max_mb;
    policy.capacity_limit_mb = Some(999_999_999);
    let mut resp = UploadPolicyResponse::default();
    resp.request_id = Some(rid.clone());
    resp.data = policy;
    json_response(
        StatusCode::OK,
        &rid,
        serde_json::to_value(resp).unwrap_or_default(),
    )
}

fn iso8601(t: SystemTime) -> String {
    let ms = wall_ms(t);
    // Reuse the UTC+8 formatter and shift back to UTC.
    let s = wan_animate_types::ServiceTime::from_unix_millis(
        ms - wan_animate_types::SERVICE_UTC_OFFSET_MILLIS,
    );
    format!("{}Z", s.as_str().replacen(' ', "T", 1))
}

/// `POST /oss/{bucket}`: the OSS-style form upload.
pub(crate) async fn oss_upload(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    let rid = request_id(&app);
    if headers.contains_key("authorization") {
        app.lock_local()
            .counters
            .storage_requests_with_authorization += 1;
        return oss_error(
            StatusCode::BAD_REQUEST,
            &rid,
            "InvalidArgument",
            "Authorization header is not allowed with a form upload (the form carries the credential).",
        );
    }
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut stored: Option<(PathBuf, u64)> = None;
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return oss_error(
                    StatusCode::BAD_REQUEST,
                    &rid,
                    "MalformedPOSTRequest",
                    &format!(
                        "The body of your POST request is not well-formed multipart/form-data: {e}"
                    ),
                );
            }
        };
        let name = field.name().unwrap_or_default().to_owned();
        if stored.is_some() {
            return oss_error(
                StatusCode::BAD_REQUEST,
                &rid,
                "InvalidArgument",
                &format!("The file field must be the last field; found {name:?} after it."),
            );
        }
        if name != "file" {
            match field.text().await {
                Ok(t) => fields.push((name, t)),
                Err(e) => {
                    return oss_error(
                        StatusCode::BAD_REQUEST,
                        &rid,
                        "MalformedPOSTRequest",
                        &e.to_string(),
                    );
                }
            }
            continue;
        }
        // Check the credential before storing anything.
        let get = |n: &str| {
            fields
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        };
        for required in [
            "OSSAccessKeyId",
            "policy",
            "Signature",
            "key",
            "x-oss-object-acl",
            "x-oss-forbid-overwrite",
        ] {
            if get(required).is_none() {
                return oss_error(
                    StatusCode::BAD_REQUEST,
                    &rid,
                    "InvalidArgument",
                    &format!("Missing form field {required} before the file."),
                );
            }
        }
        let policy_b64 = get("policy").unwrap_or_default();
        if app.sign(&policy_b64) != get("Signature").unwrap_or_default() {
            return oss_error(
                StatusCode::FORBIDDEN,
                &rid,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            );
        }
        let Some(policy) = app.lock_local().policies.get(&policy_b64).cloned() else {
            return oss_error(
                StatusCode::FORBIDDEN,
                &rid,
                "AccessDenied",
                "Invalid according to Policy: unknown policy.",
            );
        };
        if policy.expires <= Instant::now() {
            return oss_error(
                StatusCode::FORBIDDEN,
                &rid,
                "AccessDenied",
                "Invalid according to Policy: Policy expired.",
            );
        }
        let key = get("key").unwrap_or_default();
        if !key.starts_with(&policy.dir) {
            return oss_error(
                StatusCode::FORBIDDEN,
                &rid,
                "AccessDenied",
                "Invalid according to Policy: Policy Condition failed: [\"starts-with\", \"$key\", ...]",
            );
        }
        if get("x-oss-forbid-overwrite").as_deref() != Some("true")
            || get("x-oss-object-acl").as_deref() != Some("private")
        {
            return oss_error(
                StatusCode::FORBIDDEN,
                &rid,
                "AccessDenied",
                "Invalid according to Policy: Policy Condition failed on acl or forbid-overwrite.",
            );
        }
        if app.lock().objects.contains_key(&key) {
            return oss_error(
                StatusCode::CONFLICT,
                &rid,
                "FileAlreadyExists",
                "The object you specified already exists and can not be overwritten.",
            );
        }
        let path = app
            .storage
            .path()
            .join(format!("obj-{}", app.lock_local().new_id()));
        let mut out = match tokio::fs::File::create(&path).await {
            Ok(f) => f,
            Err(e) => {
                return oss_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &rid,
                    "InternalError",
                    &e.to_string(),
                );
            }
        };
        let mut size = 0u64;
        let mut field = field;
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    size += chunk.len() as u64;
                    if size > policy.max_bytes {
                        let _ = tokio::fs::remove_file(&path).await;
                        return oss_error(
                            StatusCode::BAD_REQUEST,
                            &rid,
                            "EntityTooLarge",
                            "Your proposed upload exceeds the maximum allowed size.",
                        );
                    }
                    use tokio::io::AsyncWriteExt;
                    if let Err(e) = out.write_all(&chunk).await {
                        return oss_error(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            &rid,
                            "InternalError",
                            &e.to_string(),
                        );
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = tokio::fs::remove_file(&path).await;
                    return oss_error(
                        StatusCode::BAD_REQUEST,
                        &rid,
                        "MalformedPOSTRequest",
                        &e.to_string(),
                    );
                }
            }
        }
        // tokio's File writes in the background: finish before the object becomes visible.
        {
            use tokio::io::AsyncWriteExt;
            if let Err(e) = out.flush().await {
                return oss_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &rid,
                    "InternalError",
                    &e.to_string(),
                );
            }
        }
        drop(out);
        stored = Some((path.clone(), size));
        let mut st = app.lock();
        let expires = SystemTime::now() + st.real(Duration::from_secs(48 * 3600));
        st.touch();
        st.objects.insert(
            key.clone(),
            StoredObject {
                path,
                model: policy.model.clone(),
                expires,
            },
        );
        st.counters.uploads_stored += 1;
    }
    if stored.is_none() {
        return oss_error(
            StatusCode::BAD_REQUEST,
            &rid,
            "InvalidArgument",
            "The form has no file field.",
        );
    }
    let status = fields
        .iter()
        .find(|(k, _)| k == "success_action_status")
        .map(|(_, v)| v.as_str());
    let code = if status == Some("200") {
        StatusCode::OK
    } else {
        StatusCode::NO_CONTENT
    };
    let mut r = code.into_response();
    if let Ok(v) = HeaderValue::from_str(&rid) {
        r.headers_mut().insert("x-oss-request-id", v);
    }
    r
}
