//! A local, append-only record of every task this CLI created, written the moment the task
//! id exists and before any waiting: if the terminal closes or the machine crashes, the paid
//! task is still findable (`wan-animate wait ID`). Never holds the API key.
//!
//! Location: `$WAN_ANIMATE_JOURNAL`, else `$XDG_STATE_HOME/wan-animate/tasks.jsonl`, else
//! `~/.local/state/wan-animate/tasks.jsonl`. `WAN_ANIMATE_JOURNAL=off` disables it.

use std::io::Write;
use std::path::PathBuf;

use serde_json::json;

/// Where the journal lives, or `None` when disabled or no home directory is known.
pub(crate) fn path() -> Option<PathBuf> {
    match std::env::var_os("WAN_ANIMATE_JOURNAL") {
        Some(v) if v == "off" => None,
        Some(v) => Some(PathBuf::from(v)),
        None => {
            let state = std::env::var_os("XDG_STATE_HOME")
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state"))
                })?;
            Some(state.join("wan-animate").join("tasks.jsonl"))
        }
    }
}

/// Appends one line for a created task. Failing to write is a warning, never a failure:
/// the id has been printed already.
pub(crate) fn record(
    task_id: &str,
    model: &str,
    base_url: &str,
    request_id: Option<&str>,
) -> Result<(), String> {
    let Some(path) = path() else { return Ok(()) };
    let line = json!({
        "task_id": task_id,
        "model": model,
        "base_url": base_url,
        "request_id": request_id,
        "recorded_at_unix_ms": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
    });
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        writeln!(f, "{line}")?;
        f.sync_data()
    };
    write().map_err(|e| format!("could not record the task in {}: {e}", path.display()))
}
