//! SIGINT, SIGTERM and SIGHUP, handled alike.
//!
//! The first signal is delivered to the command ([`Signals::recv`]), which ends at a safe
//! point: a create request in flight is awaited (bounded by the request timeout) so its task id
//! is printed and journaled; a wait stops at once; a download stops keeping its partial file.
//! A second signal exits at once, printing what is known ([`set_known`]).

use std::io::{IsTerminal, Write};
use std::sync::{Mutex, OnceLock};

use tokio::sync::watch;

use crate::exit::Exit;

/// A termination signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM.
    Terminate,
    /// SIGHUP.
    HangUp,
}

impl Signal {
    /// The exit code of the contract: 130, 143, 129 (128 + the signal number).
    pub(crate) fn exit(self) -> Exit {
        match self {
            Signal::Interrupt => Exit::Interrupted,
            Signal::Terminate => Exit::Terminated,
            Signal::HangUp => Exit::HungUp,
        }
    }

    /// How it is named in messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "interrupted (SIGINT)",
            Signal::Terminate => "terminated (SIGTERM)",
            Signal::HangUp => "hung up (SIGHUP)",
        }
    }
}

static RECEIVER: OnceLock<watch::Receiver<Option<Signal>>> = OnceLock::new();
static KNOWN: Mutex<Option<String>> = Mutex::new(None);

/// Records what a second signal prints before exiting (the task id and how to resume).
pub(crate) fn set_known(text: impl Into<String>) {
    if let Ok(mut k) = KNOWN.lock() {
        *k = Some(text.into());
    }
}

/// The signals of this process, once installed.
#[derive(Debug, Clone)]
pub(crate) struct Signals(Option<watch::Receiver<Option<Signal>>>);

impl Signals {
    /// Installs the handlers (once per process) and returns a receiver. Must be called inside
    /// the runtime. If the handlers cannot be installed, [`recv`](Self::recv) never returns and
    /// signals keep their default action.
    pub(crate) fn install() -> Self {
        if let Some(rx) = RECEIVER.get() {
            return Self(Some(rx.clone()));
        }
        let (tx, rx) = watch::channel(None);
        if !spawn_listener(tx) {
            return Self(None);
        }
        let _ = RECEIVER.set(rx);
        Self(RECEIVER.get().cloned())
    }

    /// Waits for the first signal (returns at once if one has arrived already).
    pub(crate) async fn recv(&mut self) -> Signal {
        if let Some(rx) = &mut self.0
            && let Ok(s) = rx.wait_for(Option::is_some).await
            && let Some(s) = *s
        {
            return s;
        }
        std::future::pending().await
    }
}

#[cfg(unix)]
fn spawn_listener(tx: watch::Sender<Option<Signal>>) -> bool {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return false;
    };
    tokio::spawn(async move {
        loop {
            let got = tokio::select! {
                _ = int.recv() => Signal::Interrupt,
                _ = term.recv() => Signal::Terminate,
                _ = hup.recv() => Signal::HangUp,
            };
            let first = *tx.borrow();
            match first {
                None => {
                    tx.send_replace(Some(got));
                }
                Some(first) => exit_now(first, got),
            }
        }
    });
    true
}

#[cfg(not(unix))]
fn spawn_listener(tx: watch::Sender<Option<Signal>>) -> bool {
    tokio::spawn(async move {
        loop {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            let first = *tx.borrow();
            match first {
                None => {
                    tx.send_replace(Some(Signal::Interrupt));
                }
                Some(first) => exit_now(first, Signal::Interrupt),
            }
        }
    });
    true
}

/// The second signal: no more waiting. Clears a progress line, prints what is known, exits.
fn exit_now(first: Signal, second: Signal) -> ! {
    let mut err = std::io::stderr().lock();
    if std::io::stderr().is_terminal() {
        // Erase a spinner or bar left on the current line.
        let _ = write!(err, "\r\x1b[2K");
    }
    let _ = writeln!(
        err,
        "error: {} again; exiting at once without waiting for the request in flight",
        second.name().split(' ').next().unwrap_or("signaled")
    );
    if let Ok(k) = KNOWN.lock() {
        match k.as_deref() {
            Some(text) => {
                let _ = writeln!(err, "{text}");
            }
            None => {
                let _ = writeln!(
                    err,
                    "no task id was known yet; if a task was being created, check with: wan-animate list --since 10m"
                );
            }
        }
    }
    let _ = err.flush();
    std::process::exit(i32::from(first.exit().code()))
}
