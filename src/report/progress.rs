//! A progress bar for long commands (`mwctl send`): on stderr, only when it is a terminal and
//! output is not quieted. Notes printed while it shows go above it.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Printer, Verbosity};

/// Cheap to clone; every clone drives the same bar.
#[derive(Clone)]
pub struct Progress {
    bar: ProgressBar,
    /// What is sent: "runs", "incidents".
    noun: &'static str,
}

impl Progress {
    /// A bar over `total` bytes of input (a spinner when the size is unknown, e.g. stdin),
    /// hidden unless stderr is a terminal and the printer is not quiet.
    pub fn new(printer: &Printer, total: Option<u64>, noun: &'static str) -> Progress {
        if !printer.stderr_tty || printer.verbosity == Verbosity::Quiet {
            return Progress {
                bar: ProgressBar::hidden(),
                noun,
            };
        }
        let (bar, template) = match total {
            Some(total) => (
                ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
                "{spinner} {elapsed:>4} [{wide_bar}] {percent:>3}% {msg}, ETA {eta}",
            ),
            None => (
                ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
                "{spinner} {elapsed:>4} {msg}",
            ),
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress { bar, noun }
    }

    /// Where things stand: input bytes read, records accepted, their rate, retries so far.
    pub fn update(&self, bytes_read: u64, accepted: u64, runs_per_sec: f64, retries: u64) {
        if self.bar.is_hidden() {
            return;
        }
        self.bar.set_position(bytes_read);
        let retries = match retries {
            0 => String::new(),
            1 => ", 1 retry".to_owned(),
            n => format!(", {n} retries"),
        };
        self.bar.set_message(format!(
            "{accepted} {} sent ({runs_per_sec:.0}/s){retries}",
            self.noun
        ));
    }

    /// Runs `f` (which prints to stderr) with the bar out of the way.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    /// Removes the bar (before the summary is printed).
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
