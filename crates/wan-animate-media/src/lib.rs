#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
//! Header-only probing of images and videos, and the documented Wan 2.2 Animate input limits.
//!
//! The probes read only the headers they need (an MP4's `mdat` is skipped by seeking, an
//! AVI's header list is read, never its frames), so checking a 200 MB video costs a few
//! kilobytes of I/O. Arbitrary, truncated or hostile bytes give an error, never a panic.
//! This crate depends on nothing: the client uses it for preflight checks before paying for an
//! upload and a task, and the simulator uses it to validate inputs like the service.
//!
//! - [`probe_file`], [`probe_reader`] and [`probe_bytes`] detect the format from magic bytes
//!   (never the file name) and return a [`MediaInfo`]: format, width, height, byte size and,
//!   for videos, duration and frame rate. Supported: JPEG, PNG, BMP, WEBP (lossy, lossless,
//!   extended), MP4 and MOV (ISO base media; `ftyp` brand `qt  ` means MOV) and AVI.
//! - [`IMAGE_LIMITS`] and [`VIDEO_LIMITS`] are the documented limits as data, and [`check`]
//!   (or [`Limits::check`]) lists every [`Violation`], each with the service's error code
//!   ([`Violation::service_code`]) and message ([`service_message`]); [`check_path`] does
//!   both steps for a file.
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

/// What a probe found: the facts the service's limits are about.
///
/// Build one with [`MediaInfo::image`] or [`MediaInfo::video`] to check facts known from
/// elsewhere.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MediaInfo {
    /// The container format, from the magic bytes.
    pub format: Format,
    /// Width in pixels (for MP4/MOV the video track's display width in `tkhd`).
    pub width: u32,
    /// Height in pixels (for a top-down BMP, the absolute value).
    pub height: u32,
    /// File size in bytes (the file's length, or the `byte_size` given to [`probe_reader`]).
    pub byte_size: u64,
    /// Video duration in seconds; `Some` when the header states it, `None` for images.
    pub duration_secs: Option<f64>,
    /// Video frames per second; `Some` when the header allows computing it, `None` for images.
    pub frame_rate: Option<f64>,
}

impl MediaInfo {
    /// An image's facts (useful for tests and for checking sizes known from elsewhere).
    ///
    /// ```
    /// use wan_animate_media::{check, Format, MediaInfo};
    /// assert!(check(&MediaInfo::image(Format::Jpeg, 300, 400, 4_000)).is_empty());
    /// ```
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
    ///
    /// ```
    /// use wan_animate_media::{check, Format, MediaInfo, Rule};
    /// let clip = MediaInfo::video(Format::Mp4, 320, 480, 3_300, 1.5, Some(15.0));
    /// assert_eq!(check(&clip).iter().map(|v| v.rule).collect::<Vec<_>>(), [Rule::Duration]);
    /// ```
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

/// Probes a file on disk, reading only its headers; `byte_size` is the file's length.
///
/// The format comes from the file's magic bytes; the extension is not trusted.
///
/// ```no_run
/// let info = wan_animate_media::probe_file(std::path::Path::new("dance.mp4"))?;
/// println!("{}x{}, {:?} s", info.width, info.height, info.duration_secs);
/// # Ok::<(), wan_animate_media::ProbeError>(())
/// ```
pub fn probe_file(path: &Path) -> Result<MediaInfo, ProbeError> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    probe_reader(std::io::BufReader::with_capacity(16 * 1024, file), size)
}

/// Probes the `byte_size` bytes of media that start at `reader`'s current position.
///
/// Only headers are read: the reader is seeked over everything else (an MP4's `mdat`, an
/// AVI's `movi`), so probing a large file costs a few kilobytes of I/O. No length field in
/// the data can make a read or a seek go past `byte_size`, and buffers are sized by the bytes
/// that actually arrive, so an overstated `byte_size` cannot cause a large allocation either.
/// `byte_size` is also what [`MediaInfo::byte_size`] reports.
///
/// ```
/// use std::io::{Cursor, Seek, SeekFrom};
/// use wan_animate_media::{probe_reader, Format};
/// // Some other data, then a PNG header (signature and IHDR chunk) for a 640x360 image.
/// let mut bytes = b"prefix".to_vec();
/// bytes.extend_from_slice(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
/// bytes.extend_from_slice(&640u32.to_be_bytes());
/// bytes.extend_from_slice(&360u32.to_be_bytes());
/// let mut reader = Cursor::new(bytes);
/// reader.seek(SeekFrom::Start(6))?;
/// let info = probe_reader(reader, 24)?;
/// assert_eq!((info.format, info.width, info.height), (Format::Png, 640, 360));
/// assert_eq!(info.byte_size, 24);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn probe_reader<R: Read + Seek>(reader: R, byte_size: u64) -> Result<MediaInfo, ProbeError> {
    let mut r = reader::Reader::new(reader, byte_size)?;
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

/// Probes media held in memory.
///
/// ```
/// use wan_animate_media::{probe_bytes, Format, MediaKind, ProbeError};
/// // The first 24 bytes of a PNG (signature and IHDR chunk) are enough.
/// let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
/// png.extend_from_slice(&300u32.to_be_bytes()); // width
/// png.extend_from_slice(&400u32.to_be_bytes()); // height
/// let info = probe_bytes(&png)?;
/// assert_eq!((info.format, info.width, info.height), (Format::Png, 300, 400));
/// assert_eq!(info.format.kind(), MediaKind::Image);
/// assert_eq!(info.byte_size, 24);
///
/// assert!(matches!(probe_bytes(b"not media"), Err(ProbeError::UnknownFormat)));
/// # Ok::<(), ProbeError>(())
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

/// The format named by the first bytes (magic numbers); `None` if none matches.
///
/// MOV and MP4 share a container: the `ftyp` major brand `qt  ` means QuickTime, any other
/// brand MP4. Old QuickTime files have no `ftyp` and start with another top-level box.
fn detect(head: &[u8]) -> Option<Format> {
    let at = |from: usize, magic: &[u8]| {
        from.checked_add(magic.len())
            .and_then(|to| head.get(from..to))
            .is_some_and(|b| b == magic)
    };
    if at(0, b"\xFF\xD8\xFF") {
        Some(Format::Jpeg)
    } else if at(0, b"\x89PNG\r\n\x1a\n") {
        Some(Format::Png)
    } else if at(0, b"BM") {
        Some(Format::Bmp)
    } else if at(0, b"RIFF") && at(8, b"WEBP") {
        Some(Format::Webp)
    } else if at(0, b"RIFF") && at(8, b"AVI ") {
        Some(Format::Avi)
    } else if at(4, b"ftyp") && head.len() >= 12 {
        Some(if at(8, b"qt  ") {
            Format::Mov
        } else {
            Format::Mp4
        })
    } else if [b"moov", b"mdat", b"wide", b"free", b"skip"]
        .iter()
        .any(|kind| at(4, *kind))
    {
        Some(Format::Mov)
    } else {
        None
    }
}
