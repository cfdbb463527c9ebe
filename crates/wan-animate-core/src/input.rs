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

    /// Like [`Input::parse`], but refuses what cannot work: an `http(s)://` or `oss://` URL
    /// without a host (or an object key), and an empty string.
    ///
    /// ```
    /// use wan_animate_core::input::Input;
    /// assert!(Input::try_parse("https://").is_err());
    /// assert!(Input::try_parse("https:///a.jpg").is_err());
    /// assert!(Input::try_parse("oss://").is_err());
    /// assert!(Input::try_parse("").is_err());
    /// assert!(matches!(Input::try_parse("https://x/a.jpg"), Ok(Input::Url(_))));
    /// ```
    pub fn try_parse(s: &str) -> Result<Self, Error> {
        let input = Self::parse(s);
        input.validate()?;
        Ok(input)
    }

    /// Checks that the input can work (see [`Input::try_parse`]).
    pub fn validate(&self) -> Result<(), Error> {
        match self {
            Input::Url(u) | Input::Oss(u) => {
                let rest = u.split_once("://").map_or("", |(_, r)| r);
                let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
                let host = host.rsplit('@').next().unwrap_or_default();
                if host.is_empty() || host.starts_with(':') {
                    return Err(Error::invalid_input(format!(
                        "{u:?} has no host; give a full URL such as https://example.com/me.jpg, or a local file"
                    )));
                }
                Ok(())
            }
            Input::File(p) if p.as_os_str().is_empty() => Err(Error::invalid_input(
                "an input is empty; give a local file, an https:// URL or an oss:// URL",
            )),
            Input::File(_) => Ok(()),
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
    regular_file(path, what)?;
    let info = wan_animate_media::probe_file(path).map_err(|e| match e {
        wan_animate_media::ProbeError::Io(io) => {
            Error::local_io(&format!("read the {what} file"), path, io)
        }
        e => Error::invalid_input(format!("the {what} file {name} cannot be used: {e}")),
    })?;
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

/// The metadata of `path` if it is a regular file (symbolic links followed). A missing file,
/// a directory, a FIFO, a device or a socket is refused from its metadata alone, before
/// anything opens it (opening a FIFO would block). `what` names the file in the message
/// ("image", "video", "file").
///
/// ```
/// let dir = std::env::temp_dir();
/// let e = wan_animate_core::input::regular_file(&dir, "image").unwrap_err();
/// assert!(e.to_string().contains("is a directory"), "{e}");
/// ```
pub fn regular_file(path: &Path, what: &str) -> Result<std::fs::Metadata, Error> {
    let name = path.display();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::invalid_input(format!(
                "the {what} file {name} does not exist"
            )));
        }
        Err(e) => return Err(Error::local_io(&format!("read the {what} file"), path, e)),
    };
    if meta.is_dir() {
        return Err(Error::invalid_input(format!(
            "the {what} {name} is a directory; give a file"
        )));
    }
    if !meta.is_file() {
        return Err(Error::invalid_input(format!(
            "the {what} {name} is not a regular file (a FIFO, device or socket); give a file"
        )));
    }
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn a_directory_as_input_says_it_is_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let e = preflight(dir.path(), MediaKind::Image).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("is a directory"), "{e}");
        assert!(!e.to_string().contains("does not exist"), "{e}");
    }

    #[test]
    fn a_missing_input_says_it_does_not_exist() {
        let dir = tempfile::tempdir().unwrap();
        let e = preflight(&dir.path().join("nope.jpg"), MediaKind::Image).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_as_input_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe.mp4");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            return; // no mkfifo on this machine
        }
        // Opening a FIFO for reading blocks until a writer comes: the refusal must come
        // from its metadata. (On the old code this test hangs.)
        let e = preflight(&fifo, MediaKind::Video).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }

    #[test]
    fn urls_without_a_host_are_refused() {
        for s in [
            "https://",
            "http://",
            "https:///a.jpg",
            "oss://",
            "https://?x=1",
            "https://user@/a",
        ] {
            assert!(Input::try_parse(s).is_err(), "{s}");
        }
        for s in [
            "https://x/a.jpg",
            "oss://dashscope-instant/a.jpg",
            "HTTPS://X/a.jpg",
            "me.jpg",
        ] {
            assert!(Input::try_parse(s).is_ok(), "{s}");
        }
    }
}
