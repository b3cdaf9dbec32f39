//! What a deploy command tells, and where: `--explain`'s field table, the CI log (a
//! collapsed section with the fields, an annotation for problems), the GitHub job summary,
//! and `--output json`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::fields::NAMES;
use super::{Ctx, Deadline, Draft, Problem};
use crate::protocol::Run;
use crate::report::Verbosity;
use crate::report::ci::{CiReporter, markdown_cell};

/// The JSON a deploy command prints with `-o json`.
#[derive(Serialize)]
struct Report<'a> {
    command: &'static str,
    /// accepted, rejected, failed or dry_run.
    outcome: &'static str,
    event_id: Option<String>,
    duplicate: bool,
    ci_provider: Option<&'a str>,
    run: Option<&'a Run>,
    sources: BTreeMap<&'static str, String>,
    error: Option<String>,
    resolution: Option<String>,
    elapsed_ms: u128,
}

impl<'a> Report<'a> {
    fn new(
        draft: &'a Draft,
        outcome: &'static str,
        run: Option<&'a Run>,
        deadline: Deadline,
    ) -> Self {
        let mut sources = draft.fields.sources();
        sources.insert("status", source_of(&draft.status));
        sources.insert(
            "workflow_run_conducted_at",
            draft.conducted_at.source.clone(),
        );
        if let Some(d) = &draft.duration {
            sources.insert("duration", d.source.clone());
        }
        Report {
            command: draft.command,
            outcome,
            event_id: None,
            duplicate: false,
            ci_provider: draft.provider.as_deref(),
            run,
            sources,
            error: None,
            resolution: None,
            elapsed_ms: deadline.started.elapsed().as_millis(),
        }
    }
}

fn source_of(status: &Result<crate::ci::Field, Problem>) -> String {
    match status {
        Ok(f) => f.source.clone(),
        Err(_) => "not found".to_owned(),
    }
}

/// What an accepted run adds to the report.
pub(super) struct Outcome {
    pub event_id: Option<String>,
    pub duplicate: bool,
    pub deadline: Deadline,
}

/// `--explain` / `--dry-run`: every field, its value and its source, then the body.
pub(super) fn explain(ctx: &Ctx, draft: &Draft, run: Option<&Run>, deadline: Deadline) {
    let report = Report::new(draft, "dry_run", run, deadline);
    let _ = ctx.printer.data(&report, |p| {
        p.line(format!(
            "mwctl {} --explain (nothing is sent){}",
            draft.command,
            draft
                .provider
                .as_ref()
                .map(|ci| format!("; CI: {ci}"))
                .unwrap_or_else(|| "; no CI detected".to_owned())
        ));
        let mut rows: Vec<(String, String, String)> = NAMES
            .iter()
            .map(|name| match draft.fields.get(name) {
                Some(f) => ((*name).to_owned(), f.value.clone(), f.source.clone()),
                None => ((*name).to_owned(), "-".to_owned(), "not found".to_owned()),
            })
            .collect();
        let status = match &draft.status {
            Ok(f) => (f.value.clone(), f.source.clone()),
            Err(problem) => ("-".to_owned(), problem.error.clone()),
        };
        rows.push(("status".to_owned(), status.0, status.1));
        rows.push((
            "workflow_run_conducted_at".to_owned(),
            draft.conducted_at.value.clone(),
            draft.conducted_at.source.clone(),
        ));
        if let Some(d) = &draft.duration {
            rows.push(("duration".to_owned(), d.value.clone(), d.source.clone()));
        }
        let width = |pick: fn(&(String, String, String)) -> &String| {
            rows.iter()
                .map(|r| pick(r).chars().count())
                .max()
                .unwrap_or(0)
        };
        let (w0, w1) = (width(|r| &r.0), width(|r| &r.1));
        p.line(format!("  {:<w0$}  {:<w1$}  source", "field", "value"));
        for (name, value, source) in &rows {
            p.line(format!("  {name:<w0$}  {value:<w1$}  {source}"));
        }
        if let Some(run) = run
            && let Ok(body) =
                serde_json::to_string_pretty(&serde_json::json!({ "workflow_runs": [run] }))
        {
            p.line("Request body:");
            p.line(body);
        }
    });
}

/// The fields and their sources: in a collapsed section on CI, with -v elsewhere (stderr).
pub(super) fn show_fields(ctx: &Ctx, reporter: &CiReporter, draft: &Draft, run: &Run) {
    let in_ci = *reporter != CiReporter::Plain;
    if ctx.printer.json
        || ctx.printer.verbosity == Verbosity::Quiet
        || (!in_ci && ctx.printer.verbosity != Verbosity::Verbose)
    {
        return;
    }
    reporter.section_start(
        "mwctl_fields",
        &format!("mwctl {}: run fields", draft.command),
    );
    for name in NAMES {
        if let Some(f) = draft.fields.get(name) {
            eprintln!("  {name:<26} {}  ({})", f.value, f.source);
        }
    }
    eprintln!(
        "  {:<26} {}  ({})",
        "status",
        run.status,
        source_of(&draft.status)
    );
    eprintln!(
        "  {:<26} {}  ({})",
        "workflow_run_conducted_at",
        run.workflow_run_conducted_at.to_rfc3339(),
        draft.conducted_at.source
    );
    if let (Some(d), Some(f)) = (run.duration, &draft.duration) {
        eprintln!("  {:<26} {d}s  ({})", "duration", f.source);
    }
    reporter.section_end("mwctl_fields");
}

pub(super) fn accepted(
    ctx: &Ctx,
    reporter: &CiReporter,
    draft: &Draft,
    run: &Run,
    outcome: Outcome,
) {
    reporter.summary(&summary_markdown(
        draft.command,
        run,
        outcome.event_id.as_deref(),
        if outcome.duplicate {
            "reported (already received)"
        } else {
            "reported"
        },
    ));
    let mut report = Report::new(draft, "accepted", Some(run), outcome.deadline);
    report.event_id = outcome.event_id.clone();
    report.duplicate = outcome.duplicate;
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
            outcome
                .event_id
                .map(|id| format!(" (event {id})"))
                .unwrap_or_default(),
        ))
    });
}

/// A problem, loudly: an annotation on GitHub Actions (error with --strict), a `warning:` /
/// `error:` line elsewhere, a row in the job summary, and the JSON report.
pub(super) fn problem(
    ctx: &Ctx,
    reporter: &CiReporter,
    draft: &Draft,
    run: Option<&Run>,
    problem: Problem,
    strict: bool,
    deadline: Deadline,
) {
    let mut message = format!(
        "{} could not report the deployment: {}",
        draft.command, problem.error
    );
    if let Some(resolution) = &problem.resolution {
        message.push_str(&format!(". To fix: {resolution}"));
    }
    if strict {
        message.push_str(". Failing the step because of --strict / MW_STRICT.");
        reporter.error("mwctl", &message);
    } else {
        message.push_str(". The pipeline goes on (use --strict or MW_STRICT=1 to fail it).");
        reporter.warning("mwctl", &message);
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
        let mut report = Report::new(draft, problem.outcome, run, deadline);
        report.error = Some(problem.error);
        report.resolution = problem.resolution;
        let _ = ctx.printer.json_value(&report);
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
