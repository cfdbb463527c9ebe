//! Malformed, truncated and hostile input: always an error or a result, never a panic, a
//! huge allocation or a read of the whole file.

mod common;

use std::io::{Read, Seek, SeekFrom};

use common::*;
use proptest::prelude::*;
use wan_animate_media::*;

fn malformed_as(bytes: &[u8], format: Format, reason_contains: &str) {
    match probe_bytes(bytes) {
        Err(ProbeError::Malformed { format: f, reason }) => {
            assert_eq!(f, format, "{reason}");
            assert!(
                reason.contains(reason_contains),
                "reason {reason:?} lacks {reason_contains:?}"
            );
        }
        other => panic!("expected Malformed {format} ({reason_contains}), got {other:?}"),
    }
}

// ---- a file that is mostly virtual, counting what is read ------------------------------

/// `head`, then `gap` virtual bytes of 0xAB, then `tail`; counts the bytes actually read.
struct Virtual {
    head: Vec<u8>,
    gap: u64,
    tail: Vec<u8>,
    pos: u64,
    bytes_read: u64,
}

impl Virtual {
    fn new(head: Vec<u8>, gap: u64, tail: Vec<u8>) -> Self {
        Self {
            head,
            gap,
            tail,
            pos: 0,
            bytes_read: 0,
        }
    }

    fn len(&self) -> u64 {
        self.head.len() as u64 + self.gap + self.tail.len() as u64
    }
}

impl Read for Virtual {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let head = self.head.len() as u64;
        let n = if self.pos < head {
            let from = &self.head[self.pos as usize..];
            let n = from.len().min(buf.len());
            buf[..n].copy_from_slice(&from[..n]);
            n
        } else if self.pos < head + self.gap {
            let n = (head + self.gap - self.pos).min(buf.len() as u64) as usize;
            buf[..n].fill(0xAB);
            n
        } else {
            let at = (self.pos - head - self.gap) as usize;
            let from = self.tail.get(at..).unwrap_or_default();
            let n = from.len().min(buf.len());
            buf[..n].copy_from_slice(&from[..n]);
            n
        };
        self.pos += n as u64;
        self.bytes_read += n as u64;
        Ok(n)
    }
}

impl Seek for Virtual {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let new = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => self.len().checked_add_signed(d),
        };
        self.pos = new.ok_or_else(|| std::io::Error::other("seek before the start"))?;
        Ok(self.pos)
    }
}

const HUNDRED_FIFTY_MB: u64 = 150 * 1024 * 1024;

#[test]
fn an_mp4_is_probed_by_seeking_over_mdat_reading_only_kilobytes() {
    let movie = Movie::new(720, 1280, 12.0, 30);
    let mut head = bx(b"ftyp", b"isom\0\0\0\0isom");
    head.extend_from_slice(&u32::try_from(HUNDRED_FIFTY_MB + 8).unwrap().to_be_bytes());
    head.extend_from_slice(b"mdat");
    let mut file = Virtual::new(head, HUNDRED_FIFTY_MB, movie.moov());
    let size = file.len();
    let info = probe_reader(&mut file, size).unwrap();
    assert_eq!(
        (info.format, info.width, info.height),
        (Format::Mp4, 720, 1280)
    );
    assert_eq!(info.byte_size, size);
    assert!(check(&info).is_empty());
    assert!(file.bytes_read < 8 * 1024, "read {} bytes", file.bytes_read);
}

#[test]
fn a_video_over_4_gib_with_a_64_bit_mdat_is_probed_and_too_big() {
    let gap = 5 * 1024 * 1024 * 1024u64;
    let mut head = bx(b"ftyp", b"qt  \0\0\0\0qt  ");
    head.extend_from_slice(&1u32.to_be_bytes());
    head.extend_from_slice(b"mdat");
    head.extend_from_slice(&(gap + 16).to_be_bytes());
    let mut file = Virtual::new(head, gap, Movie::new(1920, 1080, 20.0, 25).moov());
    let size = file.len();
    let info = probe_reader(&mut file, size).unwrap();
    assert_eq!(info.format, Format::Mov);
    let rules: Vec<Rule> = check(&info).iter().map(|v| v.rule).collect();
    assert_eq!(rules, [Rule::FileSize]);
    assert!(file.bytes_read < 8 * 1024, "read {} bytes", file.bytes_read);
}

#[test]
fn an_avi_is_probed_from_its_header_list_without_reading_the_frames() {
    let avi = Avi {
        stream: Some((25, 1, 250, 640, 480)),
        ..Avi::new(640, 480, 40_000, 250)
    };
    let hdrl = avi.hdrl();
    let form_len = u32::try_from(4 + hdrl.len() as u64 + 12 + HUNDRED_FIFTY_MB).unwrap();
    let mut head = b"RIFF".to_vec();
    head.extend_from_slice(&form_len.to_le_bytes());
    head.extend_from_slice(b"AVI ");
    head.extend(hdrl);
    head.extend_from_slice(b"LIST");
    head.extend_from_slice(&u32::try_from(HUNDRED_FIFTY_MB + 4).unwrap().to_le_bytes());
    head.extend_from_slice(b"movi");
    let mut file = Virtual::new(head, HUNDRED_FIFTY_MB, Vec::new());
    let size = file.len();
    let info = probe_reader(&mut file, size).unwrap();
    assert_eq!(
        (info.format, info.width, info.height),
        (Format::Avi, 640, 480)
    );
    assert!((info.duration_secs.unwrap() - 10.0).abs() < 1e-9);
    assert!(file.bytes_read < 8 * 1024, "read {} bytes", file.bytes_read);
}

#[test]
fn a_moov_over_16_mib_is_refused_without_being_read() {
    let body = 17 * 1024 * 1024u64;
    let mut head = bx(b"ftyp", b"isom\0\0\0\0isom");
    head.extend_from_slice(&u32::try_from(body + 8).unwrap().to_be_bytes());
    head.extend_from_slice(b"moov");
    let mut file = Virtual::new(head, body, Vec::new());
    let size = file.len();
    let err = probe_reader(&mut file, size).unwrap_err();
    assert!(err.to_string().contains("larger than 16 MiB"), "{err}");
    assert!(file.bytes_read < 1024, "read {} bytes", file.bytes_read);
}

#[test]
fn probe_file_seeks_over_a_large_sparse_mdat() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.mp4");
    let gap = 210 * 1024 * 1024u64;
    let mut head = bx(b"ftyp", b"isom\0\0\0\0isom");
    head.extend_from_slice(&u32::try_from(gap + 8).unwrap().to_be_bytes());
    head.extend_from_slice(b"mdat");
    let moov = Movie::new(640, 480, 3.0, 25).moov();
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(&head).unwrap();
        f.seek(SeekFrom::Current(i64::try_from(gap).unwrap()))
            .unwrap();
        f.write_all(&moov).unwrap();
    }
    let (info, violations) = check_path(&path).unwrap();
    assert_eq!(info.byte_size, head.len() as u64 + gap + moov.len() as u64);
    assert_eq!((info.width, info.height), (640, 480));
    let rules: Vec<Rule> = violations.iter().map(|v| v.rule).collect();
    assert_eq!(rules, [Rule::FileSize]);
}

#[test]
fn probe_reader_starts_at_the_current_position_and_stops_at_byte_size() {
    let png = png(640, 360);
    let mut bytes = vec![0u8; 100];
    bytes.extend_from_slice(&png);
    let mut cursor = std::io::Cursor::new(&bytes);
    cursor.seek(SeekFrom::Start(100)).unwrap();
    let info = probe_reader(cursor, png.len() as u64).unwrap();
    assert_eq!((info.width, info.height), (640, 360));
    // A byte_size that ends before IHDR does is a truncated file, whatever follows.
    let mut cursor = std::io::Cursor::new(&bytes);
    cursor.seek(SeekFrom::Start(100)).unwrap();
    assert!(matches!(
        probe_reader(cursor, 20),
        Err(ProbeError::Malformed {
            format: Format::Png,
            ..
        })
    ));
}

#[test]
fn an_overstated_byte_size_is_handled() {
    // The claimed size lets a 15 MiB moov through the size checks, but the data is not there:
    // the read ends early (no 15 MiB buffer is filled) and the file is malformed.
    let mut b = bx(b"ftyp", b"isom\0\0\0\0isom");
    b.extend_from_slice(&(15u32 * 1024 * 1024).to_be_bytes());
    b.extend_from_slice(b"moov");
    b.extend_from_slice(&[0; 64]);
    let err = probe_reader(std::io::Cursor::new(&b), u64::MAX).unwrap_err();
    assert!(err.to_string().contains("truncated moov"), "{err}");
    // Images only need their first bytes, so they still probe.
    let png = png(300, 400);
    let info = probe_reader(std::io::Cursor::new(&png), u64::MAX).unwrap();
    assert_eq!((info.width, info.byte_size), (300, u64::MAX));
}

#[test]
fn a_failing_reader_gives_an_io_error() {
    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
    }
    impl Seek for Broken {
        fn seek(&mut self, _: SeekFrom) -> std::io::Result<u64> {
            Ok(0)
        }
    }
    let err = probe_reader(Broken, 1000).unwrap_err();
    assert!(matches!(err, ProbeError::Io(_)), "{err:?}");
    assert!(err.to_string().contains("disk on fire"), "{err}");
}

// ---- hostile bytes -----------------------------------------------------------------------

#[test]
fn empty_and_garbage_input_are_unknown_formats() {
    for garbage in [
        &b""[..],
        b"\0",
        b"not media at all, just text",
        b"GIF89a\x01\0\x01\0\0\0\0",
        &[0u8; 64],
        &[0xFFu8; 64][..],
        b"RIFF\0\0\0\0WAVEfmt ",
        b"\x1aE\xdf\xa3 matroska",
    ] {
        assert!(
            matches!(probe_bytes(garbage), Err(ProbeError::UnknownFormat)),
            "{garbage:?}"
        );
    }
}

#[test]
fn a_box_claiming_2_pow_63_bytes_is_malformed_not_an_allocation() {
    for size in [1u64 << 63, u64::MAX, 1 << 40] {
        let mut b = bx(b"ftyp", b"isom\0\0\0\0");
        b.extend_from_slice(&1u32.to_be_bytes());
        b.extend_from_slice(b"moov");
        b.extend_from_slice(&size.to_be_bytes());
        b.extend_from_slice(&[0; 100]);
        malformed_as(&b, Format::Mp4, "beyond the file");
    }
    let mut b = bx(b"ftyp", b"isom\0\0\0\0");
    b.extend_from_slice(&u32::MAX.to_be_bytes());
    b.extend_from_slice(b"mdat");
    malformed_as(&b, Format::Mp4, "beyond the file");
}

#[test]
fn a_box_smaller_than_its_header_is_malformed() {
    for size in [2u32, 7] {
        let mut b = bx(b"ftyp", b"isom\0\0\0\0");
        b.extend_from_slice(&size.to_be_bytes());
        b.extend_from_slice(b"free");
        malformed_as(&b, Format::Mp4, "less than its header");
    }
    let mut b = bx(b"ftyp", b"isom\0\0\0\0");
    b.extend_from_slice(&1u32.to_be_bytes());
    b.extend_from_slice(b"free");
    b.extend_from_slice(&15u64.to_be_bytes());
    malformed_as(&b, Format::Mp4, "less than its header");
}

#[test]
fn deeply_nested_boxes_neither_overflow_the_stack_nor_count_as_a_track() {
    for kind in [b"trak", b"mdia", b"moov"] {
        let mut inner = bx(b"free", &[]);
        for _ in 0..10_000 {
            inner = bx(kind, &inner);
        }
        let moov = bx(b"moov", &[bx(b"mvhd", &[0; 100]), inner].concat());
        let file = [bx(b"ftyp", b"isom\0\0\0\0"), moov].concat();
        assert!(probe_bytes(&file).is_err(), "{kind:?}");
    }
    // A real track buried one level too deep is not found either.
    let movie = Movie::new(640, 480, 3.0, 25);
    let moov = movie.moov();
    let (mvhd_len, trak) = (108, &moov[8 + 108..]);
    let buried = bx(
        b"moov",
        &[moov[8..8 + mvhd_len].to_vec(), bx(b"udta", trak)].concat(),
    );
    let file = [bx(b"ftyp", b"isom\0\0\0\0"), buried].concat();
    malformed_as(&file, Format::Mp4, "no video track");
}

#[test]
fn the_number_of_top_level_boxes_is_bounded() {
    let mut file = bx(b"ftyp", b"isom\0\0\0\0");
    for _ in 0..20_000 {
        file.extend(bx(b"free", &[]));
    }
    file.extend(Movie::new(640, 480, 3.0, 25).moov());
    malformed_as(&file, Format::Mp4, "no moov");
}

#[test]
fn a_moov_without_mvhd_or_without_a_video_track_is_malformed() {
    let file = [bx(b"ftyp", b"isom\0\0\0\0"), bx(b"moov", &[])].concat();
    malformed_as(&file, Format::Mp4, "no mvhd");
    let file = [
        bx(b"ftyp", b"isom\0\0\0\0"),
        bx(b"moov", &bx(b"mvhd", &[0; 100])),
    ]
    .concat();
    malformed_as(&file, Format::Mp4, "timescale is zero");
    let mut mvhd = vec![0u8; 100];
    mvhd[12..16].copy_from_slice(&1000u32.to_be_bytes());
    let file = [
        bx(b"ftyp", b"isom\0\0\0\0"),
        bx(b"moov", &bx(b"mvhd", &mvhd)),
    ]
    .concat();
    malformed_as(&file, Format::Mp4, "no video track");
    let mut unknown_version = mvhd.clone();
    unknown_version[0] = 7;
    let file = [
        bx(b"ftyp", b"isom\0\0\0\0"),
        bx(b"moov", &bx(b"mvhd", &unknown_version)),
    ]
    .concat();
    malformed_as(&file, Format::Mp4, "unknown version");
    let file = [bx(b"ftyp", b"isom\0\0\0\0"), bx(b"mdat", &[0; 32])].concat();
    malformed_as(&file, Format::Mp4, "no moov");
}

#[test]
fn a_video_track_without_dimensions_is_malformed() {
    let movie = Movie::new(0, 0, 3.0, 25);
    malformed_as(&movie.build(), Format::Mp4, "no dimensions");
}

#[test]
fn jpeg_without_a_frame_header_or_with_broken_segments_is_malformed() {
    malformed_as(b"\xFF\xD8\xFF", Format::Jpeg, "truncated");
    let mut fill = vec![0xFF, 0xD8];
    fill.extend(vec![0xFF; 100_000]);
    fill.push(0xC0);
    malformed_as(&fill, Format::Jpeg, "fill bytes");
    malformed_as(
        b"\xFF\xD8\xFF\xDA\0\x08\x01\x01\0\0\x3F\0",
        Format::Jpeg,
        "no frame header",
    );
    malformed_as(b"\xFF\xD8\xFF\xE0\0\x01", Format::Jpeg, "below 2");
    malformed_as(
        b"\xFF\xD8\xFF\xE0\0\x02\x00",
        Format::Jpeg,
        "expected a marker",
    );
    malformed_as(b"\xFF\xD8\xFF\xE0\xFF\xFF\0\0", Format::Jpeg, "truncated");
    let mut many = vec![0xFF, 0xD8];
    for _ in 0..5000 {
        many.extend_from_slice(&[0xFF, 0xFE, 0, 2]);
    }
    malformed_as(&many, Format::Jpeg, "too many segments");
    malformed_as(&jpeg(0, 480, 0xC0), Format::Jpeg, "zero dimension");
}

#[test]
fn png_bmp_and_webp_with_broken_headers_are_malformed() {
    let mut not_ihdr = png(300, 400);
    not_ihdr[12..16].copy_from_slice(b"IDAT");
    malformed_as(&not_ihdr, Format::Png, "not IHDR");
    malformed_as(&png(0, 400), Format::Png, "zero dimension");
    malformed_as(&png(1 << 31, 400), Format::Png, "2^31");
    malformed_as(&png(300, 400)[..20], Format::Png, "truncated");

    let mut odd_dib = bmp(640, 480);
    odd_dib[14..18].copy_from_slice(&7u32.to_le_bytes());
    malformed_as(&odd_dib, Format::Bmp, "DIB header size 7");
    malformed_as(&bmp(-640, 480), Format::Bmp, "negative width");
    malformed_as(&bmp(640, 0), Format::Bmp, "zero dimension");
    malformed_as(b"BM", Format::Bmp, "truncated");

    let mut unknown = webp_vp8(100, 100);
    unknown[12..16].copy_from_slice(b"VP8Z");
    malformed_as(&unknown, Format::Webp, "unknown first chunk");
    let mut bad_code = webp_vp8(100, 100);
    bad_code[23] = 0;
    malformed_as(&bad_code, Format::Webp, "start code");
    let mut bad_signature = webp_vp8l(100, 100);
    bad_signature[20] = 0;
    malformed_as(&bad_signature, Format::Webp, "signature");
    malformed_as(&webp_vp8(0, 100), Format::Webp, "zero dimension");
    malformed_as(&webp_vp8(100, 100)[..16], Format::Webp, "truncated");
}

#[test]
fn avi_with_broken_header_lists_is_malformed() {
    malformed_as(
        &Avi::new(640, 480, 0, 100).build(),
        Format::Avi,
        "frame rate",
    );
    malformed_as(
        &Avi::new(0, 480, 40_000, 100).build(),
        Format::Avi,
        "zero dimension",
    );

    let mut huge_list = Avi::new(640, 480, 40_000, 100).build();
    huge_list[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    malformed_as(&huge_list, Format::Avi, "larger than 1 MiB");

    let mut past_the_end = Avi::new(640, 480, 40_000, 100).build();
    past_the_end[16..20].copy_from_slice(&100_000u32.to_le_bytes());
    malformed_as(&past_the_end, Format::Avi, "truncated");

    let mut movi_first = b"AVI ".to_vec();
    movi_first.extend(riff_chunk(b"LIST", b"movi"));
    malformed_as(
        &riff_chunk(b"RIFF", &movi_first),
        Format::Avi,
        "before the header list",
    );

    let mut no_avih = b"AVI ".to_vec();
    no_avih.extend(riff_chunk(b"LIST", b"hdrlJUNK\0\0\0\0"));
    malformed_as(&riff_chunk(b"RIFF", &no_avih), Format::Avi, "avih");

    let mut only_junk = b"AVI ".to_vec();
    for _ in 0..100 {
        only_junk.extend(riff_chunk(b"JUNK", &[]));
    }
    malformed_as(
        &riff_chunk(b"RIFF", &only_junk),
        Format::Avi,
        "no header list",
    );
}

// ---- properties --------------------------------------------------------------------------

/// What every successful probe must satisfy, whatever the input.
fn sound(result: Result<MediaInfo, ProbeError>, len: usize) -> Result<(), TestCaseError> {
    if let Ok(info) = result {
        prop_assert!(info.width > 0 && info.height > 0, "{:?}", info);
        prop_assert_eq!(info.byte_size, len as u64);
        match info.format.kind() {
            MediaKind::Image => {
                prop_assert_eq!((info.duration_secs, info.frame_rate), (None, None));
            }
            MediaKind::Video => {
                if let Some(d) = info.duration_secs {
                    prop_assert!(d.is_finite() && d >= 0.0, "{:?}", info);
                }
                if let Some(r) = info.frame_rate {
                    prop_assert!(r.is_finite() && r > 0.0, "{:?}", info);
                }
            }
        }
        let _ = check(&info);
    }
    Ok(())
}

fn synthetic(which: usize) -> Vec<u8> {
    match which % 9 {
        0 => png(300, 400),
        1 => jpeg(640, 480, 0xC2),
        2 => bmp(640, -480),
        3 => webp_vp8(300, 300),
        4 => webp_vp8l(300, 300),
        5 => webp_vp8x(300, 300),
        6 => Movie::new(720, 1280, 5.2, 15).build(),
        7 => Movie {
            version: 1,
            large_mdat: true,
            audio_track: true,
            ..Movie::new(720, 1280, 5.2, 15)
        }
        .build(),
        _ => Avi {
            stream: Some((25, 1, 125, 640, -360)),
            ..Avi::new(640, 360, 40_000, 125)
        }
        .build(),
    }
}

const MAGIC: &[&[u8]] = &[
    b"\xFF\xD8\xFF",
    b"\x89PNG\r\n\x1a\n",
    b"BM",
    b"RIFF\0\0\0\0WEBP",
    b"RIFF\0\0\0\0AVI ",
    b"\0\0\0\x18ftypisom",
    b"\0\0\0\x18ftypqt  ",
    b"\0\0\0\x08moov",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let len = bytes.len();
        sound(probe_bytes(&bytes), len)?;
    }

    #[test]
    fn arbitrary_bytes_after_a_real_magic_never_panic(
        magic in 0..MAGIC.len(),
        tail in proptest::collection::vec(any::<u8>(), 0..4096),
    ) {
        let bytes = [MAGIC[magic], &tail].concat();
        sound(probe_bytes(&bytes), bytes.len())?;
    }

    #[test]
    fn mutated_samples_never_panic(
        which in 0..SAMPLES.len(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..24),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = sample(SAMPLES[which].0);
        for (at, v) in flips {
            let i = at.index(bytes.len());
            bytes[i] = v;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        sound(probe_bytes(&bytes), bytes.len())?;
    }

    #[test]
    fn mutated_synthetic_headers_never_panic(
        which in 0..9usize,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..24),
        // Overwrite an aligned 4-byte word (box and chunk sizes) with an extreme value.
        word in any::<prop::sample::Index>(),
        value in prop_oneof![Just(0u32), Just(1), Just(7), Just(8), Just(u32::MAX), Just(1 << 31), any::<u32>()],
    ) {
        let mut bytes = synthetic(which);
        for (at, v) in flips {
            let i = at.index(bytes.len());
            bytes[i] = v;
        }
        let at = word.index(bytes.len() / 4) * 4;
        bytes[at..at + 4].copy_from_slice(&value.to_be_bytes());
        sound(probe_bytes(&bytes), bytes.len())?;
    }
}
