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
/// One page of the documentation says the duration bounds are exclusive ("2s＜时长＜30s"),
/// the API reference says inclusive; we accept the inclusive range and leave the final word
/// to the service.
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
    /// The error code the service uses for this violation.
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

/// The message the service sends for a violation (used by the simulator).
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

fn mib(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / (1024.0 * 1024.0))
}

impl Limits {
    /// The limits for a kind of input.
    pub fn for_kind(kind: MediaKind) -> &'static Limits {
        match kind {
            MediaKind::Image => &IMAGE_LIMITS,
            MediaKind::Video => &VIDEO_LIMITS,
        }
    }

    /// Every limit `info` breaks (empty: it passes).
    ///
    /// ```
    /// use wan_animate_media::{Format, MediaInfo, VIDEO_LIMITS};
    /// let clip = MediaInfo::video(Format::Mp4, 720, 1280, 1_000_000, 31.5, Some(30.0));
    /// let v = VIDEO_LIMITS.check(&clip);
    /// assert_eq!(v.len(), 1);
    /// assert_eq!(v[0].to_string(), "video duration is 31.50 s; the limit is 2–30 s");
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
            push(Rule::Format, info.format.name().into(), names.join(", "));
        }
        let sides = format!("{}–{} px", self.min_side_px, self.max_side_px);
        if !(self.min_side_px..=self.max_side_px).contains(&info.width) {
            push(Rule::Width, format!("{} px", info.width), sides.clone());
        }
        if !(self.min_side_px..=self.max_side_px).contains(&info.height) {
            push(Rule::Height, format!("{} px", info.height), sides);
        }
        let (long, short) = (info.width.max(info.height), info.width.min(info.height));
        if short == 0 || f64::from(long) > f64::from(short) * self.max_aspect_ratio {
            push(
                Rule::AspectRatio,
                format!(
                    "{}:{} ({}x{})",
                    info.width, info.height, info.width, info.height
                ),
                "between 1:3 and 3:1".into(),
            );
        }
        if info.byte_size > self.max_bytes {
            push(
                Rule::FileSize,
                mib(info.byte_size),
                format!("at most {}", mib(self.max_bytes)),
            );
        }
        if let (Some(min), Some(max)) = (self.min_duration_secs, self.max_duration_secs) {
            let limit = format!("{min}–{max} s");
            match info.duration_secs {
                Some(d) if d >= min && d <= max => {}
                Some(d) => push(Rule::Duration, format!("{d:.2} s"), limit),
                None => push(Rule::Duration, "unknown".into(), limit),
            }
        }
        out
    }
}

/// Checks `info` against the limits of its format's kind.
///
/// ```
/// use wan_animate_media::{check, Format, MediaInfo};
/// assert!(check(&MediaInfo::image(Format::Jpeg, 720, 1280, 300_000)).is_empty());
/// ```
pub fn check(info: &MediaInfo) -> Vec<Violation> {
    Limits::for_kind(info.format.kind()).check(info)
}
