//! `mwctl prune EVENT_ID [--dry-run] [--yes]`.

use std::io::{BufRead, IsTerminal, Write};

use super::events::run_table;
use super::{ADMIN_TIMEOUT, Ctx, ExitStatus};
use crate::cli::PruneArgs;
use crate::report::inert;

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
        // Not `info`: the question needs its context even with -q.
        eprintln!(
            "This deletes {} run(s) written by {}:",
            preview.runs.len(),
            inert::cell(&preview.event_id)
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
    Ok(ask(
        question,
        &mut std::io::stdin().lock(),
        &mut std::io::stderr(),
    )?)
}

/// Asks a yes/no question on `out` and reads the answer from `input`: only `y` or `yes` (any
/// case) is a yes; anything else, an empty line or the end of input is a no.
fn ask(question: &str, input: &mut impl BufRead, out: &mut impl Write) -> std::io::Result<bool> {
    write!(out, "{question} [y/N] ")?;
    out.flush()?;
    let mut answer = String::new();
    if input.read_line(&mut answer)? == 0 {
        // End of input: say so on its own line, and do nothing.
        writeln!(out)?;
        return Ok(false);
    }
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

#[cfg(test)]
mod tests {
    use super::ask;

    fn answer(typed: &str) -> (bool, String) {
        let mut out = Vec::new();
        let yes = ask("Delete them?", &mut typed.as_bytes(), &mut out).expect("in memory");
        (yes, String::from_utf8(out).expect("utf-8"))
    }

    #[test]
    fn only_yes_is_yes() {
        for typed in ["y\n", "Y\n", "yes\n", " YES \n", "y"] {
            assert!(answer(typed).0, "{typed:?}");
        }
        for typed in ["\n", "n\n", "no\n", "yess\n", "sure\n", ""] {
            assert!(!answer(typed).0, "{typed:?}");
        }
        assert_eq!(answer("y\n").1, "Delete them? [y/N] ");
        assert_eq!(answer("").1, "Delete them? [y/N] \n");
    }
}
