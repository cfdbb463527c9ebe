//! The small pieces of public API: format names and MIME types, service codes and messages,
//! and the wording of violations and errors.

use wan_animate_media::*;

const ALL_FORMATS: [Format; 7] = [
    Format::Jpeg,
    Format::Png,
    Format::Bmp,
    Format::Webp,
    Format::Mp4,
    Format::Mov,
    Format::Avi,
];

#[test]
fn each_format_has_its_kind_name_and_mime_type() {
    let table: Vec<(MediaKind, &str, &str)> = ALL_FORMATS
        .iter()
        .map(|f| (f.kind(), f.name(), f.mime_type()))
        .collect();
    assert_eq!(
        table,
        [
            (MediaKind::Image, "JPEG", "image/jpeg"),
            (MediaKind::Image, "PNG", "image/png"),
            (MediaKind::Image, "BMP", "image/bmp"),
            (MediaKind::Image, "WEBP", "image/webp"),
            (MediaKind::Video, "MP4", "video/mp4"),
            (MediaKind::Video, "MOV", "video/quicktime"),
            (MediaKind::Video, "AVI", "video/x-msvideo"),
        ]
    );
    assert_eq!(Format::Mov.to_string(), "MOV");
}

#[test]
fn every_accepted_format_is_accepted_by_its_own_kind_only() {
    for f in ALL_FORMATS {
        let own = Limits::for_kind(f.kind());
        assert!(own.formats.contains(&f), "{f}");
        let other = match f.kind() {
            MediaKind::Image => &VIDEO_LIMITS,
            MediaKind::Video => &IMAGE_LIMITS,
        };
        assert!(!other.formats.contains(&f), "{f}");
    }
}

#[test]
fn each_rule_maps_to_the_service_code() {
    // One file breaking every rule of the image limits at once.
    let v = IMAGE_LIMITS.check(&MediaInfo::video(
        Format::Avi,
        100,
        5000,
        6 * 1024 * 1024,
        1.0,
        None,
    ));
    let pairs: Vec<(Rule, &str)> = v.iter().map(|v| (v.rule, v.service_code())).collect();
    assert_eq!(
        pairs,
        [
            (Rule::Format, "InvalidFile.Format"),
            (Rule::Width, "InvalidFile.Resolution"),
            (Rule::Height, "InvalidFile.Resolution"),
            (Rule::AspectRatio, "InvalidFile.AspectRatio"),
            (Rule::FileSize, "InvalidFile.Size"),
        ]
    );
    let v = check(&MediaInfo::video(Format::Mp4, 720, 1280, 1000, 1.0, None));
    assert_eq!(v[0].service_code(), "InvalidFile.Duration");
}

#[test]
fn every_violation_is_reported_at_once_with_what_the_actual_value_and_the_limit() {
    let v = check(&MediaInfo::video(
        Format::Mp4,
        100,
        2100,
        300 * 1024 * 1024,
        45.0,
        None,
    ));
    let text: Vec<String> = v.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "video width is 100 px; the limit is 200–2048 px",
            "video height is 2100 px; the limit is 200–2048 px",
            "video aspect ratio is 100x2100 (21:1); the limit is between 1:3 and 3:1",
            "video file size is 300 MB (314572800 bytes); the limit is at most 200 MB (209715200 bytes)",
            "video duration is 45 s; the limit is 2–30 s",
        ]
    );
    assert_eq!(
        (v[0].actual.as_str(), v[0].limit.as_str()),
        ("100 px", "200–2048 px")
    );
}

#[test]
fn a_video_given_as_the_image_breaks_the_format_rule() {
    let v = IMAGE_LIMITS.check(&MediaInfo::video(Format::Mp4, 500, 500, 1000, 3.0, None));
    assert_eq!(v.len(), 1);
    assert_eq!(
        v[0].to_string(),
        "image format is MP4; the limit is one of JPEG, PNG, BMP, WEBP"
    );
}

#[test]
fn a_duration_just_past_a_bound_is_not_rounded_into_range() {
    let v = check(&MediaInfo::video(
        Format::Mp4,
        500,
        500,
        1000,
        30.0001,
        None,
    ));
    assert_eq!(v[0].actual, "30.0001 s");
    let v = check(&MediaInfo::video(Format::Mp4, 500, 500, 1000, 31.2, None));
    assert_eq!(
        v[0].to_string(),
        "video duration is 31.2 s; the limit is 2–30 s"
    );
    let v = check(&MediaInfo::video(
        Format::Mp4,
        500,
        500,
        1000,
        f64::NAN,
        None,
    ));
    assert_eq!(v[0].rule, Rule::Duration);
}

#[test]
fn service_messages_are_the_services_words() {
    let image = |w, h, bytes| check(&MediaInfo::image(Format::Png, w, h, bytes));
    let video = |w, h, bytes, secs| check(&MediaInfo::video(Format::Mp4, w, h, bytes, secs, None));
    let message = |v: Vec<Violation>| {
        assert_eq!(v.len(), 1, "{v:?}");
        service_message(&v[0])
    };
    assert_eq!(
        message(image(500, 500, 6 << 20)),
        "Invalid file size, The image file size must be smaller than 5MB."
    );
    assert_eq!(
        message(video(500, 500, 201 << 20, 3.0)),
        "Invalid file size. The video file size must be less than 200MB, and the audio file size must be less than 15MB."
    );
    assert_eq!(
        message(video(500, 500, 1000, 31.0)),
        "Invalid file duration. The file duration must be 2 s ~ 30 s."
    );
    assert_eq!(
        message(image(300, 1000, 1000)),
        "Invalid file ratio. The file aspect ratio (height/width) must be between 3:1 and 1:3."
    );
    assert_eq!(
        message(video(1000, 2049, 1000, 3.0)),
        "Invalid video resolution. The height or width of video must be 200 ~ 2048."
    );
    assert_eq!(
        message(image(4097, 4000, 1000)),
        "The image resolution is invalid, please make sure that the largest length of image is smaller than 4096, and the smallest length of image is larger than 200."
    );
    let wrong = VIDEO_LIMITS.check(&MediaInfo::image(Format::Png, 500, 500, 1000));
    assert_eq!(wrong[0].rule, Rule::Format);
    assert_eq!(
        service_message(&wrong[0]),
        "Invalid file format，the request file format is one of the following types: MP4, AVI, MOV, MP3, WAV, AAC, JPEG, JPG, PNG, BMP, and WEBP."
    );
}

#[test]
fn probe_errors_say_what_is_wrong() {
    assert_eq!(
        ProbeError::UnknownFormat.to_string(),
        "not a supported format: images must be JPEG, PNG, BMP or WEBP and videos MP4, AVI or MOV"
    );
    let err = probe_bytes(b"\x89PNG\r\n\x1a\n\0\0").unwrap_err();
    assert_eq!(
        err.to_string(),
        "broken PNG file: truncated before the end of IHDR"
    );
    assert!(std::error::Error::source(&err).is_none());
}
