//! What `send` did, for people (stderr) and scripts (`--output json`, stdout).

use serde::Serialize;

use crate::input::Format;
use crate::protocol::FieldError;
use crate::report::Printer;

/// Field errors kept in the summary; the rejects file has them all.
pub const MAX_SUMMARY_ERRORS: usize = 100;

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub file: String,
    pub format: Option<Format>,
    /// Records read.
    pub read: u64,
    pub valid: u64,
    pub invalid: u64,
    /// Requests answered.
    pub batches: u64,
    /// Runs in requests the server answered.
    pub sent: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Runs in batches the server already had (sent before).
    pub duplicates: u64,
    /// Runs skipped by --resume: acknowledged by an earlier run of the command.
    pub resumed: u64,
    pub retries: u64,
    /// Runs past the first [`crate::input::REMEMBERED_IDS`]: later runs were not checked
    /// for repeats of their ids.
    #[serde(skip_serializing_if = "is_zero")]
    pub ids_not_remembered: u64,
    pub elapsed_secs: f64,
    /// Accepted runs per second.
    pub runs_per_sec: f64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    pub event_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejects_file: Option<String>,
    /// Where progress is kept while the input is not fully delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl Summary {
    /// Keeps the first field errors.
    pub fn add_errors(&mut self, errors: impl IntoIterator<Item = FieldError>) {
        let room = MAX_SUMMARY_ERRORS.saturating_sub(self.errors.len());
        self.errors.extend(errors.into_iter().take(room));
    }

    /// Every valid run is on the server (now or before), and nothing went wrong.
    pub fn complete(&self) -> bool {
        self.error.is_none()
            && !self.interrupted
            && (self.dry_run || self.accepted + self.resumed == self.valid)
    }

    /// Valid runs that are not known to be on the server.
    pub fn missing(&self) -> u64 {
        self.valid.saturating_sub(self.accepted + self.resumed)
    }

    pub fn print(&self, p: &Printer, resume_hint: Option<&str>) {
        let runs = |n: u64| {
            if n == 1 {
                "1 run".to_owned()
            } else {
                format!("{n} runs")
            }
        };
        if self.dry_run {
            p.info(format!(
                "Dry run: read {}, valid {}, invalid {}; nothing was sent ({:.1}s).",
                self.read, self.valid, self.invalid, self.elapsed_secs
            ));
        } else {
            let mut line = format!(
                "read {}, valid {}, sent {}, accepted {} ({} already stored), rejected {}, retries {} in {:.1}s ({:.0} runs/s)",
                self.read,
                self.valid,
                self.sent,
                self.accepted,
                self.duplicates,
                self.rejected,
                self.retries,
                self.elapsed_secs,
                self.runs_per_sec
            );
            if self.resumed > 0 {
                line.push_str(&format!(
                    "; {} skipped, accepted before",
                    runs(self.resumed)
                ));
            }
            p.info(line);
        }
        if self.ids_not_remembered > 0 {
            p.info(not_remembered_note(self.ids_not_remembered));
        }
        if let Some(file) = &self.rejects_file
            && self.invalid + self.rejected > 0
        {
            p.warn(format!(
                "{} set aside in {file}, each with its reasons",
                runs(self.invalid + self.rejected)
            ));
        }
        if let Some(error) = &self.error {
            p.warn(error);
            if let Some(resolution) = &self.resolution {
                p.warn(format!("to fix: {resolution}"));
            }
        }
        if self.interrupted {
            p.warn("interrupted");
        }
        let missing = self.missing();
        if !self.dry_run && !self.complete() && missing > 0 {
            match resume_hint {
                Some(command) => p.warn(format!(
                    "{} not accepted yet; to send them: {command}",
                    runs(missing)
                )),
                None => p.warn(format!(
                    "{} not accepted yet; running the same command again sends them (the server recognises the batches it already has)",
                    runs(missing)
                )),
            }
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Says that the repeat check stopped remembering ids (huge inputs only).
pub fn not_remembered_note(count: u64) -> String {
    format!(
        "note: the input has more than {} runs; the ids of the last {count} were checked against earlier runs but not remembered, so repeats among them were not detected",
        crate::input::REMEMBERED_IDS
    )
}
