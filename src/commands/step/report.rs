//! What a step tells, and where: `--explain`'s field table, the CI log (a collapsed section
//! with the fields, an annotation for problems), the GitHub job summary, and `--output json`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::{BadValue, Ctx, Deadline, Row, Step};
use crate::report::ci::{CiReporter, markdown_cell};
use crate::report::{Verbosity, inert};

/// The JSON a step prints with `-o json`.
#[derive(Serialize)]
struct Report<'a, T: Serialize> {
    command: &'static str,
    /// accepted, rejected, failed or dry_run.
    outcome: &'static str,
    event_id: Option<String>,
    duplicate: bool,
    ci_provider: Option<&'a str>,
    /// The item under its own name (`run`, `incident`).
    #[serde(flatten)]
    item: BTreeMap<&'static str, Option<&'a T>>,
    sources: BTreeMap<&'static str, String>,
    error: Option<String>,
    resolution: Option<String>,
    /// Values that could not be used, and what was done instead.
    warnings: &'a [BadValue],
    /// What the step adds (`finish`: what it knew of the start).
    #[serde(flatten)]
    extra: BTreeMap<&'static str, Value>,
    elapsed_ms: u128,
}

impl<'a, T: Serialize> Report<'a, T> {
    fn new<D: Step<Item = T>>(
        draft: &'a D,
        outcome: &'static str,
        item: Option<&'a T>,
        deadline: Deadline,
    ) -> Self {
        Report {
            command: draft.command(),
            outcome,
            event_id: None,
            duplicate: false,
            ci_provider: draft.provider(),
            item: BTreeMap::from([(D::ITEM_KEY, item)]),
            sources: draft.sources(),
            error: None,
            resolution: None,
            warnings: draft.bad_values(),
            extra: draft.extra(),
            elapsed_ms: deadline.started.elapsed().as_millis(),
        }
    }
}

/// What an accepted item adds to the report.
pub(crate) struct Outcome {
    pub event_id: Option<String>,
    pub duplicate: bool,
    pub deadline: Deadline,
}

/// `--explain` / `--dry-run`: every field, its value and its source, then the body.
pub(crate) fn explain<D: Step>(ctx: &Ctx, draft: &D, item: Option<&D::Item>, deadline: Deadline) {
    let report = Report::new(draft, "dry_run", item, deadline);
    let _ = ctx.printer.data(&report, |p| {
        p.line(format!(
            "mwctl {} --explain (nothing is sent){}",
            draft.command(),
            draft
                .provider()
                .map(|ci| format!("; CI: {ci}"))
                .unwrap_or_else(|| "; no CI detected".to_owned())
        ));
        let rows = draft.explain_rows();
        let width = |pick: fn(&Row) -> &String| {
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
        if let Some(item) = item
            && let Ok(body) =
                serde_json::to_string_pretty(&serde_json::json!({ D::BODY_KEY: [item] }))
        {
            p.line("Request body:");
            p.line(body);
        }
    });
}

/// The fields and their sources: in a collapsed section on CI, with -v elsewhere (stderr).
pub(crate) fn show_fields<D: Step>(ctx: &Ctx, reporter: &CiReporter, draft: &D, item: &D::Item) {
    let in_ci = *reporter != CiReporter::Plain;
    if ctx.printer.json
        || ctx.printer.verbosity == Verbosity::Quiet
        || (!in_ci && ctx.printer.verbosity != Verbosity::Verbose)
    {
        return;
    }
    reporter.section_start(
        "mwctl_fields",
        &format!("mwctl {}: {} fields", draft.command(), D::ITEM_KEY),
    );
    for (name, value, source) in draft.sent_rows(item) {
        // Values come from the environment, flags and git: shown inert, as all foreign text.
        eprintln!(
            "  {name:<26} {}  ({})",
            inert::cell(&value),
            inert::cell(&source)
        );
    }
    reporter.section_end("mwctl_fields");
}

pub(crate) fn accepted<D: Step>(
    ctx: &Ctx,
    reporter: &CiReporter,
    draft: &D,
    item: &D::Item,
    outcome: Outcome,
) {
    reporter.summary(&summary_markdown(
        draft,
        item,
        outcome.event_id.as_deref(),
        if outcome.duplicate {
            "reported (already received)"
        } else {
            "reported"
        },
    ));
    let mut report = Report::new(draft, "accepted", Some(item), outcome.deadline);
    report.event_id = outcome.event_id.clone();
    report.duplicate = outcome.duplicate;
    let _ = ctx.printer.data(&report, |p| {
        p.info(format!(
            "mwctl: {} reported: {}{}",
            draft.command(),
            draft.accepted_line(item),
            outcome
                .event_id
                .map(|id| format!(" (event {id})"))
                .unwrap_or_default(),
        ))
    });
}

/// A problem, loudly: an annotation on GitHub Actions (error with --strict), a `warning:` /
/// `error:` line elsewhere, a row in the job summary, and the JSON report.
pub(crate) fn problem<D: Step>(
    ctx: &Ctx,
    reporter: &CiReporter,
    draft: &D,
    run: Option<&D::Item>,
    problem: super::Problem,
    strict: bool,
    deadline: Deadline,
) {
    let mut message = format!(
        "{} could not report the {}: {}",
        draft.command(),
        D::WHAT,
        problem.error
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
pub(crate) fn bad_values<D: Step>(reporter: &CiReporter, draft: &D, strict: bool) {
    for bad in draft.bad_values() {
        let head = format!("{} {}: {}", draft.command(), bad.flag, bad.error);
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

fn summary_markdown<D: Step>(
    draft: &D,
    item: &D::Item,
    event_id: Option<&str>,
    outcome: &str,
) -> String {
    let command = draft.command();
    let (headers, mut cells) = draft.summary_table(item);
    cells.push(event_id.unwrap_or("-").to_owned());
    cells.push(outcome.to_owned());
    let cells: Vec<String> = cells.iter().map(|c| markdown_cell(c)).collect();
    let mut heads = headers;
    heads.extend(["event", "outcome"]);
    let mut text = format!(
        "### mwctl {command}\n\n| {} |\n|{}\n| {} |\n\n",
        heads.join(" | "),
        "---|".repeat(heads.len()),
        cells.join(" | ")
    );
    for bad in draft.bad_values() {
        text.push_str(&format!(
            "- warning: {}: {} (mwctl {})\n",
            bad.flag,
            markdown_cell(&bad.error),
            bad.instead
        ));
    }
    let notes = draft.summary_notes();
    for note in &notes {
        text.push_str(&format!("- note: {}\n", markdown_cell(note)));
    }
    if !draft.bad_values().is_empty() || !notes.is_empty() {
        text.push('\n');
    }
    text
}
