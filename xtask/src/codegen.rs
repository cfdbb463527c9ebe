//! Generated files: `cargo xtask codegen` rewrites them, `--check` (and `cargo test`) fails
//! when one is stale.
//!
//! - `docs/cli.md`, from the CLI's clap definitions, by the CLI crate's `docs` test.

use std::path::Path;
use std::process::Command;

use anyhow::{Result, bail};

/// Regenerates every generated file, or (with `check`) fails if one is stale.
pub(crate) fn run(root: &Path, check: bool) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root).args([
        "test",
        "--quiet",
        "-p",
        "wan-animate-cli",
        "--test",
        "docs",
        "--",
        "docs_cli_md_is_fresh",
    ]);
    if !check {
        cmd.env("WAN_ANIMATE_UPDATE_DOCS", "1");
    }
    let status = cmd.status()?;
    if !status.success() {
        bail!("docs/cli.md is stale; run `cargo xtask codegen` and commit the result");
    }
    println!(
        "codegen: docs/cli.md {}",
        if check { "is fresh" } else { "written" }
    );
    Ok(())
}
