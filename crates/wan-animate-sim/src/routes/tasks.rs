//! The task API: create, get, cancel and list, with the input resolution and validation a
//! created task goes through.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use wan_animate_types::{
    EpochMillis, ListTasksQuery, ListTasksResponse, Mode, Model, TaskOutput, TaskResponse,
    TaskStatus, TaskSummary, Usage,
};

use super::common::{App, admit, api_error, json_response};
use crate::state::{Failure, State, Task, api_key_id, key_fingerprint, service_time, wall_ms};

/// `POST {base}/services/aigc/image2video/video-synthesis`.
pub(crate) async fn create_task(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Response {
    let (rid, key) = match admit(&app, &headers, "create") {
        Ok(ok) => ok,
        Err(r) => return r,
    };
    if headers
        .get("x-dashscope-async")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        != Some("enable")
    {
        return api_error(
            StatusCode::FORBIDDEN,
            &rid,
            "AccessDenied",
            "current user api does not support synchronous calls.",
        );
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            &rid,
            "InvalidParameter",
            "Required body invalid, please check the request body format.",
        );
    };
    let bad = |code: &str, msg: &str| api_error(StatusCode::BAD_REQUEST, &rid, code, msg);
    let Some(model) = body.get("model").and_then(Value::as_str) else {
        return bad(
            "BadRequest.EmptyModel",
            "Required parameter \"model\" missing from request.",
        );
    };
    let model = Model::from(model);
    if matches!(model, Model::Unrecognized(_)) {
        return bad("InvalidParameter", "Model not exist.");
    }
    let Some(input) = body.get("input").filter(|v| v.is_object()) else {
        return bad(
            "BadRequest.EmptyInput",
            "Required input parameter missing from request.",
        );
    };
    let Some(parameters) = body.get("parameters").filter(|v| v.is_object()) else {
        return bad(
            "BadRequest.EmptyParameters",
            "Required parameter \"parameters\" missing from request.",
        );
    };
    let field = |obj: &Value, name: &str| {
        obj.get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .filter(|s| !s.is_empty())
    };
    let Some(image_url) = field(input, "image_url") else {
        return bad("InvalidParameter", "Field required: input.image_url");
    };
    let Some(video_url) = field(input, "video_url") else {
        return bad("InvalidParameter", "Field required: input.video_url");
    };
    let Some(mode) = field(parameters, "mode") else {
        return bad("InvalidParameter", "Field required: parameters.mode");
    };
    let mode = Mode::from(mode.as_str());
    if matches!(mode, Mode::Unrecognized(_)) {
        return bad(
            "InvalidParameter",
            "The parameters.mode must be one of: wan-std, wan-pro.",
        );
    }
    for name in ["watermark"] {
        if input.get(name).is_some_and(|v| !v.is_boolean()) {
            return bad(
                "InvalidParameter",
                &format!("input.{name} must be a boolean."),
            );
        }
    }
    if parameters
        .get("check_image")
        .is_some_and(|v| !v.is_boolean())
    {
        return bad(
            "InvalidParameter",
            "parameters.check_image must be a boolean.",
        );
    }
    let uses_oss = [&image_url, &video_url]
        .iter()
        .any(|u| u.starts_with("oss://"));
    let resolve = headers
        .get("x-dashscope-ossresourceresolve")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        == Some("enable");
    if uses_oss && !resolve {
        // Spec §2/§9.2: without the header oss:// URLs are not resolved.
        return bad(
            "InvalidParameter.DataInspection",
            "The media format is not supported or incorrect for the data inspection.",
        );
    }
    // Resolve the inputs now (synchronous URL errors), validate at the end (asynchronous
    // media errors, spec §14.6: the real service may do either; we model the async path).
    let image = match resolve_input(&app, &image_url, model.as_str()).await {
        Ok(i) => i,
        Err(r) => return r(&rid),
    };
    let video = match resolve_input(&app, &video_url, model.as_str()).await {
        Ok(v) => v,
        Err(r) => return r(&rid),
    };
    let (failure, output_secs) = validate(&image, &video);
    let now = SystemTime::now();
    let mut st = app.lock();
    let id = st.new_task_id();
    let per_second = match mode {
        Mode::Pro => st.config.durations.run_per_output_second_pro,
        _ => st.config.durations.run_per_output_second_std,
    };
    let run = st.real(
        per_second
            .mul_f64(output_secs.max(0.1))
            .max(st.config.durations.min_run),
    );
    let result_file = video.file.clone();
    st.tasks.insert(
        id.clone(),
        Task {
            id: id.clone(),
            key: key_fingerprint(&key),
            model: model.clone(),
            mode,
            request_id: rid.clone(),
            created: now,
            run,
            started: None,
            ended: None,
            status: TaskStatus::Pending,
            failure,
            output_secs,
            result_file,
            notified: false,
        },
    );
    st.order.push(id.clone());
    st.touch();
    *st.counters
        .tasks_created
        .entry(format!("{key}|{model}"))
        .or_default() += 1;
    drop(st);
    app.task_created.notify_one();
    json_response(
        StatusCode::OK,
        &rid,
        json!({"request_id": rid, "output": {"task_status": "PENDING", "task_id": id}}),
    )
}

/// An input fetched and probed.
#[derive(Debug)]
struct ResolvedInput {
    bytes_head: Vec<u8>,
    info: Result<wan_animate_media::MediaInfo, String>,
    file: Option<PathBuf>,
    offline_url: bool,
}

type Deferred = Box<dyn FnOnce(&str) -> Response + Send>;

async fn resolve_input(app: &App, url: &str, model: &str) -> Result<ResolvedInput, Deferred> {
    let invalid_url: Deferred = Box::new(|rid: &str| {
        api_error(
            StatusCode::BAD_REQUEST,
            rid,
            "InvalidParameter",
            "The provided URL does not appear to be valid. Ensure it is correctly formatted.",
        )
    });
    if let Some(key) = url.strip_prefix("oss://") {
        let object = {
            let st = app.lock();
            st.objects.get(key).cloned()
        };
        let Some(obj) = object.filter(|o| o.model == model && o.expires > SystemTime::now()) else {
            return Err(invalid_url);
        };
        return Ok(probe_path(obj.path));
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) || !url.is_ascii() {
        return Err(invalid_url);
    }
    match fetch_loopback(url).await {
        Some(Ok(bytes)) => {
            let path = app
                .storage
                .path()
                .join(format!("fetched-{}", app.lock_local().new_id()));
            if std::fs::write(&path, &bytes).is_err() {
                return Err(invalid_url);
            }
            Ok(probe_path(path))
        }
        Some(Err(_)) => Err(Box::new(|rid: &str| {
            api_error(
                StatusCode::BAD_REQUEST,
                rid,
                "InvalidURL.ConnectionRefused",
                "Connection to the input URL refused, please provide available URL.",
            )
        })),
        // Not loopback: the simulator is offline; the task will fail like a download failure.
        None => Ok(ResolvedInput {
            bytes_head: Vec::new(),
            info: Err("offline".into()),
            file: None,
            offline_url: true,
        }),
    }
}

fn probe_path(path: PathBuf) -> ResolvedInput {
    let head = std::fs::read(&path)
        .map(|b| b.into_iter().take(8 * 1024 * 1024).collect())
        .unwrap_or_default();
    let info = wan_animate_media::probe_file(&path).map_err(|e| e.to_string());
    ResolvedInput {
        bytes_head: head,
        info,
        file: Some(path),
        offline_url: false,
    }
}

/// Fetches an http:// URL on loopback with a minimal HTTP/1.1 GET. `None`: not loopback.
async fn fetch_loopback(url: &str) -> Option<Result<Vec<u8>, String>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = rest
        .split_once('/')
        .map(|(a, p)| (a, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let host = authority
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(authority);
    let loopback = host == "localhost"
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return None;
    }
    let addr = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let fetch = async {
        let mut s = tokio::net::TcpStream::connect(&addr)
            .await
            .map_err(|e| e.to_string())?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        s.take(256 * 1024 * 1024)
            .read_to_end(&mut buf)
            .await
            .map_err(|e| e.to_string())?;
        let split = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or("no header end")?;
        let head = String::from_utf8_lossy(&buf[..split]).to_string();
        if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
            return Err(head.lines().next().unwrap_or_default().to_owned());
        }
        Ok(buf[split + 4..].to_vec())
    };
    Some(
        tokio::time::timeout(Duration::from_secs(30), fetch)
            .await
            .unwrap_or_else(|_| Err("timeout".into())),
    )
}

/// Decides the outcome from the inputs, the way the service's checks would.
fn validate(image: &ResolvedInput, video: &ResolvedInput) -> (Option<Failure>, f64) {
    let fail = |code: &str, message: String| {
        Some(Failure {
            code: code.into(),
            message,
        })
    };
    if image.offline_url || video.offline_url {
        return (fail("InvalidURL", "Invalid URL provided in your request. (The simulator is offline: use local files, oss:// uploads or loopback URLs.)".into()), 0.0);
    }
    let output = video
        .info
        .as_ref()
        .ok()
        .and_then(|i| i.duration_secs)
        .unwrap_or(0.0);
    let output = (output * 10.0).round() / 10.0;
    for (what, input, kind) in [
        ("image", image, wan_animate_media::MediaKind::Image),
        ("video", video, wan_animate_media::MediaKind::Video),
    ] {
        let info = match &input.info {
            Ok(i) => i,
            Err(_) => {
                return (
                    fail(
                        "InvalidFile.Openerror",
                        format!("Invalid file, cannot open file as {what}."),
                    ),
                    output,
                );
            }
        };
        if let Some(v) = wan_animate_media::Limits::for_kind(kind)
            .check(info)
            .first()
        {
            return (
                fail(v.service_code(), wan_animate_media::service_message(v)),
                output,
            );
        }
    }
    // Test hooks in the image bytes: a generic service failure and a moderation block.
    if image
        .bytes_head
        .windows(18)
        .any(|w| w == b"SIM-INTERNAL-ERROR")
    {
        return (
            fail(
                "InternalError",
                "An internal error has occured, try again later or contact service support.".into(),
            ),
            output,
        );
    }
    if image.bytes_head.windows(14).any(|w| w == b"SIM-MODERATION") {
        return (
            fail(
                "DataInspectionFailed",
                "Input data may contain inappropriate content.".into(),
            ),
            output,
        );
    }
    (None, output)
}

fn task_json(app: &App, st: &State, task: &Task, rid: &str) -> Value {
    let mut out = TaskOutput::new(task.id.clone(), task.status.clone());
    out.submit_time = Some(service_time(task.created));
    out.scheduled_time = task.started.map(service_time);
    out.end_time = task.ended.map(service_time);
    let mut usage = None;
    match task.status {
        TaskStatus::Succeeded => {
            let expires_real = task.ended.unwrap_or(task.created) + st.real(st.config.result_ttl);
            let expires_unix = wall_ms(expires_real) / 1000;
            let signature = app.sign(&format!("{}:{expires_unix}", task.id));
            let url = format!(
                "{}/results/{}.mp4?Expires={expires_unix}&Signature={}",
                app.origin(),
                task.id,
                utf8_encode(&signature)
            );
            out = out.with_video_url(url);
            if let Some(ratio) = task.mode.video_ratio() {
                usage = Some(Usage::new(task.output_secs, ratio));
            }
        }
        TaskStatus::Failed => {
            if let Some(f) = &task.failure {
                out = out.with_error(f.code.clone(), f.message.clone());
            }
        }
        _ => {}
    }
    let mut resp = TaskResponse::new(out).with_request_id(rid);
    resp.usage = usage;
    serde_json::to_value(resp).unwrap_or_default()
}

fn utf8_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn unknown_task(rid: &str, id: &str) -> Response {
    json_response(
        StatusCode::OK,
        rid,
        json!({"request_id": rid, "output": {"task_id": id, "task_status": "UNKNOWN"}}),
    )
}

/// `GET {base}/tasks/{id}`.
pub(crate) async fn get_task(
    AxState(app): AxState<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (rid, _key) = match admit(&app, &headers, "task_api") {
        Ok(ok) => ok,
        Err(r) => return r,
    };
    let now = SystemTime::now();
    let mut st = app.lock();
    st.advance(now);
    match st.tasks.get(&id) {
        Some(task) if !st.expired(task, now) => {
            let body = task_json(&app, &st, task, &rid);
            json_response(StatusCode::OK, &rid, body)
        }
        _ => unknown_task(&rid, &id),
    }
}

/// `POST {base}/tasks/{id}/cancel`.
pub(crate) async fn cancel_task(
    AxState(app): AxState<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (rid, _key) = match admit(&app, &headers, "task_api") {
        Ok(ok) => ok,
        Err(r) => return r,
    };
    let now = SystemTime::now();
    let mut st = app.lock();
    st.advance(now);
    let expired = st.tasks.get(&id).is_none_or(|t| st.expired(t, now));
    match st.tasks.get_mut(&id) {
        Some(task) if !expired && task.status == TaskStatus::Pending => {
            task.status = TaskStatus::Canceled;
            task.ended = Some(now);
            st.touch();
            drop(st);
            app.task_created.notify_one();
            json_response(StatusCode::OK, &rid, json!({"request_id": rid}))
        }
        // Cancelling an unknown id is not documented; answer like a non-pending task.
        _ => api_error(
            StatusCode::BAD_REQUEST,
            &rid,
            "UnsupportedOperation",
            "Failed to cancel the task, please confirm if the task is in PENDING status.",
        ),
    }
}

/// `GET {base}/tasks`.
pub(crate) async fn list_tasks(
    AxState(app): AxState<App>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let (rid, _key) = match admit(&app, &headers, "task_api") {
        Ok(ok) => ok,
        Err(r) => return r,
    };
    let query = match ListTasksQuery::from_query_pairs(
        params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    ) {
        Ok(q) => q,
        Err(e) => return api_error(StatusCode::BAD_REQUEST, &rid, "InvalidParameter", &e),
    };
    let now = SystemTime::now();
    let now_ms = wall_ms(now);
    let end_ms = query
        .end_time
        .as_ref()
        .and_then(|t| t.to_unix_millis())
        .map(|e| e + 999);
    let start_ms = query.start_time.as_ref().and_then(|t| t.to_unix_millis());
    let (start_ms, end_ms) = match (start_ms, end_ms) {
        (Some(s), Some(e)) => (s, e),
        (Some(s), None) => (s, s + 86_400_000),
        (None, Some(e)) => (e - 86_400_000, e),
        (None, None) => (now_ms - 86_400_000, now_ms + 1),
    };
    if end_ms - start_ms > 86_400_000 + 1000 {
        return api_error(
            StatusCode::BAD_REQUEST,
            &rid,
            "InvalidParameter",
            "The time range between start_time and end_time must be within 24 hours.",
        );
    }
    let mut st = app.lock();
    st.advance(now);
    let mut matching: Vec<TaskSummary> = Vec::new();
    for id in st.order.iter().rev() {
        let t = &st.tasks[id];
        if st.expired(t, now) {
            continue;
        }
        let created = wall_ms(t.created);
        if created < start_ms || created > end_ms {
            continue;
        }
        if query.task_id.as_ref().is_some_and(|q| q != &t.id)
            || query
                .model_name
                .as_ref()
                .is_some_and(|m| m != t.model.as_str())
            || query.status.as_ref().is_some_and(|s| s != &t.status)
        {
            continue;
        }
        let mut s = TaskSummary::new(t.id.clone(), t.status.clone())
            .with_model_name(t.model.as_str())
            .with_gmt_create(EpochMillis(created));
        s.request_id = Some(t.request_id.clone());
        s.api_key_id = Some(api_key_id(&t.key));
        s.caller_uid = Some("sim-account".into());
        s.caller_parent_id = Some("sim-account".into());
        s.region = Some("cn-beijing".into());
        s.user_api_unique_key = Some(format!(
            "apikey:v1:aigc:image2video:video-synthesis:{}",
            t.model
        ));
        s.start_time = t.started.map(|x| EpochMillis(wall_ms(x)));
        s.end_time = t.ended.map(|x| EpochMillis(wall_ms(x)));
        matching.push(s);
    }
    let page_size = u64::from(query.page_size.unwrap_or(10).max(1));
    let page_no = u64::from(query.page_no.unwrap_or(1).max(1));
    let total = matching.len() as u64;
    let data: Vec<TaskSummary> = matching
        .into_iter()
        .skip(((page_no - 1) * page_size) as usize)
        .take(page_size as usize)
        .collect();
    let mut resp = ListTasksResponse::new(data, page_no, page_size, total);
    resp.request_id = Some(rid.clone());
    json_response(
        StatusCode::OK,
        &rid,
        serde_json::to_value(resp).unwrap_or_default(),
    )
}
