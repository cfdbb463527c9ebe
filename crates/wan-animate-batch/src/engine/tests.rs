use super::*;
use crate::manifest::MediaSource;
use wan_animate_types::{Mode, Model};

fn job(id: &str) -> Job {
    Job {
        id: id.into(),
        line: 1,
        model: Model::AnimateMix,
        image: MediaSource::Url("https://x/p.jpg".into()),
        video: MediaSource::Url("https://x/v.mp4".into()),
        mode: Mode::Standard,
        watermark: None,
        check_image: None,
        output: format!("{id}.mp4").into(),
    }
}

fn opts(dir: &Path, endpoint: &str) -> BatchOptions {
    BatchOptions::new(dir).with_endpoint(EndpointIdentity::new(endpoint).with_key("sk-1"))
}

#[test]
fn another_endpoint_is_refused_before_anything_changes_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
    prelude(
        &mut ledger,
        &[job("a")],
        &opts(dir.path(), "https://home/api/v1"),
    )
    .unwrap();
    let err = prelude(
        &mut ledger,
        &[job("a"), job("b")],
        &opts(dir.path(), "https://elsewhere/api/v1"),
    )
    .err()
    .unwrap();
    let text = err.to_string();
    assert!(
        text.contains("https://home/api/v1") && text.contains("https://elsewhere/api/v1"),
        "{text}"
    );
    assert_eq!(ledger.jobs().unwrap().len(), 1, "job b was not added");
    assert_eq!(
        ledger.endpoint().unwrap().unwrap().base_url,
        "https://home/api/v1"
    );
    // Another key is another endpoint too.
    let other_key = BatchOptions::new(dir.path())
        .with_endpoint(EndpointIdentity::new("https://home/api/v1").with_key("sk-2"));
    assert!(prelude(&mut ledger, &[job("a")], &other_key).is_err());
    // A deliberate move.
    let mut moved = opts(dir.path(), "https://elsewhere/api/v1");
    moved.allow_endpoint_change = true;
    prelude(&mut ledger, &[job("a"), job("b")], &moved).unwrap();
    assert_eq!(
        ledger.endpoint().unwrap().unwrap().base_url,
        "https://elsewhere/api/v1"
    );
}

#[test]
fn existing_outputs_of_jobs_new_to_the_ledger_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
    let o = opts(dir.path(), "https://home/api/v1");
    prelude(&mut ledger, &[job("a")], &o).unwrap();
    // a's output exists: fine, a is known. b's exists and b is new: refused.
    std::fs::write(dir.path().join("a.mp4"), b"video").unwrap();
    std::fs::write(dir.path().join("b.mp4"), b"video").unwrap();
    let err = prelude(&mut ledger, &[job("a"), job("b")], &o)
        .err()
        .unwrap();
    assert!(
        matches!(&err, BatchError::OutputsExist { files, .. } if files.len() == 1),
        "{err}"
    );
    assert!(err.to_string().contains("b.mp4"), "{err}");
    assert_eq!(ledger.jobs().unwrap().len(), 1);
}

mod scheduler {
    //! The scheduler driven end to end on core's `MockHttp` and `ManualClock`: no real
    //! waiting (a poll interval of an hour passes at once), no network.

    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use std::time::Duration;

    use bytes::Bytes;
    use wan_animate_core::rt::{SharedClock, SharedSleep};
    use wan_animate_core::test_util::{ManualClock, MockHttp, MockReply};
    use wan_animate_core::{Client, ClientConfig};

    use super::*;

    const CREATE: &str = "/api/v1/services/aigc/image2video/video-synthesis";
    const VIDEO: &[u8] = &[7u8; 1000];

    /// A service where task `t-<n>` is created per create request, is RUNNING on its first
    /// query and then ends as `end` says; its video is [`VIDEO`].
    fn service(end: &'static str, list: String) -> MockHttp {
        let created = Arc::new(AtomicUsize::new(0));
        let queried = Arc::new(std::sync::Mutex::new(HashMap::<String, usize>::new()));
        MockHttp::new(move |req| {
            let path = req.path();
            if path == CREATE {
                let n = created.fetch_add(1, Ordering::SeqCst) + 1;
                return MockReply::json(
                    200,
                    &format!(
                        r#"{{"request_id":"r-{n}","output":{{"task_id":"t-{n}","task_status":"PENDING"}}}}"#
                    ),
                );
            }
            if path == "/api/v1/tasks" {
                return MockReply::json(200, &list);
            }
            if let Some(id) = path.strip_prefix("/api/v1/tasks/") {
                let seen = {
                    let mut q = queried.lock().unwrap();
                    let c = q.entry(id.to_owned()).or_default();
                    *c += 1;
                    *c
                };
                let body = if seen == 1 {
                    format!(
                        r#"{{"request_id":"q","output":{{"task_id":"{id}","task_status":"RUNNING"}}}}"#
                    )
                } else if end == "SUCCEEDED" {
                    format!(
                        r#"{{"request_id":"q","output":{{"task_id":"{id}","task_status":"SUCCEEDED","results":{{"video_url":"https://results.example/{id}.mp4"}}}},"usage":{{"video_duration":5.0,"video_ratio":"720*1280"}}}}"#
                    )
                } else {
                    format!(
                        r#"{{"request_id":"q-fail","output":{{"task_id":"{id}","task_status":"FAILED","code":"Arrearage","message":"Access denied, please make sure your account is in good standing."}}}}"#
                    )
                };
                return MockReply::json(200, &body);
            }
            if path.ends_with(".mp4") {
                return MockReply::Response {
                    status: 200,
                    headers: vec![
                        ("content-type".into(), "video/mp4".into()),
                        ("content-length".into(), VIDEO.len().to_string()),
                    ],
                    body: Bytes::from_static(VIDEO),
                };
            }
            MockReply::json(404, r#"{"code":"NotFound","message":"no such path"}"#)
        })
    }

    struct Run {
        dir: tempfile::TempDir,
        clock: ManualClock,
        http: MockHttp,
        result: Result<Report, BatchError>,
        jobs: Vec<JobRecord>,
    }

    fn list_of(tasks: &[(&str, i64)]) -> String {
        let data: Vec<String> = tasks
            .iter()
            .map(|(id, created)| {
                format!(
                    r#"{{"task_id":"{id}","status":"RUNNING","model_name":"wan2.2-animate-mix","gmt_create":{created},"request_id":"r-{id}"}}"#
                )
            })
            .collect();
        format!(
            r#"{{"total":{},"data":[{}],"total_page":1,"page_no":1,"page_size":100,"request_id":"l"}}"#,
            tasks.len(),
            data.join(",")
        )
    }

    async fn run_jobs(end: &'static str, ids: &[&str], disk_space: Option<u64>) -> Run {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new();
        let http = service(end, list_of(&[]));
        let ledger = Ledger::open(&dir.path().join("batch.sqlite")).unwrap();
        run_on(dir, clock, http, ledger, ids, disk_space).await
    }

    async fn run_on(
        dir: tempfile::TempDir,
        clock: ManualClock,
        http: MockHttp,
        ledger: Ledger,
        ids: &[&str],
        disk_space: Option<u64>,
    ) -> Run {
        let client = Client::builder(ClientConfig::new("sk-test"))
            .http_client(http.clone())
            .clock(clock.clone())
            .sleep(clock.clone())
            .task_api_rate(2.0)
            .build()
            .unwrap();
        let mut opts = BatchOptions::new(dir.path()).with_time(
            SharedClock::new(clock.clone()),
            SharedSleep::new(clock.clone()),
        );
        // An hour between queries: with the scheduler on tokio's timer this would hang.
        opts.poll_interval = Duration::from_secs(3600);
        opts.disk_space = disk_space.map(|b| Arc::new(AtomicU64::new(b)));
        let ledger_path = dir.path().join("batch.sqlite");
        let jobs: Vec<Job> = ids.iter().map(|id| job(id)).collect();
        let result = tokio::time::timeout(
            Duration::from_secs(60),
            run_with_ledger(client, jobs, Box::new(ledger), opts, |_| {}),
        )
        .await
        .expect("the batch ran on the manual clock and did not spin");
        let jobs = Ledger::open_read_only(&ledger_path)
            .unwrap()
            .jobs()
            .unwrap();
        Run {
            dir,
            clock,
            http,
            result,
            jobs,
        }
    }

    #[tokio::test]
    async fn a_job_goes_through_submit_poll_and_download_on_the_manual_clock() {
        let run = run_jobs("SUCCEEDED", &["a"], None).await;
        let report = run.result.unwrap();
        let a = &run.jobs[0];
        assert_eq!(a.state, Some(JobState::Downloaded), "{a:?}");
        assert_eq!(a.task_id.as_deref(), Some("t-1"));
        assert_eq!(a.task_status.as_deref(), Some("SUCCEEDED"));
        assert_eq!(std::fs::read(run.dir.path().join("a.mp4")).unwrap(), VIDEO);
        assert!(report.parked_downloads.is_empty());
        // The wait between the two queries was slept on the injected clock.
        assert!(
            run.clock
                .sleeps()
                .iter()
                .any(|d| *d >= Duration::from_secs(3000)),
            "{:?}",
            run.clock.sleeps()
        );
        assert_eq!(run.http.count("POST", CREATE), 1);
        assert_eq!(run.http.count("GET", "/tasks/t-1"), 2);
    }

    #[tokio::test]
    async fn an_arrearage_task_failure_is_recorded_as_quota_or_billing_like_core() {
        let run = run_jobs("FAILED", &["a"], None).await;
        run.result.unwrap();
        let a = &run.jobs[0];
        assert_eq!(a.state, Some(JobState::Failed), "{a:?}");
        assert_eq!(a.task_status.as_deref(), Some("FAILED"));
        assert_eq!(a.error_kind.as_deref(), Some("quota_or_billing"));
        assert_eq!(a.error_code.as_deref(), Some("Arrearage"));
        assert_eq!(a.request_id.as_deref(), Some("q-fail"));
        // The whole message, as core words it, with what to do.
        let message = a.error_message.as_deref().unwrap_or_default();
        assert!(
            message.contains("task t-1 failed: Arrearage") && message.contains("good standing"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn a_download_that_cannot_be_written_is_parked_once_and_the_others_finish() {
        // Room for one video, not two.
        let run = run_jobs("SUCCEEDED", &["a", "b"], Some(1500)).await;
        let report = run.result.unwrap();
        let states: Vec<_> = run.jobs.iter().map(|j| j.state.unwrap()).collect();
        assert!(
            states.contains(&JobState::Downloaded) && states.contains(&JobState::Succeeded),
            "one downloaded, one parked (still succeeded): {states:?}"
        );
        let parked_job = run
            .jobs
            .iter()
            .find(|j| j.state == Some(JobState::Succeeded))
            .unwrap();
        assert_eq!(report.parked_downloads.len(), 1, "{report:?}");
        let parked = &report.parked_downloads[0];
        assert_eq!(parked.job_id, parked_job.job_id);
        assert!(
            parked.path.ends_with(&format!("{}.mp4", parked_job.job_id)),
            "{parked:?}"
        );
        assert!(parked.error.contains("space"), "{parked:?}");
        // Never spun: each video was asked for once.
        let videos = run
            .http
            .requests()
            .iter()
            .filter(|r| r.path().ends_with(".mp4"))
            .count();
        assert_eq!(videos, 2);
        // The part file of the parked download is kept for the next run.
        let parts = std::fs::read_dir(run.dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
            .count();
        assert_eq!(parts, 1);
    }

    /// A ledger whose job `a` was recorded `submitting` a minute ago (the process died
    /// around the create), against a task list holding `tasks` (id, ms after the send).
    async fn resume_after_crash(tasks: &[(&str, i64)]) -> Run {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new();
        let sent = wall_ms(&SharedClock::new(clock.clone())) - 60_000;
        let listed: Vec<(&str, i64)> = tasks.iter().map(|(id, at)| (*id, sent + at)).collect();
        let http = service("SUCCEEDED", list_of(&listed));
        let mut ledger = Ledger::open(&dir.path().join("batch.sqlite")).unwrap();
        ledger.sync_jobs(&[job("a")], sent - 1000).unwrap();
        let steps = [
            Transition::new("a", JobState::Queued, JobState::Uploaded, sent).with_updates(vec![
                JobUpdate::ImageUrl("https://x/p.jpg".into()),
                JobUpdate::VideoUrl("https://x/v.mp4".into()),
            ]),
            Transition::new("a", JobState::Uploaded, JobState::Submitting, sent).with_updates(
                vec![JobUpdate::SubmitStartedAt(sent), JobUpdate::Attempts(1)],
            ),
        ];
        for r in ledger.apply(&steps) {
            r.unwrap();
        }
        run_on(dir, clock, http, ledger, &["a"], None).await
    }

    #[tokio::test]
    async fn a_crashed_create_is_reconciled_by_core_and_its_one_task_adopted() {
        // "t-old" was created long before the send: never a candidate.
        let run = resume_after_crash(&[("t-lost", 400), ("t-old", -3_600_000)]).await;
        run.result.unwrap();
        let a = &run.jobs[0];
        assert_eq!(a.state, Some(JobState::Downloaded), "{a:?}");
        assert_eq!(a.task_id.as_deref(), Some("t-lost"));
        assert_eq!(run.http.count("POST", CREATE), 0, "never created again");
        assert!(run.http.count("GET", "/api/v1/tasks") >= 1);
    }

    #[tokio::test]
    async fn two_candidates_need_attention_listing_both_and_nothing_is_created() {
        let run = resume_after_crash(&[("t-x", 300), ("t-y", 900)]).await;
        run.result.unwrap();
        let a = &run.jobs[0];
        assert_eq!(a.state, Some(JobState::NeedsAttention), "{a:?}");
        assert_eq!(a.error_kind.as_deref(), Some("submit_outcome_unknown"));
        let message = a.error_message.as_deref().unwrap_or_default();
        assert!(
            message.contains("t-x") && message.contains("t-y"),
            "{message}"
        );
        assert_eq!(run.http.count("POST", CREATE), 0);
    }

    #[tokio::test]
    async fn a_settled_empty_scan_requeues_the_job_and_it_is_created_once() {
        let run = resume_after_crash(&[]).await;
        run.result.unwrap();
        let a = &run.jobs[0];
        assert_eq!(a.state, Some(JobState::Downloaded), "{a:?}");
        assert_eq!(a.task_id.as_deref(), Some("t-1"));
        assert_eq!(run.http.count("POST", CREATE), 1);
    }

    #[tokio::test]
    async fn a_task_created_seconds_before_the_send_is_never_adopted() {
        // Another client's task of the same model, 30 s before this job's create was sent:
        // outside core's window (seconds, in server time), so it is not this job's.
        let run = resume_after_crash(&[("t-foreign", -30_000)]).await;
        run.result.unwrap();
        let a = &run.jobs[0];
        assert_eq!(a.task_id.as_deref(), Some("t-1"), "{a:?}");
        assert_eq!(a.state, Some(JobState::Downloaded));
        assert_eq!(run.http.count("POST", CREATE), 1);
    }

    #[tokio::test]
    async fn an_ambiguous_create_is_reconciled_by_its_request_id_and_an_unproven_task_needs_attention()
     {
        // The create answers 500 with a request id and creates nothing, while another
        // client's task of the model appears in the list at that moment.
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new();
        let created_at = Arc::new(std::sync::Mutex::new(None::<i64>));
        let wall = SharedClock::new(clock.clone());
        let http = MockHttp::new(move |req| match req.path() {
            CREATE => {
                *created_at.lock().unwrap() = Some(wall_ms(&wall));
                MockReply::json(
                    500,
                    r#"{"request_id":"r-bad","code":"InternalError","message":"try later"}"#,
                )
            }
            "/api/v1/tasks" => {
                let at = created_at.lock().unwrap().unwrap_or(0) + 200;
                MockReply::json(200, &list_of(&[("t-other", at)]))
            }
            _ => MockReply::json(404, r#"{"code":"NotFound","message":"no"}"#),
        });
        let ledger = Ledger::open(&dir.path().join("batch.sqlite")).unwrap();
        let run = run_on(dir, clock, http, ledger, &["a"], None).await;
        run.result.unwrap();
        let a = &run.jobs[0];
        assert_eq!(a.state, Some(JobState::NeedsAttention), "{a:?}");
        assert_eq!(a.task_id, None, "another request's task is never adopted");
        assert_eq!(a.request_id.as_deref(), Some("r-bad"));
        let message = a.error_message.as_deref().unwrap_or_default();
        assert!(message.contains("t-other"), "{message}");
        assert_eq!(run.http.count("POST", CREATE), 1, "never created again");
    }
}
