//! Probes over synthetic headers (every limit's boundary on both sides), real sample files
//! made with ffmpeg (tests/samples/README.md), and malformed input that must never panic.

use wan_animate_media::*;

// ---- synthetic headers -------------------------------------------------------------

fn png(w: u32, h: u32) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    b.extend_from_slice(&w.to_be_bytes());
    b.extend_from_slice(&h.to_be_bytes());
    b.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    b
}

fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    b.extend_from_slice(kind);
    b.extend_from_slice(body);
    b
}

/// A minimal MP4: ftyp, a 1 KiB mdat before moov (so the probe must seek), and a moov with
/// mvhd and one video trak.
fn mp4(brand: &[u8; 4], w: u32, h: u32, timescale: u32, duration: u32, frames: u32) -> Vec<u8> {
    let mut mvhd = vec![0u8; 100];
    mvhd[12..16].copy_from_slice(&timescale.to_be_bytes());
    mvhd[16..20].copy_from_slice(&duration.to_be_bytes());
    let mut tkhd = vec![0u8; 84];
    tkhd[76..80].copy_from_slice(&(w << 16).to_be_bytes());
    tkhd[80..84].copy_from_slice(&(h << 16).to_be_bytes());
    let mut hdlr = vec![0u8; 24];
    hdlr[8..12].copy_from_slice(b"vide");
    let mut mdhd = vec![0u8; 24];
    mdhd[12..16].copy_from_slice(&timescale.to_be_bytes());
    mdhd[16..20].copy_from_slice(&duration.to_be_bytes());
    let mut stts = vec![0u8; 16];
    stts[4..8].copy_from_slice(&1u32.to_be_bytes());
    stts[8..12].copy_from_slice(&frames.to_be_bytes());
    stts[12..16].copy_from_slice(&(duration / frames.max(1)).to_be_bytes());
    let stbl = bx(b"stbl", &bx(b"stts", &stts));
    let minf = bx(b"minf", &stbl);
    let mdia = bx(
        b"mdia",
        &[bx(b"mdhd", &mdhd), bx(b"hdlr", &hdlr), minf].concat(),
    );
    let trak = bx(b"trak", &[bx(b"tkhd", &tkhd), mdia].concat());
    let moov = bx(b"moov", &[bx(b"mvhd", &mvhd), trak].concat());
    let mut ftyp = brand.to_vec();
    ftyp.extend_from_slice(&[0, 0, 2, 0]);
    ftyp.extend_from_slice(b"isommp41");
    [bx(b"ftyp", &ftyp), bx(b"mdat", &[0u8; 1024]), moov].concat()
}

fn avi(w: u32, h: u32, us_per_frame: u32, frames: u32) -> Vec<u8> {
    let mut avih = vec![0u8; 56];
    avih[0..4].copy_from_slice(&us_per_frame.to_le_bytes());
    avih[16..20].copy_from_slice(&frames.to_le_bytes());
    avih[32..36].copy_from_slice(&w.to_le_bytes());
    avih[36..40].copy_from_slice(&h.to_le_bytes());
    let chunk = |k: &[u8; 4], body: &[u8]| {
        let mut c = k.to_vec();
        c.extend_from_slice(&(body.len() as u32).to_le_bytes());
        c.extend_from_slice(body);
        c
    };
    let mut hdrl = b"hdrl".to_vec();
    hdrl.extend(chunk(b"avih", &avih));
    let list = chunk(b"LIST", &hdrl);
    let mut riff = b"AVI ".to_vec();
    riff.extend(list);
    riff.extend(chunk(b"LIST", b"movi"));
    chunk(b"RIFF", &riff)
}

fn rules(info: &MediaInfo) -> Vec<Rule> {
    check(info).iter().map(|v| v.rule).collect()
}

#[test]
fn png_header_gives_dimensions() {
    let info = probe_bytes(&png(300, 400)).unwrap();
    assert_eq!(
        (info.format, info.width, info.height),
        (Format::Png, 300, 400)
    );
    assert_eq!(info.format.kind(), MediaKind::Image);
}

#[test]
fn mp4_header_gives_size_duration_and_frame_rate_after_seeking_over_mdat() {
    let info = probe_bytes(&mp4(b"isom", 720, 1280, 1000, 5200, 78)).unwrap();
    assert_eq!(
        (info.format, info.width, info.height),
        (Format::Mp4, 720, 1280)
    );
    assert!((info.duration_secs.unwrap() - 5.2).abs() < 1e-9);
    assert!((info.frame_rate.unwrap() - 15.0).abs() < 1e-9);
}

#[test]
fn quicktime_brand_is_mov() {
    assert_eq!(
        probe_bytes(&mp4(b"qt  ", 640, 480, 600, 1800, 90))
            .unwrap()
            .format,
        Format::Mov
    );
}

#[test]
fn avi_header_gives_size_duration_and_frame_rate() {
    let info = probe_bytes(&avi(640, 360, 40_000, 125)).unwrap();
    assert_eq!(
        (info.format, info.width, info.height),
        (Format::Avi, 640, 360)
    );
    assert!((info.duration_secs.unwrap() - 5.0).abs() < 1e-9);
    assert!((info.frame_rate.unwrap() - 25.0).abs() < 1e-9);
}

#[test]
fn image_side_limits_hold_on_both_sides_of_each_boundary() {
    let img = |w, h| MediaInfo::image(Format::Png, w, h, 1000);
    assert_eq!(rules(&img(200, 200)), []);
    assert_eq!(rules(&img(199, 300)), [Rule::Width]);
    assert_eq!(rules(&img(300, 199)), [Rule::Height]);
    assert_eq!(rules(&img(4096, 4096)), []);
    assert_eq!(rules(&img(4097, 4096)), [Rule::Width]);
    assert_eq!(rules(&img(4096, 4097)), [Rule::Height]);
}

#[test]
fn video_side_limits_hold_on_both_sides_of_each_boundary() {
    let vid = |w, h| MediaInfo::video(Format::Mp4, w, h, 1000, 5.0, Some(25.0));
    assert_eq!(rules(&vid(2048, 2048)), []);
    assert_eq!(rules(&vid(2049, 2048)), [Rule::Width]);
    assert_eq!(rules(&vid(200, 200)), []);
    assert_eq!(rules(&vid(200, 199)), [Rule::Height]);
}

#[test]
fn aspect_ratio_exactly_three_passes_and_beyond_fails() {
    let img = |w, h| MediaInfo::image(Format::Jpeg, w, h, 1000);
    assert_eq!(rules(&img(300, 900)), []);
    assert_eq!(rules(&img(900, 300)), []);
    assert_eq!(rules(&img(300, 901)), [Rule::AspectRatio]);
    assert_eq!(rules(&img(901, 300)), [Rule::AspectRatio]);
}

#[test]
fn file_size_limits_are_inclusive() {
    let five_mb = 5 * 1024 * 1024;
    assert_eq!(
        rules(&MediaInfo::image(Format::Webp, 500, 500, five_mb)),
        []
    );
    assert_eq!(
        rules(&MediaInfo::image(Format::Webp, 500, 500, five_mb + 1)),
        [Rule::FileSize]
    );
    let two_hundred = 200 * 1024 * 1024;
    assert_eq!(
        rules(&MediaInfo::video(
            Format::Avi,
            500,
            500,
            two_hundred,
            3.0,
            None
        )),
        []
    );
    assert_eq!(
        rules(&MediaInfo::video(
            Format::Avi,
            500,
            500,
            two_hundred + 1,
            3.0,
            None
        )),
        [Rule::FileSize]
    );
}

#[test]
fn duration_limits_are_inclusive_and_unknown_fails() {
    let vid = |d| MediaInfo::video(Format::Mov, 500, 500, 1000, d, None);
    assert_eq!(rules(&vid(2.0)), []);
    assert_eq!(rules(&vid(1.99)), [Rule::Duration]);
    assert_eq!(rules(&vid(30.0)), []);
    assert_eq!(rules(&vid(30.01)), [Rule::Duration]);
    let mut unknown = vid(3.0);
    unknown.duration_secs = None;
    assert_eq!(rules(&unknown), [Rule::Duration]);
}

#[test]
fn every_violation_is_reported_at_once_with_values_and_service_codes() {
    let v = check(&MediaInfo::video(
        Format::Mp4,
        100,
        2100,
        300 * 1024 * 1024,
        45.0,
        None,
    ));
    let codes: Vec<&str> = v.iter().map(|v| v.service_code()).collect();
    assert_eq!(
        codes,
        [
            "InvalidFile.Resolution",
            "InvalidFile.Resolution",
            "InvalidFile.AspectRatio",
            "InvalidFile.Size",
            "InvalidFile.Duration"
        ]
    );
    let text: Vec<String> = v.iter().map(ToString::to_string).collect();
    assert_eq!(text[0], "video width is 100 px; the limit is 200–2048 px");
    assert!(text[4].contains("45.00 s") && text[4].contains("2–30 s"));
    assert!(service_message(&v[2]).contains("between 3:1 and 1:3"));
}

#[test]
fn a_video_given_as_the_image_breaks_the_format_rule() {
    let v = IMAGE_LIMITS.check(&MediaInfo::video(Format::Mp4, 500, 500, 1000, 3.0, None));
    assert_eq!(v[0].rule, Rule::Format);
    assert_eq!(v[0].service_code(), "InvalidFile.Format");
}

// ---- malformed input -----------------------------------------------------------------

#[test]
fn garbage_and_empty_input_are_errors() {
    assert!(matches!(probe_bytes(b""), Err(ProbeError::UnknownFormat)));
    assert!(matches!(
        probe_bytes(b"GIF89a........"),
        Err(ProbeError::UnknownFormat)
    ));
    assert!(matches!(
        probe_bytes(&avi(640, 360, 0, 10)),
        Err(ProbeError::Malformed { .. })
    ));
}

#[test]
fn a_box_claiming_a_huge_size_is_malformed_not_an_allocation() {
    let mut b = bx(b"ftyp", b"isom\0\0\0\0");
    b.extend_from_slice(&1u32.to_be_bytes());
    b.extend_from_slice(b"moov");
    b.extend_from_slice(&(1u64 << 63).to_be_bytes());
    let err = probe_bytes(&b).unwrap_err();
    assert!(err.to_string().contains("beyond the file"), "{err}");
}

#[test]
fn deeply_nested_boxes_do_not_overflow_the_stack() {
    let mut inner = bx(b"free", &[]);
    for _ in 0..10_000 {
        inner = bx(b"trak", &inner);
    }
    let moov = bx(b"moov", &inner);
    let file = [bx(b"ftyp", b"isom\0\0\0\0"), moov].concat();
    assert!(probe_bytes(&file).is_err());
}

#[test]
fn every_prefix_of_every_synthetic_header_is_handled_without_panic() {
    for whole in [
        png(300, 400),
        mp4(b"isom", 720, 1280, 1000, 5200, 78),
        avi(640, 360, 40_000, 125),
    ] {
        for n in 0..whole.len() {
            let _ = probe_bytes(&whole[..n]);
        }
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = probe_bytes(&bytes);
        }

        #[test]
        fn mutated_headers_never_panic(seed in 0usize..3, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..16)) {
            let mut b = [png(300, 400), mp4(b"isom", 720, 1280, 1000, 5200, 78), avi(640, 360, 40_000, 125)][seed].clone();
            for (at, v) in flips {
                let i = at % b.len();
                b[i] = v;
            }
            let _ = probe_bytes(&b);
        }
    }
}
