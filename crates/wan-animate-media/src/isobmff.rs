//! MP4 and MOV (ISO base media / QuickTime): walk the top-level boxes by size, seek over
//! `mdat` and everything else, and parse `moov` in memory.
//!
//! Nesting depth is bounded by construction: only the fixed paths below `moov` that hold
//! what we need are followed (`trak/mdia/minf/stbl/stts` is the deepest), never an arbitrary
//! tree, so deeply nested hostile boxes cost nothing.

use std::io::{Read, Seek};

use crate::reader::{Reader, be16, be32, be64, fourcc};
use crate::{Format, MediaInfo, ProbeError, malformed};

/// `moov` is parsed in memory; real ones are kilobytes to a few megabytes.
const MAX_MOOV: u64 = 16 * 1024 * 1024;
/// Top-level boxes visited before giving up on finding `moov`.
const MAX_TOP_LEVEL_BOXES: usize = 10_000;
/// `stts` entries summed for the frame rate (a constant-rate track has one).
const MAX_STTS_ENTRIES: usize = 1_000_000;

pub(crate) fn probe<R: Read + Seek>(
    r: &mut Reader<R>,
    format: Format,
) -> Result<MediaInfo, ProbeError> {
    for _ in 0..MAX_TOP_LEVEL_BOXES {
        if r.remaining() == 0 {
            break;
        }
        let start = r.pos();
        let head = r
            .take(8)?
            .ok_or_else(|| malformed(format, format!("truncated box header at byte {start}")))?;
        let kind = fourcc(&head, 4).unwrap_or_default();
        let name = String::from_utf8_lossy(&kind).into_owned();
        let (size, header_len) = match be32(&head, 0).unwrap_or(0) {
            1 => {
                let large = r
                    .take(8)?
                    .and_then(|b| be64(&b, 0))
                    .ok_or_else(|| malformed(format, "truncated 64-bit box size"))?;
                (large, 16)
            }
            0 => (r.size().saturating_sub(start), 8), // to the end of the file
            s => (u64::from(s), 8),
        };
        if size < header_len {
            return Err(malformed(
                format,
                format!("box {name:?} at byte {start} claims {size} bytes, less than its header"),
            ));
        }
        if size > r.size().saturating_sub(start) {
            return Err(malformed(
                format,
                format!("box {name:?} at byte {start} claims {size} bytes, beyond the file"),
            ));
        }
        let body_len = size - header_len;
        if &kind == b"moov" {
            if body_len > MAX_MOOV {
                return Err(malformed(
                    format,
                    format!("moov box of {body_len} bytes is larger than 16 MiB"),
                ));
            }
            let body = usize::try_from(body_len)
                .ok()
                .map(|n| r.take(n))
                .transpose()?
                .flatten()
                .ok_or_else(|| malformed(format, "truncated moov"))?;
            return parse_moov(&body, format);
        }
        if !r.skip(body_len)? {
            return Err(malformed(format, format!("truncated {name:?} box")));
        }
    }
    Err(malformed(format, "no moov box (movie header) found"))
}

/// Iterates the child boxes of a box body: (type, body). Stops at the first box that does
/// not fit.
fn children(data: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let size = be32(data, at)?;
        let kind = fourcc(data, at.checked_add(4)?)?;
        let rest = data.len().checked_sub(at)?;
        let (header, size) = match size {
            1 => (
                16usize,
                usize::try_from(be64(data, at.checked_add(8)?)?).ok()?,
            ),
            0 => (8, rest),
            s => (8, usize::try_from(s).ok()?),
        };
        if size < header || size > rest {
            return None;
        }
        let body = data.get(at.checked_add(header)?..at.checked_add(size)?)?;
        at = at.checked_add(size)?;
        Some((kind, body))
    })
}

/// The body of the first box along `path`, one level per element.
fn find<'a>(mut data: &'a [u8], path: &[&[u8; 4]]) -> Option<&'a [u8]> {
    for want in path {
        data = children(data).find(|(k, _)| k == *want)?.1;
    }
    Some(data)
}

/// Reads a full box's (version 0 or 1) timescale and duration, as `mvhd` and `mdhd` lay
/// them out. A duration of zero or all ones means "unknown" (`None`).
fn timescale_and_duration(full_box: &[u8]) -> Option<(u32, Option<u64>)> {
    let (timescale, duration, all_ones) = match full_box.first()? {
        1 => (be32(full_box, 20)?, be64(full_box, 24)?, u64::MAX),
        0 => (
            be32(full_box, 12)?,
            u64::from(be32(full_box, 16)?),
            u64::from(u32::MAX),
        ),
        _ => return None,
    };
    let known = duration != 0 && duration != all_ones;
    Some((timescale, known.then_some(duration)))
}

fn seconds(duration: u64, timescale: u32) -> Option<f64> {
    (timescale > 0).then(|| duration as f64 / f64::from(timescale))
}

fn parse_moov(moov: &[u8], format: Format) -> Result<MediaInfo, ProbeError> {
    let mvhd = find(moov, &[b"mvhd"]).ok_or_else(|| malformed(format, "no mvhd (movie header)"))?;
    let (movie_timescale, movie_duration) = timescale_and_duration(mvhd)
        .ok_or_else(|| malformed(format, "mvhd is truncated or of an unknown version"))?;
    if movie_timescale == 0 {
        return Err(malformed(format, "mvhd timescale is zero"));
    }
    // A fragmented file states its length in mvex/mehd rather than in mvhd.
    let fragment_duration =
        find(moov, &[b"mvex", b"mehd"]).and_then(|mehd| match mehd.first()? {
            1 => be64(mehd, 4),
            _ => be32(mehd, 4).map(u64::from),
        });
    let movie_secs = movie_duration
        .or(fragment_duration.filter(|d| *d > 0))
        .and_then(|d| seconds(d, movie_timescale));

    let Some(trak) = children(moov)
        .filter(|(k, _)| k == b"trak")
        .map(|(_, body)| body)
        .find(|trak| find(trak, &[b"mdia", b"hdlr"]).and_then(|h| fourcc(h, 8)) == Some(*b"vide"))
    else {
        return Err(malformed(format, "no video track"));
    };

    let tkhd =
        find(trak, &[b"tkhd"]).ok_or_else(|| malformed(format, "video track without tkhd"))?;
    // Width and height are 16.16 fixed point after the matrix.
    let dim_at = if tkhd.first() == Some(&1) { 88 } else { 76 };
    let width = be32(tkhd, dim_at).map_or(0, |v| v >> 16);
    let height = be32(tkhd, dim_at + 4).map_or(0, |v| v >> 16);
    // Fall back to the first visual sample entry when tkhd has no display size.
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

    let media = find(trak, &[b"mdia", b"mdhd"]).and_then(timescale_and_duration);
    let samples = find(trak, &[b"mdia", b"minf", b"stbl", b"stts"]).and_then(stts_totals);
    let media_secs = media.and_then(|(timescale, duration)| {
        let duration = duration.or(samples.map(|(_, ticks)| ticks).filter(|t| *t > 0))?;
        seconds(duration, timescale)
    });
    let frame_rate = match (samples, media_secs) {
        (Some((count, _)), Some(secs)) if count > 0 && secs > 0.0 => Some(count as f64 / secs),
        _ => None,
    };
    let duration_secs = movie_secs.or(media_secs);
    let mut info = MediaInfo::video(format, width, height, 0, 0.0, frame_rate);
    info.duration_secs = duration_secs;
    Ok(info)
}

/// The number of samples and the total of their durations (in media ticks) from `stts`.
fn stts_totals(stts: &[u8]) -> Option<(u64, u64)> {
    let entries = usize::try_from(be32(stts, 4)?).ok()?;
    let (mut count, mut ticks) = (0u64, 0u64);
    for entry in stts
        .get(8..)?
        .chunks_exact(8)
        .take(entries.min(MAX_STTS_ENTRIES))
    {
        let n = u64::from(be32(entry, 0)?);
        let delta = u64::from(be32(entry, 4)?);
        count = count.saturating_add(n);
        ticks = ticks.saturating_add(n.saturating_mul(delta));
    }
    Some((count, ticks))
}
