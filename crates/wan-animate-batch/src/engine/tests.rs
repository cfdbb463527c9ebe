use super::*;
use crate::manifest::MediaSource;
use wan_animate_types::{Mode, Model};

fn job(id: &str) -> Job {
    Job {
        id: id.into(),
        line: 1,
        model: Model::AnimateMix,
        image: MediaSource::Url("https://x/p.jpg".into()),
        video: MediaSource::Url("https://x/v.mp4".into()),
        mode: Mode::Standard,
        watermark: None,
        check_image: None,
        output: format!("{id}.mp4").into(),
    }
}

fn opts(dir: &Path, endpoint: &str) -> BatchOptions {
    BatchOptions::new(dir).with_endpoint(EndpointIdentity::new(endpoint).with_key("sk-1"))
}

#[test]
fn another_endpoint_is_refused_before_anything_changes_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
    prelude(
        &mut ledger,
        &[job("a")],
        &opts(dir.path(), "https://home/api/v1"),
    )
    .unwrap();
    let err = prelude(
        &mut ledger,
        &[job("a"), job("b")],
        &opts(dir.path(), "https://elsewhere/api/v1"),
    )
    .err()
    .unwrap();
    let text = err.to_string();
    assert!(
        text.contains("https://home/api/v1") && text.contains("https://elsewhere/api/v1"),
        "{text}"
    );
    assert_eq!(ledger.jobs().unwrap().len(), 1, "job b was not added");
    assert_eq!(
        ledger.endpoint().unwrap().unwrap().base_url,
        "https://home/api/v1"
    );
    // Another key is another endpoint too.
    let other_key = BatchOptions::new(dir.path())
        .with_endpoint(EndpointIdentity::new("https://home/api/v1").with_key("sk-2"));
    assert!(prelude(&mut ledger, &[job("a")], &other_key).is_err());
    // A deliberate move.
    let mut moved = opts(dir.path(), "https://elsewhere/api/v1");
    moved.allow_endpoint_change = true;
    prelude(&mut ledger, &[job("a"), job("b")], &moved).unwrap();
    assert_eq!(
        ledger.endpoint().unwrap().unwrap().base_url,
        "https://elsewhere/api/v1"
    );
}

#[test]
fn existing_outputs_of_jobs_new_to_the_ledger_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
    let o = opts(dir.path(), "https://home/api/v1");
    prelude(&mut ledger, &[job("a")], &o).unwrap();
    // a's output exists: fine, a is known. b's exists and b is new: refused.
    std::fs::write(dir.path().join("a.mp4"), b"video").unwrap();
    std::fs::write(dir.path().join("b.mp4"), b"video").unwrap();
    let err = prelude(&mut ledger, &[job("a"), job("b")], &o)
        .err()
        .unwrap();
    assert!(
        matches!(&err, BatchError::OutputsExist { files, .. } if files.len() == 1),
        "{err}"
    );
    assert!(err.to_string().contains("b.mp4"), "{err}");
    assert_eq!(ledger.jobs().unwrap().len(), 1);
}
