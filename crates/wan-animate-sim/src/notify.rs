//! Completion events: like Model Studio through EventBridge (spec §17), the simulator POSTs a
//! CloudEvents envelope for every task that ends, with at-least-once delivery (retries), and
//! on request a hostile delivery: duplicates, delays, reordering, a first attempt cut off.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Mutex as AsyncMutex, watch};

use crate::routes::App;
use crate::state::{Task, api_key_id, splitmix, wall_ms};

/// Where and how the simulator announces finished tasks (spec §17).
///
/// ```
/// use wan_animate_sim::{NotifyConfig, NotifyHostility};
/// let notify = NotifyConfig::new("http://127.0.0.1:9000/events")
///     .with_token("s3cret")
///     .with_hostility(NotifyHostility::all(7));
/// assert!(!format!("{notify:?}").contains("s3cret"));
/// ```
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct NotifyConfig {
    /// The callback URL: plain `http://` on loopback (`127.0.0.1`, `[::1]`, `localhost`).
    pub url: String,
    /// Sent as `Authorization: Bearer TOKEN` with every attempt; never logged.
    pub token: Option<String>,
    /// Hostile delivery, reproducible from its seed.
    pub hostility: NotifyHostility,
    /// Attempts per event before giving up (at least 1).
    pub max_attempts: u32,
    /// Real delay before the first retry; doubles with each further retry.
    pub retry_delay: Duration,
    /// Real time one attempt may take.
    pub attempt_timeout: Duration,
}

impl fmt::Debug for NotifyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotifyConfig")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("hostility", &self.hostility)
            .field("max_attempts", &self.max_attempts)
            .field("retry_delay", &self.retry_delay)
            .field("attempt_timeout", &self.attempt_timeout)
            .finish()
    }
}

impl NotifyConfig {
    /// Events to `url`, without a token, delivered politely, 6 attempts from 200 ms apart.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            token: None,
            hostility: NotifyHostility::none(),
            max_attempts: 6,
            retry_delay: Duration::from_millis(200),
            attempt_timeout: Duration::from_secs(5),
        }
    }

    /// Sends `Authorization: Bearer TOKEN`.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Makes delivery hostile.
    pub fn with_hostility(mut self, hostility: NotifyHostility) -> Self {
        self.hostility = hostility;
        self
    }

    /// Attempts per event and the first retry delay.
    pub fn with_retries(mut self, max_attempts: u32, retry_delay: Duration) -> Self {
        self.max_attempts = max_attempts.max(1);
        self.retry_delay = retry_delay;
        self
    }

    /// Checks the URL: `http://`, a loopback host, a port. The error says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        parse_target(&self.url).map(|_| ())
    }
}

/// Hostile delivery: each probability is drawn per event from a generator seeded with
/// `seed`, in the order events are dispatched, so a seed and a sequence of task ends give the
/// same deliveries.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NotifyHostility {
    /// The seed.
    pub seed: u64,
    /// Send the event a second time after it was delivered.
    pub duplicate: f64,
    /// Wait a random time up to `max_delay` before the first attempt.
    pub delay: f64,
    /// The longest injected delay (real time).
    pub max_delay: Duration,
    /// Hold the event back until the next event has been sent (or `max_delay` passed), so
    /// the two arrive swapped. One event is held at a time.
    pub reorder: f64,
    /// Cut the first attempt off (headers and half the body, then the connection closes);
    /// the retry sends the whole event.
    pub fail_first: f64,
}

impl Default for NotifyHostility {
    fn default() -> Self {
        Self::none()
    }
}

impl NotifyHostility {
    /// Polite delivery: every event once, at once, in order.
    pub fn none() -> Self {
        Self {
            seed: 0,
            duplicate: 0.0,
            delay: 0.0,
            max_delay: Duration::from_millis(300),
            reorder: 0.0,
            fail_first: 0.0,
        }
    }

    /// Every hostile mode, each on every event.
    pub fn all(seed: u64) -> Self {
        Self {
            seed,
            duplicate: 1.0,
            delay: 1.0,
            max_delay: Duration::from_millis(300),
            reorder: 1.0,
            fail_first: 1.0,
        }
    }

    /// Turns on the named modes (`duplicate`, `delay`, `reorder`, `fail-first`, `all`) at
    /// probability 1; an unknown name is an error naming it.
    pub fn from_names<S: AsRef<str>>(seed: u64, names: &[S]) -> Result<Self, String> {
        let mut h = Self::none();
        h.seed = seed;
        for name in names {
            match name.as_ref().trim() {
                "" => {}
                "duplicate" | "duplicates" => h.duplicate = 1.0,
                "delay" | "delays" => h.delay = 1.0,
                "reorder" => h.reorder = 1.0,
                "fail-first" | "fail_first" => h.fail_first = 1.0,
                "all" => h = Self::all(seed),
                other => {
                    return Err(format!(
                        "unknown hostile delivery mode {other:?}: use duplicate, delay, reorder, fail-first or all"
                    ));
                }
            }
        }
        Ok(h)
    }
}

/// `(host:port, path)` of an `http://` loopback URL.
fn parse_target(url: &str) -> Result<(String, String), String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!(
            "the notify URL {url:?} must start with http:// (the simulator sends to loopback only)"
        )
    })?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_owned()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_owned()),
    };
    let (host, port) = authority
        .rsplit_once(':')
        .filter(|(h, p)| !p.is_empty() && !h.is_empty() && !p.contains(']'))
        .ok_or_else(|| {
            format!("the notify URL {url:?} needs a port, e.g. http://127.0.0.1:9000/")
        })?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("the notify URL {url:?} has an invalid port {port:?}"))?;
    let bare = host.trim_matches(|c| c == '[' || c == ']');
    let loopback = bare == "localhost"
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return Err(format!(
            "the notify URL {url:?} is not on loopback: the simulator sends events to 127.0.0.1, [::1] or localhost only"
        ));
    }
    let connect = if bare == "localhost" {
        format!("127.0.0.1:{port}")
    } else {
        format!("{host}:{port}")
    };
    Ok((connect, path))
}

/// A UTC ISO 8601 time with milliseconds, as EventBridge writes them.
fn iso8601_ms(t: SystemTime) -> String {
    let s = wan_animate_types::ServiceTime::from_unix_millis(
        wall_ms(t) - wan_animate_types::SERVICE_UTC_OFFSET_MILLIS,
    );
    format!("{}Z", s.as_str().replacen(' ', "T", 1))
}

/// The §17 event of a task that ended.
pub(crate) fn event_json(task: &Task, event_id: &str, published: SystemTime) -> Value {
    let end = task.ended.unwrap_or(published);
    json!({
        "specversion": "1.0",
        "id": event_id,
        "source": "acs.dashscope",
        "type": "dashscope:System:AsyncTaskFinish",
        "subject": format!("acs.dashscope:cn-beijing:sim-account:task/{}", task.id),
        "datacontenttype": "application/json;charset=utf-8",
        "time": iso8601_ms(end),
        "aliyunaccountid": "sim-account",
        "aliyunoriginalaccountid": "sim-account",
        "aliyunpublishtime": iso8601_ms(published),
        "aliyuneventbusname": "default",
        "aliyunregionid": "cn-beijing",
        "data": {
            "task_id": task.id,
            "task_status": task.status.as_str(),
            "region": "cn-beijing",
            "request_id": task.request_id,
            "api_key_id": api_key_id(&task.key),
            "user_api_unique_key": format!("apikey:v1:aigc:image2video:video-synthesis:{}", task.model),
            "start_time": task.started.map(wall_ms),
            "end_time": task.ended.map(wall_ms),
        }
    })
}

/// How one event will be delivered, drawn when it is dispatched.
#[derive(Debug, Clone, Copy)]
struct Plan {
    delay: Duration,
    hold: bool,
    cut_first: bool,
    duplicate: bool,
}

fn draw_plan(h: &NotifyHostility, rng: &mut u64) -> Plan {
    let mut next = || (splitmix(rng) >> 11) as f64 / (1u64 << 53) as f64;
    let (d, dx, r, f, u) = (next(), next(), next(), next(), next());
    Plan {
        delay: if d < h.delay {
            h.max_delay.mul_f64(dx)
        } else {
            Duration::ZERO
        },
        hold: r < h.reorder,
        cut_first: f < h.fail_first,
        duplicate: u < h.duplicate,
    }
}

/// The notifier: watches the world and delivers an event for every task that ends.
pub(crate) async fn run(app: App, config: NotifyConfig, mut stop: watch::Receiver<bool>) {
    let Ok((addr, path)) = parse_target(&config.url) else {
        tracing::warn!("notifier not started: invalid URL");
        return;
    };
    let target = Arc::new(Target {
        addr,
        path,
        token: config.token.clone(),
        config: config.clone(),
        app: app.clone(),
    });
    let mut rng = config.hostility.seed ^ 0x0E7E_17B0_5EED;
    // Events held back for reordering: released after the next event is sent.
    let held: Arc<AsyncMutex<Vec<(Value, Plan)>>> = Arc::new(AsyncMutex::new(Vec::new()));
    // Like an EventBridge rule, the notifier announces what ends once it exists: tasks of a
    // persistent world that ended before are not announced.
    let since = SystemTime::now();
    loop {
        let now = SystemTime::now();
        let (events, next) = {
            let mut st = app.lock();
            st.advance(now);
            let mut ended: Vec<Task> = st
                .order
                .iter()
                .filter_map(|id| st.tasks.get(id))
                .filter(|t| {
                    t.ended.is_some_and(|e| e >= since) && !t.notified && !st.expired(t, now)
                })
                .cloned()
                .collect();
            ended.sort_by_key(|t| t.ended);
            for t in &ended {
                if let Some(task) = st.tasks.get_mut(&t.id) {
                    task.notified = true;
                }
                st.touch();
            }
            let events: Vec<Value> = ended
                .iter()
                .map(|t| {
                    let id = st.new_id();
                    event_json(t, &id, now)
                })
                .collect();
            (events, st.next_change(now))
        };
        for event in events {
            let plan = draw_plan(&config.hostility, &mut rng);
            // One event at a time is held back; the next one overtakes it.
            if plan.hold && held.lock().await.is_empty() {
                held.lock().await.push((event, plan));
                // Never hold forever: released after max_delay if no other event comes.
                let held = held.clone();
                let target = target.clone();
                let wait = config.hostility.max_delay;
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    let released: Vec<_> = held.lock().await.drain(..).collect();
                    for (e, p) in released {
                        tokio::spawn(target.clone().deliver(e, p));
                    }
                });
                continue;
            }
            let released: Vec<_> = held.lock().await.drain(..).collect();
            let target2 = target.clone();
            tokio::spawn(async move {
                // This event first, then those held back: they arrive out of order.
                target2.clone().deliver(event, plan).await;
                for (e, p) in released {
                    tokio::spawn(target2.clone().deliver(e, p));
                }
            });
        }
        // Tasks created in this process wake the loop; those of other processes sharing a
        // persistent world are found by looking at least every 100 ms.
        // A next change already past (the loop was busy sending) means: look again at once,
        // not after a full 100 ms (that lag was measured by the polling benchmark).
        let wake = next
            .map(|t| t.duration_since(SystemTime::now()).unwrap_or_default())
            .unwrap_or(Duration::from_millis(100))
            .min(Duration::from_millis(100))
            // Past the end instant, so the task reads as ended.
            + Duration::from_millis(2);
        tokio::select! {
            _ = tokio::time::sleep(wake) => {}
            _ = app.task_created.notified() => {}
            _ = stop.changed() => return,
        }
    }
}

#[derive(Debug)]
struct Target {
    addr: String,
    path: String,
    token: Option<String>,
    config: NotifyConfig,
    app: App,
}

impl Target {
    /// Delivers one event, at least once: retries until a 2xx or the attempts run out.
    async fn deliver(self: Arc<Self>, event: Value, plan: Plan) {
        if !plan.delay.is_zero() {
            tokio::time::sleep(plan.delay).await;
        }
        let body = event.to_string();
        let mut delay = self.config.retry_delay;
        let mut delivered = false;
        for attempt in 0..self.config.max_attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
            }
            let cut = plan.cut_first && attempt == 0;
            self.app.lock_local().counters.notify_attempts += 1;
            let outcome = tokio::time::timeout(self.config.attempt_timeout, self.post(&body, cut))
                .await
                .unwrap_or_else(|_| Err("timed out".into()));
            match outcome {
                Ok(status) if (200..300).contains(&status) => {
                    delivered = true;
                    break;
                }
                Ok(status) if (400..500).contains(&status) && status != 408 && status != 429 => {
                    tracing::warn!(status, "the event receiver refused an event; not retrying");
                    break;
                }
                Ok(status) => tracing::debug!(status, attempt, "event attempt failed"),
                Err(e) => tracing::debug!(error = %e, attempt, "event attempt failed"),
            }
        }
        if !delivered {
            self.app.lock_local().counters.notify_given_up += 1;
            return;
        }
        self.app.lock_local().counters.notify_delivered += 1;
        if plan.duplicate {
            let again = self.post(&body, false).await;
            self.app.lock_local().counters.notify_attempts += 1;
            if matches!(again, Ok(s) if (200..300).contains(&s)) {
                self.app.lock_local().counters.notify_delivered += 1;
            }
        }
    }

    /// One HTTP/1.1 POST; the answer's status code. `cut`: send half the body and close.
    async fn post(&self, body: &str, cut: bool) -> Result<u16, String> {
        let mut s = tokio::net::TcpStream::connect(&self.addr)
            .await
            .map_err(|e| e.to_string())?;
        let mut head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json;charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\nUser-Agent: wan-animate-sim-eventbridge\r\n",
            self.path,
            self.addr,
            body.len()
        );
        if let Some(token) = &self.token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        if cut {
            let _ = s.write_all(&body.as_bytes()[..body.len() / 2]).await;
            let _ = s.shutdown().await;
            return Err("first attempt cut off (hostile delivery)".into());
        }
        s.write_all(body.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.windows(2).any(|w| w == b"\r\n") || buf.len() > 64 * 1024 {
                break;
            }
        }
        let line = String::from_utf8_lossy(&buf);
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| "no HTTP status in the answer".to_owned())?;
        Ok(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_http_targets_are_accepted() {
        assert_eq!(
            parse_target("http://127.0.0.1:9000/cb?x=1").unwrap(),
            ("127.0.0.1:9000".into(), "/cb?x=1".into())
        );
        assert_eq!(
            parse_target("http://localhost:9").unwrap(),
            ("127.0.0.1:9".into(), "/".into())
        );
        assert!(parse_target("http://[::1]:9/").is_ok());
        assert!(parse_target("https://127.0.0.1:9/").is_err());
        assert!(parse_target("http://example.com:80/").is_err());
        assert!(parse_target("http://127.0.0.1/").is_err());
        assert!(parse_target("http://127.0.0.1:x/").is_err());
    }

    #[test]
    fn hostile_modes_parse_by_name() {
        let h = NotifyHostility::from_names(3, &["duplicate", "fail-first"]).unwrap();
        assert_eq!(
            (h.duplicate, h.fail_first, h.delay, h.reorder),
            (1.0, 1.0, 0.0, 0.0)
        );
        assert_eq!(
            NotifyHostility::from_names(3, &["all"]).unwrap(),
            NotifyHostility::all(3)
        );
        assert!(
            NotifyHostility::from_names(3, &["bogus"])
                .unwrap_err()
                .contains("bogus")
        );
    }

    #[test]
    fn the_same_seed_draws_the_same_plans() {
        let h = NotifyHostility {
            duplicate: 0.5,
            delay: 0.5,
            reorder: 0.5,
            fail_first: 0.5,
            ..NotifyHostility::none()
        };
        let draw = |seed: u64| {
            let mut rng = seed;
            (0..16)
                .map(|_| {
                    let p = draw_plan(&h, &mut rng);
                    (p.delay, p.hold, p.cut_first, p.duplicate)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
    }
}
