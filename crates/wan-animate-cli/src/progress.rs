//! Spinners and byte bars on stderr, only when stderr is a terminal (see `Printer::progress`).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A status spinner with elapsed time, or nothing when progress is off.
#[derive(Debug)]
pub(crate) struct Spinner(Option<ProgressBar>);

impl Spinner {
    pub(crate) fn new(enabled: bool, message: &str) -> Self {
        if !enabled {
            return Self(None);
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(message.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        Self(Some(bar))
    }

    pub(crate) fn set_message(&self, message: &str) {
        if let Some(b) = &self.0 {
            b.set_message(message.to_owned());
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

/// A byte bar (uploads, downloads), or nothing when progress is off.
pub(crate) fn byte_bar(enabled: bool, label: &str) -> Option<ProgressBar> {
    if !enabled {
        return None;
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(label.to_owned());
    Some(bar)
}

/// A core progress callback that drives `bar`.
pub(crate) fn feed(bar: ProgressBar) -> wan_animate_core::progress::ProgressFn {
    std::sync::Arc::new(move |p: wan_animate_core::progress::Progress| {
        if let Some(total) = p.total {
            bar.set_length(total);
        }
        bar.set_position(p.done);
    })
}
