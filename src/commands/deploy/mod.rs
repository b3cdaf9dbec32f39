//! `mwctl deploy start|finish|record`: report a deployment from a pipeline step.
//!
//! Each command builds a [`Draft`] (fields resolved flag > start's state > CI > git >
//! default), then [`deliver::deliver`] validates it with the protocol's own rules, sends it
//! within the command's deadline and reports the outcome where the CI shows it. These never
//! fail the pipeline unless `--strict`: every problem (no key, unreachable or slow server,
//! rejection, a value that cannot be used) becomes a warning and exit code 0.
//!
//! Values come in as text and are parsed here, not by clap: they often come from the
//! environment or a pipeline expression (`MW_TIMEOUT`, `${{ job.status }}`), and a bad one
//! must be a warning, not the usage error (exit 2) that would fail the pipeline.

mod deliver;
mod fields;
pub mod finish;
pub mod record;
mod report;
pub mod start;
mod state;
mod values;

use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{Ctx, ExitStatus};
use crate::ci::{CiFacts, Field};
use crate::protocol::validate::check_built_run;
use crate::protocol::{Run, RunStatus};
use fields::Fields;
use values::{BadValue, Delivery};

/// The time a deploy command may take, from its start: `--timeout` covers everything.
#[derive(Clone, Copy, Debug)]
struct Deadline {
    started: Instant,
    budget: Duration,
}

impl Deadline {
    fn new(budget: Duration) -> Deadline {
        Deadline {
            started: Instant::now(),
            budget,
        }
    }

    fn remaining(&self) -> Duration {
        self.budget.saturating_sub(self.started.elapsed())
    }
}

/// A duration in whole seconds and where it came from.
#[derive(Clone, Debug)]
struct Seconds {
    secs: i64,
    source: String,
}

/// What `finish` knows about the deployment's start, for its report.
#[derive(Clone, Debug, Serialize)]
struct StartNote {
    /// Whether a start time was found (state, CI, or finish time minus --duration).
    known: bool,
    /// Where it came from.
    source: Option<String>,
    /// Where `finish` looked for `deploy start`'s state.
    state_file: String,
    /// What that means for the run sent, when the start is unknown.
    note: Option<String>,
}

/// What the three commands hand to [`deliver::deliver`].
struct Draft {
    command: &'static str,
    fields: Fields,
    /// `finish` may not know how the deployment ended.
    status: Result<Field, Problem>,
    /// `record` may be given a start time that is not one.
    conducted_at: Result<Field, Problem>,
    duration: Option<Seconds>,
    meta: Vec<(String, String)>,
    provider: Option<String>,
    /// Values that could not be used.
    bad_values: Vec<BadValue>,
    /// `finish` only.
    start: Option<StartNote>,
}

/// Why a deployment was not reported.
#[derive(Clone, Debug)]
struct Problem {
    /// `failed` (not sent, or no answer) or `rejected` (the server refused it).
    outcome: &'static str,
    error: String,
    resolution: Option<String>,
}

impl Problem {
    fn new(error: impl Into<String>, resolution: impl Into<String>) -> Problem {
        Problem {
            outcome: "failed",
            error: error.into(),
            resolution: Some(resolution.into()),
        }
    }
}

impl Draft {
    /// The run to send, or what is missing or invalid (checked with the server's rules).
    fn build(&self) -> Result<Run, Problem> {
        let f = &self.fields;
        let need = |field: &Option<Field>, what: &str, fix: &str| {
            field
                .as_ref()
                .map(|f| f.value.clone())
                .ok_or_else(|| Problem::new(format!("cannot tell the {what}"), fix))
        };
        let status_field = self.status.clone()?;
        let status = RunStatus::parse(&status_field.value).ok_or_else(|| {
            Problem::new(
                format!("{:?} is not a run status", status_field.value),
                "pass --status success, failure or cancelled",
            )
        })?;
        let conducted_field = self.conducted_at.clone()?;
        let conducted_at = crate::protocol::validate::parse_timestamp(&conducted_field.value)
            .ok_or_else(|| {
                Problem::new(
                    format!(
                        "the start time {:?} ({}) is not a timestamp",
                        conducted_field.value, conducted_field.source
                    ),
                    "pass --started-at with an RFC 3339 time, e.g. 2024-05-01T12:00:00Z",
                )
            })?;
        let repo = need(
            &f.repo_url,
            "repository",
            "pass --repo URL or set MW_REPO (outside CI, run inside a git clone with an origin remote)",
        )?;
        let branch = match (&f.branch, &f.no_branch) {
            (Some(branch), _) => branch.value.clone(),
            (None, Some(why)) => {
                return Err(Problem::new(
                    format!("cannot tell the branch deployed: {why}"),
                    "pass --branch BRANCH or set MW_BRANCH to the branch this commit was \
                     deployed from (e.g. main)",
                ));
            }
            (None, None) => {
                return Err(Problem::new(
                    "cannot tell the branch deployed",
                    "pass --branch BRANCH or set MW_BRANCH (e.g. main)",
                ));
            }
        };
        let run_id = need(&f.run_id, "run id", "pass --run-id ID or set MW_RUN_ID")?;
        let mut meta = Map::new();
        meta.insert("source".to_owned(), Value::from("mwctl"));
        if let Some(provider) = &self.provider {
            meta.insert("ci_provider".to_owned(), Value::from(provider.as_str()));
        }
        for (k, v) in &self.meta {
            meta.insert(k.clone(), Value::from(v.as_str()));
        }
        let run = Run {
            workflow_name: f
                .workflow
                .as_ref()
                .map_or_else(|| "deploy".to_owned(), |w| w.value.clone()),
            repo_urls: vec![repo],
            repo_names: Vec::new(),
            event_actor: f
                .actor
                .as_ref()
                .map_or_else(|| "unknown".to_owned(), |a| a.value.clone()),
            head_branch: branch,
            workflow_run_unique_id: run_id,
            status,
            workflow_run_conducted_at: conducted_at,
            duration: self.duration.as_ref().map(|d| d.secs),
            html_url: f.run_url.as_ref().map(|u| u.value.clone()),
            commit_sha: f.commit.as_ref().map(|c| c.value.clone()),
            meta: Some(meta),
        };
        let errors = check_built_run(&run, Utc::now());
        if let Some(first) = errors.first() {
            let all: Vec<String> = errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect();
            return Err(Problem::new(
                format!("the run is invalid: {}", all.join("; ")),
                format!(
                    "fix {} (pass it as a flag, see `mwctl {} --help`)",
                    first.field, self.command
                ),
            ));
        }
        Ok(run)
    }
}

impl Draft {
    /// A draft of `fields`, with what every command shares.
    fn new(
        command: &'static str,
        fields: Fields,
        facts: &CiFacts,
        meta: Vec<(String, String)>,
        bad_values: Vec<BadValue>,
    ) -> Draft {
        Draft {
            command,
            fields,
            status: Err(Problem::new("no status", "pass --status")),
            conducted_at: Err(Problem::new("no start time", "pass --started-at")),
            duration: None,
            meta,
            provider: facts.provider.clone(),
            bad_values,
            start: None,
        }
    }

    /// Whether `--strict` keeps the draft from being sent: a value could not be used.
    fn refused_by(&self, delivery: &Delivery) -> bool {
        delivery.strict && !self.bad_values.is_empty()
    }
}

/// Now, in UTC with an explicit offset.
fn now() -> DateTime<FixedOffset> {
    Utc::now().fixed_offset()
}

/// A time as a field.
fn time_field(at: DateTime<FixedOffset>, source: impl Into<String>) -> Field {
    Field::new(
        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        source,
    )
}
