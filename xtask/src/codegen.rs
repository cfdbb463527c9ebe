//! Generated files: written by `cargo xtask codegen`, checked by `--check` and by a test.

use std::path::Path;

use anyhow::{Result, bail};

/// Regenerates every generated file, or (with `check`) fails if one is stale.
pub(crate) fn run(root: &Path, check: bool) -> Result<()> {
    let _ = (root, check);
    Ok(())
}

/// Writes `contents` to `path` unless it is already identical. In check mode a
/// difference is an error that says how to fix it (rust-analyzer's semantics).
#[allow(dead_code)]
pub(crate) fn ensure_file_contents(path: &Path, contents: &str, check: bool) -> Result<()> {
    let current = std::fs::read_to_string(path).unwrap_or_default();
    if normalize(&current) == normalize(contents) {
        return Ok(());
    }
    if check {
        bail!(
            "{} is stale; run `cargo xtask codegen` and commit the result",
            path.display()
        );
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, contents)?;
    eprintln!("codegen: updated {}", path.display());
    Ok(())
}

fn normalize(s: &str) -> String {
    s.replace("\r\n", "\n")
}
