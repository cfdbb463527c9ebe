//! Where a task's image or video comes from, and preflight of local files.

use std::path::{Path, PathBuf};

use wan_animate_media::MediaKind;

use crate::error::Error;

/// An input of a task.
///
/// ```
/// use wan_animate_core::input::Input;
/// assert!(matches!(Input::parse("https://x/a.jpg"), Input::Url(_)));
/// assert!(matches!(Input::parse("oss://k/a.jpg"), Input::Oss(_)));
/// assert!(matches!(Input::parse("me.jpg"), Input::File(_)));
/// assert_eq!(Input::parse("https://x/舞蹈.mp4").to_wire_url().unwrap(), "https://x/%E8%88%9E%E8%B9%88.mp4");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Input {
    /// A public `http(s)://` URL the service downloads.
    Url(String),
    /// An `oss://` temporary-upload URL (needs the resolve header, added automatically).
    Oss(String),
    /// A local file, uploaded before submitting.
    File(PathBuf),
}

impl Input {
    /// Classifies by scheme; anything without one (or `file://`) is a local path.
    pub fn parse(s: &str) -> Self {
        let lower = s.trim().to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            Input::Url(s.trim().to_owned())
        } else if lower.starts_with("oss://") {
            Input::Oss(s.trim().to_owned())
        } else {
            Input::File(PathBuf::from(s.strip_prefix("file://").unwrap_or(s)))
        }
    }

    /// The URL to send, with non-ASCII characters and spaces percent-encoded (the service
    /// requires ASCII URLs). `None` for local files.
    pub fn to_wire_url(&self) -> Option<String> {
        match self {
            Input::Url(u) | Input::Oss(u) => Some(encode_non_ascii(u)),
            Input::File(_) => None,
        }
    }
}

/// Percent-encodes bytes outside printable ASCII (and spaces); keeps everything else,
/// including existing `%xx` escapes and the query.
pub fn encode_non_ascii(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for b in url.bytes() {
        if b.is_ascii_graphic() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Checks a local file against the documented limits of `kind` before anything is uploaded
/// or paid for. Every violation is listed, with the actual value and the limit.
///
/// ```no_run
/// use wan_animate_media::MediaKind;
/// let info = wan_animate_core::input::preflight(std::path::Path::new("dance.mp4"), MediaKind::Video)?;
/// # Ok::<(), wan_animate_core::Error>(())
/// ```
pub fn preflight(path: &Path, expected: MediaKind) -> Result<wan_animate_media::MediaInfo, Error> {
    let name = path.display();
    let what = match expected {
        MediaKind::Image => "image",
        MediaKind::Video => "video",
    };
    if !path.exists() {
        return Err(Error::invalid_input(format!(
            "the {what} file {name} does not exist"
        )));
    }
    let info = wan_animate_media::probe_file(path)
        .map_err(|e| Error::invalid_input(format!("the {what} file {name} cannot be used: {e}")))?;
    let violations = wan_animate_media::Limits::for_kind(expected).check(&info);
    if violations.is_empty() {
        return Ok(info);
    }
    let list: Vec<String> = violations.iter().map(|v| format!("  - {v}")).collect();
    Err(Error::invalid_input(format!(
        "{name} would be rejected by the service ({} problem(s)):\n{}",
        violations.len(),
        list.join("\n")
    ))
    .with_service_error(Some(violations[0].service_code().to_owned()), None, None)
    .with_next_step(crate::error::NextStep::CheckMedia {
        paths: vec![path.to_path_buf()],
        preflight: true,
    }))
}
