//! What `send` did, for people (stderr) and scripts (`--output json`, stdout).

use serde::Serialize;

use crate::input::{Format, Kind, Repositories};
use crate::protocol::FieldError;
use crate::report::Printer;

/// How a send ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every valid run is on the server (invalid ones set aside with --skip-invalid).
    #[default]
    Complete,
    /// Read to the end, but the server refused runs (set aside with --skip-invalid).
    Refused,
    /// Ctrl-C.
    Interrupted,
    /// An error stopped it: an invalid run, a rejected batch, the server unreachable...
    Stopped,
    DryRun,
}

/// The runs a send did not get onto the server.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Remaining {
    /// Valid runs read but not sent, or sent without an answer.
    pub not_sent: u64,
    /// Runs in batches the server refused.
    pub refused: u64,
    /// Invalid runs read.
    pub invalid: u64,
    /// Records of the input not read yet (`None` when they could not be counted).
    pub unread: Option<u64>,
    /// Why they could not be counted, e.g. "the rest of stdin, which cannot be read again".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread_error: Option<String>,
    /// All of the above (at least, when `unread` is unknown).
    pub total: u64,
}

impl Remaining {
    pub fn new(summary: &Summary, unread: Result<u64, String>) -> Remaining {
        let not_sent = summary
            .valid
            .saturating_sub(summary.accepted + summary.resumed + summary.rejected);
        let (unread, unread_error) = match unread {
            Ok(n) => (Some(n), None),
            Err(e) => (None, Some(e)),
        };
        Remaining {
            not_sent,
            refused: summary.rejected,
            invalid: summary.invalid,
            total: not_sent + summary.rejected + summary.invalid + unread.unwrap_or(0),
            unread,
            unread_error,
        }
    }

    /// "1640 runs remain (40 read but not sent, 1600 not read yet)".
    fn describe(&self, kind: Kind, rejects_file: Option<&str>) -> String {
        let mut parts = Vec::new();
        if self.not_sent > 0 {
            parts.push(format!("{} read but not sent", self.not_sent));
        }
        if self.refused > 0 {
            parts.push(format!("{} refused by the server", self.refused));
        }
        if self.invalid > 0 {
            parts.push(match rejects_file {
                Some(file) => format!("{} invalid, set aside in {file}", self.invalid),
                None => format!("{} invalid", self.invalid),
            });
        }
        match (self.unread, &self.unread_error) {
            (Some(n), _) if n > 0 => parts.push(format!("{n} not read yet")),
            (None, Some(e)) => parts.push(e.clone()),
            _ => {}
        }
        let total = match self.unread {
            Some(_) => kind.count(self.total),
            None => format!("at least {}", kind.count(self.total)),
        };
        let verb = if self.total == 1 && self.unread.is_some() {
            "remains"
        } else {
            "remain"
        };
        if parts.is_empty() {
            format!("{total} {verb}")
        } else {
            format!("{total} {verb} ({})", parts.join(", "))
        }
    }
}

/// Field errors kept in the summary; the rejects file has them all.
pub const MAX_SUMMARY_ERRORS: usize = 100;

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub outcome: Outcome,
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
    /// Upstream Middleware's answers carry a `job_id` (its task queue's), not an event id.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub job_ids: Vec<String>,
    /// The server refused gzip bodies; the rest was sent uncompressed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub compression_refused: bool,
    /// The repositories of the valid runs, as sent.
    pub repositories: Repositories,
    /// The runs not on the server, when the send did not complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<Remaining>,
    /// The command that sends what remains (with --resume when a checkpoint has batches to
    /// skip); none for stdin, which cannot be read again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume_command: Option<String>,
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

    /// How the send ended, from the counts. `input_read`: the whole input was read.
    pub fn decide_outcome(&self, input_read: bool) -> Outcome {
        let all_accepted = self.accepted + self.resumed == self.valid;
        if self.dry_run {
            Outcome::DryRun
        } else if self.error.is_none() && input_read && all_accepted {
            // Even after a late Ctrl-C: everything is there.
            Outcome::Complete
        } else if self.interrupted {
            Outcome::Interrupted
        } else if self.error.is_some() || !input_read {
            Outcome::Stopped
        } else {
            Outcome::Refused
        }
    }

    pub fn print(&self, p: &Printer) {
        let kind = self.format.map_or(Kind::Runs, Format::kind);
        let noun = kind.noun();
        if self.dry_run {
            p.info(format!(
                "Dry run: read {}, valid {}, invalid {}; nothing was sent ({:.1}s).",
                self.read, self.valid, self.invalid, self.elapsed_secs
            ));
        } else {
            let mut line = format!(
                "read {}, valid {}, sent {}, accepted {} ({} already stored), rejected {}, retries {} in {:.1}s ({:.0} {noun}/s)",
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
                    kind.count(self.resumed)
                ));
            }
            p.info(line);
        }
        print_repositories(
            p,
            &self.repositories,
            kind,
            &format!("Repositories of the valid {noun} read, as mwctl sends them:"),
        );
        if self.ids_not_remembered > 0 {
            p.info(not_remembered_note(self.ids_not_remembered));
        }
        if let Some(file) = &self.rejects_file
            && self.invalid + self.rejected > 0
        {
            p.warn(format!(
                "{} set aside in {file}, each with its reasons",
                kind.count(self.invalid + self.rejected)
            ));
        }
        if let Some(error) = &self.error {
            p.error(error);
            if let Some(resolution) = &self.resolution {
                p.error(format!("to fix: {resolution}"));
            }
        }
        let remaining = self
            .remaining
            .as_ref()
            .map(|r| r.describe(kind, self.rejects_file.as_deref()));
        let on_server = kind.count(self.accepted + self.resumed);
        let next = match &self.resume_command {
            Some(command) => command.clone(),
            None => {
                "run the same pipeline again (the server recognises the batches it already has)"
                    .to_owned()
            }
        };
        match self.outcome {
            Outcome::Complete | Outcome::DryRun => {}
            Outcome::Interrupted => {
                p.warn(format!(
                    "interrupted: {on_server} on the server; {}",
                    remaining.unwrap_or_default()
                ));
                p.warn(format!("to send the rest: {next}"));
            }
            Outcome::Refused => {
                p.warn(format!(
                    "not every {} was accepted: {on_server} on the server; {}",
                    kind.singular(),
                    remaining.unwrap_or_default()
                ));
                let reasons = match &self.rejects_file {
                    Some(file) => format!("the reasons are in {file}"),
                    None => "see the errors above".to_owned(),
                };
                p.warn(format!(
                    "once what the server refused is fixed ({reasons}), to send the rest: {next}"
                ));
            }
            Outcome::Stopped => {
                if self.accepted + self.resumed == 0 {
                    p.warn(format!(
                        "stopped: nothing is on the server; {}",
                        remaining.unwrap_or_default()
                    ));
                    p.warn(format!("once fixed, to send it: {next}"));
                } else {
                    p.warn(format!(
                        "stopped: {on_server} on the server; {}",
                        remaining.unwrap_or_default()
                    ));
                    p.warn(format!("once fixed, to send the rest: {next}"));
                }
            }
        }
    }
}

/// The repositories of the valid runs as sent (`https://host/org/name`), after `header`, with
/// the input's other spellings; and a warning for runs that give only `repo_names`.
pub fn print_repositories(p: &Printer, repos: &Repositories, kind: Kind, header: &str) {
    const SHOWN: usize = 10;
    if !repos.listed.is_empty() {
        p.info(header);
    }
    for (url, used) in repos.listed.iter().take(SHOWN) {
        let mut line = format!("  {url}: {}", kind.count(used.runs));
        if !used.written_as.is_empty() {
            line.push_str(&format!(
                " (written {} in the input)",
                used.written_as.join(", ")
            ));
        }
        p.info(line);
    }
    if repos.listed.len() > SHOWN {
        p.info(format!(
            "  … and {} more (--output json lists them all)",
            repos.listed.len() - SHOWN
        ));
    }
    if repos.unlisted_runs > 0 {
        p.info(format!(
            "  … and {} of more repositories than mwctl lists",
            kind.count(repos.unlisted_runs)
        ));
    }
    if repos.names_only_runs > 0 {
        p.warn(names_only_note(repos, kind));
    }
}

/// Says that runs giving only `repo_names` are refused by upstream Middleware.
pub fn names_only_note(repos: &Repositories, kind: Kind) -> String {
    format!(
        "{} {} only repo_names (first: record {}); upstream Middleware refuses such runs (it needs repo_urls): give repo_urls (e.g. https://github.com/org/name) if the server is upstream Middleware",
        kind.count(repos.names_only_runs),
        if repos.names_only_runs == 1 {
            "gives"
        } else {
            "give"
        },
        repos.first_names_only.unwrap_or_default()
    )
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
