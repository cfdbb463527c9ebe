//! The service's two time formats, exposed without a date-time dependency.
//!
//! Task queries send `YYYY-MM-DD HH:mm:ss.SSS` strings in UTC+8 ([`ServiceTime`]);
//! task lists send epoch milliseconds ([`EpochMillis`]) and take `YYYYMMDDhhmmss`
//! filters ([`ListTime`]). Each keeps the wire form and offers conversions to Unix
//! milliseconds, which any time crate can take from there. See docs/adr/0004-timestamps.md.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The service's fixed offset for formatted times: UTC+8 (Beijing), in milliseconds.
pub const SERVICE_UTC_OFFSET_MILLIS: i64 = 8 * 3600 * 1000;

/// A `YYYY-MM-DD HH:mm:ss.SSS` time in UTC+8, as task queries report it.
///
/// ```
/// use wan_animate_types::ServiceTime;
/// let t = ServiceTime::new("2025-09-18 15:32:00.105");
/// assert_eq!(t.to_unix_millis(), Some(1_758_180_720_105));
/// assert_eq!(ServiceTime::from_unix_millis(1_758_180_720_105), t);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ServiceTime(String);

impl ServiceTime {
    /// Wraps a wire string (not validated: the service owns the format).
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The string as the service sent it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Milliseconds since the Unix epoch, or `None` if the string is not in the documented format.
    pub fn to_unix_millis(&self) -> Option<i64> {
        let s = self.0.as_bytes();
        // "YYYY-MM-DD HH:mm:ss" with an optional ".S", ".SS" or ".SSS".
        if s.len() < 19
            || s[4] != b'-'
            || s[7] != b'-'
            || s[10] != b' '
            || s[13] != b':'
            || s[16] != b':'
        {
            return None;
        }
        let millis = match &s[19..] {
            [] => 0,
            [b'.', frac @ ..] if !frac.is_empty() && frac.len() <= 3 => {
                let digits = digits(frac)?;
                digits * 10i64.pow(3 - frac.len() as u32)
            }
            _ => return None,
        };
        let local = civil_to_unix_millis(
            digits(&s[0..4])?,
            digits(&s[5..7])?,
            digits(&s[8..10])?,
            digits(&s[11..13])?,
            digits(&s[14..16])?,
            digits(&s[17..19])?,
        )?;
        Some(local + millis - SERVICE_UTC_OFFSET_MILLIS)
    }

    /// Formats Unix milliseconds the way the service does (UTC+8, millisecond precision).
    pub fn from_unix_millis(ms: i64) -> Self {
        let (y, mo, d, h, mi, s, milli) = unix_millis_to_civil(ms + SERVICE_UTC_OFFSET_MILLIS);
        Self(format!(
            "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{milli:03}"
        ))
    }

    /// The time as a [`SystemTime`], if it parses.
    pub fn to_system_time(&self) -> Option<SystemTime> {
        EpochMillis(self.to_unix_millis()?).to_system_time()
    }
}

impl fmt::Display for ServiceTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Milliseconds since the Unix epoch, as task lists report `gmt_create`, `start_time` and `end_time`.
///
/// ```
/// use wan_animate_types::{EpochMillis, ServiceTime};
/// let t = EpochMillis(1_758_180_720_105);
/// assert_eq!(t.to_service_time().as_str(), "2025-09-18 15:32:00.105");
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct EpochMillis(pub i64);

impl EpochMillis {
    /// The raw milliseconds.
    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// The time as a [`SystemTime`] (`None` only if the platform cannot represent it).
    pub fn to_system_time(self) -> Option<SystemTime> {
        if self.0 >= 0 {
            UNIX_EPOCH.checked_add(Duration::from_millis(self.0 as u64))
        } else {
            UNIX_EPOCH.checked_sub(Duration::from_millis(self.0.unsigned_abs()))
        }
    }

    /// Milliseconds of a [`SystemTime`] (saturating at the `i64` range).
    pub fn from_system_time(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Self(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            Err(e) => Self(-i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX)),
        }
    }

    /// The same instant in the task-query format.
    pub fn to_service_time(self) -> ServiceTime {
        ServiceTime::from_unix_millis(self.0)
    }
}

/// A `YYYYMMDDhhmmss` time, the format of the task list's `start_time`/`end_time` filters.
///
/// The documentation does not state its time zone; like the query times it is taken as
/// UTC+8. Callers that reconcile by time should widen their window by a few minutes.
///
/// ```
/// use wan_animate_types::ListTime;
/// let t = ListTime::from_unix_millis(1_758_180_720_105);
/// assert_eq!(t.as_str(), "20250918153200");
/// assert_eq!(t.to_unix_millis(), Some(1_758_180_720_000));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ListTime(String);

impl ListTime {
    /// Wraps a `YYYYMMDDhhmmss` string (not validated).
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The wire string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Formats Unix milliseconds in UTC+8, truncated to the second.
    pub fn from_unix_millis(ms: i64) -> Self {
        let (y, mo, d, h, mi, s, _) = unix_millis_to_civil(ms + SERVICE_UTC_OFFSET_MILLIS);
        Self(format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}"))
    }

    /// Unix milliseconds, or `None` if the string is not 14 digits of a valid time.
    pub fn to_unix_millis(&self) -> Option<i64> {
        let s = self.0.as_bytes();
        if s.len() != 14 {
            return None;
        }
        let local = civil_to_unix_millis(
            digits(&s[0..4])?,
            digits(&s[4..6])?,
            digits(&s[6..8])?,
            digits(&s[8..10])?,
            digits(&s[10..12])?,
            digits(&s[12..14])?,
        )?;
        Some(local - SERVICE_UTC_OFFSET_MILLIS)
    }
}

impl fmt::Display for ListTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn digits(s: &[u8]) -> Option<i64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        s.iter()
            .fold(0i64, |acc, &b| acc * 10 + i64::from(b - b'0')),
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). The one
/// calendar conversion of the workspace: HTTP dates, lock files and service times use it.
///
/// ```
/// use wan_animate_types::days_from_civil;
/// assert_eq!(days_from_civil(1970, 1, 1), 0);
/// assert_eq!(days_from_civil(2000, 3, 1), 11_017);
/// ```
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_to_unix_millis(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> Option<i64> {
    let days_in_month = match mo {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => return None,
    };
    if d < 1 || d > days_in_month || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    Some(((days * 24 + h) * 60 + mi) * 60_000 + s * 1000)
}

/// The UTC calendar date and time of Unix milliseconds: `(year, month, day, hour, minute,
/// second, millisecond)`. The inverse of [`days_from_civil`] (plus the time of day).
///
/// ```
/// use wan_animate_types::unix_millis_to_civil;
/// assert_eq!(unix_millis_to_civil(0), (1970, 1, 1, 0, 0, 0, 0));
/// assert_eq!(unix_millis_to_civil(951_782_400_123), (2000, 2, 29, 0, 0, 0, 123));
/// ```
pub fn unix_millis_to_civil(ms: i64) -> (i64, i64, i64, i64, i64, i64, i64) {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_time_round_trips_across_dates() {
        for ms in [0i64, 951_782_400_000, 1_758_180_720_105, 4_102_444_799_999] {
            let t = ServiceTime::from_unix_millis(ms);
            assert_eq!(t.to_unix_millis(), Some(ms), "{t}");
        }
    }

    #[test]
    fn service_time_rejects_malformed_strings() {
        for s in [
            "",
            "2025-09-18",
            "2025-13-01 00:00:00.000",
            "2025-02-30 00:00:00",
            "2025-09-18T15:32:00.105",
            "2025-09-18 15:32:00.1234",
            "x025-09-18 15:32:00",
        ] {
            assert_eq!(ServiceTime::new(s).to_unix_millis(), None, "{s}");
        }
    }

    #[test]
    fn service_time_accepts_short_fractions() {
        assert_eq!(
            ServiceTime::new("1970-01-01 08:00:00.5").to_unix_millis(),
            Some(500)
        );
        assert_eq!(
            ServiceTime::new("1970-01-01 08:00:01").to_unix_millis(),
            Some(1000)
        );
    }

    #[test]
    fn list_time_is_utc_plus_8() {
        assert_eq!(ListTime::from_unix_millis(0).as_str(), "19700101080000");
        assert_eq!(ListTime::new("19700101080000").to_unix_millis(), Some(0));
        assert_eq!(ListTime::new("1970010108000").to_unix_millis(), None);
    }

    #[test]
    fn epoch_millis_converts_to_system_time_and_back() {
        let t = EpochMillis(1_758_180_720_105);
        assert_eq!(
            EpochMillis::from_system_time(t.to_system_time().unwrap()),
            t
        );
        let before = EpochMillis(-1500);
        assert_eq!(
            EpochMillis::from_system_time(before.to_system_time().unwrap()),
            before
        );
    }
}
