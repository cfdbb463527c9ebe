//! Where things are printed. stdout carries only the result (exactly one JSON document with
//! `--json`, or NDJSON events with `--events`); everything else goes to stderr.

use std::borrow::Cow;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use serde_json::Value;

/// Secrets of this invocation (the API key), removed from everything printed.
static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Secrets shorter than this are not redacted: replacing every occurrence of a two-letter
/// test key would garble the output, and real keys are dozens of characters.
const MIN_REDACTED_LEN: usize = 8;

/// Registers a secret (the API key) that nothing printed may contain, even when a server
/// echoes it back in a message.
pub(crate) fn register_secret(secret: &str) {
    let secret = secret.trim();
    if secret.len() < MIN_REDACTED_LEN {
        return;
    }
    if let Ok(mut s) = SECRETS.lock()
        && !s.iter().any(|k| k == secret)
    {
        s.push(secret.to_owned());
    }
}

/// `text` with every registered secret replaced by `<redacted>`.
pub(crate) fn redact(text: &str) -> Cow<'_, str> {
    let Ok(secrets) = SECRETS.lock() else {
        return Cow::Borrowed(text);
    };
    let mut out = Cow::Borrowed(text);
    for s in secrets.iter() {
        if out.contains(s.as_str()) {
            out = Cow::Owned(out.replace(s.as_str(), "<redacted>"));
        }
    }
    out
}

/// Whether a character is shown escaped: C0 and C1 controls (ESC, CSI, CR, BEL, ...) and the
/// bidirectional overrides that reorder what a terminal shows.
fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn escape_with(text: &str, keep: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_unsafe(c) && !keep(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A string from a server (or any outside source) made safe to print for people: every
/// control character, newlines included, is escaped (`\n`, `\u{1b}`), so it cannot move the
/// cursor, recolour the terminal or forge lines; and secrets are redacted.
///
/// Commands call this on every server-provided string (task ids, messages, codes, URLs)
/// they put into a line for people. `--json` output needs no escaping (JSON escapes).
pub(crate) fn sanitize(text: &str) -> String {
    escape_with(&redact(text), |_| false)
}

/// What the printer applies to every line for people: secrets redacted, control characters
/// escaped except the newlines and tabs of our own multi-line messages.
fn printable(text: &str) -> String {
    escape_with(&redact(text), |c| c == '\n' || c == '\t')
}

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

    /// A result line for people (ignored with `--json`). Secrets are redacted and control
    /// characters other than newlines escaped; server strings also go through [`sanitize`].
    pub(crate) fn result(&self, text: &str) {
        if !self.json {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", printable(text));
            let _ = out.flush();
        }
    }

    /// The one JSON document of this invocation.
    pub(crate) fn json_document(&self, value: &Value) {
        let mut out = std::io::stdout().lock();
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into());
        let _ = writeln!(out, "{}", redact(&text));
        let _ = out.flush();
    }

    /// One NDJSON event line (`--events`).
    pub(crate) fn json_event(&self, value: &Value) {
        let mut out = std::io::stdout().lock();
        let text = serde_json::to_string(value).unwrap_or_else(|_| "null".into());
        let _ = writeln!(out, "{}", redact(&text));
        let _ = out.flush();
    }

    /// A diagnostic on stderr, shown unless `-q`. Task ids go through here so that they are
    /// visible even when stderr is not a terminal: nothing paid for is ever unprinted.
    pub(crate) fn note(&self, text: &str) {
        if self.quiet == 0 {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{}", printable(text));
        }
    }

    /// A warning on stderr, shown unless `-qq`.
    pub(crate) fn warn(&self, text: &str) {
        if self.quiet < 2 {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "warning: {}", printable(text));
        }
    }

    /// An error on stderr, always.
    pub(crate) fn error(&self, text: &str) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "error: {}", printable(text));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_escapes_ansi_newlines_cr_and_bidi_overrides() {
        let hostile = "t-1\u{1b}[2J\r\nerror: forged\u{7}\u{9b}31m\u{202e}gpj.exe";
        let shown = sanitize(hostile);
        assert!(!shown.chars().any(is_unsafe), "{shown:?}");
        assert_eq!(
            shown,
            "t-1\\u{1b}[2J\\r\\nerror: forged\\u{7}\\u{9b}31m\\u{202e}gpj.exe"
        );
        assert_eq!(sanitize("plain-id_1.mp4"), "plain-id_1.mp4");
    }

    #[test]
    fn lines_for_people_keep_our_newlines_but_no_escape_sequences() {
        assert_eq!(printable("a\n  - b\u{1b}[31m"), "a\n  - b\\u{1b}[31m");
    }

    #[test]
    fn registered_secrets_are_redacted_even_when_echoed_back() {
        register_secret("sk-output-test-SECRET42");
        register_secret("short");
        let echoed = "InvalidApiKey: key sk-output-test-SECRET42 is wrong (short)";
        assert_eq!(
            sanitize(echoed),
            "InvalidApiKey: key <redacted> is wrong (short)"
        );
        assert!(!printable(echoed).contains("SECRET42"));
        assert!(!redact(echoed).contains("SECRET42"));
    }
}
