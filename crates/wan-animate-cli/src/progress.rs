//! Spinners and byte bars on stderr, only when stderr is a terminal (see `Printer::progress`).

use std::io::Write;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// stderr as indicatif sees it, two columns narrower than it is. indicatif fills every line to
/// the right edge, which leaves the cursor in the terminal's pending-wrap state; the `^C` the
/// terminal echoes on Ctrl-C then starts a new line, and clearing the bar would clear that
/// line instead of the bar. With a margin the echo fits on the bar's line and is cleared with it.
#[derive(Debug)]
struct MarginTerm(console::Term);

impl indicatif::TermLike for MarginTerm {
    fn width(&self) -> u16 {
        self.0.size().1.saturating_sub(2).max(20)
    }
    fn height(&self) -> u16 {
        self.0.size().0
    }
    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_up(n)
    }
    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_down(n)
    }
    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_right(n)
    }
    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_left(n)
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.0.write_line(s)
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.0.write_str(s)
    }
    fn clear_line(&self) -> std::io::Result<()> {
        self.0.clear_line()
    }
    fn flush(&self) -> std::io::Result<()> {
        self.0.flush()
    }
}

fn target() -> indicatif::ProgressDrawTarget {
    indicatif::ProgressDrawTarget::term_like_with_hz(
        Box::new(MarginTerm(console::Term::buffered_stderr())),
        15,
    )
}

/// A byte bar (uploads, downloads), or nothing when progress is off.
pub(crate) fn byte_bar(enabled: bool, label: &str) -> Option<ProgressBar> {
    if !enabled {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(0), target());
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

/// The live view of a wait in a terminal: the elapsed clock and the current status with how
/// long the task has been in it (redrawn every second), each change printed above the line,
/// and an estimate of the time left from what this account's recent tasks took.
///
/// Drawn by hand rather than with indicatif: its lines fill the terminal to the last column,
/// so the `^C` a terminal echoes on Ctrl-C starts a new line and the bar could not be cleared.
/// This line stays shorter than the terminal, and clearing it clears the echo too.
#[derive(Debug)]
pub(crate) struct LiveView {
    enabled: bool,
    started: std::time::Instant,
    status: Option<String>,
    status_since: std::time::Instant,
    /// Typical time from submission to the end, and what it is based on ("median of your
    /// last 3 tasks").
    typical: Option<(Duration, String)>,
    /// When the task was submitted, as far as we know.
    submitted: std::time::Instant,
    frame: std::cell::Cell<usize>,
    drawn: std::cell::Cell<bool>,
}

const FRAMES: [char; 4] = ['|', '/', '-', '\\'];

impl LiveView {
    pub(crate) fn new(enabled: bool) -> Self {
        let now = std::time::Instant::now();
        Self {
            enabled,
            started: now,
            status: None,
            status_since: now,
            typical: None,
            submitted: now,
            frame: std::cell::Cell::new(0),
            drawn: std::cell::Cell::new(false),
        }
    }

    /// Whether it is drawn at all.
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// Sets when the task was submitted (its `submit_time`, `age` ago).
    pub(crate) fn set_age(&mut self, age: Duration) {
        if let Some(t) = std::time::Instant::now().checked_sub(age) {
            self.submitted = t;
        }
    }

    /// Sets the typical duration of a task of this kind, and what it is based on.
    pub(crate) fn set_typical(&mut self, typical: Duration, basis: String) {
        self.typical = Some((typical, basis));
        self.redraw();
    }

    /// A new status: `line` is printed above the live line when it changed.
    pub(crate) fn status(&mut self, status: &str, line: &str) {
        if self.status.as_deref() != Some(status) {
            if self.enabled {
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[2K{line}\n");
                let _ = err.flush();
                self.drawn.set(false);
            }
            self.status = Some(status.to_owned());
            self.status_since = std::time::Instant::now();
        }
        self.redraw();
    }

    /// The text of the live line.
    fn text(&self) -> String {
        let status = self.status.as_deref().unwrap_or("waiting");
        let frame = FRAMES[self.frame.get() % FRAMES.len()];
        let mut msg = format!(
            "{frame} [{}] {status} for {}",
            clock(self.started.elapsed()),
            clock(self.status_since.elapsed())
        );
        if let Some((typical, basis)) = &self.typical {
            let age = self.submitted.elapsed();
            if *typical > age {
                msg.push_str(&format!(", about {} left ({basis})", clock(*typical - age)));
            } else {
                msg.push_str(&format!(
                    ", longer than the {} expected ({basis})",
                    clock(*typical)
                ));
            }
        }
        msg
    }

    /// Redraws the line (call about once a second so the clocks tick).
    pub(crate) fn redraw(&self) {
        if !self.enabled {
            return;
        }
        self.frame.set(self.frame.get().wrapping_add(1));
        // Never reach the last columns: a wrapped line cannot be cleared in place.
        let width = usize::from(console::Term::stderr().size().1).max(20);
        let text: String = self.text().chars().take(width - 4).collect();
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{text}");
        let _ = err.flush();
        self.drawn.set(true);
    }

    /// Removes the line: nothing is left on screen (a `^C` echo included).
    pub(crate) fn finish(&self) {
        if self.enabled && self.drawn.get() {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.drawn.set(false);
        }
    }
}

impl Drop for LiveView {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `1:05`, `1:02:03`.
pub(crate) fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// What `n` finished tasks make of an estimate: "median of your last 3 tasks".
pub(crate) fn tasks_basis(what: &str, n: usize) -> String {
    if n == 1 {
        format!("{what} your last task")
    } else {
        format!("{what} your last {n} tasks")
    }
}

/// The median time from creation to the end of `tasks` that succeeded, with their number.
pub(crate) fn typical_duration(
    tasks: &[wan_animate_core::types::TaskSummary],
) -> Option<(Duration, usize)> {
    let mut spans: Vec<i64> = tasks
        .iter()
        .filter(|t| t.status == wan_animate_core::types::TaskStatus::Succeeded)
        .filter_map(|t| {
            let created = t.gmt_create?.as_millis();
            let ended = t.end_time?.as_millis();
            (ended > created).then_some(ended - created)
        })
        .collect();
    if spans.is_empty() {
        return None;
    }
    spans.sort_unstable();
    let median = spans[spans.len() / 2];
    Some((
        Duration::from_millis(u64::try_from(median).unwrap_or(0)),
        spans.len(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wan_animate_core::types::{EpochMillis, TaskStatus, TaskSummary};

    #[test]
    fn typical_duration_is_the_median_of_succeeded_tasks() {
        let t = |s: TaskStatus, c: i64, e: i64| {
            let mut t = TaskSummary::new("x", s).with_gmt_create(EpochMillis(c));
            t.end_time = Some(EpochMillis(e));
            t
        };
        let tasks = vec![
            t(TaskStatus::Succeeded, 0, 10_000),
            t(TaskStatus::Succeeded, 0, 30_000),
            t(TaskStatus::Succeeded, 0, 20_000),
            t(TaskStatus::Failed, 0, 1_000),
        ];
        assert_eq!(typical_duration(&tasks), Some((Duration::from_secs(20), 3)));
        assert_eq!(typical_duration(&[]), None);
    }

    #[test]
    fn clocks_read_like_clocks() {
        assert_eq!(clock(Duration::from_secs(65)), "1:05");
        assert_eq!(clock(Duration::from_secs(3723)), "1:02:03");
    }
}
