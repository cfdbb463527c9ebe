//! Benchmarks that print figures (docs/benchmarks.md). Never timed unit tests.

use std::path::Path;
use std::process::Command;

use anyhow::{Result, bail};

const BENCHES: &[&str] = &["transfer", "batch", "polling"];

/// Runs the named benchmark, or all of them.
pub(crate) fn run(root: &Path, args: &[String]) -> Result<()> {
    let names: Vec<&str> = match args.first() {
        None => BENCHES.to_vec(),
        Some(n) if BENCHES.contains(&n.as_str()) => vec![n.as_str()],
        Some(n) => bail!("unknown benchmark {n:?}; known: {BENCHES:?}"),
    };
    for name in names {
        match name {
            "transfer" => transfer(root)?,
            "batch" => batch(root)?,
            "polling" => polling(root)?,
            _ => unreachable!("listed in BENCHES"),
        }
    }
    Ok(())
}

/// Upload 200 MB and download 1 GiB over loopback, each in its own process, printing the
/// peak resident memory of each (goal: under 32 MiB).
fn transfer(root: &Path) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for (mode, bytes) in [
        ("upload", 200u64 * 1024 * 1024),
        ("download", 1024u64 * 1024 * 1024),
    ] {
        let status = Command::new(&cargo)
            .current_dir(root)
            .args([
                "run",
                "--quiet",
                "--release",
                "-p",
                "wan-animate-reqwest",
                "--example",
                "transfer_bench",
                "--",
                mode,
                &bytes.to_string(),
            ])
            .status()?;
        if !status.success() {
            bail!("transfer benchmark ({mode}) failed");
        }
    }
    Ok(())
}

/// 500 jobs against the simulator with the documented limits compressed 1000x in time,
/// printing the wall time against the floor those limits impose (goal: within 10%); then a
/// 10,000-job batch, printing the time to its first create (goal: under 1 s) and the ledger's
/// transitions per second (goal: thousands).
fn batch(root: &Path) -> Result<()> {
    batch_example(root, &["500", "1000"])?;
    batch_example(root, &["scale", "10000"])
}

fn batch_example(root: &Path, args: &[&str]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .current_dir(root)
        .args([
            "run",
            "--quiet",
            "--release",
            "-p",
            "wan-animate-batch",
            "--example",
            "batch_bench",
            "--",
        ])
        .args(args)
        .status()?;
    if !status.success() {
        bail!("batch benchmark failed");
    }
    Ok(())
}

/// Tasks of 60, 300 and 900 s on the time-scaled simulator, waited on by the real wait path
/// with today's backoff, the Python SDK 2.x schedule and the predictive schedule, printing
/// queries per task and mean / p95 detection delay (goal: predictive at no more queries than
/// the Python SDK 2.x with at most half its mean delay).
fn polling(root: &Path) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .current_dir(root)
        .args([
            "run",
            "--quiet",
            "--release",
            "-p",
            "wan-animate-cli",
            "--example",
            "polling_bench",
            "--",
            "20",
            "25",
        ])
        .status()?;
    if !status.success() {
        bail!("polling benchmark failed");
    }
    Ok(())
}
