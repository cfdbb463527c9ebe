//! The real wait path with a prediction (`PollPolicy::with_expectation`), against a scripted
//! task on a fake clock: the delays follow the `PredictiveSchedule`, a late task backs off, the
//! server's clock offset pins the start, deadlines and cancel-on-deadline still work, and a
//! policy without an expectation keeps its backoff.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use wan_animate_core::predict::{Expectation, PredictiveSchedule, PredictiveTuning, SpeedModel};
use wan_animate_core::rt::{Clock, http_date};
use wan_animate_core::test_util::{ManualClock, MockHttp, MockReply, RecordedRequest};
use wan_animate_core::types::{EpochMillis, Mode, ServiceTime};
use wan_animate_core::{Client, ClientConfig, ErrorKind, PollPolicy, RetryPolicy};

/// A task on the clock of `clock`: PENDING until `start`, RUNNING until `end`, then
/// SUCCEEDED, with `scheduled_time` and `end_time` stamped on a server clock `skew` ahead of
/// the local wall clock (which answers carry in their `Date` header when `date` is set).
struct Script {
    start: Duration,
    end: Duration,
    skew: Duration,
    date: bool,
}

fn service_time(t: SystemTime) -> String {
    ServiceTime::from_unix_millis(EpochMillis::from_system_time(t).0)
        .as_str()
        .to_owned()
}

fn scripted_task(clock: &ManualClock, script: Script) -> MockHttp {
    let clock = clock.clone();
    let wall0 = clock.wall_now();
    let mono0 = clock.now();
    let script = Arc::new(script);
    MockHttp::new(move |req: &RecordedRequest| {
        if req.path().ends_with("/cancel") {
            return MockReply::json(200, r#"{"request_id":"rid-cancel"}"#);
        }
        let elapsed = clock.now() - mono0;
        let server = |d: Duration| wall0 + script.skew + d;
        let (status, extra) = if elapsed < script.start {
            ("PENDING", String::new())
        } else if elapsed < script.end {
            (
                "RUNNING",
                format!(
                    r#","scheduled_time":"{}""#,
                    service_time(server(script.start))
                ),
            )
        } else {
            (
                "SUCCEEDED",
                format!(
                    r#","scheduled_time":"{}","end_time":"{}","results":{{"video_url":"https://r/v.mp4"}}"#,
                    service_time(server(script.start)),
                    service_time(server(script.end))
                ),
            )
        };
        let reply = MockReply::json(
            200,
            &format!(
                r#"{{"request_id":"rid","output":{{"task_id":"t-1","task_status":"{status}"{extra}}}}}"#
            ),
        );
        if script.date {
            reply.with_header("date", &http_date(server(elapsed)))
        } else {
            reply
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

/// 3 s of output at a learned 20 s per output second: 60 s of processing expected.
fn expect_60s() -> Expectation {
    let mut speed = SpeedModel::prior();
    for _ in 0..3 {
        speed.observe(&Mode::Standard, 3.0, Duration::from_secs(60));
    }
    Expectation::new(&speed, 3.0, &Mode::Standard, 0)
}

/// The sleeps the pure schedule asks for against a task running from `start` to `end`.
fn replay(expect: Expectation, start: Duration, end: Duration) -> Vec<Duration> {
    let mut s = PredictiveSchedule::new(expect);
    let mut now = s.next_delay(Duration::ZERO);
    let mut sleeps = Vec::new();
    while now < end {
        if now >= start {
            s.observe_running(start);
        }
        let d = s.next_delay(now);
        sleeps.push(d);
        now += d;
    }
    sleeps
}

fn assert_close(actual: &[Duration], expected: &[Duration], tolerance: Duration) {
    assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
    for (a, e) in actual.iter().zip(expected) {
        assert!(a.abs_diff(*e) <= tolerance, "{actual:?} vs {expected:?}");
    }
}

#[tokio::test]
async fn with_an_expectation_the_wait_sleeps_as_the_predictive_schedule_says() {
    let clock = ManualClock::new();
    let (start, end) = (Duration::from_secs(5), Duration::from_secs(64));
    let http = scripted_task(
        &clock,
        Script {
            start,
            end,
            skew: Duration::ZERO,
            date: false,
        },
    );
    let policy = PollPolicy::default().with_expectation(expect_60s());
    let done = client(http.clone(), &clock)
        .wait_with("t-1", &policy)
        .await
        .unwrap();
    assert_eq!(done.output.video_url(), Some("https://r/v.mp4"));
    let expected = replay(expect_60s(), start, end);
    // Service times have millisecond precision.
    assert_close(&clock.sleeps(), &expected, Duration::from_millis(2));
    // Sparse then dense: far fewer queries than the 3 s dense interval would need, and the
    // end is seen within one dense interval.
    let queries = http.count("GET", "/tasks/t-1");
    assert_eq!(queries, expected.len() + 1);
    assert!(queries <= 8, "{queries} queries: {:?}", clock.sleeps());
    assert!(
        clock.slept() <= end + Duration::from_secs(3),
        "{:?}",
        clock.slept()
    );
    assert_eq!(clock.sleeps()[0], Duration::from_secs(5), "the early check");
}

#[tokio::test]
async fn a_task_much_later_than_predicted_is_polled_with_growing_delays() {
    let clock = ManualClock::new();
    // Predicted 60 s of processing; it takes ten minutes.
    let http = scripted_task(
        &clock,
        Script {
            start: Duration::from_secs(2),
            end: Duration::from_secs(602),
            skew: Duration::ZERO,
            date: false,
        },
    );
    let policy = PollPolicy::default().with_expectation(expect_60s());
    client(http.clone(), &clock)
        .wait_with("t-1", &policy)
        .await
        .unwrap();
    let sleeps = clock.sleeps();
    let late: Vec<_> = sleeps
        .iter()
        .scan(Duration::ZERO, |t, d| {
            *t += *d;
            Some((*t, *d))
        })
        .filter(|(t, _)| *t > Duration::from_secs(70))
        .map(|(_, d)| d)
        .collect();
    assert!(
        late.windows(2).all(|w| w[1] >= w[0]),
        "past the window the delays never shrink: {sleeps:?}"
    );
    assert_eq!(late.last(), Some(&Duration::from_secs(30)), "{sleeps:?}");
    let queries = http.count("GET", "/tasks/t-1");
    assert!(queries <= 35, "{queries} queries: {sleeps:?}");
}

#[tokio::test]
async fn the_start_is_read_on_the_servers_clock_from_the_date_offset() {
    // The server's clock is an hour ahead. The task starts 2 s into the wait and is first
    // seen running at the 5 s early check; its scheduled_time (server clock) says it started
    // 3 s before, so the next sleep aims at the window before 2 + 60 s, not 5 + 60 s.
    let clock = ManualClock::new();
    let http = scripted_task(
        &clock,
        Script {
            start: Duration::from_secs(2),
            end: Duration::from_secs(62),
            skew: Duration::from_secs(3600),
            date: true,
        },
    );
    // Sparse sleeps of half the time left to the window, so the start shows in the next one.
    let mut tuning = PredictiveTuning::default();
    tuning.sparse_fraction = 0.5;
    let policy = PollPolicy::default()
        .with_expectation(expect_60s())
        .with_predictive_tuning(tuning);
    client(http, &clock)
        .wait_with("t-1", &policy)
        .await
        .unwrap();
    let sleeps = clock.sleeps();
    // Window start 62 - 3 = 59 s; from 5 s, half of the 54 s left. `Date` has whole seconds,
    // so the start may read up to 1 s late (27.5 s); read as "now" it would be 28.5 s.
    let second = sleeps[1].as_secs_f64();
    assert!((27.0..=27.51).contains(&second), "{sleeps:?}");
}

#[tokio::test]
async fn without_an_expectation_the_backoff_is_unchanged() {
    let clock = ManualClock::new();
    let http = scripted_task(
        &clock,
        Script {
            start: Duration::from_secs(2),
            end: Duration::from_secs(60),
            skew: Duration::ZERO,
            date: true,
        },
    );
    let policy = PollPolicy::default().without_jitter();
    client(http, &clock)
        .wait_with("t-1", &policy)
        .await
        .unwrap();
    let secs: Vec<f64> = clock.sleeps().iter().map(|d| d.as_secs_f64()).collect();
    assert_eq!(secs, [5.0, 7.5, 11.25, 16.875, 25.3125]);
}

#[tokio::test]
async fn a_fixed_schedule_is_replayed_with_its_last_delay_repeating() {
    let clock = ManualClock::new();
    let http = scripted_task(
        &clock,
        Script {
            start: Duration::from_secs(2),
            end: Duration::from_secs(40),
            skew: Duration::ZERO,
            date: false,
        },
    );
    let policy = PollPolicy::default()
        .with_fixed_delays([1, 2, 4, 8, 8].map(Duration::from_secs))
        .without_jitter();
    client(http, &clock)
        .wait_with("t-1", &policy)
        .await
        .unwrap();
    // Queries at 0, 1, 3, 7, 15, 23, 31, 39, 47 s: the Python SDK 2.x schedule.
    assert_eq!(
        clock.sleeps(),
        [1, 2, 4, 8, 8, 8, 8, 8].map(Duration::from_secs)
    );
}

#[tokio::test]
async fn the_deadline_and_cancel_on_deadline_still_bound_a_predictive_wait() {
    let clock = ManualClock::new();
    let t0 = clock.now();
    // Stuck in the queue: never starts.
    let http = scripted_task(
        &clock,
        Script {
            start: Duration::from_secs(100_000),
            end: Duration::from_secs(100_060),
            skew: Duration::ZERO,
            date: false,
        },
    );
    let policy = PollPolicy::default()
        .with_expectation(expect_60s())
        .with_max_wait(Duration::from_secs(40))
        .with_cancel_on_deadline(true);
    let e = client(http.clone(), &clock)
        .wait_with("t-1", &policy)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert!(e.to_string().contains("has been canceled"), "{e}");
    assert_eq!(http.count("POST", "/cancel"), 1);
    assert_eq!(
        clock.now() - t0,
        Duration::from_secs(40),
        "not a sleep past it"
    );
}

#[tokio::test]
async fn completion_signals_take_precedence_over_the_prediction() {
    let clock = ManualClock::new();
    let http = scripted_task(
        &clock,
        Script {
            start: Duration::from_secs(2),
            end: Duration::from_secs(100),
            skew: Duration::ZERO,
            date: false,
        },
    );
    let config = ClientConfig::new("sk-test-SECRET123");
    let client = Client::builder(config)
        .http_client(http)
        .sleep(clock.clone())
        .clock(clock.clone())
        .completion_signals(wan_animate_core::CompletionSignals::new())
        .build()
        .unwrap();
    let policy = PollPolicy::default()
        .with_expectation(expect_60s())
        .with_signal_safety_interval(Duration::from_secs(90));
    client.wait_with("t-1", &policy).await.unwrap();
    assert_eq!(clock.sleeps(), [90, 90].map(Duration::from_secs));
}

#[tokio::test]
async fn a_wait_that_begins_after_the_task_started_aims_at_its_real_end() {
    // The task runs from 5 s to 64 s; the wait begins at 50 s (say, `wait` run later), so
    // 14 s of processing remain, not the whole 60 s.
    let clock = ManualClock::new();
    let http = scripted_task(
        &clock,
        Script {
            start: Duration::from_secs(5),
            end: Duration::from_secs(64),
            skew: Duration::ZERO,
            date: true,
        },
    );
    clock.advance(Duration::from_secs(50));
    let policy = PollPolicy::default().with_expectation(expect_60s());
    client(http.clone(), &clock)
        .wait_with("t-1", &policy)
        .await
        .unwrap();
    let slept = clock.slept();
    // Seen within the dense interval of the real end (14 s into the wait), not after the
    // sparse sleeps a start at the wait's beginning would allow.
    assert!(
        slept >= Duration::from_secs(14) && slept <= Duration::from_secs(17),
        "{:?}",
        clock.sleeps()
    );
    assert!(http.count("GET", "/tasks/t-1") <= 8);
}
