//! JPEG, PNG, BMP and WEBP headers.

use std::io::{Read, Seek};

use crate::reader::{Reader, be16, be32, fourcc, le16, le24, le32};
use crate::{Format, MediaInfo, ProbeError, malformed};

/// Real JPEGs have a handful of segments before the frame header; a file with more is hostile.
const MAX_JPEG_SEGMENTS: usize = 4096;
/// Fill bytes (0xFF) allowed before one marker code.
const MAX_JPEG_FILL: usize = 64 * 1024;

fn dims(format: Format, width: u32, height: u32) -> Result<MediaInfo, ProbeError> {
    if width == 0 || height == 0 {
        return Err(malformed(
            format,
            format!("zero dimension {width}x{height}"),
        ));
    }
    Ok(MediaInfo::image(format, width, height, 0))
}

/// Walks markers to the first start-of-frame, skipping other segments by their length.
pub(crate) fn jpeg<R: Read + Seek>(r: &mut Reader<R>) -> Result<MediaInfo, ProbeError> {
    let f = Format::Jpeg;
    let truncated = || malformed(f, "truncated before the frame header (SOF)");
    if !r.skip(2)? {
        return Err(truncated()); // SOI
    }
    for _ in 0..MAX_JPEG_SEGMENTS {
        let at = r.pos();
        if r.byte()?.ok_or_else(truncated)? != 0xFF {
            return Err(malformed(f, format!("expected a marker at byte {at}")));
        }
        // A marker may be preceded by any number of 0xFF fill bytes.
        let mut marker = 0xFF;
        for _ in 0..MAX_JPEG_FILL {
            marker = r.byte()?.ok_or_else(truncated)?;
            if marker != 0xFF {
                break;
            }
        }
        match marker {
            0xFF => return Err(malformed(f, "too many fill bytes")),
            // Standalone markers without a length: TEM, RSTn, a repeated SOI.
            0x01 | 0xD0..=0xD8 => continue,
            0xD9 | 0xDA => return Err(malformed(f, "no frame header before the image data")),
            _ => {}
        }
        let len = r.take(2)?.and_then(|b| be16(&b, 0)).ok_or_else(truncated)?;
        let Some(body_len) = len.checked_sub(2) else {
            return Err(malformed(f, "segment length below 2"));
        };
        let is_sof = matches!(marker, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF);
        if is_sof {
            // Sample precision (1 byte), then height and width (2 bytes each).
            let seg = r.take(5)?.ok_or_else(truncated)?;
            let height = be16(&seg, 1).ok_or_else(truncated)?;
            let width = be16(&seg, 3).ok_or_else(truncated)?;
            return dims(f, u32::from(width), u32::from(height));
        }
        if !r.skip(u64::from(body_len))? {
            return Err(truncated());
        }
    }
    Err(malformed(f, "too many segments before the frame header"))
}

/// The signature and the IHDR chunk, which the format requires to come first.
pub(crate) fn png<R: Read + Seek>(r: &mut Reader<R>) -> Result<MediaInfo, ProbeError> {
    let f = Format::Png;
    let truncated = || malformed(f, "truncated before the end of IHDR");
    let head = r.take(24)?.ok_or_else(truncated)?;
    if fourcc(&head, 12) != Some(*b"IHDR") {
        return Err(malformed(f, "first chunk is not IHDR"));
    }
    let width = be32(&head, 16).ok_or_else(truncated)?;
    let height = be32(&head, 20).ok_or_else(truncated)?;
    if width > i32::MAX as u32 || height > i32::MAX as u32 {
        return Err(malformed(f, "dimension above 2^31 - 1"));
    }
    dims(f, width, height)
}

/// The file header and the DIB header's width and height.
pub(crate) fn bmp<R: Read + Seek>(r: &mut Reader<R>) -> Result<MediaInfo, ProbeError> {
    let f = Format::Bmp;
    let truncated = || malformed(f, "truncated header");
    let head = r.take(26)?.ok_or_else(truncated)?;
    let dib = le32(&head, 14).ok_or_else(truncated)?;
    let (w, h) = if dib == 12 {
        // OS/2 BITMAPCOREHEADER: unsigned 16-bit dimensions.
        (
            i64::from(le16(&head, 18).ok_or_else(truncated)?),
            i64::from(le16(&head, 20).ok_or_else(truncated)?),
        )
    } else if (16..=1024).contains(&dib) {
        // BITMAPINFOHEADER and its successors (V2..V5, OS/2 2.x): signed 32-bit dimensions.
        let signed = |at| le32(&head, at).map(|v| i64::from(i32::from_le_bytes(v.to_le_bytes())));
        (
            signed(18).ok_or_else(truncated)?,
            signed(22).ok_or_else(truncated)?,
        )
    } else {
        return Err(malformed(f, format!("unknown DIB header size {dib}")));
    };
    if w < 0 {
        return Err(malformed(f, format!("negative width {w}")));
    }
    // A negative height means a top-down bitmap.
    let width = u32::try_from(w.unsigned_abs()).unwrap_or(0);
    let height = u32::try_from(h.unsigned_abs()).unwrap_or(0);
    dims(f, width, height)
}

/// The first chunk of a RIFF/WEBP file: `VP8 ` (lossy), `VP8L` (lossless) or `VP8X` (extended).
pub(crate) fn webp<R: Read + Seek>(r: &mut Reader<R>) -> Result<MediaInfo, ProbeError> {
    let f = Format::Webp;
    let truncated = || malformed(f, "truncated header");
    // 30 bytes cover every variant; shorter files are checked per variant below.
    let want = usize::try_from(r.remaining().min(30)).unwrap_or(30);
    let head = r.take(want)?.ok_or_else(truncated)?;
    match fourcc(&head, 12).ok_or_else(truncated)? {
        [b'V', b'P', b'8', b' '] => {
            // Frame tag (3 bytes), start code 9d 01 2a, then 14-bit width and height.
            if head.get(23..26).ok_or_else(truncated)? != [0x9d, 0x01, 0x2a] {
                return Err(malformed(f, "bad VP8 start code"));
            }
            let w = le16(&head, 26).ok_or_else(truncated)? & 0x3FFF;
            let h = le16(&head, 28).ok_or_else(truncated)? & 0x3FFF;
            dims(f, u32::from(w), u32::from(h))
        }
        [b'V', b'P', b'8', b'L'] => {
            // Signature 0x2f, then 14 bits of width - 1 and 14 bits of height - 1.
            if head.get(20) != Some(&0x2f) {
                return Err(malformed(f, "bad VP8L signature"));
            }
            let bits = le32(&head, 21).ok_or_else(truncated)?;
            dims(f, (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
        }
        [b'V', b'P', b'8', b'X'] => {
            // Flags (4 bytes), then 24 bits of canvas width - 1 and 24 bits of height - 1.
            let w = le24(&head, 24).ok_or_else(truncated)?;
            let h = le24(&head, 27).ok_or_else(truncated)?;
            dims(f, w + 1, h + 1)
        }
        other => Err(malformed(
            f,
            format!("unknown first chunk {:?}", String::from_utf8_lossy(&other)),
        )),
    }
}
