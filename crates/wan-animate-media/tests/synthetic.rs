//! Probes over minimal headers built in code with chosen values: every format variant, and
//! every documented limit's boundary on both sides, through the probe.

mod common;

use common::*;
use wan_animate_media::*;

fn rules_of(bytes: &[u8]) -> Vec<Rule> {
    let info = probe_bytes(bytes).unwrap_or_else(|e| panic!("probe failed: {e}"));
    check(&info).iter().map(|v| v.rule).collect()
}

fn rules(info: &MediaInfo) -> Vec<Rule> {
    check(info).iter().map(|v| v.rule).collect()
}

fn dims(bytes: &[u8]) -> (Format, u32, u32) {
    let info = probe_bytes(bytes).unwrap_or_else(|e| panic!("probe failed: {e}"));
    (info.format, info.width, info.height)
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

// ---- formats -------------------------------------------------------------------------

#[test]
fn png_ihdr_gives_dimensions_and_byte_size() {
    let bytes = png(300, 400);
    let info = probe_bytes(&bytes).unwrap();
    assert_eq!(
        (info.format, info.width, info.height),
        (Format::Png, 300, 400)
    );
    assert_eq!(info.byte_size, bytes.len() as u64);
    assert_eq!((info.duration_secs, info.frame_rate), (None, None));
}

#[test]
fn jpeg_frame_header_is_found_past_app_comment_and_fill_bytes_for_every_sof_type() {
    for sof in [
        0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF,
    ] {
        assert_eq!(
            dims(&jpeg(1234, 567, sof)),
            (Format::Jpeg, 1234, 567),
            "SOF {sof:#x}"
        );
    }
}

#[test]
fn jpeg_dht_dac_and_jpg_markers_are_skipped_not_taken_for_a_frame_header() {
    // C4 (DHT), C8 (JPG) and CC (DAC) share the SOF range but carry no dimensions: a
    // segment with one of them first must be skipped by its length.
    for not_sof in [0xC4u8, 0xC8, 0xCC] {
        let mut b = vec![0xFF, 0xD8, 0xFF, not_sof, 0, 7, 8, 0, 1, 0, 1];
        b.extend_from_slice(&jpeg(640, 480, 0xC0)[2..]);
        assert_eq!(dims(&b), (Format::Jpeg, 640, 480), "{not_sof:#x}");
    }
}

#[test]
fn bmp_dimensions_including_top_down_and_os2_headers() {
    assert_eq!(dims(&bmp(640, 480)), (Format::Bmp, 640, 480));
    assert_eq!(dims(&bmp(640, -480)), (Format::Bmp, 640, 480));
    assert_eq!(dims(&bmp_core(320, 240)), (Format::Bmp, 320, 240));
}

#[test]
fn webp_lossy_lossless_and_extended_headers_give_dimensions() {
    assert_eq!(dims(&webp_vp8(1000, 600)), (Format::Webp, 1000, 600));
    assert_eq!(dims(&webp_vp8l(16384, 1)), (Format::Webp, 16384, 1));
    assert_eq!(dims(&webp_vp8x(4097, 2000)), (Format::Webp, 4097, 2000));
}

#[test]
fn mp4_with_moov_after_mdat_gives_size_duration_and_frame_rate() {
    let info = probe_bytes(&Movie::new(720, 1280, 5.2, 15).build()).unwrap();
    assert_eq!(
        (info.format, info.width, info.height),
        (Format::Mp4, 720, 1280)
    );
    assert!(close(info.duration_secs, 5.2), "{info:?}");
    assert!(close(info.frame_rate, 15.0), "{info:?}");
}

#[test]
fn mp4_with_moov_first_gives_the_same_facts() {
    let movie = Movie {
        moov_first: true,
        ..Movie::new(720, 1280, 5.2, 15)
    };
    let info = probe_bytes(&movie.build()).unwrap();
    assert_eq!((info.width, info.height), (720, 1280));
    assert!(close(info.duration_secs, 5.2) && close(info.frame_rate, 15.0));
}

#[test]
fn version_1_headers_with_64_bit_times_are_read() {
    let movie = Movie {
        version: 1,
        timescale: 90_000,
        duration: 90_000 * 12,
        frames: 300,
        ..Movie::new(1920, 1080, 12.0, 25)
    };
    let info = probe_bytes(&movie.build()).unwrap();
    assert_eq!((info.width, info.height), (1920, 1080));
    assert!(close(info.duration_secs, 12.0) && close(info.frame_rate, 25.0));
}

#[test]
fn a_64_bit_largesize_mdat_is_skipped() {
    let movie = Movie {
        large_mdat: true,
        ..Movie::new(640, 480, 3.0, 30)
    };
    let info = probe_bytes(&movie.build()).unwrap();
    assert_eq!((info.width, info.height), (640, 480));
    assert!(close(info.duration_secs, 3.0));
}

#[test]
fn a_size_zero_moov_runs_to_the_end_of_the_file() {
    let movie = Movie::new(640, 480, 3.0, 30);
    let mut file = movie.build();
    let moov_len = movie.moov().len();
    let at = file.len() - moov_len;
    file[at..at + 4].copy_from_slice(&0u32.to_be_bytes());
    assert_eq!(dims(&file), (Format::Mp4, 640, 480));
}

#[test]
fn the_video_track_is_chosen_by_its_handler_not_its_position() {
    let movie = Movie {
        audio_track: true,
        ..Movie::new(480, 640, 4.0, 24)
    };
    let info = probe_bytes(&movie.build()).unwrap();
    assert_eq!((info.width, info.height), (480, 640));
    assert!(close(info.frame_rate, 24.0));
}

#[test]
fn the_display_size_in_tkhd_wins_over_the_coded_size_in_the_sample_entry() {
    assert_eq!(
        dims(&Movie::new(1920, 1080, 2.5, 25).build()),
        (Format::Mp4, 1920, 1080)
    );
}

#[test]
fn the_sample_entry_size_is_used_when_tkhd_has_none() {
    let movie = Movie {
        size_in_sample_entry_only: true,
        ..Movie::new(1920, 1080, 2.5, 25)
    };
    assert_eq!(dims(&movie.build()), (Format::Mp4, 1920, 1088));
}

#[test]
fn mov_is_decided_by_the_ftyp_major_brand() {
    let with_brand = |brand: &[u8; 4]| Movie {
        brand: Some(*brand),
        ..Movie::new(640, 480, 3.0, 30)
    };
    assert_eq!(
        probe_bytes(&with_brand(b"qt  ").build()).unwrap().format,
        Format::Mov
    );
    for brand in [b"isom", b"mp42", b"M4V ", b"avc1"] {
        assert_eq!(
            probe_bytes(&with_brand(brand).build()).unwrap().format,
            Format::Mp4
        );
    }
    // Old QuickTime files have no ftyp at all.
    let bare = Movie {
        brand: None,
        ..Movie::new(640, 480, 3.0, 30)
    };
    assert_eq!(probe_bytes(&bare.build()).unwrap().format, Format::Mov);
}

#[test]
fn an_unknown_movie_duration_falls_back_to_the_media_duration_or_stays_unknown() {
    // mvhd duration of all ones ("unknown") in version 0: the track's is used instead.
    let movie = Movie::new(640, 480, 3.0, 30);
    let mut file = movie.build();
    let mvhd = file.windows(4).position(|w| w == b"mvhd").unwrap();
    let duration_at = mvhd + 4 + 16;
    file[duration_at..duration_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    let info = probe_bytes(&file).unwrap();
    assert!(close(info.duration_secs, 3.0), "{info:?}");

    // No duration anywhere (as in a fragmented file without mehd): unknown, and the
    // duration rule fails with "unknown" rather than "0 s".
    let nothing = Movie {
        duration: 0,
        ..Movie::new(640, 480, 3.0, 30)
    };
    let info = probe_bytes(&nothing.build()).unwrap();
    assert_eq!(info.duration_secs, None);
    let v = check(&info);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].rule, Rule::Duration);
    assert_eq!(v[0].actual, "unknown");
}

#[test]
fn avi_main_header_gives_size_duration_and_frame_rate() {
    let info = probe_bytes(&Avi::new(640, 360, 40_000, 125).build()).unwrap();
    assert_eq!(
        (info.format, info.width, info.height),
        (Format::Avi, 640, 360)
    );
    assert!(close(info.duration_secs, 5.0) && close(info.frame_rate, 25.0));
}

#[test]
fn avi_video_stream_header_wins_over_the_main_header() {
    // avih says 33333 us/frame (~30.0003 fps), 1 frame, 10x10; the vids stream says
    // 30000/1001 fps, 300 frames, 720x480 (bottom-up, positive height).
    let avi = Avi {
        stream: Some((30_000, 1001, 300, 720, 480)),
        ..Avi::new(10, 10, 33_333, 1)
    };
    let info = probe_bytes(&avi.build()).unwrap();
    assert_eq!((info.width, info.height), (720, 480));
    assert!(close(info.frame_rate, 30_000.0 / 1001.0));
    assert!(close(info.duration_secs, 10.01));
}

#[test]
fn avi_with_zero_us_per_frame_uses_the_stream_rate_or_is_malformed() {
    let avi = Avi {
        stream: Some((15, 1, 45, 320, -480)),
        ..Avi::new(320, 480, 0, 45)
    };
    let info = probe_bytes(&avi.build()).unwrap();
    assert_eq!((info.width, info.height), (320, 480));
    assert!(close(info.duration_secs, 3.0) && close(info.frame_rate, 15.0));

    let err = probe_bytes(&Avi::new(320, 480, 0, 45).build()).unwrap_err();
    assert!(
        matches!(
            err,
            ProbeError::Malformed {
                format: Format::Avi,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("frame rate"), "{err}");
}

#[test]
fn avi_junk_before_the_header_list_is_skipped() {
    let avi = Avi {
        junk_first: true,
        ..Avi::new(640, 360, 40_000, 125)
    };
    assert_eq!(dims(&avi.build()), (Format::Avi, 640, 360));
}

// ---- limits through the probe: each boundary on both sides -------------------------------

#[test]
fn image_sides_199_and_4097_fail_200_and_4096_pass() {
    assert_eq!(rules_of(&png(200, 200)), []);
    assert_eq!(rules_of(&png(199, 300)), [Rule::Width]);
    assert_eq!(rules_of(&png(300, 199)), [Rule::Height]);
    assert_eq!(rules_of(&png(4096, 4096)), []);
    assert_eq!(rules_of(&png(4097, 4096)), [Rule::Width]);
    assert_eq!(rules_of(&png(4096, 4097)), [Rule::Height]);
    // The same boundaries through the other image formats.
    assert_eq!(rules_of(&jpeg(4096, 2000, 0xC2)), []);
    assert_eq!(rules_of(&jpeg(4097, 2000, 0xC0)), [Rule::Width]);
    assert_eq!(rules_of(&bmp(200, -199)), [Rule::Height]);
    assert_eq!(rules_of(&bmp(200, -200)), []);
    assert_eq!(rules_of(&webp_vp8x(4097, 4096)), [Rule::Width]);
    assert_eq!(rules_of(&webp_vp8l(199, 200)), [Rule::Width]);
    assert_eq!(rules_of(&webp_vp8(200, 200)), []);
}

#[test]
fn video_sides_199_and_2049_fail_200_and_2048_pass() {
    let movie = |w, h| Movie::new(w, h, 5.0, 25).build();
    assert_eq!(rules_of(&movie(2048, 2048)), []);
    assert_eq!(rules_of(&movie(2049, 2048)), [Rule::Width]);
    assert_eq!(rules_of(&movie(2048, 2049)), [Rule::Height]);
    assert_eq!(rules_of(&movie(200, 200)), []);
    assert_eq!(rules_of(&movie(199, 200)), [Rule::Width]);
    assert_eq!(rules_of(&movie(200, 199)), [Rule::Height]);
    // An image-sized video breaks the video limit even though an image could be that big.
    assert_eq!(rules_of(&movie(4096, 2048)), [Rule::Width]);
    let avi = |w, h| Avi::new(w, h, 40_000, 125).build();
    assert_eq!(rules_of(&avi(2048, 1024)), []);
    assert_eq!(rules_of(&avi(2049, 1024)), [Rule::Width]);
}

#[test]
fn aspect_ratio_exactly_3_to_1_passes_and_slightly_beyond_fails() {
    assert_eq!(rules_of(&png(300, 900)), []);
    assert_eq!(rules_of(&png(900, 300)), []);
    assert_eq!(rules_of(&png(300, 901)), [Rule::AspectRatio]);
    assert_eq!(rules_of(&png(901, 300)), [Rule::AspectRatio]);
    assert_eq!(rules_of(&png(1365, 4095)), []);
    assert_eq!(rules_of(&png(1365, 4096)), [Rule::AspectRatio]); // 3.0007
    let movie = |w, h| Movie::new(w, h, 5.0, 25).build();
    assert_eq!(rules_of(&movie(600, 200)), []);
    assert_eq!(rules_of(&movie(601, 200)), [Rule::AspectRatio]);
    assert_eq!(rules_of(&movie(682, 2046)), []);
    assert_eq!(rules_of(&movie(682, 2047)), [Rule::AspectRatio]);
}

#[test]
fn video_duration_1_99_and_30_01_fail_2_and_30_pass() {
    let movie = |secs| Movie::new(640, 480, secs, 25).build();
    assert_eq!(rules_of(&movie(1.99)), [Rule::Duration]);
    assert_eq!(rules_of(&movie(2.0)), []);
    assert_eq!(rules_of(&movie(30.0)), []);
    assert_eq!(rules_of(&movie(30.01)), [Rule::Duration]);
    // AVI: 49 and 50 frames at 25 fps are 1.96 s and 2 s; 750 and 751 are 30 s and 30.04 s.
    let avi = |frames| Avi::new(640, 480, 40_000, frames).build();
    assert_eq!(rules_of(&avi(49)), [Rule::Duration]);
    assert_eq!(rules_of(&avi(50)), []);
    assert_eq!(rules_of(&avi(750)), []);
    assert_eq!(rules_of(&avi(751)), [Rule::Duration]);
}

#[test]
fn file_size_5_mb_passes_for_images_and_one_byte_more_fails() {
    let five_mb = 5 * 1024 * 1024;
    assert_eq!(
        rules(&MediaInfo::image(Format::Webp, 500, 500, five_mb)),
        []
    );
    let over = check(&MediaInfo::image(Format::Webp, 500, 500, five_mb + 1));
    assert_eq!(over.len(), 1);
    assert_eq!(over[0].rule, Rule::FileSize);
    assert_eq!(
        over[0].to_string(),
        "image file size is 5.00 MB (5242881 bytes); the limit is at most 5 MB (5242880 bytes)"
    );
}

#[test]
fn file_size_200_mb_passes_for_videos_and_one_byte_more_fails() {
    let limit = 200 * 1024 * 1024;
    let video = |bytes| MediaInfo::video(Format::Avi, 500, 500, bytes, 3.0, Some(25.0));
    assert_eq!(rules(&video(limit)), []);
    assert_eq!(rules(&video(limit + 1)), [Rule::FileSize]);
    // A video may be far bigger than an image: 6 MB is fine.
    assert_eq!(rules(&video(6 * 1024 * 1024)), []);
}

#[test]
fn the_limits_are_the_documented_numbers() {
    assert_eq!(
        IMAGE_LIMITS.formats,
        [Format::Jpeg, Format::Png, Format::Bmp, Format::Webp]
    );
    assert_eq!(
        (IMAGE_LIMITS.min_side_px, IMAGE_LIMITS.max_side_px),
        (200, 4096)
    );
    assert_eq!(IMAGE_LIMITS.max_aspect_ratio, 3.0);
    assert_eq!(IMAGE_LIMITS.max_bytes, 5 * 1024 * 1024);
    assert_eq!(
        (
            IMAGE_LIMITS.min_duration_secs,
            IMAGE_LIMITS.max_duration_secs
        ),
        (None, None)
    );
    assert_eq!(
        VIDEO_LIMITS.formats,
        [Format::Mp4, Format::Avi, Format::Mov]
    );
    assert_eq!(
        (VIDEO_LIMITS.min_side_px, VIDEO_LIMITS.max_side_px),
        (200, 2048)
    );
    assert_eq!(VIDEO_LIMITS.max_aspect_ratio, 3.0);
    assert_eq!(VIDEO_LIMITS.max_bytes, 200 * 1024 * 1024);
    assert_eq!(
        (
            VIDEO_LIMITS.min_duration_secs,
            VIDEO_LIMITS.max_duration_secs
        ),
        (Some(2.0), Some(30.0))
    );
    assert_eq!(Limits::for_kind(MediaKind::Image), &IMAGE_LIMITS);
    assert_eq!(Limits::for_kind(MediaKind::Video), &VIDEO_LIMITS);
}
