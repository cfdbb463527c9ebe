//! Reconciliation after an ambiguous create never adopts a task that is not provably this
//! request's: request ids, a window in server time, locally known ids, other keys, bounded
//! list scans. Scripted server on a manual clock: nothing really sleeps.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use wan_animate_core::rt::{Clock, http_date};
use wan_animate_core::test_util::{ManualClock, MockHttp, MockReply, RecordedRequest};
use wan_animate_core::types::{CreateTaskRequest, EpochMillis, ListTasksQuery, Mode, Model};
use wan_animate_core::{
    Client, ClientConfig, ErrorKind, JournalEntry, ReconcileRequest, Reconciled, RetryPolicy,
    TaskJournal,
};

const CREATE: &str = "/api/v1/services/aigc/image2video/video-synthesis";
const MIX: &str = "wan2.2-animate-mix";

fn ms(t: SystemTime) -> i64 {
    EpochMillis::from_system_time(t).as_millis()
}

/// A list entry of model `MIX`.
fn entry(id: &str, created_ms: i64, request_id: &str, key: &str) -> String {
    format!(
        r#"{{"task_id":"{id}","status":"PENDING","model_name":"{MIX}","gmt_create":{created_ms},"request_id":"{request_id}","api_key_id":"{key}"}}"#
    )
}

fn page(entries: &[String]) -> MockReply {
    MockReply::json(
        200,
        &format!(
            r#"{{"request_id":"rid-list","total":{n},"total_page":1,"page_no":1,"page_size":100,"data":[{}]}}"#,
            entries.join(","),
            n = entries.len()
        ),
    )
}

/// How the create fails.
#[derive(Clone, Copy)]
enum CreateFails {
    /// 500 with request id `rid-500`, after `secs` of processing.
    With500 { secs: u64 },
    /// No answer (the client's request timeout cuts it).
    Hang,
}

/// The scripted service. `list` builds the task list from the (server-time) moments the
/// create arrived and failed. Every answer carries a `Date` in server time, `skew` ahead of
/// the local clock.
fn service(
    clock: &ManualClock,
    create: CreateFails,
    skew: Duration,
    list: impl Fn(i64, i64) -> Vec<String> + Send + Sync + 'static,
) -> MockHttp {
    let clock = clock.clone();
    let window = Arc::new(Mutex::new((0i64, 0i64)));
    let posts = Arc::new(AtomicUsize::new(0));
    MockHttp::new(move |req: &RecordedRequest| {
        let server_now = clock.wall_now() + skew;
        let date = http_date(server_now);
        match (req.method.as_str(), req.path()) {
            ("POST", CREATE) if posts.fetch_add(1, Ordering::SeqCst) == 0 => {
                let arrived = ms(server_now);
                match create {
                    CreateFails::With500 { secs } => {
                        clock.advance(Duration::from_secs(secs));
                        *window.lock().unwrap() = (arrived, ms(clock.wall_now() + skew));
                        MockReply::json(
                            500,
                            r#"{"request_id":"rid-500","code":"InternalError","message":"An internal error has occured"}"#,
                        )
                        .with_header("date", &http_date(clock.wall_now() + skew))
                    }
                    CreateFails::Hang => {
                        *window.lock().unwrap() = (arrived, arrived);
                        MockReply::Hang
                    }
                }
            }
            ("POST", CREATE) => MockReply::json(
                200,
                r#"{"output":{"task_id":"second","task_status":"PENDING"},"request_id":"rid-second"}"#,
            )
            .with_header("date", &date),
            ("GET", "/api/v1/tasks") => {
                let (arrived, failed) = *window.lock().unwrap();
                page(&list(arrived, failed)).with_header("date", &date)
            }
            _ => MockReply::json(404, r#"{"code":"NotFound","message":"Not found!"}"#),
        }
    })
}

fn client(http: &MockHttp, clock: &ManualClock) -> Client {
    let config = ClientConfig::new("sk-test-SECRET123")
        .with_retry(RetryPolicy::default().without_jitter())
        .with_request_timeout(Duration::from_secs(30));
    Client::builder(config)
        .http_client(http.clone())
        .sleep(clock.clone())
        .clock(clock.clone())
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
async fn another_keys_task_created_during_a_failed_create_is_not_adopted() {
    let clock = ManualClock::new();
    // The create answers 500 with a request id after 3 s and creates nothing; another key
    // creates a task of the same model in the middle of it.
    let http = service(
        &clock,
        CreateFails::With500 { secs: 3 },
        Duration::ZERO,
        |arrived, _| vec![entry("theirs", arrived + 1_500, "rid-theirs", "999")],
    );
    let e = client(&http, &clock).submit(&request()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SubmitOutcomeUnknown, "{e}");
    assert!(e.task_may_exist());
    let text = e.to_string();
    assert!(text.contains("theirs"), "the candidate is listed: {text}");
    assert!(text.contains("not provably ours"), "{text}");
    assert!(
        e.hint().is_some_and(|h| h.contains("rid-500")),
        "names the check to do: {:?}",
        e.hint()
    );
    assert_eq!(http.count("POST", CREATE), 1, "never resubmitted");
}

#[tokio::test]
async fn a_task_created_seconds_before_the_request_was_sent_is_not_adopted() {
    for create in [CreateFails::With500 { secs: 1 }, CreateFails::Hang] {
        let clock = ManualClock::new();
        let http = service(&clock, create, Duration::ZERO, |arrived, _| {
            vec![entry("earlier", arrived - 5_000, "rid-earlier", "1")]
        });
        let e = client(&http, &clock).submit(&request()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SubmitOutcomeUnknown, "{e}");
        assert_eq!(http.count("POST", CREATE), 1);
    }
}

#[tokio::test]
async fn the_task_with_the_failed_answers_request_id_is_adopted_among_others() {
    let clock = ManualClock::new();
    let http = service(
        &clock,
        CreateFails::With500 { secs: 2 },
        Duration::ZERO,
        |arrived, _| {
            vec![
                entry("theirs", arrived + 500, "rid-theirs", "1"),
                entry("ours", arrived + 800, "rid-500", "1"),
            ]
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let journal = TaskJournal::new(dir.path().join("tasks.jsonl"));
    let c = client(&http, &clock).with_journal(journal.clone());
    let task = c.submit(&request()).await.unwrap();
    assert_eq!(task.task_id, "ours");
    assert!(task.adopted);
    assert_eq!(task.request_id.as_deref(), Some("rid-500"));
    let entries = journal.entries().unwrap();
    assert_eq!(entries.len(), 1, "the adopted task is journaled once");
    assert_eq!(entries[0].task_id, "ours");
}

#[tokio::test]
async fn the_window_is_in_server_time_when_the_server_clock_is_two_hours_ahead() {
    let clock = ManualClock::new();
    // No request id to match (the create hangs): only the window can tell.
    let http = service(
        &clock,
        CreateFails::Hang,
        Duration::from_secs(2 * 3600),
        |arrived, _| {
            vec![
                entry("ours", arrived + 200, "rid-x", "1"),
                // Created at the *local* time of the request, two hours earlier on the server.
                entry("old", arrived - 2 * 3_600_000 + 200, "rid-y", "1"),
            ]
        },
    );
    let c = client(&http, &clock);
    // One earlier answer taught the client the server's clock.
    let _ = c.list(&ListTasksQuery::new()).await.unwrap();
    let offset = c.server_clock_offset_ms().unwrap();
    assert!((offset - 7_200_000).abs() <= 1_000, "offset {offset}");
    let task = c.submit(&request()).await.unwrap();
    assert_eq!(task.task_id, "ours");
    assert!(task.adopted);
}

#[tokio::test]
async fn tasks_in_the_journal_are_never_adopted_and_submits_are_journaled() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/tasks.jsonl");
    let journal = TaskJournal::new(&path);
    journal
        .record(&JournalEntry::new(
            "from-another-run",
            MIX,
            "https://dashscope.aliyuncs.com/api/v1",
            None,
            SystemTime::now(),
        ))
        .unwrap();
    let clock = ManualClock::new();
    let http = service(&clock, CreateFails::Hang, Duration::ZERO, |arrived, _| {
        vec![entry("from-another-run", arrived + 100, "rid-a", "1")]
    });
    let c = Client::builder(
        ClientConfig::new("sk-test-SECRET123").with_request_timeout(Duration::from_secs(30)),
    )
    .http_client(http.clone())
    .sleep(clock.clone())
    .clock(clock.clone())
    .journal(&path)
    .build()
    .unwrap();
    let e = c.submit(&request()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SubmitOutcomeUnknown, "{e}");
    // The next submit succeeds and is in the journal before it returns, without the key.
    let task = c.submit(&request()).await.unwrap();
    assert_eq!(task.task_id, "second");
    assert!(task.journal_error.is_none());
    let ids = journal.task_ids().unwrap();
    assert!(ids.contains("second"), "{ids:?}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("SECRET123"));
    assert_eq!(journal.entries().unwrap().len(), 2, "two task lines");
}

/// Another process (sharing the journal) announced a create of the same model at the same
/// moment and has not said how it ended: the one task of the window may be its, so it is not
/// adopted by time; the error names it. Once that create says its task is recorded, the same
/// situation adopts.
#[tokio::test]
async fn a_task_that_a_concurrent_create_may_have_made_is_not_adopted_by_time() {
    for other_ended in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tasks.jsonl");
        let clock = ManualClock::new();
        let started = ms(clock.wall_now());
        let mut lines = format!(
            "{{\"create_intent\":\"999-a\",\"model\":\"{MIX}\",\"base_url\":\"https://dashscope.aliyuncs.com/api/v1\",\"pid\":999,\"started_at_unix_ms\":{started}}}\n"
        );
        if other_ended {
            lines.push_str(&format!(
                "{{\"create_intent\":\"999-a\",\"model\":\"{MIX}\",\"base_url\":\"https://dashscope.aliyuncs.com/api/v1\",\"pid\":999,\"started_at_unix_ms\":0,\"ended_at_unix_ms\":{},\"end\":\"nothing\"}}\n",
                started + 500
            ));
        }
        std::fs::write(&path, lines).unwrap();
        let http = service(&clock, CreateFails::Hang, Duration::ZERO, |arrived, _| {
            vec![entry("in-the-window", arrived + 100, "rid-w", "1")]
        });
        let c = client(&http, &clock).with_journal(TaskJournal::new(&path));
        let result = c.submit(&request()).await;
        if other_ended {
            let task = result.unwrap();
            assert_eq!(task.task_id, "in-the-window");
            assert!(task.adopted);
        } else {
            let e = result.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::SubmitOutcomeUnknown, "{e}");
            assert!(e.task_may_exist());
            let text = e.to_string();
            assert!(
                text.contains("in-the-window"),
                "the candidate is named: {text}"
            );
            assert!(text.contains("other create"), "{text}");
        }
        // This submit's own announcement and its end are in the journal too.
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.lines()
                .filter(|l| l.contains("\"create_intent\""))
                .count(),
            if other_ended { 4 } else { 3 },
            "{text}"
        );
    }
}

/// Two creates of one client at once, both failing ambiguously while exactly one task appears
/// in their windows: neither adopts it by time (either could have made it).
#[tokio::test]
async fn two_concurrent_ambiguous_creates_of_one_process_do_not_take_each_others_task() {
    let clock = ManualClock::new();
    let arrived_at = Arc::new(Mutex::new(None::<i64>));
    let seen = arrived_at.clone();
    let c2 = clock.clone();
    let http = MockHttp::new(move |req: &RecordedRequest| {
        let now = ms(c2.wall_now());
        match (req.method.as_str(), req.path()) {
            ("POST", CREATE) => {
                seen.lock().unwrap().get_or_insert(now);
                // A 500 without a request id: only the time window can tell.
                MockReply::json(
                    500,
                    r#"{"code":"InternalError","message":"An internal error has occured"}"#,
                )
            }
            ("GET", "/api/v1/tasks") => {
                let at = seen.lock().unwrap().unwrap_or(now);
                page(&[entry("only-one", at + 100, "rid-1", "1")])
            }
            _ => MockReply::json(404, r#"{"code":"NotFound","message":"Not found!"}"#),
        }
    });
    // Each exchange yields a few times first, so both creates are in flight before either
    // answer arrives (as with two real connections).
    let slow = wan_animate_core::http::http_client_fn(move |req| {
        let http = http.clone();
        async move {
            tokio::task::yield_now().await;
            wan_animate_core::http::HttpClient::send(&http, req).await
        }
    });
    let config = ClientConfig::new("sk-test-SECRET123")
        .with_retry(RetryPolicy::default().without_jitter())
        .with_request_timeout(Duration::from_secs(30));
    let c = Client::builder(config)
        .shared_http_client(slow)
        .sleep(clock.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    let (r1, r2) = (request(), request());
    let (a, b) = tokio::join!(c.submit(&r1), c.submit(&r2));
    for r in [a, b] {
        let e = match r {
            Ok(t) => panic!("adopted {} ({:?})", t.task_id, t.adopted),
            Err(e) => e,
        };
        assert_eq!(e.kind(), ErrorKind::SubmitOutcomeUnknown, "{e}");
        assert!(e.to_string().contains("only-one"), "{e}");
    }
}

#[tokio::test]
async fn once_this_keys_id_is_known_other_keys_tasks_never_qualify() {
    let clock = ManualClock::new();
    let posts = Arc::new(AtomicUsize::new(0));
    let http = MockHttp::new({
        let clock = clock.clone();
        move |req: &RecordedRequest| {
            let now = ms(clock.wall_now());
            let date = http_date(clock.wall_now());
            match (req.method.as_str(), req.path()) {
                ("POST", CREATE) if posts.fetch_add(1, Ordering::SeqCst) == 0 => MockReply::json(
                    200,
                    r#"{"output":{"task_id":"mine","task_status":"PENDING"},"request_id":"r1"}"#,
                ),
                ("POST", CREATE) => MockReply::Hang,
                _ => page(&[
                    entry("mine", now - 40_000, "r1", "42"),
                    entry("theirs", now - 1_000, "r9", "77"),
                ])
                .with_header("date", &date),
            }
        }
    });
    let c = client(&http, &clock);
    assert_eq!(c.submit(&request()).await.unwrap().task_id, "mine");
    // The list shows `mine` with its key id; `theirs` was created during the next request.
    let _ = c.list(&ListTasksQuery::new()).await.unwrap();
    let e = c.submit(&request()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SubmitOutcomeUnknown, "{e}");
    assert!(e.to_string().contains("theirs"), "{e}");
}

#[tokio::test]
async fn a_list_claiming_a_billion_pages_is_read_a_bounded_number_of_times() {
    let clock = ManualClock::new();
    let n = Arc::new(AtomicUsize::new(0));
    let http = MockHttp::new({
        let n = n.clone();
        move |req: &RecordedRequest| match req.path() {
            "/api/v1/tasks" => {
                let i = n.fetch_add(1, Ordering::SeqCst);
                // Full pages of other models' tasks, each page new, forever.
                let data: Vec<String> = (0..100)
                    .map(|j| format!(r#"{{"task_id":"x-{i}-{j}","status":"RUNNING","model_name":"other","gmt_create":1}}"#))
                    .collect();
                MockReply::json(
                    200,
                    &format!(
                        r#"{{"total":100000000000,"total_page":1000000000,"page_no":{i},"page_size":100,"data":[{}]}}"#,
                        data.join(",")
                    ),
                )
            }
            _ => MockReply::Hang,
        }
    });
    let c = client(&http, &clock);
    let now = clock.wall_now();
    let found = c
        .reconcile_create(&ReconcileRequest::new(MIX, now, now))
        .await
        .unwrap();
    assert!(
        matches!(found, Reconciled::NothingFound { .. }),
        "{found:?}"
    );
    let reconcile_requests = http.count("GET", "/api/v1/tasks");
    assert!(
        reconcile_requests <= 2 * wan_animate_core::RECONCILE_MAX_PAGES as usize,
        "{reconcile_requests} list requests"
    );

    use futures_util::StreamExt;
    let items: Vec<_> = c.list_all(ListTasksQuery::new()).collect().await;
    let last = items.last().unwrap();
    assert!(
        last.is_err(),
        "the scan ends with an error saying it stopped"
    );
    let listed = http.count("GET", "/api/v1/tasks") - reconcile_requests;
    assert_eq!(listed, wan_animate_core::LIST_ALL_MAX_PAGES as usize);
}
