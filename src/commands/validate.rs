//! `mwctl validate FILE`: the protocol's checks, offline, streamed like `send` reads.

use std::ops::ControlFlow;

use anyhow::bail;
use chrono::Utc;
use serde::Serialize;

use super::{Ctx, ExitStatus};
use crate::cli::{InputArgs, InputFormat, ValidateArgs};
use crate::input::{Checker, Format, Input, InputError, Overrides, Reject, Repositories};
use crate::protocol::repo::canonical_repo_url;
use crate::protocol::{FieldError, MAX_RUNS_PER_BATCH, strip_credentials};
use crate::report::Printer;

/// Problems kept for the report; beyond, they are only counted.
const MAX_KEPT_ERRORS: usize = 1000;

#[derive(Serialize)]
struct Report {
    format: Format,
    read: u64,
    valid: u64,
    invalid: u64,
    /// Problems found, kept or not.
    problems: u64,
    /// The first problems, by record number (`index`).
    errors: Vec<FieldError>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    errors_truncated: bool,
    /// The repositories of the valid runs, in the form `send` sends them.
    repositories: Repositories,
}

pub fn run(args: ValidateArgs, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let (input, overrides) = open(&args.input)?;
    let name = input.name().to_owned();
    let mut checker = Checker::new(&name, input.format(), overrides, Utc::now());
    let mut report = Report {
        format: input.format(),
        read: 0,
        valid: 0,
        invalid: 0,
        problems: 0,
        errors: Vec::new(),
        errors_truncated: false,
        repositories: Repositories::default(),
    };
    let mut lines = Vec::new();
    let mut failure: Option<InputError> = None;
    input.read_batches(MAX_RUNS_PER_BATCH, |batch| match checker.check(batch) {
        Ok(checked) => {
            report.read += checked.records;
            report.valid += checked.runs.len() as u64;
            report.invalid += checked.rejects.len() as u64;
            report.repositories.merge(checked.repositories);
            for reject in checked.rejects {
                for error in reject.errors {
                    report.problems += 1;
                    if report.errors.len() < MAX_KEPT_ERRORS {
                        lines.push(reject.line);
                        report.errors.push(error);
                    } else {
                        report.errors_truncated = true;
                    }
                }
            }
            ControlFlow::Continue(())
        }
        Err(e) => {
            failure = Some(e);
            ControlFlow::Break(())
        }
    })?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    if checker.unremembered() > 0 {
        ctx.printer
            .info(super::send::not_remembered_note(checker.unremembered()));
    }
    ctx.printer.data(&report, |p| {
        super::send::print_repositories(
            p,
            &report.repositories,
            report.format.kind(),
            "Repositories, as mwctl sends them:",
        );
        if report.invalid == 0 {
            p.info(format!(
                "{name}: all {} {} are valid ({}).",
                report.read,
                report.format.kind().noun(),
                report.format.describe()
            ));
        } else {
            print_problems(p, &report.errors, &lines, 50, report.problems);
            p.info(format!(
                "{name}: {} of {} {} are invalid ({}).",
                report.invalid,
                report.read,
                report.format.kind().noun(),
                report.format.describe()
            ));
        }
    })?;
    Ok(if report.invalid == 0 {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

/// Opens the input the arguments name, with the export overrides when they apply.
pub(crate) fn open(args: &InputArgs) -> anyhow::Result<(Input, Overrides)> {
    let forced = match args.format {
        InputFormat::Auto => None,
        InputFormat::Json => Some(Format::Json),
        InputFormat::Ndjson => Some(Format::Ndjson),
        InputFormat::Github => Some(Format::Github),
        InputFormat::Gitlab => Some(Format::Gitlab),
        InputFormat::Incidents => Some(Format::Incidents),
        InputFormat::Pagerduty => Some(Format::Pagerduty),
        InputFormat::Opsgenie => Some(Format::Opsgenie),
    };
    let input = Input::open(&args.file, forced)?;
    let overrides = Overrides {
        // Canonical, without credentials: it is also part of the checkpoint's key and of
        // the messages that name the options.
        repo: args
            .repo
            .as_deref()
            .map(|repo| canonical_repo_url(repo).unwrap_or_else(|_| strip_credentials(repo))),
        workflow_name: args.workflow_name.clone(),
    };
    if !input.format().is_export()
        && (overrides.repo.is_some() || overrides.workflow_name.is_some())
    {
        bail!(
            "--repo and --workflow-name apply to GitHub and GitLab exports, and {} holds {} (each run names its repo_urls and workflow_name); drop them, or pass --format github|gitlab if the detection is wrong",
            input.name(),
            input.format().describe()
        );
    }
    Ok((input, overrides))
}

/// Lists problems by record number (stderr), at most `limit` of them.
pub fn print_errors(p: &Printer, errors: &[FieldError], limit: usize) {
    print_problems(p, errors, &[], limit, errors.len() as u64);
}

/// Like [`print_errors`], with each record's line where the format has one; `total` counts
/// the problems found, including those not kept in `errors`.
fn print_problems(
    p: &Printer,
    errors: &[FieldError],
    lines: &[Option<u64>],
    limit: usize,
    total: u64,
) {
    for (i, e) in errors.iter().enumerate().take(limit) {
        match lines.get(i).copied().flatten() {
            Some(line) => p.error(format!(
                "record {} (line {line}): {}: {}",
                e.index, e.field, e.message
            )),
            None => p.error(format!("record {}: {}: {}", e.index, e.field, e.message)),
        }
    }
    let shown = errors.len().min(limit) as u64;
    if total > shown {
        let listed = if errors.len() as u64 == total {
            "--output json lists them all".to_owned()
        } else {
            format!("--output json lists the first {}", errors.len())
        };
        p.error(format!("… and {} more problems ({listed})", total - shown));
    }
}

/// Lists the problems of rejected records (stderr), at most `limit` of them.
pub fn print_rejects(p: &Printer, rejects: &[Reject], limit: usize) {
    let mut errors = Vec::new();
    let mut lines = Vec::new();
    for reject in rejects {
        for error in &reject.errors {
            errors.push(error.clone());
            lines.push(reject.line);
        }
    }
    let total = errors.len() as u64;
    print_problems(p, &errors, &lines, limit, total);
}
