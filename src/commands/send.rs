//! `mwctl send FILE|-`: validate a runs file, then send it in signed batches.

use std::time::Instant;

use chrono::Utc;
use serde::Serialize;

use super::validate::print_errors;
use super::{Ctx, ExitStatus};
use crate::cli::SendArgs;
use crate::client::{RetryPolicy, content_webhook_id};
use crate::input;
use crate::protocol::{FieldError, Receipt, Run};

#[derive(Debug, Default, Serialize)]
struct Summary {
    read: usize,
    valid: usize,
    invalid: usize,
    batches: usize,
    sent: usize,
    accepted: usize,
    rejected: usize,
    /// Runs in batches the server had already stored (sent before).
    duplicates: usize,
    retries: usize,
    elapsed_secs: f64,
    runs_per_sec: f64,
    event_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resolution: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<FieldError>,
}

#[derive(Serialize)]
struct Batch<'a> {
    workflow_runs: &'a [Run],
}

pub async fn run(args: SendArgs, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let p = &ctx.printer;
    let started = Instant::now();
    let name = args.file.display().to_string();
    let bytes = input::read_source(&args.file)?;
    let checked = input::check(input::parse_elements(&bytes, &name)?, Utc::now());
    drop(bytes);

    let mut summary = Summary {
        read: checked.read,
        valid: checked.runs.len(),
        invalid: checked.invalid_runs(),
        ..Summary::default()
    };
    if !checked.errors.is_empty() {
        print_errors(p, &checked.errors, 20);
        summary.error = Some(format!(
            "{} of {} runs are invalid; nothing was sent",
            summary.invalid, summary.read
        ));
        summary.resolution = Some(format!(
            "fix them (`mwctl validate {name}` lists every problem) and run the command again"
        ));
        summary.errors = checked.errors;
        return finish(ctx, summary, started);
    }
    if args.dry_run {
        p.info(format!(
            "Dry run: {} valid runs would be sent in {} batches.",
            summary.valid,
            summary.valid.div_ceil(usize::from(args.batch_size))
        ));
        return finish(ctx, summary, started);
    }

    let client = ctx.client(args.timeout)?;
    let chunks: Vec<&[Run]> = checked.runs.chunks(usize::from(args.batch_size)).collect();
    let total = chunks.len();
    for (n, chunk) in chunks.into_iter().enumerate() {
        let body = serde_json::to_vec(&Batch {
            workflow_runs: chunk,
        })?;
        let webhook_id = content_webhook_id(&[&body]);
        let mut retries = 0;
        let outcome = client
            .send_runs(&body, &webhook_id, RetryPolicy::BACKFILL, |e, wait| {
                retries += 1;
                p.info(format!(
                    "batch {}/{total}: {e}; retrying in {:.1}s",
                    n + 1,
                    wait.as_secs_f64()
                ));
            })
            .await;
        summary.retries += retries;
        summary.batches += 1;
        let offset = n * usize::from(args.batch_size);
        match outcome {
            Err(e) => {
                summary.error = Some(format!("batch {}/{total}: {e}", n + 1));
                summary.resolution = e.resolution();
                break;
            }
            Ok(outcome) => {
                summary.sent += chunk.len();
                if let Some(id) = outcome.receipt.event_id() {
                    summary.event_ids.push(id.to_owned());
                }
                match outcome.receipt {
                    Receipt::Accepted { duplicate, .. } => {
                        summary.accepted += chunk.len();
                        if duplicate {
                            summary.duplicates += chunk.len();
                        }
                        p.verbose(format!(
                            "batch {}/{total}: {} runs accepted{}",
                            n + 1,
                            chunk.len(),
                            if duplicate { " (already stored)" } else { "" }
                        ));
                    }
                    Receipt::Rejected {
                        error,
                        resolution,
                        errors,
                        ..
                    } => {
                        summary.rejected += chunk.len();
                        summary.errors = errors
                            .into_iter()
                            .map(|e| FieldError {
                                index: e.index + offset,
                                ..e
                            })
                            .collect();
                        print_errors(p, &summary.errors, 20);
                        summary.error = Some(format!("batch {}/{total} rejected: {error}", n + 1));
                        summary.resolution = resolution;
                        break;
                    }
                }
            }
        }
    }
    finish(ctx, summary, started)
}

fn finish(ctx: &Ctx, mut summary: Summary, started: Instant) -> anyhow::Result<ExitStatus> {
    summary.elapsed_secs = started.elapsed().as_secs_f64();
    summary.runs_per_sec = if summary.elapsed_secs > 0.0 {
        summary.accepted as f64 / summary.elapsed_secs
    } else {
        0.0
    };
    let ok = summary.error.is_none();
    ctx.printer.data(&summary, |p| {
        p.info(format!(
            "read {}, valid {}, sent {}, accepted {} ({} already stored), rejected {}, retries {} in {:.1}s ({:.0} runs/s)",
            summary.read,
            summary.valid,
            summary.sent,
            summary.accepted,
            summary.duplicates,
            summary.rejected,
            summary.retries,
            summary.elapsed_secs,
            summary.runs_per_sec
        ));
        if let Some(error) = &summary.error {
            p.warn(error);
            if let Some(resolution) = &summary.resolution {
                p.warn(format!("to fix: {resolution}"));
            }
            let unsent = summary.valid - summary.accepted;
            if unsent > 0 && summary.accepted > 0 {
                p.warn(format!(
                    "{unsent} runs were not accepted; running the same command again sends only what the server lacks (accepted batches are recognised as duplicates)"
                ));
            }
        }
    })?;
    Ok(if ok {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}
