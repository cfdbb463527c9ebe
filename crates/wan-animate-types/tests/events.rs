//! The EventBridge completion event (spec §17): the constructed fixtures parse to the values
//! they contain, round-trip without losing fields, and the shapes the documentation leaves
//! open (times as numbers or strings, ids as numbers, new fields and statuses) all parse.

use serde_json::{Value, json};
use wan_animate_types::*;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/events/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse(name: &str) -> TaskCompletionEvent {
    serde_json::from_str(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every fixture in `fixtures/events/` must be exercised here (wire.rs checks the others).
#[test]
fn every_event_fixture_is_covered_by_a_test() {
    let source = include_str!("events.rs");
    let dir = format!("{}/tests/fixtures/events", env!("CARGO_MANIFEST_DIR"));
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".json") && !source.contains(&format!("\"{name}\"")) {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "fixtures without a test: {missing:?}");
}

#[test]
fn succeeded_event_parses_every_documented_field() {
    let e = parse("eventbridge_async_task_finish.json");
    assert_eq!(e.specversion.as_deref(), Some("1.0"));
    assert_eq!(e.id, "45ef4dfe-0000-4000-8000-3f1d2c5b6a7e");
    assert_eq!(e.source, "acs.dashscope");
    assert_eq!(e.event_type, "dashscope:System:AsyncTaskFinish");
    assert!(e.is_task_finish());
    assert_eq!(
        e.datacontenttype.as_deref(),
        Some("application/json;charset=utf-8")
    );
    assert_eq!(
        e.time,
        Some(EventTime::Text("2026-11-24T01:45:16.993Z".into()))
    );
    assert_eq!(
        e.time.as_ref().unwrap().to_unix_millis(),
        Some(1_795_484_716_993)
    );
    assert_eq!(e.aliyunaccountid.as_deref(), Some("1493478651020171"));
    assert_eq!(e.aliyunpublishtime, e.time);
    assert_eq!(e.aliyuneventbusname.as_deref(), Some("default"));
    assert_eq!(e.aliyunregionid.as_deref(), Some("cn-beijing"));
    assert_eq!(e.subject, None);
    assert!(e.extra.is_empty(), "{:?}", e.extra);

    let d = &e.data;
    assert_eq!(d.task_id, "0385dc79-5ff8-4d82-bcb6-000000000001");
    assert_eq!(d.task_status, TaskStatus::Succeeded);
    assert_eq!(d.region.as_deref(), Some("cn-beijing"));
    assert_eq!(
        d.request_id.as_deref(),
        Some("4909100c-7b5a-9f92-bfe5-000000000001")
    );
    assert_eq!(d.api_key_id.as_deref(), Some("42677"));
    assert_eq!(d.model(), Some(Model::AnimateMix));
    assert_eq!(
        d.start_time,
        Some(EventTime::Millis(EpochMillis(1_763_948_700_000)))
    );
    assert_eq!(
        d.end_time.as_ref().and_then(EventTime::to_epoch_millis),
        Some(EpochMillis(1_763_948_716_000))
    );
    assert!(d.extra.is_empty(), "{:?}", d.extra);
}

#[test]
fn failed_event_parses_with_its_status() {
    let e = parse("eventbridge_async_task_finish_failed.json");
    assert!(e.is_task_finish());
    assert_eq!(e.data.task_status, TaskStatus::Failed);
    assert!(e.data.task_status.is_terminal());
    assert_eq!(e.data.task_id, "0385dc79-5ff8-4d82-bcb6-000000000002");
}

#[test]
fn fixtures_round_trip_to_the_same_json() {
    for name in [
        "eventbridge_async_task_finish.json",
        "eventbridge_async_task_finish_failed.json",
    ] {
        let original: Value = serde_json::from_str(&fixture(name)).unwrap();
        let event: TaskCompletionEvent = serde_json::from_value(original.clone()).unwrap();
        assert_eq!(serde_json::to_value(&event).unwrap(), original, "{name}");
    }
}

#[test]
fn unknown_fields_and_statuses_are_kept_at_both_levels() {
    let mut v: Value =
        serde_json::from_str(&fixture("eventbridge_async_task_finish.json")).unwrap();
    v["aliyunnewattribute"] = json!({"nested": [1, 2]});
    v["data"]["task_status"] = json!("ARCHIVED");
    v["data"]["task_metrics"] = json!({"TOTAL": 1});
    let e: TaskCompletionEvent = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(e.data.task_status.as_str(), "ARCHIVED");
    assert!(!e.data.task_status.is_terminal());
    assert_eq!(e.extra["aliyunnewattribute"], json!({"nested": [1, 2]}));
    assert_eq!(e.data.extra["task_metrics"], json!({"TOTAL": 1}));
    assert_eq!(serde_json::to_value(&e).unwrap(), v);
}

#[test]
fn times_accept_numbers_or_strings_and_keep_their_form() {
    let mut v: Value =
        serde_json::from_str(&fixture("eventbridge_async_task_finish.json")).unwrap();
    for (start, end) in [
        (json!("1763948700000"), json!("1763948716000")),
        (
            json!("2025-11-24T01:45:00Z"),
            json!("2025-11-24T01:45:16.000Z"),
        ),
        (
            json!("2025-11-24 09:45:00.000"),
            json!("2025-11-24 09:45:16"),
        ),
        (json!(1763948700000.0), json!(1763948716000u64)),
    ] {
        v["data"]["start_time"] = start.clone();
        v["data"]["end_time"] = end.clone();
        let e: TaskCompletionEvent =
            serde_json::from_value(v.clone()).unwrap_or_else(|err| panic!("{start} {end}: {err}"));
        let d = &e.data;
        assert_eq!(
            d.start_time.as_ref().unwrap().to_unix_millis(),
            Some(1_763_948_700_000),
            "{start}"
        );
        assert_eq!(
            d.end_time.as_ref().unwrap().to_unix_millis(),
            Some(1_763_948_716_000),
            "{end}"
        );
        if start.is_string() {
            assert_eq!(
                serde_json::to_value(&e).unwrap(),
                v,
                "string times re-serialize verbatim"
            );
        }
    }
}

#[test]
fn optional_fields_may_be_missing_or_null() {
    let e: TaskCompletionEvent = serde_json::from_value(json!({
        "id": "e", "source": "acs.dashscope", "type": "dashscope:System:AsyncTaskFinish",
        "time": null,
        "data": {"task_id": "t", "task_status": "CANCELED", "start_time": null, "api_key_id": 42677}
    }))
    .unwrap();
    assert_eq!(e.specversion, None);
    assert_eq!(e.time, None);
    assert_eq!(e.data.start_time, None);
    assert_eq!(e.data.api_key_id.as_deref(), Some("42677"));
    assert_eq!(e.data.model(), None);
}

#[test]
fn events_without_task_id_or_status_are_rejected() {
    for data in [
        json!({"task_status": "SUCCEEDED"}),
        json!({"task_id": "t"}),
        json!(null),
    ] {
        let body = json!({"id": "e", "source": "acs.dashscope",
                          "type": "dashscope:System:AsyncTaskFinish", "data": data});
        assert!(
            serde_json::from_value::<TaskCompletionEvent>(body).is_err(),
            "{data}"
        );
    }
    let bad_time = json!({"id": "e", "source": "s", "type": "t",
        "data": {"task_id": "t", "task_status": "FAILED", "end_time": {"ms": 1}}});
    let err = serde_json::from_value::<TaskCompletionEvent>(bad_time).unwrap_err();
    assert!(
        err.to_string().contains("epoch milliseconds or a string"),
        "{err}"
    );
}

#[test]
fn other_sources_and_types_are_not_task_finish_events() {
    let mut e = TaskCompletionEvent::new("e", "t", TaskStatus::Succeeded);
    assert!(e.is_task_finish());
    e.event_type = "dashscope:System:SomethingElse".into();
    assert!(!e.is_task_finish());
}

#[test]
fn model_comes_from_the_key_suffix() {
    let d = TaskCompletionData::new("t", TaskStatus::Succeeded)
        .with_user_api_unique_key("apikey:v1:aigc:image2video:video-synthesis:wan2.6-i2v");
    assert_eq!(d.model().unwrap().as_str(), "wan2.6-i2v");
    let empty = TaskCompletionData::new("t", TaskStatus::Succeeded).with_user_api_unique_key("a:");
    assert_eq!(empty.model(), None);
}

#[test]
fn a_built_event_serializes_like_the_fixture() {
    let fixture: Value =
        serde_json::from_str(&fixture("eventbridge_async_task_finish.json")).unwrap();
    let at = EventTime::Text("2026-11-24T01:45:16.993Z".into());
    let mut built = TaskCompletionEvent::new(
        "45ef4dfe-0000-4000-8000-3f1d2c5b6a7e",
        "0385dc79-5ff8-4d82-bcb6-000000000001",
        TaskStatus::Succeeded,
    )
    .with_time(at)
    .with_region("cn-beijing");
    built.aliyunaccountid = Some("1493478651020171".into());
    built.aliyuneventbusname = Some("default".into());
    let mut data = built
        .data
        .clone()
        .with_request_id("4909100c-7b5a-9f92-bfe5-000000000001")
        .with_model(&Model::AnimateMix)
        .with_times(
            Some(EpochMillis(1_763_948_700_000).into()),
            Some(EpochMillis(1_763_948_716_000).into()),
        );
    data.api_key_id = Some("42677".into());
    let built = built.with_data(data);
    assert_eq!(serde_json::to_value(&built).unwrap(), fixture);
}
