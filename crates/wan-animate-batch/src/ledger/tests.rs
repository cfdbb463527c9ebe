use super::*;
use crate::manifest::MediaSource;
use wan_animate_types::{Mode, Model};

fn job(id: &str, line: usize) -> Job {
    Job {
        id: id.into(),
        line,
        model: Model::AnimateMix,
        image: MediaSource::Url("https://x/p.jpg".into()),
        video: MediaSource::Url("https://x/v.mp4".into()),
        mode: Mode::Standard,
        watermark: None,
        check_image: None,
        output: format!("{id}.mp4").into(),
    }
}

fn t(id: &str, from: JobState, to: JobState, updates: Vec<JobUpdate>) -> Transition {
    Transition::new(id, from, to, 7).with_updates(updates)
}

#[test]
fn transitions_survive_reopening_and_leave_an_audit_trail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    {
        let mut l = Ledger::open(&path).unwrap();
        l.sync_jobs(&[job("a", 1), job("b", 2)], 1).unwrap();
        l.transition(&t("a", JobState::Queued, JobState::Uploaded, vec![]))
            .unwrap();
        l.transition(&t(
            "a",
            JobState::Uploaded,
            JobState::Submitting,
            vec![JobUpdate::SubmitStartedAt(5)],
        ))
        .unwrap();
        l.transition(&t(
            "a",
            JobState::Submitting,
            JobState::Submitted,
            vec![
                JobUpdate::TaskId("t-1".into()),
                JobUpdate::SubmitRequestId(Some("r-1".into())),
            ],
        ))
        .unwrap();
    }
    let l = Ledger::open(&path).unwrap();
    let a = l.job("a").unwrap();
    assert_eq!(a.state, Some(JobState::Submitted));
    assert_eq!(a.task_id.as_deref(), Some("t-1"));
    assert_eq!(a.submit_started_at, Some(5));
    assert_eq!(l.event_count("a").unwrap(), 4);
    assert_eq!(l.job("b").unwrap().state, Some(JobState::Queued));
    assert_eq!(l.known_task_ids().unwrap(), vec!["t-1".to_string()]);
    let mode: String = l
        .conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn a_stale_transition_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
    l.sync_jobs(&[job("a", 1)], 1).unwrap();
    l.transition(&t("a", JobState::Queued, JobState::Uploaded, vec![]))
        .unwrap();
    // A second writer (or a confused step) that still believes the job is queued.
    let err = l
        .transition(&t(
            "a",
            JobState::Queued,
            JobState::Uploaded,
            vec![JobUpdate::ImageUrl("oss://other".into())],
        ))
        .unwrap_err();
    assert!(
        matches!(&err, LedgerError::StaleTransition { found, .. } if found == "uploaded"),
        "{err}"
    );
    assert!(err.to_string().contains("nothing was written"), "{err}");
    let a = l.job("a").unwrap();
    assert_eq!(a.image_url, None, "no overwrite");
    assert_eq!(l.event_count("a").unwrap(), 2);
}

#[test]
fn an_illegal_transition_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
    l.sync_jobs(&[job("a", 1)], 1).unwrap();
    // Straight from queued to submitted would skip the write-ahead `submitting`.
    let err = l
        .transition(&t(
            "a",
            JobState::Queued,
            JobState::Submitted,
            vec![JobUpdate::TaskId("t".into())],
        ))
        .unwrap_err();
    assert!(
        matches!(err, LedgerError::IllegalTransition { .. }),
        "{err}"
    );
    assert_eq!(l.job("a").unwrap().state, Some(JobState::Queued));
    assert_eq!(l.job("a").unwrap().task_id, None);
    // Final states have no way out.
    for s in JobState::ALL.iter().filter(|s| s.is_final()) {
        assert!(JobState::ALL.iter().all(|to| !s.can_move_to(*to)), "{s}");
    }
}

#[test]
fn a_group_of_transitions_applies_each_independently() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
    l.sync_jobs(&[job("a", 1), job("b", 2)], 1).unwrap();
    let results = l.apply(&[
        t("a", JobState::Queued, JobState::Uploaded, vec![]),
        t("b", JobState::Uploaded, JobState::Submitting, vec![]),
        t("b", JobState::Queued, JobState::Uploaded, vec![]),
    ]);
    assert!(results[0].is_ok() && results[1].is_err() && results[2].is_ok());
    assert_eq!(l.job("a").unwrap().state, Some(JobState::Uploaded));
    assert_eq!(l.job("b").unwrap().state, Some(JobState::Uploaded));
}

#[test]
fn a_second_writer_is_refused_but_a_reader_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.sqlite");
    let mut l = Ledger::open(&path).unwrap();
    l.sync_jobs(&[job("a", 1)], 1).unwrap();
    let err = Ledger::open(&path).unwrap_err();
    assert!(matches!(err, LedgerError::Locked { .. }), "{err}");
    let reader = Ledger::open_read_only(&path).unwrap();
    assert_eq!(reader.summary().unwrap().total, 1);
    assert!(
        reader.conn.execute("DELETE FROM jobs", []).is_err(),
        "a reader cannot write"
    );
}

#[test]
fn a_changed_job_is_refused_once_started_but_updated_while_queued() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
    l.sync_jobs(&[job("a", 1), job("b", 2)], 1).unwrap();
    let mut changed = job("b", 3);
    changed.mode = Mode::Pro;
    l.sync_jobs(&[job("a", 1), changed.clone()], 2).unwrap();
    assert!(l.job("b").unwrap().spec.contains("wan-pro"));
    l.transition(&t("b", JobState::Queued, JobState::Uploaded, vec![]))
        .unwrap();
    changed.mode = Mode::Standard;
    let err = l.sync_jobs(&[changed], 4).unwrap_err();
    assert!(
        err.to_string().contains("give the changed job a new id"),
        "{err}"
    );
    // A moved line alone is not a change.
    let recs = l.sync_jobs(&[job("a", 7)], 5).unwrap();
    assert_eq!(recs[0].line, 7);
    assert_eq!(l.job("a").unwrap().line, 7);
}

#[test]
fn task_ids_are_unique_across_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
    l.sync_jobs(&[job("a", 1), job("b", 2)], 1).unwrap();
    for id in ["a", "b"] {
        l.transition(&t(id, JobState::Queued, JobState::Uploaded, vec![]))
            .unwrap();
        l.transition(&t(id, JobState::Uploaded, JobState::Submitting, vec![]))
            .unwrap();
    }
    let set = |id| {
        t(
            id,
            JobState::Submitting,
            JobState::Submitted,
            vec![JobUpdate::TaskId("t".into())],
        )
    };
    l.transition(&set("a")).unwrap();
    let err = l.transition(&set("b"));
    assert!(
        matches!(err, Err(LedgerError::Constraint(_))),
        "one task must never be adopted by two jobs: {err:?}"
    );
    assert_eq!(
        l.job("b").unwrap().state,
        Some(JobState::Submitting),
        "the failed transition rolled back"
    );
}

#[test]
fn uploads_are_reused_only_while_valid_and_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
    l.store_upload(&StoredUpload::new(
        "/p.jpg",
        "wan2.2-animate-mix",
        10,
        100,
        "oss://k/p.jpg",
        10_000,
    ))
    .unwrap();
    assert_eq!(
        l.cached_upload("/p.jpg", "wan2.2-animate-mix", 10, 100, 1_000, 1_000)
            .unwrap()
            .as_deref(),
        Some("oss://k/p.jpg")
    );
    assert_eq!(
        l.cached_upload("/p.jpg", "wan2.2-animate-move", 10, 100, 1_000, 1_000)
            .unwrap(),
        None,
        "bound to one model"
    );
    assert_eq!(
        l.cached_upload("/p.jpg", "wan2.2-animate-mix", 11, 100, 1_000, 1_000)
            .unwrap(),
        None,
        "file changed"
    );
    assert_eq!(
        l.cached_upload("/p.jpg", "wan2.2-animate-mix", 10, 100, 9_500, 1_000)
            .unwrap(),
        None,
        "expires too soon"
    );
}

#[test]
fn summary_counts_states_and_billed_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
    l.sync_jobs(&[job("a", 1), job("b", 2), job("c", 3), job("d", 4)], 1)
        .unwrap();
    let path = [
        JobState::Queued,
        JobState::Uploaded,
        JobState::Submitting,
        JobState::Submitted,
    ];
    for (id, task) in [("a", "t-a"), ("b", "t-b"), ("c", "t-c")] {
        for w in path.windows(2) {
            let updates = if w[1] == JobState::Submitted {
                vec![JobUpdate::TaskId(task.into())]
            } else {
                vec![]
            };
            l.transition(&t(id, w[0], w[1], updates)).unwrap();
        }
    }
    l.transition(&t(
        "a",
        JobState::Submitted,
        JobState::Succeeded,
        vec![
            JobUpdate::TaskStatus("SUCCEEDED".into()),
            JobUpdate::VideoDuration(Some(5.2)),
        ],
    ))
    .unwrap();
    l.transition(&t("a", JobState::Succeeded, JobState::Downloaded, vec![]))
        .unwrap();
    l.transition(&t(
        "b",
        JobState::Submitted,
        JobState::Failed,
        vec![JobUpdate::TaskStatus("FAILED".into())],
    ))
    .unwrap();
    let s = l.summary().unwrap();
    assert_eq!(
        (s.total, s.done, s.failed, s.running, s.pending),
        (4, 1, 1, 1, 1)
    );
    assert!((s.billed_seconds - 5.2).abs() < 1e-9);
    // The in-memory totals the engine keeps move the same way.
    let mut live = Summary::default();
    for _ in 0..4 {
        live.add(JobState::Queued);
    }
    live.moved(JobState::Queued, JobState::Downloaded);
    live.moved(JobState::Queued, JobState::Failed);
    live.moved(JobState::Queued, JobState::Submitted);
    assert_eq!(
        (
            live.total,
            live.done,
            live.failed,
            live.running,
            live.pending
        ),
        (4, 1, 1, 1, 1)
    );
}

#[test]
fn the_endpoint_is_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.sqlite");
    let id = EndpointIdentity::new("https://dashscope.aliyuncs.com/api/v1").with_key("sk-1");
    {
        let mut l = Ledger::open(&path).unwrap();
        assert_eq!(l.endpoint().unwrap(), None);
        l.set_endpoint(&id).unwrap();
    }
    assert_eq!(Ledger::open(&path).unwrap().endpoint().unwrap(), Some(id));
}

#[test]
fn a_newer_schema_is_refused_and_an_older_one_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.sqlite");
    drop(Ledger::open(&path).unwrap());
    let set = |v: &str| {
        let conn = Connection::open(&path).unwrap();
        conn.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
            [v],
        )
        .unwrap();
    };
    set("1");
    drop(Ledger::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    let v: String = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION.to_string());
    drop(conn);
    set("99");
    assert!(matches!(
        Ledger::open(&path),
        Err(LedgerError::SchemaTooNew(99))
    ));
}
