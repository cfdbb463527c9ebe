//! Completion events (spec §17): a tiny loopback receiver records what the simulator POSTs.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use support::Api;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wan_animate_sim::{NotifyConfig, NotifyHostility, RateLimits, Sim, SimBuilder};

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Seen {
    authorization: Option<String>,
    /// `None` when the body was cut short.
    event: Option<Value>,
}

/// A loopback HTTP receiver: answers `statuses` in turn (then 200), records every request.
struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(statuses: Vec<u16>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/eventbridge", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let statuses = Arc::new(Mutex::new(statuses.into_iter()));
        let record = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let record = record.clone();
                let statuses = statuses.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let (head, mut body) = loop {
                        let Ok(n) = s.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break (
                                String::from_utf8_lossy(&buf[..i]).to_string(),
                                buf[i + 4..].to_vec(),
                            );
                        }
                    };
                    let header = |name: &str| {
                        head.lines().find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                        })
                    };
                    let len: usize = header("content-length").unwrap().parse().unwrap();
                    while body.len() < len {
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => body.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let complete = body.len() == len;
                    record.lock().unwrap().push(Seen {
                        authorization: header("authorization"),
                        event: complete.then(|| serde_json::from_slice(&body).unwrap()),
                    });
                    if complete {
                        let status = statuses.lock().unwrap().next().unwrap_or(200);
                        let _ = s
                            .write_all(
                                format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                                    .as_bytes(),
                            )
                            .await;
                    }
                });
            }
        });
        Self { url, seen, task }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until `pred` holds on what was seen (bounded: 10 s).
    async fn until(&self, pred: impl Fn(&[Seen]) -> bool) -> Vec<Seen> {
        for _ in 0..400 {
            let seen = self.seen();
            if pred(&seen) {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "the receiver never saw what was expected: {:#?}",
            self.seen()
        );
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn fast() -> SimBuilder {
    Sim::builder()
        .time_scale(600.0)
        .limits(RateLimits::unlimited())
}

fn complete(seen: &[Seen]) -> Vec<Value> {
    seen.iter().filter_map(|s| s.event.clone()).collect()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test]
async fn every_ended_task_is_announced_with_the_token_and_the_fields_of_section_17() {
    let rx = Receiver::start(vec![]).await;
    let sim = fast()
        .notify(NotifyConfig::new(&rx.url).with_token("tok-123"))
        .start()
        .await
        .unwrap();
    let api = Api::new(&sim);
    let ok = api.create("wan2.2-animate-mix", None).await;
    // Not an image: the task fails at the end (InvalidFile.Openerror).
    let bad = api
        .create("wan2.2-animate-move", Some(b"not an image".to_vec()))
        .await;
    // Nobody queries the tasks: the simulator notices the ends by itself.
    let seen = rx.until(|s| complete(s).len() >= 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen_now = rx.seen();
    assert_eq!(seen_now.len(), 2, "each end once, politely: {seen_now:#?}");
    for s in &seen {
        assert_eq!(s.authorization.as_deref(), Some("Bearer tok-123"));
    }
    let events = complete(&seen);
    let by_task = |id: &str| {
        events
            .iter()
            .find(|e| e["data"]["task_id"] == id)
            .unwrap_or_else(|| panic!("no event for {id}: {events:#?}"))
            .clone()
    };
    let (e_ok, e_bad) = (by_task(&ok), by_task(&bad));
    // Field names of the constructed fixture eventbridge_async_task_finish.json (spec §17).
    for e in [&e_ok, &e_bad] {
        for k in [
            "specversion",
            "id",
            "source",
            "type",
            "datacontenttype",
            "time",
            "aliyunaccountid",
            "aliyunpublishtime",
            "aliyuneventbusname",
            "aliyunregionid",
            "data",
        ] {
            assert!(e.get(k).is_some(), "envelope field {k} missing: {e}");
        }
        assert_eq!(
            keys(&e["data"]),
            [
                "api_key_id",
                "end_time",
                "region",
                "request_id",
                "start_time",
                "task_id",
                "task_status",
                "user_api_unique_key"
            ]
        );
        assert_eq!(e["specversion"], "1.0");
        assert_eq!(e["source"], "acs.dashscope");
        assert_eq!(e["type"], "dashscope:System:AsyncTaskFinish");
        assert!(e["time"].as_str().unwrap().ends_with('Z'));
        assert!(
            e["data"]["start_time"].as_i64().unwrap() <= e["data"]["end_time"].as_i64().unwrap()
        );
    }
    assert_eq!(e_ok["data"]["task_status"], "SUCCEEDED");
    assert_eq!(e_bad["data"]["task_status"], "FAILED");
    assert_eq!(
        e_ok["data"]["user_api_unique_key"],
        "apikey:v1:aigc:image2video:video-synthesis:wan2.2-animate-mix"
    );
    assert_ne!(e_ok["id"], e_bad["id"]);
    // The event agrees with a query and with the list API.
    let task = api.get(&ok).await;
    assert_eq!(task["output"]["task_status"], "SUCCEEDED");
    let c = sim.counters();
    assert_eq!((c.notify_attempts, c.notify_delivered), (2, 2));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_failing_receiver_gets_retries_until_it_accepts() {
    let rx = Receiver::start(vec![503, 500]).await;
    let sim = fast()
        .notify(NotifyConfig::new(&rx.url).with_retries(5, Duration::from_millis(20)))
        .start()
        .await
        .unwrap();
    let id = Api::new(&sim).create("wan2.2-animate-mix", None).await;
    let seen = rx.until(|s| s.len() >= 3).await;
    let events = complete(&seen);
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e["data"]["task_id"] == id.as_str()));
    assert!(
        events.iter().all(|e| e["id"] == events[0]["id"]),
        "a retry resends the same event id"
    );
    assert_eq!(
        seen[0].authorization, None,
        "no token configured, none sent"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rx.seen().len(), 3, "no attempt after the 200");
    let c = sim.counters();
    assert_eq!(
        (c.notify_attempts, c.notify_delivered, c.notify_given_up),
        (3, 1, 0)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn hostile_delivery_cuts_the_first_attempt_duplicates_and_swaps_the_order() {
    let rx = Receiver::start(vec![]).await;
    let hostility =
        NotifyHostility::from_names(42, &["fail-first", "duplicate", "reorder"]).unwrap();
    let sim = fast()
        .notify(
            NotifyConfig::new(&rx.url)
                .with_token("t")
                .with_hostility(hostility)
                .with_retries(4, Duration::from_millis(20)),
        )
        .start()
        .await
        .unwrap();
    let api = Api::new(&sim);
    // Two models run in parallel: both tasks end at the same moment, mix created first.
    let mix = api.create("wan2.2-animate-mix", None).await;
    let mov = api.create("wan2.2-animate-move", None).await;
    // Per event: a cut attempt, the retry, the duplicate.
    let seen = rx.until(|s| s.len() >= 6).await;
    let cut = seen.iter().filter(|s| s.event.is_none()).count();
    assert_eq!(cut, 2, "one cut-off first attempt per event: {seen:#?}");
    let events = complete(&seen);
    let order: Vec<&str> = events
        .iter()
        .map(|e| e["data"]["task_id"].as_str().unwrap())
        .collect();
    assert_eq!(order.iter().filter(|t| **t == mix).count(), 2, "duplicated");
    assert_eq!(order.iter().filter(|t| **t == mov).count(), 2, "duplicated");
    let first_mix = order.iter().position(|t| *t == mix).unwrap();
    let first_mov = order.iter().position(|t| *t == mov).unwrap();
    let ends = |id: &str| {
        events.iter().find(|e| e["data"]["task_id"] == id).unwrap()["data"]["end_time"]
            .as_i64()
            .unwrap()
    };
    assert!(ends(&mix) <= ends(&mov));
    assert!(
        first_mov < first_mix,
        "the first event is held back and overtaken: {order:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_notify_url_off_loopback_is_refused_at_start() {
    for url in [
        "https://127.0.0.1:9/",
        "http://example.com:80/",
        "http://127.0.0.1/",
    ] {
        let err = fast()
            .notify(NotifyConfig::new(url))
            .start()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{url}: {err}");
    }
}

#[tokio::test]
async fn delivery_gives_up_after_the_last_attempt_and_a_refusal_is_not_retried() {
    let failing = Receiver::start(vec![500; 10]).await;
    let refusing = Receiver::start(vec![401; 10]).await;
    let sim_failing = fast()
        .notify(NotifyConfig::new(&failing.url).with_retries(3, Duration::from_millis(10)))
        .start()
        .await
        .unwrap();
    let sim_refusing = fast()
        .notify(NotifyConfig::new(&refusing.url).with_retries(3, Duration::from_millis(10)))
        .start()
        .await
        .unwrap();
    Api::new(&sim_failing)
        .create("wan2.2-animate-mix", None)
        .await;
    Api::new(&sim_refusing)
        .create("wan2.2-animate-mix", None)
        .await;
    failing.until(|s| s.len() >= 3).await;
    refusing.until(|s| !s.is_empty()).await;
    for _ in 0..400 {
        if sim_failing.counters().notify_given_up == 1
            && sim_refusing.counters().notify_given_up == 1
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(failing.seen().len(), 3, "max_attempts bounds the retries");
    assert_eq!(refusing.seen().len(), 1, "a 401 is final");
    let (f, r) = (sim_failing.counters(), sim_refusing.counters());
    assert_eq!(
        (f.notify_attempts, f.notify_delivered, f.notify_given_up),
        (3, 0, 1)
    );
    assert_eq!(
        (r.notify_attempts, r.notify_delivered, r.notify_given_up),
        (1, 0, 1)
    );
    sim_failing.shutdown().await;
    sim_refusing.shutdown().await;
}

#[tokio::test]
async fn delayed_delivery_still_delivers_every_event() {
    let rx = Receiver::start(vec![]).await;
    let hostility = NotifyHostility::from_names(9, &["delay"]).unwrap();
    let sim = fast()
        .notify(NotifyConfig::new(&rx.url).with_hostility(hostility))
        .start()
        .await
        .unwrap();
    let api = Api::new(&sim);
    let a = api.create("wan2.2-animate-mix", None).await;
    let b = api.create("wan2.2-animate-move", None).await;
    let seen = rx.until(|s| complete(s).len() >= 2).await;
    let mut ids: Vec<String> = complete(&seen)
        .iter()
        .map(|e| e["data"]["task_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    let mut expected = vec![a, b];
    expected.sort();
    assert_eq!(ids, expected);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_cancelled_task_is_announced_as_canceled() {
    let rx = Receiver::start(vec![]).await;
    // A queue of an hour at 600x: six real seconds, so the task is still PENDING when cancelled.
    let mut durations = wan_animate_sim::TaskDurations::default();
    durations.queue = Duration::from_secs(3600);
    let sim = fast()
        .durations(durations)
        .notify(NotifyConfig::new(&rx.url))
        .start()
        .await
        .unwrap();
    let api = Api::new(&sim);
    let id = api.create("wan2.2-animate-mix", None).await;
    let cancel = api
        .http
        .post(format!("{}/tasks/{id}/cancel", sim.base_url()))
        .bearer_auth(sim.api_key())
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 200);
    let seen = rx.until(|s| !complete(s).is_empty()).await;
    let e = &complete(&seen)[0];
    assert_eq!(e["data"]["task_id"], id.as_str());
    assert_eq!(e["data"]["task_status"], "CANCELED");
    assert_eq!(e["data"]["start_time"], Value::Null, "it never started");
    sim.shutdown().await;
}
