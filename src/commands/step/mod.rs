//! The machinery of pipeline steps (`mwctl deploy start|finish|record`, `mwctl incident
//! open|ack|resolve`): one piece for every step that reports one item (a run, an incident).
//!
//! A step builds a draft (a [`Step`]); [`deliver::deliver`] validates it with the protocol's
//! own rules, sends it within the command's `--timeout`, and reports the outcome where the CI
//! shows it (`--explain`, `-o json`, GitHub annotations and job summary). Steps never fail the
//! pipeline unless `--strict` (MW_STRICT): every problem (no key, unreachable or slow server,
//! rejection, a value that cannot be used) becomes a warning and exit code 0.

pub(crate) mod deliver;
pub(crate) mod report;
pub(crate) mod state_file;
pub(crate) mod values;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

pub(crate) use super::{Ctx, ExitStatus};
pub(crate) use values::{BadValue, Delivery};

/// The time a step may take, from its start: `--timeout` covers everything.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    pub started: Instant,
    pub budget: Duration,
}

impl Deadline {
    pub fn new(budget: Duration) -> Deadline {
        Deadline {
            started: Instant::now(),
            budget,
        }
    }

    pub fn remaining(&self) -> Duration {
        self.budget.saturating_sub(self.started.elapsed())
    }
}

/// Why an item was not reported.
#[derive(Clone, Debug)]
pub(crate) struct Problem {
    /// `failed` (not sent, or no answer) or `rejected` (the server refused it).
    pub outcome: &'static str,
    pub error: String,
    pub resolution: Option<String>,
}

impl Problem {
    pub fn new(error: impl Into<String>, resolution: impl Into<String>) -> Problem {
        Problem {
            outcome: "failed",
            error: error.into(),
            resolution: Some(resolution.into()),
        }
    }
}

/// One row of `--explain`'s table and of the CI log's field section: field, value, source.
pub(crate) type Row = (String, String, String);

/// What a step reports, as [`deliver::deliver`] needs it.
pub(crate) trait Step {
    /// What is sent: a run or an incident (its wire form).
    type Item: Serialize;
    /// How messages name what is reported: `deployment`, `incident`.
    const WHAT: &'static str;
    /// The item's key in the `-o json` report: `run`, `incident`.
    const ITEM_KEY: &'static str;
    /// The request body's array: `workflow_runs`, `incidents`.
    const BODY_KEY: &'static str;
    /// The ingest endpoint.
    const PATH: &'static str;

    /// The command, as messages name it (`deploy start`).
    fn command(&self) -> &'static str;
    /// The item to send, or what is missing or invalid (checked with the server's rules).
    fn build(&self) -> Result<Self::Item, Problem>;
    /// Values that could not be used.
    fn bad_values(&self) -> &[BadValue];
    /// The CI detected, if any.
    fn provider(&self) -> Option<&str>;
    /// Where each field came from, for `-o json`.
    fn sources(&self) -> BTreeMap<&'static str, String>;
    /// Every field, its value and source, as resolved (`--explain`).
    fn explain_rows(&self) -> Vec<Row>;
    /// The fields sent, and their sources (the CI log).
    fn sent_rows(&self, item: &Self::Item) -> Vec<Row>;
    /// Other members of the `-o json` report (e.g. `finish`'s `start`).
    fn extra(&self) -> BTreeMap<&'static str, serde_json::Value> {
        BTreeMap::new()
    }
    /// The line that says the item was reported (without the event id).
    fn accepted_line(&self, item: &Self::Item) -> String;
    /// The job summary's table: headers and cells.
    fn summary_table(&self, item: &Self::Item) -> (Vec<&'static str>, Vec<String>);
    /// Notes under the job summary's table.
    fn summary_notes(&self) -> Vec<String> {
        Vec::new()
    }
    /// CI outputs later steps can use, set before sending (e.g. `run_id`).
    fn outputs(&self, item: &Self::Item) -> Vec<(&'static str, String)>;
    /// Whether `--strict` keeps the draft from being sent: a value could not be used.
    fn refused_by(&self, delivery: &Delivery) -> bool {
        delivery.strict && !self.bad_values().is_empty()
    }
}
