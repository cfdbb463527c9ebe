//! The local, append-only record of every task this CLI created or adopted: core's
//! [`TaskJournal`], switched on for the command's client. Core writes the line the moment the
//! task id exists, before `submit` returns and before any waiting: if the terminal closes or
//! the machine crashes, the paid task is still findable (`wan-animate wait ID`), and a later
//! reconciliation never adopts it for another request. Never holds the API key.
//!
//! Location: `$WAN_ANIMATE_JOURNAL`, else `$XDG_STATE_HOME/wan-animate/tasks.jsonl`, else
//! `~/.local/state/wan-animate/tasks.jsonl`. `WAN_ANIMATE_JOURNAL=off` disables it.

use wan_animate_core::{Client, TaskJournal};

/// The client with the journal switched on (unchanged when the journal is off or no home
/// directory is known).
pub(crate) fn attach(client: &Client) -> Client {
    match TaskJournal::from_env() {
        Some(journal) => client.with_journal(journal),
        None => client.clone(),
    }
}
