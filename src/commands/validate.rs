//! `mwctl validate FILE`: the protocol's checks, offline.

use chrono::Utc;
use serde::Serialize;

use super::{Ctx, ExitStatus};
use crate::cli::ValidateArgs;
use crate::input;
use crate::protocol::FieldError;
use crate::report::Printer;

#[derive(Serialize)]
struct Report<'a> {
    read: usize,
    valid: usize,
    invalid: usize,
    errors: &'a [FieldError],
}

pub fn run(args: ValidateArgs, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let name = args.file.display().to_string();
    let bytes = input::read_source(&args.file)?;
    let checked = input::check(input::parse_elements(&bytes, &name)?, Utc::now());
    let report = Report {
        read: checked.read,
        valid: checked.runs.len(),
        invalid: checked.invalid_runs(),
        errors: &checked.errors,
    };
    ctx.printer.data(&report, |p| {
        if checked.errors.is_empty() {
            p.info(format!("{name}: all {} runs are valid.", report.read));
        } else {
            print_errors(p, &checked.errors, 50);
            p.info(format!(
                "{name}: {} of {} runs are invalid.",
                report.invalid, report.read
            ));
        }
    })?;
    Ok(if checked.errors.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

/// Lists problems by record number (stderr), at most `limit` of them.
pub fn print_errors(p: &Printer, errors: &[FieldError], limit: usize) {
    for e in errors.iter().take(limit) {
        p.warn(format!("record {}: {}: {}", e.index, e.field, e.message));
    }
    if errors.len() > limit {
        p.warn(format!(
            "… and {} more problems (--output json lists all)",
            errors.len() - limit
        ));
    }
}
