//! What a deploy command tells, and where: `--explain`'s field table, the CI log (a
//! collapsed section with the fields, an annotation for problems), the GitHub job summary,
//! and `--output json`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::fields::NAMES;
use super::{BadValue, Ctx, Deadline, Draft, Problem, StartNote};
use crate::protocol::Run;
use crate::report::ci::{CiReporter, markdown_cell};
use crate::report::{Verbosity, inert};

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
    /// Values that could not be used, and what was done instead.
    warnings: &'a [BadValue],
    /// `finish`: what it knew of the start, and where it looked for `start`'s state.
    #[serde(skip_serializing_if = "Option::is_none")]
    start: Option<&'a StartNote>,
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
        sources.insert("workflow_run_conducted_at", source_of(&draft.conducted_at));
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
            warnings: &draft.bad_values,
            start: draft.start.as_ref(),
            elapsed_ms: deadline.started.elapsed().as_millis(),
        }
    }
}

fn source_of(field: &Result<crate::ci::Field, Problem>) -> String {
    match field {
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
        let conducted_at = match &draft.conducted_at {
            Ok(f) => (f.value.clone(), f.source.clone()),
            Err(problem) => ("-".to_owned(), problem.error.clone()),
        };
        rows.push((
            "workflow_run_conducted_at".to_owned(),
            conducted_at.0,
            conducted_at.1,
        ));
        if let Some(d) = &draft.duration {
            rows.push(("duration".to_owned(), d.secs.to_string(), d.source.clone()));
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
            // Values come from the environment, flags and git: shown inert, as all foreign text.
            eprintln!(
                "  {name:<26} {}  ({})",
                inert::cell(&f.value),
                inert::cell(&f.source)
            );
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
        source_of(&draft.conducted_at)
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
        draft,
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
            match (run.duration, draft.start.as_ref().is_some_and(|s| !s.known)) {
                (Some(d), _) => format!(" after {d}s"),
                (None, true) => " (start unknown)".to_owned(),
                (None, false) => String::new(),
            },
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
            draft,
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

/// Each value that could not be used, loudly: a warning (an error with --strict, which then
/// sends nothing).
pub(super) fn bad_values(reporter: &CiReporter, draft: &Draft, strict: bool) {
    for bad in &draft.bad_values {
        let head = format!("{} {}: {}", draft.command, bad.flag, bad.error);
        if strict {
            reporter.error(
                "mwctl",
                &format!("{head}. Nothing is sent because of --strict / MW_STRICT."),
            );
        } else {
            reporter.warning(
                "mwctl",
                &format!(
                    "{head} (mwctl {}). The pipeline goes on (use --strict or MW_STRICT=1 to \
                     fail it).",
                    bad.instead
                ),
            );
        }
    }
}

fn summary_markdown(draft: &Draft, run: &Run, event_id: Option<&str>, outcome: &str) -> String {
    let command = draft.command;
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
    let mut text = format!(
        "### mwctl {command}\n\n| workflow | run | status | repo | branch | commit | event | outcome |\n|---|---|---|---|---|---|---|---|\n| {} |\n\n",
        cells.join(" | ")
    );
    for bad in &draft.bad_values {
        text.push_str(&format!(
            "- warning: {}: {} (mwctl {})\n",
            bad.flag,
            markdown_cell(&bad.error),
            bad.instead
        ));
    }
    if let Some(note) = draft.start.as_ref().and_then(|s| s.note.as_deref()) {
        text.push_str(&format!("- note: {}\n", markdown_cell(note)));
    }
    if !draft.bad_values.is_empty() || draft.start.as_ref().is_some_and(|s| s.note.is_some()) {
        text.push('\n');
    }
    text
}
