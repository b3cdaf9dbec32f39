//! `mwctl prune EVENT_ID [--dry-run] [--yes]`.

use super::confirm::{can_ask, confirm};
use super::{ADMIN_TIMEOUT, Ctx, ExitStatus};
use crate::cli::PruneArgs;
use crate::protocol::admin::{PruneOutcome, PruneReport};
use crate::report::{Printer, Table, inert};

pub async fn run(args: PruneArgs, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let client = ctx.client(ADMIN_TIMEOUT)?;
    let p = &ctx.printer;

    if args.dry_run {
        let report = client.prune(&args.event_id, true).await?;
        p.data(&report, |p| {
            if report.already_pruned {
                p.info(format!(
                    "{} was already pruned; nothing to delete.",
                    report.event_id
                ));
                return;
            }
            p.info(format!(
                "Pruning {} would {}:",
                report.event_id,
                summary(&report)
            ));
            pruned_table(p, &report);
        })?;
        return Ok(ExitStatus::Success);
    }

    if !args.yes {
        if !can_ask() {
            p.warn(format!(
                "not pruning {} without confirmation: pass --yes (or --dry-run to see what would be deleted)",
                args.event_id
            ));
            return Ok(ExitStatus::Usage);
        }
        let preview = client.prune(&args.event_id, true).await?;
        if preview.already_pruned {
            p.info(format!(
                "{} was already pruned; nothing to delete.",
                preview.event_id
            ));
            return Ok(ExitStatus::Success);
        }
        // Not `info`: the question needs its context even with -q.
        eprintln!(
            "Pruning {} will {}:",
            inert::cell(&preview.event_id),
            summary(&preview)
        );
        pruned_table(p, &preview);
        if !confirm("Prune it?")? {
            p.info("Nothing changed.");
            return Ok(ExitStatus::Failure);
        }
    }

    let report = client.prune(&args.event_id, false).await?;
    p.data(&report, |p| {
        if report.already_pruned {
            p.info(format!(
                "{} was already pruned; nothing deleted.",
                report.event_id
            ));
        } else {
            p.info(format!("Pruned {}: {}.", report.event_id, done(&report)));
            pruned_table(p, &report);
        }
    })?;
    Ok(ExitStatus::Success)
}

/// What pruning does, in the future tense: `delete 1 run (and 1 empty workflow), restore 2
/// runs to their state before it, leave 1 run that later events changed since, and mark the
/// event PRUNED`.
fn summary(report: &PruneReport) -> String {
    let mut parts = Vec::new();
    let runs = |n| items(n, "run");
    let deleted = report.count(PruneOutcome::Deleted);
    if deleted > 0 {
        parts.push(format!(
            "delete {}{}",
            runs(deleted),
            workflows(report.workflows_deleted)
        ));
    }
    let restored = report.count(PruneOutcome::Restored);
    if restored > 0 {
        parts.push(format!(
            "restore {} to their state before it",
            runs(restored)
        ));
    }
    let changed = report.count(PruneOutcome::ChangedSince);
    if changed > 0 {
        parts.push(format!(
            "leave {} that later events changed since",
            runs(changed)
        ));
    }
    let incidents = |outcome| report.count_incidents(outcome);
    for (outcome, verb, tail) in [
        (PruneOutcome::Deleted, "delete", ""),
        (
            PruneOutcome::Restored,
            "restore",
            " to their state before it",
        ),
        (
            PruneOutcome::ChangedSince,
            "leave",
            " that later events changed since",
        ),
    ] {
        let n = incidents(outcome);
        if n > 0 {
            parts.push(format!("{verb} {}{tail}", items(n, "incident")));
        }
    }
    parts.push("mark the event PRUNED".to_owned());
    parts.join(", ")
}

/// What pruning did, in the past tense (of incidents, for an event that wrote incidents).
fn done(report: &PruneReport) -> String {
    if !report.incidents.is_empty() {
        let incidents = |outcome| items(report.count_incidents(outcome), "incident");
        return format!(
            "deleted {}, restored {}, left {} changed since",
            incidents(PruneOutcome::Deleted),
            incidents(PruneOutcome::Restored),
            incidents(PruneOutcome::ChangedSince),
        );
    }
    let runs = |outcome| items(report.count(outcome), "run");
    format!(
        "deleted {}{}, restored {}, left {} changed since",
        runs(PruneOutcome::Deleted),
        workflows(report.workflows_deleted),
        runs(PruneOutcome::Restored),
        runs(PruneOutcome::ChangedSince),
    )
}

/// `1 run`, `2 incidents`.
fn items(n: usize, item: &str) -> String {
    format!("{n} {item}{}", if n == 1 { "" } else { "s" })
}

fn workflows(n: u64) -> String {
    match n {
        0 => String::new(),
        1 => " (and 1 workflow left empty)".to_owned(),
        n => format!(" (and {n} workflows left empty)"),
    }
}

/// The runs (or incidents) the event wrote, each with what pruning does to it.
fn pruned_table(p: &Printer, report: &PruneReport) {
    if !report.incidents.is_empty() {
        let mut table = Table::new(&["OUTCOME", "INCIDENT", "REPO", "PROVIDER", "KEY", "STATUS"]);
        for pruned in &report.incidents {
            let incident = &pruned.incident;
            table.row(vec![
                pruned.outcome.as_str().to_owned(),
                incident.incident_id.to_string(),
                incident.repo.clone(),
                incident.provider.clone(),
                incident.incident_key.clone(),
                incident.status.clone(),
            ]);
        }
        p.table(table, "The event wrote no incidents.");
        return;
    }
    let mut table = Table::new(&["OUTCOME", "RUN", "REPO", "WORKFLOW", "UNIQUE ID", "STATUS"]);
    for pruned in &report.runs {
        let run = &pruned.run;
        table.row(vec![
            pruned.outcome.as_str().to_owned(),
            run.run_id.to_string(),
            run.repo.clone(),
            run.workflow.clone(),
            run.unique_id.clone(),
            run.status.clone(),
        ]);
    }
    p.table(table, "The event wrote no runs.");
}
