//! The run lock: an exclusive OS lock on `<ledger>.lock`, held for the writer's lifetime.
//!
//! The lock file holds who has it (pid, host, start time), so a refused run can name the
//! holder. The OS releases the lock when the holder exits, however it exits (even SIGKILL),
//! so a stale lock file never blocks anyone: its content is just overwritten.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::ledger::LedgerError;

/// An exclusive lock on a ledger, released on drop (or when the process ends).
#[derive(Debug)]
pub struct LedgerLock {
    _file: File,
    path: PathBuf,
}

/// The lock file of a ledger: `<ledger>.lock` beside it.
pub fn lock_path(ledger: &Path) -> PathBuf {
    let mut name = ledger.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    ledger.with_file_name(name)
}

impl LedgerLock {
    /// Takes the lock of `ledger` or fails at once with [`LedgerError::Locked`], naming the
    /// holder. Never waits.
    // `File::try_lock` is std since Rust 1.89 (flock on Unix, LockFileEx on Windows).
    pub fn acquire(ledger: &Path) -> Result<Self, LedgerError> {
        let path = lock_path(ledger);
        // No truncation before the lock is ours: the file names the current holder.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| {
                LedgerError::Io(std::io::Error::new(
                    e.kind(),
                    format!(
                        "cannot open the lock file {} (does its directory exist and is it writable?): {e}",
                        path.display()
                    ),
                ))
            })?;
        match file.try_lock() {
            Ok(()) => {
                file.set_len(0)?;
                file.rewind()?;
                write!(
                    file,
                    "pid {} on host {}, started {}",
                    std::process::id(),
                    host_name(),
                    utc_now()
                )?;
                file.flush()?;
                Ok(Self { _file: file, path })
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                // The holder writes its name right after locking; give it a moment.
                // Best effort: on Windows the locked file cannot be read by others.
                let mut holder = String::new();
                for _ in 0..50 {
                    holder.clear();
                    let read = file
                        .rewind()
                        .and_then(|()| file.read_to_string(&mut holder));
                    if read.is_err() || !holder.trim().is_empty() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                let holder = if holder.trim().is_empty() {
                    "another process (its pid could not be read)".to_owned()
                } else {
                    holder.trim().to_owned()
                };
                Err(LedgerError::Locked {
                    ledger: ledger.to_path_buf(),
                    holder: format!("held by {holder}; lock file {}", path.display()),
                })
            }
            Err(std::fs::TryLockError::Error(e)) => Err(LedgerError::Io(e)),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn host_name() -> String {
    let from_file = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    from_file("/proc/sys/kernel/hostname")
        .or_else(|| from_file("/etc/hostname"))
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "an unknown host".to_owned())
}

/// `YYYY-MM-DDTHH:MM:SSZ` for now.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (year, month, day, h, m, sec, _) =
        wan_animate_types::unix_millis_to_civil(secs.saturating_mul(1000));
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{sec:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_at_once_naming_the_holder_and_freed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = dir.path().join("batch.sqlite");
        let held = LedgerLock::acquire(&ledger).unwrap();
        let err = LedgerLock::acquire(&ledger).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("pid {}", std::process::id())) && text.contains("host "),
            "{text}"
        );
        assert!(text.contains("batch status"), "{text}");
        drop(held);
        LedgerLock::acquire(&ledger).unwrap();
    }

    #[test]
    fn utc_time_is_formatted() {
        let t = utc_now();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'), "{t}");
    }
}
