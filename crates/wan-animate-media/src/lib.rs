//! Header-only probing of images and videos, and the documented Wan 2.2 Animate input limits.
//!
//! The probes read only the headers they need (an MP4's `mdat` is skipped by seeking, an
//! AVI's header list is read, never its frames), so checking a 200 MB video costs a few
//! kilobytes of I/O. Arbitrary, truncated or hostile bytes give an error, never a panic.
//! This crate depends on nothing: the client uses it for preflight checks before paying for an
//! upload and a task, and the simulator uses it to validate inputs like the service.
//!
//! ```
//! use wan_animate_media::{probe_bytes, check, Format, Rule};
//! // The first 24 bytes of a 100x900 PNG are enough.
//! let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
//! png.extend_from_slice(&100u32.to_be_bytes());
//! png.extend_from_slice(&900u32.to_be_bytes());
//! let info = probe_bytes(&png)?;
//! assert_eq!((info.format, info.width, info.height), (Format::Png, 100, 900));
//! let rules: Vec<Rule> = check(&info).iter().map(|v| v.rule).collect();
//! assert_eq!(rules, [Rule::Width, Rule::AspectRatio]);
//! # Ok::<(), wan_animate_media::ProbeError>(())
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod avi;
mod image;
mod isobmff;
mod limits;
mod reader;

use std::fmt;
use std::io::{Read, Seek};
use std::path::Path;

pub use limits::{IMAGE_LIMITS, Limits, Rule, VIDEO_LIMITS, Violation, check, service_message};

/// Whether a file is a still image or a video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// A still image (the character).
    Image,
    /// A video (the motion).
    Video,
}

/// A container format, detected from magic bytes (never from the file name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// JPEG / JFIF / EXIF.
    Jpeg,
    /// PNG.
    Png,
    /// Windows bitmap.
    Bmp,
    /// WebP (lossy, lossless or extended).
    Webp,
    /// ISO base media (MP4) that is not QuickTime.
    Mp4,
    /// QuickTime (`ftyp` brand `qt  `, or a bare `moov`).
    Mov,
    /// RIFF AVI.
    Avi,
}

impl Format {
    /// Image or video.
    pub fn kind(self) -> MediaKind {
        match self {
            Format::Jpeg | Format::Png | Format::Bmp | Format::Webp => MediaKind::Image,
            Format::Mp4 | Format::Mov | Format::Avi => MediaKind::Video,
        }
    }

    /// The name the service's messages use.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "JPEG",
            Format::Png => "PNG",
            Format::Bmp => "BMP",
            Format::Webp => "WEBP",
            Format::Mp4 => "MP4",
            Format::Mov => "MOV",
            Format::Avi => "AVI",
        }
    }

    /// The MIME type to upload the file with.
    pub fn mime_type(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Bmp => "image/bmp",
            Format::Webp => "image/webp",
            Format::Mp4 => "video/mp4",
            Format::Mov => "video/quicktime",
            Format::Avi => "video/x-msvideo",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a probe found.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MediaInfo {
    /// The container format.
    pub format: Format,
    /// Width in pixels (display width for videos).
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// File size in bytes.
    pub byte_size: u64,
    /// Video duration in seconds, when the header states it.
    pub duration_secs: Option<f64>,
    /// Video frame rate, when the header allows computing it.
    pub frame_rate: Option<f64>,
}

impl MediaInfo {
    /// An image's facts (useful for tests and for checking sizes known from elsewhere).
    pub fn image(format: Format, width: u32, height: u32, byte_size: u64) -> Self {
        Self {
            format,
            width,
            height,
            byte_size,
            duration_secs: None,
            frame_rate: None,
        }
    }

    /// A video's facts.
    pub fn video(
        format: Format,
        width: u32,
        height: u32,
        byte_size: u64,
        duration_secs: f64,
        frame_rate: Option<f64>,
    ) -> Self {
        Self {
            format,
            width,
            height,
            byte_size,
            duration_secs: Some(duration_secs),
            frame_rate,
        }
    }
}

/// Why a file could not be probed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProbeError {
    /// Reading failed.
    Io(std::io::Error),
    /// Not one of the supported formats (JPEG, PNG, BMP, WEBP, MP4, MOV, AVI).
    UnknownFormat,
    /// The format was recognised but its header is broken or truncated.
    Malformed {
        /// The recognised format.
        format: Format,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::Io(e) => write!(f, "cannot read the file: {e}"),
            ProbeError::UnknownFormat => f.write_str(
                "not a supported format: images must be JPEG, PNG, BMP or WEBP and videos MP4, AVI or MOV",
            ),
            ProbeError::Malformed { format, reason } => write!(f, "broken {format} file: {reason}"),
        }
    }
}

impl std::error::Error for ProbeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProbeError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for ProbeError {
    fn from(e: std::io::Error) -> Self {
        ProbeError::Io(e)
    }
}

pub(crate) fn malformed(format: Format, reason: impl Into<String>) -> ProbeError {
    ProbeError::Malformed {
        format,
        reason: reason.into(),
    }
}

/// Probes a file on disk; `byte_size` is the file's length.
///
/// ```no_run
/// let info = wan_animate_media::probe_file(std::path::Path::new("dance.mp4"))?;
/// println!("{} s", info.duration_secs.unwrap_or_default());
/// # Ok::<(), wan_animate_media::ProbeError>(())
/// ```
pub fn probe_file(path: &Path) -> Result<MediaInfo, ProbeError> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    probe_reader(std::io::BufReader::with_capacity(16 * 1024, file), size)
}

/// Probes any seekable reader holding `byte_size` bytes.
pub fn probe_reader<R: Read + Seek>(reader: R, byte_size: u64) -> Result<MediaInfo, ProbeError> {
    let mut r = reader::Reader::new(reader, byte_size);
    let head = r.peek_head(16)?;
    let format = detect(&head).ok_or(ProbeError::UnknownFormat)?;
    let mut info = match format {
        Format::Jpeg => image::jpeg(&mut r)?,
        Format::Png => image::png(&mut r)?,
        Format::Bmp => image::bmp(&mut r)?,
        Format::Webp => image::webp(&mut r)?,
        Format::Mp4 | Format::Mov => isobmff::probe(&mut r, format)?,
        Format::Avi => avi::probe(&mut r)?,
    };
    info.byte_size = byte_size;
    Ok(info)
}

/// Probes bytes in memory.
///
/// ```
/// assert!(wan_animate_media::probe_bytes(b"not media").is_err());
/// ```
pub fn probe_bytes(bytes: &[u8]) -> Result<MediaInfo, ProbeError> {
    probe_reader(std::io::Cursor::new(bytes), bytes.len() as u64)
}

/// Probes a file and checks it against the limits of its kind.
///
/// ```no_run
/// let (info, violations) = wan_animate_media::check_path(std::path::Path::new("me.jpg"))?;
/// for v in &violations { eprintln!("{v}"); }
/// # Ok::<(), wan_animate_media::ProbeError>(())
/// ```
pub fn check_path(path: &Path) -> Result<(MediaInfo, Vec<Violation>), ProbeError> {
    let info = probe_file(path)?;
    let violations = check(&info);
    Ok((info, violations))
}

fn detect(head: &[u8]) -> Option<Format> {
    let starts = |magic: &[u8]| head.len() >= magic.len() && &head[..magic.len()] == magic;
    if starts(b"\xFF\xD8\xFF") {
        Some(Format::Jpeg)
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        Some(Format::Png)
    } else if starts(b"BM") {
        Some(Format::Bmp)
    } else if starts(b"RIFF") && head.len() >= 12 && &head[8..12] == b"WEBP" {
        Some(Format::Webp)
    } else if starts(b"RIFF") && head.len() >= 12 && &head[8..12] == b"AVI " {
        Some(Format::Avi)
    } else if head.len() >= 12 && &head[4..8] == b"ftyp" {
        Some(if &head[8..12] == b"qt  " {
            Format::Mov
        } else {
            Format::Mp4
        })
    } else if head.len() >= 8
        && matches!(&head[4..8], b"moov" | b"mdat" | b"wide" | b"free" | b"skip")
    {
        Some(Format::Mov)
    } else {
        None
    }
}
