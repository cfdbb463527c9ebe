//! The `wan-animate` command line as a library: argument definitions ([`args`]), the exit-code
//! contract ([`exit`]), and [`run`], which executes one parsed command. The binary is a few
//! lines around [`run`]; `cargo xtask codegen` renders `docs/cli.md` with [`docs::markdown`].
//!
//! ```
//! use clap::Parser;
//! let cli = wan_animate_cli::Cli::try_parse_from(["wan-animate", "check", "a.jpg"]).unwrap();
//! assert!(matches!(cli.command, wan_animate_cli::args::Command::Check(_)));
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![allow(clippy::print_stdout, clippy::print_stderr)]
// A command fails once, at its end; the size of `Failure` costs nothing worth boxing for.
#![allow(clippy::result_large_err)]

pub mod args;
mod clock;
mod commands;
mod context;
mod cost;
pub mod docs;
pub mod exit;
mod failure;
pub mod http_log;
mod journal;
mod output;
mod progress;
mod signals;
mod speed;
mod state;

pub use args::Cli;
pub use exit::Exit;

use failure::Failure;

/// Whether `command` needs a multi-thread runtime: `run` (parallel uploads, the live view),
/// `wait`, `batch`, `sim` and `listen` overlap work; every other command makes a few sequential
/// requests and runs on a current-thread runtime.
///
/// ```
/// use clap::Parser;
/// let status = wan_animate_cli::Cli::try_parse_from(["wan-animate", "status", "t-1"]).unwrap();
/// assert!(!wan_animate_cli::needs_worker_threads(&status.command));
/// let wait = wan_animate_cli::Cli::try_parse_from(["wan-animate", "wait", "t-1"]).unwrap();
/// assert!(wan_animate_cli::needs_worker_threads(&wait.command));
/// ```
pub fn needs_worker_threads(command: &args::Command) -> bool {
    use args::Command;
    match command {
        // A dry run only reads local files.
        Command::Run(a) => !a.dry_run,
        Command::Wait(_) | Command::Batch(_) | Command::Sim(_) | Command::Listen(_) => true,
        Command::Status(_)
        | Command::Cancel(_)
        | Command::List(_)
        | Command::Upload(_)
        | Command::Download(_)
        | Command::Submit(_)
        | Command::Check(_)
        | Command::Completions(_) => false,
    }
}

/// Sets up diagnostics on stderr from `-v`/`-q` and `RUST_LOG`.
pub fn init_logging(global: &args::GlobalArgs) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    // The connection pool and TLS layers are noise at every level we offer; `-v` shows one
    // line per HTTP exchange instead (`http_log`). RUST_LOG can still ask for them.
    const QUIET_DEPS: &str =
        "hyper=warn,hyper_util=warn,reqwest=warn,h2=warn,rustls=warn,tower=warn";
    let default = match (global.quiet, global.verbose) {
        (q, _) if q > 0 => "error".to_owned(),
        (_, 0) => "warn".to_owned(),
        (_, 1) => format!("info,{QUIET_DEPS}"),
        (_, 2) => format!("debug,{QUIET_DEPS}"),
        _ => "trace".to_owned(),
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // No escape bytes in files and pipes.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// Runs one command and returns its exit code. Errors are printed here: what happened, the
/// service's code and request id, the task id if one exists, and what to do next.
pub async fn run(cli: Cli) -> Exit {
    let printer = output::Printer::new(cli.global.json, cli.global.quiet);
    match commands::dispatch(cli, &printer).await {
        Ok(()) => Exit::Success,
        Err(failure) => {
            report(&printer, &failure);
            failure.exit
        }
    }
}

fn report(printer: &output::Printer, failure: &Failure) {
    printer.error(&failure.message);
    if let Some(id) = &failure.task_id {
        printer.note(&format!("task id: {id}"));
    }
    if let Some(hint) = &failure.hint {
        printer.note(&format!("hint: {hint}"));
    }
    if printer.json {
        let mut doc = failure
            .document
            .clone()
            .unwrap_or_else(|| serde_json::json!({}));
        if !doc.is_object() {
            doc = serde_json::json!({ "value": doc });
        }
        doc["error"] = failure.json.clone();
        printer.json_document(&doc);
    }
}
