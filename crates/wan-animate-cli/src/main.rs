//! The `wan-animate` binary: parse, run, exit with the contract's code.
#![allow(clippy::print_stderr)]

use clap::Parser;
use wan_animate_cli::{Cli, Exit};

fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are "errors" that succeed; everything else is a usage error (2).
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Usage
            } else {
                Exit::Success
            }
            .into();
        }
    };
    wan_animate_cli::init_logging(&cli.global);
    let runtime = match runtime_for(&cli.command) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::Failure.into();
        }
    };
    runtime.block_on(wan_animate_cli::run(cli)).into()
}

/// The runtime a command needs. Commands that make a few sequential requests run on the
/// calling thread (a status query costs about half the CPU there than on a 2-worker pool);
/// those that overlap work (parallel uploads and the live view of `run`, waits, batches, the
/// simulator and the receiver serving connections) keep two workers.
fn runtime_for(
    command: &wan_animate_cli::args::Command,
) -> std::io::Result<tokio::runtime::Runtime> {
    if wan_animate_cli::needs_worker_threads(command) {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
}
