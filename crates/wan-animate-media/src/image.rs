//! JPEG, PNG, BMP and WEBP headers.

use std::io::{Read, Seek};

use crate::reader::{Reader, be16, be32, le16, le24, le32};
use crate::{Format, MediaInfo, ProbeError, malformed};

fn dims(format: Format, width: u32, height: u32) -> Result<MediaInfo, ProbeError> {
    if width == 0 || height == 0 {
        return Err(malformed(
            format,
            format!("zero dimension {width}x{height}"),
        ));
    }
    Ok(MediaInfo::image(format, width, height, 0))
}

/// Walks markers to the first start-of-frame; bounded by the file size.
pub(crate) fn jpeg<R: Read + Seek>(r: &mut Reader<R>) -> Result<MediaInfo, ProbeError> {
    let f = Format::Jpeg;
    let truncated = || malformed(f, "truncated before the frame header (SOF)");
    r.skip(2)?; // SOI
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        let mut marker = r.take(1)?.ok_or_else(truncated)?[0];
        if marker != 0xFF {
            return Err(malformed(
                f,
                format!("expected a marker at byte {}", r.pos() - 1),
            ));
        }
        while marker == 0xFF {
            marker = r.take(1)?.ok_or_else(truncated)?[0];
        }
        match marker {
            // Standalone markers without a length.
            0x01 | 0xD0..=0xD7 => continue,
            0xD9 | 0xDA => return Err(malformed(f, "no frame header before the image data")),
            _ => {}
        }
        let len = be16(&r.take(2)?.ok_or_else(truncated)?, 0).unwrap_or(0);
        if len < 2 {
            return Err(malformed(f, "segment length below 2"));
        }
        let is_sof = matches!(marker, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF);
        if is_sof {
            let seg = r.take(5)?.ok_or_else(truncated)?;
            let height = be16(&seg, 1).unwrap_or(0);
            let width = be16(&seg, 3).unwrap_or(0);
            return dims(f, u32::from(width), u32::from(height));
        }
        if !r.skip(u64::from(len) - 2)? {
            return Err(truncated());
        }
    }
}

pub(crate) fn png<R: Read + Seek>(r: &mut Reader<R>) -> Result<MediaInfo, ProbeError> {
    let f = Format::Png;
    let head = r
        .take(24)?
        .ok_or_else(|| malformed(f, "truncated before IHDR"))?;
    if &head[12..16] != b"IHDR" {
        return Err(malformed(f, "first chunk is not IHDR"));
    }
    dims(
        f,
        be32(&head, 16).unwrap_or(0),
        be32(&head, 20).unwrap_or(0),
    )
}

pub(crate) fn bmp<R: Read + Seek>(r: &mut Reader<R>) -> Result<MediaInfo, ProbeError> {
    let f = Format::Bmp;
    let head = r
        .take(26)?
        .ok_or_else(|| malformed(f, "truncated header"))?;
    let dib = le32(&head, 14).unwrap_or(0);
    let (w, h) = if dib == 12 {
        // OS/2 BITMAPCOREHEADER: 16-bit dimensions.
        (
            i64::from(le16(&head, 18).unwrap_or(0)),
            i64::from(le16(&head, 20).unwrap_or(0)),
        )
    } else if dib >= 40 {
        (
            i64::from(le32(&head, 18).unwrap_or(0) as i32),
            i64::from(le32(&head, 22).unwrap_or(0) as i32),
        )
    } else {
        return Err(malformed(f, format!("unknown DIB header size {dib}")));
    };
    // A negative height means a top-down bitmap.
    let (w, h) = (w.unsigned_abs(), h.unsigned_abs());
    dims(
        f,
        u32::try_from(w).unwrap_or(0),
        u32::try_from(h).unwrap_or(0),
    )
}

pub(crate) fn webp<R: Read + Seek>(r: &mut Reader<R>) -> Result<MediaInfo, ProbeError> {
    let f = Format::Webp;
    let head = r
        .take(30)?
        .ok_or_else(|| malformed(f, "truncated header"))?;
    match &head[12..16] {
        b"VP8 " => {
            // Frame tag (3 bytes), start code 9d 01 2a, then 14-bit width and height.
            if head[23..26] != [0x9d, 0x01, 0x2a] {
                return Err(malformed(f, "bad VP8 start code"));
            }
            let w = le16(&head, 26).unwrap_or(0) & 0x3FFF;
            let h = le16(&head, 28).unwrap_or(0) & 0x3FFF;
            dims(f, u32::from(w), u32::from(h))
        }
        b"VP8L" => {
            if head[20] != 0x2f {
                return Err(malformed(f, "bad VP8L signature"));
            }
            let bits = le32(&head, 21).unwrap_or(0);
            dims(f, (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
        }
        b"VP8X" => dims(
            f,
            le24(&head, 24).unwrap_or(0) + 1,
            le24(&head, 27).unwrap_or(0) + 1,
        ),
        other => Err(malformed(
            f,
            format!("unknown first chunk {:?}", String::from_utf8_lossy(other)),
        )),
    }
}
