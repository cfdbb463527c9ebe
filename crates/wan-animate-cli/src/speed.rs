//! What this account's finished tasks teach about how long the next one takes, kept between
//! commands: core's [`SpeedModel`] in one JSON file, and the output length of each task this
//! CLI submitted (so `wait TASK_ID` in a later process can predict too).
//!
//! Location: `$WAN_ANIMATE_STATE_DIR`, else `$XDG_STATE_HOME/wan-animate`, else
//! `~/.local/state/wan-animate`: `speed.json` and `submitted.json`; with `--sim`, `speed-sim.json`
//! and `submitted-sim.json`, so the simulator never teaches the real account's model.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use wan_animate_core::predict::SpeedModel;
use wan_animate_core::types::{Mode, TaskResponse};

use crate::output::Printer;

/// How many submitted tasks' output lengths are kept (the newest).
const KEEP_SUBMITTED: usize = 200;

/// The files of one account (the real one, or the simulator's).
#[derive(Debug, Clone)]
pub(crate) struct SpeedStore {
    speed: PathBuf,
    submitted: PathBuf,
}

impl SpeedStore {
    /// The store of the real account, or of the simulator with `sim`; `None` without a state
    /// directory.
    pub(crate) fn from_env(sim: bool) -> Option<Self> {
        Some(Self::in_dir(&crate::state::state_dir()?, sim))
    }

    fn in_dir(dir: &Path, sim: bool) -> Self {
        let suffix = if sim { "-sim" } else { "" };
        Self {
            speed: dir.join(format!("speed{suffix}.json")),
            submitted: dir.join(format!("submitted{suffix}.json")),
        }
    }

    /// The model; a corrupt file gives the prior, with a warning (never a failure).
    pub(crate) fn load(&self, printer: &Printer) -> SpeedModel {
        if let Ok(bytes) = std::fs::read(&self.speed) {
            let ok = serde_json::from_slice::<Value>(&bytes)
                .is_ok_and(|v| v.get("std").is_some() || v.get("pro").is_some());
            if !ok {
                printer.warn(&format!(
                    "the polling speed model {} is unreadable; starting again from the default (it is rewritten after the next finished task)",
                    self.speed.display()
                ));
            }
        }
        SpeedModel::load(&self.speed)
    }

    /// Learns from a task seen `SUCCEEDED` whose output length and mode are known, and saves.
    /// A model that cannot be saved is a warning: it only makes polling smarter.
    pub(crate) fn observe(&self, task: &TaskResponse, mode: &Mode, secs: f64, printer: &Printer) {
        let mut speed = self.load(printer);
        if speed.observe_task(task, secs, mode)
            && let Err(e) = speed.save(&self.speed)
        {
            printer.warn(&format!("{e}; polling stays on its default schedule"));
        }
        self.forget(&task.output.task_id);
    }

    /// Records the mode and output length of a task just submitted, for a later `wait`.
    pub(crate) fn record_submitted(&self, task_id: &str, mode: &Mode, secs: f64) {
        let mut tasks = self.submitted_list();
        tasks.retain(|t| t.get("task_id").and_then(Value::as_str) != Some(task_id));
        tasks.push(json!({ "task_id": task_id, "mode": mode.as_str(), "output_secs": secs }));
        let excess = tasks.len().saturating_sub(KEEP_SUBMITTED);
        tasks.drain(..excess);
        self.write_submitted(tasks);
    }

    /// The mode and output length recorded for `task_id`.
    pub(crate) fn submitted(&self, task_id: &str) -> Option<(Mode, f64)> {
        self.submitted_list().into_iter().find_map(|t| {
            if t.get("task_id")?.as_str()? != task_id {
                return None;
            }
            let mode: Mode = serde_json::from_value(t.get("mode")?.clone()).ok()?;
            let secs = t.get("output_secs")?.as_f64()?;
            (secs.is_finite() && secs > 0.0).then_some((mode, secs))
        })
    }

    fn forget(&self, task_id: &str) {
        let mut tasks = self.submitted_list();
        let before = tasks.len();
        tasks.retain(|t| t.get("task_id").and_then(Value::as_str) != Some(task_id));
        if tasks.len() != before {
            self.write_submitted(tasks);
        }
    }

    fn submitted_list(&self) -> Vec<Value> {
        std::fs::read(&self.submitted)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v.get("tasks")?.as_array().cloned())
            .unwrap_or_default()
    }

    /// Best effort and atomic (a temporary file renamed over it): this file only saves
    /// queries.
    fn write_submitted(&self, tasks: Vec<Value>) {
        let Some(dir) = self.submitted.parent() else {
            return;
        };
        if std::fs::create_dir_all(dir).is_err() {
            return;
        }
        let mut tmp = self.submitted.as_os_str().to_owned();
        tmp.push(format!(".tmp-{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let body = serde_json::to_vec(&json!({ "version": 1, "tasks": tasks })).unwrap_or_default();
        if std::fs::write(&tmp, body)
            .and_then(|()| std::fs::rename(&tmp, &self.submitted))
            .is_err()
        {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submitted_lengths_are_kept_bounded_and_forgotten_once_learned() {
        let dir = tempfile::tempdir().unwrap();
        let store = SpeedStore::in_dir(dir.path(), false);
        for i in 0..(KEEP_SUBMITTED + 5) {
            store.record_submitted(&format!("t{i}"), &Mode::Pro, 4.0);
        }
        assert_eq!(store.submitted("t0"), None, "the oldest were dropped");
        assert_eq!(store.submitted("t204"), Some((Mode::Pro, 4.0)));
        assert_eq!(store.submitted_list().len(), KEEP_SUBMITTED);
        store.forget("t204");
        assert_eq!(store.submitted("t204"), None);
        // The simulator's files are apart from the account's.
        let sim = SpeedStore::in_dir(dir.path(), true);
        assert_eq!(sim.submitted("t203"), None);
        assert_ne!(sim.speed, store.speed);
    }
}
