//! Builders of minimal, valid headers with chosen values, shared by the integration tests,
//! and access to the sample files (tests/samples/README.md says how they were made).
#![allow(dead_code)] // each test crate uses a different subset

use std::path::PathBuf;

// ---- sample files --------------------------------------------------------------------

/// Every committed sample, as (file name, format, width, height, duration s, frame rate).
pub(crate) const SAMPLES: &[(&str, wan_animate_media::Format, u32, u32, f64, f64)] = {
    use wan_animate_media::Format::*;
    &[
        ("tiny.jpg", Jpeg, 64, 48, 0.0, 0.0),
        ("tiny.png", Png, 64, 48, 0.0, 0.0),
        ("tiny.bmp", Bmp, 64, 48, 0.0, 0.0),
        ("tiny.webp", Webp, 64, 48, 0.0, 0.0),
        ("tiny_lossless.webp", Webp, 64, 48, 0.0, 0.0),
        ("tiny_alpha.webp", Webp, 64, 48, 0.0, 0.0),
        ("valid_person.jpg", Jpeg, 300, 400, 0.0, 0.0),
        ("tiny.mp4", Mp4, 64, 48, 2.0, 25.0),
        ("tiny.mov", Mov, 64, 48, 1.5, 10.0),
        ("tiny.avi", Avi, 64, 48, 1.5, 10.0),
        ("valid_dance.mp4", Mp4, 320, 480, 3.0, 15.0),
    ]
};

pub(crate) fn sample_path(name: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // The valid pair is the project's shared sample input (tests/samples at the root).
    match name {
        "valid_person.jpg" => root.join("../../tests/samples/person.jpg"),
        "valid_dance.mp4" => root.join("../../tests/samples/dance.mp4"),
        _ => root.join("tests/samples").join(name),
    }
}

pub(crate) fn sample(name: &str) -> Vec<u8> {
    std::fs::read(sample_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

// ---- images ----------------------------------------------------------------------------

/// PNG signature, IHDR (8-bit RGB) and IEND; CRCs are not checked by the probe.
pub(crate) fn png(w: u32, h: u32) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    b.extend_from_slice(&w.to_be_bytes());
    b.extend_from_slice(&h.to_be_bytes());
    b.extend_from_slice(&[8, 2, 0, 0, 0]);
    b.extend_from_slice(&[0; 4]); // CRC
    b.extend_from_slice(b"\0\0\0\0IEND\xae\x42\x60\x82");
    b
}

fn jpeg_segment(marker: u8, body: &[u8]) -> Vec<u8> {
    let mut b = vec![0xFF, marker];
    b.extend_from_slice(&u16::try_from(body.len() + 2).unwrap().to_be_bytes());
    b.extend_from_slice(body);
    b
}

/// SOI, APP0 (JFIF), a comment, fill bytes, the frame header `sof` (0xC0 baseline, 0xC2
/// progressive, ...), a scan header and EOI.
pub(crate) fn jpeg(w: u16, h: u16, sof: u8) -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8];
    b.extend(jpeg_segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"));
    b.extend(jpeg_segment(0xFE, b"made by a test"));
    b.extend_from_slice(&[0xFF, 0xFF, 0xFF]); // fill bytes before the next marker
    let mut frame = vec![8];
    frame.extend_from_slice(&h.to_be_bytes());
    frame.extend_from_slice(&w.to_be_bytes());
    frame.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    b.extend(jpeg_segment(sof, &frame));
    b.extend(jpeg_segment(0xDA, &[1, 1, 0, 0, 0x3F, 0]));
    b.extend_from_slice(&[0x12, 0x34, 0xFF, 0xD9]);
    b
}

/// A BMP with a BITMAPINFOHEADER (40 bytes) and no pixels; a negative height is top-down.
pub(crate) fn bmp(w: i32, h: i32) -> Vec<u8> {
    let mut b = b"BM".to_vec();
    b.extend_from_slice(&54u32.to_le_bytes()); // file size
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&54u32.to_le_bytes()); // pixel offset
    b.extend_from_slice(&40u32.to_le_bytes());
    b.extend_from_slice(&w.to_le_bytes());
    b.extend_from_slice(&h.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes()); // planes
    b.extend_from_slice(&24u16.to_le_bytes()); // bits per pixel
    b.extend_from_slice(&[0; 24]);
    b
}

/// A BMP with an OS/2 BITMAPCOREHEADER (12 bytes, 16-bit dimensions).
pub(crate) fn bmp_core(w: u16, h: u16) -> Vec<u8> {
    let mut b = b"BM".to_vec();
    b.extend_from_slice(&26u32.to_le_bytes());
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&26u32.to_le_bytes());
    b.extend_from_slice(&12u32.to_le_bytes());
    b.extend_from_slice(&w.to_le_bytes());
    b.extend_from_slice(&h.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&24u16.to_le_bytes());
    b
}

/// A RIFF chunk: id, little-endian length, body, pad byte to an even length.
pub(crate) fn riff_chunk(id: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut b = id.to_vec();
    b.extend_from_slice(&u32::try_from(body.len()).unwrap().to_le_bytes());
    b.extend_from_slice(body);
    if body.len() % 2 == 1 {
        b.push(0);
    }
    b
}

fn webp(first: Vec<u8>) -> Vec<u8> {
    let mut form = b"WEBP".to_vec();
    form.extend(first);
    riff_chunk(b"RIFF", &form)
}

/// Lossy WebP: `VP8 ` key frame header (dimensions are 14 bits).
pub(crate) fn webp_vp8(w: u16, h: u16) -> Vec<u8> {
    let mut body = vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a];
    body.extend_from_slice(&w.to_le_bytes());
    body.extend_from_slice(&h.to_le_bytes());
    body.extend_from_slice(&[0; 8]);
    webp(riff_chunk(b"VP8 ", &body))
}

/// Lossless WebP: `VP8L` signature 0x2f, then 14 bits each of width - 1 and height - 1.
pub(crate) fn webp_vp8l(w: u32, h: u32) -> Vec<u8> {
    let bits = (w - 1) | ((h - 1) << 14) | (1 << 28);
    let mut body = vec![0x2f];
    body.extend_from_slice(&bits.to_le_bytes());
    body.extend_from_slice(&[0; 4]);
    webp(riff_chunk(b"VP8L", &body))
}

/// Extended WebP: `VP8X` flags, then 24 bits each of canvas width - 1 and height - 1.
pub(crate) fn webp_vp8x(w: u32, h: u32) -> Vec<u8> {
    let mut body = vec![0x10, 0, 0, 0];
    body.extend_from_slice(&(w - 1).to_le_bytes()[..3]);
    body.extend_from_slice(&(h - 1).to_le_bytes()[..3]);
    let mut first = riff_chunk(b"VP8X", &body);
    first.extend(riff_chunk(b"ALPH", &[0; 4]));
    webp(first)
}

// ---- ISO base media (MP4 / MOV) -----------------------------------------------------

/// A box with a 32-bit size.
pub(crate) fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut b = u32::try_from(body.len() + 8)
        .unwrap()
        .to_be_bytes()
        .to_vec();
    b.extend_from_slice(kind);
    b.extend_from_slice(body);
    b
}

/// A box with size 1 and a 64-bit largesize.
pub(crate) fn large_bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut b = 1u32.to_be_bytes().to_vec();
    b.extend_from_slice(kind);
    b.extend_from_slice(&(body.len() as u64 + 16).to_be_bytes());
    b.extend_from_slice(body);
    b
}

/// The choices a synthetic movie is built from.
#[derive(Debug, Clone)]
pub(crate) struct Movie {
    /// `ftyp` major brand (`qt  ` makes a MOV); `None` leaves `ftyp` out.
    pub(crate) brand: Option<[u8; 4]>,
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// Movie and media timescale (ticks per second).
    pub(crate) timescale: u32,
    /// Movie and media duration, in ticks.
    pub(crate) duration: u64,
    /// Number of video samples (frames), all of the same duration.
    pub(crate) frames: u32,
    /// Full-box version of mvhd, tkhd and mdhd (0: 32-bit times, 1: 64-bit).
    pub(crate) version: u8,
    /// `moov` before `mdat` ("faststart"); otherwise after it, so the probe must seek.
    pub(crate) moov_first: bool,
    /// Bytes of `mdat` payload.
    pub(crate) mdat_len: usize,
    /// Write `mdat` with a 64-bit largesize.
    pub(crate) large_mdat: bool,
    /// Put an audio track before the video track.
    pub(crate) audio_track: bool,
    /// Leave the size out of `tkhd` (zero), so only the sample entry has it.
    pub(crate) size_in_sample_entry_only: bool,
}

impl Movie {
    /// A movie of `secs` seconds (to the millisecond) at `fps` frames per second.
    pub(crate) fn new(width: u32, height: u32, secs: f64, fps: u32) -> Self {
        let duration = (secs * 1000.0).round() as u64;
        Self {
            brand: Some(*b"isom"),
            width,
            height,
            timescale: 1000,
            duration,
            frames: u32::try_from(duration * u64::from(fps) / 1000)
                .unwrap()
                .max(1),
            version: 0,
            moov_first: false,
            mdat_len: 1024,
            large_mdat: false,
            audio_track: false,
            size_in_sample_entry_only: false,
        }
    }

    fn full(&self, kind: &[u8; 4], v0: Vec<u8>, v1: Vec<u8>) -> Vec<u8> {
        let mut body = vec![self.version, 0, 0, 0];
        body.extend(if self.version == 1 { v1 } else { v0 });
        bx(kind, &body)
    }

    /// mvhd or mdhd: times, timescale and duration, then `tail` bytes of zeros.
    fn header(&self, kind: &[u8; 4], tail: usize) -> Vec<u8> {
        let mut v0 = vec![0; 8];
        v0.extend_from_slice(&self.timescale.to_be_bytes());
        v0.extend_from_slice(
            &u32::try_from(self.duration)
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        v0.extend(vec![0; tail]);
        let mut v1 = vec![0; 16];
        v1.extend_from_slice(&self.timescale.to_be_bytes());
        v1.extend_from_slice(&self.duration.to_be_bytes());
        v1.extend(vec![0; tail]);
        self.full(kind, v0, v1)
    }

    fn tkhd(&self, w: u32, h: u32) -> Vec<u8> {
        let mut dims = w.wrapping_shl(16).to_be_bytes().to_vec();
        dims.extend_from_slice(&h.wrapping_shl(16).to_be_bytes());
        let mut v0 = vec![0; 72];
        v0.extend_from_slice(&dims);
        let mut v1 = vec![0; 84];
        v1.extend_from_slice(&dims);
        self.full(b"tkhd", v0, v1)
    }

    fn trak(&self, handler: &[u8; 4], w: u32, h: u32, frames: u32) -> Vec<u8> {
        let mut hdlr = vec![0; 8];
        hdlr.extend_from_slice(handler);
        hdlr.extend_from_slice(&[0; 13]);
        let mut stts = vec![0, 0, 0, 0, 0, 0, 0, 1];
        stts.extend_from_slice(&frames.to_be_bytes());
        let delta = self.duration / u64::from(frames.max(1));
        stts.extend_from_slice(&u32::try_from(delta).unwrap_or(u32::MAX).to_be_bytes());
        // The sample entry holds the coded size, in whole 16x16 macroblocks (1080 -> 1088),
        // so a probe that reads it instead of tkhd's display size is caught.
        let coded = |v: u32| u16::try_from(v.div_ceil(16) * 16).unwrap_or(u16::MAX);
        let mut entry = vec![0; 24];
        entry.extend_from_slice(&coded(w).to_be_bytes());
        entry.extend_from_slice(&coded(h).to_be_bytes());
        entry.extend_from_slice(&[0; 50]);
        let mut stsd = vec![0, 0, 0, 0, 0, 0, 0, 1];
        stsd.extend(bx(b"avc1", &entry));
        let stbl = bx(b"stbl", &[bx(b"stsd", &stsd), bx(b"stts", &stts)].concat());
        let minf = bx(b"minf", &stbl);
        let mdia = bx(
            b"mdia",
            &[self.header(b"mdhd", 4), bx(b"hdlr", &hdlr), minf].concat(),
        );
        let (tw, th) = if self.size_in_sample_entry_only {
            (0, 0)
        } else {
            (w, h)
        };
        bx(b"trak", &[self.tkhd(tw, th), mdia].concat())
    }

    /// The `moov` box alone.
    pub(crate) fn moov(&self) -> Vec<u8> {
        let mut body = self.header(b"mvhd", 80);
        if self.audio_track {
            body.extend(self.trak(b"soun", 0, 0, 100));
        }
        body.extend(self.trak(b"vide", self.width, self.height, self.frames));
        bx(b"moov", &body)
    }

    /// The whole file.
    pub(crate) fn build(&self) -> Vec<u8> {
        let ftyp = match self.brand {
            Some(brand) => {
                let mut body = brand.to_vec();
                body.extend_from_slice(&[0, 0, 2, 0]);
                body.extend_from_slice(b"isomiso2mp41");
                bx(b"ftyp", &body)
            }
            None => Vec::new(),
        };
        let payload = vec![0xAB; self.mdat_len];
        let mdat = if self.large_mdat {
            large_bx(b"mdat", &payload)
        } else {
            bx(b"mdat", &payload)
        };
        if self.moov_first {
            [ftyp, self.moov(), mdat].concat()
        } else {
            [ftyp, bx(b"free", &[]), mdat, self.moov()].concat()
        }
    }
}

// ---- AVI -------------------------------------------------------------------------------

/// The choices a synthetic AVI is built from.
#[derive(Debug, Clone)]
pub(crate) struct Avi {
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// `avih` microseconds per frame.
    pub(crate) us_per_frame: u32,
    /// `avih` total frames.
    pub(crate) total_frames: u32,
    /// A `vids` stream header: (dwRate, dwScale, dwLength), and its `strf` width and height.
    pub(crate) stream: Option<(u32, u32, u32, i32, i32)>,
    /// Put a `JUNK` chunk before the header list.
    pub(crate) junk_first: bool,
    /// Bytes of frame data in `movi`.
    pub(crate) movi_len: usize,
}

impl Avi {
    /// An AVI of `frames` frames at `1e6 / us_per_frame` fps, with only the main header.
    pub(crate) fn new(width: u32, height: u32, us_per_frame: u32, frames: u32) -> Self {
        Self {
            width,
            height,
            us_per_frame,
            total_frames: frames,
            stream: None,
            junk_first: false,
            movi_len: 16,
        }
    }

    /// The `LIST hdrl` chunk alone.
    pub(crate) fn hdrl(&self) -> Vec<u8> {
        let mut avih = vec![0u8; 56];
        avih[0..4].copy_from_slice(&self.us_per_frame.to_le_bytes());
        avih[16..20].copy_from_slice(&self.total_frames.to_le_bytes());
        avih[24..28].copy_from_slice(&2u32.to_le_bytes());
        avih[32..36].copy_from_slice(&self.width.to_le_bytes());
        avih[36..40].copy_from_slice(&self.height.to_le_bytes());
        let mut hdrl = b"hdrl".to_vec();
        hdrl.extend(riff_chunk(b"avih", &avih));
        // An audio stream first, so the probe has to pick the video one.
        let mut auds = vec![0u8; 56];
        auds[0..4].copy_from_slice(b"auds");
        auds[20..24].copy_from_slice(&1u32.to_le_bytes());
        auds[24..28].copy_from_slice(&44_100u32.to_le_bytes());
        auds[32..36].copy_from_slice(&999_999u32.to_le_bytes());
        let mut strl = b"strl".to_vec();
        strl.extend(riff_chunk(b"strh", &auds));
        strl.extend(riff_chunk(b"strf", &[0; 18]));
        hdrl.extend(riff_chunk(b"LIST", &strl));
        if let Some((rate, scale, length, w, h)) = self.stream {
            let mut strh = vec![0u8; 56];
            strh[0..4].copy_from_slice(b"vids");
            strh[4..8].copy_from_slice(b"FMP4");
            strh[20..24].copy_from_slice(&scale.to_le_bytes());
            strh[24..28].copy_from_slice(&rate.to_le_bytes());
            strh[32..36].copy_from_slice(&length.to_le_bytes());
            let mut strf = vec![0u8; 40];
            strf[0..4].copy_from_slice(&40u32.to_le_bytes());
            strf[4..8].copy_from_slice(&w.to_le_bytes());
            strf[8..12].copy_from_slice(&h.to_le_bytes());
            let mut strl = b"strl".to_vec();
            strl.extend(riff_chunk(b"strh", &strh));
            strl.extend(riff_chunk(b"strf", &strf));
            strl.extend(riff_chunk(b"strn", b"video\0\0")); // odd length: padded
            hdrl.extend(riff_chunk(b"LIST", &strl));
        }
        riff_chunk(b"LIST", &hdrl)
    }

    /// The whole file.
    pub(crate) fn build(&self) -> Vec<u8> {
        let mut form = b"AVI ".to_vec();
        if self.junk_first {
            form.extend(riff_chunk(b"JUNK", &[0; 13]));
        }
        form.extend(self.hdrl());
        let mut movi = b"movi".to_vec();
        movi.extend(vec![0xCD; self.movi_len]);
        form.extend(riff_chunk(b"LIST", &movi));
        riff_chunk(b"RIFF", &form)
    }
}
