//! Project automation, run as `cargo xtask <command>`.
//!
//! - `tidy`: the layering rules of ARCHITECTURE.md, checked from `cargo metadata`
//!   (also a `#[test]`, so `cargo test` fails when a crate breaks them).
//! - `codegen [--check]`: generated files (docs/cli.md) are written, or checked fresh.
//! - `bench`: the benchmarks of docs/benchmarks.md, printing their figures.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod codegen;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("tidy") => tidy::run(&workspace_root()).inspect(|problems| {
            if problems.is_empty() {
                println!("tidy: all layering and hygiene rules hold");
            }
        }),
        Some("codegen") => {
            let check = args.iter().any(|a| a == "--check");
            codegen::run(&workspace_root(), check).map(|()| Vec::new())
        }
        Some("bench") => bench::run(&workspace_root(), &args[1..]).map(|()| Vec::new()),
        _ => {
            eprintln!(
                "usage: cargo xtask <tidy | codegen [--check] | bench [NAME]>\n\n\
                 tidy     check the dependency and hygiene rules of ARCHITECTURE.md\n\
                 codegen  regenerate docs/cli.md (--check: fail if it is stale)\n\
                 bench    run the benchmarks of docs/benchmarks.md and print their figures"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(problems) if problems.is_empty() => ExitCode::SUCCESS,
        Ok(problems) => {
            for p in &problems {
                eprintln!("tidy: {p}");
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: the parent of this crate's manifest directory.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
