//! RIFF AVI: the `hdrl` header list's main header (`avih`) and the video stream header
//! (`strl/strh` with type `vids`, and its `strf` bitmap header). The frames (`movi`) are never
//! read.

use std::io::{Read, Seek};

use crate::reader::{Reader, fourcc, le32};
use crate::{Format, MediaInfo, ProbeError, malformed};

/// The header list is a few kilobytes (plus optional padding); refuse to buffer more.
const MAX_HDRL: u32 = 1024 * 1024;
/// Chunks (e.g. `JUNK`) allowed before the header list.
const MAX_CHUNKS_BEFORE_HDRL: usize = 64;

pub(crate) fn probe<R: Read + Seek>(r: &mut Reader<R>) -> Result<MediaInfo, ProbeError> {
    let f = Format::Avi;
    let truncated = || malformed(f, "truncated before the end of the header list");
    if !r.skip(12)? {
        return Err(truncated()); // "RIFF", size, "AVI "
    }
    for _ in 0..MAX_CHUNKS_BEFORE_HDRL {
        let head = r.take(8)?.ok_or_else(truncated)?;
        let kind = fourcc(&head, 0).ok_or_else(truncated)?;
        let len = le32(&head, 4).ok_or_else(truncated)?;
        let padded = u64::from(len) + u64::from(len & 1); // chunks are word-aligned
        if &kind != b"LIST" {
            if !r.skip(padded)? {
                return Err(truncated());
            }
            continue;
        }
        let list_type = r
            .take(4)?
            .and_then(|b| fourcc(&b, 0))
            .ok_or_else(truncated)?;
        match &list_type {
            b"hdrl" => {
                let len = len.saturating_sub(4);
                if len > MAX_HDRL {
                    return Err(malformed(f, "header list larger than 1 MiB"));
                }
                let hdrl = usize::try_from(len)
                    .ok()
                    .map(|n| r.take(n))
                    .transpose()?
                    .flatten()
                    .ok_or_else(truncated)?;
                return parse_hdrl(&hdrl);
            }
            b"movi" => return Err(malformed(f, "frames (movi) before the header list")),
            _ => {
                if !r.skip(padded.saturating_sub(4))? {
                    return Err(truncated());
                }
            }
        }
    }
    Err(malformed(f, "no header list (LIST hdrl)"))
}

fn parse_hdrl(hdrl: &[u8]) -> Result<MediaInfo, ProbeError> {
    let f = Format::Avi;
    let avih = chunks(hdrl)
        .find(|(k, _)| k == b"avih")
        .map(|(_, b)| b)
        .ok_or_else(|| malformed(f, "no main header (avih)"))?;
    let us_per_frame = le32(avih, 0).unwrap_or(0);
    let total_frames = le32(avih, 16).unwrap_or(0);
    let mut width = le32(avih, 32).unwrap_or(0);
    let mut height = le32(avih, 36).unwrap_or(0);
    let mut fps = (us_per_frame > 0).then(|| 1e6 / f64::from(us_per_frame));
    let mut frames = u64::from(total_frames);
    // The video stream header (strl/strh with fccType vids) is more precise when present.
    let video_stream = chunks(hdrl)
        .filter(|(k, body)| k == b"LIST" && fourcc(body, 0) == Some(*b"strl"))
        .filter_map(|(_, body)| body.get(4..))
        .find_map(|strl| {
            let strh = chunks(strl).find(|(k, _)| k == b"strh")?.1;
            (fourcc(strh, 0) == Some(*b"vids")).then_some((strl, strh))
        });
    if let Some((strl, strh)) = video_stream {
        let scale = le32(strh, 20).unwrap_or(0);
        let rate = le32(strh, 24).unwrap_or(0);
        if scale > 0 && rate > 0 {
            fps = Some(f64::from(rate) / f64::from(scale));
        }
        if let Some(length) = le32(strh, 32).filter(|l| *l > 0) {
            frames = u64::from(length);
        }
        // strf holds a BITMAPINFOHEADER: biSize, biWidth, biHeight (negative = top-down).
        if let Some((_, strf)) = chunks(strl).find(|(k, _)| k == b"strf") {
            let w = le32(strf, 4).map(|v| i32::from_le_bytes(v.to_le_bytes()));
            let h = le32(strf, 8).map(|v| i32::from_le_bytes(v.to_le_bytes()));
            if let (Some(w), Some(h)) = (w, h)
                && w > 0
                && h != 0
            {
                width = w.unsigned_abs();
                height = h.unsigned_abs();
            }
        }
    }
    let fps = fps.ok_or_else(|| {
        malformed(
            f,
            "no frame rate (zero microseconds per frame and no video stream rate)",
        )
    })?;
    if width == 0 || height == 0 {
        return Err(malformed(f, format!("zero dimension {width}x{height}")));
    }
    Ok(MediaInfo::video(
        f,
        width,
        height,
        0,
        frames as f64 / fps,
        Some(fps),
    ))
}

/// Iterates the chunks of a list body: (id, body). Stops at the first chunk that does not fit.
fn chunks(data: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let kind = fourcc(data, at)?;
        let len = usize::try_from(le32(data, at.checked_add(4)?)?).ok()?;
        let start = at.checked_add(8)?;
        let body = data.get(start..start.checked_add(len)?)?;
        // Chunks are word-aligned; the pad byte may be missing after the last one.
        at = start.checked_add(len)?.checked_add(len & 1)?;
        Some((kind, body))
    })
}
