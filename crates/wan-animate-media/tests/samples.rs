//! Probes over real files made by ffmpeg (see tests/samples/README.md).

use std::path::PathBuf;

use wan_animate_media::*;

fn sample(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/samples")
        .join(name)
}

fn root_sample(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/samples")
        .join(name)
}

#[test]
fn each_image_format_probes_to_its_real_dimensions() {
    for (name, format) in [
        ("tiny.jpg", Format::Jpeg),
        ("tiny.png", Format::Png),
        ("tiny.bmp", Format::Bmp),
        ("tiny.webp", Format::Webp),
    ] {
        let info = probe_file(&sample(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            (info.format, info.width, info.height),
            (format, 64, 48),
            "{name}"
        );
        assert_eq!(
            info.byte_size,
            std::fs::metadata(sample(name)).unwrap().len()
        );
        assert!(info.duration_secs.is_none());
    }
}

#[test]
fn each_video_format_probes_to_its_real_size_duration_and_rate() {
    for (name, format, secs, fps) in [
        ("tiny.mp4", Format::Mp4, 2.0, 25.0),
        ("tiny.mov", Format::Mov, 1.5, 10.0),
        ("tiny.avi", Format::Avi, 1.5, 10.0),
    ] {
        let info = probe_file(&sample(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            (info.format, info.width, info.height),
            (format, 64, 48),
            "{name}"
        );
        assert!(
            (info.duration_secs.unwrap() - secs).abs() < 0.05,
            "{name}: {:?}",
            info.duration_secs
        );
        assert!(
            (info.frame_rate.unwrap() - fps).abs() < 0.05,
            "{name}: {:?}",
            info.frame_rate
        );
    }
}

#[test]
fn tiny_samples_fail_the_size_limits_and_say_so() {
    let (_, violations) = check_path(&sample("tiny.mp4")).unwrap();
    let rules: Vec<Rule> = violations.iter().map(|v| v.rule).collect();
    assert_eq!(rules, [Rule::Width, Rule::Height]);
}

#[test]
fn the_project_samples_pass_every_limit() {
    let (image, v) = check_path(&root_sample("person.jpg")).unwrap();
    assert!(v.is_empty(), "{v:?}");
    assert_eq!((image.width, image.height), (300, 400));
    let (video, v) = check_path(&root_sample("dance.mp4")).unwrap();
    assert!(v.is_empty(), "{v:?}");
    assert_eq!((video.width, video.height), (320, 480));
    assert!((video.duration_secs.unwrap() - 3.0).abs() < 0.05);
    assert!((video.frame_rate.unwrap() - 15.0).abs() < 0.05);
}

#[test]
fn every_prefix_of_every_sample_is_handled_without_panic() {
    for name in [
        "tiny.jpg",
        "tiny.png",
        "tiny.bmp",
        "tiny.webp",
        "tiny.mp4",
        "tiny.mov",
        "tiny.avi",
    ] {
        let bytes = std::fs::read(sample(name)).unwrap();
        for n in 0..bytes.len() {
            let _ = probe_bytes(&bytes[..n]);
        }
    }
}
