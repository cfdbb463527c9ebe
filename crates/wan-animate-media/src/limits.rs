//! The documented input limits, as data, and the check that reports every violation.

use std::fmt;

use crate::{Format, MediaInfo, MediaKind};

/// The limits of one kind of input.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Limits {
    /// Image or video.
    pub kind: MediaKind,
    /// Accepted formats.
    pub formats: &'static [Format],
    /// Smallest accepted width and height, in pixels.
    pub min_side_px: u32,
    /// Largest accepted width and height, in pixels.
    pub max_side_px: u32,
    /// Largest long-side / short-side ratio (3.0 = between 1:3 and 3:1).
    pub max_aspect_ratio: f64,
    /// Largest file, in bytes.
    pub max_bytes: u64,
    /// Shortest video, in seconds.
    pub min_duration_secs: Option<f64>,
    /// Longest video, in seconds.
    pub max_duration_secs: Option<f64>,
}

/// The character image: JPEG, PNG, BMP or WEBP; each side 200–4096 px; aspect 1:3–3:1; ≤ 5 MB.
pub const IMAGE_LIMITS: Limits = Limits {
    kind: MediaKind::Image,
    formats: &[Format::Jpeg, Format::Png, Format::Bmp, Format::Webp],
    min_side_px: 200,
    max_side_px: 4096,
    max_aspect_ratio: 3.0,
    max_bytes: 5 * 1024 * 1024,
    min_duration_secs: None,
    max_duration_secs: None,
};

/// The driving video: MP4, AVI or MOV; 2–30 s; each side 200–2048 px; aspect 1:3–3:1; ≤ 200 MB.
///
/// The duration bounds are inclusive (2 ≤ d ≤ 30). One page of the documentation says they
/// are exclusive ("2s＜时长＜30s") while the API reference says inclusive; we accept the
/// inclusive range, and the server has the final word on a video of exactly 2 or 30 s.
pub const VIDEO_LIMITS: Limits = Limits {
    kind: MediaKind::Video,
    formats: &[Format::Mp4, Format::Avi, Format::Mov],
    min_side_px: 200,
    max_side_px: 2048,
    max_aspect_ratio: 3.0,
    max_bytes: 200 * 1024 * 1024,
    min_duration_secs: Some(2.0),
    max_duration_secs: Some(30.0),
};

/// Which limit a violation breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// The format is not accepted for this input.
    Format,
    /// Width out of range.
    Width,
    /// Height out of range.
    Height,
    /// Aspect ratio beyond 1:3–3:1.
    AspectRatio,
    /// File too large.
    FileSize,
    /// Video too short or too long (or of unknown length).
    Duration,
}

/// One broken limit, with the actual value and the limit.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Violation {
    /// The rule.
    pub rule: Rule,
    /// Image or video.
    pub kind: MediaKind,
    /// The file's value, for people (`"31.2 s"`).
    pub actual: String,
    /// The limit, for people (`"2–30 s"`).
    pub limit: String,
}

impl Violation {
    /// The error code the service would answer with for this violation.
    ///
    /// ```
    /// use wan_animate_media::{check, Format, MediaInfo};
    /// let v = check(&MediaInfo::image(Format::Png, 100, 400, 1000));
    /// let codes: Vec<&str> = v.iter().map(|v| v.service_code()).collect();
    /// assert_eq!(codes, ["InvalidFile.Resolution", "InvalidFile.AspectRatio"]);
    /// ```
    pub fn service_code(&self) -> &'static str {
        match self.rule {
            Rule::Format => "InvalidFile.Format",
            Rule::Width | Rule::Height => "InvalidFile.Resolution",
            Rule::AspectRatio => "InvalidFile.AspectRatio",
            Rule::FileSize => "InvalidFile.Size",
            Rule::Duration => "InvalidFile.Duration",
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
        };
        let rule = match self.rule {
            Rule::Format => "format",
            Rule::Width => "width",
            Rule::Height => "height",
            Rule::AspectRatio => "aspect ratio",
            Rule::FileSize => "file size",
            Rule::Duration => "duration",
        };
        write!(
            f,
            "{what} {rule} is {}; the limit is {}",
            self.actual, self.limit
        )
    }
}

/// The message the service sends with [`Violation::service_code`] (the simulator answers
/// with it). The service's wording is kept as is, including its inconsistencies.
///
/// ```
/// use wan_animate_media::{check, service_message, Format, MediaInfo};
/// let v = check(&MediaInfo::video(Format::Mov, 720, 1280, 1000, 45.0, Some(30.0)));
/// assert_eq!(
///     service_message(&v[0]),
///     "Invalid file duration. The file duration must be 2 s ~ 30 s."
/// );
/// ```
pub fn service_message(v: &Violation) -> String {
    match (v.rule, v.kind) {
        (Rule::FileSize, MediaKind::Image) => "Invalid file size, The image file size must be smaller than 5MB.".into(),
        (Rule::FileSize, MediaKind::Video) => "Invalid file size. The video file size must be less than 200MB, and the audio file size must be less than 15MB.".into(),
        (Rule::Duration, _) => "Invalid file duration. The file duration must be 2 s ~ 30 s.".into(),
        (Rule::AspectRatio, _) => "Invalid file ratio. The file aspect ratio (height/width) must be between 3:1 and 1:3.".into(),
        (Rule::Width | Rule::Height, MediaKind::Video) => "Invalid video resolution. The height or width of video must be 200 ~ 2048.".into(),
        (Rule::Width | Rule::Height, MediaKind::Image) => "The image resolution is invalid, please make sure that the largest length of image is smaller than 4096, and the smallest length of image is larger than 200.".into(),
        (Rule::Format, _) => "Invalid file format，the request file format is one of the following types: MP4, AVI, MOV, MP3, WAV, AAC, JPEG, JPG, PNG, BMP, and WEBP.".into(),
    }
}

const MIB: u64 = 1024 * 1024;

/// A byte count for people: whole mebibytes as `5 MB`, others with two decimals.
fn megabytes(bytes: u64) -> String {
    if bytes.is_multiple_of(MIB) {
        format!("{} MB", bytes / MIB)
    } else {
        format!("{:.2} MB", bytes as f64 / MIB as f64)
    }
}

/// A number for people, to at most three decimals without trailing zeros (`31.2`, `2`).
fn decimal(x: f64) -> String {
    let s = format!("{x:.3}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// A duration for people; exact when rounding would make a failing value look in range.
fn duration_text(d: f64, in_range: impl Fn(f64) -> bool) -> String {
    let short = decimal(d);
    match short.parse::<f64>() {
        Ok(rounded) if in_range(rounded) && !in_range(d) => format!("{d} s"),
        _ => format!("{short} s"),
    }
}

impl Limits {
    /// The limits for a kind of input.
    ///
    /// ```
    /// use wan_animate_media::{Limits, MediaKind, VIDEO_LIMITS};
    /// assert_eq!(Limits::for_kind(MediaKind::Video), &VIDEO_LIMITS);
    /// ```
    pub fn for_kind(kind: MediaKind) -> &'static Limits {
        match kind {
            MediaKind::Image => &IMAGE_LIMITS,
            MediaKind::Video => &VIDEO_LIMITS,
        }
    }

    /// Every limit `info` breaks, in the order format, width, height, aspect ratio, file
    /// size, duration (empty: it passes).
    ///
    /// An unknown duration breaks the duration rule of limits that have one.
    ///
    /// ```
    /// use wan_animate_media::{Format, MediaInfo, Rule, VIDEO_LIMITS};
    /// let clip = MediaInfo::video(Format::Mp4, 720, 1280, 1_000_000, 31.2, Some(30.0));
    /// let v = VIDEO_LIMITS.check(&clip);
    /// assert_eq!(v.len(), 1);
    /// assert_eq!(v[0].rule, Rule::Duration);
    /// assert_eq!(v[0].service_code(), "InvalidFile.Duration");
    /// assert_eq!(v[0].to_string(), "video duration is 31.2 s; the limit is 2–30 s");
    /// ```
    pub fn check(&self, info: &MediaInfo) -> Vec<Violation> {
        let mut out = Vec::new();
        let mut push = |rule, actual: String, limit: String| {
            out.push(Violation {
                rule,
                kind: self.kind,
                actual,
                limit,
            });
        };
        if !self.formats.contains(&info.format) {
            let names: Vec<&str> = self.formats.iter().map(|f| f.name()).collect();
            push(
                Rule::Format,
                info.format.name().into(),
                format!("one of {}", names.join(", ")),
            );
        }
        let sides = format!("{}–{} px", self.min_side_px, self.max_side_px);
        if !(self.min_side_px..=self.max_side_px).contains(&info.width) {
            push(Rule::Width, format!("{} px", info.width), sides.clone());
        }
        if !(self.min_side_px..=self.max_side_px).contains(&info.height) {
            push(Rule::Height, format!("{} px", info.height), sides);
        }
        let (long, short) = (info.width.max(info.height), info.width.min(info.height));
        // Exact in f64 for u32 sides, so exactly 3:1 passes and anything beyond fails.
        let too_narrow = short == 0
            || self.max_aspect_ratio.is_nan()
            || f64::from(long) > f64::from(short) * self.max_aspect_ratio;
        if too_narrow {
            let ratio = if short == 0 {
                "infinite".to_owned()
            } else {
                format!("{}:1", decimal(f64::from(long) / f64::from(short)))
            };
            let max = decimal(self.max_aspect_ratio);
            push(
                Rule::AspectRatio,
                format!("{}x{} ({ratio})", info.width, info.height),
                format!("between 1:{max} and {max}:1"),
            );
        }
        if info.byte_size > self.max_bytes {
            push(
                Rule::FileSize,
                format!("{} ({} bytes)", megabytes(info.byte_size), info.byte_size),
                format!(
                    "at most {} ({} bytes)",
                    megabytes(self.max_bytes),
                    self.max_bytes
                ),
            );
        }
        let (min, max) = (self.min_duration_secs, self.max_duration_secs);
        if min.is_some() || max.is_some() {
            let in_range =
                |d: f64| d.is_finite() && min.is_none_or(|m| d >= m) && max.is_none_or(|m| d <= m);
            let limit = match (min, max) {
                (Some(min), Some(max)) => format!("{}–{} s", decimal(min), decimal(max)),
                (Some(min), None) => format!("at least {} s", decimal(min)),
                (None, Some(max)) => format!("at most {} s", decimal(max)),
                (None, None) => String::new(),
            };
            match info.duration_secs {
                Some(d) if in_range(d) => {}
                Some(d) => push(Rule::Duration, duration_text(d, in_range), limit),
                None => push(Rule::Duration, "unknown".into(), limit),
            }
        }
        out
    }
}

/// Checks `info` against the limits of its format's kind ([`IMAGE_LIMITS`] or
/// [`VIDEO_LIMITS`]) and returns every violation; empty means it passes.
///
/// To check a file against the kind it is meant to be (so that a video given where the
/// character image belongs breaks [`Rule::Format`]), use
/// [`Limits::for_kind`]`(expected).check(info)`.
///
/// ```
/// use wan_animate_media::{check, Format, MediaInfo, Rule};
/// assert!(check(&MediaInfo::image(Format::Jpeg, 720, 1280, 300_000)).is_empty());
///
/// let huge = MediaInfo::image(Format::Png, 5000, 1000, 6 * 1024 * 1024);
/// let rules: Vec<Rule> = check(&huge).iter().map(|v| v.rule).collect();
/// assert_eq!(rules, [Rule::Width, Rule::AspectRatio, Rule::FileSize]);
/// ```
pub fn check(info: &MediaInfo) -> Vec<Violation> {
    Limits::for_kind(info.format.kind()).check(info)
}
