//! Benchmarks that print figures (docs/benchmarks.md). Never timed unit tests.

use std::path::Path;

use anyhow::{Result, bail};

/// Runs the named benchmark (or all of them).
pub(crate) fn run(_root: &Path, args: &[String]) -> Result<()> {
    bail!("no benchmark is registered yet (asked for {args:?})")
}
