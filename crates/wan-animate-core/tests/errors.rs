//! Errors that help: a next step as data, `Display` that never repeats its source, decode
//! errors that keep the serde error, hostile task ids that never reach a URL.

use std::error::Error as _;
use std::time::Duration;

use wan_animate_core::error::NextStep;
use wan_animate_core::http::TransportError;
use wan_animate_core::test_util::{ManualClock, MockHttp, MockReply};
use wan_animate_core::{Client, ClientConfig, Error, ErrorKind, RetryPolicy};

fn client(http: MockHttp) -> Client {
    let clock = ManualClock::new();
    Client::builder(
        ClientConfig::new("sk-test-SECRET123")
            .with_retry(RetryPolicy::none())
            .with_request_timeout(Duration::from_secs(5)),
    )
    .http_client(http)
    .sleep(clock.clone())
    .clock(clock)
    .build()
    .unwrap()
}

/// The error's message followed by every cause, as the CLI prints it.
fn chain(e: &Error) -> Vec<String> {
    let mut out = vec![e.to_string()];
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push(c.to_string());
        cause = c.source();
    }
    out
}

#[tokio::test]
async fn display_never_repeats_its_source_down_the_chain() {
    let http = MockHttp::new(|_| {
        MockReply::Fail(TransportError::connect("connection refused by 127.0.0.1:9"))
    });
    let e = client(http).get("t-1").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transport);
    let links = chain(&e);
    let all = links.join(": ");
    assert_eq!(
        all.matches("connection refused").count(),
        1,
        "the root cause is printed once: {all}"
    );
    assert_eq!(all.matches("could not connect").count(), 1, "{all}");
    assert!(!links[0].contains("refused"), "{}", links[0]);
    let transport = e.source().unwrap();
    assert!(transport.downcast_ref::<TransportError>().is_some());
}

#[tokio::test]
async fn decode_errors_keep_the_serde_error_as_source() {
    let http = MockHttp::new(|_| MockReply::json(200, "{not json"));
    let e = client(http).get("t-1").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Decode);
    let source = e.source().expect("a source");
    assert!(
        source.downcast_ref::<serde_json::Error>().is_some(),
        "{source:?}"
    );
    assert!(!e.to_string().contains(&source.to_string()), "{e}");
}

#[test]
fn local_io_names_the_path_and_keeps_the_io_error_as_source_once() {
    let io = std::io::Error::new(std::io::ErrorKind::StorageFull, "No space left on device");
    let e = Error::local_io("write the download", std::path::Path::new("/out/x.mp4"), io);
    let all = chain(&e).join(": ");
    assert_eq!(all.matches("No space left").count(), 1, "{all}");
    assert!(all.contains("/out/x.mp4"));
    assert_eq!(
        e.next_step(),
        Some(&NextStep::FreeDiskSpace {
            path: "/out/x.mp4".into()
        })
    );
}

#[tokio::test]
async fn cancel_of_a_running_task_says_only_pending_tasks_can_be_canceled() {
    let http = MockHttp::new(|_| {
        MockReply::json(
            400,
            r#"{"request_id":"r-1","code":"UnsupportedOperation","message":"Failed to cancel the task, please confirm if the task is in PENDING status."}"#,
        )
    });
    let e = client(http).cancel("t-1").await.unwrap_err();
    assert_eq!(e.next_step(), Some(&NextStep::NotCancelable));
    assert!(
        e.hint()
            .unwrap()
            .contains("only PENDING tasks can be canceled")
    );
}

#[test]
fn service_errors_carry_a_next_step_and_plain_hints_name_no_cli_command() {
    let cases: [(u16, &str, NextStep); 4] = [
        (401, "InvalidApiKey", NextStep::FixCredentials),
        (
            429,
            "Throttling.RateQuota",
            NextStep::RetryLater { after: None },
        ),
        (500, "InternalError", NextStep::RetryLater { after: None }),
        (
            400,
            "InvalidFile.Resolution",
            NextStep::CheckMedia {
                paths: vec![],
                preflight: false,
            },
        ),
    ];
    for (status, code, step) in cases {
        let e = Error::api("get task", status, Some(code.into()), None, None);
        assert_eq!(e.next_step(), Some(&step), "{code}");
        let hint = e.hint().expect("a hint");
        assert!(!hint.contains("wan-animate"), "{hint}");
        assert!(!hint.contains("--"), "{hint}");
    }
    let steps = [
        NextStep::ResumeWait {
            task_id: "t".into(),
        },
        NextStep::CheckTaskList {
            model: "wan2.2-animate-mix".into(),
            since: Duration::from_secs(3600),
            request_id: None,
        },
        NextStep::NotCancelable,
    ];
    for step in steps {
        let text = step.to_string();
        assert!(
            !text.contains("wan-animate ") && !text.contains("--"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn retry_after_from_the_service_reaches_the_next_step() {
    let http = MockHttp::new(|_| {
        MockReply::json(429, r#"{"code":"Throttling.RateQuota","message":"slow"}"#)
            .with_header("retry-after", "7")
    });
    let e = client(http).get("t-1").await.unwrap_err();
    assert_eq!(
        e.next_step(),
        Some(&NextStep::RetryLater {
            after: Some(Duration::from_secs(7))
        })
    );
}

#[tokio::test]
async fn hostile_task_ids_never_reach_a_url() {
    let http = MockHttp::new(|_| MockReply::json(200, "{}"));
    let c = client(http.clone());
    for id in [
        "..",
        ".",
        "%2e%2e",
        ".%2E",
        "",
        "t\n1",
        "t\r\n1",
        "\u{1b}[31mred",
        "a b",
    ] {
        let e = c.get(id).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{id:?}");
        let e = c.cancel(id).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{id:?}");
        assert!(
            !e.to_string().contains('\u{1b}') && !e.to_string().contains('\n'),
            "{e}"
        );
    }
    let long = "x".repeat(1000);
    assert!(c.get(&long).await.is_err());
    assert!(http.requests().is_empty(), "{:?}", http.requests());
    // Ids with reserved characters are percent-encoded, never interpreted as path or query.
    c.get("a/../b?x#y").await.unwrap_err();
    let reqs = http.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path(), "/api/v1/tasks/a%2F..%2Fb%3Fx%23y");
    assert_eq!(reqs[0].query(), "");
}

#[test]
fn service_text_in_display_is_escaped_but_kept_raw_in_the_accessors() {
    let raw = "bad\n\u{1b}[2Jforged\r";
    let e = Error::api(
        "get task",
        400,
        Some("InvalidParameter\u{1b}[31m".into()),
        Some(raw.into()),
        Some("r\n1".into()),
    );
    let shown = e.to_string();
    assert!(!shown.chars().any(char::is_control), "{shown:?}");
    assert!(shown.contains("bad\\n"), "{shown}");
    assert_eq!(e.message(), Some(raw));
}

/// Downloading the result of a task that has none: waiting is the next step only while the task
/// is still on its way (a FAILED task never gets a result).
#[tokio::test]
async fn a_result_not_there_yet_points_to_waiting_and_a_failed_one_does_not() {
    for (status, wait) in [("RUNNING", true), ("PENDING", true), ("FAILED", false)] {
        let http = MockHttp::new(move |_| {
            MockReply::json(
                200,
                &format!(r#"{{"output":{{"task_id":"t-1","task_status":"{status}"}}}}"#),
            )
        });
        let dir = tempfile::tempdir().unwrap();
        let e = client(http)
            .download_result(
                "t-1",
                &dir.path().join("out.mp4"),
                wan_animate_core::download::DownloadOptions::new(),
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert_eq!(
            matches!(e.next_step(), Some(NextStep::ResumeWait { task_id }) if task_id == "t-1"),
            wait,
            "{status}: {:?}",
            e.next_step()
        );
    }
}
