//! The printer: data to stdout (tables for people, JSON for scripts), notes and warnings to
//! stderr, CI annotations where the CI shows them.

pub mod ci;
pub mod inert;
mod progress;
mod table;

use std::io::{IsTerminal, Write};

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use progress::Progress;
pub use table::Table;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

/// Passed to every command instead of global flags.
///
/// Everything it prints as text goes through [`inert`]: whatever a server or an input file put
/// in a string reaches the terminal as visible characters, never as a control sequence. JSON
/// is written as serde_json writes it (exact values, control characters `\u`-escaped).
#[derive(Clone, Debug)]
pub struct Printer {
    pub verbosity: Verbosity,
    pub json: bool,
    pub stdout_tty: bool,
    pub stderr_tty: bool,
}

impl Printer {
    pub fn new(verbosity: Verbosity, json: bool) -> Printer {
        Printer {
            verbosity,
            json,
            stdout_tty: std::io::stdout().is_terminal(),
            stderr_tty: std::io::stderr().is_terminal(),
        }
    }

    /// A note for people (stderr), hidden by -q.
    pub fn info(&self, msg: impl AsRef<str>) {
        if self.verbosity != Verbosity::Quiet {
            eprintln!("{}", inert::text(msg.as_ref()));
        }
    }

    /// Detail for -v (stderr).
    pub fn verbose(&self, msg: impl AsRef<str>) {
        if self.verbosity == Verbosity::Verbose {
            eprintln!("{}", inert::text(msg.as_ref()));
        }
    }

    /// A problem that does not stop the command (stderr, shown even with -q).
    pub fn warn(&self, msg: impl AsRef<str>) {
        eprintln!("warning: {}", inert::text(msg.as_ref()));
    }

    /// A problem found in the input or in the answer (stderr, shown even with -q), labelled
    /// as what it is: an error, not a warning.
    pub fn error(&self, msg: impl AsRef<str>) {
        eprintln!("error: {}", msg.as_ref());
    }

    /// A line of data (stdout).
    pub fn line(&self, msg: impl AsRef<str>) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", inert::text(msg.as_ref()));
    }

    /// A value as pretty JSON (stdout).
    pub fn json_value(&self, value: &impl Serialize) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, value)?;
        writeln!(out)?;
        Ok(())
    }

    /// JSON when asked for, otherwise whatever `text` prints.
    pub fn data<T: Serialize>(&self, value: &T, text: impl FnOnce(&Printer)) -> anyhow::Result<()> {
        if self.json {
            self.json_value(value)
        } else {
            text(self);
            Ok(())
        }
    }

    /// A table: aligned on a terminal, tab-separated when piped; "No <what>" when empty.
    pub fn table(&self, table: Table, empty: &str) {
        if table.is_empty() {
            self.info(empty);
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = table.write(&mut out, self.stdout_tty);
    }

    /// Times as people read them on a terminal ("5m ago"), RFC 3339 when piped.
    pub fn time(&self, at: DateTime<Utc>) -> String {
        if self.stdout_tty {
            relative(at, Utc::now())
        } else {
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        }
    }

    pub fn opt_time(&self, at: Option<DateTime<Utc>>) -> String {
        at.map_or_else(|| "-".to_owned(), |at| self.time(at))
    }
}

fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds();
    let (n, unit, future) = match secs.unsigned_abs() {
        s if s < 60 => {
            return if secs >= 0 {
                "just now".to_owned()
            } else {
                "in a moment".to_owned()
            };
        }
        s if s < 3600 => (s / 60, "m", secs < 0),
        s if s < 86_400 => (s / 3600, "h", secs < 0),
        s if s < 86_400 * 60 => (s / 86_400, "d", secs < 0),
        _ => return at.format("%Y-%m-%d").to_string(),
    };
    if future {
        format!("in {n}{unit}")
    } else {
        format!("{n}{unit} ago")
    }
}

/// Seconds as `1h02m`, `3m05s`, `42s`.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        s if s >= 3600 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        s if s >= 60 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times() {
        let now = Utc::now();
        assert_eq!(relative(now, now), "just now");
        assert_eq!(relative(now - chrono::TimeDelta::minutes(5), now), "5m ago");
        assert_eq!(relative(now - chrono::TimeDelta::hours(3), now), "3h ago");
        assert_eq!(relative(now + chrono::TimeDelta::days(2), now), "in 2d");
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(42), "42s");
        assert_eq!(human_duration(185), "3m05s");
        assert_eq!(human_duration(3720), "1h02m");
    }
}
