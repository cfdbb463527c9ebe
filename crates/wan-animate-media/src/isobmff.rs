//! MP4 and MOV (ISO base media): walk boxes by size, seek over `mdat`, read `moov`.

use std::io::{Read, Seek};

use crate::reader::{Reader, be16, be32, be64};
use crate::{Format, MediaInfo, ProbeError, malformed};

/// `moov` is parsed in memory; real ones are kilobytes to a few megabytes.
const MAX_MOOV: u64 = 32 * 1024 * 1024;
const MAX_TOP_LEVEL_BOXES: usize = 10_000;
const MAX_DEPTH: usize = 8;

pub(crate) fn probe<R: Read + Seek>(
    r: &mut Reader<R>,
    format: Format,
) -> Result<MediaInfo, ProbeError> {
    for _ in 0..MAX_TOP_LEVEL_BOXES {
        if r.remaining() < 8 {
            break;
        }
        let start = r.pos();
        let head = r
            .take(8)?
            .ok_or_else(|| malformed(format, "truncated box header"))?;
        let mut size = u64::from(be32(&head, 0).unwrap_or(0));
        let kind = [head[4], head[5], head[6], head[7]];
        let mut header_len = 8;
        if size == 1 {
            let large = r
                .take(8)?
                .ok_or_else(|| malformed(format, "truncated 64-bit box size"))?;
            size = be64(&large, 0).unwrap_or(0);
            header_len = 16;
        } else if size == 0 {
            size = r.size() - start; // to the end of the file
        }
        if size < header_len || size > r.size() - start {
            return Err(malformed(
                format,
                format!(
                    "box {:?} at byte {start} claims {size} bytes, beyond the file",
                    String::from_utf8_lossy(&kind)
                ),
            ));
        }
        let body_len = size - header_len;
        if &kind == b"moov" {
            if body_len > MAX_MOOV {
                return Err(malformed(format, "moov box larger than 32 MiB"));
            }
            let body = r
                .take(body_len as usize)?
                .ok_or_else(|| malformed(format, "truncated moov"))?;
            return parse_moov(&body, format);
        }
        if !r.skip(body_len)? {
            return Err(malformed(format, "truncated box"));
        }
    }
    Err(malformed(format, "no moov box (movie header) found"))
}

/// Iterates the child boxes of a box body: (type, body).
fn children(data: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let size = be32(data, at)? as usize;
        let kind: [u8; 4] = data.get(at + 4..at + 8)?.try_into().ok()?;
        let (hdr, size) = match size {
            1 => (16usize, usize::try_from(be64(data, at + 8)?).ok()?),
            0 => (8, data.len() - at),
            s => (8, s),
        };
        if size < hdr || at.checked_add(size)? > data.len() {
            return None;
        }
        let body = &data[at + hdr..at + size];
        at += size;
        Some((kind, body))
    })
}

fn find<'a>(data: &'a [u8], path: &[&[u8; 4]]) -> Option<&'a [u8]> {
    if path.len() > MAX_DEPTH {
        return None;
    }
    let (first, rest) = path.split_first()?;
    let (_, body) = children(data).find(|(k, _)| k == *first)?;
    if rest.is_empty() {
        Some(body)
    } else {
        find(body, rest)
    }
}

fn parse_moov(moov: &[u8], format: Format) -> Result<MediaInfo, ProbeError> {
    let mvhd = find(moov, &[b"mvhd"]).ok_or_else(|| malformed(format, "no mvhd (movie header)"))?;
    let (timescale, duration) = match mvhd.first() {
        Some(1) => (be32(mvhd, 20), be64(mvhd, 24)),
        Some(0) => (be32(mvhd, 12), be32(mvhd, 16).map(u64::from)),
        _ => (None, None),
    };
    let (timescale, duration) = match (timescale, duration) {
        (Some(t), Some(d)) if t > 0 => (t, d),
        _ => return Err(malformed(format, "mvhd has no valid timescale")),
    };
    let movie_secs = duration as f64 / f64::from(timescale);
    for (kind, trak) in children(moov) {
        if &kind != b"trak" {
            continue;
        }
        let is_video = find(trak, &[b"mdia", b"hdlr"])
            .is_some_and(|h| h.get(8..12) == Some(b"vide".as_slice()));
        if !is_video {
            continue;
        }
        let tkhd =
            find(trak, &[b"tkhd"]).ok_or_else(|| malformed(format, "video track without tkhd"))?;
        let dim_at = if tkhd.first() == Some(&1) { 88 } else { 76 };
        let width = be32(tkhd, dim_at).map(|v| v >> 16).unwrap_or(0);
        let height = be32(tkhd, dim_at + 4).map(|v| v >> 16).unwrap_or(0);
        // Fall back to the sample description when tkhd has no display size.
        let (width, height) = if width == 0 || height == 0 {
            find(trak, &[b"mdia", b"minf", b"stbl", b"stsd"])
                .and_then(|stsd| stsd.get(16..))
                .and_then(|entry| Some((u32::from(be16(entry, 24)?), u32::from(be16(entry, 26)?))))
                .unwrap_or((width, height))
        } else {
            (width, height)
        };
        if width == 0 || height == 0 {
            return Err(malformed(format, "video track has no dimensions"));
        }
        let frame_rate = frame_rate(trak);
        return Ok(MediaInfo::video(
            format, width, height, 0, movie_secs, frame_rate,
        ));
    }
    Err(malformed(format, "no video track"))
}

fn frame_rate(trak: &[u8]) -> Option<f64> {
    let mdhd = find(trak, &[b"mdia", b"mdhd"])?;
    let (timescale, duration) = match mdhd.first()? {
        1 => (be32(mdhd, 20)?, be64(mdhd, 24)?),
        _ => (be32(mdhd, 12)?, u64::from(be32(mdhd, 16)?)),
    };
    let stts = find(trak, &[b"mdia", b"minf", b"stbl", b"stts"])?;
    let entries = be32(stts, 4)? as usize;
    let mut samples = 0u64;
    for i in 0..entries.min(100_000) {
        samples += u64::from(be32(stts, 8 + i * 8)?);
    }
    if timescale == 0 || duration == 0 || samples == 0 {
        return None;
    }
    Some(samples as f64 * f64::from(timescale) / duration as f64)
}
