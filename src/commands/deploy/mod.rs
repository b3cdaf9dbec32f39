//! `mwctl deploy start|finish|record`: report a deployment from a pipeline step.
//!
//! Each command builds a [`Draft`] (fields resolved flag > start's state > CI > git >
//! default), then the shared step machinery ([`super::step`]) validates it with the protocol's own rules, sends it
//! within the command's deadline and reports the outcome where the CI shows it. These never
//! fail the pipeline unless `--strict`: every problem (no key, unreachable or slow server,
//! rejection, a value that cannot be used) becomes a warning and exit code 0.
//!
//! Values come in as text and are parsed here, not by clap: they often come from the
//! environment or a pipeline expression (`MW_TIMEOUT`, `${{ job.status }}`), and a bad one
//! must be a warning, not the usage error (exit 2) that would fail the pipeline.

mod fields;
pub mod finish;
pub mod record;
pub mod start;
mod state;

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::step::{BadValue, Deadline, Problem, Row, Step};
use super::{Ctx, ExitStatus};
use crate::ci::{CiFacts, Field};
use crate::protocol::validate::check_built_run;
use crate::protocol::{INGEST_PATH, Run, RunStatus};
use fields::{Fields, NAMES};

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

impl Draft {
    /// The run to send, or what is missing or invalid (checked with the server's rules).
    fn build_run(&self) -> Result<Run, Problem> {
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
}

fn source_of(field: &Result<Field, Problem>) -> String {
    match field {
        Ok(f) => f.source.clone(),
        Err(_) => "not found".to_owned(),
    }
}

impl Step for Draft {
    type Item = Run;
    const WHAT: &'static str = "deployment";
    const ITEM_KEY: &'static str = "run";
    const BODY_KEY: &'static str = "workflow_runs";
    const PATH: &'static str = INGEST_PATH;

    fn command(&self) -> &'static str {
        self.command
    }

    fn build(&self) -> Result<Run, Problem> {
        self.build_run()
    }

    fn bad_values(&self) -> &[BadValue] {
        &self.bad_values
    }

    fn provider(&self) -> Option<&str> {
        self.provider.as_deref()
    }

    fn sources(&self) -> BTreeMap<&'static str, String> {
        let mut sources = self.fields.sources();
        sources.insert("status", source_of(&self.status));
        sources.insert("workflow_run_conducted_at", source_of(&self.conducted_at));
        if let Some(d) = &self.duration {
            sources.insert("duration", d.source.clone());
        }
        sources
    }

    fn explain_rows(&self) -> Vec<Row> {
        let mut rows: Vec<Row> = NAMES
            .iter()
            .map(|name| match self.fields.get(name) {
                Some(f) => ((*name).to_owned(), f.value.clone(), f.source.clone()),
                None => ((*name).to_owned(), "-".to_owned(), "not found".to_owned()),
            })
            .collect();
        for (name, field) in [
            ("status", &self.status),
            ("workflow_run_conducted_at", &self.conducted_at),
        ] {
            rows.push(match field {
                Ok(f) => (name.to_owned(), f.value.clone(), f.source.clone()),
                Err(problem) => (name.to_owned(), "-".to_owned(), problem.error.clone()),
            });
        }
        if let Some(d) = &self.duration {
            rows.push(("duration".to_owned(), d.secs.to_string(), d.source.clone()));
        }
        rows
    }

    fn sent_rows(&self, run: &Run) -> Vec<Row> {
        let mut rows: Vec<Row> = NAMES
            .iter()
            .filter_map(|name| {
                let f = self.fields.get(name)?;
                Some(((*name).to_owned(), f.value.clone(), f.source.clone()))
            })
            .collect();
        rows.push((
            "status".to_owned(),
            run.status.to_string(),
            source_of(&self.status),
        ));
        rows.push((
            "workflow_run_conducted_at".to_owned(),
            run.workflow_run_conducted_at.to_rfc3339(),
            source_of(&self.conducted_at),
        ));
        if let (Some(d), Some(f)) = (run.duration, &self.duration) {
            rows.push(("duration".to_owned(), format!("{d}s"), f.source.clone()));
        }
        rows
    }

    fn extra(&self) -> BTreeMap<&'static str, Value> {
        self.start
            .as_ref()
            .and_then(|start| serde_json::to_value(start).ok())
            .map(|start| BTreeMap::from([("start", start)]))
            .unwrap_or_default()
    }

    fn accepted_line(&self, run: &Run) -> String {
        format!(
            "{} run {} of {} on {} is {}{}",
            run.workflow_name,
            run.workflow_run_unique_id,
            run.repo_urls.first().map_or("", String::as_str),
            run.head_branch,
            run.status,
            match (run.duration, self.start.as_ref().is_some_and(|s| !s.known)) {
                (Some(d), _) => format!(" after {d}s"),
                (None, true) => " (start unknown)".to_owned(),
                (None, false) => String::new(),
            },
        )
    }

    fn summary_table(&self, run: &Run) -> (Vec<&'static str>, Vec<String>) {
        (
            vec!["workflow", "run", "status", "repo", "branch", "commit"],
            [
                run.workflow_name.as_str(),
                run.workflow_run_unique_id.as_str(),
                run.status.as_str(),
                run.repo_urls.first().map_or("", String::as_str),
                run.head_branch.as_str(),
                run.commit_sha.as_deref().unwrap_or("-"),
            ]
            .map(str::to_owned)
            .to_vec(),
        )
    }

    fn summary_notes(&self) -> Vec<String> {
        self.start
            .as_ref()
            .and_then(|s| s.note.clone())
            .into_iter()
            .collect()
    }

    fn outputs(&self, run: &Run) -> Vec<(&'static str, String)> {
        vec![("run_id", run.workflow_run_unique_id.clone())]
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
