//! `mwctl deploy start|finish|record`: report a deployment from a pipeline step.
//!
//! Each command builds a [`Draft`] (fields resolved flag > start's state > CI > git >
//! default), then [`deliver::deliver`] validates it with the protocol's own rules, sends it
//! within the command's deadline and reports the outcome where the CI shows it. These never
//! fail the pipeline unless `--strict`: every problem (no key, unreachable or slow server,
//! rejection) becomes a warning and exit code 0.

mod deliver;
mod fields;
pub mod finish;
pub mod record;
mod report;
pub mod start;
mod state;

use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{Map, Value};

use super::{Ctx, ExitStatus};
use crate::ci::{CiFacts, Field};
use crate::protocol::validate::check_built_run;
use crate::protocol::{Run, RunStatus};
use fields::Fields;

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

/// What the three commands hand to [`deliver::deliver`].
struct Draft {
    command: &'static str,
    fields: Fields,
    /// `finish` may not know how the deployment ended.
    status: Result<Field, Problem>,
    conducted_at: Field,
    duration: Option<Field>,
    meta: Vec<(String, String)>,
    provider: Option<String>,
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
        let repo = need(
            &f.repo_url,
            "repository",
            "pass --repo URL or set MW_REPO (outside CI, run inside a git clone with an origin remote)",
        )?;
        let branch = need(
            &f.branch,
            "branch deployed",
            "pass --branch BRANCH or set MW_BRANCH (e.g. main)",
        )?;
        let run_id = need(&f.run_id, "run id", "pass --run-id ID or set MW_RUN_ID")?;
        let mut meta = Map::new();
        meta.insert("source".to_owned(), Value::from("mwctl"));
        if let Some(provider) = &self.provider {
            meta.insert("ci_provider".to_owned(), Value::from(provider.as_str()));
        }
        for (k, v) in &self.meta {
            meta.insert(k.clone(), Value::from(v.as_str()));
        }
        let conducted_at = crate::protocol::validate::parse_timestamp(&self.conducted_at.value)
            .ok_or_else(|| {
                Problem::new(
                    format!(
                        "the start time {:?} ({}) is not a timestamp",
                        self.conducted_at.value, self.conducted_at.source
                    ),
                    "pass --started-at with an RFC 3339 time, e.g. 2024-05-01T12:00:00Z",
                )
            })?;
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
            duration: self
                .duration
                .as_ref()
                .and_then(|d| d.value.parse::<i64>().ok()),
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

/// Turns what a command knows into a draft: the fields, resolved once.
fn draft(
    command: &'static str,
    args: &crate::cli::RunFieldArgs,
    saved: &Fields,
    facts: &CiFacts,
    status: Result<Field, Problem>,
    conducted_at: Field,
    duration: Option<Field>,
) -> Draft {
    Draft {
        command,
        fields: Fields::resolve(args, saved, facts),
        status,
        conducted_at,
        duration,
        meta: args.meta.clone(),
        provider: facts.provider.clone(),
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
