//! How many requests reach the server and which error kind comes out, for every failure
//! mode × operation. Fake clock: nothing really sleeps. Submit must reach the server at most
//! once on every ambiguous failure, and the reconcile path adopts the existing task.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wan_animate_core::http::TransportError;
use wan_animate_core::test_util::{ManualClock, MockHttp, MockReply, RecordedRequest};
use wan_animate_core::types::{CreateTaskRequest, EpochMillis, ListTasksQuery, Mode, Model};
use wan_animate_core::{Client, ClientConfig, ErrorKind, RetryPolicy};

const CREATE: &str = "/api/v1/services/aigc/image2video/video-synthesis";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Failure {
    ConnectRefused,
    RateQuota429,
    AllocationQuota429,
    TimeoutAfterSend,
    ResetMidResponse,
    Internal500,
    Unavailable503,
    InvalidApiKey401,
    InvalidParameter400,
    Arrearage400,
}

const ALL: [Failure; 10] = [
    Failure::ConnectRefused,
    Failure::RateQuota429,
    Failure::AllocationQuota429,
    Failure::TimeoutAfterSend,
    Failure::ResetMidResponse,
    Failure::Internal500,
    Failure::Unavailable503,
    Failure::InvalidApiKey401,
    Failure::InvalidParameter400,
    Failure::Arrearage400,
];

fn error_reply(status: u16, code: &str, message: &str) -> MockReply {
    MockReply::json(
        status,
        &format!(r#"{{"request_id":"rid-err","code":"{code}","message":"{message}"}}"#),
    )
}

fn failure_reply(f: Failure) -> MockReply {
    match f {
        Failure::ConnectRefused => MockReply::Fail(TransportError::connect("connection refused")),
        Failure::RateQuota429 => error_reply(
            429,
            "Throttling.RateQuota",
            "Requests rate limit exceeded, please try again later.",
        )
        .with_header("retry-after", "2"),
        Failure::AllocationQuota429 => error_reply(
            429,
            "Throttling.AllocationQuota",
            "Allocated quota exceeded, please increase your quota limit.",
        ),
        Failure::TimeoutAfterSend => MockReply::Hang,
        Failure::ResetMidResponse => MockReply::Truncated {
            status: 200,
            partial: bytes::Bytes::from_static(br#"{"output":{"task_id":"#),
        },
        Failure::Internal500 => error_reply(500, "InternalError", "An internal error has occured"),
        Failure::Unavailable503 => error_reply(
            503,
            "ModelUnavailable",
            "Model is unavailable, try again later.",
        ),
        Failure::InvalidApiKey401 => error_reply(401, "InvalidApiKey", "Invalid API-key provided."),
        Failure::InvalidParameter400 => {
            error_reply(400, "InvalidParameter", "Field required: input.image_url")
        }
        Failure::Arrearage400 => error_reply(
            400,
            "Arrearage",
            "Access denied, please make sure your account is in good standing.",
        ),
    }
}

fn fatal_kind(f: Failure) -> Option<ErrorKind> {
    match f {
        Failure::InvalidApiKey401 => Some(ErrorKind::Auth),
        Failure::InvalidParameter400 => Some(ErrorKind::InvalidInput),
        Failure::Arrearage400 => Some(ErrorKind::QuotaOrBilling),
        _ => None,
    }
}

fn ambiguous_for_submit(f: Failure) -> bool {
    matches!(
        f,
        Failure::TimeoutAfterSend
            | Failure::ResetMidResponse
            | Failure::Internal500
            | Failure::Unavailable503
    )
}

/// A service where the first request to `target` fails with `failure` and everything else
/// succeeds. A failed create still creates the task (the worst case for paying twice); the
/// task list then shows `list_tasks` tasks of the model created at that moment: the first
/// is the failed create's (its `request_id` is the error answer's, `rid-err`), the others
/// are other requests'.
fn service(
    clock: ManualClock,
    target: &'static str,
    target_method: &'static str,
    failure: Failure,
    list_tasks: usize,
) -> MockHttp {
    let failed = Arc::new(AtomicUsize::new(0));
    let created_at = Arc::new(Mutex::new(None::<i64>));
    MockHttp::new(move |req: &RecordedRequest| {
        let now = EpochMillis::from_system_time(wan_animate_core::rt::Clock::wall_now(&clock))
            .as_millis();
        let is_target = req.path() == target && req.method.as_str() == target_method;
        if is_target && failed.fetch_add(1, Ordering::SeqCst) == 0 {
            *created_at.lock().unwrap() = Some(now);
            return failure_reply(failure);
        }
        match (req.method.as_str(), req.path()) {
            ("POST", CREATE) => MockReply::json(
                200,
                r#"{"output":{"task_id":"new-task","task_status":"PENDING"},"request_id":"rid-create"}"#,
            ),
            ("GET", "/api/v1/tasks") => {
                let at = created_at.lock().unwrap().unwrap_or(now);
                let data: Vec<String> = (0..list_tasks)
                    .map(|i| {
                        let rid = if i == 0 { "rid-err".to_owned() } else { format!("rid-orig-{i}") };
                        format!(r#"{{"task_id":"existing-{i}","status":"PENDING","model_name":"wan2.2-animate-mix","gmt_create":{at},"request_id":"{rid}"}}"#)
                    })
                    .collect();
                MockReply::json(
                    200,
                    &format!(
                        r#"{{"request_id":"rid-list","total":{list_tasks},"total_page":1,"page_no":1,"page_size":100,"data":[{}]}}"#,
                        data.join(",")
                    ),
                )
            }
            ("GET", p) if p.starts_with("/api/v1/tasks/") => MockReply::json(
                200,
                r#"{"request_id":"rid-get","output":{"task_id":"t-1","task_status":"RUNNING"}}"#,
            ),
            ("POST", p) if p.ends_with("/cancel") => {
                MockReply::json(200, r#"{"request_id":"rid-cancel"}"#)
            }
            _ => MockReply::json(404, r#"{"code":"NotFound","message":"Not found!"}"#),
        }
    })
}

fn client(http: MockHttp, clock: ManualClock) -> Client {
    let config = ClientConfig::new("sk-test-SECRET123")
        .with_retry(RetryPolicy::default().without_jitter())
        .with_request_timeout(Duration::from_secs(30));
    Client::builder(config)
        .http_client(http)
        .sleep(clock.clone())
        .clock(clock)
        .build()
        .unwrap()
}

fn request() -> CreateTaskRequest {
    CreateTaskRequest::new(
        Model::AnimateMix,
        "https://x/p.jpg",
        "https://x/v.mp4",
        Mode::Standard,
    )
}

#[tokio::test]
async fn submit_reaches_the_server_at_most_once_on_every_ambiguous_failure() {
    for f in ALL {
        let clock = ManualClock::new();
        let http = service(clock.clone(), CREATE, "POST", f, 1);
        let c = client(http.clone(), clock.clone());
        let result = c.submit(&request()).await;
        let posts = http.count("POST", "/video-synthesis");
        match (fatal_kind(f), ambiguous_for_submit(f)) {
            (Some(kind), _) => {
                assert_eq!(posts, 1, "{f:?}");
                assert_eq!(result.unwrap_err().kind(), kind, "{f:?}");
            }
            (None, true) => {
                assert_eq!(
                    posts, 1,
                    "{f:?}: an ambiguous failure must never be resubmitted"
                );
                let task = result.unwrap_or_else(|e| panic!("{f:?}: {e}"));
                assert!(task.adopted, "{f:?}");
                assert_eq!(task.task_id, "existing-0", "{f:?}");
                assert_eq!(
                    http.count("GET", "/api/v1/tasks"),
                    1,
                    "{f:?}: one reconcile listing"
                );
            }
            (None, false) => {
                // Provably not created (connect refused) or rejected by throttling: retried once.
                assert_eq!(posts, 2, "{f:?}");
                let task = result.unwrap_or_else(|e| panic!("{f:?}: {e}"));
                assert_eq!(
                    (task.task_id.as_str(), task.adopted),
                    ("new-task", false),
                    "{f:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn throttled_submit_honours_retry_after() {
    let clock = ManualClock::new();
    let http = service(clock.clone(), CREATE, "POST", Failure::RateQuota429, 0);
    client(http, clock.clone())
        .submit(&request())
        .await
        .unwrap();
    assert!(
        clock.slept() >= Duration::from_secs(2),
        "slept {:?}",
        clock.slept()
    );
}

#[tokio::test]
async fn ambiguous_submit_with_no_or_several_candidates_says_the_task_may_exist() {
    // Without a request id to match (a timeout), two tasks in the window are two candidates.
    for (candidates, failure, needle) in [
        (0usize, Failure::Internal500, "no matching task"),
        (2, Failure::TimeoutAfterSend, "existing-0 (PENDING"),
        (2, Failure::TimeoutAfterSend, "existing-1 (PENDING"),
    ] {
        let clock = ManualClock::new();
        let http = service(clock.clone(), CREATE, "POST", failure, candidates);
        let e = client(http.clone(), clock)
            .submit(&request())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SubmitOutcomeUnknown);
        assert!(e.task_may_exist());
        assert!(e.to_string().contains(needle), "{e}");
        assert!(e.to_string().contains("may have been created"), "{e}");
        assert_eq!(
            http.count("POST", "/video-synthesis"),
            1,
            "never a second submit"
        );
    }
}

#[tokio::test]
async fn a_task_this_client_created_is_never_adopted_for_another_request() {
    let clock = ManualClock::new();
    // The list shows the task this client created a moment ago, and nothing else.
    let http = MockHttp::new({
        let clock = clock.clone();
        let posts = Arc::new(AtomicUsize::new(0));
        move |req: &RecordedRequest| {
            let now = EpochMillis::from_system_time(wan_animate_core::rt::Clock::wall_now(&clock))
                .as_millis();
            match (req.method.as_str(), req.path()) {
                ("POST", CREATE) if posts.fetch_add(1, Ordering::SeqCst) == 0 => MockReply::json(
                    200,
                    r#"{"output":{"task_id":"first","task_status":"PENDING"}}"#,
                ),
                ("POST", CREATE) => error_reply(500, "InternalError", "boom"),
                _ => MockReply::json(
                    200,
                    &format!(
                        r#"{{"total":1,"total_page":1,"page_no":1,"data":[{{"task_id":"first","status":"PENDING","model_name":"wan2.2-animate-mix","gmt_create":{now}}}]}}"#
                    ),
                ),
            }
        }
    });
    let c = client(http, clock);
    assert_eq!(c.submit(&request()).await.unwrap().task_id, "first");
    let e = c.submit(&request()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SubmitOutcomeUnknown, "{e}");
}

async fn run_idempotent(op: &str, f: Failure) -> (usize, Result<(), wan_animate_core::Error>) {
    let clock = ManualClock::new();
    let (path, method, suffix): (&'static str, &'static str, &'static str) = match op {
        "get" => ("/api/v1/tasks/t-1", "GET", "/tasks/t-1"),
        "list" => ("/api/v1/tasks", "GET", "/api/v1/tasks"),
        _ => ("/api/v1/tasks/t-1/cancel", "POST", "/cancel"),
    };
    let http = service(clock.clone(), path, method, f, 0);
    let c = client(http.clone(), clock);
    let result = match op {
        "get" => c.get("t-1").await.map(|_| ()),
        "list" => c.list(&ListTasksQuery::new()).await.map(|_| ()),
        _ => c.cancel("t-1").await.map(|_| ()),
    };
    (http.count(method, suffix), result)
}

#[tokio::test]
async fn get_list_and_cancel_retry_transient_failures_once_and_stop_on_fatal_ones() {
    for op in ["get", "list", "cancel"] {
        for f in ALL {
            let (requests, result) = run_idempotent(op, f).await;
            match fatal_kind(f) {
                Some(kind) => {
                    assert_eq!(requests, 1, "{op} {f:?}");
                    let e = result.unwrap_err();
                    assert_eq!(e.kind(), kind, "{op} {f:?}");
                    assert!(
                        e.request_id().is_some(),
                        "{op} {f:?}: the request id is kept"
                    );
                }
                None => {
                    assert_eq!(requests, 2, "{op} {f:?}");
                    result.unwrap_or_else(|e| panic!("{op} {f:?}: {e}"));
                }
            }
        }
    }
}

#[tokio::test]
async fn persistent_throttling_ends_as_throttled_after_the_attempts() {
    let clock = ManualClock::new();
    let http = MockHttp::new(|_| {
        error_reply(429, "Throttling.RateQuota", "slow down").with_header("retry-after", "1")
    });
    let e = client(http.clone(), clock.clone())
        .get("t")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Throttled);
    assert_eq!(
        http.requests().len(),
        5,
        "the default policy makes 5 attempts"
    );
    assert_eq!(
        clock.sleeps(),
        [1, 2, 4, 8].map(Duration::from_secs),
        "exponential backoff, at least Retry-After"
    );
}
