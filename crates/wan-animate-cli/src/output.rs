//! Where things are printed. stdout carries only the result (exactly one JSON document with
//! `--json`, or NDJSON events with `--events`); everything else goes to stderr.

use std::io::{IsTerminal, Write};

use serde_json::Value;

/// How this invocation prints.
#[derive(Debug, Clone)]
pub(crate) struct Printer {
    /// `--json`: stdout is machine-readable.
    pub(crate) json: bool,
    /// `-q` level.
    pub(crate) quiet: u8,
    /// Spinners and bars: stderr is a terminal and neither `--json` nor `-q` was given.
    pub(crate) progress: bool,
}

impl Printer {
    /// Decides from the flags and whether stderr is a terminal.
    pub(crate) fn new(json: bool, quiet: u8) -> Self {
        let progress = !json && quiet == 0 && std::io::stderr().is_terminal();
        Self {
            json,
            quiet,
            progress,
        }
    }

    /// A result line for people (ignored with `--json`).
    pub(crate) fn result(&self, text: &str) {
        if !self.json {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        }
    }

    /// The one JSON document of this invocation.
    pub(crate) fn json_document(&self, value: &Value) {
        let mut out = std::io::stdout().lock();
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into());
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    /// One NDJSON event line (`--events`).
    pub(crate) fn json_event(&self, value: &Value) {
        let mut out = std::io::stdout().lock();
        let text = serde_json::to_string(value).unwrap_or_else(|_| "null".into());
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    /// A diagnostic on stderr, shown unless `-q`. Task ids go through here so that they are
    /// visible even when stderr is not a terminal: nothing paid for is ever unprinted.
    pub(crate) fn note(&self, text: &str) {
        if self.quiet == 0 {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{text}");
        }
    }

    /// A warning on stderr, shown unless `-qq`.
    pub(crate) fn warn(&self, text: &str) {
        if self.quiet < 2 {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "warning: {text}");
        }
    }

    /// An error on stderr, always.
    pub(crate) fn error(&self, text: &str) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "error: {text}");
    }
}
