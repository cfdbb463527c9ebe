//! The persistent world: one simulated account kept in a state directory, shared by every
//! simulator that opens the same directory, in this process or another.
//!
//! Layout of the directory:
//! - `world.json`: the tasks (with wall-clock times, so they keep progressing while no process
//!   runs), the stored upload objects and the signing secret;
//! - `objects/`: the bytes of uploads and fetched inputs (result files point there);
//! - `world.lock`: the OS file lock that guards every load-modify-store.
//!
//! Every access to the state is one transaction: take the process mutex, take the file lock,
//! reload `world.json` if another process changed it, work, write it back atomically (a
//! temporary file renamed over it) if anything changed, release the lock.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::state::{State, StoredObject, Task};

const WORLD_FILE: &str = "world.json";
const LOCK_FILE: &str = "world.lock";
const OBJECTS_DIR: &str = "objects";
const FORMAT_VERSION: u32 = 1;

/// Empties the persistent world kept in `dir`: every task, upload and result is forgotten.
/// Safe while simulators use it: they see an empty account at their next request.
/// A directory that does not exist is already empty.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// wan_animate_sim::reset_world(dir.path())?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn reset_world(dir: &Path) -> std::io::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let lock = lock_dir(dir)?;
    let result = (|| {
        match std::fs::remove_file(dir.join(WORLD_FILE)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        match std::fs::remove_dir_all(dir.join(OBJECTS_DIR)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    })();
    drop(lock);
    result
}

/// Takes the directory's exclusive lock (blocking); released when the file is dropped.
fn lock_dir(dir: &Path) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(dir.join(LOCK_FILE))?;
    file.lock()?;
    Ok(file)
}

/// What `world.json` holds.
#[derive(Debug, Default, Serialize, Deserialize)]
struct WorldFile {
    version: u32,
    /// Hex of the secret that signs upload policies and result links.
    #[serde(default)]
    secret: String,
    /// Tasks in creation order.
    #[serde(default)]
    tasks: Vec<Task>,
    #[serde(default)]
    objects: BTreeMap<String, StoredObject>,
}

/// An opened persistent world.
#[derive(Debug)]
pub(crate) struct World {
    dir: PathBuf,
    secret_hex: String,
}

/// The held file lock of one transaction.
#[derive(Debug)]
pub(crate) struct Held(File);

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

impl World {
    /// Opens (creating if needed) the world in `dir`, loads it into `state` and drops what
    /// has expired. `fresh_secret` is used when the world has none yet; the secret in use is
    /// returned.
    pub(crate) fn open(
        dir: &Path,
        state: &mut State,
        fresh_secret: [u8; 32],
    ) -> std::io::Result<(Self, [u8; 32])> {
        std::fs::create_dir_all(dir.join(OBJECTS_DIR)).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!(
                    "cannot create the simulator's state directory {}: {e}",
                    dir.display()
                ),
            )
        })?;
        #[cfg(unix)]
        {
            // The world holds the signing secret: keep it to its owner (best effort).
            use std::os::unix::fs::PermissionsExt as _;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
        let mut world = Self {
            dir: dir.to_owned(),
            secret_hex: String::new(),
        };
        let held = world.acquire()?;
        let stored_secret = world.load(state);
        let secret = stored_secret.unwrap_or(fresh_secret);
        world.secret_hex = hex(&secret);
        world.prune(state, SystemTime::now());
        world.store(state, &held);
        drop(held);
        Ok((world, secret))
    }

    /// The state directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where stored bytes go.
    pub(crate) fn objects_dir(&self) -> PathBuf {
        self.dir.join(OBJECTS_DIR)
    }

    /// Takes the file lock.
    pub(crate) fn acquire(&self) -> std::io::Result<Held> {
        lock_dir(&self.dir).map(Held)
    }

    /// Reloads `world.json` into `state` if it changed since `state` last saw it; returns the
    /// stored secret, if any. A damaged file is set aside (`world.json.damaged`) and the world
    /// starts empty.
    pub(crate) fn load(&self, state: &mut State) -> Option<[u8; 32]> {
        let path = self.dir.join(WORLD_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                tracing::warn!(
                    "cannot read {}: {e}; keeping the state in memory",
                    path.display()
                );
                return None;
            }
        };
        if bytes == state.world_bytes && !bytes.is_empty() {
            return None;
        }
        let file: WorldFile = if bytes.is_empty() {
            WorldFile::default()
        } else {
            match serde_json::from_slice(&bytes) {
                Ok(f) => f,
                Err(e) => {
                    let aside = self.dir.join(format!("{WORLD_FILE}.damaged"));
                    tracing::warn!(
                        "the simulator's world {} is damaged ({e}); moved it to {} and starting empty",
                        path.display(),
                        aside.display()
                    );
                    let _ = std::fs::rename(&path, &aside);
                    WorldFile::default()
                }
            }
        };
        let secret = unhex(&file.secret);
        let mut tasks = file.tasks;
        // A hand-edited file must not break the lifecycle: a running task has a start.
        for t in &mut tasks {
            if t.status == wan_animate_types::TaskStatus::Running && t.started.is_none() {
                t.started = Some(t.created);
            }
        }
        let file = WorldFile { tasks, ..file };
        let mut seen = std::collections::HashSet::new();
        state.order = file
            .tasks
            .iter()
            .filter(|t| seen.insert(t.id.clone()))
            .map(|t| t.id.clone())
            .collect();
        state.tasks = file
            .tasks
            .into_iter()
            .map(|t| (t.id.clone(), t))
            .collect::<HashMap<_, _>>();
        state.objects = file.objects.into_iter().collect();
        state.world_bytes = bytes;
        secret
    }

    /// Writes `state` to `world.json` if it differs from what is there (temporary file,
    /// then rename, so a reader never sees half a file). Failures are logged: the answer
    /// already computed stays right for this process.
    pub(crate) fn store(&self, state: &mut State, _held: &Held) {
        let file = WorldFile {
            version: FORMAT_VERSION,
            secret: self.secret_hex.clone(),
            tasks: state
                .order
                .iter()
                .filter_map(|id| state.tasks.get(id).cloned())
                .collect(),
            objects: state
                .objects
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        let Ok(bytes) = serde_json::to_vec(&file) else {
            return;
        };
        if bytes == state.world_bytes {
            return;
        }
        let path = self.dir.join(WORLD_FILE);
        let tmp = self
            .dir
            .join(format!("{WORLD_FILE}.tmp-{}", std::process::id()));
        let written = (|| {
            let mut f = File::create(&tmp)?;
            // No fsync: a simulator's world need not survive a power cut, and a damaged file
            // is set aside at the next start; the rename alone keeps readers from half files.
            f.write_all(&bytes)?;
            std::fs::rename(&tmp, &path)
        })();
        match written {
            Ok(()) => state.world_bytes = bytes,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                tracing::warn!(
                    "cannot save the simulator's world to {}: {e}",
                    path.display()
                );
            }
        }
    }

    /// Forgets expired tasks and objects and deletes the stored bytes nothing refers to.
    fn prune(&self, state: &mut State, now: SystemTime) {
        let expired: Vec<String> = state
            .tasks
            .values()
            .filter(|t| state.expired(t, now))
            .map(|t| t.id.clone())
            .collect();
        for id in &expired {
            state.tasks.remove(id);
        }
        state.order.retain(|id| state.tasks.contains_key(id));
        state.objects.retain(|_, o| o.expires > now);
        let referenced: std::collections::HashSet<PathBuf> = state
            .tasks
            .values()
            .filter_map(|t| t.result_file.clone())
            .chain(state.objects.values().map(|o| o.path.clone()))
            .collect();
        if let Ok(entries) = std::fs::read_dir(self.objects_dir()) {
            for entry in entries.flatten() {
                let path = entry.path();
                // An upload being written by another process is not registered yet: spare
                // recent files.
                let recent = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|m| now.duration_since(m).ok())
                    .is_none_or(|age| age < std::time::Duration::from_secs(3600));
                if !recent && !referenced.contains(&path) {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
    }
}
