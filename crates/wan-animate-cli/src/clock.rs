//! Times for people: local with the zone shown (or UTC with `--utc`); JSON keeps the service's
//! own values and adds ISO 8601 with an offset.

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// How this invocation shows times.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    tz: TimeZone,
}

impl Clock {
    /// The system's zone, or UTC with `--utc` (or when the zone cannot be determined).
    pub(crate) fn new(utc: bool) -> Self {
        let tz = if utc {
            TimeZone::UTC
        } else {
            TimeZone::try_system().unwrap_or(TimeZone::UTC)
        };
        Self { tz }
    }

    /// `2026-11-24 15:04:05 CET` (the zone's abbreviation, or its offset when it has none).
    pub(crate) fn human(&self, unix_millis: i64) -> String {
        match Timestamp::from_millisecond(unix_millis) {
            Ok(t) => {
                let z = t.to_zoned(self.tz.clone());
                let abbreviation = z.strftime("%Z").to_string();
                if abbreviation.is_empty() || abbreviation.starts_with(['+', '-']) {
                    z.strftime("%Y-%m-%d %H:%M:%S %:z").to_string()
                } else {
                    z.strftime("%Y-%m-%d %H:%M:%S %Z").to_string()
                }
            }
            Err(_) => format!("{unix_millis} ms since 1970"),
        }
    }

    /// ISO 8601 with the zone's offset, for JSON.
    pub(crate) fn iso(&self, unix_millis: i64) -> Option<String> {
        let t = Timestamp::from_millisecond(unix_millis).ok()?;
        Some(
            t.to_zoned(self.tz.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%.3f%:z")
                .to_string(),
        )
    }
}

static CLOCK: std::sync::OnceLock<Clock> = std::sync::OnceLock::new();

/// Chooses the zone of this invocation (`--utc` or the system's); the first call wins.
pub(crate) fn init(utc: bool) {
    let _ = CLOCK.set(Clock::new(utc));
}

/// The clock of this invocation.
pub(crate) fn get() -> &'static Clock {
    CLOCK.get_or_init(|| Clock::new(false))
}

/// A time the service formatted (UTC+8), shown in our zone; kept as given if unparseable.
pub(crate) fn service_time(t: &wan_animate_core::types::ServiceTime) -> String {
    match t.to_unix_millis() {
        Some(ms) => get().human(ms),
        None => format!("{t} (service time)"),
    }
}

/// The task's times as ISO 8601 with an offset, for the `local` object of JSON documents.
pub(crate) fn task_times(task: &wan_animate_core::types::TaskResponse) -> serde_json::Value {
    let iso = |t: &Option<wan_animate_core::types::ServiceTime>| {
        t.as_ref()
            .and_then(|t| t.to_unix_millis())
            .and_then(|ms| get().iso(ms))
    };
    serde_json::json!({
        "submit_time": iso(&task.output.submit_time),
        "scheduled_time": iso(&task.output.scheduled_time),
        "end_time": iso(&task.output.end_time),
    })
}

/// Now, as ISO 8601 with an offset.
pub(crate) fn now_iso() -> Option<String> {
    get().iso(jiff::Timestamp::now().as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times_show_their_zone_and_iso_has_an_offset() {
        let c = Clock::new(true);
        // 2026-11-24 12:00:00 UTC.
        let ms = 1_795_521_600_000;
        assert_eq!(c.human(ms), "2026-11-24 12:00:00 UTC");
        assert_eq!(c.iso(ms).unwrap(), "2026-11-24T12:00:00.000+00:00");
    }

    #[test]
    fn a_named_zone_is_shown_with_its_abbreviation() {
        let c = Clock {
            tz: TimeZone::get("Asia/Shanghai").unwrap(),
        };
        assert_eq!(c.human(1_795_521_600_000), "2026-11-24 20:00:00 CST");
    }
}
