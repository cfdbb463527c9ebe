//! The task journal: an append-only JSON Lines file with one line per task this client
//! created or adopted, written before `submit` returns. If the process, the terminal or the
//! machine dies afterwards, the paid task is still findable; and reconciliation never adopts
//! a task recorded here for another request. It never holds the API key.
//!
//! Each line is written with one `write` on a file opened with `O_APPEND`, then synced, so
//! concurrent writers (several processes) never interleave within a line.

use std::collections::HashSet;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JournalEntry {
    /// The task id.
    pub task_id: String,
    /// The model, e.g. `wan2.2-animate-mix`.
    pub model: String,
    /// The base URL the task was created at (credentials and query removed).
    pub base_url: String,
    /// The create request's id, when known.
    pub request_id: Option<String>,
    /// When the line was written, in Unix milliseconds.
    pub recorded_at_unix_ms: u64,
}

impl JournalEntry {
    /// An entry recorded at `at`; credentials in `base_url` are removed.
    pub fn new(
        task_id: impl Into<String>,
        model: impl Into<String>,
        base_url: &str,
        request_id: Option<String>,
        at: SystemTime,
    ) -> Self {
        Self {
            task_id: task_id.into(),
            model: model.into(),
            base_url: redact_base_url(base_url),
            request_id,
            recorded_at_unix_ms: at
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                .unwrap_or(0),
        }
    }
}

/// An append-only journal of created tasks at a path (created with its directories on first
/// write, mode 0600 on Unix).
///
/// ```
/// use wan_animate_core::journal::{JournalEntry, TaskJournal};
/// let dir = tempfile::tempdir().unwrap();
/// let journal = TaskJournal::new(dir.path().join("tasks.jsonl"));
/// journal.record(&JournalEntry::new("t-1", "wan2.2-animate-mix", "https://u:p@host/api/v1", None, std::time::SystemTime::now()))?;
/// assert!(journal.task_ids()?.contains("t-1"));
/// assert_eq!(journal.entries()?[0].base_url, "https://host/api/v1");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct TaskJournal {
    path: PathBuf,
}

impl TaskJournal {
    /// A journal at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The default journal of the command line, from the environment: `$WAN_ANIMATE_JOURNAL`
    /// (`off` disables it: `None`), else `$XDG_STATE_HOME/wan-animate/tasks.jsonl`, else
    /// `~/.local/state/wan-animate/tasks.jsonl`; `None` when no home directory is known.
    pub fn from_env() -> Option<Self> {
        Self::location(
            std::env::var_os("WAN_ANIMATE_JOURNAL"),
            std::env::var_os("XDG_STATE_HOME"),
            std::env::var_os("HOME"),
        )
        .map(Self::new)
    }

    /// The location rules of [`from_env`](Self::from_env), pure.
    pub fn location(
        journal: Option<std::ffi::OsString>,
        xdg_state_home: Option<std::ffi::OsString>,
        home: Option<std::ffi::OsString>,
    ) -> Option<PathBuf> {
        match journal {
            Some(v) if v == "off" => None,
            Some(v) if !v.is_empty() => Some(PathBuf::from(v)),
            _ => {
                let state = xdg_state_home
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
                    .or_else(|| {
                        home.filter(|h| !h.is_empty())
                            .map(|h| PathBuf::from(h).join(".local/state"))
                    })?;
                Some(state.join("wan-animate").join("tasks.jsonl"))
            }
        }
    }

    /// Where the journal is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line (one `write`, then `fsync`).
    pub fn record(&self, entry: &JournalEntry) -> io::Result<()> {
        self.append(serde_json::to_vec(entry).map_err(io::Error::other)?)
    }

    /// Appends a line about a create in flight (see `intents.rs`); task readers skip it.
    pub(crate) fn record_create(&self, line: &crate::intents::CreateLine) -> io::Result<()> {
        self.append(serde_json::to_vec(line).map_err(io::Error::other)?)
    }

    /// Every create announced in the journal, merged from its lines.
    pub(crate) fn creates(&self) -> io::Result<Vec<crate::intents::Create>> {
        let f = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut lines = Vec::new();
        for line in io::BufReader::new(f).split(b'\n') {
            if let Ok(l) = serde_json::from_slice::<crate::intents::CreateLine>(&line?) {
                lines.push(l);
            }
        }
        Ok(crate::intents::merge(lines))
    }

    fn append(&self, mut line: Vec<u8>) -> io::Result<()> {
        line.push(b'\n');
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true).read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&self.path)?;
        if ends_with_torn_line(&mut f)? {
            // A crash tore the last line: start ours on a line of its own.
            line.insert(0, b'\n');
        }
        let written = f.write(&line)?;
        if written != line.len() {
            // A short append (disk full): finish the line so the next one starts clean.
            f.write_all(&line[written..])?;
        }
        f.sync_data()
    }

    /// Every well-formed line; a missing file is an empty journal, and lines that do not
    /// parse (a torn last line after a crash) are skipped.
    pub fn entries(&self) -> io::Result<Vec<JournalEntry>> {
        let f = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for line in io::BufReader::new(f).split(b'\n') {
            if let Ok(entry) = serde_json::from_slice::<JournalEntry>(&line?) {
                out.push(entry);
            }
        }
        Ok(out)
    }

    /// The task ids recorded.
    pub fn task_ids(&self) -> io::Result<HashSet<String>> {
        Ok(self.entries()?.into_iter().map(|e| e.task_id).collect())
    }
}

/// Whether the file is non-empty and does not end with a newline.
fn ends_with_torn_line(f: &mut std::fs::File) -> io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    f.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    f.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

/// `base` without `user:password@` and without a query or fragment: a base URL fit to
/// record or print.
///
/// ```
/// use wan_animate_core::journal::redact_base_url;
/// assert_eq!(redact_base_url("https://u:p@gw.example/api/v1?k=1"), "https://gw.example/api/v1");
/// ```
pub fn redact_base_url(base: &str) -> String {
    let base = base.split(['?', '#']).next().unwrap_or_default();
    let Some((scheme, rest)) = base.split_once("://") else {
        return base.to_owned();
    };
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_lose_credentials_and_queries() {
        assert_eq!(
            redact_base_url("https://user:pa@ss@gw.example/qwen/api/v1?key=sk-1"),
            "https://gw.example/qwen/api/v1"
        );
        assert_eq!(
            redact_base_url("http://127.0.0.1:8080/api/v1"),
            "http://127.0.0.1:8080/api/v1"
        );
    }

    #[test]
    fn location_rules() {
        let os = |s: &str| Some(std::ffi::OsString::from(s));
        assert_eq!(TaskJournal::location(os("off"), os("/x"), os("/h")), None);
        assert_eq!(
            TaskJournal::location(os("/j.jsonl"), None, None),
            Some(PathBuf::from("/j.jsonl"))
        );
        assert_eq!(
            TaskJournal::location(None, os("/x"), os("/h")),
            Some(PathBuf::from("/x/wan-animate/tasks.jsonl"))
        );
        assert_eq!(
            TaskJournal::location(None, None, os("/h")),
            Some(PathBuf::from("/h/.local/state/wan-animate/tasks.jsonl"))
        );
        assert_eq!(TaskJournal::location(None, None, None), None);
    }

    #[test]
    fn reads_lines_written_by_the_old_cli_and_skips_torn_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tasks.jsonl");
        std::fs::write(
            &path,
            "{\"task_id\":\"a\",\"model\":\"wan2.2-animate-mix\",\"base_url\":\"https://h/api/v1\",\"request_id\":null,\"recorded_at_unix_ms\":1}\n{\"task_id\":\"b\",\"mo",
        )
        .unwrap();
        let j = TaskJournal::new(&path);
        assert_eq!(j.task_ids().unwrap(), HashSet::from(["a".to_owned()]));
        j.record(&JournalEntry::new(
            "c",
            "m",
            "https://h/api/v1",
            Some("r".into()),
            SystemTime::now(),
        ))
        .unwrap();
        // The torn line stays torn; the new one is whole and found.
        assert!(j.task_ids().unwrap().contains("c"));
    }
}
