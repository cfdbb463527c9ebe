//! Every documented fixture parses to the values it contains; requests round-trip
//! byte-for-byte in meaning; forward-compatibility rules hold.

use serde_json::{Value, json};
use wan_animate_types::*;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse<T: serde::de::DeserializeOwned>(name: &str) -> T {
    serde_json::from_str(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every fixture file must be exercised by a test below, so a new fixture cannot be forgotten.
#[test]
fn every_fixture_is_covered_by_a_test() {
    let source = include_str!("wire.rs");
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let mut missing = Vec::new();
    for sub in ["", "constructed/"] {
        for entry in std::fs::read_dir(format!("{dir}/{sub}")).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let is_data =
                name.ends_with(".json") || name.ends_with(".xml") || name.ends_with(".txt");
            if is_data && !source.contains(&format!("\"{sub}{name}\"")) {
                missing.push(format!("{sub}{name}"));
            }
        }
    }
    assert!(missing.is_empty(), "fixtures without a test: {missing:?}");
}

fn assert_request_round_trips(name: &str) -> CreateTaskRequest {
    let original: Value = serde_json::from_str(&fixture(name)).unwrap();
    let req: CreateTaskRequest = serde_json::from_value(original.clone()).unwrap();
    assert_eq!(serde_json::to_value(&req).unwrap(), original, "{name}");
    req
}

#[test]
fn documented_mix_request_round_trips_with_watermark_in_input() {
    let req = assert_request_round_trips("create_task_request_mix.json");
    assert_eq!(req.model, Model::AnimateMix);
    assert_eq!(req.input.watermark, Some(true));
    assert_eq!(req.parameters.mode, Mode::Standard);
    assert_eq!(req.parameters.check_image, None);
    assert!(req.input.image_url.ends_with("mix_input_image.jpeg"));
    assert!(req.input.video_url.ends_with("mix_input_video.mp4"));
    assert!(!req.uses_oss_resources());
}

#[test]
fn builder_serializes_exactly_like_the_documented_examples() {
    let built = CreateTaskRequest::new(
        Model::AnimateMix,
        "https://help-static-aliyun-doc.aliyuncs.com/file-manage-files/zh-CN/20250919/bhkfor/mix_input_image.jpeg",
        "https://help-static-aliyun-doc.aliyuncs.com/file-manage-files/zh-CN/20250919/wqefue/mix_input_video.mp4",
        Mode::Standard,
    );
    let doc: Value =
        serde_json::from_str(&fixture("create_task_request_mix_no_watermark.json")).unwrap();
    assert_eq!(serde_json::to_value(&built).unwrap(), doc);
    let doc: Value = serde_json::from_str(&fixture("create_task_request_mix.json")).unwrap();
    assert_eq!(
        serde_json::to_value(built.with_watermark(true)).unwrap(),
        doc
    );
}

#[test]
fn documented_move_request_round_trips() {
    let req = assert_request_round_trips("create_task_request_move.json");
    assert_eq!(req.model, Model::AnimateMove);
    assert_eq!(req.input.watermark, Some(true));
}

#[test]
fn request_with_all_fields_round_trips() {
    let req = assert_request_round_trips("constructed/create_task_request_mix_all_fields.json");
    assert_eq!(req.parameters.mode, Mode::Pro);
    assert_eq!(req.parameters.check_image, Some(true));
    assert_eq!(req.input.watermark, Some(false));
}

#[test]
fn oss_request_round_trips_and_is_detected() {
    let req = assert_request_round_trips("constructed/create_task_request_move_oss_url.json");
    assert!(req.uses_oss_resources());
    assert_eq!(req.parameters.check_image, Some(false));
}

#[test]
fn create_responses_parse_in_either_key_order() {
    for name in [
        "create_task_response.json",
        "create_task_response_qianwenai.json",
    ] {
        let r: CreateTaskResponse = parse(name);
        let out = r.output.expect("output");
        assert_eq!(out.task_id, "0385dc79-5ff8-4d82-bcb6-xxxxxx");
        assert_eq!(out.task_status, TaskStatus::Pending);
        assert_eq!(
            r.request_id.as_deref(),
            Some("4909100c-7b5a-9f92-bfe5-xxxxxx")
        );
        assert!(r.code.is_none() && r.extra.is_empty());
    }
}

#[test]
fn succeeded_queries_parse_with_times_result_and_usage() {
    for (name, host) in [
        ("query_succeeded_mix.json", "http://dashscope-result-bj"),
        ("query_succeeded_move.json", "http://dashscope-result-bj"),
        (
            "query_succeeded_move_qianwenai.json",
            "https://dashscope-result-sh",
        ),
    ] {
        let r: TaskResponse = parse(name);
        assert_eq!(
            r.request_id.as_deref(),
            Some("a67f8716-18ef-447c-a286-xxxxxx")
        );
        let o = &r.output;
        assert_eq!(o.task_id, "0385dc79-5ff8-4d82-bcb6-xxxxxx");
        assert_eq!(o.task_status, TaskStatus::Succeeded);
        assert_eq!(
            o.submit_time.as_ref().unwrap().as_str(),
            "2025-09-18 15:32:00.105"
        );
        assert_eq!(
            o.scheduled_time.as_ref().unwrap().as_str(),
            "2025-09-18 15:32:15.066"
        );
        assert_eq!(
            o.end_time.as_ref().unwrap().as_str(),
            "2025-09-18 15:34:41.898"
        );
        // 15:32:00.105 UTC+8 = 07:32:00.105 UTC.
        assert_eq!(
            o.submit_time.as_ref().unwrap().to_unix_millis(),
            Some(1_758_180_720_105)
        );
        let url = o.video_url().expect("video url");
        assert!(
            url.starts_with(host) && url.contains(".mp4?Expires="),
            "{url}"
        );
        let usage = r.usage.as_ref().unwrap();
        assert_eq!(usage.video_duration, Some(5.2));
        assert_eq!(usage.video_ratio, Some(VideoRatio::Standard));
        assert!(o.code.is_none() && o.extra.is_empty() && r.extra.is_empty());
    }
}

#[test]
fn failed_query_carries_code_and_message_inside_output() {
    let r: TaskResponse = parse("query_failed.json");
    assert_eq!(r.output.task_status, TaskStatus::Failed);
    assert_eq!(r.output.task_id, "fe8aa114-d9f1-4f76-b598-xxxxxx");
    assert_eq!(r.output.code.as_deref(), Some("InternalError"));
    assert_eq!(r.output.message.as_deref(), Some("xxxxxx"));
    assert!(r.usage.is_none() && r.output.video_url().is_none());
}

#[test]
fn failed_validation_query_parses() {
    let r: TaskResponse = parse("constructed/query_failed_invalid_file_aspect_ratio.json");
    assert_eq!(r.output.task_status, TaskStatus::Failed);
    assert_eq!(r.output.code.as_deref(), Some("InvalidFile.AspectRatio"));
    assert!(
        r.output
            .message
            .as_deref()
            .unwrap()
            .contains("between 3:1 and 1:3")
    );
    assert!(r.output.end_time.is_some());
}

#[test]
fn running_query_without_times_parses() {
    let r: TaskResponse = parse("query_running_move_qianwenai.json");
    assert_eq!(r.output.task_status, TaskStatus::Running);
    assert!(r.output.submit_time.is_none() && r.output.results.is_none() && r.usage.is_none());
}

#[test]
fn pending_and_canceled_queries_parse() {
    let p: TaskResponse = parse("constructed/query_pending.json");
    assert_eq!(p.output.task_status, TaskStatus::Pending);
    assert!(p.output.submit_time.is_some() && p.output.scheduled_time.is_none());
    let c: TaskResponse = parse("constructed/query_canceled.json");
    assert_eq!(c.output.task_status, TaskStatus::Canceled);
    assert!(c.output.task_status.is_terminal());
    assert_eq!(
        c.output.end_time.as_ref().unwrap().as_str(),
        "2025-09-18 15:32:05.000"
    );
}

#[test]
fn unknown_status_capture_parses() {
    // Spec §4.2, real capture: HTTP 200 with task_status UNKNOWN.
    let r: TaskResponse = serde_json::from_str(
        r#"{"request_id":"85c25460-6440-91a7-b14e-2978fe60bd0f","output":{"task_id":"1111","task_status":"UNKNOWN"}}"#,
    )
    .unwrap();
    assert_eq!(r.output.task_status, TaskStatus::Unknown);
    assert!(r.output.task_status.is_terminal());
}

#[test]
fn moderation_failure_without_request_id_parses() {
    // Spec §4.2: the documented moderation example has no request_id.
    let r: TaskResponse = serde_json::from_str(
        r#"{"output": {"task_id": "86ecf553-d340-xxx", "task_status": "FAILED",
            "code": "DataInspectionFailed", "message": "Input or output data may contain inappropriate content."}}"#,
    )
    .unwrap();
    assert!(r.request_id.is_none());
    assert_eq!(r.output.code.as_deref(), Some("DataInspectionFailed"));
}

#[test]
fn image_model_task_with_results_array_parses_and_keeps_everything() {
    let text = fixture("query_succeeded_generic_manage_tasks_doc.json");
    let r: TaskResponse = serde_json::from_str(&text).unwrap();
    assert_eq!(r.output.task_status, TaskStatus::Succeeded);
    match &r.output.results {
        Some(TaskResults::List(items)) => assert_eq!(items.len(), 4),
        other => panic!("expected a list, got {other:?}"),
    }
    assert!(r.output.video_url().is_none());
    assert!(r.output.extra.contains_key("task_metrics"));
    assert_eq!(r.usage.as_ref().unwrap().extra["image_count"], json!(3));
    // Nothing is dropped: re-serializing gives the same JSON.
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        serde_json::from_str::<Value>(&text).unwrap()
    );
}

#[test]
fn text_model_task_without_results_and_t2v_video_url_parse() {
    let r: TaskResponse = serde_json::from_str(
        r#"{"request_id":"r","output":{"task_id":"t","task_status":"SUCCEEDED","video_url":"https://x/t2v.mp4",
            "orig_prompt":"a cat","actual_prompt":"a cat"},"usage":{"video_duration":5,"video_count":1,"SR":720}}"#,
    )
    .unwrap();
    assert_eq!(r.output.video_url(), Some("https://x/t2v.mp4"));
    assert_eq!(r.usage.as_ref().unwrap().video_duration, Some(5.0));
    let r: TaskResponse =
        serde_json::from_str(r#"{"output":{"task_id":"t","task_status":"SUCCEEDED","text":"hi"}}"#)
            .unwrap();
    assert!(r.output.results.is_none() && r.output.video_url().is_none());
}

#[test]
fn cancel_response_parses() {
    let r: CancelTaskResponse = parse("cancel_task_response.json");
    assert_eq!(
        r.request_id.as_deref(),
        Some("45ac7f13-xxxx-xxxx-xxxx-e03c35068d83")
    );
}

#[test]
fn cancel_not_pending_capture_parses_as_error_body() {
    let e: ErrorBody = serde_json::from_str(
        r#"{"request_id":"4d496c94-1389-9ca9-a92a-3e732f675686","code":"UnsupportedOperation","message":"Failed to cancel the task, please confirm if the task is in PENDING status."}"#,
    )
    .unwrap();
    assert_eq!(e.code.as_deref(), Some("UnsupportedOperation"));
}

#[test]
fn list_response_is_flat_with_status_and_epoch_millis() {
    let r: ListTasksResponse = parse("list_tasks_response.json");
    assert_eq!(
        (r.total, r.total_page, r.page_no, r.page_size),
        (Some(2), Some(1), Some(1), Some(10))
    );
    assert_eq!(
        r.request_id.as_deref(),
        Some("f6756b7e-d0bb-9b74-813a-xxxxxx")
    );
    assert_eq!(r.data.len(), 2);
    let running = &r.data[0];
    assert_eq!(running.status, TaskStatus::Running);
    assert_eq!(running.task_id, "50e2ccea-abc4-43d7-a0dc-xxxxxx");
    assert_eq!(running.model_name.as_deref(), Some("wanx2.1-kf2v-plus"));
    assert_eq!(running.gmt_create, Some(EpochMillis(1_745_568_428_109)));
    assert_eq!(running.start_time, Some(EpochMillis(1_745_568_428_138)));
    assert_eq!(running.end_time, None);
    assert_eq!(running.api_key_id.as_deref(), Some("15xxxx"));
    assert_eq!(running.region.as_deref(), Some("cn-beijing"));
    assert_eq!(
        running.request_id.as_deref(),
        Some("1abfc3c8-dd25-98da-ad0b-xxxxxx")
    );
    assert!(
        running
            .user_api_unique_key
            .as_deref()
            .unwrap()
            .ends_with(":wanx2.1-kf2v-plus")
    );
    let done = &r.data[1];
    assert_eq!(done.status, TaskStatus::Succeeded);
    assert_eq!(done.end_time, Some(EpochMillis(1_745_568_302_481)));
}

#[test]
fn list_failure_body_parses() {
    let r: ListTasksResponse = serde_json::from_str(
        r#"{"request_id":"r","code":"Throttling.RateQuota","message":"Requests rate limit exceeded, please try again later.","data":null}"#,
    )
    .unwrap();
    assert_eq!(r.code.as_deref(), Some("Throttling.RateQuota"));
    assert!(r.data.is_empty());
}

#[test]
fn upload_policy_parses_numbers_and_string_booleans() {
    let r: UploadPolicyResponse = parse("upload_policy_response.json");
    let p = &r.data;
    assert_eq!(r.request_id.as_deref(), Some("52f4383a-c67d-9f8c-xxxxxx"));
    assert_eq!(p.expire_in_seconds, 300);
    assert_eq!(p.max_file_size_mb, 100);
    assert_eq!(p.capacity_limit_mb, Some(999_999_999));
    assert_eq!(p.x_oss_forbid_overwrite, "true");
    assert_eq!(p.x_oss_object_acl, "private");
    assert_eq!(p.upload_dir, "dashscope-instant/xxx/2024-07-18/xxx");
    assert_eq!(
        p.upload_host,
        "https://dashscope-file-xxx.oss-cn-beijing.aliyuncs.com"
    );
    assert_eq!(p.oss_access_key_id, "LTA...");
}

#[test]
fn upload_policy_accepts_numeric_strings_and_rejects_garbage() {
    let mut v: Value = serde_json::from_str(&fixture("upload_policy_response.json")).unwrap();
    v["data"]["expire_in_seconds"] = json!("300");
    v["data"]["max_file_size_mb"] = json!(" 1024 ");
    v["data"]["x_oss_forbid_overwrite"] = json!(true);
    let r: UploadPolicyResponse = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(
        (r.data.expire_in_seconds, r.data.max_file_size_mb),
        (300, 1024)
    );
    assert_eq!(r.data.x_oss_forbid_overwrite, "true");
    v["data"]["expire_in_seconds"] = json!("soon");
    assert!(serde_json::from_value::<UploadPolicyResponse>(v).is_err());
}

#[test]
fn oss_form_capture_names_the_fields_in_documented_order() {
    // The capture is a text rendering, not byte-exact multipart; we pin the field order
    // our uploader must reproduce, with `file` last.
    let text = fixture("upload_oss_form_request_captured.txt");
    let order = [
        "OSSAccessKeyId",
        "policy",
        "Signature",
        "key",
        "x-oss-object-acl",
        "x-oss-forbid-overwrite",
        "file",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|f| {
            text.find(&format!("name={f}"))
                .or_else(|| text.find(&format!("name=\"{f}\"")))
                .unwrap_or_else(|| panic!("{f} missing"))
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
}

#[test]
fn oss_policy_expired_xml_names_code_and_message() {
    let xml = fixture("constructed/upload_oss_error_policy_expired.xml");
    assert!(xml.contains("<Code>AccessDenied</Code>"));
    assert!(xml.contains("Policy expired."));
}

#[test]
fn error_bodies_parse_code_message_and_request_id() {
    for (name, code, msg) in [
        (
            "error_invalid_api_key_no_key.json",
            "InvalidApiKey",
            "No API-key provided.",
        ),
        (
            "constructed/error_throttling_rate_quota.json",
            "Throttling.RateQuota",
            "Requests rate limit exceeded, please try again later.",
        ),
        (
            "constructed/error_access_denied_sync_call.json",
            "AccessDenied",
            "current user api does not support synchronous calls.",
        ),
        (
            "constructed/error_data_inspection_failed.json",
            "DataInspectionFailed",
            "Input data may contain inappropriate content.",
        ),
        (
            "constructed/error_arrearage.json",
            "Arrearage",
            "Access denied, please make sure your account is in good standing.",
        ),
        (
            "constructed/error_invalid_parameter_url.json",
            "InvalidParameter",
            "The provided URL does not appear to be valid. Ensure it is correctly formatted.",
        ),
        (
            "constructed/error_model_not_exist.json",
            "InvalidParameter",
            "Model not exist.",
        ),
    ] {
        let e: ErrorBody = parse(name);
        assert_eq!(e.code.as_deref(), Some(code), "{name}");
        assert_eq!(e.message.as_deref(), Some(msg), "{name}");
        assert!(e.request_id.is_some(), "{name}");
    }
}

#[test]
fn error_body_accepts_msg_instead_of_message() {
    let e: ErrorBody = serde_json::from_str(r#"{"code":"X","msg":"m","request_id":"r"}"#).unwrap();
    assert_eq!(e.message.as_deref(), Some("m"));
}

#[test]
fn new_enum_values_are_kept_not_rejected() {
    let r: TaskResponse = serde_json::from_str(
        r#"{"output":{"task_id":"t","task_status":"SUSPENDED"},"usage":{"video_ratio":"ultra"}}"#,
    )
    .unwrap();
    assert_eq!(r.output.task_status.as_str(), "SUSPENDED");
    assert!(matches!(r.output.task_status, TaskStatus::Unrecognized(_)));
    assert!(!r.output.task_status.is_terminal());
    assert_eq!(r.usage.unwrap().video_ratio.unwrap().as_str(), "ultra");
    let req: CreateTaskRequest = serde_json::from_str(
        r#"{"model":"wan2.5-animate-next","input":{"image_url":"a","video_url":"b"},"parameters":{"mode":"wan-max"}}"#,
    )
    .unwrap();
    assert_eq!(req.model.as_str(), "wan2.5-animate-next");
    assert_eq!(
        serde_json::to_value(&req).unwrap()["parameters"]["mode"],
        "wan-max"
    );
}

#[test]
fn unknown_fields_survive_a_round_trip_at_every_level() {
    let text = r#"{"request_id":"r","future":{"a":1},"output":{"task_id":"t","task_status":"SUCCEEDED",
        "new_output_field":true,"results":{"video_url":"https://x/v.mp4","poster":"https://x/p.jpg"}},
        "usage":{"video_duration":1.5,"video_ratio":"pro","credits":3}}"#;
    let r: TaskResponse = serde_json::from_str(text).unwrap();
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        serde_json::from_str::<Value>(text).unwrap()
    );
    assert_eq!(r.output.video_url(), Some("https://x/v.mp4"));
}

#[test]
fn missing_optionals_are_none_not_errors() {
    let r: TaskResponse =
        serde_json::from_str(r#"{"output":{"task_id":"t","task_status":"PENDING"}}"#).unwrap();
    assert!(r.request_id.is_none() && r.usage.is_none() && r.output.submit_time.is_none());
    let u: Usage = serde_json::from_str("{}").unwrap();
    assert_eq!(u, Usage::default());
    let l: ListTasksResponse = serde_json::from_str("{}").unwrap();
    assert!(l.data.is_empty() && l.total.is_none());
}

#[test]
fn every_known_enum_value_round_trips_through_its_string() {
    for s in TaskStatus::KNOWN {
        assert_eq!(&TaskStatus::from(s.as_str()), s);
        assert_eq!(serde_json::to_value(s).unwrap(), json!(s.as_str()));
    }
    for m in Model::KNOWN {
        assert_eq!(&m.as_str().parse::<Model>().unwrap(), m);
    }
    for m in Mode::KNOWN {
        assert_eq!(
            m.video_ratio().unwrap().as_str(),
            if *m == Mode::Pro { "pro" } else { "standard" }
        );
    }
    assert_eq!(TaskStatus::KNOWN.len(), 6);
}

#[test]
fn list_query_pairs_round_trip() {
    let q = ListTasksQuery::new()
        .with_task_id("t")
        .with_start_time(ListTime::new("20250918000000"))
        .with_end_time(ListTime::new("20250918235959"))
        .with_model_name("wan2.2-animate-move")
        .with_status(TaskStatus::Failed)
        .with_page_no(3)
        .with_page_size(100);
    let pairs = q.to_query_pairs();
    assert_eq!(pairs.len(), 7);
    let back =
        ListTasksQuery::from_query_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str()))).unwrap();
    assert_eq!(back, q);
    assert_eq!(ListTasksQuery::new().to_query_pairs(), vec![]);
}
