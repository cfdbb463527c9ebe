//! Polling with a fake clock: the request schedule, the deadline cutting a request in
//! flight, each terminal status, cancel-on-deadline, and the order of events.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use wan_animate_core::test_util::{ManualClock, MockHttp, MockReply, RecordedRequest};
use wan_animate_core::{Client, ClientConfig, ErrorKind, PollPolicy, RetryPolicy, TaskEvent};

fn task(status: &str, extra: &str) -> MockReply {
    MockReply::json(
        200,
        &format!(
            r#"{{"request_id":"rid","output":{{"task_id":"t-1","task_status":"{status}"{extra}}}}}"#
        ),
    )
}

/// Answers GETs with the scripted statuses in order (the last one repeats); `None` hangs.
fn scripted(statuses: Vec<Option<&'static str>>) -> MockHttp {
    let queue = Arc::new(Mutex::new(statuses));
    MockHttp::new(move |req: &RecordedRequest| {
        if req.path().ends_with("/cancel") {
            return MockReply::json(200, r#"{"request_id":"rid-cancel"}"#);
        }
        let mut q = queue.lock().unwrap();
        let next = if q.len() > 1 { q.remove(0) } else { q[0] };
        match next {
            Some("SUCCEEDED") => task("SUCCEEDED", r#","results":{"video_url":"https://r/v.mp4"}"#),
            Some("FAILED") => task("FAILED", r#","code":"InternalError","message":"boom""#),
            Some("MODERATED") => task(
                "FAILED",
                r#","code":"DataInspectionFailed","message":"Input data may contain inappropriate content.""#,
            ),
            Some(s) => task(s, ""),
            None => MockReply::Hang,
        }
    })
}

fn client(http: MockHttp, clock: &ManualClock) -> Client {
    let config = ClientConfig::new("sk-test-SECRET123")
        .with_retry(RetryPolicy::default().without_jitter())
        .with_request_timeout(Duration::from_secs(60));
    Client::builder(config)
        .http_client(http)
        .sleep(clock.clone())
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn policy() -> PollPolicy {
    PollPolicy::default()
        .with_initial_delay(Duration::from_secs(5))
        .with_multiplier(2.0)
        .with_max_delay(Duration::from_secs(15))
        .without_jitter()
}

#[tokio::test]
async fn the_request_schedule_grows_by_the_multiplier_up_to_the_cap() {
    let clock = ManualClock::new();
    let http = scripted(vec![
        Some("PENDING"),
        Some("PENDING"),
        Some("RUNNING"),
        Some("RUNNING"),
        Some("RUNNING"),
        Some("SUCCEEDED"),
    ]);
    let done = client(http.clone(), &clock)
        .wait_with("t-1", &policy())
        .await
        .unwrap();
    assert_eq!(done.output.video_url(), Some("https://r/v.mp4"));
    assert_eq!(clock.sleeps(), [5, 10, 15, 15, 15].map(Duration::from_secs));
    assert_eq!(http.count("GET", "/tasks/t-1"), 6);
}

#[tokio::test]
async fn the_deadline_cuts_a_request_in_flight() {
    let clock = ManualClock::new();
    let start = wan_animate_core::rt::Clock::now(&clock);
    let http = scripted(vec![Some("PENDING"), None]);
    let e = client(http, &clock)
        .wait_with("t-1", &policy().with_max_wait(Duration::from_secs(30)))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert_eq!(e.task_id(), Some("t-1"));
    assert!(e.to_string().contains("PENDING"), "{e}");
    let waited = wan_animate_core::rt::Clock::now(&clock) - start;
    // 5 s sleep, then the hung request is cut at the 30 s deadline, not at its own 60 s timeout.
    assert_eq!(waited, Duration::from_secs(30));
}

#[tokio::test]
async fn each_terminal_status_ends_the_wait_with_its_own_outcome() {
    for (status, expected) in [
        ("FAILED", Some(ErrorKind::TaskFailed)),
        ("MODERATED", Some(ErrorKind::ContentModeration)),
        ("CANCELED", Some(ErrorKind::TaskCanceled)),
        ("UNKNOWN", Some(ErrorKind::TaskUnknown)),
        ("SUCCEEDED", None),
    ] {
        let clock = ManualClock::new();
        let http = scripted(vec![Some("RUNNING"), Some(status)]);
        let result = client(http.clone(), &clock)
            .wait_with("t-1", &policy())
            .await;
        match expected {
            Some(kind) => {
                let e = result.unwrap_err();
                assert_eq!(e.kind(), kind, "{status}");
                assert_eq!(
                    e.task_id(),
                    Some("t-1"),
                    "{status}: the task id is never lost"
                );
            }
            None => assert!(result.is_ok()),
        }
        assert_eq!(
            http.requests().len(),
            2,
            "{status}: the wait stops at the terminal status"
        );
    }
}

#[tokio::test]
async fn a_failed_task_carries_the_service_code_and_message() {
    let clock = ManualClock::new();
    let e = client(scripted(vec![Some("FAILED")]), &clock)
        .wait("t-1")
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Some("InternalError"), Some("boom"))
    );
    assert_eq!(e.request_id(), Some("rid"));
}

#[tokio::test]
async fn cancel_on_deadline_cancels_a_pending_task_once_and_never_a_running_one() {
    for (status, cancels) in [("PENDING", 1usize), ("RUNNING", 0)] {
        let clock = ManualClock::new();
        let http = scripted(vec![Some(status)]);
        let p = policy()
            .with_max_wait(Duration::from_secs(20))
            .with_cancel_on_deadline(true);
        let e = client(http.clone(), &clock)
            .wait_with("t-1", &p)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert_eq!(http.count("POST", "/cancel"), cancels, "{status}");
        if cancels == 1 {
            assert!(e.to_string().contains("has been canceled"), "{e}");
        }
    }
}

#[tokio::test]
async fn without_cancel_on_deadline_nothing_is_canceled() {
    let clock = ManualClock::new();
    let http = scripted(vec![Some("PENDING")]);
    let _ = client(http.clone(), &clock)
        .wait_with("t-1", &policy().with_max_wait(Duration::from_secs(20)))
        .await;
    assert_eq!(http.count("POST", "/cancel"), 0);
}

#[tokio::test]
async fn events_come_in_order_and_only_on_changes() {
    let clock = ManualClock::new();
    let http = scripted(vec![
        Some("PENDING"),
        Some("PENDING"),
        Some("RUNNING"),
        Some("RUNNING"),
        Some("SUCCEEDED"),
    ]);
    let c = client(http, &clock);
    let events: Vec<_> = c.watch_with("t-1", &policy()).collect().await;
    let names: Vec<String> = events
        .iter()
        .map(|e| match e.as_ref().unwrap() {
            TaskEvent::Status { task, previous, .. } => format!(
                "{}<-{}",
                task.output.task_status,
                previous.as_ref().map(|p| p.as_str()).unwrap_or("none")
            ),
            TaskEvent::Finished(_) => "finished".into(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        names,
        [
            "PENDING<-none",
            "RUNNING<-PENDING",
            "SUCCEEDED<-RUNNING",
            "finished"
        ]
    );
}

#[tokio::test]
async fn transient_query_errors_are_retried_inside_the_wait() {
    let clock = ManualClock::new();
    let calls = Arc::new(Mutex::new(0));
    let http = MockHttp::new({
        let calls = calls.clone();
        move |_| {
            let mut n = calls.lock().unwrap();
            *n += 1;
            match *n {
                1 => MockReply::json(503, r#"{"code":"ModelUnavailable","message":"try later"}"#),
                _ => task("SUCCEEDED", r#","results":{"video_url":"https://r/v.mp4"}"#),
            }
        }
    });
    assert!(
        client(http, &clock)
            .wait_with("t-1", &policy())
            .await
            .is_ok()
    );
    assert_eq!(*calls.lock().unwrap(), 2);
}
