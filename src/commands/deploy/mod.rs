//! `mwctl deploy start|finish|record`: report a deployment from a pipeline step.
//!
//! These never fail the pipeline unless `--strict`: every problem (no key, unreachable or slow
//! server, rejection) becomes a warning where the CI shows it, and exit code 0.

mod fields;
pub mod finish;
pub mod record;
pub mod start;
mod state;

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, FixedOffset, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{Ctx, ExitStatus};
use crate::ci::CiFacts;
use crate::cli::{DeliveryArgs, RunFieldArgs};
use crate::client::{RetryPolicy, new_webhook_id};
use crate::protocol::validate::check_built_run;
use crate::protocol::{Receipt, Run, RunStatus};
use crate::report::ci::{CiReporter, markdown_cell};
use fields::Fields;

/// What the three commands hand to [`deliver`].
struct Draft {
    command: &'static str,
    fields: Fields,
    status: RunStatus,
    conducted_at: DateTime<FixedOffset>,
    duration: Option<i64>,
    meta: Vec<(String, String)>,
    provider: Option<String>,
}

/// Why a deployment was not reported.
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

#[derive(Serialize)]
struct Report<'a> {
    command: &'static str,
    /// accepted, rejected, failed or dry_run.
    outcome: &'static str,
    event_id: Option<String>,
    duplicate: bool,
    run: Option<&'a Run>,
    sources: BTreeMap<&'static str, String>,
    error: Option<String>,
    resolution: Option<String>,
    elapsed_ms: u128,
}

impl Draft {
    /// The run to send, or what is missing or invalid.
    fn build(&self) -> Result<Run, Problem> {
        let f = &self.fields;
        let need = |field: &Option<crate::ci::Field>, what: &str, fix: &str| {
            field
                .as_ref()
                .map(|f| f.value.clone())
                .ok_or_else(|| Problem::new(format!("cannot tell the {what}"), fix))
        };
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
            status: self.status,
            workflow_run_conducted_at: self.conducted_at,
            duration: self.duration,
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
                    "fix {} (pass it as a flag, see `mwctl deploy {} --help`)",
                    first.field,
                    self.command.trim_start_matches("deploy ")
                ),
            ));
        }
        Ok(run)
    }
}

/// Sends the draft within the deadline and reports the outcome where the CI shows it.
/// `Ok(Some(event_id))`-like success is returned as `ExitStatus::Success` plus whether the
/// server accepted, so `finish` can clean up its state.
async fn deliver(ctx: &Ctx, draft: Draft, delivery: &DeliveryArgs) -> (ExitStatus, bool) {
    let started = Instant::now();
    let reporter = CiReporter::detect();
    let sources = draft.fields.sources();

    let run = match draft.build() {
        Ok(run) => run,
        Err(problem) => {
            let status = report_problem(
                ctx, &reporter, &draft, None, sources, problem, delivery, started,
            );
            return (status, false);
        }
    };
    show_fields(ctx, &reporter, &draft, &run);

    if delivery.dry_run {
        let report = Report {
            command: draft.command,
            outcome: "dry_run",
            event_id: None,
            duplicate: false,
            run: Some(&run),
            sources,
            error: None,
            resolution: None,
            elapsed_ms: started.elapsed().as_millis(),
        };
        let _ = ctx.printer.data(&report, |p| {
            p.line(format!("Dry run: {} would send", draft.command));
            if let Ok(body) =
                serde_json::to_string_pretty(&serde_json::json!({ "workflow_runs": [&run] }))
            {
                p.line(body);
            }
        });
        return (ExitStatus::Success, false);
    }

    let result = tokio::time::timeout(delivery.timeout, send(ctx, &run, delivery)).await;
    let problem = match result {
        Err(_) => Problem::new(
            format!(
                "no answer within {}",
                humantime::format_duration(delivery.timeout)
            ),
            "the server may be down or slow; check `mwctl config show` and the server, or raise --timeout",
        ),
        Ok(Err(problem)) => problem,
        Ok(Ok(Receipt::Rejected {
            event_id,
            error,
            resolution,
            errors,
            exception_type,
            ..
        })) => {
            let detail: Vec<String> = errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect();
            let mut error = format!(
                "the server rejected the run{}: {error}",
                exception_type
                    .map(|t| format!(" ({t})"))
                    .unwrap_or_default()
            );
            if !detail.is_empty() {
                error.push_str(&format!(" [{}]", detail.join("; ")));
            }
            let problem = Problem {
                outcome: "rejected",
                error,
                resolution,
            };
            let status = report_problem(
                ctx,
                &reporter,
                &draft,
                Some(&run),
                sources,
                problem,
                delivery,
                started,
            );
            if let Some(id) = event_id {
                reporter.set_output("event_id", &id);
            }
            return (status, false);
        }
        Ok(Ok(Receipt::Accepted {
            event_id,
            duplicate,
            ..
        })) => {
            report_accepted(
                ctx, &reporter, &draft, &run, sources, event_id, duplicate, started,
            );
            return (ExitStatus::Success, true);
        }
    };
    let status = report_problem(
        ctx,
        &reporter,
        &draft,
        Some(&run),
        sources,
        problem,
        delivery,
        started,
    );
    (status, false)
}

async fn send(ctx: &Ctx, run: &Run, delivery: &DeliveryArgs) -> Result<Receipt, Problem> {
    let client = ctx.client(delivery.timeout).map_err(|e| Problem {
        outcome: "failed",
        error: format!("{e:#}"),
        resolution: None,
    })?;
    let body = serde_json::to_vec(&serde_json::json!({ "workflow_runs": [run] }))
        .map_err(|e| Problem::new(e.to_string(), "report this as a bug"))?;
    let outcome = client
        .send_runs(
            &body,
            &new_webhook_id(),
            RetryPolicy::PIPELINE,
            |e, wait| {
                ctx.printer
                    .verbose(format!("{e}; retrying in {:.1}s", wait.as_secs_f64()))
            },
        )
        .await
        .map_err(|e| Problem {
            outcome: "failed",
            resolution: e.resolution(),
            error: e.to_string(),
        })?;
    Ok(outcome.receipt)
}

/// The fields and their sources: in a collapsed section on CI, with -v elsewhere.
fn show_fields(ctx: &Ctx, reporter: &CiReporter, draft: &Draft, run: &Run) {
    let in_ci = *reporter != CiReporter::Plain;
    if ctx.printer.json || (!in_ci && ctx.printer.verbosity != crate::report::Verbosity::Verbose) {
        return;
    }
    let sources = draft.fields.sources();
    reporter.section_start(
        "mwctl_fields",
        &format!("mwctl {}: run fields", draft.command),
    );
    let line = |name: &'static str, value: &str| {
        let source = sources.get(name).map_or("", String::as_str);
        eprintln!("  {name:<24} {value}  ({source})");
    };
    line("workflow_name", &run.workflow_name);
    line("workflow_run_unique_id", &run.workflow_run_unique_id);
    line("repo_url", run.repo_urls.first().map_or("", String::as_str));
    line("head_branch", &run.head_branch);
    line("commit_sha", run.commit_sha.as_deref().unwrap_or("-"));
    line("event_actor", &run.event_actor);
    line("html_url", run.html_url.as_deref().unwrap_or("-"));
    eprintln!("  {:<24} {}", "status", run.status);
    eprintln!(
        "  {:<24} {}",
        "conducted_at",
        run.workflow_run_conducted_at.to_rfc3339()
    );
    if let Some(d) = run.duration {
        eprintln!("  {:<24} {d}s", "duration");
    }
    reporter.section_end("mwctl_fields");
}

#[allow(clippy::too_many_arguments)]
fn report_accepted(
    ctx: &Ctx,
    reporter: &CiReporter,
    draft: &Draft,
    run: &Run,
    sources: BTreeMap<&'static str, String>,
    event_id: Option<String>,
    duplicate: bool,
    started: Instant,
) {
    if let Some(id) = &event_id {
        reporter.set_output("event_id", id);
    }
    reporter.set_output("run_id", &run.workflow_run_unique_id);
    reporter.summary(&summary_markdown(
        draft.command,
        run,
        event_id.as_deref(),
        "reported",
    ));
    let report = Report {
        command: draft.command,
        outcome: "accepted",
        event_id: event_id.clone(),
        duplicate,
        run: Some(run),
        sources,
        error: None,
        resolution: None,
        elapsed_ms: started.elapsed().as_millis(),
    };
    let _ = ctx.printer.data(&report, |p| {
        p.info(format!(
            "mwctl: {} reported: {} run {} of {} on {} is {}{}{}",
            draft.command,
            run.workflow_name,
            run.workflow_run_unique_id,
            run.repo_urls.first().map_or("", String::as_str),
            run.head_branch,
            run.status,
            run.duration
                .map(|d| format!(" after {d}s"))
                .unwrap_or_default(),
            event_id
                .map(|id| format!(" (event {id})"))
                .unwrap_or_default(),
        ))
    });
}

#[allow(clippy::too_many_arguments)]
fn report_problem(
    ctx: &Ctx,
    reporter: &CiReporter,
    draft: &Draft,
    run: Option<&Run>,
    sources: BTreeMap<&'static str, String>,
    problem: Problem,
    delivery: &DeliveryArgs,
    started: Instant,
) -> ExitStatus {
    let title = format!("mwctl {} could not report the deployment", draft.command);
    let mut message = problem.error.clone();
    if let Some(resolution) = &problem.resolution {
        message.push_str(&format!(". To fix: {resolution}"));
    }
    if !delivery.strict {
        message.push_str(". The pipeline goes on (use --strict or MW_STRICT=1 to fail it).");
    }
    if delivery.strict {
        reporter.error(&title, &message);
    } else {
        reporter.warning(&title, &message);
    }
    if let Some(run) = run {
        reporter.summary(&summary_markdown(
            draft.command,
            run,
            None,
            &format!("not reported: {}", problem.error),
        ));
    }
    if ctx.printer.json {
        let report = Report {
            command: draft.command,
            outcome: problem.outcome,
            event_id: None,
            duplicate: false,
            run,
            sources,
            error: Some(problem.error),
            resolution: problem.resolution,
            elapsed_ms: started.elapsed().as_millis(),
        };
        let _ = ctx.printer.json_value(&report);
    }
    if delivery.strict {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    }
}

fn summary_markdown(command: &str, run: &Run, event_id: Option<&str>, outcome: &str) -> String {
    let cells = [
        run.workflow_name.as_str(),
        run.workflow_run_unique_id.as_str(),
        run.status.as_str(),
        run.repo_urls.first().map_or("", String::as_str),
        run.head_branch.as_str(),
        run.commit_sha.as_deref().unwrap_or("-"),
        event_id.unwrap_or("-"),
        outcome,
    ]
    .map(markdown_cell);
    format!(
        "### mwctl {command}\n\n| workflow | run | status | repo | branch | commit | event | outcome |\n|---|---|---|---|---|---|---|---|\n| {} |\n\n",
        cells.join(" | ")
    )
}

/// `--meta`, the CI facts and the flags every deploy command shares, turned into a draft.
fn draft(
    command: &'static str,
    args: &RunFieldArgs,
    fallback: &Fields,
    facts: &CiFacts,
    status: RunStatus,
    conducted_at: DateTime<FixedOffset>,
    duration: Option<i64>,
) -> Draft {
    Draft {
        command,
        fields: Fields::resolve(args, fallback, facts),
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
