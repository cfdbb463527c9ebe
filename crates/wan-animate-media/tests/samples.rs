//! Probes over real files made by ffmpeg (tests/samples/README.md has the commands).

mod common;

use common::*;
use wan_animate_media::*;

#[test]
fn every_sample_probes_to_its_real_format_size_duration_and_frame_rate() {
    for &(name, format, width, height, secs, fps) in SAMPLES {
        let path = sample_path(name);
        let info = probe_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            (info.format, info.width, info.height),
            (format, width, height),
            "{name}"
        );
        assert_eq!(
            info.byte_size,
            std::fs::metadata(&path).unwrap().len(),
            "{name}"
        );
        match format.kind() {
            MediaKind::Image => {
                assert_eq!(
                    (info.duration_secs, info.frame_rate),
                    (None, None),
                    "{name}"
                );
            }
            MediaKind::Video => {
                let d = info
                    .duration_secs
                    .unwrap_or_else(|| panic!("{name}: no duration"));
                let r = info.frame_rate.unwrap_or_else(|| panic!("{name}: no rate"));
                assert!((d - secs).abs() <= 0.05, "{name}: {d} s, expected {secs}");
                assert!((r - fps).abs() <= 0.05, "{name}: {r} fps, expected {fps}");
            }
        }
    }
}

#[test]
fn probe_bytes_and_probe_reader_agree_with_probe_file() {
    for &(name, ..) in SAMPLES {
        let bytes = sample(name);
        let from_file = probe_file(&sample_path(name)).unwrap();
        assert_eq!(probe_bytes(&bytes).unwrap(), from_file, "{name}");
        let reader = std::io::Cursor::new(&bytes);
        assert_eq!(
            probe_reader(reader, bytes.len() as u64).unwrap(),
            from_file,
            "{name}"
        );
    }
}

#[test]
fn the_valid_samples_pass_every_limit() {
    let (image, v) = check_path(&sample_path("valid_person.jpg")).unwrap();
    assert!(v.is_empty(), "{v:?}");
    assert_eq!(
        (image.format, image.width, image.height),
        (Format::Jpeg, 300, 400)
    );
    let (video, v) = check_path(&sample_path("valid_dance.mp4")).unwrap();
    assert!(v.is_empty(), "{v:?}");
    assert_eq!(
        (video.format, video.width, video.height),
        (Format::Mp4, 320, 480)
    );
}

#[test]
fn the_tiny_samples_break_exactly_the_side_and_duration_limits() {
    for &(name, format, ..) in SAMPLES {
        if name.starts_with("valid_") {
            continue;
        }
        let (_, violations) = check_path(&sample_path(name)).unwrap();
        let rules: Vec<Rule> = violations.iter().map(|v| v.rule).collect();
        // 64x48 is too small on both sides; the 1.5 s videos are also too short.
        let expected: &[Rule] = match name {
            "tiny.mov" | "tiny.avi" => &[Rule::Width, Rule::Height, Rule::Duration],
            _ => &[Rule::Width, Rule::Height],
        };
        assert_eq!(rules, expected, "{name} ({format})");
        assert!(
            violations
                .iter()
                .all(|v| v.service_code().starts_with("InvalidFile.")),
            "{name}"
        );
    }
}

#[test]
fn the_extension_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    for (name, disguise, format) in [
        ("tiny.png", "photo.jpg", Format::Png),
        ("tiny.mov", "clip.mp4", Format::Mov),
        ("tiny.avi", "clip.mov", Format::Avi),
        ("valid_person.jpg", "no_extension", Format::Jpeg),
    ] {
        let path = dir.path().join(disguise);
        std::fs::write(&path, sample(name)).unwrap();
        assert_eq!(probe_file(&path).unwrap().format, format, "{disguise}");
    }
}

#[test]
fn a_missing_file_is_an_io_error_with_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let err = probe_file(&dir.path().join("absent.mp4")).unwrap_err();
    match &err {
        ProbeError::Io(e) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound),
        other => panic!("expected Io, got {other:?}"),
    }
    assert!(std::error::Error::source(&err).is_some());
    assert!(err.to_string().starts_with("cannot read the file"), "{err}");
}

#[test]
fn every_prefix_of_every_sample_is_an_error_or_a_result_never_a_panic() {
    for &(name, format, ..) in SAMPLES {
        let bytes = sample(name);
        for n in 0..bytes.len() {
            match probe_bytes(&bytes[..n]) {
                // A prefix that still holds the headers gives the right answer...
                Ok(info) => assert_eq!(info.format, format, "{name}[..{n}]"),
                // ...and one that does not is an error naming the format once it is known.
                Err(ProbeError::Malformed { format: f, .. }) => {
                    assert_eq!(f, format, "{name}[..{n}]");
                }
                Err(ProbeError::UnknownFormat) => assert!(n < 16, "{name}[..{n}]"),
                Err(e) => panic!("{name}[..{n}]: {e}"),
            }
        }
    }
}

#[test]
fn image_headers_are_at_the_start_so_short_prefixes_suffice() {
    // The probe reads only the header: the first few dozen bytes of an image are enough.
    for (name, needed) in [
        ("tiny.png", 24),
        ("tiny.bmp", 26),
        ("tiny.webp", 30),
        ("tiny_lossless.webp", 25),
        ("tiny_alpha.webp", 30),
    ] {
        let bytes = sample(name);
        assert!(probe_bytes(&bytes[..needed]).is_ok(), "{name}");
        assert!(probe_bytes(&bytes[..needed - 1]).is_err(), "{name}");
    }
}

#[test]
fn a_sample_mp4_whose_mdat_is_cut_short_is_malformed() {
    // tiny.mp4 stores moov after mdat; cutting the file inside mdat loses the moov.
    let bytes = sample("tiny.mp4");
    let err = probe_bytes(&bytes[..bytes.len() / 2]).unwrap_err();
    assert!(
        matches!(
            err,
            ProbeError::Malformed {
                format: Format::Mp4,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("beyond the file"), "{err}");
}
