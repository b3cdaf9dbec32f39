//! `mwctl prune EVENT_ID [--dry-run] [--yes]`.

use std::io::{BufRead, IsTerminal, Write};

use super::events::run_table;
use super::{ADMIN_TIMEOUT, Ctx, ExitStatus};
use crate::cli::PruneArgs;

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
                "Pruning {} would delete {} run(s) and {} workflow(s) left empty:",
                report.event_id,
                report.runs.len(),
                report.workflows_deleted
            ));
            run_table(p, &report.runs);
        })?;
        return Ok(ExitStatus::Success);
    }

    if !args.yes {
        let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        if !interactive {
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
        eprintln!(
            "This deletes {} run(s) written by {}:",
            preview.runs.len(),
            preview.event_id
        );
        run_table(p, &preview.runs);
        if !confirm("Delete them?")? {
            p.info("Nothing deleted.");
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
            p.info(format!(
                "Pruned {}: deleted {} run(s) and {} empty workflow(s).",
                report.event_id,
                report.runs.len(),
                report.workflows_deleted
            ));
        }
    })?;
    Ok(ExitStatus::Success)
}

fn confirm(question: &str) -> anyhow::Result<bool> {
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
