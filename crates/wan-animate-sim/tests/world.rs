//! The persistent world: simulators on one state directory are one account.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use support::{Api, sample};
use wan_animate_sim::{RateLimits, Sim, SimBuilder, TaskDurations};

fn fast() -> SimBuilder {
    Sim::builder()
        .time_scale(600.0)
        .limits(RateLimits::unlimited())
}

#[tokio::test]
async fn a_task_keeps_progressing_while_no_simulator_runs_and_another_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = fast().state_dir(dir.path()).start().await.unwrap();
    assert_eq!(first.state_dir(), Some(dir.path()));
    let id = Api::new(&first).create("wan2.2-animate-mix", None).await;
    assert_ne!(Api::new(&first).status(&id).await, "UNKNOWN");
    first.shutdown().await;
    drop(first);
    // Queue 5 s + 60 s of processing, simulated at 600x: about 110 ms of real time.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let second = fast().state_dir(dir.path()).start().await.unwrap();
    let api = Api::new(&second);
    let task = api.get(&id).await;
    assert_eq!(
        task["output"]["task_status"], "SUCCEEDED",
        "first read after the end: {task}"
    );
    let url = task["output"]["results"]["video_url"].as_str().unwrap();
    let bytes = api
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&bytes[..], &sample("dance.mp4")[..], "the result survives");
    assert_eq!(api.list_ids().await, vec![id]);
    second.shutdown().await;
}

#[tokio::test]
async fn simulators_on_one_directory_share_tasks_while_both_run_and_ids_stay_unique() {
    let dir = tempfile::tempdir().unwrap();
    let slow = TaskDurations::default();
    let a = fast()
        .durations(slow.clone())
        .state_dir(dir.path())
        .start()
        .await
        .unwrap();
    let b = fast()
        .durations(slow)
        .state_dir(dir.path())
        .start()
        .await
        .unwrap();
    let (api_a, api_b) = (Api::new(&a), Api::new(&b));
    let mut created = Vec::new();
    for _ in 0..4 {
        let (x, y) = tokio::join!(
            api_a.create("wan2.2-animate-mix", None),
            api_b.create("wan2.2-animate-move", None)
        );
        created.push(x);
        created.push(y);
    }
    let unique: HashSet<&String> = created.iter().collect();
    assert_eq!(unique.len(), 8, "ids are unique: {created:?}");
    let mut seen_a = api_a.list_ids().await;
    let mut seen_b = api_b.list_ids().await;
    seen_a.sort();
    seen_b.sort();
    created.sort();
    assert_eq!(seen_a, created, "A sees B's tasks");
    assert_eq!(seen_b, created, "B sees A's tasks");
    // A task created through B is read, and ends, through A.
    let last = created.last().unwrap().clone();
    api_a.wait_for(&last, "SUCCEEDED").await;
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn reset_forgets_every_task_and_in_memory_simulators_share_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sim = fast().state_dir(dir.path()).start().await.unwrap();
    let id = Api::new(&sim).create("wan2.2-animate-mix", None).await;
    sim.shutdown().await;
    drop(sim);

    let memory = fast().start().await.unwrap();
    assert_eq!(memory.state_dir(), None);
    assert_eq!(Api::new(&memory).status(&id).await, "UNKNOWN");
    memory.shutdown().await;

    wan_animate_sim::reset_world(dir.path()).unwrap();
    let after = fast().state_dir(dir.path()).start().await.unwrap();
    let api = Api::new(&after);
    assert_eq!(api.status(&id).await, "UNKNOWN");
    assert!(api.list_ids().await.is_empty());
    after.shutdown().await;
}

#[tokio::test]
async fn a_damaged_world_file_is_set_aside_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("world.json"), b"{ not json").unwrap();
    let sim = fast().state_dir(dir.path()).start().await.unwrap();
    assert!(Api::new(&sim).list_ids().await.is_empty());
    assert!(dir.path().join("world.json.damaged").exists());
    sim.shutdown().await;
}

#[tokio::test]
async fn the_world_file_never_holds_the_api_key() {
    let dir = tempfile::tempdir().unwrap();
    let sim = fast()
        .api_key("sk-very-secret-key")
        .state_dir(dir.path())
        .start()
        .await
        .unwrap();
    Api::new(&sim).create("wan2.2-animate-mix", None).await;
    sim.shutdown().await;
    let world = std::fs::read_to_string(dir.path().join("world.json")).unwrap();
    assert!(world.contains("wan2.2-animate-mix"));
    assert!(!world.contains("sk-very-secret-key"));
}

#[tokio::test]
async fn a_hand_edited_world_with_a_running_task_without_start_is_read_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let sim = fast().state_dir(dir.path()).start().await.unwrap();
    let id = Api::new(&sim).create("wan2.2-animate-mix", None).await;
    sim.shutdown().await;
    drop(sim);
    let path = dir.path().join("world.json");
    let mut world: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let task = &mut world["tasks"][0];
    task["status"] = "RUNNING".into();
    task["started"] = serde_json::Value::Null;
    task["ended"] = serde_json::Value::Null;
    // The same task twice must not duplicate it either.
    let copy = world["tasks"][0].clone();
    world["tasks"].as_array_mut().unwrap().push(copy);
    std::fs::write(&path, serde_json::to_vec(&world).unwrap()).unwrap();
    let sim = fast().state_dir(dir.path()).start().await.unwrap();
    let api = Api::new(&sim);
    api.wait_for(&id, "SUCCEEDED").await;
    assert_eq!(api.list_ids().await, vec![id]);
    sim.shutdown().await;
}
