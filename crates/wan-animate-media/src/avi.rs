//! RIFF AVI: the `hdrl` list's main header and the video stream header.

use std::io::{Read, Seek};

use crate::reader::{Reader, le32};
use crate::{Format, MediaInfo, ProbeError, malformed};

const MAX_HDRL: u32 = 1024 * 1024;

pub(crate) fn probe<R: Read + Seek>(r: &mut Reader<R>) -> Result<MediaInfo, ProbeError> {
    let f = Format::Avi;
    r.skip(12)?; // RIFF size AVI
    let list = r
        .take(12)?
        .ok_or_else(|| malformed(f, "truncated before the header list"))?;
    if &list[0..4] != b"LIST" || &list[8..12] != b"hdrl" {
        return Err(malformed(f, "first chunk is not LIST hdrl"));
    }
    let len = le32(&list, 4).unwrap_or(0).saturating_sub(4);
    if len > MAX_HDRL {
        return Err(malformed(f, "header list larger than 1 MiB"));
    }
    let hdrl = r
        .take(len as usize)?
        .ok_or_else(|| malformed(f, "truncated header list"))?;
    let avih = chunks(&hdrl)
        .find(|(k, _)| k == b"avih")
        .map(|(_, b)| b)
        .ok_or_else(|| malformed(f, "no avih"))?;
    let us_per_frame = le32(avih, 0).unwrap_or(0);
    let total_frames = le32(avih, 16).unwrap_or(0);
    let mut width = le32(avih, 32).unwrap_or(0);
    let mut height = le32(avih, 36).unwrap_or(0);
    let mut fps = (us_per_frame > 0).then(|| 1e6 / f64::from(us_per_frame));
    let mut frames = u64::from(total_frames);
    // The video stream header (strl/strh with fccType vids) is more precise when present.
    for (kind, body) in chunks(&hdrl) {
        if &kind != b"LIST" || body.get(0..4) != Some(b"strl".as_slice()) {
            continue;
        }
        let Some((_, strh)) = chunks(&body[4..]).find(|(k, _)| k == b"strh") else {
            continue;
        };
        if strh.get(0..4) != Some(b"vids".as_slice()) {
            continue;
        }
        let scale = le32(strh, 20).unwrap_or(0);
        let rate = le32(strh, 24).unwrap_or(0);
        if scale > 0 && rate > 0 {
            fps = Some(f64::from(rate) / f64::from(scale));
        }
        if let Some(length) = le32(strh, 32) {
            if length > 0 {
                frames = u64::from(length);
            }
        }
        if let Some((_, strf)) = chunks(&body[4..]).find(|(k, _)| k == b"strf") {
            if let (Some(w), Some(h)) = (le32(strf, 4), le32(strf, 8)) {
                if w > 0 && h != 0 {
                    width = w;
                    height = (h as i32).unsigned_abs();
                }
            }
        }
        break;
    }
    let fps = fps.ok_or_else(|| malformed(f, "no frame rate (zero microseconds per frame)"))?;
    if width == 0 || height == 0 {
        return Err(malformed(f, "no dimensions"));
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

fn chunks(data: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let kind: [u8; 4] = data.get(at..at + 4)?.try_into().ok()?;
        let len = le32(data, at + 4)? as usize;
        let body = data.get(at + 8..at.checked_add(8)?.checked_add(len)?)?;
        at += 8 + len + (len & 1); // chunks are word-aligned
        Some((kind, body))
    })
}
