//! The CLI's state directory, in one place: `$WAN_ANIMATE_STATE_DIR`, else
//! `$XDG_STATE_HOME/wan-animate`, else `~/.local/state/wan-animate`. It holds the simulator's
//! offline world (`sim/`) and what predictive waits learn (`speed.json`, `submitted.json`).
//! The task journal has its own, older rule (`WAN_ANIMATE_JOURNAL`, docs/journal.md).

use std::path::PathBuf;

/// The state directory; `None` when none of the variables is set.
pub(crate) fn state_dir() -> Option<PathBuf> {
    let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(root) = non_empty("WAN_ANIMATE_STATE_DIR") {
        return Some(PathBuf::from(root));
    }
    if let Some(xdg) = non_empty("XDG_STATE_HOME") {
        return Some(PathBuf::from(xdg).join("wan-animate"));
    }
    non_empty("HOME").map(|h| PathBuf::from(h).join(".local/state/wan-animate"))
}

/// Where `--sim` commands and `wan-animate sim` keep the simulated account by default.
pub(crate) fn sim_world_dir() -> Option<PathBuf> {
    state_dir().map(|d| d.join("sim"))
}
