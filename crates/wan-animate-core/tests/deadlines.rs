//! Every operation through a handle with a deadline ends at the deadline against a server
//! that never answers; the task-API budget paces requests on the injected clock; completion
//! signals wake a wait at once. Manual clock: nothing really sleeps.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use wan_animate_core::rt::{Clock, Sleep};
use wan_animate_core::test_util::{ManualClock, MockHttp, MockReply, RecordedRequest};
use wan_animate_core::types::{CreateTaskRequest, ListTasksQuery, Mode, Model};
use wan_animate_core::{
    Client, ClientConfig, CompletionSignals, ErrorKind, PollPolicy, RetryPolicy,
};

fn config() -> ClientConfig {
    ClientConfig::new("sk-test-SECRET123")
        .with_retry(RetryPolicy::default().without_jitter())
        .with_request_timeout(Duration::from_secs(60))
}

fn client(http: &MockHttp, clock: &ManualClock) -> Client {
    Client::builder(config())
        .http_client(http.clone())
        .sleep(clock.clone())
        .clock(clock.clone())
        .build()
        .unwrap()
}

#[tokio::test]
async fn every_operation_ends_at_the_handles_deadline_against_a_silent_server() {
    let ops = ["get", "list", "list_all", "cancel", "submit", "wait"];
    for op in ops {
        let clock = ManualClock::new();
        let http = MockHttp::new(|_| MockReply::Hang);
        let start = clock.now();
        let bounded = client(&http, &clock).with_deadline(start + Duration::from_secs(5));
        let kind = match op {
            "get" => bounded.get("t-1").await.map(|_| ()),
            "list" => bounded.list(&ListTasksQuery::new()).await.map(|_| ()),
            "list_all" => {
                let items: Vec<_> = bounded.list_all(ListTasksQuery::new()).collect().await;
                items.into_iter().collect::<Result<Vec<_>, _>>().map(|_| ())
            }
            "cancel" => bounded.cancel("t-1").await.map(|_| ()),
            "submit" => bounded
                .submit(&CreateTaskRequest::new(
                    Model::AnimateMix,
                    "https://x/p.jpg",
                    "https://x/v.mp4",
                    Mode::Standard,
                ))
                .await
                .map(|_| ()),
            _ => bounded.wait("t-1").await.map(|_| ()),
        }
        .unwrap_err()
        .kind();
        let expected = if op == "submit" {
            // The create may have reached the service: the outcome is unknown, not a timeout.
            ErrorKind::SubmitOutcomeUnknown
        } else {
            ErrorKind::Timeout
        };
        assert_eq!(kind, expected, "{op}");
        let spent = clock.now() - start;
        assert!(spent <= Duration::from_secs(5), "{op} ran {spent:?}");
        assert!(!http.requests().is_empty(), "{op} tried");
    }
}

#[tokio::test]
async fn the_earlier_deadline_of_a_handle_wins() {
    let clock = ManualClock::new();
    let c = client(&MockHttp::new(|_| MockReply::Hang), &clock);
    let t = clock.now();
    let h = c
        .with_deadline(t + Duration::from_secs(3))
        .with_deadline(t + Duration::from_secs(9));
    assert_eq!(h.deadline(), Some(t + Duration::from_secs(3)));
    assert_eq!(c.deadline(), None, "the original handle is unbounded");
}

#[tokio::test]
async fn the_task_api_budget_paces_every_wait_of_the_client() {
    let clock = ManualClock::new();
    let http = MockHttp::new(|_| {
        MockReply::json(200, r#"{"output":{"task_id":"t","task_status":"RUNNING"}}"#)
    });
    let c = Client::builder(config())
        .http_client(http.clone())
        .sleep(clock.clone())
        .clock(clock.clone())
        .task_api_rate(2.0)
        .build()
        .unwrap();
    let other_handle = c.clone();
    for i in 0..10 {
        let h = if i % 2 == 0 { &c } else { &other_handle };
        h.get("t").await.unwrap();
    }
    // A burst of 2, then 8 more at 2 per second.
    assert_eq!(clock.slept(), Duration::from_secs(4));
    assert_eq!(http.requests().len(), 10);
    for bad in [0.0, f64::NAN, -3.0, 1e-300] {
        let e = Client::builder(config())
            .http_client(http.clone())
            .task_api_rate(bad)
            .build()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{bad}");
    }
}

/// A sleep that never ends: only a completion signal can move a wait on.
#[derive(Debug, Clone)]
struct Forever;
impl Sleep for Forever {
    async fn sleep(&self, _: Duration) {
        std::future::pending::<()>().await
    }
}

#[tokio::test]
async fn a_completion_signal_makes_the_wait_query_at_once() {
    let signals = CompletionSignals::new();
    let gets = Arc::new(AtomicUsize::new(0));
    let http = MockHttp::new({
        let gets = gets.clone();
        let signals = signals.clone();
        move |_: &RecordedRequest| {
            if gets.fetch_add(1, Ordering::SeqCst) == 0 {
                // The push notification arrives while the task runs.
                assert!(signals.notify("t-1"), "the wait listens from its start");
                MockReply::json(
                    200,
                    r#"{"output":{"task_id":"t-1","task_status":"RUNNING"}}"#,
                )
            } else {
                MockReply::json(
                    200,
                    r#"{"output":{"task_id":"t-1","task_status":"SUCCEEDED","results":{"video_url":"https://r/v.mp4"}}}"#,
                )
            }
        }
    });
    let c = Client::builder(config())
        .http_client(http.clone())
        .sleep(Forever)
        .completion_signals(signals.clone())
        .build()
        .unwrap();
    // Bounded in real time only as a guard: without the signal this wait never ends.
    let done = tokio::time::timeout(Duration::from_secs(30), c.wait("t-1"))
        .await
        .expect("the signal woke the wait")
        .unwrap();
    assert_eq!(done.output.video_url(), Some("https://r/v.mp4"));
    assert_eq!(gets.load(Ordering::SeqCst), 2);
    assert!(
        !signals.is_waited_on("t-1"),
        "the finished wait stopped listening"
    );
}

#[tokio::test]
async fn with_signals_configured_the_wait_polls_only_at_the_safety_interval() {
    let clock = ManualClock::new();
    let gets = Arc::new(AtomicUsize::new(0));
    let http = MockHttp::new({
        let gets = gets.clone();
        move |_: &RecordedRequest| {
            let status = if gets.fetch_add(1, Ordering::SeqCst) < 2 {
                "RUNNING"
            } else {
                "SUCCEEDED"
            };
            MockReply::json(
                200,
                &format!(r#"{{"output":{{"task_id":"t-1","task_status":"{status}"}}}}"#),
            )
        }
    });
    let c = Client::builder(config())
        .http_client(http)
        .sleep(clock.clone())
        .clock(clock.clone())
        .completion_signals(CompletionSignals::new())
        .build()
        .unwrap();
    let policy = PollPolicy::default().with_signal_safety_interval(Duration::from_secs(120));
    c.wait_with("t-1", &policy).await.unwrap();
    assert_eq!(clock.sleeps(), [Duration::from_secs(120); 2]);
}
