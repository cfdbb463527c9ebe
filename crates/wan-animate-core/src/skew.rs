//! The server's clock as seen from here: every API answer's `Date` header gives an estimate
//! of `server time - local wall-clock time`, so time windows over the service's timestamps
//! (task creation times in the task list) can be computed in server time.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The latest estimate of the server's clock offset.
#[derive(Debug, Default)]
pub(crate) struct ServerClock {
    skew_ms: Mutex<Option<i64>>,
}

impl ServerClock {
    /// Records the offset shown by an answer's `Date` header, received at local time `received`.
    /// `Date` has one-second resolution and is stamped before the answer travels, so the
    /// estimate is at most about one second plus the latency below the true offset.
    pub(crate) fn observe(&self, headers: &http::HeaderMap, received: SystemTime) {
        let Some(server_ms) = headers
            .get(http::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_http_date_ms)
        else {
            return;
        };
        let local_ms = unix_ms(received);
        if let Ok(mut s) = self.skew_ms.lock() {
            *s = Some(server_ms - local_ms);
        }
    }

    /// `server - local` in milliseconds, if any answer carried a `Date` yet.
    pub(crate) fn skew_ms(&self) -> Option<i64> {
        self.skew_ms.lock().ok().and_then(|s| *s)
    }
}

/// Milliseconds since the Unix epoch (negative before it).
pub(crate) fn unix_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7), the only form
/// servers send today, into Unix milliseconds. Anything else is `None`.
pub(crate) fn parse_http_date_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let (_, rest) = s.split_once(", ")?;
    let mut parts = rest.split(' ');
    let day: i64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let h: i64 = hms.next()?.parse().ok()?;
    let m: i64 = hms.next()?.parse().ok()?;
    let sec: i64 = hms.next()?.parse().ok()?;
    if parts.next()? != "GMT" || parts.next().is_some() || hms.next().is_some() {
        return None;
    }
    if !(1..=31).contains(&day) || !(1970..=9999).contains(&year) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let days = wan_animate_types::days_from_civil(year, month, day);
    Some(((days * 24 + h) * 60 + m) * 60_000 + sec * 1000)
}

/// Formats Unix milliseconds as an IMF-fixdate (mock servers, tests).
pub(crate) fn format_http_date(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let (y, m, d, hh, mm, ss, _) = wan_animate_types::unix_millis_to_civil(ms);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(m - 1) as usize];
    format!("{weekday}, {d:02} {month} {y} {hh:02}:{mm:02}:{ss:02} GMT")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_rfc_example_and_round_trips() {
        assert_eq!(
            parse_http_date_ms("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777_000)
        );
        for ms in [0, 784_111_777_000, 1_795_000_000_000, 951_782_400_000] {
            assert_eq!(parse_http_date_ms(&format_http_date(ms)), Some(ms));
        }
        assert_eq!(
            format_http_date(784_111_777_000),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
    }

    #[test]
    fn refuses_other_forms() {
        for bad in [
            "",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
        ] {
            assert_eq!(parse_http_date_ms(bad), None, "{bad}");
        }
    }
}
